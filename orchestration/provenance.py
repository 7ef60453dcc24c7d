"""What every run is tagged with: the code's commit and the data it saw (the feature store's content version and
the frame index it was extracted from)."""

from __future__ import annotations

from tagf.data.feature_store import read_manifest
from tagf.provenance import git_commit


def provenance_tags(store: str) -> dict[str, str]:
    manifest = read_manifest(store)
    return {
        "git_commit": git_commit() or "unknown",
        "data_version": manifest.get("version", "unknown"),
        "corpus_index": manifest.get("corpus", {}).get("index_sha256", "unknown"),
    }
