"""The `sync` presets make audio-visual alignment observable, as in real speech: on the decoded media (face JPEGs,
the AVI's audio track), the correlation of each frame's mouth opening with the audio energy peaks where the audio
is shifted by that frame's ground-truth lag; and some videos are in sync."""

import json

import numpy as np
import pytest
from PIL import Image

from tagf.data.media import probe_video, read_audio
from tagf.data.synth.corpus import write_corpus
from tagf.data.synth.presets import PRESETS


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("sync") / "corpus"
    write_corpus(str(root), "sync_tiny", seed=0)
    return root


def mouth_opening(path) -> float:
    """The share of the lower face's pixels that are lip-red (brightness-free: red over the pixel's sum)."""
    lower = np.asarray(Image.open(path).convert("RGB"), dtype=float)
    lower = lower[lower.shape[0] // 2 :]
    return float((((lower[..., 0] - lower[..., 1]) / (lower.sum(-1) + 1)) > 0.25).mean())


def decoded(corpus, video: str) -> dict:
    """What the media of one video show: per frame, the mouth opening (NaN without a face) and the audio's energy;
    with the ground truth's local lag and outages."""
    table = np.loadtxt(corpus / "ground_truth" / "masks" / f"{video}.csv", delimiter=",", skiprows=1)
    media = str(corpus / "videos" / f"{video}.avi")
    info = probe_video(media)
    mouth = np.full(info.frames, np.nan)
    for t in range(info.frames):
        face = corpus / "cropped_aligned" / video / f"{t + 1:05d}.jpg"
        if face.exists():
            mouth[t] = mouth_opening(face)
    audio, per_frame = read_audio(media), 16000 / info.fps
    energy = [
        np.sqrt(np.mean(audio[int(t * per_frame) : int((t + 1) * per_frame)] ** 2))
        for t in range(info.frames)
    ]
    return {
        "fps": info.fps,
        "mouth": mouth,
        "energy": np.array(energy),
        "lag": table[:, 6],
        "outage": table[:, 2] > 0,
    }


def correlation(media: dict, delta_s: float) -> float:
    """Mouth at t against the audio energy `delta_s` away from where the ground truth puts t's voice."""
    frames = len(media["mouth"])
    source = np.arange(frames) + np.rint((media["lag"] + delta_s) * media["fps"]).astype(int)
    keep = ~np.isnan(media["mouth"]) & (source >= 0) & (source < frames)
    keep[keep] &= ~media["outage"][source[keep]]  # an outage carries no voice
    return float(np.corrcoef(media["mouth"][keep], media["energy"][source[keep]])[0, 1])


def test_the_mouth_opens_with_the_voice_at_the_videos_lag(corpus):
    for masks in sorted((corpus / "ground_truth" / "masks").glob("*.csv")):
        media = decoded(corpus, masks.stem)
        deltas = np.arange(-3.0, 3.0 + 1e-9, 1 / media["fps"])
        peak = deltas[int(np.argmax([correlation(media, d) for d in deltas]))]
        assert abs(peak) <= 2 / media["fps"], (
            f"{masks.stem}: the correlation peaks {peak:+.2f} s from its true lag"
        )
        assert correlation(media, 0.0) > 0.4, masks.stem


def test_a_quarter_of_the_videos_are_in_sync(corpus):
    assert (
        PRESETS["sync"].zero_lag_fraction == 0.25 and PRESETS["sync"].videos["test"] == 8
    )  # 40 in 5 corpora
    lags = json.loads((corpus / "ground_truth" / "lags.json").read_text())
    in_sync = [video for video, lag in lags.items() if lag == 0]
    assert in_sync  # seed 0 of sync_tiny has two
    for video in in_sync:
        table = np.loadtxt(corpus / "ground_truth" / "masks" / f"{video}.csv", delimiter=",", skiprows=1)
        assert (table[:, 6] == 0).all() and not table[:, 5].any()  # no drift, no desynchronised stretch
