"""The study's verdicts and tables from per-video scores (tagf.study.cells): one primary endpoint declared before
the run, tested once per variant against the reference, every other measure an interval.

- **Primary** (`ablate.primary`, e.g. `lag>=1`: CCC where the audio is at least 1 s off): per variant and condition,
  the mean per-video CCC and its difference from the reference, paired by corpus, training seed and video
  (tagf.study.statistics), with a two-sided p and the TOST p against ±`margin`, Holm-corrected over the family:
  every (condition, variant) of the table but the controls. A variant without a factor (concat has no co-attention
  key) is run and compared once, at the factor's first level. Controls (`ablate.controls`, e.g. the positive control
  `oracle_align` and the A/A check) are tested alone, outside the family: they check the study, they claim nothing.
  Verdict: *better*/*worse* (Holm p < α), else *equivalent within ±m* (Holm TOST p < α), else *inconclusive*; a design
  that cannot estimate a variance it needs is *not testable* and says why.
- **Exploratory** (intervals, no p-values, no verdicts): the clean CCC per target, CCC per lag bin, the drop under
  each perturbation (clean minus perturbed, on the same frames), CCC in outages and without a face, each with its
  difference from the reference; the factors (augmentation, key) within a variant.

One estimand everywhere: the mean over videos of each video's CCC (the mean of valence's and arousal's), its
interval carrying the corpus, seed and video variance as the design allows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tagf.study.cells import CONDITION, RUN, endpoint, lag_bounds, targets_of, values
from tagf.study.conditions import SHIFT, drop_key
from tagf.study.statistics import Estimate, equivalence_p, estimate, holm

ALPHA = 0.05


def _runs_of(cells: pd.DataFrame, variant: str, condition: tuple) -> pd.DataFrame:
    keep = cells["variant"] == variant
    for key, level in zip(CONDITION, condition):
        keep &= cells[key] == level
    return cells[keep]


def _own(found: pd.DataFrame) -> list[tuple]:
    return list(zip(found["corpus_seed"], found["seed"], found["video"], found["value"]))


def _paired(mine: pd.DataFrame, theirs: pd.DataFrame) -> list[tuple]:
    """(corpus, seed, video, mine − theirs) for every video both have a value for, paired by corpus and seed."""
    keys = ["corpus_seed", "seed", "video"]
    both = mine[[*keys, "value"]].merge(theirs[[*keys, "value"]], on=keys, suffixes=("", "_ref"))
    return list(zip(both["corpus_seed"], both["seed"], both["video"], both["value"] - both["value_ref"]))


def _estimate(cells: list[tuple], kind: str, tested: bool = False) -> dict[str, Any] | None:
    """The estimate's dict; without its p unless `tested` (only the primary endpoint's comparisons are tests)."""
    if not cells:
        return None
    found = estimate(cells, kind).as_dict()
    return found if tested else {k: v for k, v in found.items() if k != "p"}


class Measures:
    """Every endpoint's per-run, per-video values of a study, computed once."""

    def __init__(self, frame: pd.DataFrame, lag_subsets: list[str], min_frames: int):
        self.frame, self.lag_subsets, self.min_frames = frame, lag_subsets, min_frames
        self.cache: dict[str, pd.DataFrame] = {}

    def __call__(self, name: str) -> pd.DataFrame:
        if name not in self.cache:
            self.cache[name] = values(self.frame, endpoint(name, self.lag_subsets), self.min_frames)
        return self.cache[name]

    def drop(self, perturbation: str, level: float) -> pd.DataFrame:
        """clean minus perturbed, per run and video (the same frames)."""
        name = f"drop {perturbation}={level:+g}"
        if name not in self.cache:
            keys = [*RUN, "video"]
            clean, perturbed = self("clean"), self(f"{perturbation}={level:+g}")
            both = clean.merge(perturbed, on=keys, suffixes=("", "_perturbed"))
            both["value"] = both["value"] - both["value_perturbed"]
            self.cache[name] = both[[*keys, "value"]]
        return self.cache[name]


def _compare(
    measure: pd.DataFrame, variant, condition, reference, kind="ccc", tested=False
) -> dict[str, Any]:
    """A measure's interval for one variant and condition, and (not for the reference) its paired difference."""
    mine = _runs_of(measure, variant, condition)
    cell = {"value": _estimate(_own(mine), kind)}
    if variant != reference:
        paired = _paired(mine, _runs_of(measure, reference, condition))
        cell["vs_reference"] = (
            _estimate(paired, "difference", tested)
            if paired
            else untestable(f"no run shares a corpus, training seed and video with {reference}'s")
        )
    return cell


