"""The study's figures (PNG): robustness curves per perturbation, gate weights per frame category."""

from __future__ import annotations

from typing import Any

import numpy as np

from tagf.evaluation.figures import plt, save  # pyplot with the file-only backend
from tagf.study.conditions import PERTURBATIONS


def robustness_figure(rows: list[dict[str, Any]], url: str) -> None:
    """One panel per perturbation, one line per model, mean CCC on the y axis."""
    present = [(p, label) for p, label in PERTURBATIONS.items() if any(r["perturbation"] == p for r in rows)]
    fig, axes = plt.subplots(1, len(present), figsize=(4.2 * len(present), 3.6), squeeze=False, sharey=True)
    models = list(dict.fromkeys(r["model"] for r in rows))
    for ax, (perturbation, label) in zip(axes[0], present):
        for model in models:
            points = sorted(
                (r["level"], r["ccc_mean"])
                for r in rows
                if r["model"] == model and r["perturbation"] == perturbation
            )
            ax.plot(*zip(*points), marker="o", label=model)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
        if perturbation.endswith("noise"):
            ax.invert_xaxis()  # worse to the right
    axes[0][0].set_ylabel("CCC (mean of valence, arousal)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle("Robustness to audio-visual misalignment and modality degradation")
    save(fig, url)


def gate_category_figure(gates: dict[str, Any], url: str) -> None:
    """The gate analysis (tagf.study.gates.gate_summary): a column per gated model, a row per gate
    (visual, audio); per frame category one bar per recursion step, the mean α over runs with its 95 % interval.
    A skipped analysis is a figure that says why, so that the file always exists."""
    if "skipped" in gates:
        fig, ax = plt.subplots(figsize=(6, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, gates["skipped"], ha="center", va="center", wrap=True)
        save(fig, url)
        return
    rows, categories = gates["rows"], gates["categories"]
    gate_names = ("visual", "audio")
    fig, axes = plt.subplots(
        len(gate_names), len(rows), figsize=(3.6 * len(rows), 7.0), squeeze=False, sharey=True, layout="constrained"
    )
    for column, row in enumerate(rows):
        for axis_row, gate in enumerate(gate_names):
            ax = axes[axis_row][column]
            present = [c for c in categories if row[gate][c] is not None]
            steps = len(row[gate][present[0]]) if present else 0
            width = 0.8 / max(steps, 1)
            for m in range(steps):
                cells = [row[gate][c][m] for c in present]
                means = np.array([cell["mean"] for cell in cells])
                below_above = [[0.0, 0.0] if c["ci95"] is None else [c["mean"] - c["ci95"][0], c["ci95"][1] - c["mean"]]
                               for c in cells]  # no interval with one run
                errors = np.array(below_above).T  # (2, categories)
                ax.bar(np.arange(len(present)) + m * width, means, width, yerr=errors, capsize=2, label=f"step {m}")
            ax.set_xticks(np.arange(len(present)) + width * (steps - 1) / 2)
            ax.set_xticklabels([c.replace("_", " ") for c in present], rotation=20, fontsize=8)
            ax.grid(alpha=0.3, axis="y")
            title = f"{row['variant']}, aug ±{row['augment_shift_s']:g} s, {row['key_mode']} key"
            ax.set_title(f"{title}\n{gate} gate (n={row['n']})", fontsize=9)
    axes[0][0].legend(fontsize=7)
    for row_axes in axes:
        row_axes[0].set_ylabel("mean α")
    fig.suptitle("Gate weight per recursion step by frame category (95 % intervals over runs)")
    save(fig, url)
