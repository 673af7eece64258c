"""Start JupyterLab or Voila on loopback and drive it with Playwright in Debian's Chromium."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "aelib-browser-test"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


@contextmanager
def server(kind: str, folder: Path, notebook: str | None = None):
    """Run ``jupyter lab`` (kind="lab") or ``voila NOTEBOOK`` (kind="voila") in ``folder``; yield its URL."""
    port = free_port()
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    if kind == "lab":
        args = [str(bindir / "jupyter"), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1", "--allow-root",
                f"--IdentityProvider.token={TOKEN}", "--ServerApp.disable_check_xsrf=True",
                "--LabApp.news_url=", "--ServerApp.root_dir=" + str(folder)]
        url, probe = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/api/status?token={TOKEN}"
    else:
        args = [str(bindir / "voila"), notebook, "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"]
        url = probe = f"http://127.0.0.1:{port}/"
    log = open(folder / f"{kind}.log", "w")
    process = subprocess.Popen(args, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        _wait_for(probe, process)
        yield url
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
        log.close()


def move_slider(page, demo, presses: int = 6) -> None:
    """Focus the demo's first slider handle (any ipywidgets slider) and press the right arrow ``presses`` times."""
    handle = demo.locator(".noUi-handle").first
    handle.focus()
    for _ in range(presses):
        page.keyboard.press("ArrowRight")
