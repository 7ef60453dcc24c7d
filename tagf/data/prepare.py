"""`tagf prepare`: validate a whole Aff-Wild2-layout tree, then write its frame index (Parquet).

Every problem found is collected (one line each, naming the file and the fault) before failing, so a user fixes
them in one pass; nothing is written unless the tree is clean.

Frame count: the video container's. Annotations may differ from it by up to FRAME_TOLERANCE frames (or
FRAME_TOLERANCE_FRACTION of the video, whichever is larger), as Aff-Wild2's do by a frame or two against common
decoders; within it, surplus labels are dropped and missing ones are unannotated. Unlabelled test videos (listed in
test_set_VA.txt, no Test_Set annotation) get every frame with label_valid false.
"""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image
from tqdm import tqdm

from tagf import storage
from tagf.data import affwild2_layout as layout
from tagf.data.media import probe_video, probe_wav

FRAME_TOLERANCE = 2
FRAME_TOLERANCE_FRACTION = 0.005

INDEX_SCHEMA = pa.schema(
    [
        ("video", pa.string()),
        ("split", pa.string()),
        ("frame", pa.int32()),
        ("valence", pa.float32()),
        ("arousal", pa.float32()),
        ("label_valid", pa.bool_()),
        ("face_present", pa.bool_()),
        ("fps", pa.float32()),
        ("audio_path", pa.string()),
    ]
)


class CorpusError(ValueError):
    """The corpus has problems; `problems` holds one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the corpus:\n" + "\n".join(problems))


def _list_videos(fs, root: str, problems: list[str]) -> list[tuple[str, str, str | None]]:
    """(video, split, annotation path or None) for every labelled video and every listed unlabelled test video."""
    videos: dict[str, tuple[str, str | None]] = {}
    annotations = f"{root}/{layout.ANNOTATION_DIR}"
    if not fs.isdir(annotations):
        problems.append(f"{annotations}: missing annotation directory")
        return []
    for split, folder in layout.SPLIT_DIRS.items():
        for path in sorted(fs.glob(f"{annotations}/{folder}/*.txt")):
            name = path.rsplit("/", 1)[1][: -len(".txt")]
            if name in videos:
                problems.append(f"{path}: duplicate video across splits (also in {videos[name][0]})")
                continue
            videos[name] = (split, path)
    test_list = f"{annotations}/{layout.TEST_LIST}"
    if fs.exists(test_list):
        for name in layout.parse_test_list(fs.cat_file(test_list).decode()):
            if name not in videos:
                videos[name] = ("test", None)
            elif videos[name][0] != "test":
                problems.append(
                    f"{test_list}: duplicate video across splits ({name} is in {videos[name][0]})"
                )
    if not videos:
        problems.append(f"{annotations}: no annotation files and no test list")
    return [(name, split, path) for name, (split, path) in videos.items()]


def _media(fs, root: str, video: str, problems: list[str]) -> tuple[str, str] | None:
    """(video container URL, audio URL) for a video, or None after recording the fault."""
    media = layout.media_name(video)
    containers = [f"{root}/{layout.VIDEO_DIR}/{media}.{ext}" for ext in layout.VIDEO_EXTENSIONS]
    container = next((c for c in containers if fs.exists(c)), None)
    if container is None:
        problems.append(f"{containers[0]}: missing media for {video} (no .mp4 or .avi)")
        return None
    wav = f"{root}/{layout.AUDIO_DIR}/{media}.wav"
    return container, wav if fs.exists(wav) else container


def _faces(fs, root: str, video: str, frames: int, problems: list[str]) -> np.ndarray:
    present = np.zeros(frames, dtype=bool)
    for path in sorted(fs.glob(f"{root}/{layout.FACES_DIR}/{video}/*.jpg")):
        stem = path.rsplit("/", 1)[1][:-4]
        if not (stem.isdigit() and len(stem) == 5) or not 1 <= int(stem) <= frames:
            problems.append(f"{path}: face image name is not a frame 00001..{frames:05d} of {video}")
            continue
        try:
            Image.open(io.BytesIO(fs.cat_file(path))).verify()
        except Exception as err:  # PIL raises many types for broken files
            problems.append(f"{path}: unreadable image ({type(err).__name__})")
            continue
        present[int(stem) - 1] = True
    return present


def _video_rows(fs, root: str, video: str, split: str, annotation: str | None, problems: list[str]):
    before = len(problems)
    labels = None
    if annotation is not None:
        rows, label_problems = layout.parse_annotation(
            fs.cat_file(annotation).decode(errors="replace"), annotation
        )
        problems.extend(label_problems)
        labels = None if rows is None else np.asarray(rows, dtype=np.float32).reshape(-1, 2)
    media = _media(fs, root, video, problems)
    if media is None:
        return None
    container, audio = media
    try:
        info = probe_video(fs.unstrip_protocol(container))
        if audio == container and not info.has_audio:
            raise ValueError("no audio track and no audio/<video>.wav")
        if audio != container:
            probe_wav(fs.unstrip_protocol(audio))
    except Exception as err:  # decoders raise many types for broken media
        problems.append(
            f"{audio if audio != container else container}: unreadable media ({' '.join(str(err).split())})"
        )
        return None
    frames = info.frames
    if labels is not None:
        tolerance = max(FRAME_TOLERANCE, int(FRAME_TOLERANCE_FRACTION * frames))
        if abs(len(labels) - frames) > tolerance:
            problems.append(
                f"{annotation}: {len(labels)} labels for {frames} video frames (tolerance {tolerance})"
            )
    faces = _faces(fs, root, video, frames, problems)
    if len(problems) > before:
        return None
    values = np.full((frames, 2), layout.UNANNOTATED, dtype=np.float32)
    if labels is not None:
        values[: min(frames, len(labels))] = labels[:frames]
    valid = (values != layout.UNANNOTATED).all(axis=1)
    return {
        "video": [video] * frames,
        "split": [split] * frames,
        "frame": np.arange(1, frames + 1, dtype=np.int32),
        "valence": values[:, 0],
        "arousal": values[:, 1],
        "label_valid": valid,
        "face_present": faces,
        "fps": np.full(frames, info.fps, dtype=np.float32),
        "audio_path": [fs.unstrip_protocol(audio)] * frames,
    }


def prepare(root: str, index_url: str) -> pa.Table:
    """Validate the corpus at `root` and write the frame index to `index_url`; raises CorpusError listing all faults."""
    fs, root_path = storage.filesystem(root)
    root_path = root_path.rstrip("/")
    problems: list[str] = []
    if not fs.isdir(root_path):
        raise CorpusError([f"{root}: corpus root does not exist"])
    tables = []
    for video, split, annotation in tqdm(_list_videos(fs, root_path, problems), desc="prepare", unit="video"):
        rows = _video_rows(fs, root_path, video, split, annotation, problems)
        if rows is not None:
            tables.append(pa.table(rows, schema=INDEX_SCHEMA))
    if problems:
        raise CorpusError(problems)
    index = pa.concat_tables(tables).replace_schema_metadata({"tagf.root": fs.unstrip_protocol(root_path)})
    with storage.atomic_path(index_url) as (out_fs, tmp), out_fs.open(tmp, "wb") as f:
        pq.write_table(index, f)
    return index


def read_index(index_url: str) -> pa.Table:
    fs, path = storage.filesystem(index_url)
    with fs.open(path, "rb") as f:
        return pq.read_table(f)
