"""PyTorch CPU timing of the steps in benches/benches/watermark.rs (the comparison
for candor-watermark's criterion bench): one initial-stage H/R/D step at 128²
greyscale, batch 8, with the official widths and with the quick reproduction's
widths, and one ResNet-9 L2 surrogate step (ngf 64 and 8).

Same structure as candor_watermark::model (pix2pix U-Net with BatchNorm and a sigmoid,
HidingRes with affine InstanceNorm and dilated blocks, the conv3x3/2 discriminator),
the code's losses (1e4-scaled MSEs) and Adam(β1 0.5). Usage:

    /work/venv/bin/python tools/watermark_bench.py [--threads 2] [--reps 5]
"""
import torch_alloc_env  # noqa: E402  (before torch: re-exec with candor's allocator settings)

torch_alloc_env.ensure()

import torch
import torch.nn as nn
import torch.nn.functional as F

import torch_bench  # noqa: E402


def unet(in_c, out_c, ngf, downs, out_act):
    class U(nn.Module):
        def __init__(self):
            super().__init__()
            ch = lambda i: ngf * (1 << min(i, 3))
            self.downs, self.dn, self.ups, self.un = (nn.ModuleList() for _ in range(4))
            for i in range(downs):
                self.downs.append(nn.Conv2d(in_c if i == 0 else ch(i - 1), ch(i), 4, 2, 1, bias=False))
                self.dn.append(nn.Identity() if i in (0, downs - 1) else nn.BatchNorm2d(ch(i)))
            for i in range(downs):
                cin = ch(i) if i == downs - 1 else 2 * ch(i)
                cout = out_c if i == 0 else ch(i - 1)
                self.ups.append(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=(i == 0)))
                self.un.append(nn.Identity() if i == 0 else nn.BatchNorm2d(cout))

        def forward(self, x):
            skips, h = [], x
            for i, (c, n) in enumerate(zip(self.downs, self.dn)):
                skips.append(h)
                h = n(c(h if i == 0 else F.leaky_relu(h, 0.2)))
            for i in reversed(range(len(self.ups))):
                u = self.un[i](self.ups[i](F.relu(h)))
                h = u if i == 0 else torch.cat([skips[i], u], 1)
            return out_act(h)

    return U()


class Res(nn.Module):
    def __init__(self, w, d, affine=True, out_relu=True):
        super().__init__()
        self.c1 = nn.Conv2d(w, w, 3, 1, d, dilation=d, bias=not out_relu)
        self.n1 = nn.InstanceNorm2d(w, affine=affine)
        self.c2 = nn.Conv2d(w, w, 3, 1, d, dilation=d, bias=not out_relu)
        self.n2 = nn.InstanceNorm2d(w, affine=affine)
        self.out_relu = out_relu

    def forward(self, x):
        y = self.n2(self.c2(F.relu(self.n1(self.c1(x)))))
        return F.relu(x + y) if self.out_relu else x + y


class HidingRes(nn.Module):
    def __init__(self, w, dil):
        super().__init__()
        self.head = nn.ModuleList([nn.Conv2d(1, w, 3, 1, 1, bias=False), nn.Conv2d(w, w, 3, 1, 1, bias=False), nn.Conv2d(w, w, 3, 2, 1, bias=False)])
        self.hn = nn.ModuleList([nn.InstanceNorm2d(w, affine=True) for _ in range(3)])
        self.blocks = nn.Sequential(*[Res(w, d) for d in dil])
        self.up = nn.ConvTranspose2d(w, w, 4, 2, 1)
        self.un = nn.InstanceNorm2d(w, affine=True)
        self.c4 = nn.Conv2d(w, w, 3, 1, 1, bias=False)
        self.n4 = nn.InstanceNorm2d(w, affine=True)
        self.out = nn.Conv2d(w, 1, 1)

    def forward(self, x):
        for c, n in zip(self.head, self.hn):
            x = F.relu(n(c(x)))
        x = self.blocks(x)
        x = F.relu(self.un(self.up(x)))
        x = F.relu(self.n4(self.c4(x)))
        return F.relu(self.out(x))


