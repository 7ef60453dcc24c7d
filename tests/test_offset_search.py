"""`sync_align`'s offset search (tagf.models.offset_search) on streams whose offset is known, its fallback where
the streams say nothing, and the whole variant on a corpus with no ground truth at all."""

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SMALL_TAGF, made_once, run_cli

from tagf.data.prepare import prepare
from tagf.data.splits import load_splits
from tagf.data.synth.corpus import write_corpus
from tagf.data.synth.presets import PRESETS
from tagf.data.windows import Windows
from tagf.evaluation.inference import search_offsets
from tagf.features.config import ExtractorConfig
from tagf.features.extract import extract_features
from tagf.models import build_model, model_config
from tagf.models.offset_search import OffsetSearch, shift_audio
from tagf.training.trainer import video_tensors


@pytest.fixture(scope="module")
def broadcast(tmp_path_factory):
    """A small corpus of the `broadcast` preset (mostly in sync, a lip cue): 12 training videos of 20-24 s, enough
    for the canonical projections; its splits with their ground-truth lags, and the search fitted on them."""
    preset = PRESETS["broadcast_tiny"].model_copy(
        update={"videos": {"train": 12, "validation": 3, "test": 2}, "duration_s": (20, 24)}
    )

    def make(base: Path) -> None:
        write_corpus(str(base / "corpus"), preset, seed=1)
        prepare(str(base / "corpus"), str(base / "index.parquet"))
        extract_features(str(base / "index.parquet"), str(base / "store"), ExtractorConfig())

    base = made_once(tmp_path_factory, "broadcast", make)
    splits = load_splits(str(base / "store"), ("train", "validation", "test"))
    search = OffsetSearch(
        model_config("sync_align", fps=float(np.median(list(splits["train"].fps.values()))))
    )
    search.fit(video_tensors(splits["train"]), video_tensors(splits["validation"]))
    return splits, search


@pytest.mark.parametrize("shift_s", [0.0, 1.0, -1.5])
def test_it_finds_the_offset_the_protocol_applies_and_undoes_it_where_sure(broadcast, shift_s):
    """Test videos with their audio shifted as the protocol shifts it: where the search acts, it has found the
    effective lag (built-in + shift) within 0.25 s, and the audio it feeds the fusion is the in-sync audio."""
    splits, search = broadcast
    test = splits["test"]
    fps = np.repeat([test.fps[v] for v in test.videos], np.diff(test.offsets))
    shift = int(round(shift_s * fps[0]))
    realign, found = search_offsets(search, test, shift, "cpu")
    error = np.abs(found["estimated_lag_s"] - (test.true_lag_s + shift / fps))
    acted = found["realigned"] > 0
    assert acted.mean() > 0.5 and (error[acted] < 0.25).mean() > 0.95, (
        acted.mean(),
        (error[acted] < 0.25).mean(),
    )
    # Where it acted, each frame hears the audio of its own time again: source t − shift + realign ≈ t + lag.
    windows = Windows(test, 64, 64, realign=realign)
    batch = windows.gather(np.arange(len(windows)), shift)
    assert batch.audio_valid.float().mean() > 0.8


def test_unrelated_audio_is_left_where_it_is(broadcast):
    """Each test face with another video's voice: nothing to align with, so (almost) nothing is moved."""
    splits, search = broadcast
    test, train = splits["test"], splits["train"]
    audio = test.audio.copy()
    for v in range(len(test.videos)):
        rows = slice(test.offsets[v], test.offsets[v + 1])
        audio[rows] = train.audio[train.offsets[v] : train.offsets[v] + (rows.stop - rows.start)]
    _, found = search_offsets(search, replace(test, audio=audio), 0, "cpu")
    assert found["realigned"].mean() < 0.1


def test_shift_audio_reads_each_frame_from_its_offset():
    audio = torch.arange(10.0)[None, :, None]  # (1, 10, 1): frame t holds t
    moved, valid = shift_audio(audio, torch.tensor([[2] * 10]), torch.ones(1, 10, dtype=torch.bool))
    assert (
        moved[0, :, 0].tolist() == [2, 3, 4, 5, 6, 7, 8, 9, 0, 0]
        and valid[0].tolist() == [True] * 8 + [False] * 2
    )


def test_the_fusion_trains_as_tagfs_for_the_same_seed():
    """The search is built on a forked random state: every other weight starts as TAGF's."""
    torch.manual_seed(0)
    tagf = build_model(model_config("tagf"))
    torch.manual_seed(0)
    aligned = build_model(model_config("sync_align"))
    theirs = aligned.state_dict()
    for key, value in tagf.state_dict().items():
        torch.testing.assert_close(theirs[key], value)
    assert (
        torch.rand(1).item()
        == (torch.manual_seed(0), build_model(model_config("tagf")), torch.rand(1).item())[2]
    )


def test_it_trains_and_predicts_on_a_corpus_without_ground_truth(micro_corpus, tmp_path):
    """No lag label anywhere: the corpus's ground_truth/ folder deleted before the index and features are made."""
    corpus = tmp_path / "corpus"
    shutil.copytree(micro_corpus, corpus)
    shutil.rmtree(corpus / "ground_truth")
    run_cli("prepare", str(corpus), str(tmp_path / "index.parquet"))
    run_cli("features", str(tmp_path / "index.parquet"), str(tmp_path / "store"))
    run_cli(
        "train",
        "--store",
        str(tmp_path / "store"),
        "--output",
        str(tmp_path / "run"),
        "--variant",
        "sync_align",
        *SMALL_TAGF,
        "--set",
        "train.epochs=1",
        "--set",
        "model.window=32",
        "--set",
        "train.window=32",
        "--set",
        "train.hop=16",
    )
    videos = sorted(p.stem for p in (corpus / "VA_Estimation_Challenge" / "Test_Set").glob("*.txt"))
    run_cli(
        "predict",
        "--model",
        str(tmp_path / "run" / "model.pt"),
        "--store",
        str(tmp_path / "store"),
        "--videos",
        *videos,
        "--csv",
        str(tmp_path / "va.csv"),
    )
    assert (tmp_path / "va.csv").read_text().count("\n") > 10
