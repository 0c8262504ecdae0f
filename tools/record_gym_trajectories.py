#!/usr/bin/env python3
"""Record the golden trajectories that candor-rl's `tests/golden.rs` replays.

Run from the repository root (once; Python is never needed at test time):

    python3 -m venv /tmp/gymenv
    /tmp/gymenv/bin/pip install gymnasium==1.2.2 numpy
    /tmp/gymenv/bin/python tools/record_gym_trajectories.py

    /tmp/gymenv/bin/pip install mujoco==3.17.0
    /tmp/gymenv/bin/python tools/record_gym_trajectories.py --mujoco

Writes one JSON file per environment into crates/rl/tests/fixtures/ (gym_<id>.json): the
classic-control ones without arguments, the MuJoCo v4 locomotion ones with --mujoco.

For every environment and a few seeds it calls `env.reset(seed=s)`, dumps
`env.unwrapped.state` (the Rust side injects it with `set_state`, since numpy's PCG64
stream is not reproduced), then steps a policy (logged random actions, a fixed sine
sequence, or a simple state-feedback controller that balances CartPole / reaches the
MountainCar goal / swings Acrobot up) until terminated, truncated or MAX_STEPS.  The
actions actually taken are logged, so the Rust test never re-implements a policy.

Per trajectory: seed, policy (a label), state0, obs0 (reset observation), actions,
obs (one per step), rewards, flags (one character per step: '.' running, 'T'
terminated, 'R' truncated, 'B' both).  Acrobot is chaotic, so its trajectories also
carry `states`: `env.unwrapped.state` after every step, which lets the test re-sync
before each step.  MuJoCo trajectories store the full simulator state (qpos, qvel, act,
qacc_warmstart) and the float64 observation every CHECKPOINT steps, plus the mean and
std of 200 random-policy episode returns (uniform actions from a seeded action space).
Observations are float32 written in their shortest round-trip form;
states and rewards are float64 written exactly, as decimal strings (serde_json's default
number parser is not correctly rounded).
"""

import json
import math
import os
import sys

import gymnasium as gym
import numpy as np

MAX_STEPS = 200
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "rl", "tests", "fixtures")


def f32(x):
    """A float32 value as the Python float of its shortest decimal form."""
    return float(str(np.float32(x)))


def random_discrete(n, seed):
    rng = np.random.default_rng(1000 + seed)
    return lambda obs, t: int(rng.integers(0, n))


def random_box(lo, hi, seed):
    rng = np.random.default_rng(2000 + seed)
    return lambda obs, t: np.array([rng.uniform(lo, hi)], dtype=np.float32)


def sine_discrete(n, k):
    # a = round((n-1) * (sin(0.1 k t) + 1) / 2): sweeps through all actions.
    return lambda obs, t: int(round((n - 1) * (math.sin(0.1 * k * t) + 1.0) / 2.0))


def sine_box(scale, k):
    return lambda obs, t: np.array([scale * math.sin(0.1 * k * t)], dtype=np.float32)


def cartpole_balance(obs, t):
    x, x_dot, theta, theta_dot = (float(v) for v in obs)
    return int(theta + 0.5 * theta_dot + 0.05 * x + 0.2 * x_dot > 0)


def acrobot_pump(obs, t):
    # Energy pumping: torque in the direction of the summed joint velocities.
    return 2 if float(obs[4]) + float(obs[5]) > 0 else 0


def mountain_car_sign(obs, t):
    return 2 if float(obs[1]) >= 0 else 0


def mountain_car_continuous_sign(obs, t):
    # 1.3 > max_action: exercises the clipped force and the unclipped action cost.
    return np.array([1.3 if float(obs[1]) >= 0 else -1.3], dtype=np.float32)


# (env id, [(seed, policy label, policy factory)])
PLAN = [
    ("CartPole-v0", [
        (0, "random", lambda: random_discrete(2, 0)),
        (1, "balance", lambda: cartpole_balance),  # truncated at 200
        (2, "sine", lambda: sine_discrete(2, 3)),
    ]),
    ("CartPole-v1", [
        (0, "random", lambda: random_discrete(2, 0)),
        (1, "balance", lambda: cartpole_balance),  # 200 of 500 steps: neither flag
        (7, "random", lambda: random_discrete(2, 7)),
    ]),
    ("Acrobot-v1", [
        (0, "random", lambda: random_discrete(3, 0)),
        (1, "pump", lambda: acrobot_pump),  # terminates
        (2, "sine", lambda: sine_discrete(3, 1)),
    ]),
    ("MountainCar-v0", [
        (0, "random", lambda: random_discrete(3, 0)),  # truncated at 200
        (1, "sign_velocity", lambda: mountain_car_sign),  # terminates
        (2, "sine", lambda: sine_discrete(3, 2)),
    ]),
    ("MountainCarContinuous-v0", [
        (0, "random_uniform_1.5", lambda: random_box(-1.5, 1.5, 0)),
        (1, "sign_velocity_1.3", lambda: mountain_car_continuous_sign),  # terminates
        (2, "sine", lambda: sine_box(1.0, 1)),
    ]),
    ("Pendulum-v1", [
        (0, "random_uniform_3", lambda: random_box(-3.0, 3.0, 0)),  # truncated at 200
        (1, "sine", lambda: sine_box(2.5, 2)),
        (2, "random_uniform_3", lambda: random_box(-3.0, 3.0, 2)),
    ]),
]


