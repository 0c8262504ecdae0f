"""PyTorch CPU timing of the training steps in benches/benches/forgery.rs (the comparison
for candor-forgery's criterion bench, group `train_step`): one training step at batch 8
(forward with every loss term candor's `Detector::loss_step` uses, backward, Adam step
lr 1e-3 = `TrainConfig::quick().optimizer`) on random images in [-1, 1] with labels
alternating 0/1, for the same networks and ids as candor's bench:

    train_step/efficientnet/8x3x64x64   vanilla EfficientNet `tiny` (the quick reproduction's
                                        "efficientnet": VanillaConfig::tiny_efficientnet())
    train_step/mat/8x3x64x64            the quick reproduction's "mat" (MatConfig::tiny():
                                        EfficientNet `tiny`, M 4, mid 32, official variant,
                                        texture v2, AGDA on) at its first MAT-stage epoch
    train_step/spsl/8x3x64x64           the quick reproduction's "spsl": shallow Xception
                                        (no middle flow), widths / 8, RGB + phase (4 channels)
    train_step/mat_b0/8x3x128x128       official MAT (MatConfig::official()) on
                                        EfficientNet-B0 (EfficientNetConfig::b0())
    train_step/spsl_paper/8x3x128x128   SPSL on the full-width shallow Xception
                                        (XceptionConfig::spsl())

Trainable parameters (candor's VarMap less its buffers; the twins' nn.Parameters, equal):

    efficientnet    199,464   (tiny: stem 8, stages 8, 8, 16, 24, 32, 48, 80 of 1, 1, 1,
                               2, 2, 2, 1 blocks, head 320, 2-way classifier)
    mat             246,138   (that backbone, its unused classifier included, + attention
                               (b5, 32 ch), texture v2 (b2, 8 ch × M 4), heads of 32)
    spsl            131,637   (÷8 widths 4, 8, 16, 32, 91, 128, 192, 256; 4 input channels)
    mat_b0        4,873,232   (B0 with a 2-way classifier, 4,010,110, + attention (b5, 112
                               ch), texture v2 (b2, 24 ch × 4), heads of 256)
    spsl_paper    7,899,530   (widths 32 … 2048, 4 input channels, no middle flow)

(Counted from the Rust layer lists, the same formulas give candor's documented
5,288,548 for B0, 19,341,616 for B4 and 22,855,952 for Xception with 1000 classes.)

The networks follow candor_forgery::model layer by layer (candor is checked against
timm to 1e-7, see tools/make_timm_fixture.py, but timm has no `tiny` EfficientNet, no
÷8 Xception and no 4-channel input, so every network here is built by hand; no timm):

* EfficientNet (timm `tf_efficientnet_b*` structure): TF-"same" padding computed from
  the input size (the odd pixel padded at the bottom/right, as candor does: an explicit
  pad of that pixel, then the convolution's symmetric padding), BN momentum 0.01 / eps
  1e-3, SiLU, squeeze-excitation to ¼ of the block's input channels, stochastic depth
  0.2·i/n on the identity-skip blocks, classifier dropout 0 (`tiny` = B4's MAT settings).
* Xception (timm `legacy_xception`): unpadded stem convs, separable convs (depthwise 3×3
  + 1×1, no bias), BN momentum 0.1 / eps 1e-5, max-pool 3/2/1 on strided blocks, block12
  with grow_first=False; SPSL's phase channel (per-image FFT of the plain channel mean,
  unit amplitude, real part of the inverse FFT, no rescaling) computed in every step, as
  candor's loss_step does.
* MAT (official variant, candor_forgery::model::mat): attention module on `b5` (conv3×3
  + BN + ReLU, conv1×1 + BN, ELU + 1, the 24×24-template border mask), texture
  enhancement v2 on `b2` (conv3×3, D = adaptive average pool to the attention size,
  residual F − nearest_up(D), × tanh(bilinear_up(A.detach())) per head, grouped dense
  block 5×5 / 3×3 / 3×3 / 3×3 / 1×1 with per-group concatenations, ReLU), bilinear
  attention pooling (L2 per head; the global branch area-normalised with the sum of the
  head-masked maps), head mask Bernoulli(0.75) of shape [B, M, 1], dropout 0.5 on the
  global feature, Hardswish heads. Loss = CE + 0.5·RIL (official: D standardised, the
  centres moved by the reals with α 0.05, intra margins [0.2, −0.8], inter 0.8) + CE of
  the AGDA pass + 0.1·match; the AGDA pass's RIL moves the centres again, as candor's.
  AGDA (soft, outside autograd): head ∝ √(ΣA + 1), θ ~ U(0.4, 0.6), z ~ U(3, 5), down
  ×0.5 (bilinear, align corners), Gaussian blur 11 / σ 7 with reflect borders, noise
  0.1, up again.

Where the twin cannot match candor exactly (none of it changes the amount of network
work, only how the same arithmetic is spelt):

* Random draws (dropout, drop path, head masks, AGDA's head, θ, z and noise) come from
  torch's generator, not candor's SeededRng, so the masks differ; each step draws the
  same number of masks of the same shapes.
* AGDA's Gaussian blur is a depthwise conv2d here (F.pad reflect + two 1-D kernels);
  candor runs it as a scalar loop on the host. Both are outside autograd.
* The RIL inter term and the safe norms are written with the same ops as candor
  (sum of squares, clamp at 1e-24, sqrt); the inter term's M(M−1)/2 pairs are one
  batched pdist-like expression instead of candor's loop over pairs.
* `net.classifier` of MAT's backbone is built (candor creates it too, so the parameter
  counts agree) but unused in the MAT stage: its grad stays None and Adam skips it, as
  candor's Adam skips variables without a gradient.

Usage:

    /work/venv/bin/python tools/forgery_bench.py [--threads 2] [--reps 5] [--filter mat]
"""
import torch_alloc_env  # noqa: E402  (before torch: re-exec with candor's allocator settings)

