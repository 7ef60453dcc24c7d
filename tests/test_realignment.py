"""The variants that can realign or distrust the audio do what their docstrings say, on inputs whose answer is known."""

import math

import numpy as np
import pytest
import torch

from tagf.data.feature_store import SplitArrays
from tagf.data.windows import Windows
from tagf.errors import DataError
from tagf.models import build_model, model_config
from tagf.models.crossmodal_gate import CrossModalGate
from tagf.models.gates import FreeStepBiLSTMGate, StepBiLSTMGate
from tagf.models.lag_attention import HIDDEN, LagAttention
from tagf.models.reliability import Reliability

SMALL = dict(visual_in=24, audio_in=12, visual_channels=(16, 8), audio_channels=(8, 8), head_hidden=16)


def unit_frames(length, dim, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(1, length, dim, generator=g), dim=-1)


def sharp_lag_attention(fps=10.0, max_lag_s=1.0):
    """Query and key the identity, scaled so that a frame's own content wins by far; no positional preference."""
    cfg = model_config(
        "lag_attention", visual_channels=(HIDDEN,), audio_channels=(HIDDEN,), fps=fps, max_lag_s=max_lag_s
    )
    attention = LagAttention(cfg)
    with torch.no_grad():
        attention.query.weight.copy_(300 * torch.eye(HIDDEN))
        attention.key.weight.copy_(torch.eye(HIDDEN))
        attention.query.bias.zero_()
        attention.key.bias.zero_()
        attention.bias.zero_()
    return attention


@pytest.mark.parametrize("delay", [3, -4, 0])
def test_lag_attention_finds_a_known_delay_and_undoes_it(delay):
    """Audio frame j carries the face of frame j − delay (late audio: delay > 0), so frame i's voice is at i + delay."""
    length = 60
    visual = unit_frames(length, HIDDEN)
    audio = torch.roll(visual, shifts=delay, dims=1)
    aligned, lag = sharp_lag_attention()(visual, audio)
    inner = slice(10, length - 10)  # where i + delay is inside the window
    torch.testing.assert_close(lag[0, inner], torch.full((length - 20,), delay / 10.0), atol=1e-3, rtol=0)
    torch.testing.assert_close(aligned[0, inner], visual[0, inner], atol=1e-3, rtol=0)


def test_lag_attention_looks_no_farther_than_max_lag():
    """A delay beyond ±K frames cannot be found: the attended lag stays within ±max_lag_s."""
    visual = unit_frames(60, HIDDEN)
    _, lag = sharp_lag_attention(max_lag_s=0.5)(visual, torch.roll(visual, shifts=8, dims=1))
    assert lag.abs().max() <= 0.5 + 1e-6
    assert not torch.allclose(lag[0, 10:50], torch.full((40,), 0.8), atol=0.1)


def test_lag_attention_ignores_padded_audio():
    visual, audio = unit_frames(40, HIDDEN), unit_frames(40, HIDDEN, seed=1)
    mask = torch.zeros(1, 40, dtype=torch.bool)
    mask[:, :30] = True
    attention = LagAttention(
        model_config("lag_attention", visual_channels=(HIDDEN,), audio_channels=(HIDDEN,))
    )
    changed = audio.clone()
    changed[:, 30:] = unit_frames(10, HIDDEN, seed=2)
    first, _ = attention(visual, audio, mask)
    second, _ = attention(visual, changed, mask)
    torch.testing.assert_close(first[:, :30], second[:, :30])


def test_lag_attention_starts_by_hearing_each_frames_own_audio():
    """The initial bias peaks at lag 0, as the other variants hear the audio."""
    attention = LagAttention(model_config("lag_attention", fps=30.0, max_lag_s=2.0))
    assert attention.span == 60
    assert int(attention.bias.argmax()) == attention.span


def split_with_lags(lags_s, fps=10.0):
    rows = len(lags_s)
    frame_id = np.arange(rows, dtype=np.float32)
    return SplitArrays(
        videos=["v0"],
        offsets=np.array([0, rows]),
        visual=frame_id[:, None],
        audio=frame_id[:, None] * 10,
        labels=np.zeros((rows, 2), np.float32),
        label_valid=np.ones(rows, bool),
        visual_valid=np.ones(rows, bool),
        frames=np.arange(1, rows + 1, dtype=np.int32),
        fps={"v0": fps},
        true_lag_s=np.asarray(lags_s, dtype=np.float64),
    )


