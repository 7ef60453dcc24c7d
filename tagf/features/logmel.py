"""VGGish's log-mel front end, and one 96×64 patch per video frame.

VGGish: 16 kHz mono, 25 ms Hann window, 10 ms hop, 64 HTK-mel bands over 125-7500 Hz, log(mel + 0.01). The mel
filterbank is librosa's. A video frame's patch is the 96 spectrogram rows (0.96 s) centred on the frame's time;
beyond the ends of the recording the patch is filled with silence (log 0.01).
"""

from __future__ import annotations

import librosa
import numpy as np

from tagf.data.media import AUDIO_RATE as SAMPLE_RATE  # every file is decoded at VGGish's 16 kHz

WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
FFT = 512
MELS = 64
PATCH_ROWS = 96  # 0.96 s
LOG_OFFSET = 0.01
_MEL = librosa.filters.mel(
    sr=SAMPLE_RATE, n_fft=FFT, n_mels=MELS, fmin=125.0, fmax=7500.0, htk=True, norm=None
)


def log_mel(audio: np.ndarray) -> np.ndarray:
    """(rows, 64) log-mel spectrogram, one row per 10 ms."""
    if len(audio) < WINDOW:
        audio = np.pad(audio, (0, WINDOW - len(audio)))
    frames = np.lib.stride_tricks.sliding_window_view(audio, WINDOW)[::HOP]  # (rows, 400)
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(WINDOW + 1)[:-1], n=FFT))  # periodic Hann, (rows, 257)
    return np.log(spectrum @ _MEL.T + LOG_OFFSET).astype(np.float32)


def frame_patches(spectrogram: np.ndarray, fps: float, frames: int) -> np.ndarray:
    """(frames, 96, 64): for video frame t (0-based, at t/fps seconds) the rows centred on it."""
    pad = PATCH_ROWS // 2
    padded = np.pad(spectrogram, ((pad, pad + 1), (0, 0)), constant_values=np.log(LOG_OFFSET))
    centres = np.round(np.arange(frames) / fps * SAMPLE_RATE / HOP).astype(int)
    centres = np.clip(centres, 0, len(spectrogram))
    rows = centres[:, None] + np.arange(PATCH_ROWS)[None, :]  # row c-48..c+47 of the original = c..c+95 here
    return padded[rows]
