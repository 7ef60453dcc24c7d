import pytest
import torch

from tagf.models import VARIANTS, build_model, model_config

# Small widths keep the suite fast; the math does not depend on them.
SMALL = dict(visual_in=24, audio_in=12, visual_channels=(16, 8), audio_channels=(8, 8), head_hidden=16)


def inputs(b, length, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, length, 24, generator=g), torch.randn(b, length, 12, generator=g)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("length", [1, 17, 64])
def test_every_variant_maps_windows_to_bounded_va(variant, length):
    model = build_model(model_config(variant, key_mode="length_agnostic", **SMALL)).eval()
    out = model(*inputs(3, length))
    assert out.prediction.shape == (3, length, 2)
    assert out.prediction.abs().max() <= 1.0
    gated = VARIANTS[variant].get("fusion") == "coattention"
    assert (out.visual_gate is not None) == gated
    if gated:
        m = model.cfg.steps + 1
        for alpha in (out.visual_gate, out.audio_gate):
            assert alpha.shape == (3, length, m)
            torch.testing.assert_close(alpha.sum(-1), torch.ones(3, length))


def test_one_output_per_model_option():
    model = build_model(model_config("tagf", outputs=1, key_mode="length_agnostic", **SMALL))
    assert model(*inputs(2, 10)).prediction.shape == (2, 10, 1)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_gradient_reaches_every_parameter(variant):
    torch.manual_seed(0)
    model = build_model(model_config(variant, window=20, **SMALL)).train()
    model(*inputs(2, 20)).prediction.square().sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_same_seed_same_model_and_output():
    def run(seed):
        torch.manual_seed(seed)
        model = build_model(model_config("tagf", window=20, **SMALL)).train()
        return model(*inputs(2, 20)).prediction

    torch.testing.assert_close(run(3), run(3), rtol=0, atol=0)
    assert not torch.equal(run(3), run(4))


def test_faithful_mode_rejects_other_window_lengths():
    model = build_model(model_config("tagf", window=20, **SMALL))
    model(*inputs(2, 20))
    with pytest.raises(ValueError, match="exactly 20 frames, got L=21"):
        model(*inputs(2, 21))


def test_length_agnostic_attention_ignores_padded_frames():
    model = build_model(model_config("tagf", key_mode="length_agnostic", **SMALL)).eval()
    visual, audio = inputs(1, 30)
    mask = torch.zeros(1, 30, dtype=torch.bool)
    mask[:, :20] = True
    # Change only the padded tail: the causal TCN and the masked attention keep frames < 20 unchanged.
    v2, a2 = visual.clone(), audio.clone()
    v2[:, 20:] += 5
    a2[:, 20:] -= 5
    out1 = model(visual, audio, mask).prediction[:, :20]
    out2 = model(v2, a2, mask).prediction[:, :20]
    torch.testing.assert_close(out1, out2)


def test_time_bilstm_gate_ignores_padded_frames():
    """The time BiLSTM runs backward from the window's end: only packing keeps padding out of its state."""
    model = build_model(model_config("tagf_time", key_mode="length_agnostic", **SMALL)).eval()
    visual, audio = inputs(2, 30)
    mask = torch.ones(2, 30, dtype=torch.bool)
    mask[0, 20:] = False  # window 0 padded after 20 frames, window 1 full
    v2, a2 = visual.clone(), audio.clone()
    v2[0, 20:] += 5
    a2[0, 20:] -= 5
    out1, out2 = model(visual, audio, mask), model(v2, a2, mask)
    torch.testing.assert_close(out1.prediction[0, :20], out2.prediction[0, :20])
    torch.testing.assert_close(out1.visual_gate[0, :20], out2.visual_gate[0, :20])
    torch.testing.assert_close(out1.prediction[1], out2.prediction[1])


def test_gates_differ_only_in_fusion():
    """One switch changes the fusion and nothing else: encoders and head have identical shapes."""
    shapes = {}
    for variant in ("tagf", "rjcma", "grjca", "concat"):
        sd = build_model(model_config(variant, window=20, **SMALL)).state_dict()
        shapes[variant] = {
            k: v.shape for k, v in sd.items() if k.startswith(("visual_encoder", "audio_encoder", "head"))
        }
    assert shapes["tagf"] == shapes["rjcma"] == shapes["grjca"] == shapes["concat"]


def test_unknown_variant_is_named():
    with pytest.raises(ValueError, match="unknown model variant 'tagff'"):
        model_config("tagff")


def test_faithful_training_step_equals_the_authors_code_with_gradients():
    """Train mode without dropout (BatchNorm on batch statistics): prediction and every parameter's gradient of the
    converted model equal the authors' (reference.authors), through our TCN padding, the unrolled step BiLSTM
    with its hand-written backward, and the gate's score."""
    from torch import nn

    from reference.authors import LFAN
    from tagf.models import from_official_state_dict

    torch.manual_seed(0)
    authors = LFAN(window=16, visual_channels=(32, 16), audio_channels=(8, 8), visual_in=24, audio_in=12)
    with torch.no_grad():  # a peaked gate, so that the step weights α (and their gradients) matter
        for encoder in (authors.TAGF.video_temporal_encoder, authors.TAGF.audio_temporal_encoder):
            encoder.linear.weight.mul_(30.0)
            encoder.init_hidden.normal_()
    ours = from_official_state_dict(authors.state_dict())
    for model in (authors, ours):
        model.train()
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.p = 0.0
    visual, audio = inputs(3, 16)
    weights = torch.randn(3, 16, 1, generator=torch.Generator().manual_seed(1))
    expected = authors(visual, audio)
    got = ours(visual, audio).prediction
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    (expected * weights).sum().backward()
    (got * weights).sum().backward()
    # The authors' gradients, renamed to ours by the checkpoint import itself (weight_g/weight_v, duplicates, ...).
    authors_grads = from_official_state_dict(
        {
            k: (v.grad if v.grad is not None else torch.zeros_like(v)) if isinstance(v, nn.Parameter) else v
            for k, v in authors.state_dict(keep_vars=True).items()
        }
    ).state_dict()
    errors = {
        name: float((parameter.grad - authors_grads[name]).abs().max() / authors_grads[name].abs().max())
        for name, parameter in ours.named_parameters()
        if name
        != "head.hidden.bias"  # followed by BatchNorm on batch statistics: its gradient is 0 ± rounding
    }
    assert max(errors.values()) <= 1e-5, errors


def test_step_gate_bilstm_gradients_match_torch_lstm_in_double():
    """The hand-written backward of the step BiLSTM against autograd's numerical check."""
    from tagf.models.gates import _StepBiLSTM

    g = torch.Generator().manual_seed(0)
    n, m, d = 4, 3, 3
    shapes = [(n, m, d), (2, d), (2, d), (8 * d, d), (2, 4 * d, d), (8 * d,)]
    args = [torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True) for s in shapes]
    assert torch.autograd.gradcheck(_StepBiLSTM.apply, args)


def test_the_configs_gate_names_are_the_registrys():
    """tagf.models.config spells the gate names (so that it imports without torch); they must be the registry's."""
    from typing import get_args

    from tagf.models.config import Gate
    from tagf.models.gating import GATES

    assert set(get_args(Gate)) == set(GATES)
