"""Selection and report splits: never the same, dev held out of Train by whole videos."""

import pytest

from orchestration.params import load_params
from tagf.data.splits import dev_videos, load_splits
from tagf.errors import ParamsError


def _params(tmp_path, text: str):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return load_params(path)


def test_the_same_split_cannot_select_and_report(tmp_path):
    with pytest.raises(ParamsError, match="splits: .*selection and report are both 'validation'"):
        _params(tmp_path, "splits: {selection: validation, report: validation}\n")


def test_dev_needs_a_fraction(tmp_path):
    with pytest.raises(ParamsError, match="the 'dev' split needs dev_fraction > 0"):
        _params(tmp_path, "splits: {selection: dev, report: validation}\n")


def test_affwild2_cannot_report_on_its_unlabelled_test(tmp_path):
    with pytest.raises(ParamsError, match="Aff-Wild2's Test split is unlabelled"):
        _params(tmp_path, "data: {source: affwild2, root: /x}\n")
    ok = _params(
        tmp_path,
        "data: {source: affwild2, root: /x}\nsplits: {selection: dev, report: validation, dev_fraction: 0.2}\n",
    )
    assert ok.splits.selection == "dev"


def test_dev_videos_are_a_seeded_whole_video_hold_out():
    videos = [f"v{i:02d}" for i in range(20)]
    first = dev_videos(videos, 0.15, seed=0)
    assert len(first) == 3 and set(first) < set(videos)
    assert dev_videos(list(reversed(videos)), 0.15, seed=0) == first  # order of the store does not matter
    assert dev_videos(videos, 0.15, seed=1) != first
    with pytest.raises(ValueError, match="leaves none to train on"):
        dev_videos(["a", "b"], 0.9, seed=0)


def test_load_splits_keeps_dev_out_of_train(tiny_corpus):
    splits = load_splits(str(tiny_corpus["store"]), ("train", "dev", "validation"), 0.25, 0)
    assert len(splits["dev"].videos) == 1
    assert not set(splits["dev"].videos) & set(splits["train"].videos)
    assert len(splits["train"].videos) == 3 and len(splits["validation"].videos) == 2
    with pytest.raises(ValueError, match="split 'dev' needs splits.dev_fraction > 0"):
        load_splits(str(tiny_corpus["store"]), ("dev",))
