"""The study's verdicts where MLflow's runs table shows them, so that Group by and Compare lead to the verdicts, not
past them: one summary run per model of an ablation (each variant and condition, controls marked), nested under the
ablation's parent run, named `<model>: <verdict>`, tagged `kind: summary`, `group` as its trials (Group by `group`
puts it beside them), `verdict`, and with the primary endpoint's estimate as metrics:

    primary_ccc, primary_ccc_low, primary_ccc_high           the model's CCC on the primary endpoint, 95 % interval
    primary_delta, primary_delta_low, primary_delta_high     its paired difference from the reference
    primary_p_holm, primary_p_tost_holm                      Holm-adjusted test and equivalence p

The parent run gets the reference's `primary_ccc` (and interval) and `detectable_difference` (power.json: the
smallest difference the design finds with 80 % power). A resumed or re-collected ablation updates its summary runs
instead of adding more.
"""

from __future__ import annotations

from typing import Any

from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

from tagf.study.tables import primary_rows

KIND = "summary"
METRICS = {  # metric: primary_rows' field
    "primary_ccc": "ccc",
    "primary_ccc_low": "ccc_low",
    "primary_ccc_high": "ccc_high",
    "primary_delta": "delta",
    "primary_delta_low": "delta_low",
    "primary_delta_high": "delta_high",
    "primary_p_holm": "p_holm",
    "primary_p_tost_holm": "p_equivalence_holm",
}


def _metrics(record: dict[str, Any]) -> list[Metric]:
    return [
        Metric(name, float(record[field]), 0, 0)
        for name, field in METRICS.items()
        if record[field] is not None
    ]


def log_verdicts(
    client: MlflowClient,
    parent_run_id: str,
    summary: dict[str, Any],
    power: dict[str, Any],
) -> None:
    """A summary run per model of `summary` (ablation.json) under `parent_run_id`, in the `group` of its trials
    (their model's label)."""
    parent = client.get_run(parent_run_id)
    experiment_id = parent.info.experiment_id
    existing = {
        run.data.tags.get("model"): run.info.run_id
        for run in client.search_runs(
            [experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}' and tags.kind = '{KIND}'"
        )
    }
    for record in primary_rows(summary):
        label = record["model"]
        verdict = record["verdict"].split(",")[0].split(" (")[0]
        tags = {
            "mlflow.parentRunId": parent_run_id,
            "kind": KIND,
            "model": label,
            "group": label,
            "verdict": record["verdict"],
            "control": str(record["control"]).lower(),
            "primary": summary["primary"],
        }
        name = f"{label}: {verdict}" + (" (control)" if record["control"] else "")
        run_id = existing.get(label) or client.create_run(experiment_id, run_name=name).info.run_id
        client.log_batch(
            run_id,
            metrics=_metrics(record),
            tags=[RunTag(k, v) for k, v in {**tags, "mlflow.runName": name}.items()],
        )
        client.set_terminated(run_id, "FINISHED")
        if record["verdict"] == "reference":
            client.log_batch(parent_run_id, metrics=_metrics(record)[:3])
    if power.get("detectable_difference") is not None:
        client.log_metric(parent_run_id, "detectable_difference", float(power["detectable_difference"]))
    client.set_tag(parent_run_id, "primary", summary["primary"])
