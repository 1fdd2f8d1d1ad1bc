"""The policy gate's client: finds checkov, scans through its warm worker (or its CLI), gets the decision."""

# Scans go to a long-lived worker process (engine/checkov/worker.py, run by checkov's Python),
# which imports checkov once and builds a fresh runner per scan. One CLI call per scan is the
# fallback, used only when asked for. What the findings mean is engine.policy's (decide()).

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from importlib import resources
from pathlib import Path
from typing import IO, Any, Final

from engine.catalog import Catalog
from engine.errors import CatalogError, CheckovMissing, PolicyScanError
from engine.policy import PolicyDecision, PolicyFinding, ScanResult, decide, policy_context, unknown_check_ids
from engine.render import RenderedRoot

log = logging.getLogger("dbvend.policy")

PROJECT: Final = Path(__file__).resolve().parents[2]
# policies/ ships inside the package as engine.policies (pyproject's package-dir), so an installed
# dbvend (the Lambda image, a wheel) has them too; checkov loads them from this directory.
POLICIES: Final = Path(str(resources.files("engine.policies")))
DEFAULT_CHECKOV: Final = PROJECT / ".tools" / "checkov"
# Run as a script by checkov's Python, never imported as engine.checkov.worker there (dbvend's
# dependencies are not in checkov's virtualenv).
WORKER_SCRIPT: Final = Path(__file__).resolve().parent / "worker.py"
CONTEXT_VARIABLE: Final = "DBVEND_POLICY_CONTEXT"
FIX: Final = (
    "run `make checkov` (installs it into .tools/checkov) or set DBVEND_CHECKOV to a checkov installation"
)


# -- the gate on a root or a plan ----------------------------------------------------------


def check_rendered(
    gate: PolicyGate, rendered: RenderedRoot, catalog: Catalog, environment: str, today: date
) -> PolicyDecision:
    """The gate on one rendered root (written to a scratch directory for checkov to read)."""
    with tempfile.TemporaryDirectory(prefix="dbvend-policy-") as scratch:
        root = Path(scratch) / rendered.root
        for name, text in rendered.files.items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        return policy_decision(gate, root, catalog, environment, today, shown_as=rendered.root)


def policy_decision(
    gate: PolicyGate,
    target: Path,
    catalog: Catalog,
    environment: str,
    today: date,
    plan: bool = False,
    shown_as: str | None = None,
) -> PolicyDecision:
    """The gate's decision on a root directory (or, with `plan`, a plan's JSON): the one way the
    pipeline, `dbvend policy` and `dbvend ci plan` reach one. CatalogError when dbvend.yaml names a
    check that neither checkov nor policies/ defines; findings' files under `shown_as` if given."""
    unknown = unknown_check_ids(catalog.policy, gate.known())
    if unknown:
        raise CatalogError("policy", f"unknown check ids: {', '.join(unknown)}")
    context = policy_context(catalog)
    scan = gate.scan_plan(target, context) if plan else gate.scan(target, context)
    if shown_as is not None:
        scan = ScanResult(
            tuple(replace(f, file=f"{shown_as}/{f.file.lstrip('/')}") for f in scan.findings),
            scan.passed,
            scan.parsing_errors,
        )
    return decide(scan, catalog.policy, environment, today)


def root_environment(root: Path) -> str | None:
    """A database root's environment: its claim's (request.json), else terraform/<env>/<id>."""
    claim = root / "request.json"
    if claim.is_file():
        try:
            found = json.loads(claim.read_text(encoding="utf-8")).get("environment")
        except (ValueError, OSError, AttributeError):
            found = None
        if isinstance(found, str) and found:
            return found
    parts = root.resolve().parts
    if len(parts) >= 3 and parts[-3] == "terraform":
        return parts[-2]
    return None


# -- finding checkov ---------------------------------------------------------------------


@dataclass(frozen=True)
class Checkov:
    """A checkov installation: its Python (for the warm worker) and its CLI."""

    python: Path
    cli: Path


