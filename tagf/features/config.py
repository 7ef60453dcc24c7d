"""What feature extraction computes (the backbones, their weights, the storage precision) and where it runs: the
`features:` section of params.yaml, importable without torch."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from tagf.limits import bounded


class ExtractorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    visual_backbone: Literal["builtin", "ir50", "ir50_authors"] = Field(
        "builtin",
        description="builtin: synthetic corpus only; ir50_authors: the TAGF authors' 40-px-crop IR-50 front end",
    )
    visual_weights: str | None = Field(None, description="IR-50 state dict (path or URL), for ir50")
    audio_backbone: Literal["builtin", "vggish", "vggish_authors"] = Field(
        "builtin", description="builtin: synthetic corpus only; vggish_authors: without the final ReLU"
    )
    audio_weights: str | None = Field(None, description="VGGish state dict (path or URL), for vggish")
    batch_size: Annotated[int, bounded(1_000_000, "frames")] = Field(
        256, gt=0, description="frames per backbone batch"
    )
    dtype: Literal["float16", "float32"] = Field("float16", description="storage precision of the features")
    seed: int = Field(0, description="seed of the built-in random-feature face encoder")
    # Where extraction runs (on a Ray cluster: `tagf features --address`), not what it computes (PLACEMENT).
    cpus_per_worker: Annotated[int, bounded(1024, "CPUs")] = Field(
        1, gt=0, description="on a Ray cluster: CPUs per extraction task, its torch threads"
    )
    gpus_per_worker: float = Field(
        0, ge=0, le=64, description="on a Ray cluster: GPUs per task (fractions share a card)"
    )
    videos_per_shard: Annotated[int, bounded(100_000, "videos")] = Field(
        4, gt=0, description="on a Ray cluster: videos per task, the unit a rerun resumes from"
    )


PLACEMENT = (
    "cpus_per_worker",
    "gpus_per_worker",
    "videos_per_shard",
)  # not in the manifest: same store anywhere
