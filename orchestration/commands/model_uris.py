"""The resolver of `models:/` and `runs:/` model URIs for every `--model` (entry points `tagf.model_uris`)."""

from __future__ import annotations

import os


def model_file(uri: str, params_file: str) -> str:
    """The local tagf model file of a models:/ or runs:/ URI, looked up in MLFLOW_TRACKING_URI, else in the params
    file's mlflow.tracking_uri."""
    from mlflow.exceptions import MlflowException

    from orchestration import pyfunc_model
    from orchestration.params import load_params
    from orchestration.tracking import resolve_uri
    from tagf.errors import TrackingError

    # The environment first, so that no params file is needed then.
    configured = os.environ.get("MLFLOW_TRACKING_URI") or load_params(params_file).mlflow.tracking_uri
    tracking_uri = resolve_uri(configured)
    try:
        return pyfunc_model.model_file(uri, tracking_uri)
    except MlflowException as err:
        raise TrackingError(f"{uri}: {err.message} (tracking store {tracking_uri})") from None
