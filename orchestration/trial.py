"""One Ray Tune trial, for sweeps and ablations alike: the same `tagf.training.train`, with Tune and MLflow
listening through callbacks.

A trial is a Tune config (its 'model.x' / 'train.x' values) over a frozen TrialContext: what to train, where to
log, which splits. The runner trains, reports every epoch to Tune with its checkpoint, logs to one MLflow child run,
and, for an ablation, scores the report split and the robustness grid. A retried or restored trial resumes from its
last checkpoint and reuses its child run (the run id travels in the checkpoint). Its work directory is removed in
`finally`, whatever happens.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from mlflow.entities import Param
from mlflow.tracking import MlflowClient
from ray import tune

from orchestration.tracking import MlflowEpochLogger, log_json
from tagf.data.feature_store import SplitArrays
from tagf.data.windows import audio_inside_video
from tagf.errors import DataError
from tagf.evaluation.evaluate import LoadedModel, combined_predictions
from tagf.evaluation.gate_analysis import CATEGORIES, FrameCategories, gate_means
from tagf.evaluation.ground_truth import AudioLags
from tagf.evaluation.prediction import predict_frames
from tagf.evaluation.robustness import effective_lag, robustness_grid
from tagf.evaluation.scoring import TARGETS, score
from tagf.models import VARIANTS, ModelConfig, model_config
from tagf.models.variants import variant_of
from tagf.profiles import describe
from tagf.training.callbacks import TrainingCallback
from tagf.training.checkpoint import CHECKPOINT_DIR
from tagf.training.config import TrainConfig
from tagf.training.trainer import TrainResult, train

RUN_ID_FILE = "mlflow_run_id"
ROBUSTNESS_ARTIFACT = "robustness.json"
PER_VIDEO_ARTIFACT = "per_video.json"
CATEGORY_ARTIFACT = "by_category.json"
GATES_ARTIFACT = "gates.json"
SCORES = ("ccc_valence", "ccc_arousal", "ccc_mean")
CORPUS_SEED = "data.corpus_seed"  # an ablation trial's corpus: its splits and report are that corpus's


@dataclass(frozen=True)
class Report:
    """What an ablation trial scores after training: the report split, plain, under the robustness grid, and (with
    frame categories) per category of frames and the gates' weights per category."""

    split: str
    data_tags: dict[str, str]  # the corpus's provenance (orchestration.provenance.data_tags), over the context's tags
    shifts_s: tuple[float, ...]  # audio shifts in seconds, each used as ±; each video shifts by its own frames
    snr_db: tuple[float, ...]
    dropout: tuple[float, ...]
    lags: AudioLags | None  # synthetic corpus: each report video's built-in lag, for the effective lag
    categories: FrameCategories | None  # synthetic corpus with masks: each report row's category


@dataclass(frozen=True)
class TrialContext:
    model: dict[str, Any]  # base ModelConfig fields with "variant"; a trial's 'model.x' values go over them
    train: dict[str, Any]  # base TrainConfig fields; a trial's 'train.x' values go over them
    profile: str  # the tagf.profiles name the bases start from
    selection_split: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    tags: dict[str, str]
    report: dict[int, Report] | None = None  # an ablation's, by corpus seed (config CORPUS_SEED picks one)
    callbacks: tuple[TrainingCallback, ...] = field(default=())


class TuneReporter(TrainingCallback):
    """Reports each epoch to Tune with the checkpoint written just before it (so retries and ASHA work)."""

    def __init__(self, run_id: str):
        self.run_id, self.checkpoint = run_id, None

    def on_checkpoint(self, path: str) -> None:
        self.checkpoint = path

    def on_epoch_end(self, epoch: int, metrics: dict[str, Any]) -> None:
        checkpoint = tune.Checkpoint.from_directory(self.checkpoint) if self.checkpoint else None
        tune.report({**metrics, "mlflow_run_id": self.run_id}, checkpoint=checkpoint)


def decode(value: Any) -> Any:
    """Search-space values that are lists travel as JSON strings (Optuna's categories must be scalars)."""
    return json.loads(value) if isinstance(value, str) and value.startswith("[") else value


