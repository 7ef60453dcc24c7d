"""A corpus directory that points at a corpus kept elsewhere (an Aff-Wild2 tree): SOURCE.json names its root and
fingerprints its file listing, so that DVC, which tracks the directory, reruns the data stages when the tree changes.

`tagf prepare` accepts either a corpus root or such a directory.
"""

from __future__ import annotations

import hashlib
import json

from tagf import storage
from tagf.errors import StorageError

SOURCE_FILE = "SOURCE.json"


def write_pointer(root: str, output: str, source: str = "affwild2") -> None:
    fs, path = storage.filesystem(root)
    if not fs.isdir(path):
        raise StorageError(f"{root}: corpus root is not a directory")
    listing = sorted((name, info.get("size")) for name, info in fs.find(path, detail=True).items())
    fingerprint = hashlib.sha256(json.dumps(listing, allow_nan=False).encode()).hexdigest()
    pointer = {"source": source, "root": root, "files": len(listing), "listing_sha256": fingerprint}
    storage.write_text(storage.join(output, SOURCE_FILE), json.dumps(pointer, indent=1, allow_nan=False))


def corpus_root(corpus_dir: str) -> str:
    """The root a corpus directory points at, or the directory itself."""
    pointer = storage.join(corpus_dir, SOURCE_FILE)
    return json.loads(storage.read_text(pointer))["root"] if storage.exists(pointer) else corpus_dir
