"""Windows over the videos of a split, with the audio shifted against the video when asked.

A window is (video, start): frames start..start+L-1 of one video. Starts step by the hop, and a last window is
aligned to the video's end, so every frame is covered (predictions stitch back per frame). A video shorter than L
gives one window padded at the end; `frame_mask` marks real frames.

Audio shift by k frames: the audio at video frame t is the audio of frame t - k (k > 0 delays the audio). A frame
whose source falls outside the video has no audio: it gets zeros (as padding does), is marked false in
`audio_valid`, and is left out of scoring (`audio_inside_video`) rather than scored as if it were misaligned.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch

from tagf.data.feature_store import SplitArrays
from tagf.errors import DataError


def window_starts(frames: int, length: int, hop: int) -> list[int]:
    if hop <= 0 or length <= 0:
        raise ValueError(f"window length and hop must be positive (got L={length}, hop={hop})")
    if frames <= length:
        return [0]
    starts = list(range(0, frames - length + 1, hop))
    if starts[-1] + length < frames:
        starts.append(frames - length)
    return starts


@dataclass
class WindowBatch:
    visual: torch.Tensor  # (B, L, Dv)
    audio: torch.Tensor  # (B, L, Da)
    labels: torch.Tensor  # (B, L, 2)
    label_mask: torch.Tensor  # (B, L) labelled real frames
    frame_mask: torch.Tensor  # (B, L) real (not padded) frames
    audio_valid: torch.Tensor  # (B, L) audio source inside the video
    video: np.ndarray  # (B,) video index in the split
    start: np.ndarray  # (B,) first frame (0-based) of each window

    def to(self, device: torch.device) -> WindowBatch:
        tensors = {k: v.to(device) for k, v in vars(self).items() if isinstance(v, torch.Tensor)}
        return replace(self, **tensors)


class Windows:
    """All windows of one split; `batches()` gathers them with vectorised indexing (no per-item Python work).

    `oracle_alignment`: each frame's audio is read where its ground-truth lag puts its voice (frame t hears the audio
    of t + round(true_lag_s·fps)), whatever shift is asked: a control that knows the effective lag and undoes it.
    `realign` (N,) frames per row: the offset a model found in the audio it was given (shift included), undone
    (frame t hears the shifted audio of t + realign): tagf.models.offset_search.
    """

    def __init__(
        self,
        split: SplitArrays,
        length: int,
        hop: int,
        oracle_alignment: bool = False,
        realign: np.ndarray | None = None,
    ):
        self.split, self.length, self.realign = split, length, realign
        self.oracle = None
        if oracle_alignment:
            if split.true_lag_s is None:
                raise DataError(
                    "oracle_align needs each frame's ground-truth audio lag, which only a synthetic corpus has "
                    "(ground_truth/); this split has none"
                )
            fps = np.repeat([split.fps[v] for v in split.videos], np.diff(split.offsets))
            self.oracle = np.rint(split.true_lag_s * fps).astype(np.int64)  # (N,) frames
        items = [
            (v, s)
            for v in range(len(split.videos))
            for s in window_starts(int(split.offsets[v + 1] - split.offsets[v]), length, hop)
        ]
        self.video = np.array([v for v, _ in items], dtype=np.int64)
        self.start = np.array([s for _, s in items], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.video)

    def gather(self, items: np.ndarray, audio_shift: np.ndarray | int = 0) -> WindowBatch:
        """Windows `items` (indices into this set); `audio_shift` per window or one for all, in frames."""
        s = self.split
        video, start = self.video[items], self.start[items]
        offset = s.offsets[video][:, None]  # (B, 1)
        frames = (s.offsets[video + 1] - s.offsets[video])[:, None]  # (B, 1)
        t = start[:, None] + np.arange(self.length)[None, :]  # (B, L) frame within its video
        real = t < frames
        rows = offset + np.minimum(t, frames - 1)
        if self.oracle is not None:
            source = t + self.oracle[rows]  # where the voice of frame t is, in the original audio
        else:
            source = t - np.broadcast_to(np.asarray(audio_shift), video.shape)[:, None]
            if self.realign is not None:
                source = source + self.realign[rows]
        audio_valid = real & (source >= 0) & (source < frames)
        # Any row in range: where there is no source (audio_valid false) the audio is zeroed below.
        audio_rows = offset + np.clip(source, 0, frames - 1)
        keep = torch.from_numpy(real).unsqueeze(-1)  # padded frames are zero
        return WindowBatch(
            visual=torch.from_numpy(s.visual[rows]).float() * keep,
            audio=torch.from_numpy(s.audio[audio_rows]).float() * torch.from_numpy(audio_valid).unsqueeze(-1),
            labels=torch.from_numpy(s.labels[rows]),
            label_mask=torch.from_numpy(s.label_valid[rows] & real),
            frame_mask=torch.from_numpy(real),
            audio_valid=torch.from_numpy(audio_valid),
            video=video,
            start=start,
        )

    def batches(
        self,
        batch_size: int,
        rng: np.random.Generator | None = None,
        max_audio_shift: int = 0,
        audio_shift: int = 0,
    ) -> Iterator[WindowBatch]:
        """In order, or shuffled by `rng`; with `max_audio_shift` > 0 each window gets a random shift in ±max."""
        order = np.arange(len(self)) if rng is None else rng.permutation(len(self))
        for first in range(0, len(order), batch_size):
            items = order[first : first + batch_size]
            shift = audio_shift
            if max_audio_shift > 0 and rng is not None:
                shift = rng.integers(-max_audio_shift, max_audio_shift + 1, size=len(items))
            yield self.gather(items, shift)


def audio_inside_video(split: SplitArrays, audio_shift: int) -> np.ndarray:
    """(N,) per row of the split: whether its audio, shifted by `audio_shift` frames, comes from its own video.

    A shift of k frames leaves |k| frames of each video (of at least |k| frames) without audio.
    """
    lengths = np.diff(split.offsets)  # (V,)
    first = np.repeat(split.offsets[:-1], lengths)  # (N,) first row of each row's video
    t = np.arange(int(split.offsets[-1])) - first  # (N,) frame within its video
    source = t - audio_shift
    return (source >= 0) & (source < np.repeat(lengths, lengths))
