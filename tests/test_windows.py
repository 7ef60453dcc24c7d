import numpy as np
import pytest
import torch

from tagf.data.feature_store import SplitArrays
from tagf.data.windows import Windows, audio_inside_video, window_starts
from tagf.metrics import ccc_loss
from tagf.study.perturbations import add_noise, drop_frames


def make_split(lengths=(10, 4), label_valid=None):
    rows = sum(lengths)
    frame_id = np.arange(rows, dtype=np.float32)
    return SplitArrays(
        videos=[f"v{i}" for i in range(len(lengths))],
        offsets=np.r_[0, np.cumsum(lengths)],
        visual=np.stack([frame_id, -frame_id], 1),  # the row number, so gathers can be checked
        audio=np.stack([frame_id * 10], 1),
        labels=np.stack([frame_id / 100, frame_id / 100], 1),
        label_valid=np.ones(rows, bool) if label_valid is None else label_valid,
        visual_valid=np.ones(rows, bool),
        frames=np.concatenate([np.arange(1, n + 1) for n in lengths]).astype(np.int32),
    )


def test_window_starts_cover_every_frame():
    assert window_starts(10, 4, 3) == [0, 3, 6]
    assert window_starts(11, 4, 3) == [0, 3, 6, 7]  # last window aligned to the end
    assert window_starts(3, 4, 3) == [0]
    assert window_starts(300, 300, 200) == [0]
    assert window_starts(301, 300, 200) == [0, 1]
    for frames in range(1, 40):
        covered = set()
        for s in window_starts(frames, 7, 5):
            covered |= set(range(s, min(frames, s + 7)))
        assert covered == set(range(frames))
    with pytest.raises(ValueError, match="positive"):
        window_starts(10, 4, 0)


def test_first_last_and_padded_windows():
    windows = Windows(make_split((10, 4)), length=6, hop=4)
    assert list(zip(windows.video, windows.start)) == [(0, 0), (0, 4), (1, 0)]
    batch = windows.gather(np.arange(3))
    assert batch.visual[0, :, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert batch.visual[1, :, 0].tolist() == [4, 5, 6, 7, 8, 9]
    # Video 1 has 4 frames (rows 10..13): padded to 6, padding zeroed and masked.
    assert batch.visual[2, :, 0].tolist() == [10, 11, 12, 13, 0, 0]
    assert batch.frame_mask[2].tolist() == [True] * 4 + [False] * 2
    assert batch.label_mask[2].tolist() == [True] * 4 + [False] * 2


def test_audio_shift_moves_audio_against_video_with_no_audio_outside_it():
    windows = Windows(make_split((10,)), length=5, hop=5)
    batch = windows.gather(np.array([0, 1]), audio_shift=2)  # audio delayed by 2 frames
    assert batch.audio[0, :, 0].tolist() == [0, 0, 0, 10, 20]  # frames 0, 1 have no audio: zeros
    assert batch.audio_valid[0].tolist() == [False, False, True, True, True]
    assert batch.audio[1, :, 0].tolist() == [30, 40, 50, 60, 70]
    early = windows.gather(np.array([1]), audio_shift=-3)
    assert early.audio[0, :, 0].tolist() == [80, 90, 0, 0, 0]  # not the edge frame (90) repeated
    assert early.audio_valid[0].tolist() == [True, True, False, False, False]
    assert torch.equal(batch.visual, windows.gather(np.array([0, 1])).visual)  # video untouched


def test_shift_beyond_the_window_and_the_video():
    windows = Windows(make_split((10,)), length=4, hop=4)
    batch = windows.gather(np.array([0]), audio_shift=25)
    assert batch.audio[0, :, 0].tolist() == [0, 0, 0, 0] and not batch.audio_valid.any()
    batch = windows.gather(np.array([0]), audio_shift=-25)
    assert batch.audio[0, :, 0].tolist() == [0, 0, 0, 0] and not batch.audio_valid.any()


def test_audio_inside_video_drops_exactly_the_shift_per_video():
    split = make_split((10, 4))
    # Delayed by 3: the first 3 frames of each video have no audio; 3 frames early: the last 3.
    assert audio_inside_video(split, 3).tolist() == [False] * 3 + [True] * 7 + [False] * 3 + [True]
    assert audio_inside_video(split, -3).tolist() == [True] * 7 + [False] * 3 + [True] + [False] * 3
    assert audio_inside_video(split, 0).all() and not audio_inside_video(split, 10).any()
    # It agrees with what the windows mark, frame by frame.
    windows = Windows(split, length=6, hop=4)
    batch = windows.gather(np.arange(len(windows)), audio_shift=3)
    rows = split.offsets[windows.video][:, None] + windows.start[:, None] + np.arange(6)
    real = batch.frame_mask.numpy()
    assert np.array_equal(batch.audio_valid.numpy()[real], audio_inside_video(split, 3)[rows[real]])


def test_random_shift_augmentation_is_per_window_and_seeded():
    windows = Windows(make_split((40,)), length=5, hop=5)
    a = [b.audio for b in windows.batches(4, np.random.default_rng(0), max_audio_shift=3)]
    b = [b.audio for b in windows.batches(4, np.random.default_rng(0), max_audio_shift=3)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    shifts = set()
    for batch in windows.batches(8, np.random.default_rng(1), max_audio_shift=3):
        shifts |= set(((batch.visual[:, 2, 0] * 10 - batch.audio[:, 2, 0]) / 10).tolist())
    assert shifts <= {-3, -2, -1, 0, 1, 2, 3} and len(shifts) > 2


def test_all_masked_window_contributes_nothing_to_the_loss():
    split = make_split((8,), label_valid=np.zeros(8, bool))
    batch = Windows(split, length=4, hop=4).gather(np.array([0, 1]))
    assert not batch.label_mask.any()
    assert float(ccc_loss(batch.labels, batch.labels, batch.label_mask)) == 0.0


def test_noise_and_dropout_transforms():
    rng = np.random.default_rng(0)
    split = make_split((1000,))
    split.visual = rng.normal(size=(1000, 8)).astype(np.float32)
    noisy = add_noise(split, "visual", snr_db=0.0, rng=rng)
    assert np.mean((noisy.visual - split.visual) ** 2) == pytest.approx(np.mean(split.visual**2), rel=0.1)
    dropped = drop_frames(split, "visual", 0.3, rng)
    zero = (dropped.visual == 0).all(1)
    assert 0.25 < zero.mean() < 0.35 and not dropped.visual_valid[zero].any()
    assert np.array_equal(dropped.audio, split.audio)
