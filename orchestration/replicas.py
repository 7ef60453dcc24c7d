"""`tagf replicas`: the synthetic corpora of `ablate.corpus_seeds` other than data.seed, so that an ablation's runs
vary the data as well as the training seed. Each is made as the data stages make the main corpus — the same preset,
lag and features settings, only the seed differs — under OUTPUT/seed-<n>/{corpus, index.parquet, features}, the
corpus reduced to its ground truth once its features exist;
OUTPUT/replicas.json names each seed's feature store (relative to OUTPUT) and what they were made from, which the
ablation checks against its params. The main corpus stays the data stages' own:
data.seed's store is the one `tagf ablate --store` names.
"""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed

from orchestration.params import Params
from tagf import runtime, storage
from tagf.data.prepare import prepare
from tagf.data.synth.corpus import write_corpus
from tagf.data.synth.ground_truth import GROUND_TRUTH
from tagf.errors import DataError
from tagf.features.extract import extract_features

REPLICAS_FILE = "replicas.json"


def write_replicas(params: Params, output: str) -> dict[int, str]:
    """{seed: feature store} of every corpus seed but data.seed; replicas.json lists them (none: an empty list).
    The corpora are independent: made side by side, one process per core this process may use (each one thread,
    so the result is the same bytes however many run at once)."""
    seeds = [seed for seed in params.corpus_seeds() if seed != params.data.seed]
    stores = {}
    workers = max(1, min(runtime.cpus_available(), len(seeds)))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        made = {pool.submit(_replica, params, output, seed): seed for seed in seeds}
        for done, future in enumerate(as_completed(made), 1):
            stores[made[future]] = future.result()
            print(f"corpus seed {made[future]} ({done} of {len(seeds)})", flush=True)
    stores = dict(sorted(stores.items()))
    listing = {"made_from": made_from(params), "stores": {str(seed): store for seed, store in stores.items()}}
    storage.write_text(storage.join(output, REPLICAS_FILE), json.dumps(listing, indent=1, allow_nan=False))
    return {seed: storage.join(output, store) for seed, store in stores.items()}


def _replica(params: Params, output: str, seed: int) -> str:
    """One corpus seed's corpus, index and features under OUTPUT/seed-<n>; its store, relative to OUTPUT."""
    runtime.use_threads(1)
    home = storage.join(output, f"seed-{seed}")
    corpus, index = storage.join(home, "corpus"), storage.join(home, "index.parquet")
    write_corpus(corpus, params.data.preset, seed=seed, max_lag_s=params.data.max_lag_s)
    prepare(corpus, index)
    extract_features(index, storage.join(home, "features"), params.features)
    _drop_media(corpus)
    return f"seed-{seed}/features"


def _drop_media(corpus: str) -> None:
    """Keep a replica's ground truth (its lags and masks, which the ablation scores by) and drop its media once
    their features exist: the seed makes them again, and DVC would otherwise hash and cache every face image of
    every corpus (about 40,000 files each)."""
    fs, root = storage.filesystem(corpus)
    for entry in fs.ls(root, detail=False):
        if entry.rstrip("/").rsplit("/", 1)[-1] != GROUND_TRUTH:
            fs.rm(entry, recursive=True)


def made_from(params: Params) -> dict:
    """What the replicas share with the main corpus: all but the seed."""
    data = params.data
    described = {"preset": data.preset, "max_lag_s": data.max_lag_s, "features": params.features.model_dump()}
    return json.loads(json.dumps(described))  # as it reads back from replicas.json


def corpus_stores(params: Params, store: str, replicas: str | None) -> dict[int, str]:
    """{corpus seed: feature store} of the ablation: `store` for data.seed, the replicas' for the others."""
    listed: dict[int, str] = {}
    if replicas is not None:
        listing = storage.join(replicas, REPLICAS_FILE)
        try:
            found = json.loads(storage.read_text(listing))
            listed = {int(seed): storage.join(replicas, path) for seed, path in found["stores"].items()}
        except FileNotFoundError:
            raise DataError(
                f"{listing}: no such file; make the corpora with `tagf replicas {replicas}`"
            ) from None
        except (ValueError, KeyError, TypeError, AttributeError):
            raise DataError(
                f"{listing}: not a listing of corpora; write it with `tagf replicas {replicas}`"
            ) from None
        if any(seed in listed for seed in params.corpus_seeds()) and found["made_from"] != made_from(params):
            raise DataError(
                f"{listing}: made from {found['made_from']}, not from these params' {made_from(params)}; "
                f"run `tagf replicas {replicas}` again"
            )
    stores = {}
    for seed in params.corpus_seeds():
        if seed == params.data.seed:
            stores[seed] = store
        elif seed in listed:
            stores[seed] = listed[seed]
        else:
            where = replicas or "tagf ablate: --replicas"
            raise DataError(
                f"{where}: no corpus of seed {seed} (ablate.corpus_seeds); make it with `tagf replicas DIR` and "
                "pass --replicas DIR"
            )
    return stores
