"""What a synthetic corpus knows and a real one does not, on disk: the format `tagf synth` writes beside the corpus
and every reader of it.

    <root>/ground_truth/latent/<video>.csv   frame,valence,arousal (the noise-free latent)
    <root>/ground_truth/lags.json            {video: lag_s}: the mean over the video of its lag without the
                                             desynchronised jumps (for a constant lag, that lag)
    <root>/ground_truth/masks/<video>.csv    frame,voiced,audio_outage,face_visible,occluded,desynced,local_lag_s
    <root>/ground_truth/synth.json           preset and seed that made the corpus

A mask row per video frame (`frame` 1-indexed, as in latent/); the flags are 0/1 and describe the media at that
frame's time span [(frame-1)/fps, frame/fps):
    voiced        the audio carries speech (at least half of the span; pauses and outages are 0)
    audio_outage  the audio carries nothing: no voice, no background noise, near-zero energy (about -80 dBFS)
    face_visible  cropped_aligned/<video>/<frame>.jpg exists
    occluded      that face image has an occluder drawn over it (0 when there is no face)
    desynced      inside a desynchronised stretch: local_lag_s has jumped away from the video's drifting lag
    local_lag_s   the lag the audio has over that span, in seconds (drift and desync included): its samples
                  express the latent at their own time minus local_lag_s

Readers find the corpus from a feature store through its manifest's corpus root; for any other corpus there is no
<root>/ground_truth and they return None.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, replace

import numpy as np

from tagf import storage
from tagf.data.feature_store import SplitArrays, read_manifest
from tagf.errors import DataError

GROUND_TRUTH = "ground_truth"  # the folder beside the corpus that holds it
MASK_HEADER = "frame,voiced,audio_outage,face_visible,occluded,desynced,local_lag_s"
MASK_FLAGS = tuple(MASK_HEADER.split(",")[1:-1])


def latent_path(root: str, video: str) -> str:
    return storage.join(root, GROUND_TRUTH, "latent", f"{video}.csv")


def mask_path(root: str, video: str) -> str:
    return storage.join(root, GROUND_TRUTH, "masks", f"{video}.csv")


def lags_path(root: str) -> str:
    return storage.join(root, GROUND_TRUTH, "lags.json")


def meta_path(root: str) -> str:
    return storage.join(root, GROUND_TRUTH, "synth.json")


def latent_csv(latent: np.ndarray) -> bytes:
    """latent/<video>.csv of (frames, 2) valence and arousal."""
    rows = "".join(f"{t + 1},{v:.5f},{a:.5f}\n" for t, (v, a) in enumerate(latent))
    return ("frame,valence,arousal\n" + rows).encode()


def mask_csv(flags: np.ndarray, local_lag_s: np.ndarray) -> bytes:
    """masks/<video>.csv of (frames, len(MASK_FLAGS)) 0/1 flags and (frames,) lags in seconds."""
    rows = "".join(
        f"{t + 1},{','.join(map(str, f))},{lag:.5f}\n" for t, (f, lag) in enumerate(zip(flags, local_lag_s))
    )
    return (f"{MASK_HEADER}\n" + rows).encode()


def synthetic_root(store: str) -> str | None:
    """The root of the synthetic corpus the store was extracted from; None for other corpora."""
    root = read_manifest(store).get("corpus", {}).get("root")
    if not root or not storage.exists(storage.join(root, GROUND_TRUTH)):
        return None
    return root


def latent_labels(store: str, split: SplitArrays) -> np.ndarray | None:
    """(N, 2) noise-free VA of a synthetic corpus, aligned with the split's rows; None for other corpora."""
    root = synthetic_root(store)
    if root is None:
        return None
    latent = np.zeros_like(split.labels)
    for v, video in enumerate(split.videos):
        text = storage.read_text(latent_path(root, video))
        table = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1, ndmin=2)
        rows = split.video_slice(v)
        latent[rows] = table[split.frames[rows] - 1, 1:3]
    return latent


@dataclass(frozen=True)
class AudioLags:
    """Each video's built-in audio lag (positive: the audio is late, as a positive applied shift makes it)."""

    videos: list[str]
    lag_s: np.ndarray  # (V,) seconds
    fps: np.ndarray  # (V,) frames per second, to turn a shift in frames into seconds

    def effective_s(self, shift_frames) -> np.ndarray:
        """(V,) the lag a model faces once the audio is shifted by `shift_frames` (one, or (V,)) more."""
        return self.lag_s + np.asarray(shift_frames) / self.fps


def audio_lags(store: str, split: SplitArrays) -> AudioLags | None:
    """The built-in lags of the split's videos (ground_truth/lags.json); None for other corpora."""
    root = synthetic_root(store)
    if root is None:
        return None
    lags = json.loads(storage.read_text(lags_path(root)))
    missing = [v for v in split.videos if v not in lags]
    if missing:
        raise DataError(f"{lags_path(root)}: no lag for video(s) {', '.join(missing)}")
    fps = np.array([split.fps[v] for v in split.videos])
    return AudioLags(list(split.videos), np.array([lags[v] for v in split.videos]), fps)


def has_masks(root: str) -> bool:
    return storage.exists(storage.join(root, GROUND_TRUTH, "masks"))


def mask_columns(root: str, split: SplitArrays) -> dict[str, np.ndarray]:
    """{column of MASK_HEADER but frame: (N,) values aligned with the split's rows} of a corpus with masks; flags as
    bool, local_lag_s as float."""
    names = MASK_HEADER.split(",")[1:]
    out = {name: np.zeros(len(split.frames), bool) for name in MASK_FLAGS} | {
        "local_lag_s": np.zeros(len(split.frames))
    }
    for v, video in enumerate(split.videos):
        path = mask_path(root, video)
        if not storage.exists(path):
            raise DataError(f"{path}: no mask for video {video}, though the corpus has masks for others")
        text = storage.read_text(path)
        if text.split("\n", 1)[0].strip() != MASK_HEADER:
            raise DataError(f"{path}: expected the header {MASK_HEADER!r}")
        table = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1, ndmin=2)  # (frames, 1 + columns)
        rows = split.video_slice(v)
        frames = split.frames[rows] - 1  # 0-based rows of the mask
        if frames.max(initial=-1) >= len(table):
            raise DataError(f"{path}: {len(table)} rows, but the split has frame {int(frames.max()) + 1}")
        for k, name in enumerate(names, start=1):
            values = table[frames, k]
            out[name][rows] = values > 0 if name in MASK_FLAGS else values
    return out


def with_lags(store: str, split: SplitArrays) -> SplitArrays:
    """The split with each frame's ground-truth audio lag (`true_lag_s`): from the masks (drift and jumps included),
    else the per-video lags; as it was for a corpus without ground truth."""
    root = synthetic_root(store)
    if root is None:
        return split
    if has_masks(root):
        return replace(split, true_lag_s=mask_columns(root, split)["local_lag_s"])
    lags = audio_lags(store, split)
    return replace(split, true_lag_s=np.repeat(lags.lag_s, np.diff(split.offsets)))
