"""The misalignment scenarios of the synthetic corpus: a latent that moves within a second, and masks that say what
the media really hold (checked on the decoded media, not on the generator's intermediates)."""

import json
from pathlib import Path

import numpy as np
import pytest

from tagf.data import affwild2_layout as layout
from tagf.data.media import AUDIO_RATE, probe_video, read_audio
from tagf.data.synth.corpus import write_corpus
from tagf.data.synth.ground_truth import MASK_HEADER
from tagf.data.synth.presets import PRESETS, SynthPreset
from tagf.metrics import ccc

SCENARIO = PRESETS["misaligned_tiny"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("misaligned") / "corpus"
    write_corpus(str(root), "misaligned_tiny", seed=0)
    return root


def _video(root: Path, video: str) -> dict:
    """The latent, masks, fps and decoded audio of one video."""
    latent = np.loadtxt(root / "ground_truth" / "latent" / f"{video}.csv", delimiter=",", skiprows=1)
    masks = np.loadtxt(root / "ground_truth" / "masks" / f"{video}.csv", delimiter=",", skiprows=1)
    url = str(root / layout.VIDEO_DIR / f"{video}.avi")
    return {
        "arousal": latent[:, 2],
        "voiced": masks[:, 1] > 0,
        "outage": masks[:, 2] > 0,
        "face": masks[:, 3] > 0,
        "occluded": masks[:, 4] > 0,
        "desynced": masks[:, 5] > 0,
        "lag_s": masks[:, 6],
        "fps": round(probe_video(url).fps),
        "audio": read_audio(url).astype(np.float64),
    }


def _frame_rms(audio: np.ndarray, fps: int, frames: int) -> np.ndarray:
    """(frames,) RMS of the samples in each frame's span [t/fps, (t+1)/fps)."""
    frame_of_sample = np.arange(len(audio)) * fps // AUDIO_RATE
    energy = np.bincount(frame_of_sample, audio**2, frames)
    return np.sqrt(energy / np.maximum(1, np.bincount(frame_of_sample, minlength=frames)))


def _pitch_hz(span: np.ndarray) -> float:
    """F0 of one frame's samples by autocorrelation, searched over 50-300 Hz."""
    span = span - span.mean()
    acf = np.fft.irfft(np.abs(np.fft.rfft(span, 2 * len(span))) ** 2)[: len(span)]
    low, high = AUDIO_RATE // 300, AUDIO_RATE // 50
    search = acf[low:high]
    # The first lag close to the best peak is the period; the best peak itself may sit at twice the period.
    k = int(np.flatnonzero(search >= 0.9 * search.max())[0])
    while k + 1 < len(search) and search[k + 1] > search[k]:
        k += 1
    return AUDIO_RATE / (low + k)


def test_one_second_of_lag_costs_ccc(corpus):
    """CCC(latent(t), latent(t - 1 s)) over all frames of all videos, concatenated (as a split's CCC is)."""
    later, earlier = [], []
    for path in sorted((corpus / "ground_truth" / "latent").glob("*.csv")):
        latent = np.loadtxt(path, delimiter=",", skiprows=1)[:, 1:]
        fps = round(probe_video(str(corpus / layout.VIDEO_DIR / f"{path.stem}.avi")).fps)
        later.append(latent[fps:])
        earlier.append(latent[:-fps])
    later, earlier = np.concatenate(later), np.concatenate(earlier)
    for dim in range(2):
        assert ccc(later[:, dim], earlier[:, dim]) <= 0.7  # measured 0.60 (valence), 0.52 (arousal)


def test_masks_have_a_row_per_frame(corpus):
    lags = json.loads((corpus / "ground_truth" / "lags.json").read_text())
    for video in lags:
        text = (corpus / "ground_truth" / "masks" / f"{video}.csv").read_text().splitlines()
        labels = (corpus / layout.ANNOTATION_DIR).glob(f"*/{video}.txt")
        assert text[0] == MASK_HEADER
        assert len(text) == len(next(labels).read_text().splitlines())
        assert [int(row.split(",")[0]) for row in text[1:]] == list(range(1, len(text)))


def test_face_visible_is_where_the_face_image_exists(corpus):
    for video in json.loads((corpus / "ground_truth" / "lags.json").read_text()):
        v = _video(corpus, video)
        exists = [
            (corpus / layout.FACES_DIR / video / layout.face_name(t + 1)).exists()
            for t in range(len(v["face"]))
        ]
        assert np.array_equal(v["face"], exists)
        assert not np.any(v["occluded"] & ~v["face"])


def test_audio_outage_is_where_the_audio_is_near_silent_and_voiced_where_it_is_loud(corpus):
    outage_frames = 0
    for video in json.loads((corpus / "ground_truth" / "lags.json").read_text()):
        v = _video(corpus, video)
        rms = _frame_rms(v["audio"], v["fps"], len(v["voiced"]))
        assert np.array_equal(rms < 1e-3, v["outage"])  # measured: outage ≤ 1.0e-4, elsewhere ≥ 6.7e-3
        assert not np.any(v["voiced"] & v["outage"])
        # Voiced frames are louder than the pauses around them (the noise floor): area under the ROC curve.
        loud, quiet = rms[v["voiced"]], rms[~v["voiced"] & ~v["outage"]]
        assert np.mean(loud[:, None] > quiet[None, :]) >= 0.97  # measured ≥ 0.991
        outage_frames += v["outage"].sum()
    assert outage_frames > 0


def test_local_lag_is_the_lag_the_audio_has(corpus):
    """The voice's pitch is base_f0 · (1 + 0.5 · arousal) (± 3 % vibrato); read back from the decoded audio, it
    follows the arousal at t − local_lag_s better than at any other candidate lag, frame by frame."""
    lags = json.loads((corpus / "ground_truth" / "lags.json").read_text())
    desync_errors = {"local": [], "without jumps": []}
    local_errors = []
    for video, mean_lag_s in lags.items():
        v = _video(corpus, video)
        fps, frames = v["fps"], len(v["lag_s"])
        t = np.arange(frames)
        drift_s = np.polyval(np.polyfit(t[~v["desynced"]], v["lag_s"][~v["desynced"]], 1), t)
        candidates_s = {
            "local": v["lag_s"],
            "lags.json": np.full(frames, mean_lag_s),
            "without jumps": drift_s,
            "none": np.zeros(frames),
            "sign flipped": -v["lag_s"],
            "0.25 s later": v["lag_s"] + 0.25,
            "0.25 s earlier": v["lag_s"] - 0.25,
        }
        voiced = np.flatnonzero(v["voiced"])
        span = AUDIO_RATE / fps
        f0_hz = np.array([_pitch_hz(v["audio"][int(i * span) : int((i + 1) * span)]) for i in voiced])
        source = {
            name: voiced + 0.5 - lag_s[voiced] * fps for name, lag_s in candidates_s.items()
        }  # in frames
        inside = np.all([(s >= 0) & (s <= frames - 1) for s in source.values()], axis=0)
        errors = {}
        for name, s in source.items():
            predicted = 1 + 0.5 * np.interp(s[inside], t, v["arousal"])
            base_hz = np.median(f0_hz[inside] / predicted)  # each candidate gets its own best speaker pitch
            errors[name] = np.abs(f0_hz[inside] - base_hz * predicted) / f0_hz[inside]
        assert errors["local"].mean() <= 0.025, video  # the vibrato alone: 3 % · mean |sin| = 1.9 %
        for name, error in errors.items():
            assert name == "local" or error.mean() > errors["local"].mean(), (video, name)
        local_errors.append(errors["local"])
        in_jump = v["desynced"][voiced][inside]
        for name in desync_errors:
            desync_errors[name].append(errors[name][in_jump])
    # Frame by frame, not only on average: the lag is right at the edges of a jump too (3 + 1.25 % at most: the
    # vibrato and the autocorrelation's one-sample resolution; measured: 2 of 1669 frames beyond 6 %).
    assert np.mean(np.concatenate(local_errors) > 0.06) <= 0.01
    local, without = (np.concatenate(desync_errors[n]).mean() for n in ("local", "without jumps"))
    assert local <= 0.025 and without >= 3 * local  # measured: 0.019 against 0.18


def test_lags_json_is_the_mean_lag_without_the_jumps(corpus):
    for video, mean_lag_s in json.loads((corpus / "ground_truth" / "lags.json").read_text()).items():
        v = _video(corpus, video)
        t = np.arange(len(v["lag_s"]))
        drift_s = np.polyval(np.polyfit(t[~v["desynced"]], v["lag_s"][~v["desynced"]], 1), t)
        assert abs(drift_s.mean() - mean_lag_s) < 1e-4
        assert abs(mean_lag_s) <= SCENARIO.max_lag_s
        assert abs(drift_s[-1] - drift_s[0]) <= SCENARIO.max_lag_drift_s + 1e-4
        jump_s = np.abs(v["lag_s"] - drift_s)
        low, high = SCENARIO.desync_offset_s
        assert np.all(jump_s[~v["desynced"]] < 1e-4)
        assert np.all((jump_s[v["desynced"]] > low - 1e-4) & (jump_s[v["desynced"]] < high + 1e-4))


MICRO = PRESETS["misaligned_tiny"].model_copy(
    update={"videos": {"train": 1, "validation": 1}, "duration_s": (4, 5), "face_px": 16}
)


def test_same_seed_same_bytes(tmp_path):
    write_corpus(str(tmp_path / "a"), MICRO, seed=5)
    write_corpus(str(tmp_path / "b"), MICRO, seed=5)
    write_corpus(str(tmp_path / "c"), MICRO, seed=6)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    masks = "ground_truth/masks/synth000.csv"
    assert (tmp_path / "a" / masks).read_bytes() != (tmp_path / "c" / masks).read_bytes()


def test_desync_offsets_must_be_an_ordered_range():
    with pytest.raises(ValueError, match="desync_offset_s"):
        SynthPreset(videos={"train": 1}, duration_s=(2, 3), desync_offset_s=(2.0, 1.0))