def f64(x):
    """A float64 value as a string: serde_json's default float parser may be off by one
    ulp, so exact float64 values travel as text and Rust parses them with `str::parse`."""
    return repr(float(x))


def state_list(env):
    return [f64(v) for v in np.asarray(env.unwrapped.state, dtype=np.float64)]


def action_json(a):
    if isinstance(a, np.ndarray):
        return [f32(v) for v in a]
    return int(a)


def record(env_id, seed, label, policy):
    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed)
    traj = {
        "seed": seed,
        "policy": label,
        "state0": state_list(env),
        "obs0": [f32(v) for v in obs],
        "actions": [],
        "obs": [],
        "rewards": [],
        "flags": "",
    }
    chaotic = env_id.startswith("Acrobot")
    if chaotic:
        traj["states"] = []
    for t in range(MAX_STEPS):
        a = policy(obs, t)
        obs, reward, terminated, truncated, _ = env.step(a)
        traj["actions"].append(action_json(a))
        traj["obs"].append([f32(v) for v in obs])
        traj["rewards"].append(f64(reward))
        traj["flags"] += "B" if terminated and truncated else "T" if terminated else "R" if truncated else "."
        if chaotic:
            traj["states"].append(state_list(env))
        if terminated or truncated:
            break
    env.close()
    return traj


# ---------------------------------------------------------------- MuJoCo (v4, mujoco 3.17.0)

MUJOCO_MAX_STEPS = 150
# Full simulator state (qpos, qvel, act, qacc_warmstart, x_ref) is stored every CHECKPOINT steps
# (and after the last step) with the observation there; rewards and flags every step.
# The Rust test replays open-loop between checkpoints and re-syncs at each one.
CHECKPOINT = int(os.environ.get("CANDOR_MJ_CHECKPOINT", "10"))


def mj_full_state(env):
    """candor-rl's full state: qpos, qvel, act, qacc_warmstart, and x_ref, the x the next
    reward's velocity is measured from (Ant: the torso's xpos, one substep stale after a
    step; the others: qpos[0])."""
    u = env.unwrapped
    d = u.data
    x_ref = u.get_body_com("torso")[0] if u.spec.id.startswith("Ant") else d.qpos[0]
    return [f64(v) for v in np.concatenate([d.qpos, d.qvel, d.act, d.qacc_warmstart, [x_ref]])]


def mj_random(space, scale, seed):
    # Uniform in `scale` times the action box: scale > 1 exercises the unclipped control
    # cost (MuJoCo clamps ctrl itself).
    rng = np.random.default_rng(3000 + seed)
    lo, hi = space.low * scale, space.high * scale
    return lambda obs, t: rng.uniform(lo, hi).astype(np.float32)


def mj_sine(space, k):
    n = space.shape[0]
    return lambda obs, t: np.array(
        [0.9 * math.sin(0.1 * k * t + j) for j in range(n)], dtype=np.float32)


# (env id, [(seed, policy label, policy factory taking the action space)])
MUJOCO_PLAN = [
    ("HalfCheetah-v4", [(0, "random_1.2", lambda s: mj_random(s, 1.2, 0)), (1, "sine", lambda s: mj_sine(s, 3))]),
    ("Hopper-v4", [(0, "random_1.2", lambda s: mj_random(s, 1.2, 0)),  # falls: unhealthy
                   (1, "sine", lambda s: mj_sine(s, 2))]),
    ("Walker2d-v4", [(0, "random_1.2", lambda s: mj_random(s, 1.2, 0)),  # falls: unhealthy
                     (1, "sine", lambda s: mj_sine(s, 2))]),
    ("Ant-v4", [(0, "random_1.2", lambda s: mj_random(s, 1.2, 0)), (1, "sine", lambda s: mj_sine(s, 3))]),
    ("Swimmer-v4", [(0, "random_1.2", lambda s: mj_random(s, 1.2, 0)), (1, "sine", lambda s: mj_sine(s, 2))]),
]


