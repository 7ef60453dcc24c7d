"""Latent valence/arousal trajectories: smooth mean-reverting drift with occasional fast transitions."""

from __future__ import annotations

import numpy as np


def latent_va(rng: np.random.Generator, frames: int, fps: float, jump_every_s: float = 15.0) -> np.ndarray:
    """(frames, 2) latent valence and arousal in (-1, 1); a new target level every ~`jump_every_s` on average."""
    dt = 1.0 / fps
    out = np.empty((frames, 2))
    for dim in range(2):
        level = np.zeros(frames)
        target = rng.uniform(-1.2, 1.2)
        # Fast transitions: a new target level now and then, reached within ~0.3 s.
        jumps = rng.random(frames) < dt / jump_every_s
        x, drift = target, 0.0
        for t in range(frames):
            if jumps[t]:
                target = rng.uniform(-1.4, 1.4)
            rate = 3.0 if abs(target - x) > 0.4 else 0.25  # s^-1: quick when far from the target
            drift = 0.9 * drift + rng.normal(0.0, 0.35) * np.sqrt(dt)
            x += rate * (target - x) * dt + drift * dt * 4
            level[t] = x
        out[:, dim] = np.tanh(level)
    return out
