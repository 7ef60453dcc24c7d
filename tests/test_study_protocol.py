"""The protocol's cells from a small untrained model on a hand-made split: every condition scored on the same frames
(so a model that never hears audio drops by exactly 0), frames placed in the right effective-lag bins, and CCCs from
the sufficient statistics equal to audmetric's (an independent implementation) on the frames themselves."""

import audmetric
import numpy as np
import pandas as pd
import pytest
import torch

from tagf.data.feature_store import SplitArrays
from tagf.errors import DataError
from tagf.evaluation.evaluate import LoadedModel, combined_predictions
from tagf.models import build_model, model_config
from tagf.study.cells import ccc_of_sums, endpoint, values
from tagf.study.conditions import ProtocolSettings, lag_bin_labels
from tagf.study.protocol import Protocol, score_run, scored_frames

SMALL = dict(visual_in=4, audio_in=3, visual_channels=(8,), audio_channels=(8,), head_hidden=8)


def split_of(lengths=(60, 80), fps=(25.0, 30.0), seed=0) -> SplitArrays:
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    videos = [f"v{i}" for i in range(len(lengths))]
    return SplitArrays(
        videos=videos,
        offsets=np.r_[0, np.cumsum(lengths)].astype(np.int64),
        visual=rng.normal(size=(n, 4)).astype(np.float32),
        audio=rng.normal(size=(n, 3)).astype(np.float32),
        labels=rng.uniform(-1, 1, (n, 2)).astype(np.float32),
        label_valid=rng.random(n) > 0.1,
        visual_valid=rng.random(n) > 0.2,
        frames=np.concatenate([np.arange(1, k + 1) for k in lengths]).astype(np.int32),
        fps=dict(zip(videos, fps)),
    )


def loaded(variant: str) -> list[LoadedModel]:
    torch.manual_seed(0)
    model = build_model(model_config(variant, key_mode="length_agnostic", window=16, **SMALL)).eval()
    return [LoadedModel(model, ["valence", "arousal"], 16, 8)]


def frame_of(rows, variant="m") -> pd.DataFrame:
    return pd.DataFrame(rows).assign(
        variant=variant, augment_shift_s=0.0, key_mode="length_agnostic", seed=0, corpus_seed=0
    )


def test_the_ccc_of_sufficient_statistics_is_audmetrics():
    rng = np.random.default_rng(1)
    y = rng.uniform(-1, 1, 500)
    p = 0.6 * y + rng.normal(0, 0.3, 500) + 0.1
    sums = (500, p.sum(), y.sum(), (p * p).sum(), (y * y).sum(), (p * y).sum())
    assert ccc_of_sums(*sums) == pytest.approx(audmetric.concordance_cc(y, p), rel=1e-12)


def test_every_condition_is_scored_on_the_same_frames_and_a_visual_model_does_not_drop():
    split = split_of()
    settings = ProtocolSettings(shifts_s=[0.4], snr_db=[], dropout=[], min_frames=5)
    rows = score_run(loaded("visual_only"), split, Protocol("test", settings), seed=0)
    cells = frame_of(rows)
    everything = cells[cells["subset"] == "all"]
    counts = everything.pivot_table(index="video", columns="level", values="n")
    # 0.4 s is 10 frames of v0 (25 fps) and 12 of v1 (30 fps); every shift loses both ends' frames, not only its own
    keep = scored_frames(split, settings, "test")
    assert (counts.nunique(axis=1) == 1).all() and counts[0.0].sum() == keep.sum()
    assert not keep[:10].any() and not keep[50:60].any() and not keep[60:72].any()
    clean = values(cells, endpoint("clean", []), 5).set_index("video")["value"]
    for level in (-0.4, 0.4):
        shifted = values(cells, endpoint(f"shift_s={level:+g}", []), 5).set_index("video")["value"]
        # It never hears the audio that moved: the same values to rounding (bit for bit on two threads; on one, the
        # kernels' blocking of the other condition's batches moved the ninth digit, 5e-9, AMD EPYC).
        np.testing.assert_allclose(shifted, clean, rtol=0, atol=1e-7)


