"""The figures of one model people look at: gate heatmaps over VA traces, VA traces, training curves (PNG)."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tagf import storage  # noqa: E402
from tagf.score_names import SELECTION_MEAN, TARGETS  # noqa: E402


def save(fig, url: str) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    storage.write_bytes(url, buffer.getvalue())


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
        column = TARGETS.index(target)
        truth = np.where(valid, labels[:, column], np.nan)
        ax.plot(seconds, truth, color="black", lw=1.2, label="annotation")
        ax.plot(seconds, prediction[:, k], color="tab:red", lw=1.0, label="prediction")
        ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel(target)
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(f"{video}: gate weights over recursion steps and valence/arousal")
    save(fig, url)


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
            column = TARGETS.index(target)
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
    save(fig, url)


def history_figure(histories: dict[str, list[dict[str, Any]]], url: str) -> None:
    """Validation CCC per epoch, one line per run."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, history in histories.items():
        ax.plot([h["epoch"] for h in history], [h[SELECTION_MEAN] for h in history], marker=".", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation CCC (mean)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, url)
