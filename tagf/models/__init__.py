"""The TAGF model family: one FusionModel, configured per variant through the registry."""

from tagf.models.config import ModelConfig
from tagf.models.fusion_model import FusionModel, FusionOutput
from tagf.models.model_file import load_model, save_model
from tagf.models.official_checkpoint import (
    CheckpointImportError,
    from_official_state_dict,
    official_front_ends,
)
from tagf.models.variants import VARIANTS, build_model, model_config

__all__ = [
    "VARIANTS",
    "CheckpointImportError",
    "FusionModel",
    "FusionOutput",
    "ModelConfig",
    "build_model",
    "from_official_state_dict",
    "load_model",
    "save_model",
    "model_config",
    "official_front_ends",
]
