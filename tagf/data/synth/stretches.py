"""Random stretches of frames: unannotated spans, face dropouts, occlusions, audio outages, desynchronised spans."""

from __future__ import annotations

import numpy as np


def stretches(rng: np.random.Generator, frames: int, fraction: float, mean_len: int) -> np.ndarray:
    """Boolean (frames,) with random stretches covering about `fraction` of the frames; no draws when 0."""
    mask = np.zeros(frames, dtype=bool)
    if fraction <= 0:
        return mask
    count = max(1, round(frames * fraction / mean_len))
    for _ in range(count):
        length = max(1, int(rng.exponential(mean_len)))
        start = int(rng.integers(0, max(1, frames - length)))
        mask[start : start + length] = True
    return mask


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True in a boolean (frames,) mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))
