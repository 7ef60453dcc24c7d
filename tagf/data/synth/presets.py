"""Sizes and kinds of synthetic corpus (`tagf synth --preset`, params.yaml's data.preset): how many videos, how long,
how misaligned. A preset is a SynthPreset; PRESETS names them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SynthPreset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    videos: dict[str, int] = Field(description="videos per split: train, validation, test")
    duration_s: tuple[float, float] = Field(description="video duration range")
    face_px: int = Field(64, gt=7, description="face image side")
    max_lag_s: float = Field(0.5, ge=0, description="per-video (mean) audio lag ~ U(-max, max)")
    max_lag_drift_s: float = Field(
        0, ge=0, description="the lag moves linearly by ~U(-max, max) over a video"
    )
    desync_fraction: float = Field(0, ge=0, lt=1, description="frames in stretches where the lag jumps")
    desync_mean_s: float = Field(3.0, gt=0, description="mean length of a desynchronised stretch")
    desync_offset_s: tuple[float, float] = Field((1.0, 2.5), description="size range of a jump; either sign")
    unannotated_fraction: float = Field(0.03, ge=0, lt=1)
    face_dropout_fraction: float = Field(0.05, ge=0, lt=1)
    audio_outage_fraction: float = Field(0, ge=0, lt=1, description="frames whose audio carries nothing")
    outage_mean_s: float = Field(1.0, gt=0, description="mean length of a face dropout or audio outage")
    occlusion_fraction: float = Field(0.08, ge=0, lt=1)
    snr_db: tuple[float, float] = Field((8.0, 25.0), description="background noise SNR range")
    latent_jump_every_s: float = Field(15.0, gt=0, description="mean time between the latent's jumps")
    mouth_sync: bool = Field(
        False,
        description="the mouth opens with the voice's energy when the speech is produced (a lip cue to the lag)",
    )
    zero_lag_fraction: float = Field(
        0, ge=0, le=1, description="videos whose audio is in sync: no lag, drift or jump"
    )

    def described(self) -> dict:
        """The preset as ground_truth/synth.json records it: the sync fields only where set, so that the corpora of
        the presets that came before them stay byte for byte what they were."""
        found = self.model_dump()
        for name in ("mouth_sync", "zero_lag_fraction"):
            if found[name] == type(self).model_fields[name].default:
                del found[name]
        return found

    @field_validator("desync_offset_s")
    @classmethod
    def _ordered_offsets(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= value[0] <= value[1]:
            raise ValueError(f"expected 0 <= low <= high seconds, got {value}")
        return value


PRESETS = {
    "tiny": SynthPreset(videos={"train": 4, "validation": 2, "test": 2}, duration_s=(12, 16), face_px=32),
    "default": SynthPreset(videos={"train": 14, "validation": 4, "test": 4}, duration_s=(30, 45), face_px=48),
    "large": SynthPreset(
        videos={"train": 300, "validation": 70, "test": 70}, duration_s=(30, 90), face_px=112
    ),
}
# Every misalignment at once, on a latent fast enough that 1 s of lag costs CCC: CCC(latent(t), latent(t - 1 s))
# is about 0.50 with a jump every 1 s, against 0.91 with the 15 s of the presets above (40 default-size videos).
_MISALIGNMENT = {
    "max_lag_s": 2.0,
    "max_lag_drift_s": 1.0,
    "desync_fraction": 0.1,
    "face_dropout_fraction": 0.1,
    "audio_outage_fraction": 0.08,
    "outage_mean_s": 2.0,
    "latent_jump_every_s": 1.0,
}
PRESETS |= {
    "misaligned": PRESETS["default"].model_copy(update=_MISALIGNMENT),
    "misaligned_tiny": PRESETS["tiny"].model_copy(update=_MISALIGNMENT),
}
# Misaligned, with the alignment observable: the mouth opens with the voice (as in real speech, a lip cue to the
# lag), a quarter of the videos in sync, and twice the default's test videos (the study's power) for fewer training
# videos (the study's time).
_SYNC = {**_MISALIGNMENT, "mouth_sync": True, "zero_lag_fraction": 0.25}
PRESETS |= {
    "sync": PRESETS["default"].model_copy(
        update={**_SYNC, "videos": {"train": 10, "validation": 4, "test": 8}}
    ),
    "sync_tiny": PRESETS["tiny"].model_copy(update=_SYNC),
}

# Broadcast and web video (as Aff-Wild2): mostly in sync, the rest a little off, jumps rare, with the lip cue and a
# fast latent. What self-supervised sync learning assumes of its training video; the protocol's shifts then test
# every model under lags its training never had. Three times the test videos of `sync` (inference is cheap, and
# more videos shrink the video variance of every comparison).
_BROADCAST = {
    **_SYNC,
    "zero_lag_fraction": 0.8,
    "max_lag_s": 0.3,
    "max_lag_drift_s": 0.1,
    "desync_fraction": 0.02,
}
PRESETS |= {
    "broadcast": PRESETS["default"].model_copy(
        update={**_BROADCAST, "videos": {"train": 10, "validation": 4, "test": 24}}
    ),
    "broadcast_tiny": PRESETS["tiny"].model_copy(update=_BROADCAST),
}

PRESET_NAMES = tuple(PRESETS)
