import json

import numpy as np

from tagf.data import affwild2_layout as layout
from tagf.data.frame_index import read_index
from tagf.data.synth.corpus import write_corpus
from tagf.data.synth.presets import PRESETS, SynthPreset

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


def test_presets_without_scenarios_write_what_they_wrote_before(tmp_path):
    """The README's results come from the tiny/default/large corpora: the misalignment fields at their defaults
    change none of their bytes. Hashes written by the generator as it was before those fields existed."""
    import hashlib

    from tagf.data.media import read_audio

    write_corpus(str(tmp_path), MICRO, seed=0)
    expected = {
        "ground_truth/latent/synth000.csv": "b64be2d0cfc5dd5f69b5a9a43004fdb649ffb36596aef5f0cfcb40de73f65414",
        "ground_truth/latent/synth001.csv": "21f797876d12e0e811c866af0df9272a8869e029080a11d010e8f1f6d83b23b2",
        "ground_truth/lags.json": "8682ec958a9b58c4e1e32ec8e7f8db9226076a79bdbf11ef54cbca2306545209",
        "VA_Estimation_Challenge/Train_Set/synth000.txt": "a4af761c69a410c9857695b27941bc87b5136f333be59b1e17897a6873746526",
        "cropped_aligned/synth001/00002.jpg": "bd7ebc1d3be5c561393161f7bee84f9b96eb2993aa44a17bf9f3c5255d25d264",
    }
    for rel, digest in expected.items():
        assert hashlib.sha256((tmp_path / rel).read_bytes()).hexdigest() == digest, rel
    # The audio decoded: the container's own bytes are the FFmpeg version's.
    audio = read_audio(str(tmp_path / "videos" / "synth001.avi"))
    assert hashlib.sha256(audio.tobytes()).hexdigest() == (
        "5b46f1184b969bb3cb80fe29c0a7efe3ee139693962d04d1db4436de43a4b7c1"
    )


def test_masks_of_a_constant_lag_corpus(tiny_corpus):
    root = tiny_corpus["root"]
    for video, lag_s in json.loads((root / "ground_truth" / "lags.json").read_text()).items():
        masks = np.loadtxt(root / "ground_truth" / "masks" / f"{video}.csv", delimiter=",", skiprows=1)
        assert np.allclose(masks[:, 6], lag_s, atol=1e-5)
        assert not masks[:, 2].any() and not masks[:, 5].any()  # no audio outage, no desynchronised stretch
        faces = [(root / layout.FACES_DIR / video / layout.face_name(int(t))).exists() for t in masks[:, 0]]
        assert np.array_equal(masks[:, 3] > 0, faces)
        assert 0.3 < masks[:, 1].mean() < 0.9  # speech with pauses