def test_the_cells_ccc_is_audmetrics_on_the_scored_frames():
    split = split_of(seed=2)
    settings = ProtocolSettings(shifts_s=[0.2], snr_db=[], dropout=[], min_frames=5)
    model = loaded("tagf")
    cells = frame_of(score_run(model, split, Protocol("test", settings), seed=0))
    found = values(cells, endpoint("clean", []), 5).set_index("video")["value"]
    predicted, _ = combined_predictions(model, split)
    keep = scored_frames(split, settings, "test")
    for v, video in enumerate(split.videos):
        rows = np.arange(split.offsets[v], split.offsets[v + 1])
        rows = rows[keep[rows]]
        expected = np.mean(
            [audmetric.concordance_cc(split.labels[rows, k], predicted[rows, k]) for k in (0, 1)]
        )
        assert found[video] == pytest.approx(expected, abs=1e-9)


def test_frames_fall_in_the_bin_of_their_effective_lag():
    split = split_of(lengths=(100,), fps=(25.0,))
    local = np.where(np.arange(100) < 50, 0.1, 0.8)  # the built-in lag steps from 0.1 s to 0.8 s halfway
    settings = ProtocolSettings(
        shifts_s=[0.4], snr_db=[], dropout=[], lag_bins_s=[0, 0.25, 0.5, 1], min_frames=5
    )
    cells = frame_of(score_run(loaded("tagf"), split, Protocol("test", settings, local_lag_s=local), seed=0))
    keep = scored_frames(split, settings, "test")
    n = cells.set_index(["level", "subset"])["n"]
    first, second = keep[:50].sum(), keep[50:].sum()
    # shift 0: 0.1 s and 0.8 s; +0.4 s: 0.5 s and 1.2 s; -0.4 s: |-0.3| and 0.4 s
    assert (n[(0.0, "lag[0,0.25)")], n[(0.0, "lag[0.5,1)")]) == (first, second)
    assert (n[(0.4, "lag[0.5,1)")], n[(0.4, "lag[1,inf)")]) == (first, second)
    assert n[(-0.4, "lag[0.25,0.5)")] == first + second
    pooled = endpoint("lag>=0.5", lag_bin_labels(settings.lag_bins_s))
    assert pooled.subsets == ("lag[0.5,1)", "lag[1,inf)") and pooled.level is None


def test_gate_weights_of_a_cell_sum_to_its_frames():
    split = split_of(seed=3)
    settings = ProtocolSettings(shifts_s=[0.2], snr_db=[10.0], dropout=[0.5], min_frames=5)
    cells = frame_of(score_run(loaded("tagf"), split, Protocol("test", settings), seed=0))
    gated = cells[cells["alpha_visual"].notna()]
    assert len(gated) == len(cells)  # every condition, noise and dropout too
    for _, row in gated.iterrows():
        assert sum(row["alpha_visual"]) == pytest.approx(row["n"]) and len(row["alpha_audio"]) == 3
    assert set(cells["perturbation"]) == {
        "shift_s",
        "audio_noise",
        "visual_noise",
        "audio_dropout",
        "visual_dropout",
    }
    assert set(cells.loc[cells["perturbation"] == "audio_dropout", "level"]) == {0.5}


def test_a_shift_no_frame_survives_is_an_error_naming_the_split():
    settings = ProtocolSettings(shifts_s=[2.0], snr_db=[], dropout=[])
    with pytest.raises(DataError, match="audio shifts up to ±2 s: no labelled frame of split 'test'"):
        score_run(loaded("concat"), split_of(), Protocol("test", settings), seed=0)


@pytest.mark.parametrize("name", ["lag>=0.3", "best", "shift_s"])
def test_an_unknown_endpoint_is_named(name):
    with pytest.raises(DataError, match=name.replace("+", r"\+")):
        endpoint(name, lag_bin_labels([0, 0.25, 0.5]))
