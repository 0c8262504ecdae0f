"""PyTorch CPU timing of the steps in benches/benches/matting.rs (the comparison for
candor-matting's criterion bench): one stage-1 training step of the matting net with
the click channel (forward, L_reg + L_grad, backward, Adam step) at 192², batch 8, with
the default widths (16, 32, 64, 128), the same at 128² with the quick reproduction's
widths (8, 16, 32, 64), and one inference (α and σ) of the default net at 512², batch 1.

Same structure as candor_matting::model: a 3×3 conv + GroupNorm + ReLU stem, one
residual block per stride-2 level (conv3×3/s → GN → ReLU → conv3×3 → GN, 1×1/s
projection, ReLU of the sum), two decoders of the same shape (bilinear ×2 with
align_corners=False, conv3×3 + GN + ReLU, add the skip, conv3×3 + GN + ReLU; a 3×3
head), α = sigmoid, σ = softplus + 1e-3; GroupNorm with 4 groups, ε 1e-5; the card's
L_reg (L1 on transition pixels + L2 on solid ones) + L_grad (forward differences);
Adam lr 1e-3, no weight decay. The batch is random (the Rust bench uses a proxy batch;
the timing does not depend on the values). Usage:

    /work/venv/bin/python tools/matting_bench.py [--threads 2] [--reps 5]
"""
import torch_alloc_env  # noqa: E402  (before torch: re-exec with candor's allocator settings)

torch_alloc_env.ensure()

import torch
import torch.nn as nn
import torch.nn.functional as F

import torch_bench  # noqa: E402


class ConvNorm(nn.Module):
    def __init__(self, cin, cout, stride, groups):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, 1)
        self.norm = nn.GroupNorm(groups, cout, eps=1e-5)

    def forward(self, x, relu=True):
        y = self.norm(self.conv(x))
        return F.relu(y) if relu else y


class ResBlock(nn.Module):
    def __init__(self, cin, cout, stride, groups):
        super().__init__()
        self.a = ConvNorm(cin, cout, stride, groups)
        self.b = ConvNorm(cout, cout, 1, groups)
        self.proj = nn.Conv2d(cin, cout, 1, stride, 0) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.b(self.a(x), relu=False)
        return F.relu(y + (self.proj(x) if self.proj is not None else x))


class Decoder(nn.Module):
    def __init__(self, widths, groups):
        super().__init__()
        self.ups = nn.ModuleList(
            nn.ModuleList([ConvNorm(widths[i + 1], widths[i], 1, groups), ConvNorm(widths[i], widths[i], 1, groups)])
            for i in reversed(range(len(widths) - 1)))
        self.head = nn.Conv2d(widths[0], 1, 3, 1, 1)

    def forward(self, feats):
        d = feats[-1]
        for k, (reduce, fuse) in enumerate(self.ups):
            skip = feats[-2 - k]
            up = F.interpolate(d, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            d = fuse(reduce(up) + skip)
        return self.head(d)


class MattingNet(nn.Module):
    def __init__(self, widths, groups=4, clicks=True):
        super().__init__()
        self.stem = ConvNorm(4 if clicks else 3, widths[0], 1, groups)
        self.blocks = nn.ModuleList(ResBlock(widths[i - 1], widths[i], 2, groups) for i in range(1, len(widths)))
        self.alpha_decoder = Decoder(widths, groups)
        self.sigma_decoder = Decoder(widths, groups)

    def forward(self, x, with_sigma):
        feats = [self.stem(x)]
        for b in self.blocks:
            feats.append(b(feats[-1]))
        alpha = torch.sigmoid(self.alpha_decoder(feats))
        sigma = F.softplus(self.sigma_decoder(feats)) + 1e-3 if with_sigma else None
        return alpha, sigma


def masked_mean(x, m):
    return (x * m).sum() / m.sum().clamp(min=1.0)


def alpha_loss(pred, gt):
    d = pred - gt
    t = ((gt > 0) & (gt < 1)).float()
    reg = masked_mean(d.abs(), t) + masked_mean(d * d, 1.0 - t)
    dx = d[..., :, 1:] - d[..., :, :-1]
    dy = d[..., 1:, :] - d[..., :-1, :]
    return reg + 0.5 * (dx.abs().mean() + dy.abs().mean())


def main():
    a = torch_bench.parse_args(__doc__)
    torch_bench.header(torch, a.threads)
    torch.manual_seed(0)
    n = 8
    for name, widths, side in [("default", [16, 32, 64, 128], 192), ("small", [8, 16, 32, 64], 128)]:
        net = MattingNet(widths)
        # Stage 1 trains the encoder and the α decoder (candor_matting::train::train_alpha).
        params = [p for k, p in net.named_parameters() if not k.startswith("sigma_decoder.")]
        opt = torch.optim.Adam(params, 1e-3, weight_decay=0.0)
        x = torch.rand(n, 4, side, side)
        # A GT with solid and transition pixels, like a proxy batch.
        gt = (torch.rand(n, 1, side, side) * 1.4 - 0.2).clamp(0, 1)

        def step():
            alpha, _ = net(x, False)
            loss = alpha_loss(alpha, gt)
            opt.zero_grad()
            loss.backward()
            opt.step()

        torch_bench.time_step(f"matting_train_step/{name}/batch8_{side}x{side}", step, a.reps)
    net = MattingNet([16, 32, 64, 128])
    x = torch.rand(1, 4, 512, 512)

    def infer():
        with torch.no_grad():
            net(x, True)

    torch_bench.time_step("matting_inference/default_512x512", infer, a.reps)


if __name__ == "__main__":
    main()