def test_oracle_alignment_reads_each_frames_voice_whatever_the_shift():
    """Frame t hears the audio of t + round(lag·fps); with no source there, no audio (and not scored)."""
    lags = [0.0, 0.2, 0.2, -0.1, 0.0, 0.0, 0.04, 0.5]  # seconds at 10 fps: +0, +2, +2, −1, 0, 0, 0, +5
    windows = Windows(split_with_lags(lags), length=8, hop=8, oracle_alignment=True)
    for shift in (0, 3):
        batch = windows.gather(np.array([0]), audio_shift=shift)
        assert batch.audio[0, :, 0].tolist() == [0, 30, 40, 20, 40, 50, 60, 0]
        assert batch.audio_valid[0].tolist() == [True] * 7 + [False]


def test_oracle_alignment_without_ground_truth_is_an_error():
    split = split_with_lags([0.0] * 4)
    split.true_lag_s = None
    with pytest.raises(DataError, match="ground-truth audio lag"):
        Windows(split, length=4, hop=4, oracle_alignment=True)


def test_free_gate_can_commit_to_one_step_where_the_released_gate_cannot():
    """The released score lies within ±1/√(2·d), so at τ = 0.1 no step's α can exceed a bound; the free one can."""
    cfg = model_config("tagf", steps=2, temperature=0.1, gate_dropout=0.0)
    dim, m = 64, cfg.steps + 1
    steps = torch.randn(4, 10, m, dim) * 5
    bounded = StepBiLSTMGate(dim, cfg).eval()
    _, alpha = bounded(steps)
    spread = 2 / math.sqrt(2 * dim) / cfg.temperature  # the widest gap between two steps' logits
    assert alpha.max() <= math.exp(spread) / (math.exp(spread) + m - 1) + 1e-6
    free = FreeStepBiLSTMGate(dim, cfg).eval()
    with torch.no_grad():
        free.readout.weight.mul_(1e3)
    _, alpha = free(steps)
    assert alpha.max() > 0.99


def test_crossmodal_gate_weighs_steps_from_both_streams_and_can_silence_the_audio():
    cfg = model_config("tagf_xmodal", steps=2, gate_dropout=0.0, visual_channels=(8,), audio_channels=(6,))
    gate = CrossModalGate(cfg).eval()
    visual_steps, audio_steps = torch.randn(2, 5, 3, 8), torch.randn(2, 5, 3, 6)
    _, audio, visual_alpha, _, scale = gate(visual_steps, audio_steps)
    assert ((scale > 0) & (scale < 1)).all() and scale.mean() > 0.9  # starts out trusting the audio
    # The visual steps' weights depend on the audio (TAGF's depend on the visual candidates alone).
    _, _, other_alpha, _, _ = gate(visual_steps, audio_steps + 1)
    assert not torch.allclose(visual_alpha, other_alpha)
    with torch.no_grad():
        gate.scale.bias.fill_(-50.0)
    _, audio, _, _, scale = gate(visual_steps, audio_steps)
    assert scale.max() < 1e-20 and audio.abs().max() < 1e-18


def test_reliability_weights_are_a_choice_and_can_lean_on_the_face_alone():
    cfg = model_config("reliability", visual_channels=(8,), audio_channels=(6,), head_hidden=16, fps=10.0)
    module = Reliability(cfg).eval()
    visual, audio, fused = torch.randn(2, 12, 8), torch.randn(2, 12, 6), torch.rand(2, 12, 2) - 0.5
    prediction, (from_visual, _), weights = module(visual, audio, fused)
    assert weights.shape == (2, 12, 2, 3)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 12, 2))
    with torch.no_grad():  # weights on the visual head only
        module.weigher[-1].weight.zero_()
        module.weigher[-1].bias.copy_(torch.tensor([50.0, 0.0, 0.0] * cfg.outputs))
    prediction, (from_visual, _), _ = module(visual, audio, fused)
    torch.testing.assert_close(prediction, from_visual)


def test_reliability_model_trains_its_unimodal_heads_too():
    model = build_model(model_config("reliability", key_mode="length_agnostic", **SMALL)).train()
    g = torch.Generator().manual_seed(0)
    out = model(torch.randn(2, 20, 24, generator=g), torch.randn(2, 20, 12, generator=g))
    assert len(out.auxiliary) == 2 and all(a.shape == (2, 20, 2) for a in out.auxiliary)
    assert out.diagnostics["reliability"].shape == (2, 20, 2, 3)
    out.auxiliary[1].sum().backward()
    assert model.reliability.audio_head.hidden.weight.grad.abs().sum() > 0
