"""`tagf synth`: write a synthetic corpus in Aff-Wild2's on-disk layout, with its ground truth beside it.

Per video: a latent VA trajectory at the video's fps; labels = latent + annotator noise, with unannotated (-5)
stretches; faces rendered from the latent VA at video time t; audio rendered from the latent VA at t - lag, so the
audio lags the video by a per-video `lag_s` (negative: audio leads). Media is an AVI with a tiny video track at the
video's fps and the 16 kHz PCM audio track, decoded later by the same code that reads Aff-Wild2.

    <root>/ground_truth/latent/<video>.csv   frame,valence,arousal (the noise-free latent)
    <root>/ground_truth/lags.json            {video: lag_s}
    <root>/ground_truth/synth.json           preset and seed that made the corpus
"""

from __future__ import annotations

import io
import json

import av
import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from tagf import storage
from tagf.data import affwild2_layout as layout
from tagf.data.synth.face_renderer import Identity, render_face
from tagf.data.synth.trajectory import latent_va
from tagf.data.synth.voice import SAMPLE_RATE, synthesize


class SynthPreset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    videos: dict[str, int] = Field(description="videos per split: train, validation, test")
    duration_s: tuple[float, float] = Field(description="video duration range")
    face_px: int = Field(64, gt=7, description="face image side")
    max_lag_s: float = Field(0.5, ge=0, description="per-video audio lag ~ U(-max, max)")
    unannotated_fraction: float = Field(0.03, ge=0, lt=1)
    face_dropout_fraction: float = Field(0.05, ge=0, lt=1)
    occlusion_fraction: float = Field(0.08, ge=0, lt=1)
    snr_db: tuple[float, float] = Field((8.0, 25.0), description="background noise SNR range")


PRESETS = {
    "tiny": SynthPreset(videos={"train": 4, "validation": 2, "test": 2}, duration_s=(12, 16), face_px=32),
    "default": SynthPreset(videos={"train": 14, "validation": 4, "test": 4}, duration_s=(30, 45), face_px=48),
    "large": SynthPreset(
        videos={"train": 300, "validation": 70, "test": 70}, duration_s=(30, 90), face_px=112
    ),
}


def _segments(rng: np.random.Generator, frames: int, fraction: float, mean_len: int) -> np.ndarray:
    """Boolean (frames,) with random stretches covering about `fraction` of the frames."""
    mask = np.zeros(frames, dtype=bool)
    if fraction <= 0:
        return mask
    count = max(1, round(frames * fraction / mean_len))
    for _ in range(count):
        length = max(1, int(rng.exponential(mean_len)))
        start = int(rng.integers(0, max(1, frames - length)))
        mask[start : start + length] = True
    return mask


