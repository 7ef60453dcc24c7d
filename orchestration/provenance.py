"""What every run is tagged with: the code's commit, the environment (Python, torch, a digest of every installed
package's version) and the data it saw (the feature store's content version and the frame index it was extracted
from)."""

from __future__ import annotations

import os
import warnings

import mlflow
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset

from tagf.data.feature_store import read_manifest
from tagf.provenance import environment, git_commit, package_versions

ENVIRONMENT_ARTIFACT = "environment.json"


def provenance_tags(store: str) -> dict[str, str]:
    return {
        "git_commit": git_commit() or "unknown",
        **data_tags(store),
        **{f"env_{key}": value for key, value in environment().items()},
    }


def data_tags(store: str) -> dict[str, str]:
    """The data part: a run on another corpus (an ablation's corpus seed) carries that corpus's."""
    manifest = read_manifest(store)
    return {
        "data_version": manifest.get("version", "unknown"),
        "corpus_index": manifest.get("corpus", {}).get("index_sha256", "unknown"),
    }


def log_environment() -> None:
    """The active run's full package list ({name: version}), which the `env_packages_sha256` tag digests."""
    mlflow.log_dict(package_versions(), ENVIRONMENT_ARTIFACT)


def parent_run_name(kind: str, tags: dict[str, str]) -> str:
    """What a parent run ran, first the part that tells runs apart: `dvc exp run`'s experiment name, else the commit
    (`kind <exp or commit>`)."""
    label = os.environ.get("DVC_EXP_NAME") or tags.get("git_commit", "unknown")[:8]
    return f"{kind} {label}"


def log_store(store: str, tags: dict[str, str], context: str = "training") -> None:
    """The feature store as the active run's MLflow dataset (the runs list's Dataset column), its content version as
    the digest."""
    with (
        warnings.catch_warnings()
    ):  # a local path reads as two equivalent sources; MLflow warns and picks one
        warnings.simplefilter("ignore", UserWarning)
        source = resolve_dataset_source(store)
    dataset = MetaDataset(
        source, name=f"features {tags['data_version'][:8]}", digest=tags["data_version"][:36]
    )
    mlflow.log_input(dataset, context=context)
