"""`tagf features` on a Ray cluster (`--address`, else RAY_ADDRESS): the corpus's videos in shards of
features.videos_per_shard, one Ray task per shard (features.cpus_per_worker CPUs, which are its torch threads, and
features.gpus_per_worker GPUs, fractions sharing one), each writing its part beside the store; then the store is
assembled from the parts in index order by the code a local run uses (same tables, manifest, sha256s and fps).

Ray tasks, not Ray Data's map_batches: a shard's work (decoding faces, batching them through the backbone, the
audio) is the local path's function as it is, and a shard is what a killed extraction resumes from: its part file,
written atomically with its sha256 sidecar, is kept by the next start with the same index and extractor settings
(parts live in `<store>.parts/<key of both>/`) and verified before use; Ray Data's streaming blocks would hide that
unit. Tasks that fail (a lost node) are retried by Ray.
"""

from __future__ import annotations

import hashlib
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import ray

from orchestration.ray_cluster import connect
from tagf import runtime, storage
from tagf.errors import DataError
from tagf.features.config import PLACEMENT, ExtractorConfig
from tagf.features.extract import (
    CorpusIndex,
    assemble,
    extract_videos,
    load_corpus_index,
    progress_bar,
)


def parts_dir(store_url: str, index_url: str, cfg: ExtractorConfig) -> str:
    """Where the parts of this index and these extractor settings go (any other run's parts are elsewhere)."""
    key = hashlib.sha256(storage.read_bytes(index_url))
    key.update(json.dumps(cfg.model_dump(exclude=set(PLACEMENT)), sort_keys=True).encode())
    return f"{store_url.rstrip('/')}.parts/{key.hexdigest()[:16]}"


def _part(parts: str, shard: int) -> str:
    return storage.join(parts, f"shard-{shard:05d}.parquet")


def _intact(url: str) -> bool:
    """The part exists and matches its sidecar (one killed mid-write has no sidecar: extracted again)."""
    sidecar = f"{url}.sha256"
    if not (storage.exists(url) and storage.exists(sidecar)):
        return False
    return hashlib.sha256(storage.read_bytes(url)).hexdigest() == storage.read_text(sidecar).split()[0]


def extract_shard(index_url: str, videos: list[str], cfg: ExtractorConfig, part: str) -> int:
    """Ray task: the shard's videos' rows into its part file; returns its frames."""
    runtime.use_threads(
        cfg.cpus_per_worker
    )  # the task's CPUs, never more: tasks sharing a node do not oversubscribe
    corpus = load_corpus_index(index_url)
    try:
        tables = extract_videos(corpus, videos, cfg)
    except Exception as err:  # noqa: BLE001 - reported by the driver with the shard's videos
        raise DataError(f"videos {', '.join(videos)}: {type(err).__name__}: {err}") from None
    sink = io.BytesIO()
    pq.write_table(pa.concat_tables(tables), sink)
    data = sink.getvalue()
    with storage.atomic_path(part) as (fs, tmp):
        storage.put(fs, tmp, data)
    storage.write_text(f"{part}.sha256", f"{hashlib.sha256(data).hexdigest()}  {storage.basename(part)}\n")
    return corpus.frames(videos)


def _video_tables(corpus: CorpusIndex, shards: list[list[str]], parts: str) -> list[pa.Table]:
    """Every video's rows, in index order, cut back out of the parts."""
    tables = []
    for shard, videos in enumerate(shards):
        part = pq.read_table(pa.BufferReader(storage.read_bytes(_part(parts, shard))))
        start = 0
        for video in videos:
            rows = len(corpus.rows_of[video])
            tables.append(part.slice(start, rows))
            start += rows
    return tables


def extract_on_ray(index_url: str, store_url: str, cfg: ExtractorConfig, address: str) -> dict:
    """The store, extracted on the cluster at `address`; returns its manifest."""
    connect(address)
    corpus = load_corpus_index(index_url)
    videos = list(corpus.rows_of)
    shards = [videos[i : i + cfg.videos_per_shard] for i in range(0, len(videos), cfg.videos_per_shard)]
    parts = parts_dir(store_url, index_url, cfg)
    done = [shard for shard in range(len(shards)) if _intact(_part(parts, shard))]
    if done:
        print(f"resuming: {len(done)} of {len(shards)} shards already extracted in {parts}", flush=True)
    task = ray.remote(num_cpus=cfg.cpus_per_worker, num_gpus=cfg.gpus_per_worker, max_retries=3)(
        extract_shard
    )
    pending = {
        task.remote(index_url, shards[shard], cfg, _part(parts, shard)): shard
        for shard in range(len(shards))
        if shard not in done
    }
    failed = []
    with progress_bar(corpus.frames(videos), sum(corpus.frames(shards[s]) for s in done)) as bar:
        while pending:  # a failed shard does not stop the others: the next start has only it left
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            shard = pending.pop(ready)
            try:
                bar.update(ray.get(ready))
            except DataError as err:  # Ray's error wraps ours: its cause is the task's DataError
                failed.append((shard, getattr(err, "cause", err)))
    if failed:
        shard, first = min(failed, key=lambda f: f[0])
        raise DataError(
            f"{len(failed)} of {len(shards)} shards failed (first, shard {shard}: {first}); the others are "
            f"kept in {parts}: rerun the same command to extract only the failed ones"
        )
    manifest = assemble(corpus, store_url, cfg, _video_tables(corpus, shards, parts))
    fs, path = storage.filesystem(parts)
    fs.rm(path.rsplit("/", 1)[0], recursive=True)  # the store is whole: its parts are spent
    return manifest
