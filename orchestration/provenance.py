"""What every run is tagged with: the code's commit, the environment (Python, torch, a digest of every installed
package's version) and the data it saw (the feature store's content version and the frame index it was extracted
from)."""

from __future__ import annotations

import mlflow

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
