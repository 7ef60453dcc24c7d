"""Stitching window predictions back to one value per frame: overlapping windows are averaged (ABAW protocol)."""

from __future__ import annotations

import numpy as np


def stitch(values: np.ndarray, video: np.ndarray, start: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """values (W, L, *F) of windows (video[w], start[w]) → (N, *F) per frame, N = offsets[-1].

    Padded positions past a video's end are ignored; every frame must be covered by at least one window.
    """
    trailing = values.shape[2:]
    values = values.reshape(*values.shape[:2], -1)  # (W, L, T): one column per trailing element
    _, length, targets = values.shape
    lengths = np.diff(offsets)
    t = start[:, None] + np.arange(length)[None, :]  # (W, L) frame within its video
    real = t < lengths[video][:, None]
    rows = (offsets[video][:, None] + t)[real]  # (K,)
    n = int(offsets[-1])
    counts = np.bincount(rows, minlength=n)
    if (counts == 0).any():
        raise ValueError(f"stitch: {int((counts == 0).sum())} frames are covered by no window")
    flat = values[real]  # (K, T)
    sums = np.stack([np.bincount(rows, weights=flat[:, k], minlength=n) for k in range(targets)], axis=1)
    return (sums / counts[:, None]).reshape(n, *trailing)
