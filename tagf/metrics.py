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
    array). `mask` broadcasts against the inputs; masked elements are never read (a NaN there is harmless), and an
    all-false slice gives 0.
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
    valid = (
        torch.ones_like(prediction, dtype=torch.bool)
        if mask is None
        else torch.broadcast_to(mask, prediction.shape)
    )
    # Select, not multiply: NaN · 0 is NaN, so a NaN or inf at a masked element would poison every moment.
    prediction = torch.where(valid, prediction, 0.0)
    target = torch.where(valid, target, 0.0)
    weight = valid.to(prediction.dtype)
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
    """1 − CCC per window and target: the mean over targets, and over windows weighted by their labelled frames.

    prediction, target: (B, L, T); mask: (B, L) bool of labelled frames. Loss = Σ_b n_b Σ_t (1 − CCC_bt) / (T Σ_b n_b)
    with n_b the labelled frames of window b: a 2-frame tail window, whose CCC is nearly noise, counts 2/150 of a full
    150-frame one, and a window with no labelled frame counts nothing. A batch with no labelled frame gives 0.
    """
    per_window = ccc(prediction.transpose(1, 2), target.transpose(1, 2), mask.unsqueeze(1))  # (B, T)
    frames = mask.sum(dim=1).to(per_window.dtype)  # (B,)
    total = frames.sum() * per_window.shape[1]
    # A window with no labelled frame has CCC 0 (finite), so its zero weight removes it without a NaN, and a batch
    # with none at all gives 0 with the graph kept.
    return (frames[:, None] * (1.0 - per_window)).sum() / total.clamp_min(1.0)
