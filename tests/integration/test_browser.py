"""The web portal in a real browser: tests/browser/portal.mjs (playwright-core driving Debian's chromium)
against a real `dbvend serve`, with a screenshot of every page in tests/artifacts/browser/.

Needs `apt-get install chromium` and `npm ci --prefix tests/browser` (.ci/run does both). Without them the
test is skipped on a developer's machine and fails under CI=true: CI never skips it silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.paths import TESTS
from tests.support.server import API_KEY, ServeProcess

BROWSER_DIR = TESTS / "browser"
JOURNEY = BROWSER_DIR / "portal.mjs"
ARTEFACTS = TESTS / "artifacts" / "browser"
SCREENSHOTS = (
    "signin.png",
    "request-invalid.png",
    "status.png",
    "fleet.png",
    "database.png",
    "extended.png",
    "changed.png",
    "connect.png",
    "fleet-phone.png",
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Seconds: the journey takes about ten, and waits at most 60 for the request's change and 30 for
# tests/support/record_applied.py.
JOURNEY_TIMEOUT = 180
INSTALL_HINT = "apt-get install -y chromium && npm ci --prefix tests/browser --no-audit --no-fund"


def missing_tools() -> list[str]:
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    missing = []
    if not os.access(chromium, os.X_OK):
        missing.append(f"chromium ({chromium})")
    if shutil.which("node") is None:
        missing.append("node")
    if not (BROWSER_DIR / "node_modules" / "playwright-core" / "package.json").is_file():
        missing.append("tests/browser/node_modules (playwright-core)")
    return missing


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    missing = missing_tools()
    if missing:
        message = f"the browser test needs {', '.join(missing)}: {INSTALL_HINT}"
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(f"CI must run the browser test; {message}")
        pytest.skip(message)
    served = ServeProcess(tmp_path / "data").start()
    try:
        yield served
    finally:
        served.stop()


@pytest.mark.slow
def test_portal_journey_in_chromium(server: ServeProcess) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTEFACTS.glob("*.png"):
        old.unlink()
    # The serve's environment (DBVEND_DATA, or DATABASE_URL), so that tests/support/record_applied.py, run
    # with PYTHON, records the apply in the serve's ledger as `dbvend ci apply` does.
    env = {
        **server.env,
        "BASE_URL": server.url,
        "API_KEY": API_KEY,
        "ARTEFACTS": str(ARTEFACTS),
        "PYTHON": sys.executable,
    }
    started = time.monotonic()
    try:
        done = subprocess.run(
            ["node", str(JOURNEY)],
            env=env,
            capture_output=True,
            text=True,
            timeout=JOURNEY_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(
            f"the journey did not finish within {JOURNEY_TIMEOUT} s\n{error.stdout or ''}{error.stderr or ''}"
            f"\n--- server log (end) ---\n{server.log_text()[-3000:]}"
        )
    output = f"--- node stdout ---\n{done.stdout}\n--- node stderr ---\n{done.stderr}"
    assert done.returncode == 0, (
        f"portal.mjs exited {done.returncode} after {time.monotonic() - started:.1f} s;"
        f" screenshots in {ARTEFACTS}\n{output}\n--- server log (end) ---\n{server.log_text()[-3000:]}"
    )
    print(f"{output}\njourney: {time.monotonic() - started:.1f} s")
    for name in SCREENSHOTS:
        shot = ARTEFACTS / name
        assert shot.is_file(), f"no screenshot {shot}\n{output}"
        data = shot.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1000, f"{shot} is not a PNG with a picture"
