"""A tagf model as an MLflow pyfunc: loads with mlflow.pyfunc.load_model, serves with `mlflow models serve`.

Input: {"visual": (B, L, Dv) float32, "audio": (B, L, Da) float32}; output: (B, L, targets) in [-1, 1].
We wrap our own model file rather than mlflow.pytorch's pickled module: tracing would freeze L, and a pickle would
tie the registry to Python class paths; the model file holds the config + weights only.

The logged model carries its code (the `tagf` and `orchestration` packages, as `code_paths`) and pins what loading
it imports to the versions installed here, so `mlflow models serve` can rebuild its environment anywhere; tagf
itself is never looked up in a package index.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from importlib.metadata import version
from pathlib import Path

import mlflow
import torch

import orchestration
import tagf
from orchestration.serving_input import checked_input, max_frames
from tagf.errors import ModelFileError
from tagf.models import FusionModel, load_model, save_model
from tagf.torch_files import SHA256_SUFFIX


class _DropPickleNotice(logging.Filter):
    """MLflow logs, for every model it pickles, that unpickling runs code: true of any pickle, and the model is
    ours, so the line carries nothing for the user; its other messages pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "serialized using CloudPickle" not in record.getMessage()


logging.getLogger("mlflow.pyfunc").addFilter(_DropPickleNotice())

# What loading and serving import (tagf.models, this module, MLflow's scoring server): mlflow-skinny, not the
# tracking server's dependencies.
SERVING_PACKAGES = ("mlflow-skinny", "pandas", "torch", "numpy", "pydantic", "fsspec", "cloudpickle")
CODE_PATHS = (str(Path(tagf.__file__).parent), str(Path(orchestration.__file__).parent))


# MLflow asks every PythonModel subclass for type hints to infer a signature; ours has none (input_description), and
# a hint on the dict input would switch on MLflow's own input conversion. Its check resets the warning filters
# ("once"), so the request is recorded here and dropped rather than filtered.
with warnings.catch_warnings(record=True):

    class TagfPyfunc(mlflow.pyfunc.PythonModel):
        def load_context(self, context):
            self.model, self.extra = load_model(context.artifacts["model"])
            self.max_frames = max_frames()

        def predict(self, context, model_input, params=None):
            visual, audio = checked_input(model_input, self.model.cfg, self.max_frames)
            with torch.inference_mode():
                return self.model(torch.from_numpy(visual), torch.from_numpy(audio)).prediction.numpy()


def input_description(model: FusionModel) -> dict[str, str]:
    """What the model takes and gives, as the model's metadata (shown with it in the registry). Not an MLflow
    signature: MLflow enforces a signature before `predict` and answers a wrong shape or a missing input with the
    whole request in its message; checked_input answers every malformed request in one line of its own."""
    cfg = model.cfg
    frames = f"{cfg.window} frames" if cfg.key_mode == "faithful" else "any number of frames"
    return {
        "input": f"visual (batch, frames, {cfg.visual_in}) and audio (batch, frames, {cfg.audio_in}) float32, {frames}",
        "output": f"(batch, frames, {cfg.outputs}) in [-1, 1]",
    }


def pip_requirements() -> list[str]:
    """The serving packages pinned to the installed versions, without local labels (`2.13.0+cpu` -> `2.13.0`):
    the index that serves the model picks its own build of torch."""
    return [f"{name}=={version(name).split('+')[0]}" for name in SERVING_PACKAGES]


def _ensure_working_directory() -> None:
    """MLflow's log_model reads the working directory (uv project detection). Under `ray job submit --working-dir`,
    Ray can delete the job's copy of that directory while the driver still runs; carry on from the temp dir."""
    try:
        os.getcwd()
    except FileNotFoundError:
        os.chdir(tempfile.gettempdir())


def log_tagf_model(model: FusionModel, extra: dict, run_id: str) -> str:
    """Log the model to `run_id` under the name "model"; returns its model URI."""
    _ensure_working_directory()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "model.pt")
        save_model(model, path, extra)
        with mlflow.start_run(run_id=run_id, nested=True):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=TagfPyfunc(),
                artifacts={"model": path, "model_sha256": path + SHA256_SUFFIX},  # verified on load
                metadata=input_description(model),
                code_paths=list(CODE_PATHS),
                pip_requirements=pip_requirements(),
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
