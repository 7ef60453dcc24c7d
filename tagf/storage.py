"""Reading and writing through fsspec URLs (local paths, s3://, memory://), publishing atomically.

Every write goes to a temporary sibling and is renamed onto its final name only when complete, so a reader never
sees a partial file or directory; on error the temporary is removed.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import fsspec
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from tagf.errors import DataError, StorageError

# pyarrow's thread pool (25.x) can abort the interpreter at exit ("terminate called without an active exception",
# about one run in twenty on this project's machines): Parquet is read on the calling thread instead. Our files are
# small enough that this costs little (benchmarks/feature_store_read.py). That made the abort rare, not gone; the
# `tagf` process now skips the teardown where it happens (tagf.cli.process_exit).
ARROW_THREADS = False


def filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and the path within it of a URL or local path."""
    return url_to_fs(str(url))


def join(url: str, *parts: str) -> str:
    return "/".join([str(url).rstrip("/"), *parts])


def basename(url: str) -> str:
    return str(url).rstrip("/").rsplit("/", 1)[-1]


def exists(url: str) -> bool:
    fs, path = filesystem(url)
    return fs.exists(path)


@contextlib.contextmanager
def atomic_path(url: str) -> Iterator[tuple[fsspec.AbstractFileSystem, str]]:
    """Yield (fs, temporary path); on success the temporary (file or directory) replaces `url`."""
    fs, path = filesystem(url)
    parent = path.rsplit("/", 1)[0] if "/" in path.strip("/") else ""
    if parent:
        fs.makedirs(parent, exist_ok=True)
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        yield fs, tmp
        if fs.exists(path):
            fs.rm(path, recursive=True)
        fs.mv(tmp, path, recursive=True)
    except StorageError:
        raise
    except OSError as err:  # a full disk, a permission: name the file being written, not just the errno
        raise StorageError(
            f"{url}: {err.strerror or err} (while writing it; nothing was left there)"
        ) from None
    finally:
        if fs.exists(tmp):
            fs.rm(tmp, recursive=True)


def put(fs: fsspec.AbstractFileSystem, path: str, data: bytes) -> None:
    """Write one file inside a directory being built (e.g. under atomic_path), creating its parents."""
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    fs.pipe_file(path, data)


def write_bytes(url: str, data: bytes) -> None:
    with atomic_path(url) as (fs, tmp), fs.open(tmp, "wb") as f:
        f.write(data)


def write_text(url: str, text: str) -> None:
    write_bytes(url, text.encode())


def read_bytes(url: str) -> bytes:
    fs, path = filesystem(url)
    with fs.open(path, "rb") as f:
        return f.read()


def read_text(url: str) -> str:
    return read_bytes(url).decode()


def _followed(fs: fsspec.AbstractFileSystem, entry: dict) -> str:
    """What an entry is once a symbolic link is followed: file, directory, other, or why the link leads nowhere.

    fsspec's listing reports a link to a file as `other`, so a tree of links (a lab's copy of shared storage) would
    look empty; its own `info` on the path follows the link."""
    if not entry.get("islink"):
        return entry["type"]
    try:
        return fs.info(entry["name"])["type"]
    except FileNotFoundError:
        return f"broken symbolic link (to {entry.get('destination', '?')})"
    except OSError as err:  # ELOOP: a link that points at itself, directly or round a cycle
        return f"unusable symbolic link ({err.strerror or type(err).__name__})"


def entries(fs: fsspec.AbstractFileSystem, folder: str) -> list[tuple[str, str]]:
    """(path, kind) of every entry of `folder`, sorted, symbolic links followed; kind is file, directory, other or
    a sentence saying why a link is unusable."""
    return sorted((e["name"], _followed(fs, e)) for e in fs.ls(folder, detail=True))


def _real(fs: fsspec.AbstractFileSystem, path: str) -> str:
    # Only local trees hold links; elsewhere the path is its own identity.
    return os.path.realpath(path) if isinstance(fs, LocalFileSystem) else path


def walk_files(fs: fsspec.AbstractFileSystem, root: str) -> dict[str, dict]:
    """Every file under `root` by path, with the `info` of what it is (a link's target, not the link), following
    linked folders; a broken link or a folder that contains itself raises DataError naming it."""
    files: dict[str, dict] = {}

    def visit(folder: str, ancestors: frozenset[str]) -> None:
        for path, kind in entries(fs, folder):
            if kind == "directory":
                real = _real(fs, path)
                if real in ancestors:
                    raise DataError(f"{path}: symbolic link loop (leads back to {real})")
                visit(path, ancestors | {real})
            elif kind in ("file", "other"):
                files[path] = fs.info(path)
            else:
                raise DataError(f"{path}: {kind}")

    visit(root.rstrip("/"), frozenset({_real(fs, root.rstrip("/"))}))
    return files
