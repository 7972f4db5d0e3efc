"""Run the Shiny app as it runs in production (R -e shiny::runApp) on a free local port."""

from __future__ import annotations

import contextlib
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.support.local import free_port, stop

REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def running_app(env: dict[str, str], log_path: Path, timeout: float = 60.0):
    """Start the app, wait until it answers, yield its URL; stop it afterwards."""
    port = free_port()
    code = f"shiny::runApp('shiny', host='127.0.0.1', port={port}, launch.browser=FALSE)"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(["R", "--no-save", "--quiet", "-e", code], cwd=REPO, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the app exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
                try:
                    with urllib.request.urlopen(url, timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the app did not answer on {url}: {log_path.read_text()[-2000:]}")
                time.sleep(0.3)
            yield url
        finally:
            stop(proc)
