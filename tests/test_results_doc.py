"""Every results number a reader sees in docs/results.md comes from a committed result file: the document is what
tools/results_doc.py writes from results/, and the committed tables are what `tagf compare` writes from the
committed per-video scores."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import results_doc  # noqa: E402

STUDIES = [
    directory for directory in results_doc.STUDIES if (ROOT / directory / "per_video.parquet").exists()
]


def test_the_results_document_is_what_the_result_files_say():
    assert (ROOT / "docs" / "results.md").read_text() == results_doc.render()


def test_there_are_committed_results():
    assert STUDIES == ["published/make-run", "study/results"]


@pytest.mark.parametrize("directory", STUDIES)
def test_compare_on_the_committed_scores_reproduces_the_committed_tables(directory, tmp_path):
    from tagf.study.compare import compare

    compare(str(ROOT / directory / "per_video.parquet"), str(tmp_path))
    for name in (
        "ablation.json",
        "ablation.md",
        "gates.json",
        "power.json",
        "robustness.json",
        "robustness.csv",
    ):
        assert (tmp_path / name).read_bytes() == (ROOT / directory / name).read_bytes(), f"{directory}/{name}"


def test_the_readme_says_the_studys_verdicts():
    """README's verdicts of the reduced study are study/results/ablation.json's, variant by variant."""
    import json

    summary = json.loads((ROOT / "study" / "results" / "ablation.json").read_text())
    readme = (ROOT / "README.md").read_text()
    said = readme[readme.index("On its primary endpoint") : readme.index("Where the audio is in sync")]
    lines = {
        word: said.split(f"- *{word}*", 1)[1].split("\n- ", 1)[0] if f"- *{word}*" in said else ""
        for word in ("better", "worse", "inconclusive")
    }
    for row in summary["rows"]:
        found = row["primary"].get("vs_reference")
        if found is None:
            continue
        word = found["verdict"].split(",")[0]
        assert f"`{row['variant']}`" in lines[word], (row["variant"], word)
        assert all(f"`{row['variant']}`" not in lines[w] for w in lines if w != word), row["variant"]
