"""Where a corpus comes from, as a small JSON description (`tagf source` writes it from params.yaml; DVC reruns
that every time): a synthetic preset and seed, or an Aff-Wild2 tree kept elsewhere with the fingerprint of its file
listing (name, size and modification time or ETag of every file). `tagf corpus` turns the description into the
corpus directory: the synthetic corpus itself, or a SOURCE.json pointing at the tree, so that DVC, which tracks
the directory, reruns the data stages exactly when the tree changes.

`tagf prepare` accepts either a corpus root or such a directory.
"""

from __future__ import annotations

import hashlib
import json

from tagf import storage
from tagf.data.synth.corpus import write_corpus
from tagf.errors import DataError, StorageError

SOURCE_FILE = "SOURCE.json"


def _version(info: dict) -> str | None:
    """What changes when a file's content does: local mtime, or an object store's ETag / last-modified."""
    for key in ("mtime", "ETag", "etag", "LastModified", "last_modified", "md5Hash"):
        if info.get(key) is not None:
            return str(info[key])
    return None


def fingerprint(root: str, source: str = "affwild2") -> dict:
    """The pointer to `root`: its file count and the sha256 of its listing."""
    fs, path = storage.filesystem(root)
    if not fs.isdir(path):
        raise StorageError(f"{root}: corpus root is not a directory")
    # Linked folders and files are followed and fingerprinted by what they point at: editing a linked video must
    # change the fingerprint, or DVC would keep stale features.
    listing = sorted(
        (name[len(path.rstrip("/")) + 1 :], info.get("size"), _version(info))
        for name, info in storage.walk_files(fs, path).items()
    )
    digest = hashlib.sha256(json.dumps(listing, allow_nan=False).encode()).hexdigest()
    return {"source": source, "root": root, "files": len(listing), "listing_sha256": digest}


def write_corpus_from(source_json: str, output: str) -> dict:
    """The corpus directory a source description (`tagf source`) names; returns the description."""
    try:
        described = json.loads(storage.read_text(source_json))
        kind = described["source"]
    except (ValueError, KeyError, TypeError):
        raise DataError(
            f"{source_json}: not a corpus source description (write it with `tagf source`)"
        ) from None
    if kind == "synthetic":
        write_corpus(output, described["preset"], seed=described["seed"], max_lag_s=described["max_lag_s"])
    else:
        storage.write_text(
            storage.join(output, SOURCE_FILE), json.dumps(described, indent=1, allow_nan=False)
        )
    return described


def corpus_root(corpus_dir: str) -> str:
    """The root a corpus directory points at, or the directory itself."""
    pointer = storage.join(corpus_dir, SOURCE_FILE)
    return json.loads(storage.read_text(pointer))["root"] if storage.exists(pointer) else corpus_dir