def disc(widths):
    layers, c = [], 1
    for i, w in enumerate(widths):
        layers += [nn.Conv2d(c, w, 3, 2, 1)] + ([] if i == 0 else [nn.InstanceNorm2d(w)]) + [nn.LeakyReLU(0.2)]
        c = w
    return nn.Sequential(*layers, nn.Conv2d(c, 1, 3, 1, 1))


def resnet9(ngf):
    blocks = [Res(ngf * 4, 1, affine=False, out_relu=False) for _ in range(9)]
    return nn.Sequential(
        nn.Conv2d(1, ngf, 7, 1, 3), nn.InstanceNorm2d(ngf), nn.ReLU(),
        nn.Conv2d(ngf, 2 * ngf, 3, 2, 1), nn.InstanceNorm2d(2 * ngf), nn.ReLU(),
        nn.Conv2d(2 * ngf, 4 * ngf, 3, 2, 1), nn.InstanceNorm2d(4 * ngf), nn.ReLU(),
        *blocks,
        nn.ConvTranspose2d(4 * ngf, 2 * ngf, 3, 2, 1, 1), nn.InstanceNorm2d(2 * ngf), nn.ReLU(),
        nn.ConvTranspose2d(2 * ngf, ngf, 3, 2, 1, 1), nn.InstanceNorm2d(ngf), nn.ReLU(),
        nn.Conv2d(ngf, 1, 7, 1, 3), nn.Tanh())


def main():
    a = torch_bench.parse_args(__doc__)
    torch_bench.header(torch, a.threads)
    torch.manual_seed(0)
    n, s = 8, 128
    A, B = torch.rand(n, 1, s, s), torch.rand(n, 1, s, s)
    delta, delta0 = torch.rand(1, 1, s, s), torch.ones(1, 1, s, s)
    mse = F.mse_loss
    for name, ngf, rw, dil, dw in [("official", 64, 128, [2, 2, 2, 2, 4, 4, 4, 4, 1], [64, 128, 256, 512]),
                                   ("quick", 16, 16, [2, 2, 4, 4], [16, 32, 64, 128])]:
        H, R, D = unet(2, 1, ngf, 7, torch.sigmoid), HidingRes(rw, dil), disc(dw)
        oh, orr, od = (torch.optim.Adam(m.parameters(), 2e-4, betas=(0.5, 0.999)) for m in (H, R, D))

        def step():
            bp = H(torch.cat([B, delta.expand_as(B)], 1))
            err_h = 1e4 * mse(bp, B) + 0.01 * mse(D(bp), torch.ones_like(D(bp)))
            r = R(torch.cat([bp, A, B], 0))
            rb, ra, rc = r[:n], r[n:2 * n], r[2 * n:]
            err_r = 1e4 * (mse(rb, delta.expand_as(rb)) + mse(ra, delta0.expand_as(ra)) + mse(rc, delta0.expand_as(rc))
                           + mse(rb[: n // 2], rb[n // 2:]))
            for o in (oh, orr):
                o.zero_grad()
            (err_h + err_r).backward()
            oh.step()
            orr.step()
            od.zero_grad()
            err_d = 1e4 * 0.5 * (mse(D(B), torch.ones_like(D(B))) + mse(D(bp.detach()), torch.zeros_like(D(B))))
            err_d.backward()
            od.step()

        torch_bench.time_step(f"watermark_hrd_step/batch8_128/{name}", step, a.reps)
    for ngf in (64, 8):
        G = resnet9(ngf)
        og = torch.optim.Adam(G.parameters(), 1e-4, betas=(0.5, 0.999))

        def sstep():
            out = (A + G(A)).clamp(0, 1)
            og.zero_grad()
            (100 * mse(out, B)).backward()
            og.step()

        torch_bench.time_step(f"watermark_surrogate_step/resnet9_l2_batch8_128/ngf{ngf}", sstep, a.reps)


if __name__ == "__main__":
    main()
