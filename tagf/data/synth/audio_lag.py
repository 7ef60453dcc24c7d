"""The lag of the audio behind the video, frame by frame: a per-video mean, a linear drift, desynchronised jumps.

    lag_s[t] = mean_lag_s + drift_s · (t / (frames − 1) − ½) + offset_s[t]

The drift (clock skew between two capture devices) moves the lag linearly by `drift_s` from the first frame to the
last, centred on the mean, so the mean of the drifting part is `mean_lag_s`. `offset_s[t]` is 0 except in
desynchronised stretches, where the lag jumps by a large offset (its own per stretch, either sign) and then returns.
Positive: the audio is late (it expresses what the face showed `lag_s` earlier).
"""

from __future__ import annotations

import numpy as np

from tagf.data.synth.stretches import runs, stretches


def lag_per_frame(
    rng: np.random.Generator,
    frames: int,
    fps: int,
    *,
    mean_lag_s: float,
    max_drift_s: float,
    desync_fraction: float,
    desync_mean_s: float,
    desync_offset_s: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """(frames,) lag_s and (frames,) desynchronised mask; draws nothing from `rng` without drift or desync."""
    lag_s = np.full(frames, mean_lag_s)
    if max_drift_s > 0:
        drift_s = rng.uniform(-max_drift_s, max_drift_s)
        lag_s += drift_s * (np.arange(frames) / max(1, frames - 1) - 0.5)
    desync = stretches(rng, frames, desync_fraction, max(1, round(desync_mean_s * fps)))
    for start, stop in runs(desync):
        lag_s[start:stop] += rng.choice([-1.0, 1.0]) * rng.uniform(*desync_offset_s)
    return lag_s, desync
