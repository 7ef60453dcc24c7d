"""A lab's Aff-Wild2 is usually a tree of symbolic links into shared storage: it must index exactly as a copy does,
its fingerprint must follow the content behind the links, and a link that leads nowhere must be named."""

import os
import shutil

import pyarrow.parquet as pq
import pytest
from conftest import run_cli

from tagf.data import affwild2_layout as layout
from tagf.data.corpus_source import fingerprint
from tagf.data.prepare import CorpusError, prepare
from tagf.errors import DataError


def link_tree(source, target, *, link_dirs: bool):
    """`target` mirrors `source` with a symbolic link per file (link_dirs: a link per top-level folder instead)."""
    target.mkdir()
    for entry in source.iterdir():
        if link_dirs:
            (target / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
            continue
        for folder, _, files in os.walk(entry):
            mirrored = target / os.path.relpath(folder, source)
            mirrored.mkdir(exist_ok=True)
            for name in files:
                (mirrored / name).symlink_to(os.path.join(folder, name))
    return target


@pytest.fixture
def copied(micro_corpus, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(micro_corpus, root)
    return root


def rows(root, out):
    table = prepare(str(root), str(out))
    return table.replace_schema_metadata(None)


@pytest.mark.parametrize("link_dirs", [False, True], ids=["linked-files", "linked-folders"])
def test_a_tree_of_links_indexes_exactly_what_a_copy_indexes(copied, tmp_path, link_dirs):
    linked = link_tree(copied, tmp_path / "links", link_dirs=link_dirs)
    assert rows(linked, tmp_path / "linked.parquet").equals(rows(copied, tmp_path / "copied.parquet"))
    assert len(set(pq.read_table(tmp_path / "linked.parquet").column("video").to_pylist())) == 4


def problems_of(root, tmp_path):
    out = tmp_path / "index.parquet"
    with pytest.raises(CorpusError) as err:
        prepare(str(root), str(out))
    assert not out.exists()
    return err.value.problems


def test_broken_link_self_loop_and_a_folder_named_like_an_annotation_are_each_named(copied, tmp_path):
    linked = link_tree(copied, tmp_path / "links", link_dirs=False)
    train = linked / layout.ANNOTATION_DIR / layout.SPLIT_DIRS["train"]
    broken = train / "synth000.txt"
    target = os.readlink(broken)
    os.unlink(target)  # the shared file is gone, the link stays
    loop = train / "loop.txt"
    loop.symlink_to(loop)
    (train / "extra.txt").mkdir()
    face = next((linked / layout.FACES_DIR / "synth001").iterdir())
    face.unlink()
    face.symlink_to(tmp_path / "nowhere.jpg")
    assert sorted(problems_of(linked, tmp_path)) == sorted(
        [
            f"{broken}: broken symbolic link (to {target})",
            f"{loop}: unusable symbolic link (Too many levels of symbolic links)",
            f"{train / 'extra.txt'}: a directory where a file is expected",
            f"{face}: broken symbolic link (to {tmp_path / 'nowhere.jpg'})",
        ]
    )


def test_cli_names_the_broken_link_exit_4_nothing_written(copied, tmp_path):
    linked = link_tree(copied, tmp_path / "links", link_dirs=False)
    broken = linked / layout.ANNOTATION_DIR / layout.SPLIT_DIRS["validation"] / "synth002.txt"
    os.unlink(os.readlink(broken))
    out = tmp_path / "index.parquet"
    proc = run_cli("prepare", str(linked), str(out), check=False)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("tagf prepare: error: ")]
    assert proc.returncode == 4 and len(errors) == 1 and str(broken) in errors[0], proc.stderr
    assert not out.exists() and not list(tmp_path.glob("index.parquet.tmp-*"))


def test_fingerprint_follows_links_to_their_content(copied, tmp_path):
    linked = link_tree(copied, tmp_path / "links", link_dirs=True)
    files = sum(len(names) for _, _, names in os.walk(copied))
    before = fingerprint(str(linked))
    assert before["files"] == files == fingerprint(str(copied))["files"]
    video = copied / layout.VIDEO_DIR / "synth001.avi"
    video.write_bytes(video.read_bytes() + b"\0")  # edited on the shared storage, not through the link
    assert fingerprint(str(linked))["listing_sha256"] != before["listing_sha256"]


def test_fingerprint_refuses_a_folder_that_links_to_itself(copied):
    (copied / layout.FACES_DIR / "synth000" / "again").symlink_to(copied / layout.FACES_DIR)
    with pytest.raises(DataError, match="symbolic link loop"):
        fingerprint(str(copied))
