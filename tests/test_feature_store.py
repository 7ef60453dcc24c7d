import fsspec
import numpy as np
import pyarrow as pa
import pytest

from tagf.data.feature_store import read_manifest, read_split, schema, write_store


def random_table(rng, videos=(("a", 5), ("b", 3)), dtype="float32"):
    rows = sum(n for _, n in videos)
    visual, audio = (
        rng.normal(size=(rows, 6)).astype(np.float32),
        rng.normal(size=(rows, 4)).astype(np.float32),
    )
    return (
        pa.table(
            {
                "video": [v for v, n in videos for _ in range(n)],
                "frame": np.concatenate([np.arange(1, n + 1) for _, n in videos]).astype(np.int32),
                "valence": rng.uniform(-1, 1, rows).astype(np.float32),
                "arousal": rng.uniform(-1, 1, rows).astype(np.float32),
                "label_valid": rng.random(rows) > 0.2,
                "visual": pa.FixedSizeListArray.from_arrays(visual.ravel(), 6),
                "visual_valid": rng.random(rows) > 0.1,
                "audio": pa.FixedSizeListArray.from_arrays(audio.ravel(), 4),
            }
        ).cast(schema(6, 4, dtype)),
        visual,
        audio,
    )


@pytest.mark.parametrize("url", ["memory://store-roundtrip/features", "local"])
def test_store_round_trips(url, tmp_path):
    url = str(tmp_path / "features") if url == "local" else url
    rng = np.random.default_rng(0)
    table, visual, audio = random_table(rng)
    manifest = write_store(url, {"train": table}, {"dims": {"visual": 6, "audio": 4}})
    assert read_manifest(url) == manifest and manifest["splits"] == {"train": {"frames": 8, "videos": 2}}
    split = read_split(url, "train")
    assert split.videos == ["a", "b"] and list(split.offsets) == [0, 5, 8]
    np.testing.assert_array_equal(split.visual, visual)
    np.testing.assert_array_equal(split.audio, audio)
    np.testing.assert_array_equal(
        split.label_valid, table.column("label_valid").to_numpy(zero_copy_only=False)
    )
    assert split.video_slice(1) == slice(5, 8)


def test_float16_storage_keeps_values_to_half_precision(tmp_path):
    table, visual, _ = random_table(np.random.default_rng(1), dtype="float16")
    write_store(str(tmp_path / "s"), {"train": table}, {})
    np.testing.assert_allclose(read_split(str(tmp_path / "s"), "train").visual, visual, rtol=1e-3, atol=1e-3)


def test_content_version_changes_with_content(tmp_path):
    a = write_store(str(tmp_path / "a"), {"train": random_table(np.random.default_rng(1))[0]}, {})
    b = write_store(str(tmp_path / "b"), {"train": random_table(np.random.default_rng(1))[0]}, {})
    c = write_store(str(tmp_path / "c"), {"train": random_table(np.random.default_rng(2))[0]}, {})
    assert a["version"] == b["version"] != c["version"]


def test_failed_write_leaves_nothing_visible():
    fs = fsspec.filesystem("memory")
    with pytest.raises(AttributeError):
        write_store("memory://store-failed/features", {"train": "not a table"}, {})
    assert not fs.exists("/store-failed/features")
    assert (
        not [p for p in fs.ls("/store-failed") if ".tmp-" in p["name"]]
        if fs.exists("/store-failed")
        else True
    )


def test_missing_store_and_split_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a feature store"):
        read_manifest(str(tmp_path / "nothing"))
    write_store(str(tmp_path / "s"), {"train": random_table(np.random.default_rng(1))[0]}, {})
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
