//! # candor-matting
//!
//! Click-guided, trimap-free image matting with uncertainty estimation and local
//! refinement, after T. Wei, D. Chen, W. Zhou, J. Liao, H. Zhao, W. Zhang, N. Yu,
//! "Improved Image Matting via Real-time User Clicks and Uncertainty Estimation",
//! CVPR 2021 (arXiv 2012.08323). There is no official code; the paper card
//! (`shared/papers/matting.md`) marks which details are transcribed, unverified or
//! proposed, and each unverified choice is a configuration option here.
//!
//! | module | what |
//! |---|---|
//! | [`data`] | the Composition-1k folder loader with DIM's 8-bit compositing and random training crops, the SynthClickMatte proxy, its frozen 50 × 20 test set, alpha I/O |
//! | [`clicks`] | click encoding (hard ±1 disks, r = 15·res/512), training-time click simulation (Geometric(1/6), GT-consistent), deterministic test clicks, the next click of the interactive protocol |
//! | [`morph`] | exact Euclidean distance transforms, disk erosion, the GT-derived unknown band |
//! | [`eval`] | the four DIM errors (SAD, MSE, Grad, Conn, from [`candor_core::metrics::matting`]) of files and folders |
//! | [`model`] | the network: residual U-Net encoder on RGB (+ clicks), alpha decoder, uncertainty decoder (σ = softplus + ε); the refinement net |
//! | [`loss`] | L_reg, L_grad, the Laplace NLL (and the L1-on-error ablation), L_ref with top-20 % hard pixels (card eqs. 1–4) |
//! | [`refine`] | patch size k = 64·res/512, top-K σ windows without overlap, crop and paste-back |
//! | [`train`] | the three-stage schedule with resumable, atomically written checkpoints |
//! | [`infer`] | chunked prediction, refinement, the flood-fill reference, loading a trained model |
//! | [`reproduce`] | `cargo xtask reproduce --paper matting`: clicks vs no clicks, patch budget, uncertainty quality, three claims |
//!
//! Examples: `evaluate` (DIM errors of files or folders), `synth` (proxy samples),
//! `train` (the three stages on the proxy, saved for `matte`; [`train::train_model`]),
//! `matte` (matte an image from clicks with a model from `train` or `reproduce`).
//! Benches: `cargo bench -p candor-benches --bench matting`, with the same steps in
//! PyTorch in `tools/matting_bench.py`.
//!
//! Real data: `cargo xtask reproduce --paper matting --scale paper --data DIR` trains
//! on random 512² crops of Composition-1k composites made on the fly and evaluates on
//! its test split with its trimaps (layout: [`reproduce::COMP1K_LAYOUT`]; without
//! `--data` paper scale is an error naming it). The crop choices the card leaves open
//! are options of [`data::comp1k::CropConfig`] (in [`reproduce::Setup::crop`]): crops
//! centred on a transition pixel (DIM's rule, default on) and horizontal flips
//! (default on); images smaller than the crop are scaled up first.
//!
//! Not implemented: the RITM two-channel click ablation.
//!
//! ```
//! use candor_core::metrics::matting::{self, Region};
//! use candor_core::SeededRng;
//! use candor_matting::clicks::{encode_clicks, simulate_clicks, ClickSimConfig};
//! use candor_matting::data::synth::{SynthClickMatte, SynthConfig};
//!
//! // One 64×64 proxy image: composite, ground-truth alpha, distractor map.
//! let gen = SynthClickMatte::new(SynthConfig::with_size(64))?;
//! let s = gen.sample(7, 0)?;
//! let (h, w) = s.size();
//!
//! // Training clicks that agree with the ground truth, encoded as the 4th channel.
//! let cfg = ClickSimConfig::for_resolution(64);
//! let clicks = simulate_clicks(&s.alpha, s.distractors.as_ref(), &cfg, &mut SeededRng::new(1))?;
//! let map = encode_clicks(&clicks, h, w, cfg.radius)?;
//! assert_eq!(map.len(), h * w);
//!
//! // DIM's errors of an all-background prediction over the whole image.
//! let pred = vec![0u8; h * w];
//! let e = matting::errors(&pred, s.alpha.as_raw(), h, w, Region::Whole)?;
//! assert!(e.sad > 0.0 && e.mse > 0.0);
//! # Ok::<(), candor_matting::Error>(())
//! ```

pub mod clicks;
pub mod data;
pub mod eval;
pub mod infer;
pub mod loss;
pub mod model;
pub mod morph;
pub mod refine;
pub mod reproduce;
pub mod train;

pub use candor_core::{Error, Result};
