import pytest
import torch

from reference.authors import LFAN, randomise_buffers
from tagf.errors import ModelFileError, UsageError
from tagf.models import CheckpointImportError, from_official_state_dict, official_front_ends

WINDOW = 32


def _authors(seed: int, **sizes) -> LFAN:
    torch.manual_seed(seed)
    model = LFAN(window=WINDOW, outputs=1, **sizes)
    randomise_buffers(model, seed)
    return model.eval()


@pytest.fixture(scope="module")
def authors_model():
    return _authors(0)


@pytest.fixture(scope="module")
def peaked_authors_model():
    """Small widths and a scaled gate Linear: the gate's score is the mean of an L2-normalised 2·d_m vector, so
    only a small d_m and a dominant weight let α move far from uniform (|score| ≤ 1/√(2·d_m))."""
    model = _authors(3, visual_channels=(16, 4), audio_channels=(16, 4))
    with torch.no_grad():
        for encoder in (model.TAGF.video_temporal_encoder, model.TAGF.audio_temporal_encoder):
            encoder.linear.weight.mul_(30.0)
            encoder.init_hidden.normal_()
    return model


def _inputs(batch=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, WINDOW, 512, generator=g), torch.randn(batch, WINDOW, 128, generator=g)


def _compare(authors, ours):
    """Max relative error of the prediction and of both modalities' gate weights α."""
    visual, audio = _inputs()
    with torch.no_grad():
        expected = authors(visual, audio)
        got = ours(visual, audio)

    def rel(a, b):
        return float((a - b).abs().max() / b.abs().max())

    alpha_v, alpha_a = authors.TAGF.alpha
    return {
        "prediction": rel(got.prediction, expected),
        "visual_alpha": rel(got.visual_gate, alpha_v),
        "audio_alpha": rel(got.audio_gate, alpha_a),
    }


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
        "TAGF.vregressor.0.weight",
        "TAGF.Joint.rnn.weight_ih_l1",
        "regressor2.weight",
    ):
        assert expected in keys


def test_converted_model_reproduces_the_authors_outputs_and_gate_weights(authors_model):
    ours = from_official_state_dict(authors_model.state_dict())
    assert ours.cfg.window == WINDOW and ours.cfg.key_mode == "faithful" and ours.cfg.steps == 2
    errors = _compare(authors_model, ours)
    assert max(errors.values()) <= 1e-5, errors


def test_gate_weights_match_where_they_are_far_from_uniform(peaked_authors_model):
    ours = from_official_state_dict(peaked_authors_model.state_dict())
    visual, audio = _inputs()
    with torch.no_grad():
        alpha = ours(visual, audio).visual_gate
    assert float(alpha.max()) > 0.7 and float(alpha.min()) < 0.05  # the comparison below can see a gate error
    errors = _compare(peaked_authors_model, ours)
    assert max(errors.values()) <= 1e-5, errors


def test_a_swapped_gate_concatenation_is_caught(peaked_authors_model):
    """The bug this suite once missed: [BiLSTM outputs, candidates] instead of [candidates, BiLSTM outputs]."""
    sd = dict(peaked_authors_model.state_dict())
    for modality in ("video", "audio"):
        key = f"TAGF.{modality}_temporal_encoder.linear.weight"
        d = sd[key].shape[1] // 3
        sd[key] = torch.cat((sd[key][:, d:], sd[key][:, :d]), dim=1)  # what a swapped concatenation computes
    errors = _compare(peaked_authors_model, from_official_state_dict(sd))
    assert errors["visual_alpha"] > 0.05 and errors["audio_alpha"] > 0.05, errors


def test_modalities_tagf_does_not_read_are_skipped(authors_model):
    """The authors' default run also builds TCNs and BatchNorms for `bert` and `vggish`, which TAGF never reads."""
    sd = dict(authors_model.state_dict())
    sd["temporal.bert.network.0.conv1.weight_v"] = torch.zeros(32, 768, 5)
    sd["bn.vggish.running_mean"] = torch.zeros(32)
    errors = _compare(authors_model, from_official_state_dict(sd))
    assert max(errors.values()) <= 1e-5, errors


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


def test_front_ends_are_taken_from_the_checkpoint():
    from reference.authors import VisualBackbone
    from tagf.features.iresnet import IRResNet50

    torch.manual_seed(0)
    authors = VisualBackbone().eval()
    randomise_buffers(authors)
    sd = {f"spatial.visual.{k}": v for k, v in authors.state_dict().items()}
    visual = official_front_ends(sd)["ir50_authors"]
    assert not any(k.startswith("logits") for k in visual)
    ours = IRResNet50(authors=True).eval()
    ours.load_state_dict(visual)
    faces = torch.rand(2, 3, 40, 40) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(ours(faces), authors(faces), rtol=1e-5, atol=1e-6)


