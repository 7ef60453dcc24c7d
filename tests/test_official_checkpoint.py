import pytest
import torch
from reference_tagf import AuthorsTAGF, randomise_buffers

from tagf.models import CheckpointImportError, from_official_state_dict


@pytest.fixture(scope="module")
def authors_model():
    torch.manual_seed(0)
    model = AuthorsTAGF(window=32, outputs=1)
    randomise_buffers(model)
    return model.eval()


def test_state_dict_has_the_authors_names(authors_model):
    keys = authors_model.state_dict().keys()
    for expected in (
        "temporal.video.network.0.conv1.weight_g",
        "temporal.video.network.2.downsample.weight",
        "temporal.logmel.network.3.net.4.weight_v",
        "bn.video.running_var",
        "TAGF.coattn.dcn_layers.1.dense_coattn.key2_linear.weight",
        "TAGF.coattn.dcn_layers.0.linears.1.0.bias",
        "TAGF.video_temporal_encoder.init_hidden",
        "TAGF.audio_temporal_encoder.rnn.weight_hh_l0_reverse",
        "TAGF.vregressor.weight",
        "regressor2.weight",
        "spatial.weight",
    ):
        assert expected in keys


def test_converted_model_reproduces_the_authors_outputs(authors_model):
    ours = from_official_state_dict(authors_model.state_dict())
    g = torch.Generator().manual_seed(1)
    visual, audio = torch.randn(3, 32, 512, generator=g), torch.randn(3, 32, 128, generator=g)
    with torch.no_grad():
        expected = authors_model(visual, audio)
        got = ours(visual, audio).prediction
    assert got.shape == (3, 32, 1)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert ours.cfg.window == 32 and ours.cfg.key_mode == "faithful" and ours.cfg.steps == 2


def test_missing_and_unexpected_keys_are_listed(authors_model):
    sd = dict(authors_model.state_dict())
    del sd["TAGF.coattn.dcn_layers.1.dense_coattn.value1_linear.bias"]
    sd["regressor3.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointImportError) as err:
        from_official_state_dict(sd)
    message = str(err.value)
    assert "coattention.steps.1.value_visual.bias" in message and "regressor3.weight" in message


def test_shape_mismatch_names_the_key(authors_model):
    sd = dict(authors_model.state_dict())
    sd["TAGF.coattn.dcn_layers.0.dense_coattn.value2_linear.weight"] = torch.zeros(128, 64)
    with pytest.raises(CheckpointImportError, match="value2_linear.weight: shape"):
        from_official_state_dict(sd)


def test_diverging_duplicate_conv_is_refused(authors_model):
    sd = dict(authors_model.state_dict())
    sd["temporal.video.network.1.net.0.bias"] = sd["temporal.video.network.1.net.0.bias"] + 1
    with pytest.raises(CheckpointImportError, match="net.0.bias differs"):
        from_official_state_dict(sd)


def test_import_checkpoint_cli_writes_a_loadable_model(authors_model, tmp_path):
    from conftest import run_cli

    from tagf.models import load_model

    torch.save({"state_dict": authors_model.state_dict(), "epoch": 7}, tmp_path / "authors.pth")
    proc = run_cli("import-checkpoint", str(tmp_path / "authors.pth"), str(tmp_path / "ours.pt"))
    assert "2 steps, window 32" in proc.stdout
    model, extra = load_model(str(tmp_path / "ours.pt"))
    visual, audio = torch.randn(1, 32, 512), torch.randn(1, 32, 128)
    with torch.no_grad():
        torch.testing.assert_close(model(visual, audio).prediction, authors_model(visual, audio))
    assert extra["imported_from"].endswith("authors.pth")
    broken = run_cli("import-checkpoint", str(tmp_path / "ours.pt"), str(tmp_path / "again.pt"), check=False)
    assert broken.returncode == 2 and "not an authors' TAGF state dict" in broken.stderr
