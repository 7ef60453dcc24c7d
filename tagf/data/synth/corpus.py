"""`tagf synth`: write a synthetic corpus in Aff-Wild2's on-disk layout, with its ground truth beside it.

Per video: a latent VA trajectory at the video's fps; labels = latent + annotator noise, with unannotated (-5)
stretches; faces rendered from the latent VA at video time t, except in face dropouts (no image); audio rendered
from the latent VA at t - lag_s[t], so the audio lags the video (negative: audio leads). The lag is a per-video
constant in the `tiny`/`default`/`large` presets; the `misaligned` presets add a linear drift, desynchronised
stretches (tagf.data.synth.audio_lag), audio outages (near-zero energy), longer face dropouts and a latent that
jumps every ~1 s, so that a second of misalignment costs CCC. Media is an AVI with a tiny video track at the
video's fps and the 16 kHz PCM audio track, decoded later by the same code that reads Aff-Wild2.

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
"""

from __future__ import annotations

import io
import json

import av
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator
from tqdm import tqdm

from tagf import storage
from tagf.data import affwild2_layout as layout
from tagf.data.synth.audio_lag import lag_per_frame
from tagf.data.synth.face_renderer import Identity, render_face
from tagf.data.synth.stretches import stretches
from tagf.data.synth.trajectory import latent_va
from tagf.data.synth.voice import SAMPLE_RATE, synthesize
from tagf.errors import ParamsError


