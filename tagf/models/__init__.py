"""The TAGF model family: one FusionModel, configured per variant through the registry.

Names are resolved on first use (PEP 562), so that `tagf.models.config` and `tagf.models.variants`, which hold
the settings, import without torch: the params route reads them before torch may be imported (tagf.runtime).
"""

from importlib import import_module
from typing import Any

_WHERE = {
    "ModelConfig": "tagf.models.config",
    "VARIANTS": "tagf.models.variants",
    "Variant": "tagf.models.variants",
    "model_config": "tagf.models.variants",
    "FusionModel": "tagf.models.fusion_model",
    "FusionOutput": "tagf.models.fusion_model",
    "build_model": "tagf.models.fusion_model",
    "load_model": "tagf.models.model_file",
    "save_model": "tagf.models.model_file",
    "CheckpointImportError": "tagf.models.official_checkpoint",
    "from_official_state_dict": "tagf.models.official_checkpoint",
    "official_front_ends": "tagf.models.official_checkpoint",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'tagf.models' has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)
