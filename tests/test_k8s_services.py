"""The Kubernetes deployment's services run for real, from the rendered manifests (k8s/overlays/dev): Debian's
PostgreSQL set up as the postgres image does from the StatefulSet's env, an S3-compatible server (moto) as MinIO, the
MLflow Deployment's own command line and env (Secrets from secrets.example.yaml with test values), then the setup
Job's command, then a client with the Ray head's env: the in-cluster names resolve through a private /etc/hosts in
a network namespace of their own (`unshare --net --mount`, as root), so ports 5432/9000/5000 are the manifests'."""

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sysconfig.get_path("scripts"))
NAMESPACE = "tagf-dev"
PG_BIN = Path("/usr/lib/postgresql/15/bin")

pytestmark = pytest.mark.slow


def secrets() -> dict[str, dict[str, str]]:
    """secrets.example.yaml with every CHANGE-ME replaced by a long test value."""
    out = {}
    for doc in yaml.safe_load_all((ROOT / "k8s" / "secrets.example.yaml").read_text()):
        data = doc["stringData"]
        out[doc["metadata"]["name"]] = {
            k: (f"test-{doc['metadata']['name']}-{k}-7f3a9c2e41" if v == "CHANGE-ME" else v)
            for k, v in data.items()
        }
    return out


def resolve(container: dict, values: dict[str, dict[str, str]]) -> dict[str, str]:
    """A container's env as the kubelet gives it: Secret and field references, then $(VAR) expansion."""
    env: dict[str, str] = {}
    for item in container.get("env", []):
        source = item.get("valueFrom", {})
        if "secretKeyRef" in source:
            env[item["name"]] = values[source["secretKeyRef"]["name"]][source["secretKeyRef"]["key"]]
        elif "fieldRef" in source:
            assert source["fieldRef"]["fieldPath"] == "metadata.namespace"
            env[item["name"]] = NAMESPACE
        else:
            env[item["name"]] = re.sub(
                r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), item["value"]
            )
    return env


def container(docs, kind: str, name: str) -> dict:
    doc = next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)
    if kind == "RayCluster":
        return doc["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    return doc["spec"]["template"]["spec"]["containers"][0]


@pytest.fixture
def namespaces_work():
    if os.geteuid() != 0 or not shutil.which("unshare") or not (PG_BIN / "initdb").exists():
        pytest.skip("needs root, unshare and Debian's postgresql (apt install postgresql), as on CI")
    probe = subprocess.run(["unshare", "--net", "--mount", "true"], capture_output=True, text=True)
    if probe.returncode:
        pytest.skip(f"unshare --net --mount refused here: {probe.stderr.strip()}")


def test_the_manifests_services_serve_an_in_cluster_client(namespaces_work, tmp_path):
    rendered = subprocess.run(
        [BIN / "kubectl", "kustomize", ROOT / "k8s" / "overlays" / "dev"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    values = secrets()
    mlflow, setup = container(docs, "Deployment", "mlflow"), container(docs, "Job", "mlflow-setup")
    params = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "tagf-params")
    (tmp_path / "etc-tagf").mkdir()
    (tmp_path / "etc-tagf" / "params.yaml").write_text(params["data"]["params.yaml"])
    work = Path("/mnt/work")  # where tmp_path is seen inside the namespace (its /tmp is a fresh tmpfs)
    # The Job's ConfigMap volume (/etc/tagf) is this folder.
    setup_command = [a.replace("/etc/tagf", str(work / "etc-tagf")) for a in setup["command"]]
    spec = {
        "work": str(work),
        "path": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
        "moto_server": str(BIN / "moto_server"),
        "postgres": {"env": resolve(container(docs, "StatefulSet", "postgres"), values)},
        "mlflow": {"command": mlflow["command"], "args": mlflow["args"], "env": resolve(mlflow, values)},
        "setup": {"command": setup_command, "env": resolve(setup, values)},
        "client": {"env": resolve(container(docs, "RayCluster", "tagf"), values)},
        "secrets": [
            v
            for name in ("tagf-postgres", "tagf-mlflow-auth")
            for k, v in values[name].items()
            if "password" in k
        ],
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "hosts").write_text(
        f"127.0.0.1 localhost postgres minio mlflow mlflow.{NAMESPACE}.svc.cluster.local\n"
    )
    tmp_path.chmod(0o755)  # PostgreSQL runs as the postgres user
    # A fresh /tmp inside the namespace; the checkout and the venv are bound back where they were if they live
    # under /tmp (a clone in /tmp would otherwise lose its .venv: exit 127).
    keep = sorted({str(p) for p in (ROOT, Path(sys.prefix)) if Path("/tmp") in p.parents})
    rebind = "".join(
        f" && mkdir -p /mnt/keep{k} {path} && mount --bind /mnt/keep{k} {path}" for k, path in enumerate(keep)
    )
    script = (
        f"ip link set lo up && mount --bind {tmp_path}/hosts /etc/hosts && mount -t tmpfs tmpfs /mnt"
        f" && mkdir /mnt/work /mnt/tmp && mount --bind {tmp_path} /mnt/work"
        + "".join(
            f" && mkdir /mnt/keep{k} && mount --bind {path} /mnt/keep{k}" for k, path in enumerate(keep)
        )
        + f" && mount --bind /mnt/tmp /tmp{rebind}"
        f" && exec {sys.executable} {ROOT}/tests/k8s_services.py /mnt/work/spec.json"
    )
    ran = subprocess.run(
        ["unshare", "--net", "--mount", "bash", "-c", script], capture_output=True, text=True, timeout=480
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    seen = json.loads(ran.stdout.strip().splitlines()[-1])
    assert seen["setup_rc"] == 0, seen["setup_out"]
    assert "ready: user tagf-runner" in seen["setup_out"]
    assert seen["client_rc"] == 0, seen["client_err"] + seen["mlflow_log"]
    assert any(key.endswith("/artifacts/note.txt") and seen["run_id"] in key for key in seen["keys"]), seen[
        "keys"
    ]
    assert seen["status"] == {
        "mlflow:5000": 200,
        f"mlflow.{NAMESPACE}.svc.cluster.local:5000": 200,
        "evil.example:5000": 403,  # a Host the server does not serve (DNS rebinding)
        "unauthenticated": 401,
    }
    assert seen["argv_with_secrets"] == []
