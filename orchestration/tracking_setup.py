"""The cluster's tracking services made ready for their clients (`tagf setup-tracking`, the k8s Job mlflow-setup):
the S3 bucket MLflow's artifacts go to, the client user the Ray pods log as, and that user's experiment and
registered model (created as that user, so MLflow's basic-auth app makes it their manager).

Idempotent: a rerun keeps what exists and resets the client's password to the Secret's. Credentials come only from
the environment (Kubernetes Secrets): MLFLOW_TRACKING_USERNAME/PASSWORD are the admin's, TAGF_CLIENT_USERNAME/PASSWORD
the client's, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and MLFLOW_S3_ENDPOINT_URL the artifact store's.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from urllib.parse import urlparse

from orchestration.tracking_watch import healthy
from tagf.errors import ParamsError, TrackingError

ADMIN = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
CLIENT = ("TAGF_CLIENT_USERNAME", "TAGF_CLIENT_PASSWORD")


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ParamsError(
            f"{name}: not set (tagf setup-tracking takes every credential from the environment)"
        )
    return value


def wait_healthy(uri: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not healthy(uri):
        if time.monotonic() > deadline:
            raise TrackingError(f"tracking server {uri} unreachable for {timeout_s:.0f} s")
        print(f"waiting for the tracking server {uri}", flush=True)
        time.sleep(2)


def ensure_bucket(artifacts: str) -> str:
    """The bucket of the server's --artifacts-destination (s3://bucket/...), created if missing."""
    import boto3

    parsed = urlparse(artifacts)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ParamsError(f"--artifacts {artifacts}: expected s3://<bucket>[/prefix]")
    s3 = boto3.client("s3", endpoint_url=_env("MLFLOW_S3_ENDPOINT_URL"))
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if parsed.netloc not in existing:
        s3.create_bucket(Bucket=parsed.netloc)
    return parsed.netloc


def ensure_user(uri: str, username: str, password: str) -> None:
    from mlflow.exceptions import RestException
    from mlflow.server.auth.client import AuthServiceClient

    admin = AuthServiceClient(uri)
    try:
        admin.create_user(username, password)
    except RestException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise TrackingError(f"creating the MLflow user {username} at {uri}: {error.message}") from None
        admin.update_user_password(username, password)


@contextmanager
def _as(username: str, password: str):
    """MLflow's clients read their credentials from the environment: be the client user for a while."""
    saved = {key: os.environ.get(key) for key in ADMIN}
    os.environ.update(dict(zip(ADMIN, (username, password))))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key)
            else:
                os.environ[key] = value


def ensure_owned(uri: str, experiment: str, registered_model: str) -> None:
    """The experiment and registered model, created by the current (client) user if missing."""
    from mlflow import MlflowClient
    from mlflow.exceptions import RestException

    client = MlflowClient(uri)
    if client.get_experiment_by_name(experiment) is None:
        client.create_experiment(experiment)
    try:
        client.create_registered_model(registered_model)
    except RestException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def setup_tracking(
    uri: str, artifacts: str, experiment: str, registered_model: str, timeout_s: float
) -> list[str]:
    """Returns one line per thing made ready."""
    wait_healthy(uri, timeout_s)
    bucket = ensure_bucket(artifacts)
    username, password = (_env(name) for name in CLIENT)
    for name in ADMIN:
        _env(name)
    ensure_user(uri, username, password)
    with _as(username, password):
        ensure_owned(uri, experiment, registered_model)
    return [
        f"bucket {bucket}",
        f"user {username}",
        f"experiment {experiment} and registered model {registered_model}, managed by {username}",
    ]
