#!/usr/bin/env python3
"""Small timm state dicts for the pretrained-weight tests, and an end-to-end parity check.

Run from the repository root with the project's venv (torch and timm installed):

    /work/venv/bin/python tools/make_timm_fixture.py            # write the fixtures
    /work/venv/bin/python tools/make_timm_fixture.py --parity   # also: full-size parity check

Fixtures (deterministic, fixed seeds):

* crates/forgery/tests/fixtures/timm/
    - legacy_xception_w32.{safetensors,pth}: timm's `legacy_xception` built from timm's
      own modules (`Block`, `SeparableConv2d`, its `forward_features`/`forward_head`) with
      every width divided by 32 (rounded as candor's `XceptionConfig::width`), all 8
      middle blocks and the 1000-class `fc`: timm's exact key names, small shapes.
    - tf_efficientnet_b4_c005.safetensors: timm's `tf_efficientnet_b4` generator
      (`_gen_efficientnet`: depth 1.8, TF "same" padding, BN eps 1e-3) at channel
      multiplier 0.05 (widths 8-64), 1000-class `classifier`.
    - efficientnet_b0_c005.safetensors: timm's PyTorch-style `efficientnet_b0`
      (symmetric padding, BN eps 1e-5) at channel multiplier 0.05, depth 0.5.
    - preprocess.json: PIL's 8-bit bicubic resizes of a small random image to several
      sizes, and timm's evaluation transform (resize, centre crop, normalise) of another.
    - expected.safetensors: per model, the input batch `<name>.input` (2x3x40x48), timm's
      globally pooled features `<name>.features` and logits `<name>.logits` (eval mode,
      float32).
  Parameters are random (timm's init; BatchNorm statistics and affine randomised so
  evaluation mode is not the identity) and stored as float16 (the models ran with the
  same rounded values), which keeps the files small and exercises the dtype conversion.
  The files keep PyTorch's `num_batches_tracked` counters (int64), as timm's do. Only the
  Xception is also written as .pth (the reader does not depend on the model).
* crates/core/tests/fixtures/pretrained/: tiny PyTorch files for candle's pickle reader:
  plain.pth (f32, f16, i64 and a transposed tensor), nested.pth (the state dict under
  `state_dict`, beside an `epoch`), legacy.pth (the pre-1.6 non-zip format).

--parity builds full-size random timm `legacy_xception` and `efficientnet_b0`, saves them
(with a test image) under /tmp/candor-timm-parity (nothing committed), runs the `features`
example of candor-forgery on them (cargo must be able to build it) and prints the largest
difference of the preprocessed input, the pooled features and the logits from timm's (end
to end from the PNG, and from timm's own preprocessed input).
"""

import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np
import torch
from torch import nn
import importlib
import timm

# `timm.models.xception` is also a function's name: import the modules themselves.
timm_eff = importlib.import_module("timm.models.efficientnet")
timm_xc = importlib.import_module("timm.models.xception")
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORGERY = os.path.join(ROOT, "crates", "forgery", "tests", "fixtures", "timm")
CORE = os.path.join(ROOT, "crates", "core", "tests", "fixtures", "pretrained")


def rust_round(x):
    """Rust's f64::round (half away from zero), as XceptionConfig::width uses."""
    return int(math.floor(x + 0.5))


def scaled_xception(width, num_classes=1000):
    """timm's legacy Xception with every width scaled: timm's modules and forward."""
    w = lambda c: max(1, rust_round(c * width))
    Block, Sep = timm_xc.Block, timm_xc.SeparableConv2d
    m = timm_xc.Xception(num_classes=num_classes)
    m.conv1 = nn.Conv2d(3, w(32), 3, 2, 0, bias=False)
    m.bn1 = nn.BatchNorm2d(w(32))
    m.conv2 = nn.Conv2d(w(32), w(64), 3, bias=False)
    m.bn2 = nn.BatchNorm2d(w(64))
    m.block1 = Block(w(64), w(128), 2, 2, start_with_relu=False)
    m.block2 = Block(w(128), w(256), 2, 2)
    m.block3 = Block(w(256), w(728), 2, 2)
    for i in range(4, 12):
        setattr(m, f"block{i}", Block(w(728), w(728), 3, 1))
    m.block12 = Block(w(728), w(1024), 2, 2, grow_first=False)
    m.conv3 = Sep(w(1024), w(1536), 3, 1, 1)
    m.bn3 = nn.BatchNorm2d(w(1536))
    m.conv4 = Sep(w(1536), w(2048), 3, 1, 1)
    m.bn4 = nn.BatchNorm2d(w(2048))
    m.num_features = w(2048)
    m.fc = nn.Linear(w(2048), num_classes)
    for mod in m.modules():
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
    return m


