"""The feature store: one Parquet file per split, rows = frames, plus a JSON manifest, at any fsspec URL.

    <store>/manifest.json      dims, dtype, extractor and weight hashes, corpus (frame index) hash, per-split counts,
                               sha256 of each split file, fps of each video, content version
    <store>/<split>.parquet    video, frame, valence, arousal, label_valid, visual, visual_valid, audio

`visual` and `audio` are fixed_size_list<float16|float32>; reading hands their flat value buffers to numpy
(no per-row work, no conversion), which keeps loading far from being a bottleneck. The whole store is published atomically.

No silent numbers: a split is read only if its bytes match the manifest's sha256 (a flipped byte in a vector column
would otherwise decode as a wrong number) and its features and labels are finite; neither kind of store is written.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tagf import storage
from tagf.errors import DataError, StorageError

SPLITS = ("train", "validation", "test")
MANIFEST = "manifest.json"
CHECK_ROWS = 65536  # rows per finiteness check, which bounds its temporary (rows, D) arrays
# Reading a split streams it: READ_ROWS rows decoded at a time (decoding a fixed-size list holds several bytes
# per value besides the value), from READ_BUFFER bytes of each column read at a time. pyarrow's default reads a
# whole row group of every column before decoding it (pre_buffer), which at 65,536 rows per group held about the
# arrays' size again (benchmarks/shared_data.py measures the peak against the arrays; benchmarks/README).
READ_ROWS = 4096
READ_BUFFER = 1 << 20
HASH_CHUNK = 1 << 22  # bytes hashed at a time


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
    fps: dict[str, float] = field(default_factory=dict)  # video → frames per second (read_split: every video)
    # (N,) each frame's ground-truth audio lag in seconds, on a synthetic corpus (tagf.data.synth.ground_truth.with_lags)
    true_lag_s: np.ndarray | None = None

    def video_slice(self, index: int) -> slice:
        return slice(int(self.offsets[index]), int(self.offsets[index + 1]))

    def select(self, videos: list[str]) -> SplitArrays:
        """The given videos only, in the given order."""
        missing = [v for v in videos if v not in self.videos]
        if missing:
            raise DataError(f"videos not in this split: {', '.join(missing)}")
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
            fps={v: self.fps[v] for v in videos if v in self.fps},
            true_lag_s=None if self.true_lag_s is None else self.true_lag_s[rows],
        )


def _vectors(column: pa.ChunkedArray) -> np.ndarray:
    flat = column.combine_chunks()
    values = flat.values.to_numpy(zero_copy_only=False)
    # Kept in the stored precision: numpy's float16→float32 is slow, torch converts each batch instead.
    return values.reshape(len(flat), flat.type.list_size)


def _parquet(handle, where: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(handle, pre_buffer=False, buffer_size=READ_BUFFER)
    except (pa.ArrowException, OSError) as err:
        # pyarrow's first sentence, without its "Could not open Parquet input source '<Buffer>': " prefix
        reason = str(err).rsplit("': ", 1)[-1].split(". ")[0].strip().rstrip(".") or type(err).__name__
        raise DataError(f"{where}: not a readable Parquet file: {reason}; re-run `tagf features`") from None


def _read_arrays(file: pq.ParquetFile) -> SplitArrays:
    """The split's arrays, filled batch by batch into arrays allocated once: never the file, the Arrow table and the
    arrays at once."""
    rows = file.metadata.num_rows
    fields = {f.name: f.type for f in file.schema_arrow}
    visual = np.empty((rows, fields["visual"].list_size), fields["visual"].value_type.to_pandas_dtype())
    audio = np.empty((rows, fields["audio"].list_size), fields["audio"].value_type.to_pandas_dtype())
    labels = np.empty((rows, 2), np.float32)
    label_valid, visual_valid = np.empty(rows, bool), np.empty(rows, bool)
    frames = np.empty(rows, np.int32)
    starts, videos, row, last = [], [], 0, None
    for batch in file.iter_batches(batch_size=READ_ROWS, use_threads=storage.ARROW_THREADS):
        end = row + batch.num_rows
        video = batch.column("video").to_numpy(zero_copy_only=False)
        changes = np.flatnonzero(np.r_[video[0] != last, video[1:] != video[:-1]]) if len(video) else []
        starts += [row + int(i) for i in changes]
        videos += [str(video[i]) for i in changes]
        last = video[-1] if len(video) else last
        for target, name in ((visual, "visual"), (audio, "audio")):
            column = batch.column(name)
            target[row:end] = column.values.to_numpy(zero_copy_only=False).reshape(batch.num_rows, -1)
        for k, name in enumerate(("valence", "arousal")):
            labels[row:end, k] = batch.column(name).to_numpy(zero_copy_only=False)
        label_valid[row:end] = batch.column("label_valid").to_numpy(zero_copy_only=False)
        visual_valid[row:end] = batch.column("visual_valid").to_numpy(zero_copy_only=False)
        frames[row:end] = batch.column("frame").to_numpy(zero_copy_only=False)
        row = end
    return SplitArrays(
        videos=videos,
        offsets=np.r_[starts, rows].astype(np.int64),
        visual=visual,
        audio=audio,
        labels=labels,
        label_valid=label_valid,
        visual_valid=visual_valid,
        frames=frames,
    )


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


def check_finite(store: str, split: str, arrays: SplitArrays) -> None:
    """Raise naming the first frame whose features or labels hold a NaN or an infinity."""
    checked = (("visual feature", arrays.visual), ("audio feature", arrays.audio), ("label", arrays.labels))
    for name, values in checked:
        for start in range(0, len(values), CHECK_ROWS):
            chunk = values[start : start + CHECK_ROWS]  # (rows, D)
            if np.isfinite(chunk).all():
                continue
            row = start + int(np.flatnonzero(~np.isfinite(chunk).all(axis=1))[0])
            video = arrays.videos[int(np.searchsorted(arrays.offsets, row, side="right")) - 1]
            what = "NaN" if np.isnan(values[row]).any() else "infinite"
            raise DataError(
                f"{store}: split {split!r}, video {video} frame {int(arrays.frames[row])}: {name} is {what}"
            )


def _parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    scalars = [c for c in table.column_names if c not in ("visual", "audio")]
    pq.write_table(
        table,
        buffer,
        row_group_size=65536,
        # Vectors: no compression, dictionary or statistics, which only slow their decoding down.
        compression={c: "zstd" for c in scalars} | {"visual": "none", "audio": "none"},
        use_dictionary=["video"],
        write_statistics=scalars,
    )
    return buffer.getvalue()


def write_store(
    url: str, tables: dict[str, pa.Table], fps: dict[str, float], manifest: dict[str, Any]
) -> dict[str, Any]:
    """Write every split and the manifest, to which are added counts, the fps of each video, a sha256 per split
    file and a content version; atomic, and refused (nothing written) for non-finite values or a video without fps.
    """
    arrays = {split: table_to_arrays(table) for split, table in tables.items()}
    for split, split_arrays in arrays.items():
        check_finite(url, split, split_arrays)
        unknown = [v for v in split_arrays.videos if not fps.get(v, 0) > 0]
        if unknown:
            raise DataError(f"{url}: split {split!r}: no frame rate for video(s) {', '.join(unknown)}")
    manifest = dict(manifest)
    manifest["splits"] = {
        split: {"frames": t.num_rows, "videos": len(arrays[split].videos)} for split, t in tables.items()
    }
    manifest["fps"] = {v: float(fps[v]) for split_arrays in arrays.values() for v in split_arrays.videos}
    manifest["sha256"] = {}
    digest = hashlib.sha256()
    with storage.atomic_path(url) as (fs, tmp):
        fs.makedirs(tmp, exist_ok=True)
        for split, table in tables.items():
            data = _parquet_bytes(table)
            storage.put(fs, f"{tmp}/{split}.parquet", data)
            manifest["sha256"][split] = hashlib.sha256(data).hexdigest()
            digest.update(data)
        manifest["version"] = digest.hexdigest()[:16]
        storage.put(
            fs, f"{tmp}/{MANIFEST}", json.dumps(manifest, indent=1, sort_keys=True, allow_nan=False).encode()
        )
    return manifest


def read_manifest(url: str) -> dict[str, Any]:
    path = storage.join(url, MANIFEST)
    try:
        return json.loads(storage.read_text(path))
    except FileNotFoundError:
        raise StorageError(f"{url}: not a feature store (no {MANIFEST}); run `tagf features` first") from None
    except ValueError as err:  # JSON or UTF-8 errors
        raise DataError(f"{path}: not a readable manifest ({err}); re-run `tagf features`") from None


def read_split(url: str, split: str) -> SplitArrays:
    """One split, verified against the manifest's sha256 and checked for non-finite values."""
    file = storage.join(url, f"{split}.parquet")
    fs, path = storage.filesystem(file)
    if not fs.exists(path):
        raise StorageError(f"{url}: feature store has no split {split!r}")
    manifest = read_manifest(url)
    if "sha256" not in manifest:
        raise DataError(
            f"{url}: feature store written by an older tagf, without checksums; re-extract it with `tagf features`"
        )
    where = f"{file} (split {split!r})"
    with fs.open(path, "rb") as f:
        _parquet(f, where)  # its footer, first: a truncated file says so
    digest = hashlib.sha256()
    with fs.open(path, "rb") as f:  # hashed as it streams: the file is never held in memory whole
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != manifest["sha256"].get(split):
        raise DataError(
            f"{where}: sha256 differs from {MANIFEST}'s: the store is corrupted or was modified after it "
            "was written; re-run `tagf features`"
        )
    with fs.open(path, "rb") as f:
        arrays = _read_arrays(_parquet(f, where))
    check_finite(url, split, arrays)
    missing = [v for v in arrays.videos if v not in manifest.get("fps", {})]
    if missing:
        raise DataError(
            f"{storage.join(url, MANIFEST)}: no fps for video(s) {', '.join(missing)} of split {split!r}; "
            "re-run `tagf features`"
        )
    arrays.fps = {v: float(manifest["fps"][v]) for v in arrays.videos}
    return arrays


