"""The frame index `tagf prepare` writes: one row per annotated (or listed) frame, Parquet, with the corpus root in its
schema metadata (`tagf.root`); `tagf features` reads it."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from tagf import storage


def read_index(index_url: str) -> pa.Table:
    fs, path = storage.filesystem(index_url)
    with fs.open(path, "rb") as f:
        return pq.read_table(f, use_threads=storage.ARROW_THREADS)
