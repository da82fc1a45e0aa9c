"""A real browser: JupyterLab on localhost, notebook 02 run in headless Chromium, the step slider moved.

Slow (about a minute; run with --runslow, or scripts/browser_check.sh, which installs what it needs).
Needs Debian's ``chromium`` package at /usr/bin/chromium and ``pip install playwright`` (its own browser
download is never used). The notebook runs with the tiny random test model (``NTI_EDU_MODEL``), so the
test checks the wiring (cells run, the dashboard renders, a slider move redraws the figure), not the model.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions", "--disable-sync"]
NOTEBOOK = "02_ddim_inversion.ipynb"
TOKEN = "nti-edu-browser-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url: str, process, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {process.returncode}")
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {seconds} s")


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory, tiny_model_dir):
    """A JupyterLab server on localhost serving a copy of notebook 02; yields its base URL."""
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium package (apt-get install -y chromium)")
    pytest.importorskip("playwright")
    folder = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, folder / NOTEBOOK)
    port = free_port()
    env = os.environ | {"NTI_EDU_MODEL": str(tiny_model_dir), "JUPYTER_CONFIG_DIR": str(folder / ".jupyter"),
                        "JUPYTER_RUNTIME_DIR": str(folder / ".runtime"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={folder}", "--LabApp.expose_app_in_browser=True",
               "--allow-root"]
    log = open(folder / "jupyterlab.log", "w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_server(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def figure_src(page) -> str:
    """The data URL of the figure in the dashboard's output (the last image on the page)."""
    return page.locator(".widget-output img").last.get_attribute("src")


def test_slider_redraws_the_figure_in_jupyterlab(jupyterlab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{jupyterlab}/lab/tree/{NOTEBOOK}?token={TOKEN}")
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget"
                               " && window.jupyterapp.shell.currentWidget.sessionContext.session", timeout=60_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        # the dashboard is the last cell: wait until its slider and figure are drawn
        page.wait_for_selector(".widget-output img", timeout=300_000)
        handle = page.locator(".widget-slider .noUi-handle").first
        before_src, before_png = figure_src(page), page.locator(".widget-output").last.screenshot()
        handle.focus()
        page.keyboard.press("ArrowRight")  # 2 steps -> 5 steps
        page.wait_for_function("src => { const imgs = document.querySelectorAll('.widget-output img');"
                               " return imgs.length && imgs[imgs.length - 1].src !== src; }",
                               arg=before_src, timeout=60_000)
        after_png = page.locator(".widget-output").last.screenshot()
        if os.environ.get("NTI_EDU_BROWSER_SHOTS"):  # a folder to keep the screenshots in, for a look
            shots = Path(os.environ["NTI_EDU_BROWSER_SHOTS"])
            shots.mkdir(parents=True, exist_ok=True)
            (shots / "before.png").write_bytes(before_png)
            (shots / "after.png").write_bytes(after_png)
            page.screenshot(path=str(shots / "page.png"), full_page=True)
        readout = page.locator(".widget-readout").first.inner_text()
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
        browser.close()
    assert readout.strip() == "5"
    assert before_png != after_png  # the figure on screen changed
    assert not [e for e in errors if "Traceback" in e or "Error" in e.split("\n")[0]]
