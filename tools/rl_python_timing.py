"""Python anchors for benches/benches/rl.rs, same machine: gymnasium env steps per second,
a PyTorch CPU DQN update (batch 32, obs→128→128→actions, MSE TD loss, Adam) and
single-observation action latency. Not part of the tests.

Run: python3 tools/rl_python_timing.py   (needs gymnasium==1.2.2, numpy, torch)
     python3 tools/rl_python_timing.py --skip-env   (the PyTorch rows only; no gymnasium)
"""
import sys
import time

import torch_alloc_env  # noqa: E402  (before torch: re-exec with candor's allocator settings)

torch_alloc_env.ensure()

import torch
import torch.nn as nn

torch.set_num_threads(1)
print(f"torch {torch.__version__}, 1 thread, {torch_alloc_env.describe()}")

SKIP_ENV = "--skip-env" in sys.argv
for env_id in [] if SKIP_ENV else ["CartPole-v0", "CartPole-v1", "Acrobot-v1", "MountainCar-v0",
               "MountainCarContinuous-v0", "Pendulum-v1"]:
    import gymnasium as gym
    import numpy as np

    env = gym.make(env_id)
    env.reset(seed=0)
    cont = isinstance(env.action_space, gym.spaces.Box)
    n = 20000
    t0 = time.perf_counter()
    for t in range(n):
        a = np.array([np.sin(t * 0.37)], dtype=np.float32) if cont else t % env.action_space.n
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    dt = time.perf_counter() - t0
    print(f"env_step {env_id:26s} {n / dt / 1e3:8.1f} k steps/s")

q = nn.Sequential(nn.Linear(4, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2))
tq = nn.Sequential(nn.Linear(4, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2))
opt = torch.optim.Adam(q.parameters(), lr=1e-3)
obs = torch.randn(32, 4)
act = torch.randint(0, 2, (32,))
rew = torch.randn(32)
nxt = torch.randn(32, 4)
done = torch.zeros(32)


def update():
    with torch.no_grad():
        y = rew + 0.99 * (1 - done) * tq(nxt).max(1).values
    qa = q(obs).gather(1, act[:, None]).squeeze(1)
    loss = ((qa - y) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()


for _ in range(100):
    update()
n = 2000
t0 = time.perf_counter()
for _ in range(n):
    update()
print(f"dqn_update batch32           {(time.perf_counter() - t0) / n * 1e3:8.3f} ms")

o = torch.randn(1, 4)
n = 20000
t0 = time.perf_counter()
with torch.no_grad():
    for _ in range(n):
        int(q(o).argmax())
print(f"action_latency greedy        {(time.perf_counter() - t0) / n * 1e6:8.1f} us")
