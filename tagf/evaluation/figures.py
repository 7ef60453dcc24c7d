"""The figures people look at: robustness curves, gate heatmaps over VA traces, training curves (PNG)."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tagf import storage  # noqa: E402

PANELS = (
    ("shift", "audio shift (frames, + = audio late)"),
    ("shift_s", "audio shift (s, + = audio late)"),
    ("audio_noise", "audio SNR (dB)"),
    ("visual_noise", "visual SNR (dB)"),
    ("audio_dropout", "audio frames dropped"),
    ("visual_dropout", "visual frames dropped"),
)


def _save(fig, url: str) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    storage.write_bytes(url, buffer.getvalue())


def robustness_figure(rows: list[dict[str, Any]], url: str) -> None:
    """One panel per perturbation, one line per model, mean CCC on the y axis."""
    present = [(p, label) for p, label in PANELS if any(r["perturbation"] == p for r in rows)]
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
    _save(fig, url)


def gate_category_figure(gates: dict[str, Any], url: str) -> None:
    """The gate analysis (orchestration.ablation_summary.gate_summary): a column per gated model, a row per gate
    (visual, audio); per frame category one bar per recursion step, the mean α over runs with its 95 % interval.
    A skipped analysis is a figure that says why, so that the file always exists."""
    if "skipped" in gates:
        fig, ax = plt.subplots(figsize=(6, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, gates["skipped"], ha="center", va="center", wrap=True)
        _save(fig, url)
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
    _save(fig, url)


def gate_figure(
    video: str,
    visual_gate: np.ndarray,
    audio_gate: np.ndarray,
    prediction: np.ndarray,
    labels: np.ndarray,
    valid: np.ndarray,
    targets: list[str],
    fps: float,
    url: str,
) -> None:
    """Heatmaps of the per-frame gate weights over recursion steps (steps × time), above the VA traces.

    Gates (N, S+1) of one model, or (N, targets, S+1) with one model per target: one heatmap per target then.
    """
    frames = len(prediction)
    seconds = np.arange(frames) / fps
    gates = []
    for gate, name in ((visual_gate, "visual"), (audio_gate, "audio")):
        if gate.ndim == 2:
            gates.append((gate, name))
        else:
            gates += [(gate[:, k], f"{name} ({target} model)") for k, target in enumerate(targets)]
    rows = len(gates) + len(targets)
    fig, axes = plt.subplots(rows, 1, figsize=(11, 2.0 * rows), sharex=True)
    extent = (0, frames / fps, visual_gate.shape[-1] - 0.5, -0.5)
    for ax, (gate, name) in zip(axes, gates):
        image = ax.imshow(
            gate.T, aspect="auto", extent=extent, vmin=0, vmax=1, cmap="viridis", interpolation="nearest"
        )
        ax.set_ylabel(f"{name} gate\nstep")
        ax.set_yticks(range(gate.shape[1]))
        fig.colorbar(image, ax=ax, pad=0.01, label="α")
    for ax, (k, target) in zip(axes[len(gates) :], enumerate(targets)):
        column = ("valence", "arousal").index(target)
        truth = np.where(valid, labels[:, column], np.nan)
        ax.plot(seconds, truth, color="black", lw=1.2, label="annotation")
        ax.plot(seconds, prediction[:, k], color="tab:red", lw=1.0, label="prediction")
        ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel(target)
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(f"{video}: gate weights over recursion steps and valence/arousal")
    _save(fig, url)


def trace_figure(
    video: str,
    prediction: np.ndarray,
    targets: list[str],
    fps: float,
    url: str,
    labels: np.ndarray | None = None,
    valid: np.ndarray | None = None,
) -> None:
    seconds = np.arange(len(prediction)) / fps
    fig, axes = plt.subplots(len(targets), 1, figsize=(11, 2.2 * len(targets)), sharex=True, squeeze=False)
    for ax, (k, target) in zip(axes[:, 0], enumerate(targets)):
        if labels is not None:
            column = ("valence", "arousal").index(target)
            ax.plot(
                seconds, np.where(valid, labels[:, column], np.nan), color="black", lw=1.2, label="annotation"
            )
        ax.plot(seconds, prediction[:, k], color="tab:red", lw=1.0, label="prediction")
        ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel(target)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(f"{video}: valence/arousal")
    _save(fig, url)


def history_figure(histories: dict[str, list[dict[str, Any]]], url: str) -> None:
    """Validation CCC per epoch, one line per run."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, history in histories.items():
        ax.plot([h["epoch"] for h in history], [h["val_ccc_mean"] for h in history], marker=".", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation CCC (mean)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, url)