def trial_configs(config: dict[str, Any], context: TrialContext) -> tuple[ModelConfig, TrainConfig, str]:
    """(ModelConfig, TrainConfig, variant) of a trial: the context's bases with the trial's values over them.

    A trial that picks its variant (an ablation) gets that variant's preset (fusion, gate, steps) over the base,
    so that only the fusion differs between variants.
    """
    model, train_fields = dict(context.model), dict(context.train)
    values = {key: decode(value) for key, value in config.items() if key != CORPUS_SEED}
    variant = values.pop("model.variant", None)
    if variant is not None:
        model = {k: v for k, v in model.items() if k not in VARIANTS[variant]}
        model["variant"] = variant
    for key, value in values.items():
        section, _, name = key.partition(".")
        (model if section == "model" else train_fields)[name] = value
    model_cfg = model_config(model.pop("variant"), **{k: v for k, v in model.items() if k != "outputs"})
    # Named after what it is: a sweep that sets the gate of `tagf` to `fc` trains GRJCA.
    return model_cfg, TrainConfig(**train_fields), variant_of(model_cfg)


def trial_name(variant: str, config: dict[str, Any]) -> str:
    """What the trial is: its variant and its searched values, e.g. `tagf lr=0.0012 gate=fc`."""
    values = [
        f"{key.partition('.')[2]}={value:.3g}" if isinstance(value, float) else f"{key.partition('.')[2]}={value}"
        for key, value in config.items()
        if key != "model.variant"
    ]
    return " ".join([variant, *values])


def _child_run(
    client: MlflowClient,
    context: TrialContext,
    restored: Path | None,
    name: str,
    variant: str,
    params: dict,
    profile: str,
) -> str:
    """The trial's MLflow run under the parent: reused when Tune retries or restores the trial."""
    if restored is not None and (restored / RUN_ID_FILE).exists():
        return (restored / RUN_ID_FILE).read_text().strip()
    run = client.create_run(
        context.experiment_id,
        run_name=name,
        tags={"mlflow.parentRunId": context.parent_run_id, "variant": variant, "profile": profile, **context.tags},
    )
    # One request for every param: one log_param each costs about a second per trial on SQLite.
    client.log_batch(run.info.run_id, params=[Param(key, str(value)) for key, value in params.items()])
    return run.info.run_id


def _shift_rows(loaded: list[LoadedModel], data: SplitArrays, report: Report, variant: str) -> list[dict[str, Any]]:
    """Robustness rows under audio shifts of ±s seconds: video v's audio moves by round(s·fps_v) frames, and the
    frames whose audio would come from outside their video are not scored."""
    fps = np.array([data.fps[video] for video in data.videos])  # (V,)
    lengths = np.diff(data.offsets)  # (V,)
    rows = []
    for shift_s in sorted({0.0, *(s for k in report.shifts_s for s in (-k, k))}):
        shift = np.rint(shift_s * fps).astype(int)  # (V,) frames
        values = np.zeros((len(data.frames), sum(len(m.targets) for m in loaded)), np.float32)  # (N, targets)
        # Videos sharing a frame rate share a shift in frames: predict each such group at once.
        for frames in np.unique(shift):
            group = np.flatnonzero(shift == frames)  # video indices
            rows_of = np.concatenate([np.arange(data.offsets[v], data.offsets[v + 1]) for v in group])
            part = data.select([data.videos[v] for v in group])
            values[rows_of], targets = combined_predictions(loaded, part, audio_shift=int(frames))
        scored = data.label_valid & audio_inside_video(data, np.repeat(shift, lengths))  # (N,)
        if not scored.any():
            raise DataError(
                f"audio shift {shift_s:+g} s: no labelled frame of split {report.split!r} keeps its audio inside "
                "its video, so there is nothing to score; use smaller evaluate.shifts_s"
            )
        result = score(values, data, targets, valid=scored, split_name=report.split)
        rows.append(
            {
                "model": variant,
                "perturbation": "shift_s",
                "level": shift_s,
                **{k: result[k] for k in (*SCORES, "frames")},
                "per_video": result["per_video"],  # for the paired comparison of drops (the table leaves it out)
                **(effective_lag(report.lags, shift) if report.lags is not None else {}),
            }
        )
    return rows


