"""Import of state dicts trained with the TAGF authors' code into our faithful TAGF (one output).

The authors' outer model holds the two TCNs (`temporal.{video,logmel}`), their BatchNorms (`bn.*`), the fusion
under `TAGF.` and the head `regressor1 → bn1 → regressor2`. Their TCN blocks use the old
`torch.nn.utils.weight_norm` (`weight_g`, `weight_v`); ours use the parametrization API, whose `original0` is g and
`original1` is v — same tensors, same shapes, no transpose needed. Each block's convolutions are registered twice
(`conv1` and `net.0`, `conv2` and `net.4`); the copies must be identical and are dropped. The frozen backbones
(`spatial.*`) and modules the authors build but never call (`TAGF.vregressor`, `TAGF.aregressor`, `TAGF.Joint`)
are skipped, as are the TCNs and BatchNorms of modalities TAGF does not use (`bert`, `vggish` in their default
`-modality` list). Everything else must map one-to-one with matching shapes.

The gate's Linear(3·d_m → 2·d_m) is copied as it is: our StepBiLSTMGate concatenates [candidates, BiLSTM outputs]
in the authors' order (their `LSTM.forward`: `cat([inputs, outputs])`).

`import_checkpoint` is `tagf import-checkpoint`: the authors' file in, a tagf model file and its front ends out.
`official_front_ends` takes the frozen front ends out of the same checkpoint: `spatial.visual.backbone.*` is the
authors' IR-50 (`tagf.features.iresnet`, authors=True) and `spatial.audio.backbone.*` their VGGish
(`tagf.features.vggish`, authors=True); `spatial.visual.logits.*`, an emotion classifier on top, is not used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from tagf.errors import ModelFileError, UsageError
from tagf.models.fusion_model import FusionModel, build_model
from tagf.models.model_file import save_model
from tagf.models.variants import model_config
from tagf.torch_files import load_tensors, save_tensors

_SKIPPED = ("spatial.", "TAGF.vregressor.", "TAGF.aregressor.", "TAGF.Joint.")
# Their main.py's default modalities include `bert` and `vggish`, for which LFAN builds a TCN and a BatchNorm that
# TAGF never reads: skipped too.
_UNUSED_MODALITY = re.compile(r"(temporal|bn)\.(?!video\.|logmel\.)\w+\..+")
# Front-end name (an ExtractorConfig backbone) -> the prefix of its weights in the authors' checkpoint.
FRONT_ENDS = {"ir50_authors": "spatial.visual.backbone.", "vggish_authors": "spatial.audio.backbone."}
_MODALITY = {"video": "visual", "logmel": "audio"}
_DUPLICATE_CONV = {"net.0": "conv1", "net.4": "conv2"}
_TCN = re.compile(r"temporal\.(video|logmel)\.network\.(\d+)\.(.+)")
_COATTN = re.compile(r"TAGF\.coattn\.dcn_layers\.(\d+)\.(.+)")
_GATE = re.compile(r"TAGF\.(video|audio)_temporal_encoder\.(.+)")
_COATTN_PARTS = {
    "dense_coattn.query_linear": "joint",
    "dense_coattn.key1_linear": "key_visual",
    "dense_coattn.key2_linear": "key_audio",
    "dense_coattn.value1_linear": "value_visual",
    "dense_coattn.value2_linear": "value_audio",
    "linears.0.0": "out_visual",
    "linears.1.0": "out_audio",
}
_WEIGHT_NORM = {
    "weight_g": "conv.parametrizations.weight.original0",
    "weight_v": "conv.parametrizations.weight.original1",
    "bias": "conv.bias",
}
_HEAD = {"regressor1": "head.hidden", "bn1": "head.norm", "regressor2": "head.out"}


class CheckpointImportError(ModelFileError):
    """The state dict does not have the authors' TAGF layout."""


def _our_key(key: str) -> str | None:
    """Our parameter name for one of the authors' keys; None for keys that are skipped."""
    if key.startswith(_SKIPPED) or _UNUSED_MODALITY.fullmatch(key):
        return None
    if m := _TCN.fullmatch(key):
        modality, level, rest = _MODALITY[m[1]], m[2], m[3]
        conv, _, param = rest.rpartition(".")
        if conv in ("conv1", "conv2") and param in _WEIGHT_NORM:
            return f"{modality}_encoder.levels.{level}.{conv}.{_WEIGHT_NORM[param]}"
        if conv == "downsample":
            return f"{modality}_encoder.levels.{level}.downsample.{param}"
        return "?"
    if m := re.fullmatch(r"bn\.(video|logmel)\.(.+)", key):
        return f"{_MODALITY[m[1]]}_encoder.norm.{m[2]}"
    if m := _COATTN.fullmatch(key):
        part, _, param = m[2].rpartition(".")
        return f"coattention.steps.{m[1]}.{_COATTN_PARTS[part]}.{param}" if part in _COATTN_PARTS else "?"
    if m := _GATE.fullmatch(key):
        return f"gate.{'visual' if m[1] == 'video' else 'audio'}.{m[2]}"
    head, _, param = key.partition(".")
    return f"{_HEAD[head]}.{param}" if head in _HEAD else "?"


