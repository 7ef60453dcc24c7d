import json

import numpy as np

from tagf.data import affwild2_layout as layout
from tagf.data.prepare import read_index
from tagf.data.synth.corpus import PRESETS, SynthPreset, write_corpus

MICRO = SynthPreset(videos={"train": 1, "validation": 1}, duration_s=(2, 3), face_px=16, max_lag_s=2.0)


def test_tiny_corpus_has_the_affwild2_layout(tiny_corpus):
    root = tiny_corpus["root"]
    counts = PRESETS["tiny"].videos
    for split, folder in layout.SPLIT_DIRS.items():
        files = sorted((root / layout.ANNOTATION_DIR / folder).glob("*.txt"))
        assert len(files) == counts[split]
        assert files[0].read_text().splitlines()[0] == "valence,arousal"
    video = files[0].stem
    assert (root / layout.FACES_DIR / video / "00001.jpg").exists() or (
        root / layout.FACES_DIR / video
    ).is_dir()
    assert (root / layout.VIDEO_DIR / f"{video}.avi").exists()
    listed = (root / layout.ANNOTATION_DIR / layout.TEST_LIST).read_text().split()
    assert listed == [f.stem for f in files]


def test_ground_truth_and_lags_are_saved(tiny_corpus):
    root = tiny_corpus["root"]
    lags = json.loads((root / "ground_truth" / "lags.json").read_text())
    assert len(lags) == sum(PRESETS["tiny"].videos.values())
    assert all(abs(lag) <= PRESETS["tiny"].max_lag_s for lag in lags.values())
    latent = np.loadtxt(root / "ground_truth" / "latent" / "synth000.csv", delimiter=",", skiprows=1)
    labels = (root / layout.ANNOTATION_DIR / "Train_Set" / "synth000.txt").read_text().splitlines()[1:]
    assert len(latent) == len(labels)
    assert np.abs(latent[:, 1:]).max() < 1


def test_index_has_masks_for_unannotated_frames_and_face_dropouts(tiny_corpus):
    index = read_index(str(tiny_corpus["index"])).to_pydict()
    valid = np.array(index["label_valid"])
    faces = np.array(index["face_present"])
    assert 0.8 < valid.mean() < 1.0  # a few percent unannotated
    assert 0.8 < faces.mean() < 1.0  # some face dropouts
    values = np.array(index["valence"])
    assert np.all(values[~valid] == -5) and np.all(np.abs(values[valid]) <= 1)
    assert set(index["fps"]) <= {25.0, 30.0}


def test_same_seed_same_corpus_other_seed_other_corpus(tmp_path):
    write_corpus(str(tmp_path / "a"), MICRO, seed=7)
    write_corpus(str(tmp_path / "b"), MICRO, seed=7)
    write_corpus(str(tmp_path / "c"), MICRO, seed=8)
    for rel in (
        "VA_Estimation_Challenge/Train_Set/synth000.txt",
        "cropped_aligned/synth000/00001.jpg",
        "ground_truth/lags.json",
        "videos/synth001.avi",
    ):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert (tmp_path / "a" / "ground_truth/lags.json").read_bytes() != (
        tmp_path / "c" / "ground_truth/lags.json"
    ).read_bytes()


def test_lag_spread_is_configurable(tmp_path):
    write_corpus(str(tmp_path / "far"), MICRO, seed=1, max_lag_s=4.0)
    meta = json.loads((tmp_path / "far" / "ground_truth" / "synth.json").read_text())
    assert meta["preset"]["max_lag_s"] == 4.0


def test_corpus_writes_through_memory_filesystem():
    import fsspec

    write_corpus("memory://synth-test/corpus", MICRO, seed=0)
    fs = fsspec.filesystem("memory")
    assert fs.exists("/synth-test/corpus/videos/synth000.avi")
    assert not [p for p in fs.ls("/synth-test") if ".tmp-" in p["name"]]