def untestable(note: str) -> dict[str, Any]:
    """A comparison with nothing to compare: an estimate without a value, saying why."""
    return {
        "mean": None,
        "ci95": None,
        "se": None,
        "df": None,
        "p": None,
        "corpora": 0,
        "seeds": 0,
        "videos": 0,
        "level": "none",
        "note": note,
    }


def _levels(frame: pd.DataFrame) -> dict[str, list[float]]:
    """{perturbation: its levels but the plain one}, in order."""
    found = {}
    for perturbation, group in frame.groupby("perturbation", sort=False):
        levels = sorted(set(group["level"]))
        found[perturbation] = [lv for lv in levels if not (perturbation == SHIFT and lv == 0)]
    return found


def _row(measures: Measures, variant, condition, reference, primary, label, meta) -> dict[str, Any]:
    frame = _runs_of(measures.frame, variant, condition)
    row: dict[str, Any] = {
        "variant": variant,
        **dict(zip(CONDITION, condition)),
        "label": label,
        "setup": meta["setups"].get(variant),
        "runs": int(frame[["seed", "corpus_seed"]].drop_duplicates().shape[0]),
        "clean": {
            target: _estimate(_own(_runs_of(_target_measure(measures, target), variant, condition)), "ccc")
            for target in ("mean", *targets_of(measures.frame))
        },
        "primary": _compare(measures(primary), variant, condition, reference, tested=True),
    }
    if variant != reference:
        row["clean"]["vs_reference"] = _estimate(
            _paired(
                _runs_of(measures("clean"), variant, condition),
                _runs_of(measures("clean"), reference, condition),
            ),
            "difference",
        )
    row["lag"] = {b: _compare(measures(b), variant, condition, reference) for b in measures.lag_subsets}
    row["under"] = {
        perturbation: {
            drop_key(perturbation, level): _compare(
                measures(f"{perturbation}={level:+g}"), variant, condition, reference
            )["value"]
            for level in levels
        }
        for perturbation, levels in _levels(measures.frame).items()
    }
    row["drops"] = {
        perturbation: {
            drop_key(perturbation, level): _compare(
                measures.drop(perturbation, level), variant, condition, reference, "difference"
            )
            for level in levels
        }
        for perturbation, levels in _levels(measures.frame).items()
    }
    row["categories"] = {
        name: _compare(measures(name), variant, condition, reference)
        for name in ("outage", "no_face")
        if (measures.frame["subset"] == name).any()
    }
    return row


def _target_measure(measures: Measures, target: str) -> pd.DataFrame:
    """The clean CCC of one target (or `mean`: the per-video mean over targets)."""
    if target == "mean":
        return measures("clean")
    name = f"clean {target}"
    if name not in measures.cache:
        single = measures.frame.drop(
            columns=[c for c in measures.frame if c.startswith("sum_") and not c.endswith(f"_{target}")]
        )
        measures.cache[name] = values(single, endpoint("clean", measures.lag_subsets), measures.min_frames)
    return measures.cache[name]


def verdict(comparison: dict[str, Any], margin: float) -> str:
    """better / worse / equivalent within ±m / inconclusive; with fewer corpora than the corpus level needs, said
    to hold for these corpora only (tagf.study.statistics)."""
    if comparison is None or comparison.get("p") is None:
        return "not testable" + (f" ({comparison['note']})" if comparison else "")
    if comparison["p_holm"] < ALPHA:
        found = "better" if comparison["mean"] > 0 else "worse"
    elif comparison["p_equivalence_holm"] is not None and comparison["p_equivalence_holm"] < ALPHA:
        found = f"equivalent within ±{margin:g}"
    else:
        found = "inconclusive"
    if comparison["level"] != "corpora":
        corpora = comparison["corpora"]
        found += f", conditional on {'this corpus' if corpora == 1 else f'these {corpora} corpora'}"
    return found