class SynthPreset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    videos: dict[str, int] = Field(description="videos per split: train, validation, test")
    duration_s: tuple[float, float] = Field(description="video duration range")
    face_px: int = Field(64, gt=7, description="face image side")
    max_lag_s: float = Field(0.5, ge=0, description="per-video (mean) audio lag ~ U(-max, max)")
    max_lag_drift_s: float = Field(
        0, ge=0, description="the lag moves linearly by ~U(-max, max) over a video"
    )
    desync_fraction: float = Field(0, ge=0, lt=1, description="frames in stretches where the lag jumps")
    desync_mean_s: float = Field(3.0, gt=0, description="mean length of a desynchronised stretch")
    desync_offset_s: tuple[float, float] = Field((1.0, 2.5), description="size range of a jump; either sign")
    unannotated_fraction: float = Field(0.03, ge=0, lt=1)
    face_dropout_fraction: float = Field(0.05, ge=0, lt=1)
    audio_outage_fraction: float = Field(0, ge=0, lt=1, description="frames whose audio carries nothing")
    outage_mean_s: float = Field(1.0, gt=0, description="mean length of a face dropout or audio outage")
    occlusion_fraction: float = Field(0.08, ge=0, lt=1)
    snr_db: tuple[float, float] = Field((8.0, 25.0), description="background noise SNR range")
    latent_jump_every_s: float = Field(15.0, gt=0, description="mean time between the latent's jumps")

    @field_validator("desync_offset_s")
    @classmethod
    def _ordered_offsets(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= value[0] <= value[1]:
            raise ValueError(f"expected 0 <= low <= high seconds, got {value}")
        return value


PRESETS = {
    "tiny": SynthPreset(videos={"train": 4, "validation": 2, "test": 2}, duration_s=(12, 16), face_px=32),
    "default": SynthPreset(videos={"train": 14, "validation": 4, "test": 4}, duration_s=(30, 45), face_px=48),
    "large": SynthPreset(
        videos={"train": 300, "validation": 70, "test": 70}, duration_s=(30, 90), face_px=112
    ),
}
# Every misalignment at once, on a latent fast enough that 1 s of lag costs CCC: CCC(latent(t), latent(t - 1 s))
# is about 0.50 with a jump every 1 s, against 0.91 with the 15 s of the presets above (40 default-size videos).
_MISALIGNMENT = {
    "max_lag_s": 2.0,
    "max_lag_drift_s": 1.0,
    "desync_fraction": 0.1,
    "face_dropout_fraction": 0.1,
    "audio_outage_fraction": 0.08,
    "outage_mean_s": 2.0,
    "latent_jump_every_s": 1.0,
}
PRESETS |= {
    "misaligned": PRESETS["default"].model_copy(update=_MISALIGNMENT),
    "misaligned_tiny": PRESETS["tiny"].model_copy(update=_MISALIGNMENT),
}

MASK_HEADER = "frame,voiced,audio_outage,face_visible,occluded,desynced,local_lag_s"


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


def _audio(
    rng: np.random.Generator,
    latent: np.ndarray,
    fps: int,
    local_lag_s: np.ndarray,
    audio_outage: np.ndarray,
    snr_db: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """(samples,) waveform whose voice expresses the latent at t - local_lag_s, and (frames,) voiced flags."""
    frames = len(latent)
    samples = int(frames / fps * SAMPLE_RATE)
    frame_of_sample = np.arange(samples) * fps // SAMPLE_RATE  # (samples,) the frame each sample falls in
    # The audio at time t expresses the latent state at t - lag (clamped at the ends).
    source_frames = (np.arange(samples) / SAMPLE_RATE - local_lag_s[frame_of_sample]) * fps
    va_at_samples = np.stack(
        [np.interp(source_frames, np.arange(frames), latent[:, k]) for k in range(2)], axis=1
    )
    audio, voicing = synthesize(rng, va_at_samples, float(rng.uniform(*snr_db)))
    outage = audio_outage[frame_of_sample]
    if outage.any():  # a dead capture chain: no voice, no room noise, only a faint dither (about -80 dBFS)
        audio[outage] = rng.normal(0, 1e-4, int(outage.sum()))
    samples_per_frame = np.bincount(frame_of_sample, minlength=frames)  # (frames,)
    voiced_share = np.bincount(frame_of_sample, voicing, frames) / samples_per_frame
    return audio, (voiced_share >= 0.5) & ~audio_outage


def _write_video(
    fs, root: str, name: str, split: str, preset: SynthPreset, rng: np.random.Generator
) -> float:
    """Write one video's labels, faces, media and ground truth; returns its mean lag (lags.json)."""
    fps = int(rng.choice([25, 30]))
    frames = int(rng.uniform(*preset.duration_s) * fps)
    latent = latent_va(rng, frames, fps, preset.latent_jump_every_s)
    lag_s = float(rng.uniform(-preset.max_lag_s, preset.max_lag_s))
    local_lag_s, desynced = lag_per_frame(
        rng,
        frames,
        fps,
        mean_lag_s=lag_s,
        max_drift_s=preset.max_lag_drift_s,
        desync_fraction=preset.desync_fraction,
        desync_mean_s=preset.desync_mean_s,
        desync_offset_s=preset.desync_offset_s,
    )

    labels = np.clip(
        latent + np.convolve(rng.normal(0, 0.08, (frames + 9)), np.ones(10) / 10, "valid")[:, None], -1, 1
    )
    labels[stretches(rng, frames, preset.unannotated_fraction, fps // 2)] = layout.UNANNOTATED
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
    outage_frames = max(1, round(preset.outage_mean_s * fps))
    no_face = stretches(rng, frames, preset.face_dropout_fraction, outage_frames)
    occluded = stretches(rng, frames, preset.occlusion_fraction, fps)
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

    audio_outage = stretches(rng, frames, preset.audio_outage_fraction, outage_frames)
    audio, voiced = _audio(rng, latent, fps, local_lag_s, audio_outage, preset.snr_db)
    storage.put(
        fs, f"{root}/{layout.VIDEO_DIR}/{name}.avi", _avi_bytes(audio, fps, frames, 100 + 80 * light / 1.25)
    )
    flags = np.stack([voiced, audio_outage, ~no_face, occluded & ~no_face, desynced], axis=1).astype(int)
    storage.put(
        fs,
        f"{root}/ground_truth/masks/{name}.csv",
        (
            f"{MASK_HEADER}\n"
            + "".join(
                f"{t + 1},{','.join(map(str, f))},{lag:.5f}\n"
                for t, (f, lag) in enumerate(zip(flags, local_lag_s))
            )
        ).encode(),
    )
    return lag_s


def write_corpus(
    root: str, preset: str | SynthPreset = "tiny", seed: int = 0, max_lag_s: float | None = None
) -> None:
    """Write the corpus at `root` (path or fsspec URL); published atomically, replacing what was there."""
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ParamsError(f"unknown synth preset {preset!r}; known: {', '.join(PRESETS)}")
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
