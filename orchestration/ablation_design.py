"""What an ablation runs, before anything runs: its grid of trials (variant × training seed × corpus seed ×
augmentation × key mode, a variant without a factor at its first level only), the plan said up front, and the
per-variant search space of `ablate.tuning`. orchestration/ablation.py runs it."""

from __future__ import annotations

from typing import Any

import numpy as np

from orchestration.params import Params
from orchestration.trial import AA_COPY, CORPUS_SEED
from tagf.errors import ParamsError
from tagf.models import VARIANTS, model_config
from tagf.models.variants import Variant

# Never tuned per variant: what defines a variant, and what the ablation's grid sets.
FIXED = {"model.variant", *(f"model.{k}" for preset in VARIANTS.values() for k in preset)}
FIXED |= {"train.seed", "train.max_audio_shift", "model.key_mode"}


def uses_key(variant: Variant) -> bool:
    """Whether the co-attention key mode is a factor of the variant (concat and the unimodal models have no key)."""
    return model_config(variant.name).fusion == "coattention"


def uses_audio(variant: Variant) -> bool:
    """Whether shift augmentation is a factor of the variant (visual_only never hears the audio it shifts)."""
    return model_config(variant.name).fusion != "visual_only"


def grid_cells(
    params: Params, stores: dict[int, str], augment: dict[int, float], modes: list[str]
) -> list[dict]:
    """Every trial of the grid: variant × training seed × corpus seed × augmentation × key mode, a variant without a
    factor at its first level only (so it is trained, and compared, once)."""
    cells = []
    for variant in params.ablate.arms():
        shifts = list(augment) if uses_audio(variant) else list(augment)[:1]
        keys = modes if uses_key(variant) else modes[:1]
        for seed in params.ablate.seeds:
            for corpus in stores:
                for shift in shifts:
                    for key in keys:
                        cells.append(
                            {
                                "model.variant": variant.name,
                                **({AA_COPY: True} if variant.aa_copy else {}),
                                "train.seed": seed,
                                CORPUS_SEED: corpus,
                                "train.max_audio_shift": shift,
                                "model.key_mode": key,
                            }
                        )
    return cells


def augment_frames(params: Params, fps: dict[str, float]) -> dict[int, float]:
    """{train.max_audio_shift in frames: ablate.augment_shift_s level}, at the median fps of the training videos
    (one width for every video: the augmentation draws shifts per window in frames)."""
    rate = float(np.median(list(fps.values())))
    frames = {round(s * rate): s for s in params.ablate.augment_shift_s}
    if len(frames) < len(params.ablate.augment_shift_s):
        raise ParamsError(
            f"ablate.augment_shift_s: {params.ablate.augment_shift_s} give the same frames at {rate:g} fps"
        )
    return frames


def key_modes(params: Params) -> list[str]:
    return params.ablate.key_modes or [params.setup().model.key_mode]


def plan(params: Params) -> str:
    """How many trials the ablation runs, said up front: `90 trials of 9 variants × 5 seeds × 2 augmentations × ...`
    (a variant without a factor runs at its first level only)."""
    ablate = params.ablate
    factors = [
        (len(ablate.arms()), "variants"),
        (len(ablate.seeds), "seeds"),
        (len(params.corpus_seeds()), "corpora" if len(params.corpus_seeds()) > 1 else "corpus"),
        (len(ablate.augment_shift_s), "augmentations"),
        (len(key_modes(params)), "key modes"),
    ]
    stores = {seed: "" for seed in params.corpus_seeds()}
    augment = {k: s for k, s in enumerate(ablate.augment_shift_s)}
    total = len(grid_cells(params, stores, augment, key_modes(params)))
    text = f"{total} trials of " + " × ".join(f"{n} {name}" for n, name in factors)
    if ablate.tuning != "none":
        tuning = len(ablate.variants) * ablate.tuning.trials
        text += f", after {tuning} tuning trials = {len(ablate.variants)} variants × {ablate.tuning.trials}"
    return text


def tuning_space(params: Params) -> dict[str, Any]:
    """The per-variant search: sweep.space less the settings FIXED by the variant or the grid."""
    space = {key: dist for key, dist in params.sweep.space.items() if key not in FIXED}
    if not space:
        raise ParamsError(
            "ablate.tuning: sweep.space has nothing left to tune per variant once the variant's own settings and "
            f"the grid's ({', '.join(sorted(FIXED))}) are left out"
        )
    return space
