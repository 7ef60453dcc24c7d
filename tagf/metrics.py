"""Concordance correlation coefficient (Lin 1989), as the ABAW evaluation computes it.

CCC = 2·cov(y, ŷ) / (var(y) + var(ŷ) + (mean(y) − mean(ŷ))²), with population (1/N) moments over the valid
elements only. Where the denominator is 0 — both series constant and equal, which includes length 1 and a single
valid frame — CCC is defined as 0 ("no evidence of agreement"), never NaN, so the loss keeps a gradient.
"""

from __future__ import annotations

import numpy as np
import torch

# Smaller than any real denominator of float32 data, large enough to never divide by 0. |2·cov| ≤ denominator, so
# the numerator is exactly 0 whenever the clamp is active and the result is 0.
_TINY = 1e-12


def ccc(prediction, target, mask=None, dim: int = -1):
    """CCC along `dim` (default: the last axis), over the elements where `mask` is true.

    Accepts torch tensors (differentiable, result is a tensor) or array-likes (result is a numpy float64 value or
    array). `mask` broadcasts against the inputs; an all-false slice gives 0.
    """
    as_numpy = not isinstance(prediction, torch.Tensor)
    if as_numpy:
        prediction = torch.as_tensor(np.asarray(prediction, dtype=np.float64))
        target = torch.as_tensor(np.asarray(target, dtype=np.float64))
        mask = None if mask is None else torch.as_tensor(np.asarray(mask, dtype=bool))
    if prediction.shape != target.shape:
        raise ValueError(
            f"ccc: prediction shape {tuple(prediction.shape)} != target shape {tuple(target.shape)}"
        )
    weight = (
        torch.ones_like(prediction)
        if mask is None
        else torch.broadcast_to(mask, prediction.shape).to(prediction.dtype)
    )
    n = weight.sum(dim, keepdim=True).clamp_min(1.0)
    mean_p = (prediction * weight).sum(dim, keepdim=True) / n
    mean_t = (target * weight).sum(dim, keepdim=True) / n
    dp, dt = (prediction - mean_p) * weight, (target - mean_t) * weight
    var_p = (dp * dp).sum(dim) / n.squeeze(dim)
    var_t = (dt * dt).sum(dim) / n.squeeze(dim)
    cov = (dp * dt).sum(dim) / n.squeeze(dim)
    denominator = var_p + var_t + (mean_p - mean_t).squeeze(dim) ** 2
    value = 2.0 * cov / denominator.clamp_min(_TINY)
    return value.numpy() if as_numpy else value


def ccc_loss(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """1 − CCC per window and target, averaged over the batch and targets; windows with no valid frame are skipped.

    prediction, target: (B, L, T); mask: (B, L) bool of labelled frames.
    """
    per_window = ccc(prediction.transpose(1, 2), target.transpose(1, 2), mask.unsqueeze(1))  # (B, T)
    has_labels = mask.any(dim=1)  # (B,)
    if not bool(has_labels.any()):
        return prediction.sum() * 0.0  # keeps the graph; nothing to learn from this batch
    return 1.0 - per_window[has_labels].mean()