def videos_from_store(store: str, videos: list[str]) -> SplitArrays:
    """The named videos, from whichever splits of the store hold them."""
    manifest = read_manifest(store)
    parts, found = [], set()
    for split_name in [s for s in SPLITS if s in manifest.get("splits", {})]:
        split = read_split(store, split_name)
        here = [v for v in videos if v in split.videos]
        if here:
            parts.append(split.select(here))
            found |= set(here)
    missing = [v for v in videos if v not in found]
    if missing:
        raise DataError(f"{store}: no features for video(s) {', '.join(missing)}")
    order = {v: i for i, v in enumerate(videos)}
    merged = parts[0] if len(parts) == 1 else _concat(parts)
    return merged.select(sorted(merged.videos, key=order.__getitem__))


def _concat(parts: list[SplitArrays]) -> SplitArrays:
    lengths = np.concatenate([np.diff(p.offsets) for p in parts])
    return SplitArrays(
        videos=[v for p in parts for v in p.videos],
        offsets=np.r_[0, np.cumsum(lengths)].astype(np.int64),
        **{
            f: np.concatenate([getattr(p, f) for p in parts])
            for f in ("visual", "audio", "labels", "label_valid", "visual_valid", "frames")
        },
        fps={video: rate for p in parts for video, rate in p.fps.items()},
        true_lag_s=None
        if any(p.true_lag_s is None for p in parts)
        else np.concatenate([p.true_lag_s for p in parts]),
    )
