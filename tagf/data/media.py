"""Decoding the media of a video: frame rate and count from the container, audio as 16 kHz mono float32.

Uses PyAV (FFmpeg) for video containers and soundfile for pre-extracted WAV; both read through fsspec.
Failures raise MediaError, whose message is the reason in user terms (the caller names the file).
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np
import soundfile

from tagf import storage
from tagf.errors import DataError

AUDIO_RATE = 16_000


class MediaError(DataError):
    """A media file that does not decode; the message says why, without the decoder's internals."""


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    frames: int  # as the container declares it (or its declared duration × fps)
    present_frames: int  # video packets actually in the file: a truncated file declares more than it holds
    audio_s: float | None  # seconds of audio packets in the file; None without an audio track


def probe_video(url: str) -> VideoInfo:
    """What the container declares, and how much of it the file really holds (every packet is read, not decoded:
    a truncated file keeps its header, so only reading to the end shows what is missing)."""
    fs, path = storage.filesystem(url)
    try:
        with fs.open(path, "rb") as f, av.open(f) as container:
            if not container.streams.video:
                raise MediaError("no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            if fps <= 0:
                raise MediaError("no frame rate")
            frames = stream.frames
            if not frames:  # some containers do not store the count: derive it from the duration
                if stream.duration:
                    frames = round(float(stream.duration * stream.time_base) * fps)
                elif container.duration:
                    frames = round(container.duration / 1e6 * fps)
                else:
                    raise MediaError(f"not a video: read as {container.format.long_name}, with no duration")
            audio = container.streams.audio[0] if container.streams.audio else None
            present_frames, audio_ticks = 0, 0
            # Demuxing only (no decoding) keeps this to the cost of reading the file.
            for packet in container.demux(*[s for s in (stream, audio) if s is not None]):
                if packet.size == 0:  # the demuxer's end-of-stream marker
                    continue
                if packet.stream is stream:
                    present_frames += 1
                else:
                    audio_ticks += packet.duration or 0
    except av.FFmpegError as err:
        raise MediaError(f"not a decodable video file ({err.strerror})") from None
    audio_s = float(audio_ticks * audio.time_base) if audio is not None else None
    return VideoInfo(fps=fps, frames=int(frames), present_frames=present_frames, audio_s=audio_s)


def probe_wav(url: str) -> float:
    """Duration in seconds of the samples a WAV file holds (libsndfile counts a truncated file's real samples)."""
    fs, path = storage.filesystem(url)
    try:
        with fs.open(path, "rb") as f:
            info = soundfile.info(f)
    except soundfile.LibsndfileError as err:
        raise MediaError(f"not a decodable WAV file ({err.error_string.rstrip('.')})") from None
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
                raise MediaError("no audio track")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
            chunks = []
            for frame in container.decode(audio=0):
                chunks.extend(r.to_ndarray()[0] for r in resampler.resample(frame))
            chunks.extend(r.to_ndarray()[0] for r in resampler.resample(None))
            return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
