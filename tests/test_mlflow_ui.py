"""The MLflow UI shows what the statistics say, checked in a real browser (headless Chromium driven by Playwright,
`make test` installs Debian's chromium): after a real ablation, the runs table has each model's summary run named
with its verdict, the primary endpoint's interval as metric columns, in its trials' group; the trials' names are
short and say only what tells them apart. A screenshot is left beside the test's store (printed)."""

import os
import shutil
import subprocess
import time

import pytest
import requests
from conftest import BIN, NO_SERVER_JOBS, free_port, run_cli, write_params

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium")
BROWSER_FLAGS = [  # a closed network: no background connections, no first-run or sync
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def ablation_store(tiny_corpus, tmp_path, monkeypatch):
    """A real two-variant ablation on the tiny corpus, tracked in a SQLite store; the store's URI."""
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    params = write_params(
        tmp_path / "params.yaml",
        train__epochs=1,
        ablate__variants=["tagf", "concat"],
        ablate__seeds=[0, 1],
        evaluate__shifts_s=[0.2],
        evaluate__snr_db=[],
        evaluate__dropout=[],
    )
    run_cli(
        "ablate",
        "--params",
        str(params),
        "--store",
        str(tiny_corpus["store"]),
        "--output",
        str(tmp_path / "a"),
    )
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make test installs it)")
def test_the_runs_table_leads_to_the_verdicts(ablation_store, tmp_path):
    from mlflow.tracking import MlflowClient
    from playwright.sync_api import sync_playwright

    experiment = MlflowClient(ablation_store).get_experiment_by_name("tagf-test").experiment_id
    port = free_port()
    ui = subprocess.Popen(
        [
            BIN / "mlflow",
            "ui",
            "--backend-store-uri",
            ablation_store,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **NO_SERVER_JOBS},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                if requests.get(f"{url}/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_FLAGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{url}/#/experiments/{experiment}/runs")
            page.wait_for_selector("text=ablation", timeout=60_000)
            page.locator("button[data-component-id*='runnamecellrenderer']").first.click()  # open the parent
            page.wait_for_selector("text=concat: inconclusive", timeout=30_000)
            page.screenshot(path=str(tmp_path / "runs.png"))
            text = page.inner_text("body")
            browser.close()
    finally:
        ui.terminate()
        ui.wait(timeout=30)
    print(f"screenshot: {tmp_path / 'runs.png'}")
    # Each model's verdict is in its summary run's name, the reference said to be one.
    assert "tagf: reference" in text and ("concat: inconclusive" in text)
    # The trials' names say what tells them apart (the seed) and nothing their siblings share.
    assert (
        "concat s1" in text and "tagf s0" in text and "key_mode" not in text and "max_audio_shift" not in text
    )
