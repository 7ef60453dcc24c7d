"""Runs inside a private network and mount namespace for tests/test_k8s_services.py (which prepares `spec.json`):
the manifests' PostgreSQL, MinIO (an S3-compatible moto server) and MLflow on their in-cluster names, then the
setup Job, then a client with the Ray pods' environment. Prints what it saw as one JSON object."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import requests

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def wait_for(
    url: str, what: str, proc: subprocess.Popen, log: Path | None = None, seconds: float = 120
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    tail = log.read_text()[-3000:] if log else ""
    raise SystemExit(f"{what} did not come up at {url}\n{tail}")


def postgres(work: Path, env: dict[str, str]) -> None:
    """Debian's PostgreSQL as the postgres image sets itself up: POSTGRES_USER is the superuser with
    POSTGRES_PASSWORD, POSTGRES_DB its database."""
    data, sock, pw = work / "pg", work / "pgsock", work / "pgpass"
    sock.mkdir()
    pw.write_text(env["POSTGRES_PASSWORD"])
    for path in (work, sock, pw):
        subprocess.run(["chown", "postgres", path], check=True)
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [
            *as_pg,
            PG_BIN / "initdb",
            "-D",
            data,
            "-U",
            env["POSTGRES_USER"],
            f"--pwfile={pw}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *as_pg,
            PG_BIN / "pg_ctl",
            "-D",
            data,
            "-w",
            "-l",
            work / "pg.log",
            "-o",
            f"-h 127.0.0.1 -p 5432 -k {sock}",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*as_pg, PG_BIN / "createdb", "-h", sock, "-U", env["POSTGRES_USER"], env["POSTGRES_DB"]], check=True
    )


def command_lines() -> list[str]:
    """Every process's command line, as ps shows it."""
    lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            lines.append(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:  # the process ended meanwhile
            pass
    return lines


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    work = Path(spec["work"])
    base = {"PATH": spec["path"], "LANG": "C.UTF-8"}
    procs = []
    try:
        postgres(work, spec["postgres"]["env"])
        procs.append(
            subprocess.Popen(
                [spec["moto_server"], "-H", "127.0.0.1", "-p", "9000"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_for("http://minio:9000/", "the S3 server", procs[-1])
        mlflow = spec["mlflow"]
        with open(work / "mlflow.log", "w") as log:
            procs.append(
                subprocess.Popen(
                    [*mlflow["command"], *mlflow["args"]],
                    env={**base, **mlflow["env"]},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        wait_for("http://mlflow:5000/health", "mlflow server", procs[-1], work / "mlflow.log", 180)
        setup = spec["setup"]
        job = subprocess.run(
            [*setup["command"], *setup.get("args", [])],
            env={**base, **setup["env"]},
            capture_output=True,
            text=True,
        )
        seen = {"setup_rc": job.returncode, "setup_out": job.stdout + job.stderr}
        client = subprocess.run(
            [sys.executable, "-c", CLIENT],
            env={**base, **spec["client"]["env"]},
            capture_output=True,
            text=True,
        )
        seen.update(client_rc=client.returncode, client_err=client.stderr[-3000:])
        if client.returncode == 0:
            seen.update(json.loads(client.stdout.strip().splitlines()[-1]))
        seen["mlflow_log"] = (work / "mlflow.log").read_text()[-3000:]
        seen["argv_with_secrets"] = [
            argv for argv in command_lines() if any(v in argv for v in spec["secrets"])
        ]
        print(json.dumps(seen))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)


# The client: the Ray pods' environment (MLFLOW_TRACKING_URI=http://mlflow:5000, the client user's credentials).
CLIENT = r"""
import json, os, boto3, mlflow, requests
from pathlib import Path
mlflow.set_experiment("tagf")
with mlflow.start_run() as run:
    mlflow.log_metric("val_ccc_mean", 0.5)
    Path("/tmp/note.txt").write_text("artifact")
    mlflow.log_artifact("/tmp/note.txt")
# The inspector's view of the bucket (the Ray pods have no S3 credentials: the server proxies their artifacts).
s3 = boto3.client("s3", endpoint_url="http://minio:9000", aws_access_key_id="any", aws_secret_access_key="any",
                  region_name="us-east-1")
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mlflow-artifacts").get("Contents", [])]
auth = (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"])
api = "http://127.0.0.1:5000/api/2.0/mlflow/experiments/get-by-name?experiment_name=tagf"
status = {host: requests.get(api, auth=auth, headers={"Host": host}).status_code
          for host in ("mlflow:5000", "mlflow.tagf-dev.svc.cluster.local:5000", "evil.example:5000")}
status["unauthenticated"] = requests.get(api.replace("127.0.0.1", "mlflow")).status_code
print(json.dumps({"run_id": run.info.run_id, "keys": keys, "status": status}))
"""

if __name__ == "__main__":
    main(sys.argv[1])
