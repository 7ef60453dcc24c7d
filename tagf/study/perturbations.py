"""The degradations of the protocol's noise and dropout conditions, applied to a split's features."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tagf.data.feature_store import SplitArrays


def add_noise(split: SplitArrays, modality: str, snr_db: float, rng: np.random.Generator) -> SplitArrays:
    """Gaussian noise on one modality's features at `snr_db` relative to that modality's mean feature power."""
    features = getattr(split, modality)
    power = float(np.mean(features**2))
    noise = rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), features.shape).astype(np.float32)
    return replace(split, **{modality: features + noise})


def drop_frames(split: SplitArrays, modality: str, fraction: float, rng: np.random.Generator) -> SplitArrays:
    """Zero one modality's features on a random `fraction` of the frames (as if the face/voice were missing)."""
    features = getattr(split, modality)
    dropped = rng.random(len(features)) < fraction
    updates = {modality: np.where(dropped[:, None], 0.0, features).astype(np.float32)}
    if modality == "visual":
        updates["visual_valid"] = split.visual_valid & ~dropped
    return replace(split, **updates)
