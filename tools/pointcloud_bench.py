"""PyTorch CPU timing of the steps in benches/benches/pointcloud.rs (the comparison for
candor-pointcloud-defense's criterion bench), on random clouds of batch 32 × 1024 points.
It mirrors these criterion ids (group/function/parameter, the same strings here):

* `pointnet_train_step/tf_original/32x1024` and `pointnet_train_step/quick_small/32x1024`:
  one PointNet training step (training-mode forward with batch statistics and dropout,
  loss, backward, Adam step) of PointNetConfig::tf_original() and of
  reproduce::small_pointnet(40);
* `cw_perturb_iteration/tf_original/32x1024` and `cw_perturb_iteration/quick_small/32x1024`:
  one iteration of the C&W perturbation attack (attack::perturbation_attack with
  CwConfig::perturbation().with_schedule(1, 1)) against the same two networks;
* `pointnet_forward/tf_original_eval/32x1024`: one evaluation-mode forward.

Same structure as candor_pointcloud_defense::model::pointnet (TF original variant,
`charlesq34/pointnet` pointnet_cls.py). Points are rows: a shared-MLP layer is a matmul
over the B·N points, `x · Wᵀ` with no bias, then BatchNorm (ε 1e-3, momentum 0.5 in
PyTorch's convention, i.e. TF's initial decay 0.5; batch statistics in training mode) and
ReLU. Input T-Net (3×3): 64-128-1024 shared MLP, max over the points, FC 512-256 (each
with BN and ReLU), a biased FC to 9 values plus the identity; x · T. Shared MLP 64-64, the
feature T-Net (64×64, same shape), h · T, shared MLP 64-128-1024 with ReLU on every layer,
max over the points, head FC 512-256 each with BN, ReLU and dropout p = 0.3 (TF's keep
0.7; training mode only), a biased FC to the 40 classes. quick_small has the widths
stem 32-32, trunk 32-64-256, T-Net MLP 32-64-256, T-Net FC 128-64, head 128-64.
Initialisation as candor's TF variant: Xavier-uniform weights, zero biases, the T-Nets'
last layer all zero (so T = I at the start), BN γ 1 / β 0.

Training step (the bench's, which is candor_pointcloud_defense::train's step at its
starting schedule): mean cross-entropy + 0.001 · ½ Σ_b ‖T_b T_bᵀ − I‖²_F on the feature
transform (TF's tf.nn.l2_loss, summed over the batch); Adam lr 1e-3, β (0.9, 0.999),
ε 1e-8, no weight decay, over every parameter (not the BN running statistics).

C&W iteration (one binary step of one iteration, as the bench): set-up of a δ drawn
from a normal of std 1e-7 truncated at ±2σ and a fresh Adam (lr 0.01) over δ only, then
adv = x + δ, D = ‖δ‖₂ per cloud, the frozen net's evaluation-mode logits Z, the margin
loss f = relu(max((1 − onehot)·Z − 10⁴·onehot) − Z_t + κ) with κ 0, the objective
mean_b f + mean_b λ·D with λ = 10 (CwConfig::perturbation's initial weight), the
success bookkeeping (prediction = target, best D, a copy of adv), backward, Adam step on δ.
As candor's PointNet::frozen(), every BN is folded into its layer in evaluation mode
(W·s and β − μ·s with s = γ / √(σ² + ε)) and those folded point-wise/FC layers are
detached, so the backward computes no weight gradient for them; the T-Nets' last layers
and the classifier are not folded and keep their (small) weight gradients, as in candor,
where candle's backward computes them though only δ is updated.

Parameter counts (trainable; candor's trainable_vars, i.e. the VarMap without the BN
running statistics; computed from the config by `candor_param_count` below and checked
against the twin's `sum(p.numel())`, both printed): tf_original 3,473,969,
quick_small 254,577.

Where the twin cannot match exactly:

* The clouds are uniform random in [−1, 1]³ (the Rust bench uses synthetic shape clouds);
  the timing does not depend on the values. Labels/targets are (7i + 3) mod 40, as there.
* Dropout masks come from torch's generator (candor draws them on the host from a
  SeededRng); the truncated-normal δ comes from torch.nn.init.trunc_normal_ (candor
  rejects and redraws on the host). Same distributions, other streams.
* candor fuses bias + ReLU into the evaluation-mode matmul; here F.linear (addmm with the
  folded shift) is followed by a separate ReLU.
* candor copies the predictions, distances and the whole adversarial batch to host Vecs
  every iteration; here the bookkeeping stays in tensors (the same reads and one copy).
* pointnet_forward runs under torch.no_grad() (as matting_bench's inference); candle's
  forward_eval records the graph but the bench never back-propagates it.

Usage:

    /work/venv/bin/python tools/pointcloud_bench.py [--threads 2] [--reps 5] [--filter REGEX]
"""
import torch_alloc_env  # noqa: E402  (before torch: re-exec with candor's allocator settings)

