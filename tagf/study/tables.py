"""The study's tables as Markdown (ablation.md), from ablation.json (tagf.study.summary): the primary endpoint's
verdicts first, then every exploratory measure as intervals. Each says what it measures and on what."""

from __future__ import annotations

from typing import Any

from tagf.study.conditions import PERTURBATIONS


def number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def interval(found: dict[str, Any] | None, signed: bool = False) -> str:
    """`0.512 [0.431, 0.588]`, or the mean alone with why there is no interval."""
    if found is None:
        return "—"
    if found["mean"] is None:
        return "not testable"
    if found["ci95"] is None:
        return f"{number(found['mean'], signed)} (no interval)"
    low, high = found["ci95"]
    return f"{number(found['mean'], signed)} [{number(low, signed)}, {number(high, signed)}]"


def p_value(p: float | None) -> str:
    if p is None:
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _table(head: list[str], lines: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(cells) + " |" for cells in lines),
    ]


def design_line(summary: dict[str, Any]) -> str:
    """What the intervals and tests generalise over, and what this design cannot estimate."""
    found = next(
        (r["primary"]["vs_reference"] for r in summary["rows"] if r["primary"].get("vs_reference")), None
    )
    if found is None:
        return "No comparison with the reference."
    unit = {
        "corpora": f"the {found['corpora']} corpora as the unit (each corpus mean carries its seed and video variance)",
        "none": "none: " + (found["note"] or ""),
    }.get(found["level"], found["level"])
    corpora = f"{found['corpora']} corpus" if found["corpora"] == 1 else f"{found['corpora']} corpora"
    seeds = f"{found['seeds']} training seed" + ("" if found["seeds"] == 1 else "s")
    return f"Design: {corpora} × {seeds} × {found['videos']} test videos; inference: {unit}."


def primary_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The primary endpoint's verdicts as records (a row per model; the reference has no Δ): the table MLflow shows."""
    rows = []
    for row in summary["rows"]:
        value, found = row["primary"]["value"], row["primary"].get("vs_reference") or {}
        ccc_ci, delta_ci = value.get("ci95") or (None, None), found.get("ci95") or (None, None)
        rows.append(
            {
                "model": row["label"],
                "control": row["label"] in summary["controls"],
                "runs": row["runs"],
                "ccc": value["mean"],
                "ccc_low": ccc_ci[0],
                "ccc_high": ccc_ci[1],
                "delta": found.get("mean"),
                "delta_low": delta_ci[0],
                "delta_high": delta_ci[1],
                "p_holm": found.get("p_holm"),
                "p_equivalence_holm": found.get("p_equivalence_holm"),
                "verdict": found.get("verdict", "reference"),
            }
        )
    return rows


def primary_table(summary: dict[str, Any]) -> list[str]:
    reference, margin = summary["reference"], summary["margin"]
    lines = []
    for row, record in zip(summary["rows"], primary_rows(summary)):
        found = row["primary"].get("vs_reference")
        lines.append(
            [
                record["model"] + (" (control)" if record["control"] else ""),
                str(record["runs"]),
                interval(row["primary"]["value"]),
                "reference" if found is None else interval(found, signed=True),
                "" if found is None else p_value(record["p_holm"]),
                "" if found is None else p_value(record["p_equivalence_holm"]),
                "" if found is None else record["verdict"],
            ]
        )
    head = [
        "model",
        "runs",
        f"CCC ({summary['primary']})",
        f"Δ vs {reference}",
        "Holm p",
        f"TOST ±{margin:g} p",
        "verdict",
    ]
    return _table(head, lines)


def markdown(
    summary: dict[str, Any], gates: dict[str, Any] | None = None, power: dict[str, Any] | None = None
) -> str:
    """ablation.md (`power`: power.json, for what this design can detect)."""
    if not summary["rows"]:
        return "No runs.\n"
    detectable = (power or {}).get("detectable_difference")
    out = [
        f"Scored on split `{summary['report_split']}`. Tuning: {summary['tuning']}. {design_line(summary)}",
        f"Estimand: {summary['estimand']}; 95 % intervals.",
        "",
        *dict.fromkeys(f"- {row['variant']}: setup {row['setup']}" for row in summary["rows"]),
        "",
        f"## Primary endpoint: `{summary['primary']}` (declared before the run)",
        "",
        f"Δ: paired by corpus, training seed and video. Holm over the family of {len(summary['family'])} comparisons; "
        "controls are tested alone. Verdicts: better/worse (Holm p < 0.05), equivalent within the margin (Holm TOST "
        "p < 0.05), else inconclusive."
        + (
            f" At this design the smallest difference found with 80 % power is about {detectable:.3f} CCC "
            "(power.json: from the variance components of these comparisons)."
            if detectable
            else ""
        ),
        "",
        *primary_table(summary),
        "",
        "## Exploratory (intervals only: no test, no verdict)",
        "",
        *_clean_table(summary),
        *_lag_tables(summary),
        *_drop_tables(summary),
        *_category_table(summary),
        *_factor_table(summary),
    ]
    if gates is not None:
        out += ["", *gate_lines(gates)]
    return "\n".join(out) + "\n"


