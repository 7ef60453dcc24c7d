"""Profiles: the paper's set-up as one switch, recorded wherever a number is shown."""

import pytest
import torch

from orchestration.params import load_params
from tagf.errors import ParamsError
from tagf.models import build_model


def _params(tmp_path, text: str):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return load_params(path)


def test_paper_profile_is_the_authors_setup(tmp_path):
    params = _params(tmp_path, "profile: paper\n")
    setup = params.setup()
    model, train = setup.model, setup.train
    assert (model.key_mode, model.window, model.visual_channels, model.audio_channels) == (
        "faithful",
        300,
        (512, 512, 256, 256),
        (128, 128, 128, 128),
    )
    assert (model.head_hidden, model.temperature, model.attention_dropout) == (256, 0.1, 0.6)
    assert model.separate_targets and model.init == "authors"
    assert (train.optimizer, train.lr, train.weight_decay, train.batch_size) == ("adam", 1e-4, 1e-3, 12)
    assert (train.window, train.hop, train.plateau_patience, train.plateau_factor) == (300, 200, 5, 0.1)
    assert train.reload_best_each_epoch and train.warmup_epochs == 5 and train.warmup_start_factor == 0.2
    assert setup.label == "paper"


def test_settings_over_the_profile_are_named(tmp_path):
    params = _params(tmp_path, "profile: paper\ntrain: {epochs: 2}\nmodel: {head_hidden: 64}\n")
    assert params.setup().train.epochs == 2
    assert params.setup().label == "paper, modified: model.head_hidden=64, train.epochs=2"


def test_default_params_use_the_small_profile_unmodified():
    params = load_params("params.yaml")
    assert params.profile == "small"
    assert params.setup().label == "small"


def test_unknown_profile_is_refused(tmp_path):
    with pytest.raises(
        ParamsError, match="profile: Value error, unknown profile 'papr'; known: paper, small"
    ):
        _params(tmp_path, "profile: papr\n")


def test_authors_initialisation():
    from tagf.models import model_config

    torch.manual_seed(0)
    model = build_model(model_config("tagf", key_mode="faithful", window=16, init="authors"))
    step = model.coattention.steps[0]
    assert (
        torch.count_nonzero(step.joint.bias) == 0 and torch.count_nonzero(model.gate.visual.linear.bias) == 0
    )
    # xavier-uniform bound √(6 / (fan_in + fan_out)), not PyTorch's default 1/√fan_in
    bound = (6 / (step.joint.in_features + step.joint.out_features)) ** 0.5
    largest = float(step.joint.weight.detach().abs().max())
    assert 0.9 * bound < largest <= bound
    assert torch.count_nonzero(model.gate.visual.init_hidden) == model.gate.visual.init_hidden.numel()
    default = build_model(model_config("tagf", key_mode="faithful", window=16))
    assert torch.count_nonzero(default.gate.visual.init_hidden) == 0


def test_separate_targets_is_one_model_per_target():
    from tagf.models import model_config

    torch.manual_seed(0)
    model = build_model(
        model_config(
            "tagf",
            key_mode="length_agnostic",
            window=8,
            visual_channels=(8,),
            audio_channels=(8,),
            separate_targets=True,
        )
    ).eval()
    visual, audio = torch.randn(2, 8, 512), torch.randn(2, 8, 128)
    out = model(visual, audio)
    assert out.prediction.shape == (2, 8, 2) and out.visual_gate.shape == (2, 8, 2, 3)
    with torch.no_grad():
        alone = model.per_target[1](visual, audio).prediction[..., 0]
    torch.testing.assert_close(out.prediction[..., 1], alone)
    first, second = (dict(m.named_parameters()) for m in model.per_target)
    assert all(torch.equal(first[k], second[k]) for k in first)  # one seed, as the authors' two runs
    # The loss of one target gives no gradient to the other target's model.
    out.prediction[..., 0].sum().backward()
    assert all(p.grad is None or not p.grad.any() for p in model.per_target[1].parameters())
