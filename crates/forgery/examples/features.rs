//! Globally pooled backbone features (and ImageNet logits) of one image, from a timm
//! checkpoint: a parity check of our Xception / EfficientNet against timm on your own
//! weights.
//!
//! ```text
//! cargo run --release -p candor-forgery --example features -- \
//!     --arch xception --pretrained legacy_xception.safetensors --image face.png [--size N]
//! ```
//!
//! `--arch`: `xception` (timm `legacy_xception`, formerly `xception`), `efficientnet_b0`…
//! `efficientnet_b4` (timm's PyTorch-style models: symmetric padding, BN ε 1e-5) or
//! `tf_efficientnet_b0`…`tf_efficientnet_b4` (TF "same" padding, BN ε 1e-3; MAT's
//! AdvProp B4 is `tf_efficientnet_b4.ap_in1k`). `--pretrained`: the model's timm state
//! dict as safetensors (e.g. the hub's `model.safetensors`) or PyTorch `.pth`/`.bin`.
//! The image is preprocessed as timm's default pretrained configuration of the
//! architecture ([`TimmPreprocess::for_arch`]: shorter side to `⌊size / crop_pct⌋`,
//! bicubic, centre crop, mean/std); `--size` changes the input size.
//!
//! Prints one JSON object: `arch`, `input_size`, `features` (the pooled feature vector,
//! timm's `forward_head(forward_features(x), pre_logits=True)`), `logits` when the file
//! holds timm's classifier, and `load` (what was loaded). The same in Python:
//!
//! ```text
//! m = timm.create_model("legacy_xception", pretrained=True).eval()
//! cfg = timm.data.resolve_data_config({}, model=m)
//! x = timm.data.create_transform(**cfg)(PIL.Image.open("face.png").convert("RGB"))[None]
//! f = m.forward_features(x); feats = m.forward_head(f, pre_logits=True); logits = m.forward_head(f)
//! ```
//!
//! The preprocessing reproduces PIL's 8-bit bicubic resize exactly, so the input equals
//! timm's; `tools/make_timm_fixture.py --parity` runs this example on full-size random
//! timm models and a 421×347 image and measured, as the largest absolute difference from
//! timm: input 0; pooled features 1.2e-7 (xception), 2.4e-7 (efficientnet_b0), 1.2e-5 of
//! values up to 9.6 (tf_efficientnet_b4); logits at most 4.4e-6. `--input-tensor
//! FILE.safetensors` (a tensor named `input`, `1×3×H×W`, already preprocessed) skips the
//! image and its preprocessing; `--dump-input FILE.json` writes the preprocessed input.

use std::path::PathBuf;

use anyhow::{bail, Context};
use candle_core::DType;
use candle_nn::VarMap;
use candor_core::checkpoint::{load_pretrained, load_tensors, read_weights, Adapt};
use candor_core::init::seeded_var_builder;
use candor_core::DeviceSpec;
use candor_forgery::model::{
    backbone_spec, Backbone, BackboneConfig, EfficientNetConfig, Padding, TimmPreprocess,
    XceptionConfig,
};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Pooled features and logits of an image from a timm checkpoint")]
struct Args {
    /// xception, efficientnet_b0…b4 or tf_efficientnet_b0…b4.
    #[arg(long)]
    arch: String,
    /// The timm state dict (.safetensors, .pth or .bin).
    #[arg(long)]
    pretrained: PathBuf,
    /// The image (PNG or JPEG).
    #[arg(long, required_unless_present = "input_tensor")]
    image: Option<PathBuf>,
    /// Input size (default: timm's for the architecture).
    #[arg(long)]
    size: Option<usize>,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// Use this preprocessed `input` tensor (safetensors) instead of an image.
    #[arg(long, conflicts_with = "image")]
    input_tensor: Option<PathBuf>,
    /// Write the preprocessed input as JSON (a flat list) to this file.
    #[arg(long)]
    dump_input: Option<PathBuf>,
}

/// The backbone configuration of `arch` with `num_classes` outputs.
fn config(arch: &str, num_classes: usize) -> anyhow::Result<BackboneConfig> {
    if arch == "xception" || arch == "legacy_xception" {
        return Ok(BackboneConfig::Xception(XceptionConfig {
            num_classes,
            ..XceptionConfig::default()
        }));
    }
    let (tf, n) = match (
        arch.strip_prefix("tf_efficientnet_b"),
        arch.strip_prefix("efficientnet_b"),
    ) {
        (Some(n), _) => (true, n),
        (None, Some(n)) => (false, n),
        _ => bail!(
            "unknown --arch {arch}: expected xception, efficientnet_b0…b4 or tf_efficientnet_b0…b4"
        ),
    };
    let n: usize = n
        .parse()
        .with_context(|| format!("unknown --arch {arch}"))?;
    let base = EfficientNetConfig::variant(n)?;
    Ok(BackboneConfig::EfficientNet(if tf {
        EfficientNetConfig {
            num_classes,
            ..base
        }
    } else {
        EfficientNetConfig {
            num_classes,
            padding: Padding::Symmetric,
            bn_eps: 1e-5,
            ..base
        }
    }))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let device = args.device.open()?;
    let mut pre = TimmPreprocess::for_arch(&args.arch)?;
    if let Some(s) = args.size {
        pre.size = s;
    }
    // Does the file hold timm's classifier? Then keep it and report logits.
    let head_key = if args.arch.contains("xception") {
        "fc.weight"
    } else {
        "classifier.weight"
    };
    let names = read_weights(&args.pretrained, None)?;
    let head = names
        .iter()
        .find(|(k, _)| k.strip_prefix("module.").unwrap_or(k) == head_key)
        .map(|(_, t)| t.dim(0))
        .transpose()?;
    drop(names);
    let cfg = config(&args.arch, head.unwrap_or(1000))?;

    let vm = VarMap::new();
    let vb = seeded_var_builder(&vm, 0, DType::F32, &device);
    let net = Backbone::new(vb, &cfg)?;
    let mut spec = backbone_spec(&cfg, "", Adapt::InChannelsMean);
    if head.is_some() {
        spec.skip
            .retain(|p| !p.starts_with("fc.") && !p.starts_with("classifier."));
    }
    let report = load_pretrained(&vm, &args.pretrained, &spec)?;

    let x = match (&args.input_tensor, &args.image) {
        (Some(path), _) => {
            let t = load_tensors(path, &device)?;
            t.tensors
                .get("input")
                .with_context(|| format!("{} has no tensor named `input`", path.display()))?
                .to_dtype(DType::F32)?
        }
        (None, Some(path)) => {
            let img = candor_core::imageio::load_image(path)?;
            pre.apply(&img)?.unsqueeze(0)?.to_device(&device)?
        }
        (None, None) => bail!("pass --image or --input-tensor"),
    };
    if let Some(path) = &args.dump_input {
        let v: Vec<f32> = x.flatten_all()?.to_vec1()?;
        std::fs::write(path, serde_json::to_string(&v)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let taps = net.forward_features_t(&x, false)?;
    let features = match &net {
        Backbone::Xception(n) => n.pool(taps.last())?,
        Backbone::EfficientNet(n) => n.pool(taps.last())?,
    };
    let logits = net.forward_head(taps.last(), false)?;
    let mut out = serde_json::json!({
        "arch": args.arch,
        "input_size": x.dims(),
        "features": features.get(0)?.to_vec1::<f32>()?,
        "load": report.summary(),
    });
    if head.is_some() {
        out["logits"] = serde_json::json!(logits.get(0)?.to_vec1::<f32>()?);
    }
    println!("{out}");
    Ok(())
}
