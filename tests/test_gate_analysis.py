"""Gate analysis against hand-made masks and gates: categories, per-video means per step, the step-0 contrast."""

import json

import numpy as np
import pytest

from tagf.data.feature_store import SplitArrays
from tagf.data.synth.ground_truth import MASK_HEADER
from tagf.errors import DataError
from tagf.study.frame_categories import CATEGORIES, FrameCategories, categorize, frame_categories
from tagf.study.gates import gate_means, step0_contrast


def split_of(frames_per_video: dict[str, list[int]]) -> SplitArrays:
    frames = np.concatenate([np.array(f, np.int32) for f in frames_per_video.values()])
    n = len(frames)
    return SplitArrays(
        videos=list(frames_per_video),
        offsets=np.r_[0, np.cumsum([len(f) for f in frames_per_video.values()])].astype(np.int64),
        visual=np.zeros((n, 2), np.float32),
        audio=np.zeros((n, 2), np.float32),
        labels=np.zeros((n, 2), np.float32),
        label_valid=np.ones(n, bool),
        visual_valid=np.ones(n, bool),
        frames=frames,
        fps={v: 25.0 for v in frames_per_video},
    )


def store_with_masks(tmp_path, masks: dict[str, list[tuple]] | None):
    """A feature store whose manifest points at a corpus root with these mask rows (None: no masks directory)."""
    root = tmp_path / "corpus"
    (root / "ground_truth").mkdir(parents=True)
    if masks is not None:
        (root / "ground_truth" / "masks").mkdir()
        for video, rows in masks.items():
            lines = [f"{t + 1},{','.join(map(str, row))},0.0" for t, row in enumerate(rows)]
            (root / "ground_truth" / "masks" / f"{video}.csv").write_text(
                "\n".join([MASK_HEADER, *lines]) + "\n"
            )
    store = tmp_path / "features"
    store.mkdir()
    (store / "manifest.json").write_text(json.dumps({"corpus": {"root": str(root)}}))
    return str(store)


def test_each_frame_gets_the_first_matching_category():
    outage = np.array([0, 0, 1, 1, 0, 1], bool)
    face = np.array([1, 1, 1, 1, 0, 0], bool)
    desynced = np.array([0, 1, 0, 1, 1, 1], bool)
    names = [CATEGORIES[k] for k in categorize(outage, face, desynced)]
    assert names == ["synchronised", "desynchronised", "silent", "silent", "no_face", "no_face"]


def test_categories_come_from_the_mask_rows_of_the_split_frames(tmp_path):
    # columns: voiced, audio_outage, face_visible, occluded, desynced
    masks = {
        "a": [(1, 0, 1, 0, 0), (0, 0, 1, 0, 1), (0, 1, 1, 0, 0), (1, 0, 0, 0, 0)],
        "b": [(0, 0, 1, 1, 0), (1, 0, 1, 0, 1)],
    }
    # video a without its frame 1: rows follow the split's frames, not the mask's rows
    split = split_of({"a": [2, 3, 4], "b": [1, 2]})
    found = frame_categories(store_with_masks(tmp_path, masks), split)
    assert [CATEGORIES[k] for k in found.category] == [
        "desynchronised",
        "silent",
        "no_face",
        "synchronised",
        "desynchronised",
    ]
    assert found.rows("desynchronised").tolist() == [True, False, False, False, True]


def test_no_masks_means_no_categories(tmp_path):
    assert frame_categories(store_with_masks(tmp_path, None), split_of({"a": [1]})) is None


def test_a_mask_shorter_than_the_video_is_an_error_naming_the_file(tmp_path):
    store = store_with_masks(tmp_path, {"a": [(1, 0, 1, 0, 0)]})
    with pytest.raises(DataError, match=r"masks/a\.csv: 1 rows, but the split has frame 2"):
        frame_categories(store, split_of({"a": [1, 2]}))


def categories_of(per_video: dict[str, list[str]]):
    lengths = [len(c) for c in per_video.values()]
    kinds = [CATEGORIES.index(c) for cs in per_video.values() for c in cs]
    return FrameCategories(list(per_video), np.r_[0, np.cumsum(lengths)], np.array(kinds))


def test_mean_alpha_per_step_per_video_and_category_absent_is_none():
    categories = categories_of({"a": ["synchronised", "synchronised", "desynchronised"], "b": ["no_face"]})
    gate = np.array([[0.2, 0.8], [0.4, 0.6], [0.9, 0.1], [0.5, 0.5]])  # (N, M=2)
    means = gate_means(gate, categories)
    assert means["a"]["synchronised"] == pytest.approx([0.3, 0.7])
    assert means["a"]["desynchronised"] == pytest.approx([0.9, 0.1])
    assert means["a"]["silent"] is None and means["a"]["no_face"] is None  # no frame: no mean, not 0
    assert means["b"] == {"synchronised": None, "desynchronised": None, "silent": None, "no_face": [0.5, 0.5]}
    # step 0 desynchronised − synchronised: 0.9 − 0.3; video b has neither
    assert step0_contrast(means) == pytest.approx({"a": 0.6})


def test_one_model_per_target_averages_the_targets_gates():
    categories = categories_of({"a": ["silent"]})
    gate = np.array([[[0.2, 0.8], [0.6, 0.4]]])  # (N=1, targets=2, M=2)
    assert gate_means(gate, categories)["a"]["silent"] == pytest.approx([0.4, 0.6])
