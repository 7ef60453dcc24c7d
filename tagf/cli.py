"""The `tagf` command line (also `python -m tagf`): thin subcommands over the library.

Installed packages add commands through the entry-point group `tagf.commands` (a function given the subparsers;
orchestration adds the platform's sweep, ablate, report, ...), and model URI schemes through `tagf.model_uris` (a
function (uri, params file) -> local model file, named after its scheme: `models`, `runs`), so tagf/ never
imports orchestration/. Errors: tagf.errors.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable
from importlib.metadata import entry_points

from pydantic import ValidationError

from tagf.errors import UsageError, exit_code, exit_codes_help
from tagf.evaluation.robustness_defaults import DEFAULT_DROPOUT, DEFAULT_SHIFTS, DEFAULT_SNR_DB


def _import_checkpoint(args: argparse.Namespace) -> None:
    import io

    import torch

    from tagf import storage
    from tagf.models import from_official_state_dict, official_front_ends, save_model

    payload = torch.load(io.BytesIO(storage.read_bytes(args.source)), map_location="cpu", weights_only=True)
    # The authors save either the bare state dict or a dict holding it.
    state_dict = (
        payload.get("state_dict", payload.get("net", payload)) if isinstance(payload, dict) else payload
    )
    model = from_official_state_dict(state_dict)
    if args.hop > model.cfg.window:
        raise UsageError(f"--hop {args.hop}: larger than the checkpoint's window {model.cfg.window}")
    # The authors train one model per target and evaluate with their own hop; neither is in the state dict.
    extra = {
        "imported_from": str(args.source),
        "profile": "paper",
        "train": {"target": args.target, "window": model.cfg.window, "hop": args.hop},
    }
    save_model(model, args.destination, extra)
    print(
        f"imported {args.source} -> {args.destination} ({args.target}, {model.cfg.steps} steps, "
        f"window {model.cfg.window}, hop {args.hop})"
    )
    stem = args.destination.removesuffix(".pt")
    for backbone, weights in official_front_ends(state_dict).items():
        url = f"{stem}.{backbone}.pt"
        buffer = io.BytesIO()
        torch.save(weights, buffer)
        storage.write_bytes(url, buffer.getvalue())
        print(f"front end {backbone}: {len(weights)} tensors -> {url}")


def _synth(args: argparse.Namespace) -> None:
    from tagf.data.synth.corpus import write_corpus

    write_corpus(args.output, args.preset, seed=args.seed, max_lag_s=args.max_lag_s)
    print(f"wrote synthetic corpus ({args.preset}, seed {args.seed}) to {args.output}")


def _corpus(args: argparse.Namespace) -> None:
    from tagf.data.corpus_source import write_corpus_from

    described = write_corpus_from(args.source, args.output)
    what = f"synthetic corpus ({described['preset']})" if described["source"] == "synthetic" else "corpus pointer"
    print(f"wrote {what} to {args.output}")


def _prepare(args: argparse.Namespace) -> None:
    from tagf.data.corpus_source import corpus_root
    from tagf.data.prepare import prepare

    index = prepare(corpus_root(args.root), args.index)
    print(
        f"indexed {index.num_rows} frames of {len(set(index.column('video').to_pylist()))} videos -> {args.index}"
    )


def _extractor(args: argparse.Namespace, **fields):
    """Backbones from --visual-weights / --audio-weights (--front-ends picks their variant); without weights, the
    built-in extractors."""
    from tagf.features.extract import ExtractorConfig

    suffix = "_authors" if args.front_ends == "authors" else ""
    return ExtractorConfig(
        visual_backbone=f"ir50{suffix}" if args.visual_weights else "builtin",
        visual_weights=args.visual_weights,
        audio_backbone=f"vggish{suffix}" if args.audio_weights else "builtin",
        audio_weights=args.audio_weights,
        **fields,
    )


def _features(args: argparse.Namespace) -> None:
    from tagf.features.extract import ExtractorConfig, extract_features
    from tagf.params_file import read_section

    if args.params:
        cfg = read_section(args.params, "features", ExtractorConfig)
    else:
        cfg = _extractor(args, batch_size=args.batch_size, dtype=args.dtype)
    manifest = extract_features(args.index, args.store, cfg)
    print(f"feature store {args.store} version {manifest['version']}: {manifest['splits']}")


def parse_settings(pairs: list[str]) -> dict[str, dict[str, object]]:
    """`--set model.steps=3 --set train.lr=1e-3` → {"model": {"steps": 3}, "train": {"lr": 0.001}} (YAML values)."""
    import yaml

    sections: dict[str, dict[str, object]] = {"model": {}, "train": {}}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        section, dot, field = key.partition(".")
        if not sep or not dot or section not in sections:
            raise UsageError(f"--set {pair}: expected model.<field>=<value> or train.<field>=<value>")
        sections[section][field] = yaml.safe_load(value)
    return sections


def _train(args: argparse.Namespace) -> None:
    from tagf.models import model_config
    from tagf.params_file import invalid
    from tagf.profiles import profile_settings
    from tagf.training.config import TrainConfig
    from tagf.training.trainer import train

    settings = parse_settings(args.set)
    base = {section: profile_settings(args.profile, section) if args.profile else {} for section in settings}
    try:
        model_cfg = model_config(args.variant, **{**base["model"], **settings["model"]})
        train_cfg = TrainConfig(**{**base["train"], **settings["train"]})
    except ValidationError as err:
        section = "model." if err.title == "ModelConfig" else "train."
        raise invalid(err, "--set", section) from None
    result = train(
        model_cfg,
        train_cfg,
        store=args.store,
        out_dir=args.output,
        resume=not args.restart,
        profile=args.profile,
        selection=args.selection,
    )
    print(
        f"best epoch {result.best['epoch']}: {args.selection} CCC mean {result.best['val_ccc_mean']:.4f} -> "
        f"{args.output}/model.pt"
    )


def _local_model(args: argparse.Namespace, uri: str) -> str:
    """A model URI whose scheme an installed package resolves (`tagf.model_uris`) as a local model file; any other
    path or URL as it is."""
    scheme, sep, _ = uri.partition(":/")
    found = entry_points(group="tagf.model_uris", name=scheme) if sep else ()
    return next(iter(found)).load()(uri, args.params) if found else uri


def _evaluate(args: argparse.Namespace) -> None:
    from tagf.evaluation.evaluate import evaluate

    metrics = evaluate([_local_model(args, m) for m in args.model], args.store, args.split, args.metrics, args.predictions)
    print(
        " ".join(f"{k}={metrics[k]:.4f}" for k in ("ccc_valence", "ccc_arousal", "ccc_mean") if k in metrics)
    )


def _numbers(kind: type) -> Callable[[str], tuple]:
    """An argparse type for comma-separated numbers ("" is none)."""

    def parse(text: str) -> tuple:
        try:
            return tuple(kind(x) for x in text.split(",") if x.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__}s, got {text!r}") from None

    return parse


def _robustness(args: argparse.Namespace) -> None:
    from tagf.evaluation.figures import robustness_figure
    from tagf.evaluation.robustness import robustness_of_files, write_table

    models: dict[str, list[str]] = {}
    for spec in args.model:
        name, sep, url = spec.partition("=")
        if not sep:
            raise UsageError(f"--model {spec}: expected NAME=MODEL_FILE")
        models.setdefault(name, []).append(_local_model(args, url))
    rows = robustness_of_files(
        models,
        args.store,
        args.split,
        shifts=args.shifts,
        snrs_db=args.snr,
        dropouts=args.dropout,
    )
    write_table(rows, f"{args.output}/robustness.json", f"{args.output}/robustness.csv")
    robustness_figure(rows, f"{args.output}/robustness.png")
    print(f"{len(rows)} rows -> {args.output}/robustness.{{json,csv,png}}")


def _plot_gates(args: argparse.Namespace) -> None:
    from tagf.evaluation.interpretability import plot_gates

    plot_gates(_local_model(args, args.model), args.store, args.video, args.output)
    print(f"gate heatmap of {args.video} -> {args.output}")


def _predict(args: argparse.Namespace) -> None:
    from tagf.evaluation.predict import predict

    extractor = _extractor(args)
    split, _, _ = predict(
        [_local_model(args, m) for m in args.model],
        store=args.store,
        videos=args.videos.split(",") if args.videos else None,
        test_list=args.test_list,
        video_file=args.video_file,
        faces_dir=args.faces_dir,
        extractor=extractor,
        csv_url=args.csv,
        submission_url=args.submission,
        plot_url=args.plot,
    )
    print(f"predicted {int(split.offsets[-1])} frames of {len(split.videos)} video(s)")


def _model_uri_params_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--params",
        default="params.yaml",
        help="for models:/ and runs:/ model URIs: the params file whose mlflow.tracking_uri holds them "
        "(MLFLOW_TRACKING_URI wins)",
    )


def _front_ends_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--front-ends",
        choices=("standard", "authors"),
        default="standard",
        help="standard: face.evoLVe IR-50 on 112-px faces + VGGish port; authors: the TAGF authors' IR-50 on "
        "40-px centre crops of 48-px faces + their VGGish (weights from `tagf import-checkpoint`)",
    )


def add_science_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="write the synthetic corpus in Aff-Wild2 layout")
    p.add_argument("output", help="corpus root to write (path or fsspec URL)")
    p.add_argument("--preset", default="tiny", help="tiny | default | large | misaligned | misaligned_tiny")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-lag-s", type=float, default=None, help="per-video audio lag spread (seconds)")
    p.set_defaults(run=_synth)

    p = sub.add_parser("corpus", help="the corpus a source description names (written by `tagf source`)")
    p.add_argument("source", help="source description JSON: a synthetic preset and seed, or an Aff-Wild2 tree")
    p.add_argument("output", help="corpus directory: the synthetic corpus, or a SOURCE.json pointing at the tree")
    p.set_defaults(run=_corpus)

    p = sub.add_parser("prepare", help="validate an Aff-Wild2-layout corpus and write its frame index")
    p.add_argument(
        "root", help="corpus root, or a directory whose SOURCE.json points at one (`tagf corpus`); path or URL"
    )
    p.add_argument("index", help="frame index to write (.parquet)")
    p.set_defaults(run=_prepare)

    p = sub.add_parser("features", help="extract per-frame features into the Parquet feature store")
    p.add_argument("index", help="frame index written by `tagf prepare`")
    p.add_argument("store", help="feature store to write (directory path or fsspec URL)")
    p.add_argument(
        "--visual-weights", help="IR-50 state dict; without it the built-in synthetic-corpus extractor"
    )
    p.add_argument(
        "--audio-weights", help="VGGish state dict; without it the built-in synthetic-corpus extractor"
    )
    _front_ends_option(p)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    p.add_argument(
        "--params", help="take the extractor settings from this params file's features: section instead of the flags"
    )
    p.set_defaults(run=_features)

    p = sub.add_parser("train", help="train one model on a feature store (resumes an interrupted run)")
    p.add_argument("store", help="feature store (path or fsspec URL)")
    p.add_argument("output", help="run directory: checkpoint/, model.pt, history.json")
    p.add_argument("--variant", default="tagf", help="model variant (tagf, rjcma, jca, grjca, concat, ...)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override a model.* or train.* setting, e.g. --set train.lr=1e-3 (repeatable)",
    )
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint and start over")
    p.add_argument(
        "--profile",
        choices=("paper", "small"),
        help="start from a profile's model and train settings (--set overrides them); recorded in the model file",
    )
    p.add_argument(
        "--selection",
        default="validation",
        choices=("validation", "test"),
        help="the split that picks the best epoch and stops early (report on another one)",
    )
    p.set_defaults(run=_train)

    p = sub.add_parser("evaluate", help="ABAW-protocol CCC of a model on a split")
    p.add_argument(
        "--model", action="append", required=True, help="model file, or models:/NAME@ALIAS or runs:/ID/model (MLflow); repeat for one model per target"
    )
    p.add_argument("--store", required=True)
    p.add_argument("--split", default="validation", choices=("train", "validation", "test"))
    p.add_argument("--metrics", help="metrics JSON to write")
    p.add_argument("--predictions", help="per-frame predictions Parquet to write")
    _model_uri_params_option(p)
    p.set_defaults(run=_evaluate)

    p = sub.add_parser("robustness", help="CCC under audio shift, modality noise and modality dropout")
    p.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="NAME=MODEL",
        help="a model to compare: file, models:/ or runs:/ URI (repeat; the same NAME twice = one model per target)",
    )
    p.add_argument("--store", required=True)
    p.add_argument("--split", default="test", choices=("train", "validation", "test"))
    p.add_argument(
        "--shifts", type=_numbers(int), default=DEFAULT_SHIFTS, help="audio shifts in frames (each used as ±)"
    )
    p.add_argument(
        "--snr", type=_numbers(float), default=DEFAULT_SNR_DB, help="modality noise levels, SNR dB (empty: none)"
    )
    p.add_argument(
        "--dropout", type=_numbers(float), default=DEFAULT_DROPOUT, help="modality dropout fractions (empty: none)"
    )
    p.add_argument("--output", required=True, help="directory for robustness.json/.csv/.png")
    _model_uri_params_option(p)
    p.set_defaults(run=_robustness)

    p = sub.add_parser(
        "plot-gates", help="heatmap of a gated model's per-frame step weights over the VA trace"
    )
    p.add_argument("--model", required=True, help="model file, or models:/NAME@ALIAS or runs:/ID/model (MLflow)")
    p.add_argument("--store", required=True)
    p.add_argument("--video", required=True)
    p.add_argument("--output", required=True, help="PNG to write")
    _model_uri_params_option(p)
    p.set_defaults(run=_plot_gates)

    p = sub.add_parser("predict", help="per-frame valence/arousal as CSV and ABAW submission file")
    p.add_argument(
        "--model", action="append", required=True, help="model file, or models:/NAME@ALIAS or runs:/ID/model (MLflow); repeat for one model per target"
    )
    p.add_argument("--store", help="feature store holding the videos")
    p.add_argument("--videos", help="comma-separated video names in the store")
    p.add_argument("--test-list", help="ABAW test list (video names or <video>/<NNNNN>.jpg rows)")
    p.add_argument(
        "--video-file", help="a raw .mp4/.avi to run through feature extraction instead of a store"
    )
    p.add_argument("--faces-dir", help="its cropped-aligned faces (<NNNNN>.jpg), for --video-file")
    p.add_argument("--visual-weights", help="IR-50 weights for --video-file (default: built-in extractor)")
    p.add_argument("--audio-weights", help="VGGish weights for --video-file (default: built-in extractor)")
    _front_ends_option(p)
    p.add_argument("--csv", help="per-frame predictions CSV to write")
    p.add_argument("--submission", help="ABAW submission file to write (image_location,valence,arousal)")
    p.add_argument("--plot", help="PNG of the first video's VA trace")
    _model_uri_params_option(p)
    p.set_defaults(run=_predict)

    p = sub.add_parser(
        "import-checkpoint",
        help="convert a state dict trained with the authors' code (and save its front ends beside it)",
    )
    p.add_argument("source", help="torch file (path or fsspec URL) holding the authors' state dict")
    p.add_argument(
        "destination",
        help="tagf model file to write; front ends found in the checkpoint go to <stem>.<backbone>.pt beside it",
    )
    p.add_argument(
        "--target", required=True, choices=("valence", "arousal"), help="what the checkpoint was trained on"
    )
    p.add_argument("--hop", required=True, type=int, help="evaluation window hop in frames (authors: 200)")
    p.set_defaults(run=_import_checkpoint)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tagf",
        description="Time-aware gated fusion for valence/arousal.",
        epilog=exit_codes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="print the traceback of every error")
    sub = parser.add_subparsers(dest="command", required=True)
    add_science_commands(sub)
    for plugin in entry_points(group="tagf.commands"):
        plugin.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; a user-fixable error becomes one `tagf <command>: error: ...` line and its exit status."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except Exception as err:
        code = exit_code(err)
        if code is None or args.debug:
            traceback.print_exc()
        if code is None:
            return 1
        # A corpus check reports every problem, one line each, so a user fixes them in one pass.
        for line in getattr(err, "problems", None) or [" ".join(str(err).split())]:
            print(f"tagf {args.command}: error: {line}", file=sys.stderr)
        return code
    return 0