def test_import_checkpoint_cli_records_target_and_hop(authors_model, tmp_path):
    from conftest import run_cli

    from tagf.evaluation.evaluate import load_for_evaluation
    from tagf.models import load_model

    torch.save({"state_dict": authors_model.state_dict(), "epoch": 7}, tmp_path / "authors.pth")
    proc = run_cli(
        "import-checkpoint",
        str(tmp_path / "authors.pth"),
        str(tmp_path / "ours.pt"),
        "--target",
        "arousal",
        "--hop",
        "20",
    )
    assert "arousal, 2 steps, window 32, hop 20" in proc.stdout
    model, extra = load_model(str(tmp_path / "ours.pt"))
    visual, audio = _inputs(1)
    with torch.no_grad():
        torch.testing.assert_close(model(visual, audio).prediction, authors_model(visual, audio))
    assert extra["imported_from"].endswith("authors.pth")
    loaded = load_for_evaluation(str(tmp_path / "ours.pt"))
    assert (loaded.targets, loaded.window, loaded.hop) == (["arousal"], 32, 20)
    broken = run_cli(
        "import-checkpoint",
        str(tmp_path / "ours.pt"),
        str(tmp_path / "again.pt"),
        "--target",
        "valence",
        "--hop",
        "20",
        check=False,
    )
    assert (
        broken.returncode == ModelFileError.exit_code and "not an authors' TAGF state dict" in broken.stderr
    )
    no_target = run_cli(
        "import-checkpoint", str(tmp_path / "authors.pth"), str(tmp_path / "x.pt"), check=False
    )
    assert (
        no_target.returncode == UsageError.exit_code
        and "--target" in no_target.stderr
        and not (tmp_path / "x.pt").exists()
    )


def _authors_features(authors: LFAN, root, video: str, frames: int, fps: float):
    """What the authors' front ends (the reference modules) make of the first `frames` frames of a video."""
    import numpy as np
    from PIL import Image

    from tagf.data import affwild2_layout as layout
    from tagf.data.media import read_audio
    from tagf.features.logmel import frame_patches, log_mel

    visual = torch.zeros(frames, 512)
    for t in range(frames):
        path = root / layout.FACES_DIR / video / layout.face_name(t + 1)
        if (
            path.exists()
        ):  # GroupCenterCrop(40) of a 48-px face, ToTorchFormatTensor, GroupNormalize(0.5, 0.5)
            img = Image.open(path).convert("RGB").resize((48, 48), Image.BILINEAR).crop((4, 4, 44, 44))
            x = torch.from_numpy(np.asarray(img, np.float32) / 255.0).permute(2, 0, 1)
            with torch.no_grad():
                visual[t] = authors.spatial["visual"](((x - 0.5) / 0.5)[None])[0]
    media = next((root / layout.VIDEO_DIR).glob(f"{video}.*"))
    patches = frame_patches(log_mel(read_audio(str(media))), fps, frames)
    with torch.no_grad():
        audio = authors.spatial["audio"](torch.from_numpy(patches))
    return visual[None], audio[None]


def test_authors_checkpoints_predict_valence_and_arousal_from_faces_and_audio(tiny_corpus, tmp_path):
    """A valence and an arousal checkpoint (front ends in the first) → import-checkpoint → predict from a raw
    video and its face crops; both columns equal the authors' model run on the authors' front ends."""
    import csv

    from conftest import run_cli

    from tagf.data import affwild2_layout as layout

    valence, arousal = _authors(5), _authors(6)
    with_front_ends = LFAN(window=WINDOW, outputs=1, front_ends=True)
    randomise_buffers(with_front_ends, 5)
    with_front_ends.spatial.eval()
    valence.spatial = with_front_ends.spatial
    torch.save({"state_dict": valence.state_dict()}, tmp_path / "valence.pth")
    torch.save(arousal.state_dict(), tmp_path / "arousal.pth")
    for target in ("valence", "arousal"):
        proc = run_cli(
            "import-checkpoint",
            str(tmp_path / f"{target}.pth"),
            str(tmp_path / f"{target}.pt"),
            "--target",
            target,
            "--hop",
            str(WINDOW),
        )
    assert "front end" not in proc.stdout  # the arousal checkpoint has none
    root = tiny_corpus["root"]
    video = sorted(p.name for p in (root / layout.FACES_DIR).iterdir())[0]
    media = next((root / layout.VIDEO_DIR).glob(f"{video}.*"))
    faces = tmp_path / "faces"  # the first window's faces only: the other frames are "no face", and cheap
    faces.mkdir()
    for t in range(1, WINDOW + 1):
        if (face := root / layout.FACES_DIR / video / layout.face_name(t)).exists():
            (faces / face.name).write_bytes(face.read_bytes())
    out = tmp_path / "va.csv"
    run_cli(
        "predict",
        "--model",
        str(tmp_path / "arousal.pt"),
        "--model",
        str(tmp_path / "valence.pt"),
        "--video-file",
        str(media),
        "--faces-dir",
        str(faces),
        "--front-ends",
        "authors",
        "--visual-weights",
        str(tmp_path / "valence.ir50_authors.pt"),
        "--audio-weights",
        str(tmp_path / "valence.vggish_authors.pt"),
        "--csv",
        str(out),
    )
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["video", "frame", "valence", "arousal"]
    from tagf.data.media import probe_video

    visual, audio = _authors_features(valence, root, video, WINDOW, probe_video(str(media)).fps)
    with torch.no_grad():
        expected = {"valence": valence(visual, audio)[0, :, 0], "arousal": arousal(visual, audio)[0, :, 0]}
    for target, values in expected.items():
        got = torch.tensor([float(r[target]) for r in rows[:WINDOW]])
        # The feature store keeps float16 features; a wrong target or front end is off by far more.
        torch.testing.assert_close(got, values, rtol=0, atol=5e-3)
