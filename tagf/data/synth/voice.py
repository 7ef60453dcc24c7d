"""A voice-like 16 kHz signal whose pitch, loudness and spectral tilt follow arousal and valence.

Arousal drives pitch and loudness strongly (audio is good on arousal); valence only tilts the harmonic spectrum,
around a per-speaker tilt (audio is weak on valence). Voiced segments alternate with silences that carry nothing;
background noise is mixed at a per-video SNR.
"""

from __future__ import annotations

import numpy as np

from tagf.data.media import AUDIO_RATE as SAMPLE_RATE  # written at the rate every reader decodes at


def voiced_mask(rng: np.random.Generator, samples: int, sr: int) -> np.ndarray:
    """Alternating speech (mean 1.6 s) and silence (mean 0.7 s), with 20 ms fades."""
    mask = np.zeros(samples)
    t, voiced = 0, rng.random() < 0.7
    while t < samples:
        length = int(rng.exponential(1.6 if voiced else 0.7) * sr) + sr // 10
        mask[t : t + length] = float(voiced)
        t, voiced = t + length, not voiced
    fade = np.hanning(int(0.04 * sr))
    return np.convolve(mask, fade / fade.sum(), mode="same")


def loudness(arousal: np.ndarray) -> np.ndarray:
    """The voice's amplitude at each arousal (louder when aroused), at most 0.64."""
    return 0.04 + 0.3 * (arousal + 1.0)


def synthesize(
    rng: np.random.Generator,
    va_at_samples: np.ndarray,
    snr_db: float,
    sr: int = SAMPLE_RATE,
    voicing: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(samples,) mono float32 waveform in [-1, 1] and (samples,) voicing in [0, 1] (1: speech, 0: a pause).

    va_at_samples: (samples, 2) latent VA at each sample time; `voicing`: when the speech and pauses are given (as
    produced, then delayed to the audio's time), else drawn here."""
    samples = len(va_at_samples)
    valence, arousal = va_at_samples[:, 0], va_at_samples[:, 1]
    base_f0 = rng.uniform(120, 160)
    f0 = base_f0 * (1.0 + 0.5 * arousal) * (1.0 + 0.03 * np.sin(2 * np.pi * 5.0 * np.arange(samples) / sr))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    tilt = rng.uniform(0.9, 1.7) - 0.3 * valence  # harmonic roll-off exponent: brighter when positive
    voice = np.zeros(samples)
    for h in range(1, 13):
        voice += np.sin(h * phase) * h ** (-tilt)
    voicing = voiced_mask(rng, samples, sr) if voicing is None else voicing
    signal = voice * loudness(arousal) * voicing
    noise = rng.normal(0, 1, samples)
    power = np.mean(signal**2) + 1e-12
    noise *= np.sqrt(power / 10 ** (snr_db / 10)) / noise.std()
    mixed = signal + noise
    return (mixed / max(1.0, np.abs(mixed).max() * 1.05)).astype(np.float32), voicing
