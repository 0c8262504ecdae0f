//! The shipped real photos (`crates/forgery/assets/photos/`, public domain or CC0,
//! see `assets/PROVENANCE.md`), embedded so the generator works from any directory.

/// `(name, PNG bytes)` of every shipped photo, in a fixed order.
pub const PHOTOS: [(&str, &[u8]); 10] = [
    (
        "astronaut",
        include_bytes!("../../../assets/photos/astronaut.png"),
    ),
    ("brick", include_bytes!("../../../assets/photos/brick.png")),
    (
        "camera",
        include_bytes!("../../../assets/photos/camera.png"),
    ),
    (
        "chelsea",
        include_bytes!("../../../assets/photos/chelsea.png"),
    ),
    (
        "coffee",
        include_bytes!("../../../assets/photos/coffee.png"),
    ),
    ("grass", include_bytes!("../../../assets/photos/grass.png")),
    (
        "gravel",
        include_bytes!("../../../assets/photos/gravel.png"),
    ),
    (
        "hubble_deep_field",
        include_bytes!("../../../assets/photos/hubble_deep_field.png"),
    ),
    (
        "retina",
        include_bytes!("../../../assets/photos/retina.png"),
    ),
    (
        "rocket",
        include_bytes!("../../../assets/photos/rocket.png"),
    ),
];
