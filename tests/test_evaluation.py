import csv
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import run_cli
from PIL import Image

from tagf.data.feature_store import read_split
from tagf.evaluation.stitching import stitch


def test_stitching_averages_overlaps_by_hand():
    # Video 0: 5 frames, windows of 3 at starts 0 and 2 (frame 2 is covered twice).
    # Video 1: 2 frames, one window of 3 padded at its end.
    values = np.array(
        [
            [[1.0], [2.0], [3.0]],
            [[5.0], [6.0], [7.0]],
            [[10.0], [20.0], [99.0]],  # 99 falls on padding and must be ignored
        ]
    )
    video, start, offsets = np.array([0, 0, 1]), np.array([0, 2, 0]), np.array([0, 5, 7])
    got = stitch(values, video, start, offsets)
    np.testing.assert_array_equal(got[:, 0], [1.0, 2.0, (3.0 + 5.0) / 2, 6.0, 7.0, 10.0, 20.0])


def test_stitching_refuses_uncovered_frames():
    with pytest.raises(ValueError, match="1 frames are covered by no window"):
        stitch(np.zeros((1, 2, 1)), np.array([0]), np.array([0]), np.array([0, 3]))


def test_evaluate_writes_metrics_and_predictions(trained_tagf, tiny_corpus, tmp_path):
    run_cli(
        "evaluate",
        "--model",
        str(trained_tagf / "model.pt"),
        "--store",
        str(tiny_corpus["store"]),
        "--split",
        "test",
        "--metrics",
        str(tmp_path / "m.json"),
        "--predictions",
        str(tmp_path / "p.parquet"),
    )
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert {"split", "ccc_valence", "ccc_arousal", "ccc_mean", "frames", "per_video", "latent"} <= set(
        metrics
    )
    assert metrics["ccc_mean"] == pytest.approx((metrics["ccc_valence"] + metrics["ccc_arousal"]) / 2)
    assert metrics["ccc_mean"] > 0.2
    test = read_split(str(tiny_corpus["store"]), "test")
    assert metrics["frames"] == int(test.label_valid.sum())
    assert set(metrics["per_video"]) == set(test.videos)
    assert set(metrics["latent"]) == {"ccc_valence", "ccc_arousal", "ccc_mean", "frames"}
    table = pq.read_table(tmp_path / "p.parquet")
    assert table.column_names == [
        "video",
        "frame",
        "valence_pred",
        "arousal_pred",
        "valence",
        "arousal",
        "label_valid",
    ]
    assert table.num_rows == int(test.offsets[-1])


def test_one_model_per_target_is_joined(tiny_corpus, tmp_path):
    from conftest import SMALL_TAGF

    for target in ("valence", "arousal"):
        run_cli(
            "train",
            str(tiny_corpus["store"]),
            str(tmp_path / target),
            *SMALL_TAGF,
            "--variant",
            "rjcma",
            "--set",
            f"train.target={target}",
            "--set",
            "train.epochs=2",
        )
    models = [
        "--model",
        str(tmp_path / "valence" / "model.pt"),
        "--model",
        str(tmp_path / "arousal" / "model.pt"),
    ]
    run_cli("evaluate", *models, "--store", str(tiny_corpus["store"]), "--metrics", str(tmp_path / "m.json"))
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert np.isfinite(metrics["ccc_valence"]) and np.isfinite(metrics["ccc_arousal"])
    proc = run_cli(
        "evaluate",
        "--model",
        models[1],
        "--model",
        models[1],
        "--store",
        str(tiny_corpus["store"]),
        check=False,
    )
    assert proc.returncode == 2 and "two models predict valence" in proc.stderr