torch_alloc_env.ensure()

from dataclasses import dataclass, replace  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import torch_bench  # noqa: E402


@dataclass(frozen=True)
class PointNetConfig:
    """candor's PointNetConfig (TF original variant only; the benches use no other)."""
    num_classes: int = 40
    stem: tuple = (64, 64)
    trunk: tuple = (64, 128, 1024)
    tnet_conv: tuple = (64, 128, 1024)
    tnet_fc: tuple = (512, 256)
    head: tuple = (512, 256)
    dropout: float = 0.3
    bn_eps: float = 1e-3
    bn_momentum: float = 0.5


TF_ORIGINAL = PointNetConfig()
# candor_pointcloud_defense::reproduce::small_pointnet(40)
QUICK_SMALL = replace(TF_ORIGINAL, stem=(32, 32), trunk=(32, 64, 256), tnet_conv=(32, 64, 256),
                      tnet_fc=(128, 64), head=(128, 64))


def candor_param_count(cfg):
    """candor's trainable parameter count from the config: a DenseBn c→w has a (w, c)
    weight and BN γ, β; each T-Net ends in a biased c→k² layer; a biased classifier."""
    def chain(c, widths):
        total = 0
        for w in widths:
            total += c * w + 2 * w
            c = w
        return total, c

    def tnet(k):
        conv, c = chain(k, cfg.tnet_conv)
        fc, c = chain(c, cfg.tnet_fc)
        return conv + fc + c * k * k + k * k

    stem, c = chain(3, cfg.stem)
    feature = tnet(c)
    trunk, c = chain(c, cfg.trunk)
    head, c = chain(c, cfg.head)
    return tnet(3) + stem + feature + trunk + head + c * cfg.num_classes + cfg.num_classes


def xavier_dense(cin, cout, bias):
    """A point-wise layer with TF's `use_xavier` initialisation (zero bias)."""
    lin = nn.Linear(cin, cout, bias=bias)
    nn.init.xavier_uniform_(lin.weight)
    if bias:
        nn.init.zeros_(lin.bias)
    return lin


class DenseBn(nn.Module):
    """Dense (no bias) → BatchNorm over the rows; in evaluation mode the BN is folded
    into the weights, detached when `frozen` (candor's DenseBn)."""

    def __init__(self, cin, cout, cfg):
        super().__init__()
        self.fc = xavier_dense(cin, cout, False)
        self.bn = nn.BatchNorm1d(cout, eps=cfg.bn_eps, momentum=cfg.bn_momentum)
        self.frozen = False

    def folded(self):
        bn = self.bn
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            scale = bn.weight / (bn.running_var + bn.eps).sqrt()
            shift = bn.bias - bn.running_mean * scale
            w = self.fc.weight * scale.unsqueeze(1)
        return w, shift

    def forward(self, x, relu=True):
        y = self.bn(self.fc(x)) if self.training else F.linear(x, *self.folded())
        return F.relu(y) if relu else y


def chain(c, widths, cfg):
    layers = nn.ModuleList()
    for w in widths:
        layers.append(DenseBn(c, w, cfg))
        c = w
    return layers, c


def max_over_points(h, b, n):
    """(B·N, C) rows → (B, C); the gradient goes to the arg-max (candor's max_dim1)."""
    return h.reshape(b, n, h.shape[1]).max(1).values


class TNet(nn.Module):
    def __init__(self, k, cfg):
        super().__init__()
        self.k = k
        self.convs, c = chain(k, cfg.tnet_conv, cfg)
        self.fcs, c = chain(c, cfg.tnet_fc, cfg)
        self.out = nn.Linear(c, k * k)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, b, n):
        h = x
        for layer in self.convs:
            h = layer(h)
        g = max_over_points(h, b, n)
        for layer in self.fcs:
            g = layer(g)
        eye = torch.eye(self.k, dtype=g.dtype).reshape(1, self.k * self.k)
        return (self.out(g) + eye).reshape(b, self.k, self.k)


class PointNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.input_tnet = TNet(3, cfg)
        self.stem, c = chain(3, cfg.stem, cfg)
        self.feature_tnet = TNet(c, cfg)
        self.trunk, c = chain(c, cfg.trunk, cfg)
        self.head, c = chain(c, cfg.head, cfg)
        self.classifier = xavier_dense(c, cfg.num_classes, True)

    def freeze(self):
        """candor's PointNet::frozen(): evaluation mode, folded BN layers detached (the
        T-Nets' `out` layers and the classifier still get weight gradients)."""
        self.eval()
        for m in self.modules():
            if isinstance(m, DenseBn):
                m.frozen = True
                for p in m.parameters():
                    p.requires_grad_(False)
        return self

    def forward(self, x):
        """(B, N, 3) → logits (B, classes), feature transform (B, c, c)."""
        b, n, _ = x.shape
        x = x.contiguous()
        t_in = self.input_tnet(x.reshape(b * n, 3), b, n)
        h = torch.bmm(x, t_in).reshape(b * n, 3)
        for layer in self.stem:
            h = layer(h)
        t_feat = self.feature_tnet(h, b, n)
        c = h.shape[1]
        h = torch.bmm(h.reshape(b, n, c), t_feat).reshape(b * n, c)
        for layer in self.trunk:
            h = layer(h)
        g = max_over_points(h, b, n)
        for layer in self.head:
            g = layer(g)
            if self.training:
                g = F.dropout(g, self.cfg.dropout, training=True)
        return self.classifier(g), t_feat


