import hashlib
import json
import re
import shutil

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile
from conftest import cli_error, run_cli

import tagf.evaluation.predict as predict
from tagf.data import affwild2_layout as layout
from tagf.data import feature_store
from tagf.data.feature_store import read_manifest, read_split, schema, videos_from_store, write_store
from tagf.data.media import read_audio
from tagf.data.prepare import prepare

FPS = {"a": 30.0, "b": 25.0}


def random_table(rng, videos=(("a", 5), ("b", 3)), dtype="float32", dims=(6, 4)):
    rows = sum(n for _, n in videos)
    visual, audio = (
        rng.normal(size=(rows, dims[0])).astype(np.float32),
        rng.normal(size=(rows, dims[1])).astype(np.float32),
    )
    return (
        pa.table(
            {
                "video": [v for v, n in videos for _ in range(n)],
                "frame": np.concatenate([np.arange(1, n + 1) for _, n in videos]).astype(np.int32),
                "valence": rng.uniform(-1, 1, rows).astype(np.float32),
                "arousal": rng.uniform(-1, 1, rows).astype(np.float32),
                "label_valid": rng.random(rows) > 0.2,
                "visual": pa.FixedSizeListArray.from_arrays(visual.ravel(), dims[0]),
                "visual_valid": rng.random(rows) > 0.1,
                "audio": pa.FixedSizeListArray.from_arrays(audio.ravel(), dims[1]),
            }
        ).cast(schema(*dims, dtype)),
        visual,
        audio,
    )


@pytest.mark.parametrize("url", ["memory://store-roundtrip/features", "local"])
def test_store_round_trips(url, tmp_path):
    url = str(tmp_path / "features") if url == "local" else url
    rng = np.random.default_rng(0)
    table, visual, audio = random_table(rng)
    manifest = write_store(url, {"train": table}, FPS, {"dims": {"visual": 6, "audio": 4}})
    assert read_manifest(url) == manifest and manifest["splits"] == {"train": {"frames": 8, "videos": 2}}
    split = read_split(url, "train")
    assert split.videos == ["a", "b"] and list(split.offsets) == [0, 5, 8]
    assert manifest["fps"] == split.fps == FPS and split.select(["b"]).fps == {"b": 25.0}
    np.testing.assert_array_equal(split.visual, visual)
    np.testing.assert_array_equal(split.audio, audio)
    np.testing.assert_array_equal(
        split.label_valid, table.column("label_valid").to_numpy(zero_copy_only=False)
    )
    assert split.video_slice(1) == slice(5, 8)


def test_float16_storage_keeps_values_to_half_precision(tmp_path):
    table, visual, _ = random_table(np.random.default_rng(1), dtype="float16")
    write_store(str(tmp_path / "s"), {"train": table}, FPS, {})
    np.testing.assert_allclose(read_split(str(tmp_path / "s"), "train").visual, visual, rtol=1e-3, atol=1e-3)


def test_content_version_changes_with_content(tmp_path):
    a = write_store(str(tmp_path / "a"), {"train": random_table(np.random.default_rng(1))[0]}, FPS, {})
    b = write_store(str(tmp_path / "b"), {"train": random_table(np.random.default_rng(1))[0]}, FPS, {})
    c = write_store(str(tmp_path / "c"), {"train": random_table(np.random.default_rng(2))[0]}, FPS, {})
    assert a["version"] == b["version"] != c["version"]


def test_failed_write_leaves_nothing_visible(monkeypatch):
    fs = fsspec.filesystem("memory")
    table = random_table(np.random.default_rng(1))[0]
    written = []

    def fail_on_the_second_split(t):
        if written:
            raise OSError("disk full")
        written.append(t)
        return to_bytes(t)

    to_bytes = feature_store._parquet_bytes
    monkeypatch.setattr(feature_store, "_parquet_bytes", fail_on_the_second_split)
    with pytest.raises(OSError, match="disk full"):
        write_store("memory://store-failed/features", {"train": table, "validation": table}, FPS, {})
    assert not fs.exists("/store-failed/features")
    assert (
        not [p for p in fs.ls("/store-failed") if ".tmp-" in p["name"]]
        if fs.exists("/store-failed")
        else True
    )


