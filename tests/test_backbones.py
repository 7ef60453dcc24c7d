import numpy as np
import pytest
import torch

from tagf.features.builtin import LogMelStatistics, RandomFeatureFaceEncoder
from tagf.features.iresnet import IRResNet50, load_iresnet50
from tagf.features.logmel import HOP, PATCH_ROWS, SAMPLE_RATE, frame_patches, log_mel
from tagf.features.vggish import VGGish, load_vggish


def test_log_mel_shape_and_tone_band():
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    low, high = log_mel(np.sin(2 * np.pi * 300 * t)), log_mel(np.sin(2 * np.pi * 3000 * t))
    assert low.shape == (1 + (SAMPLE_RATE - 400) // HOP, 64)
    assert low.mean(0).argmax() < high.mean(0).argmax()


def test_frame_patches_are_centred_on_the_frame_time():
    spectrogram = np.repeat(np.arange(500, dtype=np.float32)[:, None], 64, 1)  # row r holds r
    patches = frame_patches(spectrogram, fps=25, frames=125)
    assert patches.shape == (125, PATCH_ROWS, 64)
    assert patches[50, PATCH_ROWS // 2, 0] == 200  # frame 50 at 2.0 s = row 200
    assert patches[50, 0, 0] == 200 - PATCH_ROWS // 2
    assert patches[0, 0, 0] == pytest.approx(np.log(0.01))  # before the start: silence


def test_vggish_loads_its_own_state_dict_and_ignores_postprocessing(tmp_path):
    torch.manual_seed(0)
    source = VGGish().eval()
    state = dict(source.state_dict())
    state["pproc._pca_matrix"] = torch.zeros(128, 128)
    torch.save(state, tmp_path / "vggish.pt")
    loaded = load_vggish(str(tmp_path / "vggish.pt"))
    x = torch.randn(2, 96, 64)
    torch.testing.assert_close(loaded(x), source(x))
    assert loaded(x).shape == (2, 128)


def test_iresnet50_loads_face_evolve_layout(tmp_path):
    torch.manual_seed(0)
    source = IRResNet50().eval()
    state = source.state_dict()
    assert "body.0.res_layer.1.weight" in state and "body.3.shortcut_layer.0.weight" in state
    assert (
        sum(k.startswith("body.") and k.endswith("res_layer.1.weight") for k in state) == 24
    )  # 3+4+14+3 units
    torch.save({"module." + k: v for k, v in state.items()}, tmp_path / "ir50.pth")  # DataParallel prefix
    loaded = load_iresnet50(str(tmp_path / "ir50.pth"))
    x = torch.rand(2, 3, 112, 112) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), source(x))


def test_wrong_weights_file_is_named(tmp_path):
    torch.save(VGGish().state_dict(), tmp_path / "vggish.pt")
    with pytest.raises(ValueError, match="vggish.pt: not IRResNet50 weights: missing"):
        load_iresnet50(str(tmp_path / "vggish.pt"))
    with pytest.raises(FileNotFoundError, match="no such backbone weights file"):
        load_vggish(str(tmp_path / "none.pt"))


def test_builtin_extractors_have_backbone_sizes_and_are_fixed_by_seed():
    faces = torch.rand(3, 3, 48, 48) * 2 - 1
    assert RandomFeatureFaceEncoder(0)(faces).shape == (3, 512)
    torch.testing.assert_close(RandomFeatureFaceEncoder(0)(faces), RandomFeatureFaceEncoder(0)(faces))
    assert not torch.equal(RandomFeatureFaceEncoder(0)(faces), RandomFeatureFaceEncoder(1)(faces))
    assert LogMelStatistics()(torch.randn(3, 96, 64)).shape == (3, 128)


def test_features_cli_runs_user_backbones(tmp_path):
    import hashlib

    from conftest import run_cli

    from tagf.data.feature_store import read_manifest, read_split
    from tagf.data.synth.corpus import write_corpus
    from tagf.data.synth.presets import SynthPreset

    torch.manual_seed(0)
    torch.save(IRResNet50().state_dict(), tmp_path / "ir50.pt")
    torch.save(VGGish().state_dict(), tmp_path / "vggish.pt")
    write_corpus(
        str(tmp_path / "corpus"), SynthPreset(videos={"train": 1}, duration_s=(1, 1), face_px=16), seed=0
    )
    run_cli("prepare", str(tmp_path / "corpus"), str(tmp_path / "index.parquet"))
    run_cli(
        "features",
        str(tmp_path / "index.parquet"),
        str(tmp_path / "store"),
        "--visual-weights",
        str(tmp_path / "ir50.pt"),
        "--audio-weights",
        str(tmp_path / "vggish.pt"),
    )
    manifest = read_manifest(str(tmp_path / "store"))
    assert (
        manifest["extractor"]["visual_backbone"] == "ir50"
        and manifest["extractor"]["audio_backbone"] == "vggish"
    )
    assert (
        manifest["weights_sha256"]["visual"]
        == hashlib.sha256((tmp_path / "ir50.pt").read_bytes()).hexdigest()
    )
    split = read_split(str(tmp_path / "store"), "train")
    assert split.visual.shape[1] == 512 and split.audio.shape[1] == 128


def test_an_index_without_frames_is_refused_by_name(tiny_corpus, tmp_path):
    """No store of zero frames: one line naming the index, exit 4."""
    import pyarrow.parquet as pq
    from conftest import cli_error, run_cli

    from tagf.errors import DataError

    empty = tmp_path / "empty.parquet"
    pq.write_table(pq.read_table(tiny_corpus["index"]).slice(0, 0), empty)
    proc = run_cli("features", str(empty), str(tmp_path / "store"), check=False)
    assert proc.returncode == DataError.exit_code and not (tmp_path / "store").exists()
    assert cli_error(proc) == f"{empty}: the frame index has no frames; rebuild it with `tagf prepare`"
