"""What a served tagf model accepts: {"visual": (B, L, Dv), "audio": (B, L, Da)}, finite, of equal B and L ≥ 1, at most
`TAGF_SERVE_MAX_FRAMES` frames (B·L, default 20,000: 11 minutes of 30-fps video) per request.

Anything else is answered 400 with one line of JSON, {"error_code": "INVALID_PARAMETER_VALUE", "message": "..."}.
MLflow's scoring server rewrites the message of any error from `predict` to begin with the whole request
("Failed to predict data '...'") and answers other exceptions with a stack trace; BadRequest keeps its own line.
The frame limit is checked after MLflow has parsed the JSON body: it bounds the model's memory, not the parser's
(a proxy's body-size limit bounds that, e.g. about 3.5 KB per frame of JSON at 512 + 128 features).
"""

from __future__ import annotations

import os

import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from tagf.models import ModelConfig

MAX_FRAMES_ENV = "TAGF_SERVE_MAX_FRAMES"
DEFAULT_MAX_FRAMES = 20_000


class BadRequest(MlflowException):
    def __init__(self, message: str):
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)

    @property
    def message(self) -> str:
        return self._line

    @message.setter
    def message(self, value: str) -> None:  # the first assignment only: see the module docstring
        if not hasattr(self, "_line"):
            self._line = value


def max_frames() -> int:
    raw = os.environ.get(MAX_FRAMES_ENV, str(DEFAULT_MAX_FRAMES))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{MAX_FRAMES_ENV}={raw}: expected a positive whole number of frames")
    return int(raw)


def checked_input(model_input, cfg: ModelConfig, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """(visual, audio) as float32 arrays, or a BadRequest naming the field and the problem."""
    if not isinstance(model_input, dict):
        raise BadRequest('expected {"inputs": {"visual": [...], "audio": [...]}}')
    wrong = sorted({"visual", "audio"} ^ set(model_input))
    if wrong:
        problem = "missing" if wrong[0] in ("visual", "audio") else "not an input of this model"
        raise BadRequest(f'{wrong[0]}: {problem}; expected {{"inputs": {{"visual": [...], "audio": [...]}}}}')
    arrays = {}
    for name, dim in (("visual", cfg.visual_in), ("audio", cfg.audio_in)):
        try:
            array = np.asarray(model_input[name], dtype=np.float32)
        except (TypeError, ValueError):
            raise BadRequest(f"{name}: not an array of numbers (ragged or not numeric)") from None
        if array.size == 0:  # JSON's [[], []] has no feature axis left to check
            raise BadRequest(f"{name}: shape {list(array.shape)}: no frames to score")
        if array.ndim != 3 or array.shape[2] != dim:
            raise BadRequest(f"{name}: shape {list(array.shape)}, expected [batch, frames, {dim}]")
        if not np.isfinite(array).all():
            where = np.argwhere(~np.isfinite(array))[0].tolist()
            raise BadRequest(f"{name}: a value that is not finite (NaN or infinity) at {where}")
        arrays[name] = array
    visual, audio = arrays["visual"], arrays["audio"]
    if visual.shape[:2] != audio.shape[:2]:
        raise BadRequest(
            f"visual has {list(visual.shape[:2])} [batch, frames] but audio {list(audio.shape[:2])}: they must match"
        )
    if cfg.key_mode == "faithful" and visual.shape[1] != cfg.window:
        raise BadRequest(
            f"frames: this model takes windows of exactly {cfg.window} frames, got {visual.shape[1]}"
        )
    frames = visual.shape[0] * visual.shape[1]
    if frames > limit:
        raise BadRequest(f"{frames} frames in one request, more than {limit} ({MAX_FRAMES_ENV} raises it)")
    return visual, audio