def test_missing_store_and_split_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a feature store"):
        read_manifest(str(tmp_path / "nothing"))
    write_store(str(tmp_path / "s"), {"train": random_table(np.random.default_rng(1))[0]}, FPS, {})
    with pytest.raises(FileNotFoundError, match="no split 'test'"):
        read_split(str(tmp_path / "s"), "test")


def test_tiny_store_from_the_cli(tiny_corpus):
    manifest = read_manifest(str(tiny_corpus["store"]))
    assert manifest["dims"] == {"visual": 512, "audio": 128}
    assert manifest["extractor"]["visual_backbone"] == "builtin"
    split = read_split(str(tiny_corpus["store"]), "validation")
    assert split.visual.shape[1] == 512 and split.audio.shape[1] == 128
    assert np.all(split.visual[~split.visual_valid] == 0)  # no face, no visual features
    assert np.abs(split.visual[split.visual_valid]).sum(1).min() > 0
    index = pq.read_table(tiny_corpus["index"], columns=["video", "fps"]).to_pydict()
    assert manifest["fps"] == dict(zip(index["video"], index["fps"]))
    assert split.fps == {v: manifest["fps"][v] for v in split.videos}


@pytest.fixture
def big_store(tmp_path):
    """(store dir, visual, audio) of a store whose split files are mostly uncompressed vector values."""
    table, visual, audio = random_table(np.random.default_rng(3), (("a", 1500), ("b", 500)), dims=(64, 32))
    write_store(str(tmp_path / "features"), {"train": table, "validation": table}, FPS, {})
    return tmp_path / "features", visual, audio


def test_a_split_read_in_batches_is_the_split_whole(big_store, monkeypatch):
    """Batches that end inside a video and inside a row group: the same arrays as one batch of the whole file."""
    import tagf.data.feature_store as feature_store

    store = str(big_store[0])
    monkeypatch.setattr(feature_store, "READ_ROWS", 1 << 20)
    whole = read_split(store, "train")
    monkeypatch.setattr(feature_store, "READ_ROWS", 333)
    monkeypatch.setattr(feature_store, "READ_BUFFER", 4096)  # pages read across several buffered reads
    batched = read_split(store, "train")
    assert batched.videos == whole.videos == ["a", "b"] and list(batched.offsets) == list(whole.offsets)
    for name in ("visual", "audio", "labels", "label_valid", "visual_valid", "frames"):
        np.testing.assert_array_equal(getattr(batched, name), getattr(whole, name), err_msg=name)


def rewrite_split(store, split, visual, audio):
    """Replace a split's vectors and its manifest checksum, as a faulty writer would."""
    path = store / f"{split}.parquet"
    table = pq.read_table(path)
    for name, values in (("visual", visual), ("audio", audio)):
        vectors = pa.FixedSizeListArray.from_arrays(values.ravel(), values.shape[1])
        table = table.set_column(table.column_names.index(name), name, vectors)
    pq.write_table(table, path)
    manifest = json.loads((store / "manifest.json").read_text())
    manifest["sha256"][split] = hashlib.sha256(path.read_bytes()).hexdigest()
    (store / "manifest.json").write_text(json.dumps(manifest))


def test_nan_feature_at_read_names_store_split_video_and_frame(big_store, tmp_path):
    store, visual, audio = big_store
    visual[1501, 7] = np.nan  # video b, frame 2
    rewrite_split(store, "train", visual, audio)
    proc = run_cli("train", "--store", str(store), "--output", str(tmp_path / "run"), check=False)
    assert cli_error(proc) == f"{store}: split 'train', video b frame 2: visual feature is NaN"
    assert not (tmp_path / "run").exists()


def test_infinite_feature_at_read_is_named(big_store):
    store, visual, audio = big_store
    audio[16, 0] = -np.inf
    rewrite_split(store, "validation", visual, audio)
    with pytest.raises(ValueError, match=r"split 'validation', video a frame 17: audio feature is infinite$"):
        read_split(str(store), "validation")


