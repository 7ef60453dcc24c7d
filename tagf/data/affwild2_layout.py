"""Where things live in an Aff-Wild2 tree, and how its text files read.

    <root>/VA_Estimation_Challenge/{Train_Set,Validation_Set[,Test_Set]}/<video>.txt   "valence,arousal" + 1 row/frame
    <root>/VA_Estimation_Challenge/test_set_VA.txt   optional: unlabelled test videos, one name per line
    <root>/cropped_aligned/<video>/<NNNNN>.jpg       1-indexed, 5 digits; a missing image = no face detected
    <root>/videos/<media>.{mp4,avi}                  <media> is <video> without a _left/_right suffix
    <root>/audio/<media>.wav                         optional pre-extracted audio, preferred over the video's track

`Test_Set` with labels is what the organisers release after a challenge (and what our synthetic corpus writes).
"""

from __future__ import annotations

import re

from tagf.errors import DataError

ANNOTATION_DIR = "VA_Estimation_Challenge"
SPLIT_DIRS = {"train": "Train_Set", "validation": "Validation_Set", "test": "Test_Set"}
TEST_LIST = "test_set_VA.txt"
FACES_DIR = "cropped_aligned"
VIDEO_DIR = "videos"
AUDIO_DIR = "audio"
VIDEO_EXTENSIONS = ("mp4", "avi")
HEADER = "valence,arousal"
UNANNOTATED = -5.0
SUBMISSION_HEADER = "image_location,valence,arousal"


def media_name(video: str) -> str:
    """Two subjects of one recording share its media: `x_left` and `x_right` both come from `x`."""
    return re.sub(r"_(left|right)$", "", video)


def face_name(frame: int) -> str:
    return f"{frame:05d}.jpg"


def parse_annotation(text: str, where: str) -> tuple[list[tuple[float, float]] | None, list[str]]:
    """Rows of (valence, arousal) (None when the header is wrong) and the problems found, naming `where` and line."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != HEADER:
        found = lines[0].strip() if lines else "an empty file"
        return None, [f"{where}: bad header: expected '{HEADER}', found '{found}'"]
    rows, problems = [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split(",")
        try:
            if len(parts) != 2:
                raise ValueError
            valence, arousal = float(parts[0]), float(parts[1])
        except ValueError:
            problems.append(f"{where}:{number}: non-numeric value: '{line.strip()}'")
            continue
        if (valence == UNANNOTATED) != (arousal == UNANNOTATED):  # an unlabelled frame has -5 in both
            problems.append(f"{where}:{number}: -5 (unannotated) in only one column: '{line.strip()}'")
        for name, value in (("valence", valence), ("arousal", arousal)):
            if value != UNANNOTATED and not -1.0 <= value <= 1.0:
                problems.append(f"{where}:{number}: {name} {value} outside [-1, 1] (and not -5)")
        rows.append((valence, arousal))
    return rows, problems


def parse_test_frames(text: str) -> dict[str, list[int]]:
    """Frames listed per video in an ABAW test list of `<video>/<NNNNN>.jpg` rows; empty for a plain video list."""
    frames: dict[str, list[int]] = {}
    for line in text.splitlines():
        location = line.strip().split(",")[0]
        if "/" in location and location.endswith(".jpg"):
            video, image = location.split("/")[-2:]
            frames.setdefault(video, []).append(int(image[:-4]))
    return frames


def parse_test_list(text: str, where: str) -> list[str]:
    """Video names of an ABAW test list: one per line; `<video>/<NNNNN>.jpg` rows are reduced to their video. A
    name must be one folder name (`../x` would reach outside the tree): anything else raises DataError naming
    `where` and the line."""
    names = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line == SUBMISSION_HEADER or line.startswith("image_location"):
            continue
        parts = line.split(",")[0].split("/")
        name = parts[0]
        if name in ("", ".", "..") or "\\" in name or len(parts) > 2 or not name.isprintable():
            raise DataError(
                f"{where}:{number}: invalid video name in '{line}' (one folder name, or <video>/<NNNNN>.jpg)"
            )
        if name not in names:
            names.append(name)
    return names
