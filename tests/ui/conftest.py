"""Fixtures for the browser tests: a throw-away JupyterLab server and headless Chromium.

* ``lab`` (session): copies ``notebooks/`` to a temporary folder, starts ``jupyter lab`` on
  127.0.0.1, a free port and a random token with that copy as its root, and stops it at the end.
  Every Jupyter folder (config, data, runtime, settings, workspaces) points into the same
  temporary folder, so nothing is written into the repository or the user's home.
* ``browser`` (session): Debian's Chromium (``/usr/bin/chromium``, or the file named by the
  ``CHROMIUM`` environment variable) driven by Python Playwright; nothing is downloaded. Without
  Chromium or Playwright the tests skip with the reason, except under ``CI=true`` (where
  ``.ci/run`` installs Chromium), where they fail.
* ``page`` (per test): a fresh browser page; on a failure it saves ``failure.png``. Screenshots go to
  ``test-output/ui/<test name>/`` (ignored by git), for a person to look at.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
SCREENSHOTS = REPO / "test-output" / "ui"
CHROMIUM = os.environ.get("CHROMIUM")  # another Chromium or Chrome; default: Debian's package
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
SERVER_START_TIMEOUT_S = 90  # ~3 s on an idle machine; generous for a loaded one
IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")

# JupyterLab user settings written before the server starts.
LAB_SETTINGS = {
    # Attach every cell to the page, so that all prompts and outputs can be read and clicked.
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    # No "fetch news?" toast and no request to the internet.
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
}


def _unavailable(reason: str) -> None:
    """Skip the browser tests, or fail them in CI where the browser must be there."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}; .ci/run installs Debian's chromium package first", pytrace=False)
    pytest.skip(f"browser tests need {reason}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab server."""

    base_url: str  # http://127.0.0.1:PORT/
    token: str
    root: Path  # the copy of notebooks/ the server serves
    proc: subprocess.Popen
    log_path: Path

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}{path}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(
            f"{self.base_url}api/{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """End every notebook session and its kernel, so the next test gets the CPU."""
        for session in self.api("sessions"):
            self.api(f"sessions/{session['id']}", method="DELETE")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def _stop(proc: subprocess.Popen) -> None:
    """Terminate (the server then shuts its kernels down), then kill if it does not exit."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """Start JupyterLab on a copy of notebooks/; yield a :class:`Lab`; stop it afterwards."""
    tmp = tmp_path_factory.mktemp("jupyterlab")
    root = tmp / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    home = {name: tmp / name for name in ("config", "data", "runtime", "settings", "workspaces", "ipython")}
    for path in home.values():
        path.mkdir()
    for plugin, values in LAB_SETTINGS.items():
        package, name = plugin.rsplit("/", 1)
        (home["settings"] / package).mkdir(parents=True, exist_ok=True)
        (home["settings"] / package / f"{name}.jupyterlab-settings").write_text(json.dumps(values))
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(home["config"]),
        JUPYTER_DATA_DIR=str(home["data"]),
        JUPYTER_RUNTIME_DIR=str(home["runtime"]),
        JUPYTERLAB_SETTINGS_DIR=str(home["settings"]),
        JUPYTERLAB_WORKSPACES_DIR=str(home["workspaces"]),
        IPYTHONDIR=str(home["ipython"]),
        JUPYTER_PLATFORM_DIRS="0",
        PYTHONHASHSEED="0",
    )
    token = secrets.token_hex(16)
    port = _free_port()
    jupyter = Path(sys.executable).with_name("jupyter")
    cmd = [
        str(jupyter), "lab",
        "--no-browser",
        "--allow-root",  # CI runs as root
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={home['settings']}",
        f"--LabApp.workspaces_dir={home['workspaces']}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]  # fmt: skip
    log_path = tmp / "jupyterlab.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Lab(f"http://127.0.0.1:{port}/", token, root, proc, log_path)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with code {proc.returncode}:\n{server.log()}", pytrace=False)
            try:
                server.api("status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer in {SERVER_START_TIMEOUT_S} s:\n{server.log()}")
                time.sleep(0.25)
        yield server
    finally:
        try:
            if proc.poll() is None:
                server.shutdown_kernels()
        except (urllib.error.URLError, OSError):
            pass
        _stop(proc)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's package) through Playwright; no browser download."""
    if CHROMIUM:
        executable = CHROMIUM if os.path.isfile(CHROMIUM) else None
    else:
        executable = "/usr/bin/chromium" if os.path.isfile("/usr/bin/chromium") else shutil.which("chromium")
    if not executable:
        where = f"CHROMIUM={CHROMIUM}" if CHROMIUM else "/usr/bin/chromium"
        _unavailable(f"Chromium, not found at {where} (Debian/Ubuntu: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package (requirements-test.txt)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def shots(request):
    """A folder for this test's screenshots, emptied first: test-output/ui/<test name>/."""
    folder = SCREENSHOTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="session")
def browser_context(browser):
    """One browser context for all tests: JupyterLab's scripts are fetched once, then cached."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    yield context
    context.close()


@pytest.fixture
def page(browser_context, lab, shots, request):
    """A fresh page at 1280x900; on failure a screenshot; afterwards the kernels are shut down."""
    pg = browser_context.new_page()
    page_errors: list[str] = []
    pg.on("pageerror", lambda exc: page_errors.append(str(exc)))
    yield pg
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        try:
            pg.screenshot(path=str(shots / "failure.png"))
        except Exception as exc:  # the page may be gone; the test's own error matters more
            print(f"could not save failure screenshot: {exc}")
        print(f"JupyterLab log (tail):\n{lab.log()}")
        if page_errors:
            print("page errors:\n" + "\n".join(page_errors))
    pg.close()
    try:
        lab.shutdown_kernels()
    except (urllib.error.URLError, OSError) as exc:
        print(f"could not shut the kernels down: {exc}")