def record_mujoco(env_id, seed, label, policy):
    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed)
    traj = {
        "seed": seed,
        "policy": label,
        "state0": mj_full_state(env),
        "obs0": [f64(v) for v in obs],
        "actions": [],
        "rewards": [],
        "flags": "",
        "checkpoints": [],
    }
    for t in range(MUJOCO_MAX_STEPS):
        a = policy(obs, t)
        obs, reward, terminated, truncated, _ = env.step(a)
        traj["actions"].append([f32(v) for v in a])
        traj["rewards"].append(f64(reward))
        traj["flags"] += "B" if terminated and truncated else "T" if terminated else "R" if truncated else "."
        done = terminated or truncated
        if (t + 1) % CHECKPOINT == 0 or done or t + 1 == MUJOCO_MAX_STEPS:
            traj["checkpoints"].append({
                "step": t + 1,
                "state": mj_full_state(env),
                "obs": [f64(v) for v in obs],
            })
        if done:
            break
    env.close()
    return traj


def record_random_returns(env_id, episodes):
    """Mean and std of the undiscounted return of uniform random actions over `episodes`
    full episodes (reset seeds 0..episodes-1), for the statistical test."""
    env = gym.make(env_id)
    env.action_space.seed(12345)
    returns, lengths = [], []
    for e in range(episodes):
        env.reset(seed=e)
        total, n = 0.0, 0
        while True:
            _, r, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(r)
            n += 1
            if terminated or truncated:
                break
        returns.append(total)
        lengths.append(n)
    env.close()
    return {
        "episodes": episodes,
        "mean": float(np.mean(returns)),
        "std": float(np.std(returns, ddof=1)),
        "mean_length": float(np.mean(lengths)),
    }


RANDOM_EPISODES = 200


def main_mujoco():
    import mujoco
    if mujoco.__version__ != "3.17.0":
        sys.exit(f"need mujoco==3.17.0, found {mujoco.__version__}")
    total = 0
    for env_id, runs in MUJOCO_PLAN:
        doc = {
            "env_id": env_id,
            "gymnasium": gym.__version__,
            "mujoco": mujoco.__version__,
            "numpy": np.__version__,
            "max_episode_steps": gym.spec(env_id).max_episode_steps,
            "checkpoint_every": CHECKPOINT,
            "random_policy": record_random_returns(env_id, RANDOM_EPISODES),
            "trajectories": [],
        }
        space = gym.make(env_id).action_space
        for s, label, make in runs:
            doc["trajectories"].append(record_mujoco(env_id, s, label, make(space)))
        path = os.path.join(OUT_DIR, f"gym_{env_id}.json")
        with open(path, "w") as f:
            json.dump(doc, f, separators=(",", ":"))
            f.write("\n")
        size = os.path.getsize(path)
        total += size
        ends = ", ".join(f"{t['policy']}:{len(t['flags'])}{t['flags'][-1]}" for t in doc["trajectories"])
        rp = doc["random_policy"]
        print(f"{path}: {size} bytes ({ends}); random return {rp['mean']:.2f} ± {rp['std']:.2f}")
    print(f"total {total} bytes")


def main():
    if gym.__version__ != "1.2.2":
        sys.exit(f"need gymnasium==1.2.2, found {gym.__version__}")
    os.makedirs(OUT_DIR, exist_ok=True)
    total = 0
    for env_id, runs in PLAN:
        doc = {
            "env_id": env_id,
            "gymnasium": gym.__version__,
            "numpy": np.__version__,
            "max_episode_steps": gym.spec(env_id).max_episode_steps,
            "trajectories": [record(env_id, s, label, make()) for s, label, make in runs],
        }
        path = os.path.join(OUT_DIR, f"gym_{env_id}.json")
        with open(path, "w") as f:
            json.dump(doc, f, separators=(",", ":"))
            f.write("\n")
        size = os.path.getsize(path)
        total += size
        ends = ", ".join(f"{t['policy']}:{len(t['flags'])}{t['flags'][-1]}" for t in doc["trajectories"])
        print(f"{path}: {size} bytes ({ends})")
    print(f"total {total} bytes")


if __name__ == "__main__":
    if sys.argv[1:] == ["--mujoco"]:
        main_mujoco()
    elif sys.argv[1:] == []:
        main()
    else:
        sys.exit("usage: record_gym_trajectories.py [--mujoco]")