def _score_report(
    result: TrainResult, train_cfg: TrainConfig, variant: str, splits: dict, report: Report, seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(report-split scores, {artifact name: content}) of the trained model.

    Artifacts: the robustness rows, the per-video scores, and — with frame categories, else None — the scores
    within each category of frames and the gates' mean weights per video, category and step (gated models).
    """
    targets = [TARGETS[c] for c in train_cfg.target_columns]
    loaded = [LoadedModel(result.model, targets, train_cfg.window, train_cfg.hop)]
    data = splits["report"]
    values, targets = combined_predictions(loaded, data)
    scored = score(values, data, targets, split_name=report.split)
    rows = _shift_rows(loaded, data, report, variant) + robustness_grid(
        {variant: loaded},
        data,
        shifts=(),
        snrs_db=report.snr_db,
        dropouts=report.dropout,
        seed=seed,
        split_name=report.split,
        lags=report.lags,
    )
    categories, by_category, gates = report.categories, None, None
    if categories is not None:
        by_category = {}
        for name in CATEGORIES:
            labelled = data.label_valid & categories.rows(name)  # (N,)
            # A category without a labelled frame has no CCC: None, not 0.
            by_category[name] = (
                score(values, data, targets, valid=labelled, split_name=report.split) if labelled.any() else None
            )
        if result.model.gated:  # the gates are not part of the (target-ordered) values: predict them once more
            predicted = predict_frames(result.model, data, train_cfg.window, train_cfg.hop)
            gates = {
                "visual": gate_means(predicted.visual_gate, categories),
                "audio": gate_means(predicted.audio_gate, categories),
            }
    artifacts = {
        ROBUSTNESS_ARTIFACT: rows,
        PER_VIDEO_ARTIFACT: scored["per_video"],
        CATEGORY_ARTIFACT: by_category,
        GATES_ARTIFACT: gates,
    }
    return scored, artifacts


def run_trial(config: dict[str, Any], splits: dict, context: TrialContext) -> None:
    """Trainable: `splits` ({"train", "selection"}, or an ablation's {corpus seed: {"train", "selection", "report"}})
    arrive from the Ray object store, put there once."""
    report = None
    if context.report is not None:
        corpus = config[CORPUS_SEED]
        splits, report = splits[corpus], context.report[corpus]
        context = replace(context, tags={**context.tags, **report.data_tags, "corpus_seed": str(corpus)})
    model_cfg, train_cfg, variant = trial_configs(config, context)
    profile = describe(context.profile, model_cfg, train_cfg)
    work = Path(tempfile.mkdtemp(prefix="tagf-trial-"))
    try:
        restored = None
        if (checkpoint := tune.get_checkpoint()) is not None:
            restored = Path(checkpoint.to_directory(str(work / CHECKPOINT_DIR)))
        params = {
            **{f"model.{k}": v for k, v in model_cfg.model_dump().items()},
            **{f"train.{k}": v for k, v in train_cfg.model_dump().items()},
        }
        client = MlflowClient(context.tracking_uri)
        run_id = _child_run(client, context, restored, trial_name(variant, config), variant, params, profile)
        (work / CHECKPOINT_DIR).mkdir(exist_ok=True)
        (work / CHECKPOINT_DIR / RUN_ID_FILE).write_text(run_id)
        result = train(
            model_cfg,
            train_cfg,
            splits={"train": splits["train"], "selection": splits["selection"]},
            out_dir=str(work),
            callbacks=[MlflowEpochLogger(client, run_id), TuneReporter(run_id), *context.callbacks],
            profile=context.profile,
            selection=context.selection_split,
        )
        if report is not None:
            scored, artifacts = _score_report(result, train_cfg, variant, splits, report, train_cfg.seed)
            for key in SCORES:
                client.log_metric(run_id, f"report_{key}", scored[key])
            for name, content in artifacts.items():
                log_json(client, run_id, name, content)
            tune.report({**{f"report_{k}": scored[k] for k in SCORES}, "mlflow_run_id": run_id, "profile": profile})
    finally:
        shutil.rmtree(work, ignore_errors=True)
