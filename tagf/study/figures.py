"""The study's figures (PNG): CCC by effective audio lag (the main misalignment view), under each perturbation, and
the gates' α by effective lag; every point with its 95 % interval (tagf.study.summary, tagf.study.gates)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tagf.evaluation.figures import plt, save  # pyplot with the file-only backend
from tagf.study.conditions import PERTURBATIONS


def _errorbar(ax, xs, found, label, offset=0.0):
    """Means with their intervals (a point without an interval is drawn without a bar)."""
    keep = [(x, f) for x, f in zip(xs, found) if f is not None]
    if not keep:
        return
    x = np.array([k for k, _ in keep], float) + offset
    mean = np.array([f["mean"] for _, f in keep])
    low = np.array([f["mean"] - f["ci95"][0] if f.get("ci95") else 0.0 for _, f in keep])
    high = np.array([f["ci95"][1] - f["mean"] if f.get("ci95") else 0.0 for _, f in keep])
    ax.errorbar(x, mean, yerr=[low, high], marker="o", ms=3, capsize=2, lw=1, label=label)


PANELS = {"lag_s": "effective audio lag |built-in + shift| (s), bin's lower edge", **PERTURBATIONS}


def robustness_figure(rows: list[dict[str, Any]], url: str) -> None:
    """A panel per kind of curve (robustness.json rows: model, perturbation, level, ccc_mean[, ccc_low, ccc_high]),
    a line per model, with its intervals where it has them."""
    panels = [p for p in PANELS if any(r["perturbation"] == p for r in rows)]
    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.8), squeeze=False, sharey=True)
    for ax, panel in zip(axes[0], panels):
        levels = sorted({r["level"] for r in rows if r["perturbation"] == panel})
        step = min(np.diff(levels)) if len(levels) > 1 else 1.0
        for k, model in enumerate(models):
            mine = sorted(
                ((r["level"], r) for r in rows if r["model"] == model and r["perturbation"] == panel),
                key=lambda x: x[0],
            )
            found = [
                {
                    "mean": r["ccc_mean"],
                    "ci95": None if r.get("ccc_low") is None else (r["ccc_low"], r["ccc_high"]),
                }
                for _, r in mine
            ]
            offset = (k / max(1, len(models) - 1) - 0.5) * 0.3 * step  # models side by side, not on top
            _errorbar(ax, [level for level, _ in mine], found, model, offset)
        ax.set_xlabel(PANELS[panel])
        ax.grid(alpha=0.3)
        if panel.endswith("noise"):
            ax.invert_xaxis()  # worse to the right
    axes[0][0].set_ylabel("CCC (95 % interval where shown)")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle("Robustness to audio-visual misalignment and modality degradation")
    save(fig, url)


def gate_figure(gates: dict[str, Any], url: str) -> None:
    """Per gated model and gate, α of each recursion step by effective lag (and in outages, without a face)."""
    if "skipped" in gates:
        fig, ax = plt.subplots(figsize=(6, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, gates["skipped"], ha="center", va="center", wrap=True)
        save(fig, url)
        return
    rows, subsets = gates["rows"], gates["subsets"]
    fig, axes = plt.subplots(
        2, len(rows), figsize=(3.8 * len(rows), 6.4), squeeze=False, sharey=True, layout="constrained"
    )
    for column, row in enumerate(rows):
        for line, gate in enumerate(("visual", "audio")):
            ax = axes[line][column]
            present = [s for s in subsets if row[gate].get(s)]
            steps = len(row[gate][present[0]]) if present else 0
            for m in range(steps):
                _errorbar(
                    ax, range(len(present)), [row[gate][s][m] for s in present], f"step {m}", 0.08 * (m - 1)
                )
            ax.set_xticks(range(len(present)))
            ax.set_xticklabels([s.removeprefix("lag") for s in present], rotation=35, fontsize=7)
            ax.set_title(f"{row['label']}: {gate} gate", fontsize=9)
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    for line in axes:
        line[0].set_ylabel("mean α")
    fig.suptitle("Gate weight per recursion step by effective audio lag (95 % intervals)")
    save(fig, url)


LAG_ESTIMATES = ("attended_lag_s", "estimated_lag_s")


def diagnostics_figure(diagnostics: dict[str, Any], url: str) -> None:
    """A panel per diagnosed model and mechanism: a lag estimate against the true lag (with the identity), where a
    confident-only model acted and how wrong it was there, or a mechanism's weights by effective lag."""
    rows = diagnostics["rows"]
    panels = [
        (row, kind, part)
        for row in rows
        for kind in (*LAG_ESTIMATES, "reliability", "audio_scale")
        if row.get(kind)
        for part in (("scatter", "by_lag") if kind in LAG_ESTIMATES else ("weights",))
        if part != "by_lag" or any("realigned" in b for b in row[kind]["by_lag"].values())
    ]
    if not panels:
        fig, ax = plt.subplots(figsize=(6, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, "no variant of this study realigns or weighs the audio", ha="center", va="center")
        save(fig, url)
        return
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.6 * len(panels), 4.0), squeeze=False, layout="constrained"
    )
    draw = {"scatter": _scatter_panel, "by_lag": _acted_panel, "weights": _weights_panel}
    for ax, (row, kind, part) in zip(axes[0], panels):
        draw[part](ax, row, kind, diagnostics["subsets"])
        ax.grid(alpha=0.3)
    fig.suptitle(
        "What the mechanisms decided, against the ground truth (intervals at the study's unit of inference)"
    )
    save(fig, url)


