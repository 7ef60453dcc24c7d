"""Gate analysis: does a gated model's α move toward the un-fused step (step 0) where the modalities disagree?

On a synthetic corpus each frame falls in one category, read from its ground-truth mask
(<root>/ground_truth/masks/<video>.csv, see tagf.data.synth.corpus); the first that matches wins, so that each
category differs from `synchronised` in one way only:

    no_face         no face image (the audio may be anything)
    silent          audio outage (near-zero energy), face visible
    desynchronised  inside a desynchronised stretch, face visible, audio present
    synchronised    none of the above, voiced or not (the video's own, drifting lag still applies)

`gate_means` gives, per video and category, the mean α of each recursion step (M = S+1) of one gate; a category a
video has no frame of is None, not 0. A corpus without masks (Aff-Wild2, older synthetic corpora) has no
categories: `frame_categories` returns None and callers say that the analysis was skipped.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from tagf import storage
from tagf.data.feature_store import SplitArrays
from tagf.data.synth.corpus import MASK_HEADER
from tagf.errors import DataError
from tagf.evaluation.ground_truth import synthetic_root

CATEGORIES = ("synchronised", "desynchronised", "silent", "no_face")
NO_MASKS = (
    "gate analysis skipped: the corpus has no per-frame masks (ground_truth/masks, synthetic corpora only)"
)


@dataclass(frozen=True)
class FrameCategories:
    """Each row's category (an index into CATEGORIES), aligned with the rows of one split."""

    videos: list[str]
    offsets: np.ndarray  # (V+1,) as the split's
    category: np.ndarray  # (N,) int

    def rows(self, name: str) -> np.ndarray:
        """(N,) bool: the rows of category `name`."""
        return self.category == CATEGORIES.index(name)


def categorize(audio_outage: np.ndarray, face_visible: np.ndarray, desynced: np.ndarray) -> np.ndarray:
    """(N,) category index from the mask flags (N,) bool; later assignments win, in the precedence above."""
    category = np.zeros(len(desynced), np.int64)
    category[desynced] = CATEGORIES.index("desynchronised")
    category[audio_outage] = CATEGORIES.index("silent")
    category[~face_visible] = CATEGORIES.index("no_face")
    return category


def frame_categories(store: str, split: SplitArrays) -> FrameCategories | None:
    """The categories of the split's rows from the corpus masks; None when the corpus has no masks."""
    root = synthetic_root(store)
    if root is None or not storage.exists(storage.join(root, "ground_truth", "masks")):
        return None
    columns = MASK_HEADER.split(",")
    category = np.zeros(len(split.frames), np.int64)
    for v, video in enumerate(split.videos):
        path = storage.join(root, "ground_truth", "masks", f"{video}.csv")
        if not storage.exists(path):
            raise DataError(f"{path}: no mask for video {video}, though the corpus has masks for others")
        text = storage.read_text(path)
        if text.split("\n", 1)[0].strip() != MASK_HEADER:
            raise DataError(f"{path}: expected the header {MASK_HEADER!r}")
        table = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1, ndmin=2)  # (frames, columns)
        rows = split.video_slice(v)
        frames = split.frames[rows] - 1  # 0-based rows of the mask
        if frames.max(initial=-1) >= len(table):
            raise DataError(f"{path}: {len(table)} rows, but the split has frame {int(frames.max()) + 1}")
        flags = {
            name: table[frames, columns.index(name)] > 0
            for name in ("audio_outage", "face_visible", "desynced")
        }
        category[rows] = categorize(**flags)
    return FrameCategories(list(split.videos), np.asarray(split.offsets), category)


def gate_means(gate: np.ndarray, categories: FrameCategories) -> dict[str, dict[str, list[float] | None]]:
    """{video: {category: mean α per step (M,) or None}} of one gate's weights.

    `gate`: (N, M), or (N, targets, M) with one model per target, whose gates are averaged over the targets.
    """
    alpha = gate.mean(axis=1) if gate.ndim == 3 else gate  # (N, M)
    if len(alpha) != len(categories.category):
        raise ValueError(
            f"gate_means: {len(alpha)} gate rows for {len(categories.category)} categorised frames"
        )
    means: dict[str, dict[str, list[float] | None]] = {}
    for v, video in enumerate(categories.videos):
        rows = slice(int(categories.offsets[v]), int(categories.offsets[v + 1]))
        own, kinds = alpha[rows], categories.category[rows]
        means[video] = {
            name: own[kinds == k].mean(axis=0).tolist() if (kinds == k).any() else None
            for k, name in enumerate(CATEGORIES)
        }
    return means


def step0_contrast(means: dict[str, dict[str, list[float] | None]]) -> dict[str, float]:
    """{video: α of step 0 in desynchronised minus in synchronised frames}, for videos that have both."""
    return {
        video: row["desynchronised"][0] - row["synchronised"][0]
        for video, row in means.items()
        if row["desynchronised"] is not None and row["synchronised"] is not None
    }
