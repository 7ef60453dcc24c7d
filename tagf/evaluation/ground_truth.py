"""What a synthetic corpus knows and a real one does not: the noise-free VA and each video's built-in audio lag.

Found from a feature store through its manifest's corpus root (see tagf.data.synth.corpus for the layout); for
any other corpus there is no <root>/ground_truth and every function here returns None.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np

from tagf import storage
from tagf.data.feature_store import SplitArrays, read_manifest
from tagf.errors import DataError


def synthetic_root(store: str) -> str | None:
    """The root of the synthetic corpus the store was extracted from; None for other corpora."""
    root = read_manifest(store).get("corpus", {}).get("root")
    if not root or not storage.exists(storage.join(root, "ground_truth")):
        return None
    return root


def latent_labels(store: str, split: SplitArrays) -> np.ndarray | None:
    """(N, 2) noise-free VA of a synthetic corpus, aligned with the split's rows; None for other corpora."""
    root = synthetic_root(store)
    if root is None:
        return None
    latent = np.zeros_like(split.labels)
    for v, video in enumerate(split.videos):
        text = storage.read_text(storage.join(root, "ground_truth", "latent", f"{video}.csv"))
        table = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1, ndmin=2)
        rows = split.video_slice(v)
        latent[rows] = table[split.frames[rows] - 1, 1:3]
    return latent


@dataclass(frozen=True)
class AudioLags:
    """Each video's built-in audio lag (positive: the audio is late, as a positive applied shift makes it)."""

    videos: list[str]
    lag_s: np.ndarray  # (V,) seconds
    fps: np.ndarray  # (V,) frames per second, to turn a shift in frames into seconds

    def effective_s(self, shift_frames: int) -> np.ndarray:
        """(V,) the lag a model faces once the audio is shifted by `shift_frames` more: built-in + applied."""
        return self.lag_s + shift_frames / self.fps


def audio_lags(store: str, split: SplitArrays) -> AudioLags | None:
    """The built-in lags of the split's videos (ground_truth/lags.json); None for other corpora."""
    root = synthetic_root(store)
    if root is None:
        return None
    lags = json.loads(storage.read_text(storage.join(root, "ground_truth", "lags.json")))
    missing = [v for v in split.videos if v not in lags]
    if missing:
        raise DataError(f"{root}/ground_truth/lags.json: no lag for video(s) {', '.join(missing)}")
    fps = np.array([split.fps[v] for v in split.videos])
    return AudioLags(list(split.videos), np.array([lags[v] for v in split.videos]), fps)
