import json
import os
import re
import signal
import subprocess
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import SMALL_TAGF, TAGF

from tagf.data.feature_store import read_split
from tagf.errors import DataError, ParamsError
from tagf.evaluation.scoring import NonFiniteError
from tagf.models import load_model, model_config
from tagf.training.callbacks import TrainingCallback
from tagf.training.checkpoint import CHECKPOINT_DIR, CHECKPOINT_FILE
from tagf.training.config import TrainConfig
from tagf.training.trainer import train


def without_timing(history):
    """Wall-clock throughput is the one field two identical runs may differ in."""
    return [{k: v for k, v in h.items() if k != "train_frames_per_s"} for h in history]


SMALL = dict(
    visual_channels=(64, 32), audio_channels=(32, 32), head_hidden=32, key_mode="length_agnostic", window=64
)


def test_tagf_learns_the_tiny_corpus(trained_tagf):
    model, extra = load_model(str(trained_tagf / "model.pt"))
    history = json.loads((trained_tagf / "history.json").read_text())
    assert extra["best"]["val_ccc_mean"] > 0.45  # measured 0.655 with seed 0
    assert extra["best"]["val_ccc_mean"] == max(h["val_ccc_mean"] for h in history)
    assert extra["data_version"] and extra["train"]["seed"] == 0 and "git_commit" in extra
    assert model.cfg.gate == "step_bilstm" and model.cfg.outputs == 2


class Recorder(TrainingCallback):
    def __init__(self):
        self.events = []

    def on_checkpoint(self, path):
        self.events.append(("checkpoint", path))

    def on_epoch_end(self, epoch, metrics):
        self.events.append(("epoch", epoch, dict(metrics)))


def test_callbacks_early_stopping_and_best_weights(tiny_corpus, tmp_path):
    recorder = Recorder()
    cfg = TrainConfig(lr=1e-3, window=64, hop=32, epochs=40, early_stop_patience=2, batch_size=8, seed=1)
    result = train(
        model_config("rjcma", **SMALL),
        cfg,
        store=str(tiny_corpus["store"]),
        out_dir=str(tmp_path),
        callbacks=[recorder],
    )
    epochs = [e for e in recorder.events if e[0] == "epoch"]
    assert [e[0] for e in recorder.events[:2]] == [
        "checkpoint",
        "epoch",
    ]  # checkpoint first, then its metrics
    assert recorder.events[0][1] == str(tmp_path / CHECKPOINT_DIR)
    assert len(epochs) < 40  # early stopping ended it
    best_epoch = result.best["epoch"]
    assert len(epochs) == best_epoch + 2  # patience 2 after the best
    for key in ("train_loss", "val_ccc_valence", "val_ccc_arousal", "val_ccc_mean", "lr"):
        assert np.isfinite(epochs[0][2][key])
    # The model returned (and saved) holds the best epoch's weights: re-scoring it gives the best score.
    from tagf.evaluation.evaluate import evaluate

    metrics = evaluate([str(tmp_path / "model.pt")], str(tiny_corpus["store"]), "validation")
    assert metrics["ccc_mean"] == pytest.approx(result.best["val_ccc_mean"], abs=1e-6)