def orthogonality_penalty(t):
    """½ Σ_b ‖T_b T_bᵀ − I‖²_F (summed over the batch, as pointnet_cls.py)."""
    eye = torch.eye(t.shape[1], dtype=t.dtype).unsqueeze(0)
    return (torch.bmm(t, t.transpose(1, 2)) - eye).square().sum() * 0.5


def pointnet_loss(logits, t_feat, labels, ortho_weight):
    return F.cross_entropy(logits, labels) + orthogonality_penalty(t_feat) * ortho_weight


def margin_loss(logits, targets, kappa):
    """max(max_{i≠t} Z_i − Z_t + κ, 0) per cloud, as candor's attack::margin_loss."""
    one_hot = F.one_hot(targets, logits.shape[1]).to(logits.dtype)
    real = (logits * one_hot).sum(1)
    other = (logits * (1.0 - one_hot) - one_hot * 1e4).max(1).values
    return (other - real + kappa).relu()


def train_step_fn(cfg, x, labels):
    net = PointNet(cfg)
    net.train()
    opt = torch.optim.Adam(net.parameters(), 1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    def step():
        logits, t_feat = net(x)
        loss = pointnet_loss(logits, t_feat, labels, 1e-3)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return net, step


def cw_step_fn(cfg, clouds, targets, iterations=1):
    """One binary step of `iterations` C&W iterations (CwConfig::perturbation values)."""
    lr, kappa, init_weight, init_std = 0.01, 0.0, 10.0, 1e-7
    net = PointNet(cfg).freeze()
    # Parameters that still get gradients (candle computes them every backward).
    live = [p for p in net.parameters() if p.requires_grad]

    def step():
        x = clouds.clone()  # the bench builds the batch tensor from the clouds each call
        b = x.shape[0]
        delta = torch.empty_like(x)
        nn.init.trunc_normal_(delta, 0.0, init_std, -2 * init_std, 2 * init_std)
        delta.requires_grad_(True)
        opt = torch.optim.Adam([delta], lr)
        w = torch.full((b,), init_weight)
        best_d = torch.full((b,), float("inf"))
        best_adv = torch.zeros_like(x)
        for _ in range(iterations):
            adv = x + delta
            dist = delta.square().sum((1, 2)).sqrt()
            logits, _ = net(adv)
            f = margin_loss(logits, targets, kappa)
            loss = f.mean() + (w * dist).mean()
            with torch.no_grad():
                hit = logits.argmax(-1) == targets
                better = hit & (dist < best_d)
                best_d = torch.where(better, dist, best_d)
                best_adv[better] = adv[better]
                last = adv.clone()  # noqa: F841  (the returned iterate of a failed cloud)
            for p in live:  # a fresh gradient store per backward, as candle's
                p.grad = None
            opt.zero_grad()
            loss.backward()
            opt.step()

    return net, step


def main():
    a = torch_bench.parse_args(__doc__)
    torch_bench.header(torch, a.threads)
    torch.manual_seed(0)
    b, n = 32, 1024
    clouds = torch.rand(b, n, 3) * 2 - 1
    labels = torch.tensor([(i * 7 + 3) % 40 for i in range(b)])
    configs = [("tf_original", TF_ORIGINAL), ("quick_small", QUICK_SMALL)]
    for name, cfg in configs:
        twin = sum(p.numel() for p in PointNet(cfg).parameters())
        expected = candor_param_count(cfg)
        print(f"params {name}: twin {twin}, candor {expected}", flush=True)
        assert twin == expected, f"{name}: the twin has {twin} parameters, candor {expected}"

    net = PointNet(TF_ORIGINAL).eval()

    def forward():
        with torch.no_grad():
            net(clouds)

    torch_bench.time_step("pointnet_forward/tf_original_eval/32x1024", forward, a.reps)
    for name, cfg in configs:
        _, step = train_step_fn(cfg, clouds, labels)
        torch_bench.time_step(f"pointnet_train_step/{name}/32x1024", step, a.reps)
    for name, cfg in configs:
        _, step = cw_step_fn(cfg, clouds, labels)
        torch_bench.time_step(f"cw_perturb_iteration/{name}/32x1024", step, a.reps)


if __name__ == "__main__":
    main()
