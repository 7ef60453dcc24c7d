"""The feature store: one Parquet file per split, rows = frames, plus a JSON manifest, at any fsspec URL.

    <store>/manifest.json      dims, dtype, extractor and weight hashes, corpus (frame index) hash, per-split counts
    <store>/<split>.parquet    video, frame, valence, arousal, label_valid, visual, visual_valid, audio

`visual` and `audio` are fixed_size_list<float16|float32>; reading hands their flat value buffers to numpy
(no per-row work, no conversion), which keeps loading far from being a bottleneck. The whole store is published atomically.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tagf import storage

SPLITS = ("train", "validation", "test")
MANIFEST = "manifest.json"


def schema(visual_dim: int, audio_dim: int, dtype: str) -> pa.Schema:
    value = pa.float16() if dtype == "float16" else pa.float32()
    return pa.schema(
        [
            ("video", pa.string()),
            ("frame", pa.int32()),
            ("valence", pa.float32()),
            ("arousal", pa.float32()),
            ("label_valid", pa.bool_()),
            ("visual", pa.list_(value, visual_dim)),
            ("visual_valid", pa.bool_()),
            ("audio", pa.list_(value, audio_dim)),
        ]
    )


@dataclass
class SplitArrays:
    """One split in memory; rows of a video are contiguous, in frame order."""

    videos: list[str]
    offsets: np.ndarray  # (V+1,) row where each video starts; the last is the row count
    visual: np.ndarray  # (N, Dv) in the store's precision (float16 or float32); batches are made float32
    audio: np.ndarray  # (N, Da)
    labels: np.ndarray  # (N, 2) float32 valence, arousal
    label_valid: np.ndarray  # (N,) bool
    visual_valid: np.ndarray  # (N,) bool
    frames: np.ndarray  # (N,) int32, 1-based

    def video_slice(self, index: int) -> slice:
        return slice(int(self.offsets[index]), int(self.offsets[index + 1]))

    def select(self, videos: list[str]) -> SplitArrays:
        """The given videos only, in the given order."""
        missing = [v for v in videos if v not in self.videos]
        if missing:
            raise ValueError(f"videos not in this split: {', '.join(missing)}")
        slices = [self.video_slice(self.videos.index(v)) for v in videos]
        rows = np.concatenate([np.arange(s.start, s.stop) for s in slices]) if slices else np.zeros(0, int)
        lengths = [s.stop - s.start for s in slices]
        return SplitArrays(
            videos=list(videos),
            offsets=np.r_[0, np.cumsum(lengths)].astype(np.int64),
            visual=self.visual[rows],
            audio=self.audio[rows],
            labels=self.labels[rows],
            label_valid=self.label_valid[rows],
            visual_valid=self.visual_valid[rows],
            frames=self.frames[rows],
        )


def _vectors(column: pa.ChunkedArray) -> np.ndarray:
    flat = column.combine_chunks()
    values = flat.values.to_numpy(zero_copy_only=False)
    # Kept in the stored precision: numpy's float16→float32 is slow, torch converts each batch instead.
    return values.reshape(len(flat), flat.type.list_size)


def table_to_arrays(table: pa.Table) -> SplitArrays:
    video = table.column("video").to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.r_[True, video[1:] != video[:-1]]) if len(video) else np.zeros(0, int)
    return SplitArrays(
        videos=[str(video[i]) for i in starts],
        offsets=np.r_[starts, len(video)].astype(np.int64),
        visual=_vectors(table.column("visual")),
        audio=_vectors(table.column("audio")),
        labels=np.stack([table.column(c).to_numpy() for c in ("valence", "arousal")], axis=1).astype(
            np.float32
        ),
        label_valid=table.column("label_valid").to_numpy(zero_copy_only=False),
        visual_valid=table.column("visual_valid").to_numpy(zero_copy_only=False),
        frames=table.column("frame").to_numpy(),
    )


def write_store(url: str, tables: dict[str, pa.Table], manifest: dict[str, Any]) -> dict[str, Any]:
    """Write every split and the manifest (to which counts and a content version are added); atomic."""
    manifest = dict(manifest)
    manifest["splits"] = {
        split: {"frames": t.num_rows, "videos": len(set(t.column("video").to_pylist()))}
        for split, t in tables.items()
    }
    digest = hashlib.sha256()
    with storage.atomic_path(url) as (fs, tmp):
        fs.makedirs(tmp, exist_ok=True)
        for split, table in tables.items():
            with fs.open(f"{tmp}/{split}.parquet", "wb") as f:
                scalars = [c for c in table.column_names if c not in ("visual", "audio")]
                pq.write_table(
                    table,
                    f,
                    row_group_size=65536,
                    # Vectors: no compression, dictionary or statistics, which only slow their decoding down.
                    compression={c: "zstd" for c in scalars} | {"visual": "none", "audio": "none"},
                    use_dictionary=["video"],
                    write_statistics=scalars,
                )
            digest.update(fs.cat_file(f"{tmp}/{split}.parquet"))
        manifest["version"] = digest.hexdigest()[:16]
        storage.put(fs, f"{tmp}/{MANIFEST}", json.dumps(manifest, indent=1, sort_keys=True).encode())
    return manifest


def read_manifest(url: str) -> dict[str, Any]:
    try:
        return json.loads(storage.read_text(storage.join(url, MANIFEST)))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{url}: not a feature store (no {MANIFEST}); run `tagf features` first"
        ) from None


def read_split(url: str, split: str) -> SplitArrays:
    fs, path = storage.filesystem(storage.join(url, f"{split}.parquet"))
    if not fs.exists(path):
        raise FileNotFoundError(f"{url}: feature store has no split {split!r}")
    with fs.open(path, "rb") as f:
        return table_to_arrays(pq.read_table(f))
