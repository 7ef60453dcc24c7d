"""Gates that weigh the M = S+1 co-attention candidates of one modality per frame.

Every gate maps candidates (B, L, M, d_m) to (fused (B, L, d_m), α (B, L, M)); α sums to 1 over M and is what the
interpretability plots show. A gate whose α is a constant (mean, last) says so with `learned = False`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from tagf.models.config import ModelConfig


class _StepBiLSTM(torch.autograd.Function):
    """One-layer BiLSTM over a short axis (M steps) from a state shared by every sequence, with a hand-written
    backward: the same equations as nn.LSTM (gates i, f, g, o; c' = f·c + i·g, h' = o·tanh(c')), but one matmul
    for the input projections of all steps and both directions, the first step's recurrent term computed once per
    direction (h0 is shared), and the backward done in place. With M = 3 and B·L = 3600 sequences, oneDNN's LSTM
    backward costs more than the rest of the gate; on one thread this ran 1.1× (d = 128) to 2× (d = 256) faster.

    x (N, M, d), h0 and c0 (2, d), w_ih (8d, d) and bias (8d): forward then backward direction, w_hh (2, 4d, d)
    → (N, M, 2d), forward then backward hidden state per step, as nn.LSTM(bidirectional=True) returns.
    """

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, bias):
        n, m, d = x.shape
        # Gate pre-activations of every step and direction, (N, M, 2, 4d); turned into activations in place.
        acts = torch.addmm(bias, x.reshape(n * m, d), w_ih.t()).view(n, m, 2, 4 * d)
        cells, tanh_cells, out = (x.new_empty(n, m, 2, d) for _ in range(3))
        for direction in (0, 1):
            order = range(m) if direction == 0 else range(m - 1, -1, -1)
            h, c = h0[direction], c0[direction]
            for k, t in enumerate(order):
                gates = acts[:, t, direction]  # (N, 4d)
                if k == 0:
                    gates += h @ w_hh[direction].t()  # one (4d,) row for all sequences
                else:
                    gates.addmm_(h, w_hh[direction].t())
                gates[:, : 2 * d].sigmoid_()
                gates[:, 2 * d : 3 * d].tanh_()
                gates[:, 3 * d :].sigmoid_()
                i, f, g, o = gates.chunk(4, 1)
                c = torch.mul(f, c, out=cells[:, t, direction]).addcmul_(i, g)
                h = torch.mul(o, torch.tanh(c, out=tanh_cells[:, t, direction]), out=out[:, t, direction])
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, acts, cells, tanh_cells, out)
        return out.view(n, m, 2 * d)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        x, h0, c0, w_ih, w_hh, acts, cells, tanh_cells, out = ctx.saved_tensors
        n, m, d = x.shape
        grad_out = grad_out.reshape(n, m, 2, d)
        grad_acts = torch.empty_like(acts)  # (N, M, 2, 4d), w.r.t. the pre-activations
        grad_h0, grad_c0, grad_w_hh = torch.empty_like(h0), torch.empty_like(c0), torch.zeros_like(w_hh)
        for direction in (0, 1):
            order = list(range(m) if direction == 0 else range(m - 1, -1, -1))
            grad_h = grad_c = None
            for k in range(m - 1, -1, -1):
                t = order[k]
                i, f, g, o = acts[:, t, direction].chunk(4, 1)
                c_prev = cells[:, order[k - 1], direction] if k > 0 else c0[direction]
                h_prev = out[:, order[k - 1], direction] if k > 0 else h0[direction]
                tanh_c = tanh_cells[:, t, direction]
                dh = grad_out[:, t, direction] if grad_h is None else grad_h.add_(grad_out[:, t, direction])
                di, df, dg, do = grad_acts[:, t, direction].chunk(4, 1)
                # σ' = s - s², tanh' = 1 - t², applied in place as y ← y - y·s (or y - y·t·t)
                torch.mul(dh, tanh_c, out=do).mul_(o)
                do.addcmul_(do, o, value=-1)
                dc = dh * o
                dc.addcmul_(dc * tanh_c, tanh_c, value=-1)
                if grad_c is not None:
                    dc += grad_c
                torch.mul(dc, g, out=di).mul_(i)
                di.addcmul_(di, i, value=-1)
                torch.mul(dc, i, out=dg)
                dg.addcmul_(dg * g, g, value=-1)
                torch.mul(dc, c_prev, out=df).mul_(f)
                df.addcmul_(df, f, value=-1)
                grad_c = dc.mul_(f)
                dgates = grad_acts[:, t, direction]  # (N, 4d)
                if k > 0:
                    grad_h = dgates @ w_hh[direction]
                    grad_w_hh[direction].addmm_(dgates.t(), h_prev)
                else:  # the shared initial state
                    total = dgates.sum(0)
                    grad_h0[direction] = total @ w_hh[direction]
                    grad_w_hh[direction].addr_(total, h_prev)
                    grad_c0[direction] = grad_c.sum(0)
        flat = grad_acts.view(n * m, 8 * d)
        grad_x = (flat @ w_ih).view(n, m, d)
        return grad_x, grad_h0, grad_c0, flat.t() @ x.reshape(n * m, d), grad_w_hh, flat.sum(0)


class StepBiLSTMGate(nn.Module):
    """TAGF as released: a BiLSTM runs along the *step* axis of each frame's candidates and scores each step.

    score_m = mean(normalize(W [x_m ; BiLSTM(x)_m] + b)), α = softmax(score / τ) over the M steps. The candidates come
    first in the concatenation, as in the authors' `LSTM` (models/layer.py: `cat([inputs, outputs])`); imported
    weights depend on that column order. `rnn` holds the BiLSTM's weights (nn.LSTM's names and initialisation, so
    state dicts and imports stay as they are); `_StepBiLSTM` runs them.
    """

    def __init__(self, dim: int, cfg: ModelConfig):
        super().__init__()
        self.rnn = nn.LSTM(dim, dim, batch_first=True, bidirectional=True)
        self.linear = nn.Linear(3 * dim, 2 * dim)
        self.dropout = nn.Dropout(cfg.gate_dropout)
        self.temperature = cfg.temperature
        # Learned initial state: rows 0-1 are h0 (forward, backward), rows 2-3 are c0; zeros unless the authors'
        # initialisation (xavier-uniform, as their LSTM) is asked for.
        self.init_hidden = nn.Parameter(
            nn.init.xavier_uniform_(torch.empty(4, dim)) if cfg.init == "authors" else torch.zeros(4, dim)
        )

    def _bilstm(self, steps: torch.Tensor) -> torch.Tensor:  # (N, M, d_m) -> (N, M, 2·d_m)
        rnn, device = self.rnn, steps.device.type
        weights = (
            self.init_hidden[:2],
            self.init_hidden[2:],
            torch.cat((rnn.weight_ih_l0, rnn.weight_ih_l0_reverse)),  # (8·d_m, d_m)
            torch.stack((rnn.weight_hh_l0, rnn.weight_hh_l0_reverse)),  # (2, 4·d_m, d_m)
            torch.cat((rnn.bias_ih_l0 + rnn.bias_hh_l0, rnn.bias_ih_l0_reverse + rnn.bias_hh_l0_reverse)),
        )
        # Under autocast, run it all in the autocast dtype, as autocast runs nn.LSTM.
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else steps.dtype
        with torch.autocast(device, enabled=False):
            return _StepBiLSTM.apply(steps.to(dtype), *(w.to(dtype) for w in weights))

    def _projected(self, candidates: torch.Tensor) -> torch.Tensor:  # (B, L, M, d) -> (B·L, M, 2·d)
        b, length, m, dim = candidates.shape
        steps = candidates.reshape(b * length, m, dim)  # (B·L, M, d_m)
        out = self._bilstm(steps)  # (B·L, M, 2·d_m)
        # (B·L, M, 3·d_m): candidates, then BiLSTM outputs (back in the candidates' dtype)
        joined = torch.cat((steps, out.to(steps.dtype)), dim=-1)
        return self.linear(self.dropout(joined))  # (B·L, M, 2·d_m)

    def _scores(self, projected: torch.Tensor) -> torch.Tensor:  # (B·L, M, 2·d) -> (B·L, M), over τ
        # mean(normalize(y)) = sum(y) / (2·d_m·max(‖y‖, ε)), without normalising every element and its backward
        norm = torch.linalg.vector_norm(projected, dim=-1).clamp_min(1e-12)
        return projected.sum(-1) / (projected.shape[-1] * norm) / self.temperature

    def alpha(self, candidates: torch.Tensor) -> torch.Tensor:
        """(B, L, M) step weights of the candidates (B, L, M, d)."""
        b, length, m, _ = candidates.shape
        return torch.softmax(self._scores(self._projected(candidates)), dim=-1).reshape(b, length, m)

    def forward(self, candidates, mask=None):
        alpha = self.alpha(candidates)  # (B, L, M)
        return (alpha.unsqueeze(-1) * candidates).sum(2), alpha


class FreeStepBiLSTMGate(StepBiLSTMGate):
    """`tagf_free`: TAGF's step gate without its bound. The released score mean(normalize(y)) lies within
    ±1/√(2·d_m), so at τ = 0.1 and the paper's width α can never leave a narrow band; here a learned Linear reads the
    score out of y and τ is learned too (from its configured value), so the gate can commit to a step."""

    def __init__(self, dim: int, cfg: ModelConfig):
        super().__init__(dim, cfg)
        self.readout = nn.Linear(2 * dim, 1)
        self.log_temperature = nn.Parameter(torch.tensor(float(cfg.temperature)).log())

    def _scores(self, projected: torch.Tensor) -> torch.Tensor:
        return self.readout(projected).squeeze(-1) / self.log_temperature.exp()  # (B·L, M)


class TimeBiLSTMGate(nn.Module):
    """The literal reading of "temporal gating": a BiLSTM along *time* over all candidates gives M logits/frame."""

    def __init__(self, dim: int, cfg: ModelConfig):
        super().__init__()
        m = cfg.steps + 1
        self.rnn = nn.LSTM(m * dim, dim, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(cfg.gate_dropout)
        self.linear = nn.Linear(2 * dim, m)

    def forward(self, candidates, mask=None):
        b, length, m, dim = candidates.shape
        frames = candidates.reshape(b, length, m * dim)  # (B, L, M·d_m)
        if mask is None:
            out, _ = self.rnn(frames)  # (B, L, 2·d_m)
        else:
            # `mask` (B, L) marks real frames; windows are padded only at their end (tagf.data.windows), so its count
            # per window is the real length, and packing keeps padding out of the backward direction's state.
            lengths = mask.sum(1).clamp_min(1).cpu()  # (B,); packing refuses an empty sequence
            packed = nn.utils.rnn.pack_padded_sequence(
                frames, lengths, batch_first=True, enforce_sorted=False
            )
            out, _ = self.rnn(packed)
            # (B, L, 2·d_m), zero past each window's length
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=length)
        alpha = torch.softmax(self.linear(self.dropout(out)), dim=-1)  # (B, L, M)
        return (alpha.unsqueeze(-1) * candidates).sum(2), alpha


class FCGate(nn.Module):
    """GRJCA: a Linear on the last step's output scores the steps; ReLU on the fused sum."""

    def __init__(self, dim: int, cfg: ModelConfig):
        super().__init__()
        self.linear = nn.Linear(dim, cfg.steps + 1)
        self.temperature = cfg.temperature

    def forward(self, candidates, mask=None):
        alpha = torch.softmax(self.linear(candidates[:, :, -1]) / self.temperature, dim=-1)  # (B, L, M)
        return torch.relu((alpha.unsqueeze(-1) * candidates).sum(2)), alpha


class MeanGate(nn.Module):
    """Uniform weights: every step counts the same."""

    learned = False  # its α is a constant: nothing to analyse or plot

    def __init__(self, dim: int, cfg: ModelConfig):
        super().__init__()

    def forward(self, candidates, mask=None):
        b, length, m, _ = candidates.shape
        alpha = candidates.new_full((b, length, m), 1.0 / m)
        return candidates.mean(2), alpha


class LastGate(nn.Module):
    """RJCMA/JCA: only the final step's output is used."""

    learned = False

    def __init__(self, dim: int, cfg: ModelConfig):
        super().__init__()

    def forward(self, candidates, mask=None):
        b, length, m, _ = candidates.shape
        alpha = F.one_hot(torch.full((b, length), m - 1, device=candidates.device), m).to(candidates.dtype)
        return candidates[:, :, -1], alpha


MODALITY_GATES: dict[str, type[nn.Module]] = {  # each weighs one modality (tagf.models.gating)
    "step_bilstm": StepBiLSTMGate,
    "step_bilstm_free": FreeStepBiLSTMGate,
    "time_bilstm": TimeBiLSTMGate,
    "fc": FCGate,
    "mean": MeanGate,
    "last": LastGate,
}
