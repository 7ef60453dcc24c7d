"""`tagf prepare`: validate a whole Aff-Wild2-layout tree, then write its frame index (Parquet).

Every problem found is collected (one line each, naming the file and the fault) before failing, so a user fixes
them in one pass; nothing is written unless the tree is clean.

Frame count: the video container's. Annotations may differ from it by up to FRAME_TOLERANCE frames (or
FRAME_TOLERANCE_FRACTION of the video, whichever is larger), as Aff-Wild2's do by a frame or two against common
decoders; within it, surplus labels are dropped and missing ones are unannotated. Unlabelled test videos (listed in
test_set_VA.txt, no Test_Set annotation) get every frame with label_valid false.

Media length: the video packets and the audio the files really hold must cover the annotation's frames (or, for an
unlabelled video, the container's declared count) within the same tolerance; a truncated file keeps its header's
count, so only reading it through shows what is missing.
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
from tagf.data.media import MediaError, probe_video, probe_wav
from tagf.errors import DataError

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


class CorpusError(DataError):
    """The corpus has problems; `problems` holds one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the corpus:\n" + "\n".join(problems))


_NOT_A_FILE = {"directory": "a directory where a file is expected", "other": "not a regular file"}


def _files(fs, folder: str, suffix: str, problems: list[str]) -> list[str]:
    """The files of `folder` whose names end in `suffix`, sorted, symbolic links followed (a lab's tree of links to
    shared storage indexes as a copy would). Listed, not globbed: a video named `synth[0]00` is a folder name, not
    a pattern that matches `synth000`'s. A link that leads nowhere, or anything but a file under such a name, is a
    problem, not a video that silently vanishes."""
    if not fs.isdir(folder):
        return []
    found = []
    for path, kind in storage.entries(fs, folder):
        if not path.endswith(suffix):
            continue
        if kind == "file":
            found.append(path)
        else:
            problems.append(f"{path}: {_NOT_A_FILE.get(kind, kind)}")
    return found


def _list_videos(fs, root: str, problems: list[str]) -> list[tuple[str, str, str | None]]:
    """(video, split, annotation path or None) for every labelled video and every listed unlabelled test video."""
    videos: dict[str, tuple[str, str | None]] = {}
    annotations = f"{root}/{layout.ANNOTATION_DIR}"
    if not fs.isdir(annotations):
        problems.append(f"{annotations}: missing annotation directory")
        return []
    for split, folder in layout.SPLIT_DIRS.items():
        for path in _files(fs, f"{annotations}/{folder}", ".txt", problems):
            name = path.rsplit("/", 1)[1][: -len(".txt")]
            if name in videos:
                problems.append(f"{path}: duplicate video across splits (also in {videos[name][0]})")
                continue
            videos[name] = (split, path)
    test_list = f"{annotations}/{layout.TEST_LIST}"
    if fs.exists(test_list):
        try:
            listed = layout.parse_test_list(fs.cat_file(test_list).decode("utf-8-sig"), test_list)
        except DataError as err:
            problems.append(str(err))
            listed = []
        for name in listed:
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
    folder = f"{root}/{layout.FACES_DIR}/{video}"
    if not fs.isdir(folder):  # else every frame would silently count as "no face"
        problems.append(f"{folder}: missing face folder for {video}")
        return present
    for path in _files(fs, folder, ".jpg", problems):
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


def _unreadable(path: str, err: Exception) -> str:
    # A MediaError says why in user terms; any other decoder exception is named by its type, not its internals.
    return f"{path}: unreadable media ({err if isinstance(err, MediaError) else type(err).__name__})"


def _video_rows(fs, root: str, video: str, split: str, annotation: str | None, problems: list[str]):
    before = len(problems)
    labels = None
    if annotation is not None:
        text = fs.cat_file(annotation).decode("utf-8-sig", errors="replace")  # utf-8-sig: drops a BOM
        rows, label_problems = layout.parse_annotation(text, annotation)
        problems.extend(label_problems)
        labels = None if rows is None else np.asarray(rows, dtype=np.float32).reshape(-1, 2)
    media = _media(fs, root, video, problems)
    if media is None:
        return None
    container, audio = media
    try:
        info = probe_video(fs.unstrip_protocol(container))
    except Exception as err:  # decoders raise many types for broken media
        problems.append(_unreadable(container, err))
        return None
    try:
        if audio == container and info.audio_s is None:
            raise MediaError("no audio track and no audio/<video>.wav")
        audio_s = info.audio_s if audio == container else probe_wav(fs.unstrip_protocol(audio))
    except Exception as err:
        problems.append(_unreadable(audio, err))
        return None
    frames = info.frames
    tolerance = max(FRAME_TOLERANCE, int(FRAME_TOLERANCE_FRACTION * frames))
    if labels is not None and abs(len(labels) - frames) > tolerance:
        problems.append(
            f"{annotation}: {len(labels)} labels for {frames} video frames (tolerance {tolerance})"
        )
    # Media must hold the frames both the container and the annotation count (disagreement is reported above).
    expected = frames if labels is None else min(frames, len(labels))
    for path, held, what in (
        (container, info.present_frames, "video frames"),
        (audio, int(audio_s * info.fps), f"frames of audio ({audio_s:.2f} s at {info.fps:g} fps)"),
    ):
        if expected - held > tolerance:
            problems.append(
                f"{path}: holds {held} {what} of {expected} expected (tolerance {tolerance}): "
                "the file is truncated or corrupted"
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
        "audio_path": [audio[len(root) + 1 :]]
        * frames,  # relative to the root: the index is the same anywhere
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
    # The root as given (DVC's stages give it relative to the project), so the index does not depend on where the
    # checkout lives.
    index = pa.concat_tables(tables).replace_schema_metadata({"tagf.root": root.rstrip("/")})
    with storage.atomic_path(index_url) as (out_fs, tmp), out_fs.open(tmp, "wb") as f:
        pq.write_table(index, f)
    return index
