"""A tagf model as an MLflow pyfunc: loads with mlflow.pyfunc.load_model, serves with `mlflow models serve`.

Input: {"visual": (B, L, Dv) float32, "audio": (B, L, Da) float32}; output: (B, L, targets) in [-1, 1].
We wrap our own model file rather than mlflow.pytorch's pickled module: tracing would freeze L, and a pickle would
tie the registry to Python class paths; the model file holds the config + weights only.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import numpy as np
import torch
from mlflow.models import ModelSignature
from mlflow.types import Schema, TensorSpec

from tagf.errors import ModelFileError
from tagf.models import FusionModel, load_model, save_model


class TagfPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.model, self.extra = load_model(context.artifacts["model"])

    def predict(self, context, model_input, params=None):
        visual = torch.as_tensor(np.asarray(model_input["visual"], dtype=np.float32))
        audio = torch.as_tensor(np.asarray(model_input["audio"], dtype=np.float32))
        with torch.inference_mode():
            return self.model(visual, audio).prediction.numpy()


def signature_for(model: FusionModel) -> tuple[ModelSignature, dict[str, np.ndarray]]:
    cfg = model.cfg
    length = cfg.window if cfg.key_mode == "faithful" else -1
    signature = ModelSignature(
        inputs=Schema(
            [
                TensorSpec(np.dtype(np.float32), (-1, length, cfg.visual_in), "visual"),
                TensorSpec(np.dtype(np.float32), (-1, length, cfg.audio_in), "audio"),
            ]
        ),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, length, cfg.outputs))]),
    )
    example_length = cfg.window
    example = {
        "visual": np.zeros((1, example_length, cfg.visual_in), np.float32),
        "audio": np.zeros((1, example_length, cfg.audio_in), np.float32),
    }
    return signature, example


def log_tagf_model(model: FusionModel, extra: dict, run_id: str) -> str:
    """Log the model to `run_id` under the name "model"; returns its model URI."""
    signature, example = signature_for(model)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "model.pt")
        save_model(model, path, extra)
        with mlflow.start_run(run_id=run_id, nested=True):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=TagfPyfunc(),
                artifacts={"model": path},
                signature=signature,
                input_example=example,
                pip_requirements=["tagf"],
            )
    return info.model_uri


def model_file(model_uri: str, tracking_uri: str) -> str:
    """A local path to the tagf model file inside a logged or registered model (runs:/, models:/...)."""
    # MLflow looks a models:/ name up in the process's registry, which follows the tracking URI (download_artifacts'
    # own registry_uri is not passed on to that lookup in MLflow 3.17).
    mlflow.set_tracking_uri(tracking_uri)
    local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri)
    found = list(Path(local).glob("**/artifacts/model.pt"))
    if not found:
        raise ModelFileError(f"{model_uri}: not a tagf model (no artifacts/model.pt)")
    return str(found[0])
