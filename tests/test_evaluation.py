import csv
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import cli_error, run_cli
from PIL import Image

from tagf.data.feature_store import SPLITS, read_manifest, read_split, write_store
from tagf.errors import DataError, UsageError
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
            "--store",
            str(tiny_corpus["store"]),
            "--output",
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
    assert proc.returncode == UsageError.exit_code and "two models predict valence" in proc.stderr


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
        "--shifts-s",
        "0.2,2",
        "--snr",
        "10",
        "--dropout",
        "0.5",
        "--output",
        str(tmp_path),
    )
    rows = json.loads((tmp_path / "robustness.json").read_text())
    assert set(rows[0]) == {
        "model",
        "perturbation",
        "level",
        "ccc_valence",
        "ccc_arousal",
        "ccc_mean",
        "ccc_mean_per_video",
        "frames",
    }
    shifts = sorted(r["level"] for r in rows if r["model"] == "tagf" and r["perturbation"] == "shift_s")
    assert shifts == [-2, -0.2, 0, 0.2, 2]
    # Every condition scores the same frames: the labelled frames whose audio stays inside their video under the
    # largest shift in both directions, i.e. all but round(2 s · fps) frames at each end of each video.
    test = read_split(str(tiny_corpus["store"]), "test")
    expected = 0
    for v, video in enumerate(test.videos):
        k = int(np.rint(2 * test.fps[video]))
        expected += int(test.label_valid[test.video_slice(v)][k:-k].sum())
    assert {r["frames"] for r in rows if r["perturbation"] != "lag_s"} == {expected}
    kinds = {r["perturbation"] for r in rows}
    assert kinds == {"shift_s", "lag_s", "audio_noise", "visual_noise", "audio_dropout", "visual_dropout"}
    by = {(r["model"], r["perturbation"], r["level"]): r["ccc_mean"] for r in rows}
    assert by[("tagf", "shift_s", 0)] == by[("again", "shift_s", 0)]  # same draws for every model
    assert by[("tagf", "audio_noise", 10)] == by[("again", "audio_noise", 10)]
    assert by[("tagf", "shift_s", 2)] < by[("tagf", "shift_s", 0)]  # misalignment hurts
    # By effective lag |built-in + shift|: every shift's frames, each in the bin of its own lag.
    lagged = [r for r in rows if r["model"] == "tagf" and r["perturbation"] == "lag_s"]
    assert sum(r["frames"] for r in lagged) == 5 * expected  # 5 shifts' frames, each frame in one bin
    with open(tmp_path / "robustness.csv") as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    assert Image.open(tmp_path / "robustness.png").size[0] > 800
    # Its per-video scores are a study's, which `tagf compare` reads (one run each: intervals, no verdicts).
    run_cli("compare", str(tmp_path / "per_video.parquet"), "--output", str(tmp_path / "compared"))
    summary = json.loads((tmp_path / "compared" / "ablation.json").read_text())
    assert [row["variant"] for row in summary["rows"]] == ["tagf", "again"]
    assert summary["rows"][1]["clean"]["vs_reference"]["mean"] == 0.0


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
        "--store",
        str(tiny_corpus["store"]),
        "--output",
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
    assert (
        proc.returncode == UsageError.exit_code
        and "has no learned gate to plot" in proc.stderr
        and not (tmp_path / "g.png").exists()
    )


@pytest.fixture(scope="module")
def unlabelled_store(tiny_corpus, tmp_path_factory) -> tuple[str, str]:
    """The tiny store with an unlabelled test split (as on Aff-Wild2) and one unlabelled validation video.

    Returns (store URL, the unlabelled validation video)."""
    source = str(tiny_corpus["store"])
    manifest = read_manifest(source)
    tables = {split: pq.read_table(tiny_corpus["store"] / f"{split}.parquet") for split in SPLITS}
    validation = tables["validation"]
    video = validation.column("video")[0].as_py()
    labelled = {
        "test": np.zeros(tables["test"].num_rows, bool),
        "validation": validation.column("label_valid").to_numpy()
        & (validation.column("video").to_numpy() != video),
    }
    for split, keep in labelled.items():
        column = tables[split].schema.get_field_index("label_valid")
        tables[split] = tables[split].set_column(column, "label_valid", pa.array(keep))
    url = str(tmp_path_factory.mktemp("unlabelled") / "features")
    write_store(url, tables, manifest["fps"], manifest)
    return url, video


def test_unlabelled_split_is_an_error_not_a_zero(trained_tagf, unlabelled_store, tmp_path):
    store, _ = unlabelled_store
    model = str(trained_tagf / "model.pt")
    metrics = tmp_path / "m.json"
    proc = run_cli(
        "evaluate",
        "--model",
        model,
        "--store",
        store,
        "--split",
        "test",
        "--metrics",
        str(metrics),
        check=False,
    )
    assert proc.returncode == DataError.exit_code and "split 'test' has no labelled frame" in cli_error(proc)
    assert not metrics.exists()
    proc = run_cli(
        "robustness", "--model", f"m={model}", "--store", store, "--output", str(tmp_path), check=False
    )
    assert proc.returncode == DataError.exit_code and "split 'test' has no labelled frame" in cli_error(proc)
    assert not (tmp_path / "robustness.json").exists()


def test_video_without_labels_has_a_null_ccc(trained_tagf, unlabelled_store, tmp_path):
    store, unlabelled = unlabelled_store
    metrics = tmp_path / "m.json"
    run_cli(
        "evaluate", "--model", str(trained_tagf / "model.pt"), "--store", store, "--metrics", str(metrics)
    )
    per_video = json.loads(metrics.read_text())["per_video"]
    assert per_video.pop(unlabelled) == {"ccc_valence": None, "ccc_arousal": None}
    assert per_video and all(np.isfinite(list(scores.values())).all() for scores in per_video.values())


def test_shift_beyond_every_video_is_an_error_naming_it(trained_tagf, tiny_corpus, tmp_path):
    proc = run_cli(
        "robustness",
        "--model",
        f"tagf={trained_tagf / 'model.pt'}",
        "--store",
        str(tiny_corpus["store"]),
        "--shifts-s",
        "0.2,10000",
        "--output",
        str(tmp_path),
        check=False,
    )
    assert proc.returncode == DataError.exit_code and cli_error(proc).startswith(
        "audio shifts up to ±10000 s: no labelled frame"
    )
    assert "split 'test'" in cli_error(proc) and not (tmp_path / "robustness.json").exists()
