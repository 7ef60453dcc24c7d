"""`tagf compare` on per-video tables it must not score: each is one line naming the run, video or flag, exit 4 for
the data and 2 for a flag, and nothing written (a NaN summed as 0 moved a video's CCC from 0.478 to 0.212)."""

import numpy as np
import pytest
from conftest import cli_error, run_cli
from study_cells import meta, study

from tagf.study.cells import write_cells
from tagf.study.compare import compare

VARIANTS = ["tagf", "better", "same", "noisy"]
RUN = "better seed=1 corpus_seed=2 (augment ±0 s, key length_agnostic), video v3"


def written(tmp_path, frame, study_meta=None):
    path = tmp_path / "per_video.parquet"
    write_cells(str(path), frame, study_meta or meta(VARIANTS))
    return path


def refused(path, tmp_path, *flags):
    out = tmp_path / "out"
    proc = run_cli("compare", str(path), "--output", str(out), *flags, check=False)
    assert not out.exists(), "a refused table wrote outputs"
    return proc.returncode, cli_error(proc)


def one_cell(frame):
    """The row of run `better`, seed 1, corpus 2, video v3, plain condition, every frame."""
    return frame.index[
        (frame["variant"] == "better")
        & (frame["seed"] == 1)
        & (frame["corpus_seed"] == 2)
        & (frame["video"] == "v3")
        & (frame["level"] == 0)
        & (frame["subset"] == "all")
    ][0]


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_sum_that_is_not_finite_is_named(tmp_path, value):
    frame = study(corpora=5)
    frame.loc[one_cell(frame), "sum_py_valence"] = value
    code, line = refused(written(tmp_path, frame), tmp_path)
    assert code == 4 and line.endswith(f"run {RUN}, shift_s=0, subset all: sum_py_valence is {value}")


@pytest.mark.parametrize("value", [0, -3, 2.5])
def test_a_frame_count_that_is_not_a_positive_whole_number_is_named(tmp_path, value):
    frame = study(corpora=5)
    frame["n"] = frame["n"].astype(float)
    frame.loc[one_cell(frame), "n"] = value
    code, line = refused(written(tmp_path, frame), tmp_path)
    assert code == 4 and line.endswith(f"run {RUN}, shift_s=0, subset all: n is not a positive whole number")


def test_sums_no_frames_can_have_are_named(tmp_path):
    frame = study(corpora=5)
    cell = one_cell(frame)
    frame.loc[cell, "sum_pp_arousal"] = 0.0  # Σp² = 0 with Σp ≠ 0: a negative variance
    code, line = refused(written(tmp_path, frame), tmp_path, "--primary", "clean")
    assert code == 4 and line == (
        f"endpoint 'clean': run {RUN}, arousal: sums no frames can have (a negative variance)"
    )


def test_a_ccc_with_nothing_varying_is_named_not_scored_zero(tmp_path):
    frame = study(corpora=5)
    cell = one_cell(frame)
    n = frame.loc[cell, "n"]
    for s in ("sum_p", "sum_y"):
        frame.loc[cell, f"{s}_valence"] = 0.5 * n
    for s in ("sum_pp", "sum_yy", "sum_py"):
        frame.loc[cell, f"{s}_valence"] = 0.25 * n
    code, line = refused(written(tmp_path, frame), tmp_path, "--primary", "clean")
    assert code == 4 and line == (
        f"endpoint 'clean': run {RUN}, valence: no CCC: neither the predictions nor the labels vary"
    )


def test_no_video_with_enough_frames_is_one_line(tmp_path):
    study_meta = {**meta(VARIANTS), "min_frames": 10_000}
    code, line = refused(written(tmp_path, study(corpora=5), study_meta), tmp_path)
    assert code == 4 and line == (
        "endpoint 'lag>=0.5': no video has 10000 frames or more there (min_frames; the most: 300), so it has "
        "no value to compare"
    )


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--reference", "nope"],
            "--reference 'nope' has no runs; the study's variants: better, noisy, same, tagf",
        ),
        (
            ["--primary", "lag>=7"],
            "--primary: endpoint 'lag>=7': 7 s is not an edge of the lag bins [0.0, 0.5, inf]",
        ),
        (["--primary", "loudness"], "--primary: unknown endpoint 'loudness'"),
        (["--margin", "nan"], "argument --margin: 'nan': expected a finite number above 0"),
        (["--margin", "0"], "argument --margin: '0': expected a finite number above 0"),
        (["--margin", "-0.1"], "argument --margin: '-0.1': expected a finite number above 0"),
        (["--margin", "wide"], "argument --margin: 'wide' is not a number"),
    ],
)
def test_flags_it_cannot_use_are_usage_errors(tmp_path, flags, message):
    code, line = refused(written(tmp_path, study(corpora=5)), tmp_path, *flags)
    assert code == 2 and line.startswith(message)


def test_a_variant_with_no_run_paired_with_the_reference_is_not_testable(tmp_path):
    frame = study(corpora=5)
    frame.loc[frame["variant"] == "noisy", "corpus_seed"] += 10  # other corpora than the reference's
    summary = compare(str(written(tmp_path, frame)), str(tmp_path / "out"))
    noisy = next(r for r in summary["rows"] if r["variant"] == "noisy")["primary"]["vs_reference"]
    assert noisy["verdict"] == "not testable (no run shares a corpus, training seed and video with tagf's)"
    row = next(
        line for line in (tmp_path / "out" / "ablation.md").read_text().splitlines() if "| noisy |" in line
    )
    assert "reference" not in row and "not testable" in row
