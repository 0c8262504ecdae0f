#!/usr/bin/env python3
"""Derive the TD3 paper's published learning curves as a small table for candor-rl-ddpg.

Source: github.com/sfujim/TD3 (MIT), `learning_curves/<Env>/TD3_<Env>-v1_<k>.npy`, k = 0..9:
the curves of Fujimoto, van Hoof & Meger (ICML 2018), each 201 evaluations of the
average return of 10 noise-free episodes, every 5000 steps from 0 to 1M (the 2018
`main.py`: updates after each episode, `EpisodeEnd`). The repository README: "Learning
curves are still the original results found in the paper."

Usage (from the repository root; needs numpy):

    git clone https://github.com/sfujim/TD3 /tmp/TD3
    python3 tools/rl_ddpg_td3_curves.py /tmp/TD3 > crates/rl-ddpg/data/td3_2018_curves.csv

Writes CSV rows `task,step,mean,std,n`: per task (HalfCheetah, Hopper, Walker2d, Ant) and
evaluation step, the mean over the 10 seeds and the sample standard deviation (ddof 1).
Only this derived table is committed, not the .npy files.
"""
import sys
from pathlib import Path

import numpy as np

TASKS = [("HalfCheetah", "HalfCheetah"), ("Hopper", "Hopper"), ("Walker2d", "Walker"), ("Ant", "Ant")]


def main():
    root = Path(sys.argv[1])
    print("# TD3 (Fujimoto et al. 2018) published learning curves, gym -v1, 10 seeds each;")
    print("# derived by tools/rl_ddpg_td3_curves.py from github.com/sfujim/TD3 learning_curves/*.npy (MIT)")
    print("task,step,mean,std,n")
    for task, folder in TASKS:
        runs = np.stack([np.load(root / "learning_curves" / folder / f"TD3_{task}-v1_{k}.npy")
                         for k in range(10)])
        assert runs.shape == (10, 201), runs.shape
        mean, std = runs.mean(axis=0), runs.std(axis=0, ddof=1)
        for i in range(201):
            print(f"{task},{i * 5000},{mean[i]:.2f},{std[i]:.2f},10")


if __name__ == "__main__":
    main()