torch_alloc_env.ensure()

import math
import random

import torch
import torch.nn as nn
import torch.nn.functional as F

import torch_bench  # noqa: E402

BATCH = 8

# ---------------------------------------------------------------------------------------
# EfficientNet (candor_forgery::model::efficientnet)
# ---------------------------------------------------------------------------------------

# B0 stages: (expansion, kernel, stride, channels, repeats).
STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]


def round_filters(c, width, divisor=8):
    f = c * width
    n = max(int(f + divisor / 2) // divisor * divisor, divisor)
    return n + divisor if n < 0.9 * f else n


def round_repeats(r, depth):
    return int(math.ceil(r * depth))


class SameConv(nn.Conv2d):
    """A convolution with TF-"same" padding from the actual input size: the odd pixel
    (if any) padded at the bottom/right, the rest symmetrically by the convolution."""

    def __init__(self, cin, cout, k, stride=1, groups=1, bias=False):
        super().__init__(cin, cout, k, stride, 0, groups=groups, bias=bias)

    def forward(self, x):
        k, s = self.kernel_size[0], self.stride[0]
        h, w = x.shape[-2:]
        th = max((-(-h // s) - 1) * s + k - h, 0)
        tw = max((-(-w // s) - 1) * s + k - w, 0)
        if th % 2 or tw % 2:
            x = F.pad(x, (0, tw % 2, 0, th % 2))
        return F.conv2d(x, self.weight, self.bias, s, (th // 2, tw // 2), 1, self.groups)


def drop_path(x, p, training):
    if not training or p <= 0:
        return x
    keep = 1.0 - p
    mask = torch.bernoulli(torch.full((x.shape[0], 1, 1, 1), keep, dtype=x.dtype))
    return x * (mask / keep)


class MbConv(nn.Module):
    def __init__(self, cin, cout, e, k, stride, drop, bn):
        super().__init__()
        mid = cin * e
        rd = max(int(cin * 0.25), 1)
        self.expand = nn.Sequential(SameConv(cin, mid, 1), bn(mid)) if e != 1 else None
        self.conv_dw = SameConv(mid, mid, k, stride, groups=mid)
        self.bn_dw = bn(mid)
        self.se_reduce = SameConv(mid, rd, 1, bias=True)
        self.se_expand = SameConv(rd, mid, 1, bias=True)
        self.conv_pwl = SameConv(mid, cout, 1)
        self.bn_pwl = bn(cout)
        self.skip = stride == 1 and cin == cout
        self.drop = drop

    def forward(self, x):
        h = F.silu(self.expand(x)) if self.expand is not None else x
        h = F.silu(self.bn_dw(self.conv_dw(h)))
        s = F.silu(self.se_reduce(F.adaptive_avg_pool2d(h, 1)))
        h = h * torch.sigmoid(self.se_expand(s))
        h = self.bn_pwl(self.conv_pwl(h))
        if not self.skip:
            return h
        return drop_path(h, self.drop, self.training) + x


class EfficientNet(nn.Module):
    """EfficientNet with width/depth multipliers; `forward_features` returns the taps
    b0 … b7 and final (head conv → BN → SiLU)."""

    def __init__(self, width, depth, dropout=0.0, num_classes=2, drop_connect=0.2):
        super().__init__()
        bn = lambda c: nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)
        stem = round_filters(32, width)
        self.conv_stem = SameConv(3, stem, 3, 2)
        self.bn1 = bn(stem)
        total = sum(round_repeats(s[4], depth) for s in STAGES)
        self.stages = nn.ModuleList()
        self.tap_channels = {"b0": stem}
        c, idx = stem, 0
        for i, (e, k, stride, out, r) in enumerate(STAGES):
            out = round_filters(out, width)
            blocks = []
            for j in range(round_repeats(r, depth)):
                blocks.append(MbConv(c, out, e, k, stride if j == 0 else 1,
                                     drop_connect * idx / total, bn))
                c, idx = out, idx + 1
            self.stages.append(nn.Sequential(*blocks))
            self.tap_channels[f"b{i + 1}"] = out
        head = round_filters(1280, width)
        self.conv_head = SameConv(c, head, 1)
        self.bn2 = bn(head)
        self.tap_channels["final"] = head
        self.num_features = head
        self.dropout = dropout
        self.classifier = nn.Linear(head, num_classes)

    def forward_features(self, x):
        h = F.silu(self.bn1(self.conv_stem(x)))
        taps = {"b0": h}
        for i, s in enumerate(self.stages):
            h = s(h)
            taps[f"b{i + 1}"] = h
        taps["final"] = F.silu(self.bn2(self.conv_head(h)))
        return taps

    def forward_head(self, f):
        pooled = F.adaptive_avg_pool2d(f, 1).flatten(1)
        return self.classifier(F.dropout(pooled, self.dropout, self.training))

    def forward(self, x):
        return self.forward_head(self.forward_features(x)["final"])


# ---------------------------------------------------------------------------------------
# Xception (candor_forgery::model::xception)
# ---------------------------------------------------------------------------------------


class SepConv(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.conv1(x))


class XBlock(nn.Module):
    def __init__(self, cin, cout, reps, stride, start_with_relu=True, grow_first=True):
        super().__init__()
        self.skip = None
        if cin != cout or stride != 1:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.relus, self.seps, self.bns = [], nn.ModuleList(), nn.ModuleList()
        for i in range(reps):
            if grow_first:
                inc, outc = (cin if i == 0 else cout), cout
            else:
                inc, outc = cin, (cin if i + 1 < reps else cout)
            self.relus.append(start_with_relu or i > 0)
            self.seps.append(SepConv(inc, outc))
            self.bns.append(nn.BatchNorm2d(outc))
        self.stride = stride

    def forward(self, x):
        h = x
        for r, sep, bn in zip(self.relus, self.seps, self.bns):
            h = bn(sep(F.relu(h) if r else h))
        if self.stride != 1:
            h = F.max_pool2d(h, 3, self.stride, 1)
        return h + (self.skip(x) if self.skip is not None else x)


class Xception(nn.Module):
    def __init__(self, width=1.0, in_channels=3, middle_blocks=8, num_classes=2):
        super().__init__()
        w = lambda c: max(1, int(math.floor(c * width + 0.5)))  # Rust's f64::round
        self.conv1 = nn.Conv2d(in_channels, w(32), 3, 2, 0, bias=False)
        self.bn1 = nn.BatchNorm2d(w(32))
        self.conv2 = nn.Conv2d(w(32), w(64), 3, 1, 0, bias=False)
        self.bn2 = nn.BatchNorm2d(w(64))
        blocks = [XBlock(w(64), w(128), 2, 2, start_with_relu=False), XBlock(w(128), w(256), 2, 2),
                  XBlock(w(256), w(728), 2, 2)]
        blocks += [XBlock(w(728), w(728), 3, 1) for _ in range(middle_blocks)]
        blocks.append(XBlock(w(728), w(1024), 2, 2, grow_first=False))
        self.blocks = nn.Sequential(*blocks)
        self.conv3 = SepConv(w(1024), w(1536))
        self.bn3 = nn.BatchNorm2d(w(1536))
        self.conv4 = SepConv(w(1536), w(2048))
        self.bn4 = nn.BatchNorm2d(w(2048))
        self.fc = nn.Linear(w(2048), num_classes)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        h = self.blocks(h)
        h = F.relu(self.bn3(self.conv3(h)))
        h = self.bn4(self.conv4(h))
        return self.fc(F.adaptive_avg_pool2d(F.relu(h), 1).flatten(1))


def phase_channel(x):
    """SPSL's phase channel of a batch in [-1, 1] (data::with_phase_channel, Raw)."""
    f = torch.fft.fft2(x.mean(1, keepdim=True))
    return torch.fft.ifft2(torch.exp(1j * torch.angle(f))).real


# ---------------------------------------------------------------------------------------
# MAT (candor_forgery::model::mat, official variant)
# ---------------------------------------------------------------------------------------


def safe_norm(x, dims):
    return x.pow(2).sum(dims, keepdim=True).clamp_min(1e-24).sqrt()


def border_mask(h, w):
    inside = lambda n: torch.tensor([2 <= (i * 24) // n < 22 for i in range(n)], dtype=torch.float32)
    return (inside(h)[:, None] * inside(w)[None, :]).view(1, 1, h, w)


def bap(features, attn, norm):
    """Bilinear attention pooling: features (B, N, H, W) or (B, M, N, H, W), maps
    (B, M, h, w) resized (bilinear, align corners) to H×W; returns (B, M, N)."""
    b, m = attn.shape[:2]
    h, w = features.shape[-2:]
    a = attn if attn.shape[-2:] == (h, w) else F.interpolate(attn, (h, w), mode="bilinear", align_corners=True)
    if norm == "area":
        a = a + 1e-8
    if features.dim() == 5:
        n = features.shape[2]
        p = torch.bmm(features.reshape(b * m, n, h * w), a.reshape(b * m, h * w, 1)).view(b, m, n)
    else:
        n = features.shape[1]
        p = torch.bmm(a.reshape(b, m, h * w), features.reshape(b, n, h * w).transpose(1, 2))
    if norm == "l2":
        return p / safe_norm(p, [2])
    if norm == "area":
        return p / a.sum((2, 3)).view(b, m, 1)
    return p


def conv(cin, cout, k, groups=1, bias=True):
    return nn.Conv2d(cin, cout, k, 1, k // 2, groups=groups, bias=bias)


class AttentionMap(nn.Module):
    def __init__(self, c, m):
        super().__init__()
        self.conv_extract, self.bn1 = conv(c, c, 3), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = conv(c, m, 1, bias=False), nn.BatchNorm2d(m)

    def forward(self, x):
        h = self.bn2(self.conv2(F.relu(self.bn1(self.conv_extract(x)))))
        a = F.elu(h) + 1.0
        return a * border_mask(*a.shape[-2:])


class DenseBlock(nn.Module):
    def __init__(self, c, k0, last, groups):
        super().__init__()
        self.conv0 = conv(c, c, k0, groups)
        self.conv1, self.bn1 = conv(c, c, 3, groups), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = conv(2 * c, c, 3, groups), nn.BatchNorm2d(2 * c)
        self.conv3, self.bn3 = conv(3 * c, c, 3, groups), nn.BatchNorm2d(3 * c)
        self.conv_last, self.bn4 = conv(4 * c, last, 1, groups), nn.BatchNorm2d(4 * c)
        self.bn_last = nn.BatchNorm2d(last)
        self.groups = groups

    def cat(self, a, b):
        if self.groups == 1:
            return torch.cat([a, b], 1)
        n, ca, h, w = a.shape
        g, cb = self.groups, b.shape[1]
        return torch.cat([a.view(n, g, ca // g, h, w), b.view(n, g, cb // g, h, w)], 2).view(n, ca + cb, h, w)

    def forward(self, x):
        f0 = self.conv0(x)
        f1 = self.conv1(F.relu(self.bn1(f0)))
        f1c = self.cat(f0, f1)
        f2 = self.conv2(F.relu(self.bn2(f1c)))
        f2c = self.cat(f1c, f2)
        f3 = self.conv3(F.relu(self.bn3(f2c)))
        f3c = self.cat(f2c, f3)
        return self.bn_last(self.conv_last(F.relu(self.bn4(f3c))))


class TextureEnhanceV2(nn.Module):
    def __init__(self, n, m):
        super().__init__()
        self.conv_extract = conv(n, n, 3)
        self.dense = DenseBlock(n * m, 5, n * m, m)
        self.m = m

    def forward(self, fm, attn):
        b, n, h, w = fm.shape
        ah, aw = attn.shape[-2:]
        fm = self.conv_extract(fm)
        d = F.adaptive_avg_pool2d(fm, (ah, aw))
        residual = fm if h <= ah else fm - F.interpolate(d, (h, w), mode="nearest")
        a = torch.tanh(F.interpolate(attn.detach(), (h, w), mode="bilinear", align_corners=True)).unsqueeze(2)
        x = (residual.unsqueeze(1) * a).reshape(b, self.m * n, h, w)
        y = F.relu(self.dense(x))
        return y.view(b, self.m, n, h, w), d


def standardize(d):
    n = d.shape[2] * d.shape[3]
    c = d - d.mean((2, 3), keepdim=True)
    std = (c.pow(2).sum((2, 3), keepdim=True) / (n - 1)).clamp_min(1e-24).sqrt()
    return c / (std + 1e-8)


def ril_official(v, centers, y, alpha, intra_margin=(0.2, -0.8), inter_margin=0.8):
    """Returns (loss, new centres); v (B, M, N), centres (M, N), y (B,) in {0, 1}."""
    b, m, _ = v.shape
    c = centers.detach()
    real = (y == 0).to(v.dtype).view(b, 1, 1)
    fcts = c + ((v - c) * real).mean(0) * alpha
    dist = safe_norm(v - fcts, [1, 2]).flatten()
    margin = torch.tensor(intra_margin, dtype=v.dtype)[y]
    sgn = torch.sign(margin)
    intra = F.relu(dist * sgn - margin).mean()
    j, k = torch.triu_indices(m, m, 1)
    pair = safe_norm(fcts[j] - fcts[k], [1]).flatten()
    inter = F.relu(inter_margin - pair).sum() / (m * alpha)
    return intra + inter, fcts.detach()


class Agda:
    """AGDA, soft mode, outside autograd (mat::Agda with AgdaConfig::default())."""

    def __init__(self, kernel_size=11, sigma=7.0, scale=0.5, threshold=(0.4, 0.6), zoom=(3.0, 5.0), noise=0.1):
        g = torch.exp(-((torch.arange(kernel_size, dtype=torch.float64) - kernel_size // 2) ** 2) / (2 * sigma * sigma))
        self.kernel = (g / g.sum()).float()
        self.scale, self.threshold, self.zoom, self.noise = scale, threshold, zoom, noise

    def blur(self, x):
        c, k = x.shape[1], self.kernel.numel()
        r = k // 2
        x = F.pad(x, (r, r, r, r), mode="reflect")
        x = F.conv2d(x, self.kernel.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
        return F.conv2d(x, self.kernel.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)

    @torch.no_grad()
    def apply(self, x, attn):
        b, _, h, w = x.shape
        a = attn.detach()
        heads = torch.multinomial((a.sum((2, 3)) + 1.0).sqrt(), 1).squeeze(1)
        chosen = a[torch.arange(b), heads].unsqueeze(1)
        up = F.interpolate(chosen, (h, w), mode="bilinear", align_corners=True)
        astar = up / (up.flatten(1).max(1).values.view(b, 1, 1, 1) + 1e-8)
        theta, zoom = random.uniform(*self.threshold), random.uniform(*self.zoom)
        bottom = 1.0 / (1.0 + math.exp(theta * zoom))
        mask = ((torch.sigmoid((astar - theta) * zoom) - bottom) / (1.0 - bottom)).clamp(0, 1)
        sh, sw = max(int(h * self.scale), 1), max(int(w * self.scale), 1)
        small = self.blur(F.interpolate(x, (sh, sw), mode="bilinear", align_corners=True))
        small = small + self.noise * torch.randn_like(small)
        xd = F.interpolate(small, (h, w), mode="bilinear", align_corners=True)
        return x * (1.0 - mask) + xd * mask, heads


class Mat(nn.Module):
    def __init__(self, backbone, m=4, mid=256, attention_layer="b5", feature_layer="b2",
                 dropout=0.25, drop_final=0.5, alpha=0.05):
        super().__init__()
        self.net = backbone
        n = backbone.tap_channels[feature_layer]
        self.attentions = AttentionMap(backbone.tap_channels[attention_layer], m)
        self.texture_enhance = TextureEnhanceV2(n, m)
        self.projection_local = nn.Sequential(nn.Linear(m * n, mid), nn.Hardswish(), nn.Linear(mid, mid), nn.Hardswish())
        self.project_final = nn.Linear(backbone.num_features, mid)
        self.ensemble_classifier_fc = nn.Sequential(nn.Linear(2 * mid, mid), nn.Hardswish(), nn.Linear(mid, 2))
        self.register_buffer("feature_centers", torch.zeros(m, n))
        self.layers = (attention_layer, feature_layer)
        self.dropout, self.drop_final, self.alpha = dropout, drop_final, alpha
        self.agda = Agda()

    def forward(self, x):
        """One training-mode pass: (logits, attention maps, D)."""
        taps = self.net.forward_features(x)
        attn = self.attentions(taps[self.layers[0]])
        b, m = attn.shape[:2]
        feat, d = self.texture_enhance(taps[self.layers[1]], attn)
        p = bap(feat, attn, "l2")
        keep = 1.0 - self.dropout
        mask = torch.bernoulli(torch.full((b, m, 1), keep)) / keep
        local = self.projection_local((p * mask).flatten(1))
        a_sum = (attn * mask.unsqueeze(3)).sum(1, keepdim=True)
        g = bap(taps["final"], a_sum, "area").squeeze(1)
        g = F.hardswish(self.project_final(F.dropout(g, self.drop_final, True)))
        return self.ensemble_classifier_fc(torch.cat([local, g], 1)), attn, d

    def ril(self, attn, d, y):
        v = bap(standardize(d), attn, "l2")
        loss, centers = ril_official(v, self.feature_centers, y, self.alpha)
        self.feature_centers.copy_(centers)
        return loss, v

    def loss_step(self, x, y):
        """Official MAT step: CE + 0.5·RIL + CE(AGDA pass) + 0.1·match."""
        logits, attn, d = self(x)
        ce = F.cross_entropy(logits, y)
        ril, v1 = self.ril(attn, d, y)
        aug, heads = self.agda.apply(x, attn)
        logits2, attn2, d2 = self(aug)
        ce2 = F.cross_entropy(logits2, y)
        _, v2 = self.ril(attn2, d2, y)  # moves the centres only
        keep = torch.ones(v1.shape[:2])
        keep[torch.arange(v1.shape[0]), heads] = 0.0
        matching = (safe_norm(v2 - v1, [2]).squeeze(2) * keep).mean()
        return ce + 0.5 * ril + ce2 + 0.1 * matching


# ---------------------------------------------------------------------------------------
# the steps
# ---------------------------------------------------------------------------------------


def build(name):
    """(network, loss(x, y)) of a bench id, its image side."""
    if name == "efficientnet":
        net = EfficientNet(0.25, 0.5)
        return net, lambda x, y: F.cross_entropy(net(x), y), 64
    if name in ("mat", "mat_b0"):
        if name == "mat":
            net = Mat(EfficientNet(0.25, 0.5), mid=32)
        else:
            net = Mat(EfficientNet(1.0, 1.0, dropout=0.2), mid=256)
        return net, net.loss_step, 64 if name == "mat" else 128
    if name in ("spsl", "spsl_paper"):
        net = Xception(1 / 8 if name == "spsl" else 1.0, in_channels=4, middle_blocks=0)
        return net, lambda x, y: F.cross_entropy(net(torch.cat([x, phase_channel(x)], 1)), y), \
            64 if name == "spsl" else 128
    raise ValueError(name)


NAMES = ["efficientnet", "mat", "spsl", "mat_b0", "spsl_paper"]


def n_params(net):
    return sum(p.numel() for p in net.parameters())


def main():
    a = torch_bench.parse_args(__doc__)
    torch_bench.header(torch, a.threads)
    torch.manual_seed(0)
    random.seed(0)
    y = torch.arange(BATCH) % 2
    for name in NAMES:
        net, loss_fn, side = build(name)
        net.train()
        opt = torch.optim.Adam(net.parameters(), 1e-3)
        x = torch.rand(BATCH, 3, side, side) * 2 - 1

        def step():
            loss = loss_fn(x, y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        torch_bench.time_step(f"train_step/{name}/{BATCH}x3x{side}x{side}", step, a.reps)


if __name__ == "__main__":
    main()
