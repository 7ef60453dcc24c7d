"""Feature-extraction speed: frames/s of one worker for each backbone and input size, and what a two-node Ray
cluster adds.

    RAY_AUTH_MODE=disabled python benchmarks/feature_extraction.py [--videos 2] [--threads 1]
        [--backbones builtin,ir50,ir50_authors,vggish] [--cluster]

Writes the tiny synthetic corpus, keeps its first `--videos` videos, and makes IR-50 and VGGish weights of its own
(freshly initialised: the speed does not depend on their values). Each backbone configuration extracts the same
frames in this process at `--threads` torch threads: builtin (random-feature faces as stored, log-mel statistics),
ir50 (112 px faces), ir50_authors (the authors' 40 px crop), vggish (with the built-in faces). `--cluster` then runs
the builtin extraction on Ray (orchestration/extraction.py, one video per shard, 1 CPU per task) on a one-node and
on a two-node cluster of this machine (ray.cluster_utils.Cluster) and prints the ratio: both nodes share this
machine's cores, so it shows the overhead Ray adds, not the speed-up of real nodes (which, for this embarrassingly
parallel stage, approaches the number of nodes once a shard outlasts the per-task overhead printed).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch

from tagf import runtime
from tagf.data.frame_index import read_index
from tagf.data.prepare import prepare
from tagf.data.synth.corpus import write_corpus
from tagf.features.config import ExtractorConfig
from tagf.features.extract import extract_features
from tagf.features.iresnet import IRResNet50
from tagf.features.vggish import VGGish
from tagf.torch_files import save_tensors


def subset_index(index_url: str, videos: int, out: str) -> int:
    """The index of its first `videos` videos (its metadata, the corpus root, kept); returns their frames."""
    index = read_index(index_url)
    keep = list(dict.fromkeys(index.column("video").to_pylist()))[:videos]
    mask = [v in keep for v in index.column("video").to_pylist()]
    pq.write_table(index.filter(mask), out)
    return sum(mask)


def configurations(tmp: Path) -> dict[str, ExtractorConfig]:
    weights = {}
    for name, model in (
        ("ir50", IRResNet50(False)),
        ("ir50_authors", IRResNet50(True)),
        ("vggish", VGGish(False)),
    ):
        weights[name] = str(tmp / f"{name}.pt")
        save_tensors(model.state_dict(), weights[name])
    return {
        "builtin": ExtractorConfig(),
        "ir50": ExtractorConfig(visual_backbone="ir50", visual_weights=weights["ir50"]),
        "ir50_authors": ExtractorConfig(
            visual_backbone="ir50_authors", visual_weights=weights["ir50_authors"]
        ),
        "vggish": ExtractorConfig(audio_backbone="vggish", audio_weights=weights["vggish"]),
    }


def on_clusters(index: str, tmp: Path, frames: int) -> None:
    from ray.cluster_utils import Cluster

    from orchestration.extraction import extract_on_ray

    cfg = ExtractorConfig(videos_per_shard=1)
    rates = {}
    for nodes in (1, 2):
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=1)
        start = time.perf_counter()
        extract_on_ray(index, str(tmp / f"ray-{nodes}"), cfg, cluster.address)
        rates[nodes] = frames / (time.perf_counter() - start)
        import ray

        ray.shutdown()
        cluster.shutdown()
        print(f"  builtin on a {nodes}-node cluster       {rates[nodes]:>8.1f} frames/s (incl. Ray start-up)")
    print(
        f"  2 nodes / 1 node: {rates[2] / rates[1]:.2f}x (nodes share this machine's cores: Ray's overhead)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=int, default=2, help="videos of the tiny corpus to extract")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the worker")
    parser.add_argument("--backbones", default="builtin,ir50,ir50_authors,vggish")
    parser.add_argument(
        "--cluster", action="store_true", help="also time the builtin extraction on 1 and 2 Ray nodes"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        write_corpus(str(tmp / "corpus"), "tiny", seed=0)
        prepare(str(tmp / "corpus"), str(tmp / "full.parquet"))
        index = str(tmp / "index.parquet")
        frames = subset_index(str(tmp / "full.parquet"), args.videos, index)
        runtime.use_threads(args.threads)
        print(
            f"{frames} frames of {args.videos} videos, threads={torch.get_num_threads()}, "
            f"cpu={torch.backends.cpu.get_cpu_capability()}"
        )
        configs = configurations(tmp)
        for name in args.backbones.split(","):
            start = time.perf_counter()
            extract_features(index, str(tmp / f"store-{name}"), configs[name])
            print(f"  {name:<32} {frames / (time.perf_counter() - start):>8.1f} frames/s per worker")
        if args.cluster:
            on_clusters(index, tmp, frames)


if __name__ == "__main__":
    main()
