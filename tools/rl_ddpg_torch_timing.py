"""PyTorch CPU anchors for benches/benches/rl_ddpg.rs, same machine: one TD3 update
(sfujim/TD3 `TD3.py`: twin critics, target smoothing, actor every 2nd update, Polyak
averaging; HalfCheetah's 17 observations and 6 actions) at 256-256 / batch 256 (the
current TD3.py) and 400-300 / batch 100 (the 2018 paper), and the batch-1 actor
forward. Not part of the tests.

Run: /work/venv/bin/python tools/rl_ddpg_torch_timing.py   (needs torch, numpy)
Prints one line per setting: median milliseconds per update over repeated blocks.
With `--updates N --threads T [--hidden H] [--batch B]` it times that one setting only,
as `cargo run -p candor-rl-ddpg --example td3_update_timing -- N T H B` does for ours.
"""
import copy
import statistics
import time

import torch_alloc_env  # noqa: E402  (before torch: re-exec with candor's allocator settings)

torch_alloc_env.ensure()

import torch
import torch.nn as nn
import torch.nn.functional as F

OBS, ACT = 17, 6


class Actor(nn.Module):
    def __init__(self, h1, h2):
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(OBS, h1), nn.Linear(h1, h2), nn.Linear(h2, ACT)

    def forward(self, s):
        return torch.tanh(self.l3(F.relu(self.l2(F.relu(self.l1(s))))))


class Critic(nn.Module):
    def __init__(self, h1, h2):
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(OBS + ACT, h1), nn.Linear(h1, h2), nn.Linear(h2, 1)
        self.l4, self.l5, self.l6 = nn.Linear(OBS + ACT, h1), nn.Linear(h1, h2), nn.Linear(h2, 1)

    def forward(self, s, a):
        sa = torch.cat([s, a], 1)
        q1 = self.l3(F.relu(self.l2(F.relu(self.l1(sa)))))
        q2 = self.l6(F.relu(self.l5(F.relu(self.l4(sa)))))
        return q1, q2

    def q1(self, s, a):
        sa = torch.cat([s, a], 1)
        return self.l3(F.relu(self.l2(F.relu(self.l1(sa)))))


def td3_update_time(h1, h2, batch, threads, n=200, blocks=5, cpu=None):
    """Median wall milliseconds per update over `blocks` blocks of `n`; when `cpu` is a
    list, the process CPU milliseconds per update over all blocks are appended to it."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    actor, critic = Actor(h1, h2), Critic(h1, h2)
    actor_t, critic_t = copy.deepcopy(actor), copy.deepcopy(critic)
    a_opt = torch.optim.Adam(actor.parameters(), lr=3e-4)
    c_opt = torch.optim.Adam(critic.parameters(), lr=3e-4)
    s, a = torch.randn(batch, OBS), torch.rand(batch, ACT) * 2 - 1
    r, s2, nd = torch.randn(batch, 1), torch.randn(batch, OBS), torch.ones(batch, 1)
    it = 0

    def update():
        nonlocal it
        it += 1
        with torch.no_grad():
            noise = (torch.randn_like(a) * 0.2).clamp(-0.5, 0.5)
            a2 = (actor_t(s2) + noise).clamp(-1, 1)
            tq1, tq2 = critic_t(s2, a2)
            y = r + nd * 0.99 * torch.min(tq1, tq2)
        q1, q2 = critic(s, a)
        loss = F.mse_loss(q1, y) + F.mse_loss(q2, y)
        c_opt.zero_grad()
        loss.backward()
        c_opt.step()
        if it % 2 == 0:
            al = -critic.q1(s, actor(s)).mean()
            a_opt.zero_grad()
            al.backward()
            a_opt.step()
            with torch.no_grad():
                for p, tp in zip(critic.parameters(), critic_t.parameters()):
                    tp.data.mul_(0.995).add_(0.005 * p.data)
                for p, tp in zip(actor.parameters(), actor_t.parameters()):
                    tp.data.mul_(0.995).add_(0.005 * p.data)

    for _ in range(20):
        update()
    times = []
    c0 = time.process_time()
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(n):
            update()
        times.append((time.perf_counter() - t0) / n * 1e3)
    if cpu is not None:
        cpu.append((time.process_time() - c0) / (n * blocks) * 1e3)
    return statistics.median(times)


def actor_latency_us(h1, h2, n=20000):
    torch.set_num_threads(1)
    actor = Actor(h1, h2)
    s = torch.randn(1, OBS)
    with torch.no_grad():
        for _ in range(100):
            actor(s)
        t0 = time.perf_counter()
        for _ in range(n):
            actor(s).numpy()
    return (time.perf_counter() - t0) / n * 1e6


def main_one(argv):
    """`--updates N --threads T [--hidden H] [--batch B]`: one setting, N updates in 5
    blocks (wall median, and the process CPU time per update, which a loaded machine
    inflates less), for a whole-process side-by-side with
    `crates/rl-ddpg/examples/td3_update_timing.rs` (same arguments, same output line)."""
    opts = dict(zip(argv[::2], argv[1::2]))
    n, threads = int(opts["--updates"]), int(opts["--threads"])
    h, batch = int(opts.get("--hidden", 256)), int(opts.get("--batch", 256))
    per = max(2, n // 5) & ~1
    cpu = []
    ms = td3_update_time(h, h, batch, threads, n=per, blocks=5, cpu=cpu)
    print(f"torch td3_update {h}-{h} batch {batch} threads {threads}: {ms:.2f} ms "
          f"(median of 5 blocks of {per}); CPU {cpu[0]:.2f} ms per update")


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 1:
        main_one(sys.argv[1:])
        sys.exit(0)
    print(f"torch {torch.__version__}, {torch_alloc_env.describe()}")
    for (h1, h2, batch) in [(256, 256, 256), (400, 300, 100)]:
        for threads in (1, 2):
            ms = td3_update_time(h1, h2, batch, threads)
            print(f"td3_update {h1}-{h2} batch {batch} threads {threads}: {ms:.2f} ms")
    for (h1, h2) in [(256, 256), (400, 300)]:
        print(f"actor batch-1 {h1}-{h2} threads 1: {actor_latency_us(h1, h2):.1f} us")
