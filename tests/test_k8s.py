"""k8s/: every overlay renders; every object validates (Kubernetes schemas offline, KubeRay CRD schemas); our own
invariants hold (GPU workers request GPUs, images pinned, no plaintext secrets, limits, non-root, no public services)."""

import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kustomize_render import build

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir())
CRDS = ROOT.parent / "shared" / "k8s-crds"
KUBERNETES_VERSION = "1.33"
SECRET_NAMES = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|_KEY_ID|DSN", re.I)


def close(schema):
    """Forbid unknown fields wherever the schema lists properties (as the API server drops them silently)."""
    if isinstance(schema, dict):
        if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema.setdefault("additionalProperties", False)
        for value in schema.values():
            close(value)
    elif isinstance(schema, list):
        for value in schema:
            close(value)
    return schema


@pytest.fixture(scope="module")
def crd_schemas():
    if not CRDS.exists():
        pytest.skip(f"KubeRay CRD schemas not found at {CRDS} (they ship in shared/ beside the repository)")
    schemas = {}
    for name in ("ray.io_rayclusters.yaml", "ray.io_rayjobs.yaml"):
        crd = yaml.safe_load((CRDS / name).read_text())
        for version in crd["spec"]["versions"]:
            key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
            schemas[key] = close(version["schema"]["openAPIV3Schema"])
    return schemas


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request):
    return request.param, build(K8S / "overlays" / request.param)


def pod_specs(doc):
    """(where, pod spec) of every pod template in an object."""
    spec = doc.get("spec", {})  # ConfigMaps have none
    if doc["kind"] in ("Deployment", "StatefulSet"):
        yield doc["kind"], spec["template"]["spec"]
    if doc["kind"] == "RayCluster":
        yield from cluster_pods(spec, "RayCluster")
    if doc["kind"] == "RayJob":
        if "rayClusterSpec" in spec:
            yield from cluster_pods(spec["rayClusterSpec"], "RayJob")
        yield "RayJob submitter", spec["submitterPodTemplate"]["spec"]


def cluster_pods(spec, where):
    yield f"{where} head", spec["headGroupSpec"]["template"]["spec"]
    for group in spec["workerGroupSpecs"]:
        yield f"{where} worker {group['groupName']}", group["template"]["spec"]


def test_overlays_exist():
    assert {"dev", "lab"} <= set(OVERLAYS)


def test_every_object_validates(rendered, crd_schemas):
    overlay, docs = rendered
    kinds = {d["kind"] for d in docs}
    assert {"RayCluster", "RayJob", "Deployment", "StatefulSet", "Service", "PersistentVolumeClaim"} <= kinds
    for doc in docs:
        key = (doc["apiVersion"], doc["kind"])
        if key in crd_schemas:
            jsonschema.validate(doc, crd_schemas[key])
        else:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        assert doc["metadata"]["namespace"] == f"tagf-{overlay}"


def test_a_misspelled_field_fails_validation(rendered, crd_schemas):
    _, docs = rendered
    cluster = next(d for d in docs if d["kind"] == "RayCluster")
    broken = {**cluster, "spec": {**cluster["spec"], "workerGroupSpec": []}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, crd_schemas[("ray.io/v1", "RayCluster")])


def test_gpu_workers_request_gpus_and_head_has_none(rendered):
    _, docs = rendered
    for doc in docs:
        for where, pod in pod_specs(doc):
            for container in pod["containers"]:
                requests, limits = container["resources"]["requests"], container["resources"]["limits"]
                if "worker" in where:
                    assert (
                        int(limits["nvidia.com/gpu"]) >= 1
                        and requests["nvidia.com/gpu"] == limits["nvidia.com/gpu"]
                    )
                    assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
                else:
                    assert "nvidia.com/gpu" not in limits, where


def test_cluster_autoscales_within_bounds(rendered):
    overlay, docs = rendered
    cluster = next(d for d in docs if d["kind"] == "RayCluster")
    assert cluster["spec"]["enableInTreeAutoscaling"] is True
    group = cluster["spec"]["workerGroupSpecs"][0]
    assert group["minReplicas"] <= group["maxReplicas"]
    assert group["maxReplicas"] == {"dev": 1, "lab": 8}[overlay]


def test_images_are_pinned_by_tag(rendered):
    _, docs = rendered
    for doc in docs:
        for where, pod in pod_specs(doc):
            for container in pod["containers"]:
                image = container["image"]
                name, _, tag = image.rpartition(":")
                assert name and tag and tag != "latest" and "/" not in tag, f"{where}: {image}"
    dockerfile = (K8S / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", dockerfile, re.M).group(1)
    assert ":" in base and not base.endswith(":latest")


def test_no_plaintext_secrets(rendered):
    _, docs = rendered
    assert not [d for d in docs if d["kind"] == "Secret"]  # Secrets are created by the lab, never rendered
    for doc in docs:
        for where, pod in pod_specs(doc):
            for container in pod["containers"]:
                for env in container.get("env", []):
                    if SECRET_NAMES.search(env["name"]):
                        assert "valueFrom" in env and "secretKeyRef" in env["valueFrom"], (
                            f"{where}: {env['name']}"
                        )
    dockerfile = (K8S / "Dockerfile").read_text()
    assert not re.search(r"^(ENV|ARG)\s+\S*(PASSWORD|SECRET|TOKEN|KEY)", dockerfile, re.M | re.I)
    example = list(yaml.safe_load_all((K8S / "secrets.example.yaml").read_text()))
    assert all(
        v == "CHANGE-ME"
        for d in example
        for k, v in d["stringData"].items()
        if "password" in k or "secret" in k
    )


def test_pods_run_as_non_root_with_limits(rendered):
    _, docs = rendered
    for doc in docs:
        for where, pod in pod_specs(doc):
            assert pod["securityContext"]["runAsNonRoot"] is True, where
            for container in pod["containers"]:
                assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where


def test_services_are_cluster_internal(rendered):
    _, docs = rendered
    services = [d for d in docs if d["kind"] == "Service"]
    assert {s["metadata"]["name"] for s in services} >= {"mlflow", "postgres", "minio"}
    assert all(s["spec"].get("type", "ClusterIP") == "ClusterIP" for s in services)
    assert not [d for d in docs if d["kind"] == "Ingress"]


def test_jobs_run_the_sweep_and_the_ablation(rendered):
    _, docs = rendered
    jobs = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "RayJob"}
    assert "tagf sweep" in jobs["tagf-sweep"]["entrypoint"] and jobs["tagf-sweep"]["shutdownAfterJobFinishes"]
    assert "tagf ablate" in jobs["tagf-ablate"]["entrypoint"]
    assert jobs["tagf-ablate"]["clusterSelector"] == {"ray.io/cluster": "tagf"}


def test_cluster_params_are_valid(rendered):
    from orchestration.params import validate

    _, docs = rendered
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "tagf-params")
    params = validate(yaml.safe_load(config["data"]["params.yaml"]), "tagf-params ConfigMap")
    assert params.mlflow.tracking_uri == "http://mlflow:5000"


def test_a_misspelled_core_field_fails_validation(rendered):
    _, docs = rendered
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