def _drop_duplicate_convs(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    kept = {}
    for key, tensor in state_dict.items():
        m = re.fullmatch(r"(temporal\.\w+\.network\.\d+\.)(net\.[04])\.(\w+)", key)
        if m is None:
            kept[key] = tensor
            continue
        twin = f"{m[1]}{_DUPLICATE_CONV[m[2]]}.{m[3]}"
        if twin in state_dict and not torch.equal(state_dict[twin], tensor):
            raise CheckpointImportError(
                f"{key} differs from {twin}; they should be the same registered tensor"
            )
    return kept


def _infer_config(sd: Mapping[str, torch.Tensor]):
    def widths(modality: str) -> tuple[int, ...]:
        levels = sorted({int(m[2]) for k in sd if (m := _TCN.fullmatch(k)) and m[1] == modality})
        return tuple(int(sd[f"temporal.{modality}.network.{i}.conv1.weight_v"].shape[0]) for i in levels)

    try:
        first_v = sd["temporal.video.network.0.conv1.weight_v"]
        first_a = sd["temporal.logmel.network.0.conv1.weight_v"]
        steps = len({m[1] for k in sd if (m := _COATTN.fullmatch(k))})
        return model_config(
            "tagf",
            visual_in=int(first_v.shape[1]),
            audio_in=int(first_a.shape[1]),
            visual_channels=widths("video"),
            audio_channels=widths("logmel"),
            tcn_kernel=int(first_v.shape[2]),
            steps=steps,
            key_mode="faithful",
            window=int(sd["TAGF.coattn.dcn_layers.0.dense_coattn.key1_linear.weight"].shape[0]),
            head_hidden=int(sd["regressor1.weight"].shape[0]),
            outputs=int(sd["regressor2.weight"].shape[0]),
        )
    except KeyError as missing:
        raise CheckpointImportError(f"not an authors' TAGF state dict: missing key {missing}") from None


def from_official_state_dict(state_dict: Mapping[str, torch.Tensor]) -> FusionModel:
    """Our faithful TAGF carrying the authors' weights, in eval mode; it outputs (B, L, 1)."""
    sd = _drop_duplicate_convs(state_dict)
    model = build_model(_infer_config(sd))
    ours = model.state_dict()
    converted, unexpected = {}, []
    for key, tensor in sd.items():
        target = _our_key(key)
        if target is None:
            continue
        if target not in ours:
            unexpected.append(key)
            continue
        if tuple(tensor.shape) != tuple(ours[target].shape):
            raise CheckpointImportError(
                f"{key}: shape {tuple(tensor.shape)} does not fit {target} {tuple(ours[target].shape)}"
            )
        converted[target] = tensor
    missing = sorted(set(ours) - set(converted))
    if missing or unexpected:
        raise CheckpointImportError(
            f"state dict does not match TAGF: missing {missing or 'none'}; unexpected {sorted(unexpected) or 'none'}"
        )
    model.load_state_dict(converted)
    return model.eval()


def official_front_ends(state_dict: Mapping[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """The front-end weights the checkpoint holds, by backbone name, with the authors' prefixes removed."""
    found = {}
    for name, prefix in FRONT_ENDS.items():
        weights = {k.removeprefix(prefix): v for k, v in state_dict.items() if k.startswith(prefix)}
        if weights:
            found[name] = weights
    return found


def load_official_state_dict(source: str) -> dict[str, torch.Tensor]:
    """The state dict in a torch file saved by the authors' code: the bare state dict or a dict holding it."""
    payload = load_tensors(source, what="checkpoint")
    if isinstance(payload, dict):
        payload = payload.get("state_dict", payload.get("net", payload))
    if not isinstance(payload, Mapping):
        raise CheckpointImportError(f"{source}: holds no state dict")
    return dict(payload)


def import_checkpoint(source: str, destination: str, target: str, hop: int) -> list[str]:
    """Convert the authors' checkpoint `source` into the tagf model file `destination` (one target, evaluated with
    `hop`; neither is in their file), and save the front ends found in it beside it as <stem>.<backbone>.pt.
    Returns a line per file written."""
    state_dict = load_official_state_dict(source)
    model = from_official_state_dict(state_dict)
    if hop > model.cfg.window:
        raise UsageError(f"--hop {hop}: larger than the checkpoint's window {model.cfg.window}")
    extra = {
        "imported_from": str(source),
        "setup": "paper",
        "train": {"target": target, "window": model.cfg.window, "hop": hop},
    }
    save_model(model, destination, extra)
    written = [
        f"imported {source} -> {destination} ({target}, {model.cfg.steps} steps, window {model.cfg.window}, hop {hop})"
    ]
    stem = destination.removesuffix(".pt")
    for backbone, weights in official_front_ends(state_dict).items():
        url = f"{stem}.{backbone}.pt"
        save_tensors(weights, url)
        written.append(f"front end {backbone}: {len(weights)} tensors -> {url}")
    return written
