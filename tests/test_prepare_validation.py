import codecs
import re
import shutil

import pytest
import soundfile
from conftest import run_cli

from tagf.data import affwild2_layout as layout
from tagf.data.frame_index import read_index
from tagf.data.media import AUDIO_RATE, read_audio
from tagf.data.prepare import CorpusError, prepare


@pytest.fixture
def corpus(micro_corpus, tmp_path):
    root = tmp_path / "corpus"
    shutil.copytree(micro_corpus, root)
    return root


def annotation(root, split, video):
    return root / layout.ANNOTATION_DIR / layout.SPLIT_DIRS[split] / f"{video}.txt"


def problems_of(root, tmp_path):
    out = tmp_path / "index.parquet"
    with pytest.raises(CorpusError) as err:
        prepare(str(root), str(out))
    assert not out.exists() and not list(tmp_path.glob("index.parquet.tmp-*"))  # nothing partial
    return err.value.problems


def test_clean_corpus_indexes(corpus, tmp_path):
    index = prepare(str(corpus), str(tmp_path / "i.parquet"))
    assert set(index.column("split").to_pylist()) == {"train", "validation", "test"}
    assert read_index(str(tmp_path / "i.parquet")).num_rows == index.num_rows


def test_bad_header(corpus, tmp_path):
    path = annotation(corpus, "train", "synth000")
    path.write_text("arousal,valence\n" + "".join(path.read_text().splitlines(True)[1:]))
    assert problems_of(corpus, tmp_path) == [
        f"{path}: bad header: expected 'valence,arousal', found 'arousal,valence'"
    ]


def test_non_numeric_and_out_of_range_values(corpus, tmp_path):
    path = annotation(corpus, "train", "synth001")
    lines = path.read_text().splitlines(True)
    lines[3], lines[5] = "0.1,abc\n", "1.5,0.2\n"
    path.write_text("".join(lines))
    found = problems_of(corpus, tmp_path)
    assert f"{path}:4: non-numeric value: '0.1,abc'" in found
    assert f"{path}:6: valence 1.5 outside [-1, 1] (and not -5)" in found


def test_label_count_beyond_tolerance(corpus, tmp_path):
    path = annotation(corpus, "validation", "synth002")
    lines = path.read_text().splitlines(True)
    path.write_text("".join(lines[:-10]))
    (found,) = problems_of(corpus, tmp_path)
    assert found.startswith(f"{path}: {len(lines) - 11} labels for {len(lines) - 1} video frames")


def test_label_count_within_tolerance_is_accepted(corpus, tmp_path):
    path = annotation(corpus, "validation", "synth002")
    path.write_text("".join(path.read_text().splitlines(True)[:-2]))
    index = prepare(str(corpus), str(tmp_path / "i.parquet")).to_pydict()
    rows = [i for i, v in enumerate(index["video"]) if v == "synth002"]
    assert not index["label_valid"][rows[-1]]  # the missing labels are unannotated frames


def test_missing_media_unreadable_image_and_audio_all_reported_at_once(corpus, tmp_path):
    (corpus / layout.VIDEO_DIR / "synth000.avi").unlink()
    image = sorted((corpus / layout.FACES_DIR / "synth001").glob("*.jpg"))[0]
    image.write_bytes(b"not a jpeg")
    (corpus / layout.AUDIO_DIR).mkdir()
    (corpus / layout.AUDIO_DIR / "synth002.wav").write_bytes(b"RIFF broken")
    found = problems_of(corpus, tmp_path)
    assert len(found) == 3
    assert any(p.startswith(f"{corpus / layout.VIDEO_DIR / 'synth000.mp4'}: missing media") for p in found)
    assert f"{image}: unreadable image (UnidentifiedImageError)" in found
    assert any(p.startswith(f"{corpus / layout.AUDIO_DIR / 'synth002.wav'}: unreadable media") for p in found)