def strict_json(path):
    """Parse as standard JSON: Python's json.loads would accept NaN and Infinity."""

    def refuse(constant):
        raise AssertionError(f"{path}: {constant} is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_one_target_per_model(tiny_corpus, tmp_path):
    cfg = TrainConfig(lr=1e-3, window=64, hop=32, epochs=1, batch_size=8, target="arousal")
    result = train(
        model_config("jca", **SMALL),
        cfg,
        store=str(tiny_corpus["store"]),
        out_dir=str(tmp_path),
        callbacks=[],
    )
    assert result.model.cfg.outputs == 1
    assert np.isfinite(result.best["val_ccc_arousal"]) and result.best["val_ccc_valence"] is None
    # The target it does not predict is null in history.json, which stays standard JSON.
    (epoch,) = strict_json(tmp_path / "history.json")
    assert epoch["val_ccc_valence"] is None and np.isfinite(epoch["val_ccc_arousal"])


def test_faithful_window_and_feature_sizes_are_checked(tiny_corpus):
    store = str(tiny_corpus["store"])
    splits = {"train": read_split(store, "train"), "selection": read_split(store, "validation")}
    with pytest.raises(ValueError, match=r"model.window \(300\) != train.window \(64\)"):
        train(model_config("tagf"), TrainConfig(window=64), splits=splits, callbacks=[])
    with pytest.raises(ValueError, match="model.audio_in is 40 but the feature store has 128"):
        train(model_config("tagf", audio_in=40), TrainConfig(), splits=splits, callbacks=[])


def test_same_seed_same_training(tiny_corpus):
    cfg = TrainConfig(lr=1e-3, window=64, hop=32, epochs=2, batch_size=8, seed=5)
    a = train(model_config("grjca", **SMALL), cfg, store=str(tiny_corpus["store"]), callbacks=[])
    b = train(model_config("grjca", **SMALL), cfg, store=str(tiny_corpus["store"]), callbacks=[])
    assert without_timing(a.history) == without_timing(b.history)
    for (k, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(x, y), k


def _train_cmd(store, out):
    return [
        *TAGF,
        "train",
        "--store",
        str(store),
        "--output",
        str(out),
        *SMALL_TAGF,
        "--set",
        "train.hop=32",
        "--set",
        "train.epochs=7",
        "--set",
        "train.early_stop_patience=100",
        "--set",
        "train.seed=3",
    ]


def test_killed_run_resumes_to_the_same_result(tiny_corpus, tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    subprocess.run(
        _train_cmd(tiny_corpus["store"], tmp_path / "whole"), check=True, capture_output=True, env=env
    )

    proc = subprocess.Popen(
        _train_cmd(tiny_corpus["store"], tmp_path / "killed"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    state = tmp_path / "killed" / CHECKPOINT_DIR / CHECKPOINT_FILE
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if state.exists() and torch.load(state, weights_only=True)["epoch"] >= 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (tmp_path / "killed" / "model.pt").exists()

    resumed = subprocess.run(
        _train_cmd(tiny_corpus["store"], tmp_path / "killed"),
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    assert "resuming from" in resumed.stdout
    whole = json.loads((tmp_path / "whole" / "history.json").read_text())
    again = json.loads((tmp_path / "killed" / "history.json").read_text())
    assert without_timing(again) == without_timing(whole)
    a, _ = load_model(str(tmp_path / "whole" / "model.pt"))
    b, _ = load_model(str(tmp_path / "killed" / "model.pt"))
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), k


def test_bad_setting_is_one_clear_line(tiny_corpus, tmp_path):
    from conftest import run_cli

    proc = run_cli(
        "train",
        "--store",
        str(tiny_corpus["store"]),
        "--output",
        str(tmp_path),
        "--set",
        "train.lr=-1",
        check=False,
    )
    errors = [line for line in proc.stderr.splitlines() if line.startswith("tagf train: error:")]
    assert proc.returncode == ParamsError.exit_code and len(errors) == 1
    assert "lr" in errors[0] and "greater than 0" in errors[0]


def test_diverging_run_stops_at_once_and_writes_nothing(tiny_corpus, tmp_path):
    from conftest import cli_error, run_cli

    # An absurd learning rate makes the weights overflow after the first step: the loss is NaN from batch 2 on.
    proc = run_cli(
        "train",
        "--store",
        str(tiny_corpus["store"]),
        "--output",
        str(tmp_path),
        *SMALL_TAGF,
        "--set",
        "train.lr=1e30",
        "--set",
        "train.epochs=2",
        check=False,
    )
    assert proc.returncode == DataError.exit_code and "Traceback" not in proc.stderr
    assert re.match(r"epoch 1, batch \d+ of \d+: the training loss is nan", cli_error(proc))
    assert "epoch   1" not in proc.stdout  # not even the first epoch finished with a NaN loss
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / "history.json").exists()


def test_nan_validation_prediction_is_an_error_naming_the_epoch(tiny_corpus, tmp_path):
    store = str(tiny_corpus["store"])
    train_split, validation = read_split(store, "train"), read_split(store, "validation")
    visual = validation.visual.astype(np.float32)
    visual[5] = np.nan  # read_split refuses such a store, so hand the split over directly
    splits = {
        "train": train_split.select(train_split.videos[:1]),
        "selection": replace(validation, visual=visual),
    }
    cfg = TrainConfig(lr=1e-3, window=64, hop=64, epochs=2, batch_size=8)
    with pytest.raises(NonFiniteError, match=r"epoch 1: split 'validation': \d+ frame\(s\) have NaN"):
        train(model_config("jca", **SMALL), cfg, splits=splits, out_dir=str(tmp_path), callbacks=[])
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / "history.json").exists()


def test_separate_targets_keep_each_targets_best_epoch(tiny_corpus, tmp_path):
    """The authors train one model per target: each keeps its own best epoch, and the combined model scores
    exactly those bests on the selection split."""
    from tagf.evaluation.evaluate import evaluate

    cfg = TrainConfig(lr=3e-3, window=64, hop=32, epochs=4, batch_size=8, early_stop_patience=10)
    model_cfg = model_config("tagf", **SMALL, separate_targets=True)
    result = train(model_cfg, cfg, store=str(tiny_corpus["store"]), out_dir=str(tmp_path), callbacks=[])
    history = result.history
    for target in ("valence", "arousal"):
        scores = [h[f"val_ccc_{target}"] for h in history]
        assert result.best[f"val_ccc_{target}"] == max(scores)
        assert result.best[f"epoch_{target}"] == 1 + scores.index(max(scores))
    assert result.best["epoch_valence"] != result.best["epoch_arousal"]  # so the test below can fail
    scored = evaluate([str(tmp_path / "model.pt")], str(tiny_corpus["store"]), "validation")
    for target in ("valence", "arousal"):
        assert scored[f"ccc_{target}"] == pytest.approx(result.best[f"val_ccc_{target}"], abs=1e-6)


def test_reload_best_each_epoch_continues_from_the_best_weights(tiny_corpus, tmp_path):
    class Weights(TrainingCallback):
        def __init__(self):
            self.saved = []

        def on_checkpoint(self, path):
            state = torch.load(f"{path}/{CHECKPOINT_FILE}", weights_only=True)
            best = state["best_weights"]["states"][0]
            self.saved.append(all(torch.equal(state["model"][k], v) for k, v in best.items()))

    recorder = Weights()
    cfg = TrainConfig(
        lr=3e-2,
        window=64,
        hop=32,
        epochs=5,
        batch_size=8,
        reload_best_each_epoch=True,
        early_stop_patience=10,
    )
    train(
        model_config("jca", **SMALL),
        cfg,
        store=str(tiny_corpus["store"]),
        out_dir=str(tmp_path),
        callbacks=[recorder],
    )
    assert recorder.saved == [True] * 5
    recorder.saved.clear()
    plain = train(
        model_config("jca", **SMALL),
        cfg.model_copy(update={"reload_best_each_epoch": False}),
        store=str(tiny_corpus["store"]),
        out_dir=str(tmp_path / "plain"),
        callbacks=[recorder],
    )
    # Without it the live weights move on past a worse epoch.
    improved = [h["val_ccc_mean"] == h["best_val_ccc_mean"] for h in plain.history]
    assert recorder.saved == improved and not all(improved)


def test_warm_up_starts_at_its_factor():
    from tagf.training.schedule import LearningRateSchedule

    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    schedule = LearningRateSchedule(optimizer, TrainConfig(warmup_epochs=5, warmup_start_factor=0.2), 2)
    lrs = [optimizer.param_groups[0]["lr"]]
    for _ in range(10):
        optimizer.step()
        schedule.after_batch()
        lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs[0] == pytest.approx(2e-5) and lrs[10] == pytest.approx(1e-4) and lrs[5] == pytest.approx(6e-5)
    none = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    LearningRateSchedule(none, TrainConfig(warmup_epochs=0), 2)
    assert none.param_groups[0]["lr"] == 1e-4


def test_train_cli_records_the_setup(tiny_corpus, tmp_path):
    from conftest import run_cli

    store = str(tiny_corpus["store"])
    run_cli(
        "train",
        "--store",
        store,
        "--output",
        str(tmp_path / "run"),
        "--profile",
        "small",
        *SMALL_TAGF,
        "--set",
        "train.epochs=1",
    )
    _, extra = load_model(str(tmp_path / "run" / "model.pt"))
    assert extra["setup"].startswith("small, modified: model.window=64, model.visual_channels=(64, 32)")
    assert "train.epochs=1" in extra["setup"] and extra["selection_split"] == "validation"


def test_train_cli_takes_flags_over_params_over_the_profile(tiny_corpus, tmp_path):
    from conftest import run_cli

    params = tmp_path / "params.yaml"
    params.write_text(
        "profile: small\nmodel: {variant: jca, head_hidden: 16, steps: null}\ntrain: {epochs: 1, batch_size: 8}\n"
        "splits: {selection: test, report: validation}\n"
    )
    store = str(tiny_corpus["store"])
    flags = [
        "--set",
        "model.key_mode=length_agnostic",
        "--set",
        "model.window=64",
        "--set",
        "train.window=64",
    ]
    run_cli(
        "train",
        "--store",
        store,
        "--output",
        str(tmp_path / "run"),
        "--params",
        str(params),
        *flags,
        "--set",
        "model.head_hidden=24",
        "--set",
        "train.hop=32",
    )
    model, extra = load_model(str(tmp_path / "run" / "model.pt"))
    # head 24 (--set over params' 16), steps 1 (jca's preset, params' null), epochs 1 (params over the profile's 6)
    assert (model.cfg.head_hidden, model.cfg.steps, extra["train"]["epochs"]) == (24, 1, 1)
    assert extra["selection_split"] == "test" and extra["setup"].startswith(
        "small, modified: model.window=64"
    )


def test_bf16_precision_trains_under_cpu_autocast(tiny_corpus, monkeypatch):
    """train.precision=bf16 runs the step under bf16 autocast (emulated where the CPU lacks bf16: the detector is
    patched so the test runs on any CPU); weights stay fp32 and the run learns something finite."""
    from tagf.training import precision, trainer

    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: True)
    seen = set()

    def recording_build_model(cfg):
        model = build_model(cfg)
        model.register_forward_pre_hook(
            lambda module, args: seen.add(
                (module.training, torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu"))
            )
        )
        return model

    build_model = trainer.build_model
    monkeypatch.setattr(trainer, "build_model", recording_build_model)
    cfg = TrainConfig(lr=1e-3, window=64, hop=32, epochs=1, batch_size=8, device="cpu", precision="bf16")
    result = train(model_config("tagf", **SMALL), cfg, store=str(tiny_corpus["store"]), callbacks=[])
    assert (True, True, torch.bfloat16) in seen and (False, True, torch.bfloat16) not in seen  # train only
    assert np.isfinite(result.history[0]["train_loss"]) and np.isfinite(result.best["val_ccc_mean"])
    assert all(p.dtype == torch.float32 for p in result.model.parameters())


def test_bf16_on_a_cpu_without_it_is_an_error_and_auto_stays_fp32(monkeypatch):
    from tagf.training import precision

    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: False)
    cpu = torch.device("cpu")
    with pytest.raises(
        ParamsError, match=r"train.precision: bf16 needs native bf16 support.*AVX512-BF16 or AMX"
    ):
        precision.autocast("bf16", cpu)
    for name in ("auto", "fp32"):
        with precision.autocast(name, cpu):
            assert not torch.is_autocast_enabled("cpu")
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp16")