def randomise_bn(model, gen):
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):
            c = mod.num_features
            with torch.no_grad():
                mod.weight.copy_(0.5 + torch.rand(c, generator=gen))
                mod.bias.copy_(0.1 * torch.randn(c, generator=gen))
                mod.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                mod.running_var.copy_(0.5 + torch.rand(c, generator=gen))
                mod.num_batches_tracked.fill_(1000)


def round_to_f16(model):
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.copy_(t.half().float())


def pooled_and_logits(model, x):
    with torch.no_grad():
        f = model.forward_features(x)
        pooled = model.forward_head(f, pre_logits=True)
        logits = model.forward_head(f)
    return pooled, logits


def save_model(model, stem, pth):
    sd = model.state_dict()
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in sd.items()}
    save_file(half, os.path.join(FORGERY, stem + ".safetensors"))
    if pth:
        torch.save(half, os.path.join(FORGERY, stem + ".pth"))


def fixture_models():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    xc = scaled_xception(1 / 32)
    eff4 = timm_eff._gen_efficientnet(
        "tf_efficientnet_b4", channel_multiplier=0.05, depth_multiplier=1.8,
        bn_eps=1e-3, pad_type="same", num_classes=1000)
    eff0 = timm_eff._gen_efficientnet(
        "efficientnet_b0", channel_multiplier=0.05, depth_multiplier=0.5, num_classes=1000)
    return g, [("legacy_xception_w32", xc), ("tf_efficientnet_b4_c005", eff4),
               ("efficientnet_b0_c005", eff0)]


def write_forgery_fixtures():
    os.makedirs(FORGERY, exist_ok=True)
    g, models = fixture_models()
    expected = {}
    for stem, m in models:
        m.eval()
        randomise_bn(m, g)
        with torch.no_grad():
            # Larger classifier weights make the logits check meaningful.
            head = m.get_classifier()
            head.weight.mul_(10.0)
        round_to_f16(m)
        save_model(m, stem, pth=stem.startswith("legacy_xception"))
        x = torch.randn(2, 3, 40, 48, generator=g).half().float()
        pooled, logits = pooled_and_logits(m, x)
        expected[f"{stem}.input"] = x.half().contiguous()
        expected[f"{stem}.features"] = pooled.contiguous()
        expected[f"{stem}.logits"] = logits.contiguous()
        n = sum(v.numel() for v in m.state_dict().values())
        print(f"{stem}: {len(m.state_dict())} tensors, {n} values, features {tuple(pooled.shape)}")
    save_file(expected, os.path.join(FORGERY, "expected.safetensors"))


