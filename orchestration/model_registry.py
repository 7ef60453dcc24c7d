"""Model registry: register a candidate as `challenger`; promote it to `champion` only when it is better."""

from __future__ import annotations

from dataclasses import dataclass

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from tagf.errors import TrackingError
from tagf.score_names import SELECTION_MEAN

CHALLENGER, CHAMPION = "challenger", "champion"
SCORE_TAG = SELECTION_MEAN
FINGERPRINT_TAG = "model_sha256"  # the model file's hash: the same model is never registered twice


@dataclass
class Promotion:
    promoted: bool
    message: str


def registered_version(client: MlflowClient, name: str, fingerprint: str) -> str | None:
    """The version of `name` already holding the model with this fingerprint, if any."""
    try:
        versions = client.search_model_versions(f"name='{name}'")
    except MlflowException:
        return None
    return next((v.version for v in versions if v.tags.get(FINGERPRINT_TAG) == fingerprint), None)


def register(
    client: MlflowClient, name: str, model_uri: str, run_id: str, score: float, tags: dict[str, str]
) -> str:
    """A new version of `name` from `model_uri`, tagged with its validation score; it becomes the challenger."""
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name, description="Best gated-fusion (TAGF family) valence/arousal model"
        )
    # A logged model's URI is models:/<model_id>; a REST tracking server needs that id to find the source.
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    version = client.create_model_version(
        name, model_uri, run_id=run_id, tags={SCORE_TAG: f"{score:.6f}", **tags}, model_id=model_id
    )
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    return version.version


def _aliased(client: MlflowClient, name: str, alias: str):
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


PROMOTION_TAG = "promotion"


def promote(client: MlflowClient, name: str, force: bool = False) -> Promotion:
    """Move `champion` to the challenger if its validation ccc_mean beats the champion's (or `force`)."""
    challenger = _aliased(client, name, CHALLENGER)
    if challenger is None:
        raise TrackingError(f"registered model {name!r} has no {CHALLENGER} version to promote")
    champion = _aliased(client, name, CHAMPION)
    new = float(challenger.tags[SCORE_TAG])
    if champion is None:
        said = f"{name} v{challenger.version} (val ccc_mean {new:.4f}) is the first champion"
        client.set_registered_model_alias(name, CHAMPION, challenger.version)
        client.set_model_version_tag(name, challenger.version, PROMOTION_TAG, f"tagf promote: {said}")
        return Promotion(True, said)
    if champion.version == challenger.version:
        return Promotion(False, f"{name} v{challenger.version} is already the champion")
    old = float(champion.tags[SCORE_TAG])
    compared = (
        f"challenger v{challenger.version} val ccc_mean {new:.4f} vs champion v{champion.version} {old:.4f}"
    )
    if new > old or force:
        said = f"promoted: {compared}" + (" (forced)" if force and new <= old else "")
        client.set_registered_model_alias(name, CHAMPION, challenger.version)
        # What checked it, on the version: a champion moved in the UI has no such tag.
        client.set_model_version_tag(name, challenger.version, PROMOTION_TAG, f"tagf promote: {said}")
        return Promotion(True, said)
    return Promotion(False, f"kept the champion: {compared}")
