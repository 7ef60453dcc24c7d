"""`tagf predict`: per-frame valence/arousal from a trained model, as CSV, ABAW submission file, and trace PNG.

Inputs: a feature store and video names (or an ABAW test list), or a raw video file (+ its cropped-aligned faces)
which is laid out as a one-video Aff-Wild2 tree in memory and run through the same `prepare` and feature code.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from tagf import storage
from tagf.data import affwild2_layout as layout
from tagf.data.feature_store import SplitArrays, videos_from_store
from tagf.data.prepare import prepare
from tagf.data.synth.ground_truth import with_lags
from tagf.errors import DataError, UsageError
from tagf.evaluation.evaluate import combined_predictions, load_for_evaluation
from tagf.evaluation.figures import trace_figure
from tagf.features.config import ExtractorConfig
from tagf.features.extract import extract_features


def features_of_raw_video(
    video_file: str, faces_dir: str | None, extractor: ExtractorConfig
) -> tuple[str, str]:
    """Lay one video out as an Aff-Wild2 tree in memory, prepare and extract it; returns (store URL, video name)."""
    name = Path(video_file).stem
    root = f"memory://tagf-predict/{name}"
    fs, base = storage.filesystem(root)
    if fs.exists(base):
        fs.rm(base, recursive=True)
    storage.put(
        fs,
        f"{base}/{layout.VIDEO_DIR}/{name}{Path(video_file).suffix.lower()}",
        storage.read_bytes(video_file),
    )
    storage.put(fs, f"{base}/{layout.ANNOTATION_DIR}/{layout.TEST_LIST}", f"{name}\n".encode())
    fs.makedirs(
        f"{base}/{layout.FACES_DIR}/{name}", exist_ok=True
    )  # without --faces-dir: no face in any frame
    if faces_dir:
        face_fs, face_path = storage.filesystem(faces_dir)
        for image in face_fs.glob(f"{face_path.rstrip('/')}/*.jpg"):
            storage.put(
                fs, f"{base}/{layout.FACES_DIR}/{name}/{image.rsplit('/', 1)[1]}", face_fs.cat_file(image)
            )
    prepare(root, f"{root}-index.parquet")
    extract_features(f"{root}-index.parquet", f"{root}-features", extractor)
    return f"{root}-features", name


def write_outputs(
    split: SplitArrays,
    values: np.ndarray,
    targets: list[str],
    csv_url: str | None,
    submission_url: str | None,
    listed_frames: dict[str, list[int]] | None,
    plot_url: str | None,
) -> None:
    if csv_url:
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(["video", "frame", *targets])
        for v, video in enumerate(split.videos):
            rows = split.video_slice(v)
            for frame, value in zip(split.frames[rows], values[rows]):
                writer.writerow([video, int(frame), *(f"{x:.6f}" for x in value)])
        storage.write_text(csv_url, text.getvalue())
    if submission_url:
        if targets != ["valence", "arousal"]:
            raise UsageError(
                "the ABAW submission needs valence and arousal: give one model per target or one for both"
            )
        text = io.StringIO()
        text.write(layout.SUBMISSION_HEADER + "\n")
        for v, video in enumerate(split.videos):
            rows = split.video_slice(v)
            by_frame = dict(zip(split.frames[rows].tolist(), values[rows]))
            wanted = (listed_frames or {}).get(video) or sorted(by_frame)
            for frame in wanted:
                if frame not in by_frame:
                    raise DataError(
                        f"test list asks for {video}/{layout.face_name(frame)}, beyond its frames"
                    )
                valence, arousal = by_frame[frame]
                text.write(f"{video}/{layout.face_name(frame)},{valence:.6f},{arousal:.6f}\n")
        storage.write_text(submission_url, text.getvalue())
    if plot_url:
        video = split.videos[0]
        rows = split.video_slice(0)
        trace_figure(
            video,
            values[rows],
            targets,
            split.fps[video],
            plot_url,
            split.labels[rows],
            split.label_valid[rows],
        )


def predict(
    model_urls: list[str],
    store: str | None = None,
    videos: list[str] | None = None,
    test_list: str | None = None,
    video_file: str | None = None,
    faces_dir: str | None = None,
    extractor: ExtractorConfig | None = None,
    csv_url: str | None = None,
    submission_url: str | None = None,
    plot_url: str | None = None,
) -> tuple[SplitArrays, np.ndarray, list[str]]:
    listed = None
    if video_file:
        store, name = features_of_raw_video(video_file, faces_dir, extractor or ExtractorConfig())
        videos = [name]
    elif test_list:
        text = storage.read_text(test_list)
        videos, listed = layout.parse_test_list(text, test_list), layout.parse_test_frames(text)
    if not store or not videos:
        raise UsageError("predict: give --store with --videos or --test-list, or --video-file")
    split = with_lags(store, videos_from_store(store, videos))
    models = [load_for_evaluation(url) for url in model_urls]
    values, targets = combined_predictions(models, split)
    write_outputs(split, values, targets, csv_url, submission_url, listed, plot_url)
    return split, values, targets
