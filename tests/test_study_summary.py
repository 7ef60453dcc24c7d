"""The verdicts and tables from hand-made per-video scores: a clearly better variant is *better*, one identical to
the reference *equivalent*, a noisy one *inconclusive*; controls are tested outside the family, a variant without a
factor is compared once, a design with one seed per corpus says it cannot be tested; `tagf compare` on the stored
scores reproduces every output exactly."""

import json

import pandas as pd
from conftest import run_cli
from study_cells import meta, study

from tagf.study.cells import write_cells
from tagf.study.compare import compare
from tagf.study.summary import summarize
from tagf.study.tables import markdown


def test_verdicts_on_the_primary_endpoint():
    frame = study()
    summary = summarize(frame, meta(["tagf", "better", "same", "noisy"]), "tagf", "lag>=0.5", 0.02)
    verdicts = {
        row["variant"]: row["primary"].get("vs_reference", {}).get("verdict") for row in summary["rows"]
    }
    assert verdicts == {
        "tagf": None,
        "better": "better",
        "same": "equivalent within ±0.02",
        "noisy": "inconclusive",
    }
    assert summary["family"] == ["better", "same", "noisy"] and summary["controls"] == []
    better = next(r for r in summary["rows"] if r["variant"] == "better")["primary"]["vs_reference"]
    assert better["level"] == "corpora" and better["corpora"] == 6 and better["mean"] > 0.1
    assert (
        better["videos"] == 6 * 4
    )  # the same names in every corpus are different videos, never paired across
    assert better["p"] < better["p_holm"] <= 3 * better["p"]  # Holm over the family of three


def test_controls_are_tested_alone_and_a_variant_without_a_key_is_compared_once():
    frame = study(
        variants={"tagf": 0.5, "oracle_align": 0.1, "concat": 0.5}, key_modes=("faithful", "length_agnostic")
    )
    frame = frame[~((frame["variant"] == "concat") & (frame["key_mode"] == "length_agnostic"))]
    summary = summarize(
        frame, meta(["tagf", "oracle_align", "concat"], controls=["oracle_align"]), "tagf", "lag>=0.5", 0.02
    )
    labels = [row["label"] for row in summary["rows"]]
    assert labels == [
        "tagf faithful",
        "oracle_align faithful",
        "concat faithful",
        "tagf length_agnostic",
        "oracle_align length_agnostic",
    ]
    assert summary["family"] == ["concat faithful"]
    assert summary["controls"] == ["oracle_align faithful", "oracle_align length_agnostic"]
    control = summary["rows"][1]["primary"]["vs_reference"]
    assert control["p_holm"] == control["p"] and control["verdict"] == "better"  # alone: no correction


def test_one_seed_on_few_corpora_cannot_be_tested():
    summary = summarize(
        study(corpora=3, seeds=1), meta(["tagf", "better", "same", "noisy"]), "tagf", "lag>=0.5", 0.02
    )
    found = summary["rows"][1]["primary"]["vs_reference"]
    assert found["p"] is None and found["verdict"].startswith("not testable (one training seed per corpus")
    assert "Design: 3 corpora × 1 training seed" in markdown(summary)


def test_exploratory_measures_are_intervals_without_tests():
    summary = summarize(study(), meta(["tagf", "better", "same", "noisy"]), "tagf", "clean", 0.02)
    row = summary["rows"][1]
    assert (
        set(row["lag"]) == {"lag[0,0.5)", "lag[0.5,inf)"} and row["lag"]["lag[0,0.5)"]["vs_reference"]["ci95"]
    )
    assert set(row["drops"]["shift_s"]) == {"-0.5", "+0.5"}
    assert (
        "p_holm" not in row["lag"]["lag[0,0.5)"]["vs_reference"]
        and "verdict" not in row["drops"]["shift_s"]["+0.5"]
    )
    # clean and shifted cells hold the same frames here: no drop, exactly
    assert row["drops"]["shift_s"]["+0.5"]["value"]["mean"] == 0.0
    text = markdown(summary)
    assert "## Primary endpoint: `clean`" in text and "## Exploratory (intervals only" in text
    assert "p=0.000" not in text and "[nan" not in text


def test_compare_on_the_stored_scores_writes_the_same_outputs_again(tmp_path):
    frame = study(corpora=5)
    write_cells(str(tmp_path / "per_video.parquet"), frame, meta(["tagf", "better", "same", "noisy"]))
    first = compare(str(tmp_path / "per_video.parquet"), str(tmp_path / "a"))
    run_cli("compare", str(tmp_path / "per_video.parquet"), "--output", str(tmp_path / "b"))
    for name in (
        "ablation.json",
        "ablation.md",
        "gates.json",
        "power.json",
        "robustness.json",
        "robustness.csv",
    ):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert json.loads((tmp_path / "a" / "ablation.json").read_text()) == json.loads(json.dumps(first))
    power = json.loads((tmp_path / "a" / "power.json").read_text())
    assert 0 < power["detectable_difference"] < 0.5 and power["design"] == {
        "corpora": 5,
        "seeds": 2,
        "videos_per_corpus": 4,
        "family": 3,
    }
    assert f"about {power['detectable_difference']:.3f} CCC" in (tmp_path / "a" / "ablation.md").read_text()
    other = compare(str(tmp_path / "per_video.parquet"), str(tmp_path / "c"), primary="clean", margin=0.5)
    assert other["primary"] == "clean" and other["margin"] == 0.5
    same = next(r for r in other["rows"] if r["variant"] == "same")
    assert same["primary"]["vs_reference"]["verdict"] == "equivalent within ±0.5"


def test_a_file_that_is_not_a_studys_scores_is_named(tmp_path):
    from conftest import cli_error

    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "x.parquet")
    proc = run_cli("compare", str(tmp_path / "x.parquet"), "--output", str(tmp_path / "o"), check=False)
    assert proc.returncode == 4 and cli_error(proc).startswith(
        f"{tmp_path / 'x.parquet'}: not the per-video scores"
    )
    proc = run_cli("compare", str(tmp_path / "missing.parquet"), "--output", str(tmp_path / "o"), check=False)
    assert proc.returncode == 4 and "no such per-video scores file" in cli_error(proc)