def _test(rows: list[dict[str, Any]], controls: set[str], margin: float) -> dict[str, Any]:
    """Holm over the primary family (controls apart, each its own family); adds p_holm, the TOST p and the
    verdict to every primary comparison. Returns what the family was."""

    def tested(row):
        return row["primary"].get("vs_reference")

    family = [row for row in rows if tested(row) is not None and row["variant"] not in controls]
    alone = [row for row in rows if tested(row) is not None and row["variant"] in controls]
    for group in [family, *([row] for row in alone)]:
        have = [row for row in group if tested(row)["p"] is not None]
        for row in group:
            found = tested(row)
            found["p_equivalence"] = (
                equivalence_p(_as_estimate(found), margin) if found["p"] is not None else None
            )
        for row, p, q in zip(
            have, holm([tested(r)["p"] for r in have]), holm([tested(r)["p_equivalence"] for r in have])
        ):
            tested(row)["p_holm"], tested(row)["p_equivalence_holm"] = p, q
        for row in group:
            tested(row).setdefault("p_holm", None)
            tested(row).setdefault("p_equivalence_holm", None)
            tested(row)["verdict"] = verdict(tested(row), margin)
    return {"family": [row["label"] for row in family], "controls": [row["label"] for row in alone]}


def _as_estimate(found: dict[str, Any]) -> Estimate:
    return Estimate(
        found["mean"],
        found["se"],
        found["df"],
        tuple(found["ci95"]) if found["ci95"] else None,
        found["p"],
        found["corpora"],
        found["seeds"],
        found["videos"],
        found["level"],
        found["note"],
    )


def _label(variant: str, condition: tuple, several: list[str]) -> str:
    """The variant, and the condition's levels that vary in the table: `tagf aug ±1 s faithful`."""
    named = dict(zip(CONDITION, condition))
    parts = [variant]
    if "augment_shift_s" in several:
        parts.append(f"aug ±{named['augment_shift_s']:g} s")
    if "key_mode" in several:
        parts.append(named["key_mode"])
    return " ".join(parts)


def _factors(measures: Measures, primary: str) -> list[dict[str, Any]]:
    """Within a variant, the difference on the primary endpoint between each factor's levels (the other fixed),
    paired by corpus, seed and video: exploratory."""
    measure = measures(primary)
    found = []
    for factor in CONDITION:
        other = next(k for k in CONDITION if k != factor)
        levels = sorted(set(measure[factor]))
        for variant in dict.fromkeys(measure["variant"]):
            for fixed in sorted(set(measure[other])):
                at = {
                    lv: measure[
                        (measure["variant"] == variant) & (measure[factor] == lv) & (measure[other] == fixed)
                    ]
                    for lv in levels
                }
                at = {lv: runs for lv, runs in at.items() if len(runs)}
                if len(at) < 2:
                    continue
                base = next(iter(at))
                for lv, runs in list(at.items())[1:]:
                    found.append(
                        {
                            "variant": variant,
                            "factor": factor,
                            other: fixed,
                            "level": lv,
                            "versus": base,
                            "difference": _estimate(_paired(runs, at[base]), "difference"),
                        }
                    )
    return found


def summarize(frame: pd.DataFrame, meta: dict, reference: str, primary: str, margin: float) -> dict[str, Any]:
    """The content of ablation.json."""
    lag_subsets = [s for s in dict.fromkeys(frame["subset"]) if lag_bounds(s) is not None]
    lag_subsets.sort(key=lambda s: lag_bounds(s)[0])
    measures = Measures(frame, lag_subsets, meta["min_frames"])
    measures(primary)  # an unknown endpoint fails before any work
    conditions = sorted(frame[list(CONDITION)].drop_duplicates().itertuples(index=False, name=None))
    several = [key for k, key in enumerate(CONDITION) if len({c[k] for c in conditions}) > 1]
    if reference not in set(frame["variant"]):
        raise ValueError(f"reference {reference!r} has no runs among {sorted(set(frame['variant']))}")
    rows = []
    for condition in conditions:
        present = set(_runs_of_condition(frame, condition)["variant"])
        for variant in [v for v in meta["variants"] if v in present]:
            rows.append(
                _row(
                    measures,
                    variant,
                    condition,
                    reference,
                    primary,
                    _label(variant, condition, several),
                    meta,
                )
            )
    family = _test(rows, set(meta.get("controls", [])), margin)
    return {
        "estimand": "mean over videos of each video's CCC (mean of valence and arousal), clean frames shared by every condition",
        "reference": reference,
        "primary": primary,
        "margin": margin,
        "alpha": ALPHA,
        **family,
        "lag_bins": lag_subsets,
        "tuning": meta.get("tuning"),
        "report_split": meta.get("report_split"),
        "rows": rows,
        "factors": _factors(measures, primary),
    }


def _runs_of_condition(frame: pd.DataFrame, condition: tuple) -> pd.DataFrame:
    keep = np.ones(len(frame), bool)
    for key, level in zip(CONDITION, condition):
        keep &= frame[key].to_numpy() == level
    return frame[keep]