def test_non_finite_values_are_never_written(tmp_path):
    table, visual, audio = random_table(np.random.default_rng(4))
    visual[6, 0] = np.nan
    table = table.set_column(5, "visual", pa.FixedSizeListArray.from_arrays(visual.ravel(), 6))
    with pytest.raises(ValueError, match=r"s: split 'test', video b frame 2: visual feature is NaN$"):
        write_store(str(tmp_path / "s"), {"test": table}, FPS, {})
    assert not list(tmp_path.iterdir())


def test_features_cli_refuses_a_nan_from_the_media_and_writes_nothing(micro_corpus, tmp_path):
    root = tmp_path / "corpus"
    shutil.copytree(micro_corpus, root)
    audio = read_audio(str(root / layout.VIDEO_DIR / "synth001.avi"))
    audio[len(audio) // 2] = np.nan  # one bad sample in a pre-extracted WAV
    (root / layout.AUDIO_DIR).mkdir()
    soundfile.write(root / layout.AUDIO_DIR / "synth001.wav", audio, 16_000, subtype="FLOAT")
    prepare(str(root), str(tmp_path / "index.parquet"))
    store = tmp_path / "features"
    proc = run_cli("features", str(tmp_path / "index.parquet"), str(store), check=False)
    message = f"{re.escape(str(store))}: split 'train', video synth001 frame [0-9]+: audio feature is NaN"
    assert re.fullmatch(message, cli_error(proc))
    assert not store.exists() and not list(tmp_path.glob("features.tmp-*"))


def corrupt_middle(store):
    """Zero 8 bytes in the middle of train.parquet: inside the float values, so the file still parses."""
    path = store / "train.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 8] = bytes(8)
    path.write_bytes(bytes(data))
    assert pq.read_table(path).num_rows == 2000  # without the checksum, a silently wrong number


def truncate(store):
    path = store / "train.parquet"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def drop_checksums(store):
    """The manifest of a store written before per-file checksums."""
    manifest = json.loads((store / "manifest.json").read_text())
    del manifest["sha256"]
    (store / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            corrupt_middle,
            "{store}/train.parquet (split 'train'): sha256 differs from manifest.json's: the store is corrupted or "
            "was modified after it was written; re-run `tagf features`",
        ),
        (
            truncate,
            "{store}/train.parquet (split 'train'): not a readable Parquet file: "
            "Parquet magic bytes not found in footer; re-run `tagf features`",
        ),
        (
            drop_checksums,
            "{store}: feature store written by an older tagf, without checksums; re-extract it with `tagf features`",
        ),
    ],
    ids=["corrupted middle", "truncated", "no checksums"],
)
def test_damaged_or_unverifiable_store_is_refused(big_store, tmp_path, damage, message):
    store = big_store[0]
    damage(store)
    proc = run_cli("train", "--store", str(store), "--output", str(tmp_path / "run"), check=False)
    assert cli_error(proc) == message.format(store=store)
    assert not (tmp_path / "run").exists()


def test_every_video_needs_its_fps(tmp_path):
    table = random_table(np.random.default_rng(5))[0]
    with pytest.raises(ValueError, match=r"s: split 'train': no frame rate for video\(s\) b$"):
        write_store(str(tmp_path / "s"), {"train": table}, {"a": 30.0}, {})
    assert not list(tmp_path.iterdir())
    write_store(str(tmp_path / "s"), {"train": table}, FPS, {})
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    del manifest["fps"]["a"]
    (tmp_path / "s" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"manifest.json: no fps for video\(s\) a of split 'train'"):
        read_split(str(tmp_path / "s"), "train")


def test_time_axes_use_each_videos_fps(tiny_corpus, monkeypatch):
    store = str(tiny_corpus["store"])
    fps = read_manifest(store)["fps"]
    video = next(v for v, rate in fps.items() if rate != 30)  # a rate a hard-coded 30 would get wrong
    other = next(v for s in ("train", "test") for v in read_split(store, s).videos[:1] if v != video)
    split = videos_from_store(store, [video, other])
    assert split.fps == {video: fps[video], other: fps[other]}
    rates = []
    monkeypatch.setattr(
        predict, "trace_figure", lambda _video, _values, _targets, rate, *_: rates.append(rate)
    )
    values = np.zeros((len(split.frames), 2), np.float32)
    predict.write_outputs(split, values, ["valence", "arousal"], None, None, None, "unused.png")
    assert rates == [fps[video]]
