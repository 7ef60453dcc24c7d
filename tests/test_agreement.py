"""`tagf agree` on committed results: the same `make run` made on two machines (an Intel Xeon and an AMD EPYC,
published/make-run-xeon/ and published/make-run/), and a rerun changed by hand, which must disagree by name."""

import json
from pathlib import Path

from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
THIS = ROOT / "published" / "make-run" / "ablation.json"
XEON = ROOT / "published" / "make-run-xeon" / "ablation.json"


def test_the_make_run_of_another_machine_agrees_with_this_ones():
    proc = run_cli("agree", str(THIS), str(XEON), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == f"agree: all 8 comparisons of {THIS} agree with {XEON}"


def changed(tmp_path: Path, label: str, **values) -> Path:
    found = json.loads(THIS.read_text())
    (row,) = [r for r in found["rows"] if r["label"] == label]
    row["primary"]["vs_reference"].update(values)
    path = tmp_path / "ablation.json"
    path.write_text(json.dumps(found))
    return path


def test_a_verdict_changed_by_hand_disagrees_naming_it(tmp_path):
    proc = run_cli("agree", str(changed(tmp_path, "concat", verdict="better")), str(THIS), check=False)
    assert proc.returncode == 9
    assert "concat: DISAGREES: verdict better (committed: inconclusive)" in proc.stdout
    assert proc.stderr.strip() == (
        f"tagf agree: error: 1 of 8 comparisons disagree with {THIS}, first concat"
    )


def test_a_difference_beyond_its_sampling_error_disagrees(tmp_path):
    found = json.loads(THIS.read_text())
    (row,) = [r for r in found["rows"] if r["label"] == "jca"]
    moved = row["primary"]["vs_reference"]["mean"] + 10 * row["primary"]["vs_reference"]["se"]
    proc = run_cli("agree", str(changed(tmp_path, "jca", mean=moved)), str(THIS), check=False)
    assert proc.returncode == 9 and "jca: DISAGREES" in proc.stdout
    assert "more than their sampling error" in proc.stdout
