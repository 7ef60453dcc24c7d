"""Frame categories of the misalignment protocol, from a synthetic corpus's ground-truth masks
(tagf.data.synth.ground_truth). Each frame falls in one; the first that matches wins, so that each category differs
from `synchronised` in one way only:

    no_face         no face image (the audio may be anything)
    silent          audio outage (near-zero energy), face visible
    desynchronised  inside a desynchronised stretch, face visible, audio present
    synchronised    none of the above, voiced or not (the video's own, drifting lag still applies)

A corpus without masks (Aff-Wild2, older synthetic corpora) has no categories: `frame_categories` returns None and
callers say that the analysis was skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tagf.data.feature_store import SplitArrays
from tagf.data.synth.ground_truth import has_masks, mask_columns, synthetic_root

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
    if root is None or not has_masks(root):
        return None
    masks = mask_columns(root, split)
    category = categorize(masks["audio_outage"], masks["face_visible"], masks["desynced"])
    return FrameCategories(list(split.videos), np.asarray(split.offsets), category)