def find_checkov(setting: str | Path | None = None) -> Checkov:
    """DBVEND_CHECKOV (a virtualenv directory or its `checkov` executable), else .tools/checkov."""
    where = Path(setting).expanduser() if setting else DEFAULT_CHECKOV
    if where.is_dir():
        python, cli = where / "bin" / "python", where / "bin" / "checkov"
    elif where.is_file():
        cli, python = where, _interpreter_of(where)
    else:
        raise CheckovMissing(f"checkov is not installed at {where}: {FIX}")
    for path in (python, cli):
        if not os.access(path, os.X_OK):
            raise CheckovMissing(f"{path} is missing or not executable: {FIX}")
    return Checkov(python, cli)


def _interpreter_of(script: Path) -> Path:
    """The Python a console script runs with (its #! line); next to it when there is none."""
    try:
        with script.open("rb") as handle:
            first = handle.readline().decode("utf-8", "replace").strip()
    except OSError as exc:
        raise CheckovMissing(f"cannot read {script} ({exc}): {FIX}") from None
    if first.startswith("#!") and "python" in first:
        return Path(first[2:].split()[0])
    return script.with_name("python")


# -- the warm gate -----------------------------------------------------------------------


@dataclass
class PolicyGate:
    """Sends scans to a long-lived checkov worker; restarts it when it dies, kills a hung one.

    Thread-safe (one scan at a time). `cli_fallback` runs one checkov CLI process per scan
    when the worker cannot start or fails twice; it is off unless asked for.
    """

    checkov: Checkov
    policy_dirs: Sequence[Path] = (POLICIES,)
    timeout: float = 120.0
    start_timeout: float = 120.0
    cli_fallback: bool = False
    known_checks: dict[str, str] = field(default_factory=dict)
    version: str = ""
    _process: subprocess.Popen[str] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _next_id: int = 0

    @classmethod
    def from_settings(cls, checkov: str | Path | None = None, cli_fallback: bool = False) -> PolicyGate:
        return cls(find_checkov(checkov), cli_fallback=cli_fallback)

    # -- scanning

    def scan(self, root: Path, context: Mapping[str, Any] | None = None) -> ScanResult:
        """Scan one Terraform root directory."""
        return self._scan({"framework": "terraform", "root": str(root)}, context)

    def scan_plan(self, plan: Path, context: Mapping[str, Any] | None = None) -> ScanResult:
        """Scan a plan as `terraform show -json` writes it (checkov's terraform_plan framework)."""
        return self._scan({"framework": "terraform_plan", "files": [str(plan)]}, context)

    def known(self) -> dict[str, str]:
        """Every check id checkov and the organisation's policies define, with its name."""
        with self._lock:
            try:
                self._ensure_started()
            except _WorkerGone as exc:
                raise PolicyScanError(str(exc)) from None
        return self.known_checks

    def close(self) -> None:
        with self._lock:
            self._stop()

    def __enter__(self) -> PolicyGate:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _scan(self, job: dict[str, Any], context: Mapping[str, Any] | None) -> ScanResult:
        job["context"] = dict(context or {})
        with self._lock:
            for attempt in (1, 2):
                try:
                    answer = self._ask(job)
                except _WorkerGone as exc:
                    log.warning("checkov worker failed (attempt %d): %s", attempt, exc)
                    self._stop()
                    last = exc
                    continue
                if "error" in answer:
                    raise PolicyScanError(f"checkov could not scan: {answer['error']}")
                return _result(answer)
        if self.cli_fallback:
            log.warning("checkov worker unusable; scanning with the checkov CLI")
            return self._scan_with_cli(job)
        raise PolicyScanError(f"the checkov worker failed twice: {last}")

    def _ask(self, job: dict[str, Any]) -> dict[str, Any]:
        process = self._ensure_started()
        self._next_id += 1
        job = {**job, "id": self._next_id}
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(json.dumps(job) + "\n")
            process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise _WorkerGone(f"cannot write to it: {exc}") from None
        line = _read_line(process.stdout, self.timeout)
        if line is None:
            self._stop(kill=True)
            raise PolicyScanError(f"policy scan timed out after {self.timeout:g} s; the worker was stopped")
        if not line:
            raise _WorkerGone(f"it exited ({process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        if answer.get("id") != job["id"]:
            raise _WorkerGone(f"answer for job {answer.get('id')} while waiting for {job['id']}")
        return answer

    def _ensure_started(self) -> subprocess.Popen[str]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        command = [str(self.checkov.python), "-I", str(WORKER_SCRIPT), *map(str, self.policy_dirs)]
        started = time.perf_counter()
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL if not log.isEnabledFor(logging.DEBUG) else None,
                text=True,
                encoding="utf-8",
            )
        except OSError as exc:
            raise CheckovMissing(f"cannot start {self.checkov.python} ({exc}): {FIX}") from None
        assert process.stdout is not None
        line = _read_line(process.stdout, self.start_timeout)
        if not line:
            process.kill()
            process.wait()
            why = "timed out" if line is None else f"exited with {process.returncode}"
            raise _WorkerGone(
                f"the checkov worker did not start ({why}); is {self.checkov.python} checkov's?"
            )
        ready = json.loads(line)
        self.known_checks, self.version = dict(ready["checks"]), str(ready.get("checkov", ""))
        self._process = process
        log.info(
            "checkov worker ready",
            extra={"checkov": self.version, "ms": round((time.perf_counter() - started) * 1000)},
        )
        return process

    def _stop(self, kill: bool = False) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if kill:
            process.kill()
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _scan_with_cli(self, job: dict[str, Any]) -> ScanResult:
        return scan_with_cli(self.checkov, job, self.policy_dirs, self.timeout)