def test_duplicate_video_across_splits(corpus, tmp_path):
    shutil.copy(annotation(corpus, "train", "synth000"), annotation(corpus, "validation", "synth000"))
    (found,) = problems_of(corpus, tmp_path)
    assert "duplicate video across splits" in found and "Validation_Set/synth000.txt" in found


def test_left_right_subjects_share_the_media_file(corpus, tmp_path):
    for side in ("left", "right"):
        shutil.copy(annotation(corpus, "train", "synth000"), annotation(corpus, "train", f"synth000_{side}"))
        shutil.copytree(
            corpus / layout.FACES_DIR / "synth000", corpus / layout.FACES_DIR / f"synth000_{side}"
        )
    index = prepare(str(corpus), str(tmp_path / "i.parquet")).to_pydict()
    paths = {v: p for v, p in zip(index["video"], index["audio_path"])}
    assert paths["synth000_left"] == paths["synth000_right"] == paths["synth000"]


def test_unlabelled_test_list_videos_are_indexed_without_labels(corpus, tmp_path):
    annotation(corpus, "test", "synth003").unlink()
    index = prepare(str(corpus), str(tmp_path / "i.parquet")).to_pydict()
    rows = [i for i, v in enumerate(index["video"]) if v == "synth003"]
    assert rows and not any(index["label_valid"][i] for i in rows)
    assert {index["split"][i] for i in rows} == {"test"}


def test_test_list_accepts_submission_rows():
    text = "image_location,valence,arousal\nvidA/00001.jpg,0,0\nvidA/00002.jpg,0,0\nvidB/00001.jpg,0,0\n"
    assert layout.parse_test_list(text, "list") == ["vidA", "vidB"]


@pytest.mark.parametrize("line", ["../../x", "..", "a/b/00001.jpg"])
def test_test_list_refuses_names_outside_the_tree(corpus, tmp_path, line):
    listing = corpus / layout.ANNOTATION_DIR / layout.TEST_LIST
    listing.write_text(f"synth003\n{line}\n")
    assert problems_of(corpus, tmp_path) == [
        f"{listing}:2: invalid video name in '{line}' (one folder name, or <video>/<NNNNN>.jpg)"
    ]


def test_cli_prints_every_problem_and_exits_non_zero(corpus, tmp_path):
    annotation(corpus, "train", "synth000").write_text("bad\n")
    (corpus / layout.VIDEO_DIR / "synth001.avi").unlink()
    proc = run_cli("prepare", str(corpus), str(tmp_path / "i.parquet"), check=False)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("tagf prepare: error: ")]
    assert proc.returncode != 0 and len(errors) == 2  # (the rest of stderr is the progress bar)
    assert "bad header" in errors[0] and "missing media" in errors[1]
    assert not (tmp_path / "i.parquet").exists()


def cli_problems(root, tmp_path):
    """The error lines of a failing `tagf prepare`, after checking that it wrote nothing."""
    out = tmp_path / "index.parquet"
    proc = run_cli("prepare", str(root), str(out), check=False)
    assert proc.returncode != 0 and not out.exists() and not list(tmp_path.glob("index.parquet.tmp-*"))
    return [
        line.split(": error: ", 1)[1]
        for line in proc.stderr.splitlines()
        if line.startswith("tagf prepare: ")
    ]


def test_minus_five_in_only_one_column(corpus, tmp_path):
    path = annotation(corpus, "train", "synth001")
    lines = path.read_text().splitlines(True)
    lines[3], lines[4], lines[5] = "-5,0.2\n", "0.3,-5\n", "-5,-5\n"  # the last is an unlabelled frame: fine
    path.write_text("".join(lines))
    assert problems_of(corpus, tmp_path) == [
        f"{path}:4: -5 (unannotated) in only one column: '-5,0.2'",
        f"{path}:5: -5 (unannotated) in only one column: '0.3,-5'",
    ]