def write_preprocess_fixture():
    """PIL's 8-bit bicubic resizes and timm's eval transform of small random images."""
    from PIL import Image
    from timm.data import create_transform
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)
    pil = Image.fromarray(img)
    resizes = []
    for (h, w) in [(7, 9), (20, 29), (13, 8), (5, 17), (31, 12)]:
        out = np.asarray(pil.resize((w, h), Image.BICUBIC))
        resizes.append({"size": [h, w], "out": out.transpose(2, 0, 1).flatten().tolist()})
    big = rng.integers(0, 256, (41, 53, 3), dtype=np.uint8)
    transforms = []
    for size, crop_pct, mean, std in [(32, 0.875, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
                                      (29, 0.8975, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]:
        t = create_transform(input_size=(3, size, size), crop_pct=crop_pct, interpolation="bicubic",
                             mean=mean, std=std, crop_mode="center")
        x = t(Image.fromarray(big))
        transforms.append({"size": size, "crop_pct": crop_pct, "mean": mean, "std": std,
                           "out": [round(v, 7) for v in x.flatten().tolist()]})
    data = {"image": img.transpose(2, 0, 1).flatten().tolist(), "shape": [3, 13, 17],
            "resizes": resizes, "big": big.transpose(2, 0, 1).flatten().tolist(),
            "big_shape": [3, 41, 53], "transforms": transforms}
    with open(os.path.join(FORGERY, "preprocess.json"), "w") as f:
        json.dump(data, f)
        f.write("\n")


def write_core_fixtures():
    os.makedirs(CORE, exist_ok=True)
    g = torch.Generator().manual_seed(1)
    a = torch.randn(2, 3, generator=g)
    plain = {
        "layer.weight": a,
        "layer.bias": torch.tensor([0.5, -1.0], dtype=torch.float16),
        "bn.num_batches_tracked": torch.tensor(7, dtype=torch.int64),
        "proj.weight": torch.randn(4, 3, generator=g).t(),  # non-contiguous (Fortran order)
    }
    torch.save(plain, os.path.join(CORE, "plain.pth"))
    torch.save({"state_dict": {"layer.weight": a}, "epoch": 3}, os.path.join(CORE, "nested.pth"))
    torch.save({"layer.weight": a}, os.path.join(CORE, "legacy.pth"),
               _use_new_zipfile_serialization=False)
    values = {"layer.weight": a.flatten().tolist(), "proj.weight": plain["proj.weight"].tolist()}
    with open(os.path.join(CORE, "values.json"), "w") as f:
        json.dump(values, f, indent=1)
        f.write("\n")


# ----- end-to-end parity on full-size random models (not committed) -----

PARITY = "/tmp/candor-timm-parity"


def parity():
    from PIL import Image
    from timm.data import resolve_data_config, create_transform
    os.makedirs(PARITY, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    rng = np.random.default_rng(7)
    # A smooth random image (no natural photo needed) of an odd size.
    h, w = 347, 421
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([
        127 + 100 * np.sin(xx / (9 + 5 * c) + yy / (13 + 3 * c)) + rng.normal(0, 12, (h, w))
        for c in range(3)], axis=-1).clip(0, 255).astype(np.uint8)
    path = os.path.join(PARITY, "image.png")
    Image.fromarray(img).save(path)
    worst = {}
    for arch, name in [("xception", "legacy_xception"), ("efficientnet_b0", "efficientnet_b0"),
                       ("tf_efficientnet_b4", "tf_efficientnet_b4")]:
        torch.manual_seed(0)
        m = timm.create_model(name, pretrained=False).eval()
        randomise_bn(m, g)
        wfile = os.path.join(PARITY, name + ".safetensors")
        save_file({k: v.contiguous() for k, v in m.state_dict().items()}, wfile)
        cfg = resolve_data_config({}, model=m)
        x = create_transform(**cfg)(Image.open(path).convert("RGB")).unsqueeze(0)
        pooled, logits = pooled_and_logits(m, x)
        out = subprocess.run(
            ["cargo", "run", "--quiet", "-p", "candor-forgery", "--example",
             "features", "--", "--arch", arch, "--pretrained", wfile, "--image", path,
             "--dump-input", os.path.join(PARITY, name + ".input.json")],
            cwd=ROOT, check=True, capture_output=True, text=True).stdout
        ours = json.loads(out)
        ours_x = torch.tensor(json.load(open(os.path.join(PARITY, name + ".input.json"))))
        d_in = (ours_x.reshape(x.shape) - x).abs().max().item()
        d_f = (torch.tensor(ours["features"]) - pooled[0]).abs().max().item()
        d_l = (torch.tensor(ours["logits"]) - logits[0]).abs().max().item()
        # Our features on timm's preprocessed input: the network alone.
        xin = os.path.join(PARITY, name + ".timm_input.safetensors")
        save_file({"input": x.contiguous()}, xin)
        out2 = subprocess.run(
            ["cargo", "run", "--quiet", "-p", "candor-forgery", "--example",
             "features", "--", "--arch", arch, "--pretrained", wfile, "--input-tensor", xin],
            cwd=ROOT, check=True, capture_output=True, text=True).stdout
        ours2 = json.loads(out2)
        d_f2 = (torch.tensor(ours2["features"]) - pooled[0]).abs().max().item()
        d_l2 = (torch.tensor(ours2["logits"]) - logits[0]).abs().max().item()
        scale = pooled.abs().max().item()
        worst[arch] = dict(input=d_in, features=d_f, logits=d_l,
                           features_same_input=d_f2, logits_same_input=d_l2,
                           max_abs_feature=scale, max_abs_logit=logits.abs().max().item(),
                           input_size=list(x.shape))
        print(arch, json.dumps(worst[arch]))
    return worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parity", action="store_true")
    ap.add_argument("--only-parity", action="store_true")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, timm {timm.__version__}")
    if not args.only_parity:
        write_forgery_fixtures()
        write_preprocess_fixture()
        write_core_fixtures()
    if args.parity or args.only_parity:
        parity()


if __name__ == "__main__":
    sys.exit(main())
