"""Decoding the media of a video: frame rate and count from the container, audio as 16 kHz mono float32.

Uses PyAV (FFmpeg) for video containers and soundfile for pre-extracted WAV; both read through fsspec.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np
import soundfile

from tagf import storage

AUDIO_RATE = 16_000


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    frames: int
    has_audio: bool


def probe_video(url: str) -> VideoInfo:
    fs, path = storage.filesystem(url)
    with fs.open(path, "rb") as f, av.open(f) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        if fps <= 0:
            raise ValueError("no frame rate")
        frames = stream.frames
        if not frames:  # some containers do not store the count: derive it from the duration
            duration = (
                float(stream.duration * stream.time_base) if stream.duration else container.duration / 1e6
            )
            frames = round(duration * fps)
        return VideoInfo(fps=fps, frames=int(frames), has_audio=bool(container.streams.audio))


def probe_wav(url: str) -> float:
    """Duration in seconds of a WAV file; raises if it does not decode."""
    fs, path = storage.filesystem(url)
    with fs.open(path, "rb") as f:
        info = soundfile.info(f)
    return info.frames / info.samplerate


def read_audio(url: str) -> np.ndarray:
    """(samples,) float32 mono at 16 kHz from a .wav or from the audio track of a video container."""
    fs, path = storage.filesystem(url)
    with fs.open(path, "rb") as f:
        if path.lower().endswith(".wav"):
            data, rate = soundfile.read(f, dtype="float32", always_2d=True)
            mono = data.mean(axis=1)
            if rate == AUDIO_RATE:
                return mono
            import librosa

            return librosa.resample(mono, orig_sr=rate, target_sr=AUDIO_RATE).astype(np.float32)
        with av.open(f) as container:
            if not container.streams.audio:
                raise ValueError("no audio track")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
            chunks = []
            for frame in container.decode(audio=0):
                chunks.extend(r.to_ndarray()[0] for r in resampler.resample(frame))
            chunks.extend(r.to_ndarray()[0] for r in resampler.resample(None))
            return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
