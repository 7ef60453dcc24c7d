"""Renders our kustomizations in Python, for offline validation (no kustomize binary can be installed here).

It implements only the kustomize features k8s/ uses — `resources` (files and directories), `namespace`,
`labels` (pairs, includeSelectors: false), `images` (newName/newTag) and `patches` with a target and an inline
JSON 6902 patch — and refuses any other field, so a kustomization using something it cannot render fails the test
instead of passing silently.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}
CLUSTER_SCOPED = {"Namespace", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding"}


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def _apply(doc: dict, op: dict) -> None:
    *parents, last = _pointer(op["path"])
    node = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if op["op"] == "replace":
        if isinstance(node, list):
            node[int(last)] = op["value"]
        else:
            if last not in node:
                raise KeyError(f"replace: {op['path']} does not exist")
            node[last] = op["value"]
    elif op["op"] == "add":
        if isinstance(node, list):
            node.insert(len(node) if last == "-" else int(last), op["value"])
        else:
            node[last] = op["value"]
    elif op["op"] == "remove":
        del node[int(last) if isinstance(node, list) else last]
    else:
        raise ValueError(f"unsupported JSON patch op {op['op']}")


def _images(node, images: list[dict]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image" and isinstance(value, str):
                for image in images:
                    if value == image["name"] or value.startswith(image["name"] + ":"):
                        node[key] = f"{image.get('newName', image['name'])}:{image['newTag']}"
            else:
                _images(value, images)
    elif isinstance(node, list):
        for item in node:
            _images(item, images)


def build(directory: Path) -> list[dict]:
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise ValueError(
            f"{directory}/kustomization.yaml uses {sorted(unknown)}, which this renderer does not do"
        )
    docs: list[dict] = []
    for resource in spec.get("resources", []):
        path = (directory / resource).resolve()
        if path.is_dir():
            docs += build(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    docs = copy.deepcopy(docs)
    for patch in spec.get("patches", []):
        target = patch["target"]
        matches = [d for d in docs if d["kind"] == target["kind"] and d["metadata"]["name"] == target["name"]]
        if not matches:
            raise ValueError(f"patch target {target} matches no resource")
        for doc in matches:
            for op in yaml.safe_load(patch["patch"]):
                _apply(doc, op)
    for doc in docs:
        if "namespace" in spec and doc["kind"] not in CLUSTER_SCOPED:
            doc["metadata"]["namespace"] = spec["namespace"]
        for label in spec.get("labels", []):
            if label.get("includeSelectors", False):
                raise ValueError("labels with includeSelectors: true are not rendered")
            doc["metadata"].setdefault("labels", {}).update(label["pairs"])
        _images(doc, spec.get("images", []))
    return docs