def _avi_bytes(audio: np.ndarray, fps: int, frames: int, brightness: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="avi") as container:
        video = container.add_stream("mpeg4", rate=fps)
        video.width = video.height = 16
        video.pix_fmt = "yuv420p"
        sound = container.add_stream("pcm_s16le", rate=SAMPLE_RATE)
        sound.layout = "mono"
        for t in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), brightness[t], np.uint8), format="rgb24")
            container.mux(video.encode(frame))
        container.mux(video.encode())
        pcm = (audio * 32767).astype(np.int16)
        for start in range(0, len(pcm), SAMPLE_RATE // 10):
            chunk = av.AudioFrame.from_ndarray(
                pcm[None, start : start + SAMPLE_RATE // 10], format="s16", layout="mono"
            )
            chunk.sample_rate = SAMPLE_RATE
            container.mux(sound.encode(chunk))
        container.mux(sound.encode())
    return buffer.getvalue()


def _write_video(
    fs, root: str, name: str, split: str, preset: SynthPreset, rng: np.random.Generator
) -> float:
    fps = int(rng.choice([25, 30]))
    frames = int(rng.uniform(*preset.duration_s) * fps)
    latent = latent_va(rng, frames, fps)
    lag_s = float(rng.uniform(-preset.max_lag_s, preset.max_lag_s))

    labels = np.clip(
        latent + np.convolve(rng.normal(0, 0.08, (frames + 9)), np.ones(10) / 10, "valid")[:, None], -1, 1
    )
    labels[_segments(rng, frames, preset.unannotated_fraction, fps // 2)] = layout.UNANNOTATED
    text = layout.HEADER + "\n" + "".join(f"{v:.3f},{a:.3f}\n" for v, a in labels)
    storage.put(fs, f"{root}/{layout.ANNOTATION_DIR}/{layout.SPLIT_DIRS[split]}/{name}.txt", text.encode())
    storage.put(
        fs,
        f"{root}/ground_truth/latent/{name}.csv",
        (
            "frame,valence,arousal\n"
            + "".join(f"{t + 1},{v:.5f},{a:.5f}\n" for t, (v, a) in enumerate(latent))
        ).encode(),
    )

    identity = Identity.sample(rng)
    no_face = _segments(rng, frames, preset.face_dropout_fraction, fps)
    occluded = _segments(rng, frames, preset.occlusion_fraction, fps)
    light = 1.0 + 0.25 * np.sin(
        2 * np.pi * np.arange(frames) / (fps * rng.uniform(8, 20)) + rng.uniform(0, 6)
    )
    for t in range(frames):
        if no_face[t]:
            continue
        img = render_face(preset.face_px, identity, latent[t, 0], latent[t, 1], rng, light[t], occluded[t])
        buffer = io.BytesIO()
        img.save(buffer, format="JPEG", quality=90)
        storage.put(fs, f"{root}/{layout.FACES_DIR}/{name}/{layout.face_name(t + 1)}", buffer.getvalue())

    samples = int(frames / fps * SAMPLE_RATE)
    # The audio at time t expresses the latent state at t - lag (clamped at the ends).
    source_frames = (np.arange(samples) / SAMPLE_RATE - lag_s) * fps
    va_at_samples = np.stack(
        [np.interp(source_frames, np.arange(frames), latent[:, k]) for k in range(2)], axis=1
    )
    audio = synthesize(rng, va_at_samples, float(rng.uniform(*preset.snr_db)))
    storage.put(
        fs, f"{root}/{layout.VIDEO_DIR}/{name}.avi", _avi_bytes(audio, fps, frames, 100 + 80 * light / 1.25)
    )
    return lag_s


def write_corpus(
    root: str, preset: str | SynthPreset = "tiny", seed: int = 0, max_lag_s: float | None = None
) -> None:
    """Write the corpus at `root` (path or fsspec URL); published atomically, replacing what was there."""
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"unknown synth preset {preset!r}; known: {', '.join(PRESETS)}")
        preset = PRESETS[preset]
    if max_lag_s is not None:
        preset = preset.model_copy(update={"max_lag_s": max_lag_s})
    splits = [split for split, count in preset.videos.items() for _ in range(count)]
    names = [(split, f"synth{index:03d}") for index, split in enumerate(splits)]
    with storage.atomic_path(root) as (fs, tmp):
        lags = {}
        for index, (split, name) in enumerate(tqdm(names, desc="synth videos", unit="video")):
            lags[name] = _write_video(fs, tmp, name, split, preset, np.random.default_rng([seed, index]))
        tests = [name for split, name in names if split == "test"]
        storage.put(
            fs, f"{tmp}/{layout.ANNOTATION_DIR}/{layout.TEST_LIST}", "".join(f"{n}\n" for n in tests).encode()
        )
        storage.put(fs, f"{tmp}/ground_truth/lags.json", json.dumps(lags, indent=1, allow_nan=False).encode())
        meta = {"preset": preset.model_dump(), "seed": seed}
        storage.put(
            fs, f"{tmp}/ground_truth/synth.json", json.dumps(meta, indent=1, allow_nan=False).encode()
        )
