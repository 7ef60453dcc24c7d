"""What `make run` prints after `dvc repro`: per stage whether it was computed in this run (and its wall time) or
reused from this machine's earlier run, which machine made the ablation, and the metrics as a short table.

`dvc repro`'s standard output is piped through this script, which echoes every line as it comes and notes when
each stage starts and ends (DVC prints "Running stage 'x':" before a stage and "Updating lock file" after it;
"Stage 'x' didn't change, skipping" for one it reuses). At the end it prints both tables.

    dvc repro | python tools/run_summary.py results/report/metrics.json
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import yaml

RUNNING = re.compile(r"Running stage '([^']+)'")
SKIPPED = re.compile(r"Stage '([^']+)' didn't change")
STAGE_END = ("Updating lock file", "Running stage")


def stage_times(lines) -> dict[str, float | None]:
    """Seconds per stage that ran, None per stage DVC reused, in pipeline order; echoes `lines` as they come."""
    times: dict[str, float | None] = {}
    current, started = None, 0.0
    for line in lines:
        sys.stdout.write(line)
        sys.stdout.flush()
        now = time.monotonic()
        if current is not None and line.startswith(STAGE_END):
            times[current], current = now - started, None
        if match := RUNNING.search(line):
            current, started = match.group(1), now
        elif match := SKIPPED.search(line):
            times[match.group(1)] = None
    if current is not None:  # the last stage failed or DVC stopped early
        times[current] = time.monotonic() - started
    return times


def flatten(metrics: dict, prefix: str = "") -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        out |= flatten(value, f"{name}.") if isinstance(value, dict) else {name: value}
    return out


def table(header: tuple[str, str], rows: list[tuple[str, str]]) -> str:
    width = max(len(header[0]), *(len(name) for name, _ in rows))
    lines = [f"{header[0]:<{width}}  {header[1]}", f"{'-' * width}  {'-' * len(header[1])}"]
    return "\n".join([*lines, *(f"{name:<{width}}  {value}" for name, value in rows)])


def pipeline_order(times: dict[str, float | None]) -> dict[str, float | None]:
    """The stages in dvc.yaml's order (DVC may report a reused stage before one it runs ahead of it)."""
    order = list(yaml.safe_load(Path("dvc.yaml").read_text())["stages"])
    return dict(
        sorted(times.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order))
    )


def provenance(path: Path) -> str:
    """Which machine made the ablation's results (results/ablation/provenance.json)."""
    if not path.exists():
        return "not recorded"
    found = json.loads(path.read_text())
    return f"{found.get('cpu_model', '?')} ({found.get('cpu_capability', '?')} kernels, reproducible {found.get('reproducible', '?')})"


def main() -> int:
    times = pipeline_order(stage_times(sys.stdin))
    ran = [t for t in times.values() if t is not None]
    rows = [
        (
            stage,
            "reused: unchanged since this machine computed it (DVC cache)"
            if t is None
            else f"computed here, {t:.1f} s",
        )
        for stage, t in times.items()
    ]
    print("\n== each stage: computed in this run, or reused ==")
    print(table(("stage", "result"), [*rows, ("total", f"{sum(ran):.1f} s computing")]))
    print(f"\nthe ablation's results were made on: {provenance(Path('results/ablation/provenance.json'))}")
    print(
        "does it agree with the published run? tagf agree results/ablation/ablation.json published/make-run/ablation.json"
    )
    metrics_file = Path(sys.argv[1])
    if metrics_file.exists():
        flat = flatten(json.loads(metrics_file.read_text()))
        print(f"\n== metrics ({metrics_file}; `dvc metrics show` reads the same) ==")
        print(table(("metric", "value"), [(k, "-" if v is None else f"{v:.3f}") for k, v in flat.items()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
