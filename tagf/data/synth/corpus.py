"""`tagf synth`: write a synthetic corpus in Aff-Wild2's on-disk layout, with its ground truth beside it.

Per video: a latent VA trajectory at the video's fps; labels = latent + annotator noise, with unannotated (-5)
stretches; faces rendered from the latent VA at video time t, except in face dropouts (no image); audio rendered
from the latent VA at t - lag_s[t], so the audio lags the video (negative: audio leads). The lag is a per-video
constant in the `tiny`/`default`/`large` presets; the `misaligned` presets add a linear drift, desynchronised
stretches (tagf.data.synth.audio_lag), audio outages (near-zero energy), longer face dropouts and a latent that
jumps every ~1 s, so that a second of misalignment costs CCC. The `sync` presets make the alignment observable: the
mouth opens with the voice's energy when the speech is produced (heard local_lag_s later), and a quarter of the
videos are in sync. Media is an AVI with a tiny video track at the
video's fps and the 16 kHz PCM audio track, decoded later by the same code that reads Aff-Wild2. The ground truth
beside it (latent, lags, per-frame masks) is in tagf.data.synth.ground_truth's format.
"""

from __future__ import annotations

import io
import json

import av
import numpy as np
from tqdm import tqdm

from tagf import storage
from tagf.data import affwild2_layout as layout
from tagf.data.synth import ground_truth
from tagf.data.synth.audio_lag import lag_per_frame
from tagf.data.synth.face_renderer import Identity, render_face
from tagf.data.synth.presets import PRESETS, SynthPreset
from tagf.data.synth.stretches import stretches
from tagf.data.synth.trajectory import latent_va
from tagf.data.synth.voice import SAMPLE_RATE, loudness, synthesize, voiced_mask
from tagf.errors import ParamsError


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


def _speech(rng: np.random.Generator, latent: np.ndarray, fps: int) -> tuple[np.ndarray, np.ndarray]:
    """When the speech is produced (mouth_sync presets): (samples,) voicing in production time, and (frames,) how far
    the mouth opens at each video frame, the voice's energy then, in [0, 1]."""
    frames = len(latent)
    samples = int(frames / fps * SAMPLE_RATE)
    frame_of_sample = np.arange(samples) * fps // SAMPLE_RATE
    voicing = voiced_mask(rng, samples, SAMPLE_RATE)
    energy = voicing * loudness(latent[frame_of_sample, 1]) / loudness(np.ones(1))  # (samples,) in [0, 1]
    mouth = np.bincount(frame_of_sample, energy, frames) / np.bincount(frame_of_sample, minlength=frames)
    return voicing, np.clip(mouth, 0.0, 1.0)


def _audio(
    rng: np.random.Generator,
    latent: np.ndarray,
    fps: int,
    local_lag_s: np.ndarray,
    audio_outage: np.ndarray,
    snr_db: tuple[float, float],
    produced: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(samples,) waveform whose voice expresses the latent at t - local_lag_s, and (frames,) voiced flags.
    `produced`: the speech's voicing in production time (mouth_sync), heard local_lag_s later like the rest."""
    frames = len(latent)
    samples = int(frames / fps * SAMPLE_RATE)
    frame_of_sample = np.arange(samples) * fps // SAMPLE_RATE  # (samples,) the frame each sample falls in
    # The audio at time t expresses the latent state at t - lag (clamped at the ends).
    source_frames = (np.arange(samples) / SAMPLE_RATE - local_lag_s[frame_of_sample]) * fps
    va_at_samples = np.stack(
        [np.interp(source_frames, np.arange(frames), latent[:, k]) for k in range(2)], axis=1
    )
    voicing = None
    if produced is not None:  # the voicing heard at t is the one produced at t - lag
        voicing = np.interp(source_frames / fps * SAMPLE_RATE, np.arange(samples), produced)
    audio, voicing = synthesize(rng, va_at_samples, float(rng.uniform(*snr_db)), voicing=voicing)
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
    in_sync = preset.zero_lag_fraction > 0 and bool(rng.random() < preset.zero_lag_fraction)
    lag_s = 0.0 if in_sync else float(rng.uniform(-preset.max_lag_s, preset.max_lag_s))
    local_lag_s, desynced = lag_per_frame(
        rng,
        frames,
        fps,
        mean_lag_s=lag_s,
        max_drift_s=0 if in_sync else preset.max_lag_drift_s,
        desync_fraction=0 if in_sync else preset.desync_fraction,
        desync_mean_s=preset.desync_mean_s,
        desync_offset_s=preset.desync_offset_s,
    )
    produced, mouth = _speech(rng, latent, fps) if preset.mouth_sync else (None, np.zeros(frames))

    labels = np.clip(
        latent + np.convolve(rng.normal(0, 0.08, (frames + 9)), np.ones(10) / 10, "valid")[:, None], -1, 1
    )
    labels[stretches(rng, frames, preset.unannotated_fraction, fps // 2)] = layout.UNANNOTATED
    text = layout.HEADER + "\n" + "".join(f"{v:.3f},{a:.3f}\n" for v, a in labels)
    storage.put(fs, f"{root}/{layout.ANNOTATION_DIR}/{layout.SPLIT_DIRS[split]}/{name}.txt", text.encode())
    storage.put(fs, ground_truth.latent_path(root, name), ground_truth.latent_csv(latent))

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
        img = render_face(
            preset.face_px, identity, latent[t, 0], latent[t, 1], rng, light[t], occluded[t], mouth[t]
        )
        buffer = io.BytesIO()
        img.save(buffer, format="JPEG", quality=90)
        storage.put(fs, f"{root}/{layout.FACES_DIR}/{name}/{layout.face_name(t + 1)}", buffer.getvalue())

    audio_outage = stretches(rng, frames, preset.audio_outage_fraction, outage_frames)
    audio, voiced = _audio(rng, latent, fps, local_lag_s, audio_outage, preset.snr_db, produced)
    storage.put(
        fs, f"{root}/{layout.VIDEO_DIR}/{name}.avi", _avi_bytes(audio, fps, frames, 100 + 80 * light / 1.25)
    )
    flags = np.stack([voiced, audio_outage, ~no_face, occluded & ~no_face, desynced], axis=1).astype(int)
    storage.put(fs, ground_truth.mask_path(root, name), ground_truth.mask_csv(flags, local_lag_s))
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
        storage.put(fs, ground_truth.lags_path(tmp), json.dumps(lags, indent=1, allow_nan=False).encode())
        meta = {"preset": preset.described(), "seed": seed}
        storage.put(fs, ground_truth.meta_path(tmp), json.dumps(meta, indent=1, allow_nan=False).encode())