class _WorkerGone(Exception):
    pass


def scan_with_cli(
    checkov: Checkov, job: Mapping[str, Any], policy_dirs: Sequence[Path], timeout: float
) -> ScanResult:
    """One `checkov` process for one scan: the slow path (and the baseline bench/ measures)."""
    command = [str(checkov.cli), "--framework", job["framework"], "--output", "json", "--quiet"]
    command += ["--directory", job["root"]] if job["framework"] == "terraform" else ["--file", *job["files"]]
    for directory in policy_dirs:
        command += ["--external-checks-dir", str(directory)]
    env = {**os.environ, CONTEXT_VARIABLE: json.dumps(job.get("context") or {}), "BC_SKIP_MAPPING": "TRUE"}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise PolicyScanError(f"checkov timed out after {timeout:g} s") from None
    if done.returncode not in (0, 1):
        raise PolicyScanError(f"checkov exited with {done.returncode}: {done.stderr.strip()[-500:]}")
    data = json.loads(done.stdout) if done.stdout.strip() else []
    reports = data if isinstance(data, list) else [data]
    failed: list[dict[str, Any]] = []
    passed: list[str] = []
    for report in reports:
        results = report.get("results") or {}
        for record in results.get("failed_checks", []):
            failed.append(
                {
                    "check_id": record["check_id"],
                    "name": record.get("check_name"),
                    "severity": record.get("severity"),
                    "resource": record.get("resource"),
                    "file": record.get("file_path"),
                    "lines": record.get("file_line_range"),
                    "guideline": record.get("guideline"),
                }
            )
        passed += [record["check_id"] for record in results.get("passed_checks", [])]
    return _result({"failed": failed, "passed": passed, "parsing_errors": []})


def _result(answer: Mapping[str, Any]) -> ScanResult:
    return ScanResult(
        findings=tuple(PolicyFinding.from_json(item) for item in answer.get("failed", [])),
        passed=frozenset(answer.get("passed", [])),
        parsing_errors=tuple(str(e) for e in answer.get("parsing_errors", [])),
    )


def _read_line(stream: IO[str], timeout: float) -> str | None:
    """One line, '' at end of file, None when nothing came within the timeout."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            return None
    return stream.readline()
