"""The ablation's tables as Markdown (ablation.md): what produced them, the CCC per variant with its comparison with
the reference, the drops under every perturbation, the CCC per frame category, and the gates."""

from __future__ import annotations

from typing import Any

from tagf.score_names import MEAN, SCORES
from tagf.study.conditions import PERTURBATIONS, SHIFT
from tagf.study.frame_categories import CATEGORIES
from tagf.study.gates import GATES


def _cell(interval: dict[str, Any], signed: bool = False) -> str:
    form = "{:+.3f}" if signed else "{:.3f}"
    if interval["ci95"] is None:
        return form.format(interval["mean"])
    low, high = interval["ci95"]
    return f"{form.format(interval['mean'])} [{form.format(low)}, {form.format(high)}]"


def _comparison(found: dict[str, Any] | None) -> str:
    if found is None:
        return "—"
    if found["ci95"] is None:
        return f"{found['delta']:+.3f} ({found['n_videos']} video)"
    p = found.get("p_holm")
    return _cell({"mean": found["delta"], "ci95": found["ci95"]}, signed=True) + (
        f", p={p:.3f}" if p is not None else ""
    )


def _drop_cell(cell: dict[str, Any], reference: bool) -> str:
    return _cell(cell) + ("" if reference else f"; Δ {_comparison(cell.get('vs_reference'))}")


def _table(head: list[str], lines: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(cells) + " |" for cells in lines),
    ]


def markdown(table: list[dict[str, Any]], reference: str, gates: dict[str, Any] | None = None) -> str:
    """ablation.md: what produced it, then the CCC and shift drops, the Δ drops, the other drops, the categories."""
    if not table:
        return "No runs.\n"
    out = _head(table)
    out += _main_table(table, reference)
    out += _shift_deltas(table, reference)
    out += _other_drops(table, reference)
    out += _categories(table, reference)
    if gates is not None:
        out += ["", "Gates: " + (gates["skipped"] if "skipped" in gates else _gate_lines(gates))]
    return "\n".join(out) + "\n"


def _head(table: list[dict[str, Any]]) -> list[str]:
    # Every table says what produced it: the set-up (profile and what differs from it), split, tuning, statistics.
    first = table[0]
    return [
        f"Scored on split `{first['report_split']}`. Tuning: {first['tuning']}. Means over n runs (training seeds × corpus seeds) "
        "with 95 % t intervals (none for n=1); Δ: paired bootstrap over the report videos against the reference in "
        "the same condition, Holm-corrected p. Drops: CCC mean at shift 0 minus at an audio shift of ±s seconds "
        "(each video shifted by its own frames; frames whose audio would leave the video are not scored).",
        *dict.fromkeys(f"- {row['variant']}: setup {row['setup']}" for row in table),
        "",
    ]


def _main_table(table: list[dict[str, Any]], reference: str) -> list[str]:
    levels = list(table[0].get("drop_shift_s", {}))
    head = ["model", "n", "CCC valence", "CCC arousal", "CCC mean", f"Δ CCC vs {reference}"]
    head += [f"drop @{level} s" for level in levels]
    lines = [
        [
            row["label"],
            str(row["n"]),
            *[_cell(row[key]) for key in SCORES],
            "reference" if row["variant"] == reference else _comparison(row.get("vs_reference")),
            *[_cell(row["drop_shift_s"][level]) for level in levels],
        ]
        for row in table
    ]
    return _table(head, lines)


def _shift_deltas(table: list[dict[str, Any]], reference: str) -> list[str]:
    compared = [row for row in table if any("vs_reference" in d for d in row.get("drop_shift_s", {}).values())]
    if not compared:
        return []
    levels = list(table[0]["drop_shift_s"])
    lines = [
        [row["label"], *[_comparison(row["drop_shift_s"][level].get("vs_reference")) for level in levels]]
        for row in compared
    ]
    return [
        "",
        f"Δ drop vs {reference}: a model's drop minus {reference}'s on the same videos (per-video CCC mean), "
        "paired bootstrap over videos, Holm-corrected across the table's comparisons at each shift (positive: it "
        "loses more under the shift):",
        "",
        *_table(["model", *[f"Δ drop @{level} s" for level in levels]], lines),
    ]


def _other_drops(table: list[dict[str, Any]], reference: str) -> list[str]:
    out = []
    for perturbation, label in PERTURBATIONS.items():
        key = f"drop_{perturbation}"
        if perturbation == SHIFT or key not in table[0]:
            continue
        lines = [
            [row["label"], *[_drop_cell(cell, row["variant"] == reference) for cell in row[key].values()]]
            for row in table
        ]
        out += [
            "",
            f"Drop under {label}: CCC mean clean minus perturbed (all frames pooled), and Δ: the drop minus "
            f"{reference}'s, per video (per-video CCC), paired bootstrap, Holm-corrected across the table's "
            "comparisons at each level:",
            "",
            *_table(["model", *table[0][key]], lines),
        ]
    return out


def _categories(table: list[dict[str, Any]], reference: str) -> list[str]:
    categories = [c for c in CATEGORIES if any(c in row["by_category"] for row in table)]
    if not categories:
        return []
    lines = []
    for row in table:
        cells = [row["label"]]
        for category in categories:
            cell = row["by_category"].get(category)
            cells += ["—", "—"] if cell is None else [_cell(cell[MEAN]), _comparison(cell.get("vs_reference"))]
        lines.append(cells)
    return [
        "",
        "CCC mean within each frame category of the corpus masks (tagf.study.frame_categories), and Δ against "
        f"{reference} on those frames:",
        "",
        *_table(["model", *[f"{c} {what}" for c in categories for what in ("CCC", "Δ")]], lines),
    ]


def _gate_lines(gates: dict[str, Any]) -> str:
    """Mean α of step 0 per category, per gated model and gate, and the paired step-0 contrast (gates.json)."""
    lines = ["mean α of step 0 (un-fused) per frame category (all steps: gates.json, gates.png)", ""]
    rows = []
    for row in gates["rows"]:
        label = f"{row['variant']}, aug ±{row['augment_shift_s']:g} s, {row['key_mode']} key"
        for gate in GATES:
            rows.append(
                [label, gate, *["—" if row[gate][c] is None else _cell(row[gate][c][0]) for c in CATEGORIES]]
            )
    lines += _table(["model", "gate", *CATEGORIES], rows)
    for found in gates["step0_desync_minus_sync"]:
        lines += [
            "",
            f"{found['model']} − {found['baseline']} (aug ±{found['augment_shift_s']:g} s, {found['key_mode']} key), "
            "α of step 0 in desynchronised minus synchronised frames, paired per video: "
            + "; ".join(f"{gate} {_comparison(found[gate])}" for gate in GATES),
        ]
    return "\n".join(lines)
