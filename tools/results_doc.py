"""docs/results.md, written from the committed result files alone: every number a reader sees there comes from
published/make-run/ (a `make run`, published by tools/publish.py) and study/results/ (the reduced study), and
tests/test_results_doc.py fails when the document and the files differ. Run it after a new study (tools/publish.py
runs it after a `make run`):

    python tools/results_doc.py          # rewrites docs/results.md
    python tools/results_doc.py --check  # exit 1 if docs/results.md is not what the files say
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scipy import stats

from tagf.study.agreement import agreement

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "results.md"
STUDIES = {  # directory: what it is
    "published/make-run": "`make run`: the embedded default corpus, every variant, one corpus",
    "study/results": "the reduced misalignment study (study/params.yaml, `dvc repro study/dvc.yaml`)",
}
# directory: (the published results it is a rerun of, what it is)
RERUNS = {
    "published/make-run-xeon": (
        "published/make-run",
        "the same `make run` made on another machine (published before this one, with the code of commit 784d785)",
    ),
}


def load(directory: str) -> dict | None:
    found = ROOT / directory
    if not (found / "ablation.json").exists():
        return None
    names = ("ablation", "power", "gates", "diagnostics", "provenance")
    return {
        name: json.loads((found / f"{name}.json").read_text())
        for name in names
        if (found / f"{name}.json").exists()
    }


def machine(found: dict) -> str:
    described = found.get("provenance")
    if described is None:
        return "Machine: not recorded in these files (made before `tagf ablate` wrote provenance.json)."
    return (
        f"Made on {described['cpu_model']} ({described['cpu_capability']} kernels, reproducible: "
        f"{described['reproducible']}), Python {described['python']}, torch {described['torch']}."
    )


def diagnostics(found: dict) -> list[str]:
    """What the realigning and distrusting variants did, from diagnostics.json: per lag bin, where they use audio."""
    rows = (found.get("diagnostics") or {}).get("rows", [])
    said = []
    for row in rows:
        for key, what in (("attended_lag_s", "attended lag"), ("estimated_lag_s", "estimated lag")):
            if row.get(key):
                said.append(lag_line(row["label"], what, row[key]))
        for key, what in (("reliability", "audio weight"), ("audio_scale", "audio scale")):
            if key in row:
                index = row[key]["components"].index("audio") if "audio" in row[key]["components"] else 0
                bins = [b for b in found["diagnostics"]["subsets"] if b.startswith("lag") and b in row[key]]
                said.append(
                    f"{row['label']}: {what} "
                    + ", ".join(f"{row[key][b][index]['mean']:.3f} at `{b}`" for b in (bins[0], bins[-1]))
                    + (
                        f", {row[key]['outage'][index]['mean']:.3f} in audio outages"
                        if "outage" in row[key]
                        else ""
                    )
                )
    return [f"- {line}." for line in said]


def lag_line(label: str, what: str, found: dict) -> str:
    """A lag estimate against the truth, and, for one that acts only when confident, where it acted."""
    line = (
        f"{label}: its {what} against the true effective lag, correlation {interval(found['correlation'], True)}, "
        f"mean absolute error {interval(found['mae_s'])} s"
    )
    acted = {b: e for b, e in found["by_lag"].items() if e.get("realigned")}
    if acted:
        first, last = next(iter(acted)), list(acted)[-1]
        line += "; it realigned " + ", ".join(
            f"{acted[b]['realigned']['mean']:.0%} of the frames at `{b}`"
            for b in dict.fromkeys((first, last))
        )
        errors = [
            (b, acted[b].get("mae_realigned_s"), acted[b].get("mae_kept_s"))
            for b in dict.fromkeys((first, last))
        ]
        line += ", where its error was " + ", ".join(
            f"{r['mean']:.2f} s (against {k['mean']:.2f} s where it kept the audio) at `{b}`"
            for b, r, k in errors
            if r and k
        )
    return line


def interval(found: dict | None, signed: bool = False) -> str:
    if found is None:
        return "—"
    form = "{:+.3f}" if signed else "{:.3f}"
    if not found.get("ci95"):
        return form.format(found["mean"])
    low, high = found["ci95"]
    return f"{form.format(found['mean'])} [{form.format(low)}, {form.format(high)}]"


def verdict_table(summary: dict) -> list[str]:
    lines = [
        f"| model | CCC ({summary['primary']}) | Δ vs {summary['reference']} | Holm p | verdict |",
        "|---|---|---|---|---|",
    ]
    for row in summary["rows"]:
        found = row["primary"].get("vs_reference")
        label = row["label"] + (" (control)" if row["label"] in summary["controls"] else "")
        if found is None:
            lines.append(f"| {label} | {interval(row['primary']['value'])} | reference | | |")
            continue
        p = found["p_holm"]
        shown = "—" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}")
        lines.append(
            f"| {label} | {interval(row['primary']['value'])} | {interval(found, True)} | {shown} | {found['verdict']} |"
        )
    return lines


def in_sync(row: dict, summary: dict) -> list[str]:
    """What a better variant costs where the audio is in sync (the first lag bin): its difference there, and the
    smallest equivalence margin these data support (the larger end of its 90 % interval: TOST at α = 0.05)."""
    first = summary["lag_bins"][0] if summary["lag_bins"] else None
    found = (row["lag"].get(first) or {}).get("vs_reference") if first else None
    if not found or found.get("se") is None:
        return []
    reach = float(stats.t.ppf(0.95, found["df"])) * found["se"]
    margin = max(abs(found["mean"] - reach), abs(found["mean"] + reach))
    return [
        f"{row['label']} where the audio is in sync (`{first}`, exploratory): Δ {interval(found, True)} against "
        f"{summary['reference']}; the smallest margin within which these data would call it equivalent is ±{margin:.3f} "
        "CCC"
    ]


def findings(summary: dict, power: dict) -> list[str]:
    """What the verdicts say, in words, and what this design cannot say."""
    by_verdict: dict[str, list[str]] = {}
    for row in summary["rows"]:
        found = row["primary"].get("vs_reference")
        if found is not None and row["label"] in summary["family"]:
            by_verdict.setdefault(found["verdict"].split(",")[0].split(" (")[0], []).append(row["label"])
    said = []
    for kind in ("better", "worse"):
        if by_verdict.get(kind):
            said.append(
                f"*{kind}* than {summary['reference']} on `{summary['primary']}`: {', '.join(by_verdict[kind])}"
            )
    for row in summary["rows"]:
        if row["label"] in by_verdict.get("better", []):
            said += in_sync(row, summary)
    for kind, names in by_verdict.items():
        if kind.startswith("equivalent"):
            said.append(f"*{kind}* of {summary['reference']}: {', '.join(names)}")
    if by_verdict.get("inconclusive"):
        said.append(
            f"*inconclusive* (no difference shown, none ruled out): {', '.join(by_verdict['inconclusive'])}"
        )
    if by_verdict.get("not testable"):
        said.append(f"*not testable* at this design: {', '.join(by_verdict['not testable'])}")
    design = power.get("design", {})
    detectable, needed = power.get("detectable_difference"), power.get("corpora_needed", {})
    if detectable is not None:
        said.append(
            f"this design ({design['corpora']} corpus/corpora × {design['seeds']} seeds × {design['videos_per_corpus']} "
            f"test videos each, Holm over {design['family']}) finds a true difference of {detectable:.3f} CCC with 80 % "
            "power; smaller ones can go unseen"
        )
    if needed.get("0.02"):
        said.append(
            f"detecting 0.02 CCC would take about {needed['0.02']} corpora of that size ({needed.get('0.05')} for 0.05)"
        )
    controls = [
        r for r in summary["rows"] if r["label"] in summary["controls"] and r["primary"].get("vs_reference")
    ]
    for row in controls:
        said.append(
            f"control {row['label']}: *{row['primary']['vs_reference']['verdict']}*, Δ {interval(row['primary']['vs_reference'], True)}"
        )
    return [f"- {line}." for line in said]


def section(directory: str, title: str, found: dict) -> list[str]:
    summary, power = found["ablation"], found["power"]
    return [
        f"## {title}",
        "",
        f"From `{directory}/` (split `{summary['report_split']}`; tuning: {summary['tuning']}). Estimand: "
        f"{summary['estimand']}. Verdicts on the primary endpoint `{summary['primary']}`, declared before the run, "
        f"Holm over {len(summary['family'])} comparisons, equivalence margin ±{summary['margin']:g} CCC; every other "
        f"measure is exploratory (`{directory}/ablation.md`).",
        "",
        *verdict_table(summary),
        "",
        "What these data say:",
        "",
        *findings(summary, power),
        "",
        machine(found),
        "",
        f"![robustness](../{directory}/robustness.png)",
        "",
        f"![gates by effective lag](../{directory}/gates.png)",
        "",
        *(
            [
                "Diagnostics (diagnostics.json):",
                "",
                *diagnostics(found),
                "",
                f"![diagnostics](../{directory}/diagnostics.png)",
                "",
            ]
            if diagnostics(found)
            else []
        ),
    ]


def across_machines(directory: str, published: str, what: str) -> list[str]:
    """A rerun on another machine held against the published results, as `tagf agree` does."""
    rerun, ours = load(directory), load(published)
    if rerun is None or ours is None:
        return []
    checks = agreement(ours["ablation"], rerun["ablation"])
    agreed = sum(c.agrees for c in checks)
    return [
        "## Across machines",
        "",
        f"`{directory}/` is {what}. {machine(rerun)} Its numbers differ from `{published}/`'s (PyTorch promises no "
        f"bits across CPUs); what must agree is the conclusion. `tagf agree {published}/ablation.json "
        f"{directory}/ablation.json`: {agreed} of {len(checks)} comparisons agree.",
        "",
        *[f"- {c.said}" for c in checks],
        "",
    ]


def render() -> str:
    out = [
        "# Results",
        "",
        "Written by `tools/results_doc.py` from the committed result files; every number here is in them. The "
        "synthetic corpora are not Aff-Wild2 and `profile: small` is not the paper's model: nothing here is a claim "
        "about either.",
        "",
    ]
    for directory, title in STUDIES.items():
        found = load(directory)
        if found is not None:
            out += section(directory, title, found)
    for directory, (published, what) in RERUNS.items():
        out += across_machines(directory, published, what)
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if docs/results.md differs from the files"
    )
    args = parser.parse_args()
    text = render()
    if args.check:
        if DOCUMENT.read_text() != text:
            print(
                f"{DOCUMENT}: not what the result files say; run python tools/results_doc.py", file=sys.stderr
            )
            return 1
        return 0
    DOCUMENT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