def _clean_table(summary: dict[str, Any]) -> list[str]:
    reference = summary["reference"]
    targets = [t for t in summary["rows"][0]["clean"] if t not in ("mean", "vs_reference")]
    lines = [
        [
            row["label"],
            *[interval(row["clean"][t]) for t in targets],
            interval(row["clean"]["mean"]),
            "reference"
            if row["variant"] == reference
            else interval(row["clean"].get("vs_reference"), signed=True),
        ]
        for row in summary["rows"]
    ]
    return [
        "Clean CCC (plain audio, every scored frame):",
        "",
        *_table(["model", *targets, "mean", f"Δ vs {reference}"], lines),
        "",
    ]


def _lag_tables(summary: dict[str, Any]) -> list[str]:
    bins = summary["lag_bins"]
    if not bins:
        return []
    reference = summary["reference"]
    values = [[row["label"], *[interval(row["lag"][b]["value"]) for b in bins]] for row in summary["rows"]]
    deltas = [
        [row["label"], *[interval(row["lag"][b].get("vs_reference"), signed=True) for b in bins]]
        for row in summary["rows"]
        if row["variant"] != reference
    ]
    return [
        "CCC by effective audio lag |built-in + applied| (s), every shift pooled:",
        "",
        *_table(["model", *bins], values),
        "",
        f"Δ vs {reference} by effective lag:",
        "",
        *_table(["model", *bins], deltas),
        "",
    ]


def _drop_tables(summary: dict[str, Any]) -> list[str]:
    out = []
    reference = summary["reference"]
    for perturbation, label in PERTURBATIONS.items():
        levels = list(summary["rows"][0]["drops"].get(perturbation, {}))
        if not levels:
            continue
        lines = []
        for row in summary["rows"]:
            cells = row["drops"][perturbation]
            lines.append(
                [row["label"]]
                + [
                    interval(cells[lv]["value"], signed=True)
                    + (
                        ""
                        if row["variant"] == reference
                        else f"; Δ {interval(cells[lv].get('vs_reference'), signed=True)}"
                    )
                    for lv in levels
                ]
            )
        out += [
            f"Drop under {label} (clean minus perturbed, same frames; Δ: minus {reference}'s drop):",
            "",
            *_table(["model", *levels], lines),
            "",
        ]
    return out


def _category_table(summary: dict[str, Any]) -> list[str]:
    names = list(summary["rows"][0]["categories"])
    if not names:
        return []
    reference = summary["reference"]
    lines = [
        [row["label"]]
        + [
            interval(row["categories"][c]["value"])
            + (
                ""
                if row["variant"] == reference
                else f"; Δ {interval(row['categories'][c].get('vs_reference'), signed=True)}"
            )
            for c in names
        ]
        for row in summary["rows"]
    ]
    return [
        "CCC in audio outages and where the face is missing (plain condition):",
        "",
        *_table(["model", *names], lines),
        "",
    ]


def _factor_table(summary: dict[str, Any]) -> list[str]:
    if not summary["factors"]:
        return []
    lines = [
        [f["variant"], f"{f['factor']}: {f['level']} − {f['versus']}", interval(f["difference"], signed=True)]
        for f in summary["factors"]
    ]
    return [
        "Factors on the primary endpoint, within a variant:",
        "",
        *_table(["model", "difference", "Δ"], lines),
        "",
    ]


def gate_lines(gates: dict[str, Any]) -> list[str]:
    """The gates' mean α of step 0 (the un-fused features) by effective lag, per gated model and gate."""
    if "skipped" in gates:
        return [f"Gates: {gates['skipped']}"]
    bins = gates["subsets"]
    lines = [
        [row["label"], gate, *[interval((row[gate].get(b) or [None])[0]) for b in bins]]
        for row in gates["rows"]
        for gate in ("visual", "audio")
    ]
    return [
        "Gates: mean α of step 0 (the un-fused features) by effective lag (all steps: gates.json, gates.png):",
        "",
        *_table(["model", "gate", *bins], lines),
    ]
