//! Offline sample photos shared by the paper crates' synthetic data generators
//! (candor-forgery's real-image pool, candor-matting's photo backgrounds).
//!
//! Ten public-domain or CC0 photos and textures from scikit-image's sample data,
//! down-sampled to a shorter side of 256 px and stored as PNG under `assets/photos/`;
//! `assets/PROVENANCE.md` gives each file's origin and licence, and
//! `tools/make_forgery_photos.py` remakes them. They are embedded with `include_bytes!`
//! so the generators work offline and from any directory.
//!
//! ```
//! let (name, png) = candor_core::assets::PHOTOS[0];
//! let img = image::load_from_memory(png).unwrap();
//! assert_eq!((name, img.width().min(img.height())), ("astronaut", 256));
//! ```

/// `(name, PNG bytes)` of every shipped photo, in a fixed order (grey textures stay
/// single-channel PNGs).
pub const PHOTOS: [(&str, &[u8]); 10] = [
    (
        "astronaut",
        include_bytes!("../assets/photos/astronaut.png"),
    ),
    ("brick", include_bytes!("../assets/photos/brick.png")),
    ("camera", include_bytes!("../assets/photos/camera.png")),
    ("chelsea", include_bytes!("../assets/photos/chelsea.png")),
    ("coffee", include_bytes!("../assets/photos/coffee.png")),
    ("grass", include_bytes!("../assets/photos/grass.png")),
    ("gravel", include_bytes!("../assets/photos/gravel.png")),
    (
        "hubble_deep_field",
        include_bytes!("../assets/photos/hubble_deep_field.png"),
    ),
    ("retina", include_bytes!("../assets/photos/retina.png")),
    ("rocket", include_bytes!("../assets/photos/rocket.png")),
];