def test_robustness_table_and_figure(trained_tagf, tiny_corpus, tmp_path):
    model = str(trained_tagf / "model.pt")
    run_cli(
        "robustness",
        "--model",
        f"tagf={model}",
        "--model",
        f"again={model}",
        "--store",
        str(tiny_corpus["store"]),
        "--shifts",
        "0,5,60",
        "--snr",
        "10",
        "--dropout",
        "0.5",
        "--output",
        str(tmp_path),
    )
    rows = json.loads((tmp_path / "robustness.json").read_text())
    assert set(rows[0]) == {"model", "perturbation", "level", "ccc_valence", "ccc_arousal", "ccc_mean"}
    shifts = sorted(r["level"] for r in rows if r["model"] == "tagf" and r["perturbation"] == "shift")
    assert shifts == [-60, -5, 0, 5, 60]
    kinds = {r["perturbation"] for r in rows}
    assert kinds == {"shift", "audio_noise", "visual_noise", "audio_dropout", "visual_dropout"}
    by = {(r["model"], r["perturbation"], r["level"]): r["ccc_mean"] for r in rows}
    assert by[("tagf", "shift", 0)] == by[("again", "shift", 0)]  # same draws for every model
    assert by[("tagf", "shift", 60)] < by[("tagf", "shift", 0)]  # misalignment hurts
    with open(tmp_path / "robustness.csv") as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    run_cli(
        "evaluate",
        "--model",
        model,
        "--store",
        str(tiny_corpus["store"]),
        "--split",
        "test",
        "--metrics",
        str(tmp_path / "m.json"),
    )
    evaluated = json.loads((tmp_path / "m.json").read_text())
    assert by[("tagf", "shift", 0)] == pytest.approx(evaluated["ccc_mean"])
    assert Image.open(tmp_path / "robustness.png").size[0] > 800


def test_gate_heatmap_png(trained_tagf, tiny_corpus, tmp_path):
    video = read_split(str(tiny_corpus["store"]), "test").videos[0]
    run_cli(
        "plot-gates",
        "--model",
        str(trained_tagf / "model.pt"),
        "--store",
        str(tiny_corpus["store"]),
        "--video",
        video,
        "--output",
        str(tmp_path / "gates.png"),
    )
    width, height = Image.open(tmp_path / "gates.png").size
    assert width > 600 and height > 400


def test_predict_csv_submission_and_trace(trained_tagf, tiny_corpus, tmp_path):
    store = str(tiny_corpus["store"])
    test = read_split(store, "test")
    video = test.videos[0]
    listing = tmp_path / "test_list.txt"
    listing.write_text(f"image_location,valence,arousal\n{video}/00003.jpg,,\n{video}/00001.jpg,,\n")
    run_cli(
        "predict",
        "--model",
        str(trained_tagf / "model.pt"),
        "--store",
        store,
        "--test-list",
        str(listing),
        "--csv",
        str(tmp_path / "p.csv"),
        "--submission",
        str(tmp_path / "sub.csv"),
        "--plot",
        str(tmp_path / "t.png"),
    )
    rows = (tmp_path / "sub.csv").read_text().splitlines()
    assert rows[0] == "image_location,valence,arousal"
    assert [r.split(",")[0] for r in rows[1:]] == [f"{video}/00003.jpg", f"{video}/00001.jpg"]
    assert all(-1 <= float(x) <= 1 for r in rows[1:] for x in r.split(",")[1:])
    with open(tmp_path / "p.csv") as f:
        per_frame = list(csv.DictReader(f))
    assert len(per_frame) == int(test.offsets[1]) and set(per_frame[0]) == {
        "video",
        "frame",
        "valence",
        "arousal",
    }
    assert Image.open(tmp_path / "t.png").size[0] > 600


def test_predict_from_a_raw_video_matches_the_store(trained_tagf, tiny_corpus, tmp_path):
    store = str(tiny_corpus["store"])
    video = read_split(store, "test").videos[0]
    root = tiny_corpus["root"]
    run_cli(
        "predict",
        "--model",
        str(trained_tagf / "model.pt"),
        "--video-file",
        str(root / "videos" / f"{video}.avi"),
        "--faces-dir",
        str(root / "cropped_aligned" / video),
        "--csv",
        str(tmp_path / "raw.csv"),
    )
    run_cli(
        "predict",
        "--model",
        str(trained_tagf / "model.pt"),
        "--store",
        store,
        "--videos",
        video,
        "--csv",
        str(tmp_path / "store.csv"),
    )
    assert (tmp_path / "raw.csv").read_text() == (tmp_path / "store.csv").read_text()


def test_non_gated_model_has_no_gate_plot(tiny_corpus, tmp_path):
    from conftest import SMALL_TAGF

    run_cli(
        "train",
        str(tiny_corpus["store"]),
        str(tmp_path / "c"),
        *SMALL_TAGF,
        "--variant",
        "concat",
        "--set",
        "train.epochs=1",
    )
    proc = run_cli(
        "plot-gates",
        "--model",
        str(tmp_path / "c" / "model.pt"),
        "--store",
        str(tiny_corpus["store"]),
        "--video",
        "synth006",
        "--output",
        str(tmp_path / "g.png"),
        check=False,
    )
    assert proc.returncode == 2 and "has no gate to plot" in proc.stderr and not (tmp_path / "g.png").exists()