def _scatter_panel(ax, row: dict, kind: str, subsets: list[str]) -> None:
    found = row[kind]
    x = [p["true_lag_s"] for p in found["points"]]
    y = [p["estimated_lag_s"] for p in found["points"]]
    ax.scatter(x, y, s=6, alpha=0.4)
    limit = max(1.0, *np.abs(x)) if x else 1.0
    ax.plot([-limit, limit], [-limit, limit], color="grey", lw=0.8, ls="--", label="estimate = true")
    title = row["label"]
    if found["correlation"]:
        title += f": r = {found['correlation']['mean']:.2f}"
    if found["mae_s"]:
        title += f", |error| {found['mae_s']['mean']:.2f} s"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("true effective lag (s, + = audio late), per video and shift")
    ax.set_ylabel(kind.replace("_", " ").replace(" s", " (s)"))
    ax.legend(fontsize=7)


def _acted_panel(ax, row: dict, kind: str, subsets: list[str]) -> None:
    by_lag = row[kind]["by_lag"]
    bins = list(by_lag)
    for m, (key, label) in enumerate(
        (("mae_realigned_s", "|error| where realigned (s)"), ("mae_kept_s", "|error| where kept (s)"))
    ):
        _errorbar(ax, range(len(bins)), [by_lag[b].get(key) for b in bins], label, 0.08 * m)
    _errorbar(ax, range(len(bins)), [by_lag[b].get("realigned") for b in bins], "share realigned", -0.08)
    ax.set_xticks(range(len(bins)))
    ax.set_xticklabels([b.removeprefix("lag") for b in bins], rotation=35, fontsize=7)
    ax.set_xlabel("effective lag bin (s)")
    ax.set_title(f"{row['label']}: where it acted, and how wrong it was", fontsize=9)
    ax.legend(fontsize=7)


def _weights_panel(ax, row: dict, kind: str, subsets: list[str]) -> None:
    found = row[kind]
    shown = [s for s in subsets if found.get(s)]
    for m, component in enumerate(found["components"]):
        _errorbar(ax, range(len(shown)), [found[s][m] for s in shown], component, 0.06 * (m - 1))
    ax.set_xticks(range(len(shown)))
    ax.set_xticklabels([s.removeprefix("lag") for s in shown], rotation=35, fontsize=7)
    ax.set_ylabel("mean weight (95 % interval)")
    ax.set_title(f"{row['label']}: {kind.replace('_', ' ')} by effective lag", fontsize=9)
    ax.legend(fontsize=7)
