"""The names of what is predicted and how it is scored, spelled once.

A model predicts the TARGETS; a scored split has `ccc_<target>` per target and `ccc_mean` over them
(tagf.evaluation.scoring). During training the same scores on the selection split carry the prefix `val_`
(`val_ccc_mean`), and the best epoch's value of one of those the prefix `best_` (`best_val_ccc_mean`).
"""

from __future__ import annotations

TARGETS = ("valence", "arousal")
MEAN = "ccc_mean"


def ccc_key(target: str) -> str:
    """The score key of one target: `ccc_valence`."""
    return f"ccc_{target}"


SCORES = (*(ccc_key(target) for target in TARGETS), MEAN)


def val_key(score: str) -> str:
    """A score on the selection split, as training reports it: `val_ccc_mean`."""
    return f"val_{score}"


def best_key(key: str) -> str:
    """The best epoch's value of a training metric: `best_val_ccc_mean`."""
    return f"best_{key}"


SELECTION_SCORES = tuple(val_key(score) for score in SCORES)
SELECTION_MEAN = val_key(MEAN)
