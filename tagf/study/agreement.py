"""Does a rerun agree with the committed results? At the level that must hold on any machine, since PyTorch
promises no bits across CPUs and GPUs: each comparison of the primary endpoint (the family and the controls).

- **the verdict**: the same word (better, worse, equivalent, inconclusive, not testable), and
- **the difference**: the rerun's Δ and the committed Δ are two estimates of one difference, each with its standard
  error; they agree when |Δ_rerun − Δ_committed| ≤ t₀.₉₇₅ · √(se_rerun² + se_committed²) (t on the smaller of the
  two degrees of freedom). Whether the rerun's Δ falls inside the committed 95 % interval is reported too, but is
  not the test: two honest estimates of the same difference fall outside each other's interval about one time in
  six.

A comparison missing from either side, or a study with another reference, primary endpoint or margin, disagrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from tagf.study.tables import interval, number


@dataclass(frozen=True)
class Check:
    comparison: str  # the row's label
    agrees: bool
    said: str  # one line, for the user


def _verdict_word(found: dict[str, Any] | None) -> str:
    """The verdict without its qualifiers (its conditional scope, why it is not testable)."""
    verdict = (found or {}).get("verdict") or "no comparison"
    return verdict.split(",")[0].split(" (")[0]


def _difference(mine: dict[str, Any], theirs: dict[str, Any]) -> tuple[bool, str]:
    if mine.get("mean") is None or theirs.get("mean") is None:
        return mine.get("mean") is None and theirs.get("mean") is None, "no difference to compare"
    inside = bool(theirs.get("ci95")) and theirs["ci95"][0] <= mine["mean"] <= theirs["ci95"][1]
    where = f"Δ {number(mine['mean'], True)} ({'inside' if inside else 'outside'} the committed {interval(theirs, True)})"
    if mine.get("se") is None or theirs.get("se") is None:
        return inside, where
    gap = abs(mine["mean"] - theirs["mean"])
    allowed = float(stats.t.ppf(0.975, min(mine["df"], theirs["df"]))) * float(
        np.hypot(mine["se"], theirs["se"])
    )
    relation = "within" if gap <= allowed else "more than"
    return (
        gap <= allowed,
        f"{where}; the two differ by {gap:.3f}, {relation} their sampling error {allowed:.3f}",
    )


def agreement(rerun: dict[str, Any], committed: dict[str, Any]) -> list[Check]:
    """A check per comparison of the committed primary endpoint (ablation.json's summaries)."""
    design = ("reference", "primary", "margin")
    if any(rerun.get(key) != committed.get(key) for key in design):
        said = ", ".join(f"{key} {rerun.get(key)!r} vs {committed.get(key)!r}" for key in design)
        return [Check("the study", False, f"not the same study: {said}")]
    mine = {row["label"]: row["primary"].get("vs_reference") for row in rerun["rows"]}
    checks = []
    for row in committed["rows"]:
        theirs = row["primary"].get("vs_reference")
        if theirs is None:  # the reference itself
            continue
        label = row["label"]
        if mine.get(label) is None:
            checks.append(Check(label, False, f"{label}: not compared in the rerun"))
            continue
        same_verdict = _verdict_word(mine[label]) == _verdict_word(theirs)
        close, said = _difference(mine[label], theirs)
        verdicts = f"verdict {_verdict_word(mine[label])} (committed: {_verdict_word(theirs)})"
        agrees = same_verdict and close
        checks.append(
            Check(label, agrees, f"{label}: {'agrees' if agrees else 'DISAGREES'}: {verdicts}; {said}")
        )
    for label in mine:
        if mine[label] is not None and label not in {r["label"] for r in committed["rows"]}:
            checks.append(
                Check(label, False, f"{label}: compared in the rerun, not in the committed results")
            )
    return checks
