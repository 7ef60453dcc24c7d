import csv
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from conftest import cli_error, run_cli
from PIL import Image

from tagf.data.feature_store import SPLITS, SplitArrays, read_manifest, read_split, write_store
from tagf.data.synth.ground_truth import AudioLags
from tagf.errors import DataError, UsageError
from tagf.evaluation.evaluate import LoadedModel
from tagf.evaluation.stitching import stitch
from tagf.models import build_model, model_config
from tagf.study.conditions import ProtocolSettings
from tagf.study.protocol import Protocol, shift_rows


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
        "frames",
        "effective_lag_s_mean",
        "effective_lag_s_min",
        "effective_lag_s_max",
        "effective_lag_s",
    }
    shifts = sorted(r["level"] for r in rows if r["model"] == "tagf" and r["perturbation"] == "shift_s")
    assert shifts == [-2, -0.2, 0, 0.2, 2]
    # A shift of s seconds moves each video's audio by k = round(s·fps) of its frames and scores the labelled frames
    # whose audio source t - k is inside the video: per video, all but its first k (audio late) or last k frames.
    test = read_split(str(tiny_corpus["store"]), "test")
    labelled = [test.label_valid[test.video_slice(v)] for v in range(len(test.videos))]
    lags = json.loads((tiny_corpus["root"] / "ground_truth" / "lags.json").read_text())
    for row in rows:
        s = row["level"] if row["perturbation"] == "shift_s" else 0
        k = {v: int(np.rint(s * test.fps[v])) for v in test.videos}
        assert row["frames"] == sum(
            int(ok[k[v]:].sum()) if k[v] >= 0 else int(ok[: k[v]].sum()) for v, ok in zip(test.videos, labelled)
        )
        # The lag the model faces: the video's built-in audio lag plus the applied shift, in seconds.
        expected = {v: lags[v] + k[v] / test.fps[v] for v in test.videos}
        assert row["effective_lag_s"] == pytest.approx(expected)
        assert row["effective_lag_s_mean"] == pytest.approx(np.mean(list(expected.values())))
        assert row["effective_lag_s_min"] == pytest.approx(min(expected.values()))
        assert row["effective_lag_s_max"] == pytest.approx(max(expected.values()))
    kinds = {r["perturbation"] for r in rows}
    assert kinds == {"shift_s", "audio_noise", "visual_noise", "audio_dropout", "visual_dropout"}
    by = {(r["model"], r["perturbation"], r["level"]): r["ccc_mean"] for r in rows}
    assert by[("tagf", "shift_s", 0)] == by[("again", "shift_s", 0)]  # same draws for every model
    assert by[("tagf", "shift_s", 2)] < by[("tagf", "shift_s", 0)]  # misalignment hurts
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
    assert by[("tagf", "shift_s", 0)] == pytest.approx(evaluated["ccc_mean"])
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
    assert proc.returncode == UsageError.exit_code and "has no gate to plot" in proc.stderr and not (tmp_path / "g.png").exists()


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
        "audio shift -10000 s: no labelled frame"
    )
    assert "split 'test'" in cli_error(proc) and not (tmp_path / "robustness.json").exists()


def test_a_shift_of_s_seconds_scores_round_s_fps_fewer_frames_per_video():
    lengths = (30, 20)
    n = sum(lengths)
    rng = np.random.default_rng(0)
    split = SplitArrays(
        videos=["a", "b"],
        offsets=np.r_[0, np.cumsum(lengths)],
        visual=rng.normal(size=(n, 4)).astype(np.float32),
        audio=rng.normal(size=(n, 3)).astype(np.float32),
        labels=rng.uniform(-1, 1, (n, 2)).astype(np.float32),
        label_valid=np.ones(n, bool),
        visual_valid=np.ones(n, bool),
        frames=np.concatenate([np.arange(1, k + 1) for k in lengths]).astype(np.int32),
        fps={"a": 25.0, "b": 50.0},
    )
    torch.manual_seed(0)
    small = dict(visual_in=4, audio_in=3, visual_channels=(8,), audio_channels=(8,), head_hidden=8)
    model = build_model(model_config("concat", key_mode="length_agnostic", window=16, **small)).eval()
    loaded = {"concat": [LoadedModel(model, ["valence", "arousal"], 16, 8)]}
    lags = AudioLags(["a", "b"], lag_s=np.array([0.1, -0.2]), fps=np.array([25.0, 50.0]))
    protocol = Protocol("test", ProtocolSettings(shifts_s=[0.2], snr_db=[], dropout=[]), lags=lags)
    rows = shift_rows("concat", loaded["concat"], split, protocol)
    by_shift = {row["level"]: row for row in rows}
    # 0.2 s is 5 frames of a (25 fps) and 10 of b (50 fps): those frames have no audio and are not scored.
    assert {s: by_shift[s]["frames"] for s in by_shift} == {-0.2: 35, 0: 50, 0.2: 35}
    # Built-in lag + 0.2 s: a 0.1 + 0.2 s, b -0.2 + 0.2 s.
    assert by_shift[0.2]["effective_lag_s"] == pytest.approx({"a": 0.3, "b": 0.0})
    assert by_shift[0.2]["effective_lag_s_mean"] == pytest.approx(0.15)
    assert (by_shift[0.2]["effective_lag_s_min"], by_shift[0.2]["effective_lag_s_max"]) == pytest.approx((0.0, 0.3))
    too_far = Protocol("test", ProtocolSettings(shifts_s=[1.2], snr_db=[], dropout=[]))
    with pytest.raises(ValueError, match=r"audio shift -1.2 s: no labelled frame of split 'test'"):
        shift_rows("concat", loaded["concat"], split, too_far)
