"""PyTorch CPU timings of the ops in benches/benches/ops.rs, same shapes, 2 threads.

Not part of the tests. Run: python3 tools/torch_ops_timing.py
Runs PyTorch with candor's glibc allocator settings (tools/torch_alloc_env.py).
Prints the median milliseconds of each op (forward, backward, or fwd+bwd), for
docs/performance.md.
"""
import statistics
import time

import torch_alloc_env  # noqa: E402  (before torch: re-exec with candor's allocator settings)

torch_alloc_env.ensure()

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)


def median_ms(fn, warmup=5, reps=30):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


def conv_pair(groups):
    x = torch.randn(16, 64, 32, 32, requires_grad=True)
    w = torch.randn(64, 64 // groups, 3, 3, requires_grad=True)
    r = torch.randn(16, 64, 32, 32)
    fwd = median_ms(lambda: F.conv2d(x, w, None, 1, 1, 1, groups))
    # Backward alone on a prebuilt graph, as the criterion bench times loss.backward()
    # (candor's loss is ops::dot, one node; PyTorch's idiom is the product and the sum).
    loss = (F.conv2d(x, w, None, 1, 1, 1, groups) * r).sum()
    bwd = median_ms(lambda: loss.backward(retain_graph=True))
    # Through autograd from the output gradient r, as the bench's `backward_from`.
    y = F.conv2d(x, w, None, 1, 1, 1, groups)
    seeded = median_ms(lambda: y.backward(r, retain_graph=True))
    # The backward op alone, without autograd (as the bench's `conv2d_backward`): r is the
    # loss's output gradient.
    op = median_ms(
        lambda: torch.ops.aten.convolution_backward(
            r, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], groups, [True, True, False]
        )
    )
    return fwd, bwd, seeded, op


rows = {}
(
    rows["conv2d_fwd"],
    rows["conv2d_bwd"],
    rows["conv2d_bwd_seeded"],
    rows["conv2d_bwd_op"],
) = conv_pair(1)
(
    rows["depthwise_fwd"],
    rows["depthwise_bwd"],
    rows["depthwise_bwd_seeded"],
    rows["depthwise_bwd_op"],
) = conv_pair(64)

x = torch.randn(16, 64, 32, 32, requires_grad=True)
rows["maxpool3s2_fwdbwd"] = median_ms(lambda: F.max_pool2d(x, 3, 2, 1).sum().backward())
rows["upsample_bilinear_fwdbwd"] = median_ms(
    lambda: F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False).sum().backward()
)


# Training-mode batch norm with its activation, forward + backward (the criterion bench's
# fused op against PyTorch's two modules).
bn_w = torch.randn(64, requires_grad=True)
bn_b = torch.randn(64, requires_grad=True)
for name, act in (("batch_norm_relu_fwdbwd", F.relu), ("batch_norm_silu_fwdbwd", F.silu)):
    rows[name] = median_ms(
        lambda act=act: act(F.batch_norm(x, None, None, bn_w, bn_b, True, 0.1, 1e-5)).sum().backward()
    )


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c0 = nn.Conv2d(3, 32, 3, 1, 1)
        self.c1 = nn.Conv2d(32, 64, 3, 2, 1)
        self.c2 = nn.Conv2d(64, 128, 3, 2, 1)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.c0(x))
        x = F.relu(self.c1(x))
        x = F.relu(self.c2(x))
        return self.fc(x.mean((2, 3)))


net = Net()
opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
xb = torch.randn(16, 3, 64, 64)
yb = torch.arange(16) % 10


def step():
    opt.zero_grad()
    F.cross_entropy(net(xb), yb).backward()
    opt.step()


rows["convnet_train_step"] = median_ms(step)

print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {torch_alloc_env.describe()}")
for k, v in rows.items():
    print(f"{k:28s} {v:8.2f} ms")
