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


def diagnostics_figure(diagnostics: dict[str, Any], url: str) -> None:
    """A panel per diagnosed model: the attended lag against the true lag (with the identity), or a mechanism's
    weights by effective lag, in outages and without a face."""
    rows = diagnostics["rows"]
    panels = [
        (row, kind)
        for row in rows
        for kind in ("attended_lag", "reliability", "audio_scale")
        if row.get(kind)
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
    for ax, (row, kind) in zip(axes[0], panels):
        found = row[kind]
        if kind == "attended_lag":
            x = [p["true_lag_s"] for p in found["points"]]
            y = [p["attended_lag_s"] for p in found["points"]]
            ax.scatter(x, y, s=8, alpha=0.5)
            limit = max(1.0, *np.abs(x)) if x else 1.0
            ax.plot([-limit, limit], [-limit, limit], color="grey", lw=0.8, ls="--", label="attended = true")
            r = found["correlation"]
            ax.set_title(f"{row['label']}: r = {r['mean']:.2f} over {found['runs']} runs", fontsize=9)
            ax.set_xlabel("true effective lag (s, + = audio late), per video and shift")
            ax.set_ylabel("attended lag (s)")
            ax.legend(fontsize=7)
        else:
            subsets = [s for s in diagnostics["subsets"] if found.get(s)]
            for m, component in enumerate(found["components"]):
                _errorbar(ax, range(len(subsets)), [found[s][m] for s in subsets], component, 0.06 * (m - 1))
            ax.set_xticks(range(len(subsets)))
            ax.set_xticklabels([s.removeprefix("lag") for s in subsets], rotation=35, fontsize=7)
            ax.set_ylabel("mean weight (95 % interval)")
            ax.set_title(f"{row['label']}: {kind.replace('_', ' ')} by effective lag", fontsize=9)
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle("What the mechanisms decided, against the ground truth")
    save(fig, url)
