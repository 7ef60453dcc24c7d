"""`tagf predict`: per-frame valence/arousal of videos in a store, an ABAW test list, or a raw video file."""

from __future__ import annotations

import argparse

from tagf.cli.options import MODEL_HELP, extractor_fields, front_ends_option, local_model, model_uri_option


def _predict(args: argparse.Namespace) -> None:
    from tagf.evaluation.predict import predict
    from tagf.features.config import ExtractorConfig

    split, _, _ = predict(
        [local_model(args, m) for m in args.model],
        store=args.store,
        videos=args.videos.split(",") if args.videos else None,
        test_list=args.test_list,
        video_file=args.video_file,
        faces_dir=args.faces_dir,
        extractor=ExtractorConfig(**extractor_fields(args)),
        csv_url=args.csv,
        submission_url=args.submission,
        plot_url=args.plot,
    )
    print(f"predicted {int(split.offsets[-1])} frames of {len(split.videos)} video(s)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="per-frame valence/arousal as CSV and ABAW submission file")
    p.add_argument(
        "--model", action="append", required=True, help=f"{MODEL_HELP}; repeat for one model per target"
    )
    p.add_argument("--store", help="feature store holding the videos")
    p.add_argument("--videos", help="comma-separated video names in the store")
    p.add_argument("--test-list", help="ABAW test list (video names or <video>/<NNNNN>.jpg rows)")
    p.add_argument(
        "--video-file", help="a raw .mp4/.avi to run through feature extraction instead of a store"
    )
    p.add_argument("--faces-dir", help="its cropped-aligned faces (<NNNNN>.jpg), for --video-file")
    front_ends_option(p)
    p.add_argument("--csv", help="per-frame predictions CSV to write")
    p.add_argument("--submission", help="ABAW submission file to write (image_location,valence,arousal)")
    p.add_argument("--plot", help="PNG of the first video's VA trace")
    model_uri_option(p)
    p.set_defaults(run=_predict, computes=True)
