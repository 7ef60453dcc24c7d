"""Numeric precision of the training step: `fp32`, or bf16 autocast (`bf16`; `auto` = bf16 on a GPU only).

On a CPU, bf16 is opt-in and needs native bf16 matmuls (AVX512-BF16 or AMX): without them oneDNN emulates bf16
and the step gets slower, not faster, so asking for it there is an error rather than a silent fallback. Weights,
optimizer state and the loss stay fp32 either way; autocast only runs matmuls and convolutions in bf16.
"""

from __future__ import annotations

import torch

from tagf.errors import ParamsError
from tagf.training.config import Precision


def cpu_supports_bf16() -> bool:
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def autocast(precision: Precision, device: torch.device) -> torch.autocast:
    """The autocast context of one training step; raises ParamsError if bf16 is asked of hardware without it."""
    bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if precision == "bf16":
        supported = torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_supports_bf16()
        if not supported:
            raise ParamsError(
                f"train.precision: bf16 needs native bf16 support, which this {device.type.upper()} lacks "
                "(on a CPU: AVX512-BF16 or AMX); use precision=fp32 or auto"
            )
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
