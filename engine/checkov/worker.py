"""dbvend's long-lived checkov worker. Runs in checkov's own virtualenv, never in dbvend's.

    <checkov-venv>/bin/python -I engine/checkov/worker.py [EXTERNAL_CHECKS_DIR ...]

Imports checkov once and loads the external checks once (loading them again would register
every check twice), then answers one JSON line per scan on stdin with one JSON line on stdout:

    -> {"id": 1, "framework": "terraform", "root": "/path/to/root", "context": {...}}
    -> {"id": 2, "framework": "terraform_plan", "files": ["/path/to/plan.json"], "context": {...}}
    <- {"id": 1, "failed": [finding, ...], "passed": ["CKV_AWS_16", ...], "parsing_errors": [...]}
    <- {"id": 2, "error": "..."}                    (the scan could not run)

The first line written is {"ready": true, "checkov": VERSION, "checks": {id: name}}. Each scan
gets a fresh runner: a reused runner returns stale results. `context` is handed to the
organisation's policies through the DBVEND_POLICY_CONTEXT environment variable. Everything
checkov itself prints goes to stderr, so stdout carries only the protocol.

Only the standard library and checkov may be imported here: it runs as a script, outside the
engine package (engine/checkov/gate.py starts it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from typing import Any

CONTEXT_VARIABLE = "DBVEND_POLICY_CONTEXT"


def main(argv: list[str]) -> int:
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # checkov's own prints must not mix in
    sys.stdout = sys.stderr
    logging.basicConfig(level=os.environ.get("DBVEND_CHECKOV_LOG", "WARNING"), stream=sys.stderr)
    os.environ.setdefault("BC_SKIP_MAPPING", "TRUE")  # no network: no severity/guideline download
    os.environ.setdefault("CHECKOV_RUN_SCA_PACKAGE_SCAN_V2", "false")
    os.environ.setdefault("ENABLE_DEFINITION_KEY", "false")

    from checkov.terraform.checks.resource.registry import resource_registry
    from checkov.version import version

    for directory in argv:
        resource_registry.load_external_checks(directory)
    checks = {check.id: check.name for found in resource_registry.checks.values() for check in found}
    checks |= _graph_checks()
    _warm_up()
    protocol.write(json.dumps({"ready": True, "checkov": version, "checks": checks}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            job = json.loads(line)
            answer = {"id": job.get("id"), **scan(job)}
        except Exception as exc:  # one bad scan must not end the worker
            answer = {"id": _id_of(line), "error": f"{type(exc).__name__}: {exc}"}
        protocol.write(json.dumps(answer) + "\n")
    return 0


def scan(job: dict[str, Any]) -> dict[str, Any]:
    from checkov.runner_filter import RunnerFilter

    framework = job.get("framework", "terraform")
    started = time.perf_counter()
    os.environ[CONTEXT_VARIABLE] = json.dumps(job.get("context") or {})
    runner_filter = RunnerFilter(framework=[framework], show_progress_bar=False)
    if framework == "terraform":
        from checkov.terraform.runner import Runner as TerraformRunner

        report = TerraformRunner().run(root_folder=job["root"], runner_filter=runner_filter)
    elif framework == "terraform_plan":
        from checkov.terraform.plan_runner import Runner as PlanRunner

        report = PlanRunner().run(root_folder=None, files=list(job["files"]), runner_filter=runner_filter)
    else:
        return {"error": f"unknown framework {framework!r}"}
    reports = report if isinstance(report, list) else [report]
    failed, passed, parsing_errors = [], [], []
    for one in reports:
        failed += [_finding(record) for record in one.failed_checks]
        passed += [record.check_id for record in one.passed_checks]
        parsing_errors += list(one.parsing_errors)
    return {
        "failed": failed,
        "passed": sorted(set(passed)),
        "parsing_errors": parsing_errors,
        "ms": round((time.perf_counter() - started) * 1000, 1),
    }


def _finding(record: Any) -> dict[str, Any]:
    severity = getattr(record, "severity", None)
    return {
        "check_id": record.check_id,
        "name": record.check_name,
        "severity": getattr(severity, "name", None) if severity is not None else None,
        "resource": record.resource,
        "file": record.file_path,
        "lines": list(record.file_line_range or []),
        "guideline": record.guideline,
    }


def _graph_checks() -> dict[str, str]:
    """Checkov's built-in graph (CKV2_*) checks for Terraform, which live in another registry."""
    with contextlib.suppress(Exception):
        from checkov.common.checks_infra.registry import get_graph_checks_registry

        registry = get_graph_checks_registry("terraform")
        registry.load_checks()
        return {check.id: check.name for check in registry.checks}
    return {}


def _warm_up() -> None:
    """One scan of a tiny root: checkov imports much of itself on first use, not at import."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="dbvend-warm-") as root:
        with open(os.path.join(root, "main.tf"), "w", encoding="utf-8") as handle:
            handle.write('resource "aws_db_instance" "warm" {\n  storage_encrypted = true\n}\n')
        with contextlib.suppress(Exception):
            scan({"framework": "terraform", "root": root})


def _id_of(line: str) -> Any:
    with contextlib.suppress(Exception):
        return json.loads(line).get("id")
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