def test_missing_face_folder(corpus, tmp_path):
    shutil.rmtree(corpus / layout.FACES_DIR / "synth001")
    # `x_left` takes its media from `x` but needs its own face folder.
    shutil.copy(annotation(corpus, "train", "synth000"), annotation(corpus, "train", "synth000_left"))
    assert sorted(problems_of(corpus, tmp_path)) == [
        f"{corpus / layout.FACES_DIR / 'synth000_left'}: missing face folder for synth000_left",
        f"{corpus / layout.FACES_DIR / 'synth001'}: missing face folder for synth001",
    ]


def test_truncated_media_is_named(corpus, tmp_path):
    video = corpus / layout.VIDEO_DIR / "synth000.avi"
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    # synth002 gets a pre-extracted WAV holding half of its audio.
    audio = read_audio(str(corpus / layout.VIDEO_DIR / "synth002.avi"))
    (corpus / layout.AUDIO_DIR).mkdir()
    wav = corpus / layout.AUDIO_DIR / "synth002.wav"
    soundfile.write(wav, audio[: len(audio) // 2], AUDIO_RATE)
    found = cli_problems(corpus, tmp_path)
    assert len(found) == 3, found
    truncated = "the file is truncated or corrupted"
    assert re.fullmatch(
        rf"{re.escape(str(video))}: holds \d+ video frames of \d+ expected .*: {truncated}", found[0]
    )
    assert re.fullmatch(rf"{re.escape(str(video))}: holds \d+ frames of audio .*: {truncated}", found[1])
    assert re.fullmatch(rf"{re.escape(str(wav))}: holds \d+ frames of audio .*: {truncated}", found[2])


def test_annotation_with_a_utf8_bom_is_accepted(corpus, tmp_path):
    clean = prepare(str(corpus), str(tmp_path / "clean.parquet"))
    for path in (annotation(corpus, "train", "synth000"), corpus / layout.ANNOTATION_DIR / layout.TEST_LIST):
        path.write_bytes(codecs.BOM_UTF8 + path.read_bytes())
    assert prepare(str(corpus), str(tmp_path / "i.parquet")).equals(clean)


@pytest.mark.parametrize(
    "content, reason",
    [
        ("a face image", "not a video: read as piped jpeg sequence, with no duration"),
        (b"not a video at all", "not a decodable video file (Invalid data found when processing input)"),
    ],
    ids=["jpeg", "garbage"],
)
def test_undecodable_media_is_named_without_decoder_internals(corpus, tmp_path, content, reason):
    video = corpus / layout.VIDEO_DIR / "synth000.avi"
    if content == "a face image":
        content = sorted((corpus / layout.FACES_DIR / "synth000").glob("*.jpg"))[0].read_bytes()
    video.write_bytes(content)
    assert cli_problems(corpus, tmp_path) == [f"{video}: unreadable media ({reason})"]


def test_a_video_name_with_glob_characters_gets_its_own_faces(corpus, tmp_path):
    """`synth[0]00` is a name, not a pattern: its face mask is not `synth000`'s."""
    odd = "synth[0]00"
    shutil.copy(annotation(corpus, "train", "synth000"), annotation(corpus, "train", odd))
    for folder in (layout.VIDEO_DIR, layout.AUDIO_DIR):
        for media in (corpus / folder).glob("synth000.*"):
            shutil.copy(media, media.with_name(odd + media.suffix))
    shutil.copytree(corpus / layout.FACES_DIR / "synth000", corpus / layout.FACES_DIR / odd)
    for face in sorted((corpus / layout.FACES_DIR / odd).glob("*.jpg"))[::2]:
        face.unlink()  # every other frame without a face
    index = prepare(str(corpus), str(tmp_path / "i.parquet")).to_pydict()
    faces = {
        v: sum(f for w, f in zip(index["video"], index["face_present"]) if w == v) for v in ("synth000", odd)
    }
    assert 0 < faces[odd] < faces["synth000"]
