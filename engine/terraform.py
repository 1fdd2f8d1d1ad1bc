"""The terraform CLI for one database root: init, plan, show -json, apply, destroy, output -json.

Used by `dbvend ci` (the Action and the CircleCI job); the engine itself never applies. Every
step runs with `-input=false`, a timeout, the shared plugin cache (TF_PLUGIN_CACHE_DIR) and
TF_IN_AUTOMATION; its output is captured and scrubbed of anything secret-looking before it is
shown or stored. A state lock held by someone else comes back as a LockHeld value (who, since
when, doing what), not as an error: CI reports it and moves on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from engine.errors import TerraformError, TerraformMissing, TerraformTimeout

DEFAULT_TIMEOUT: Final = 30 * 60.0
OUTPUT_LIMIT: Final = 200_000  # characters of a step's output kept (the end, where errors are)

# What must never leave the runner: checked on every line of terraform's output.
SECRET_PATTERNS: Final = (
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{30,}\b"),
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),  # user:password@ in URLs
    re.compile(
        r"(?i)(?<![A-Za-z0-9])((?:[a-z0-9_]*_)?(?:password|passwd|secret|token|private_key)"
        r"[a-z0-9_]*\"?\s*[:=]\s*)(\"[^\"\n]*\"|'[^'\n]*'|[^\s,}\]]+)"
    ),
)
SECRET_ENV: Final = re.compile(r"(?i)(secret|token|password|passwd|private_key|credential)")
REDACTED: Final = "[redacted]"


def scrub(text: str, environment: Mapping[str, str] | None = None) -> str:
    """The text with secret-looking values replaced, and the values of secret-named variables."""
    for name, value in (environment if environment is not None else os.environ).items():
        if SECRET_ENV.search(name) and len(value) >= 8:
            text = text.replace(value, REDACTED)
    for pattern in SECRET_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


@dataclass(frozen=True)
class LockHeld:
    """The state lock another run holds (from terraform's "Lock Info")."""

    id: str
    path: str = ""
    operation: str = ""
    who: str = ""
    version: str = ""
    created: str = ""

    def describe(self) -> str:
        """The lock as a sentence of its own: "state lock <id> held by <who>, since <when>, for apply"."""
        return f"state lock {self.id} " + ", ".join(self._circumstances())

    def detail(self) -> str:
        """The lock where the text already says the state is locked: "lock <id>, held by <who>, ..."."""
        return ", ".join([f"lock {self.id}", *self._circumstances()])

    def _circumstances(self) -> list[str]:
        parts = [f"held by {self.who or 'someone'}"]
        if self.created:
            parts.append(f"since {self.created}")
        if self.operation:
            parts.append(f"for {self.operation.removeprefix('OperationType').lower()}")
        return parts


_LOCK_FIELD: Final = re.compile(
    r"^\s*(ID|Path|Operation|Who|Version|Created|Info):\s*(.*?)\s*$", re.MULTILINE
)


def lock_in(output: str) -> LockHeld | None:
    """The lock terraform could not take, when that is why it stopped."""
    if "Error acquiring the state lock" not in output and "state lock" not in output.lower():
        return None
    start = output.find("Lock Info:")
    if start < 0:
        return None
    fields = {name.lower(): value for name, value in _LOCK_FIELD.findall(output[start:])}
    if "id" not in fields:
        return None
    return LockHeld(
        id=fields["id"],
        path=fields.get("path", ""),
        operation=fields.get("operation", ""),
        who=fields.get("who", ""),
        version=fields.get("version", ""),
        created=fields.get("created", ""),
    )


@dataclass(frozen=True)
class StepResult:
    """One terraform command: its arguments, exit code, scrubbed output and duration."""

    args: tuple[str, ...]
    exit_code: int
    output: str
    seconds: float


@dataclass(frozen=True)
class PlanResult:
    """A saved plan: whether it changes anything; or the lock that stopped it."""

    root: Path
    plan_file: Path | None
    changes: bool
    step: StepResult | None
    lock: LockHeld | None = None


@dataclass(frozen=True)
class ApplyResult:
    root: Path
    step: StepResult | None
    lock: LockHeld | None = None

    @property
    def ok(self) -> bool:
        return self.lock is None and self.step is not None and self.step.exit_code == 0


@dataclass
class Terraform:
    """terraform for database roots; one instance is shared by the roots of a CI run."""

    executable: str = "terraform"
    plugin_cache: Path | None = None
    timeout: float = DEFAULT_TIMEOUT
    lock_timeout: str = "0s"  # a held lock is reported at once, not waited for
    environment: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def __post_init__(self) -> None:
        found = shutil.which(self.executable)
        if found is None:
            raise TerraformMissing(f"terraform is not installed (looked for {self.executable!r} on the PATH)")
        self.executable = found
        if self.plugin_cache is not None:
            self.plugin_cache.mkdir(parents=True, exist_ok=True)

    # -- steps ---------------------------------------------------------------------------------

    def init(
        self, root: Path, backend_config: Mapping[str, str] | None = None, backend_file: str | None = None
    ) -> StepResult:
        """`init` with backend settings: key=value pairs and/or a backend config file."""
        args = ["init", "-input=false", "-no-color"]
        args += [f"-backend-config={backend_file}"] if backend_file else []
        args += [f"-backend-config={key}={value}" for key, value in (backend_config or {}).items()]
        return self._checked("init", root, args)

    def plan(self, root: Path, out: Path | None = None, destroy: bool = False) -> PlanResult:
        """`plan -out` with -detailed-exitcode: changes is exit code 2; a held lock is a value."""
        plan_file = out or root / "dbvend.tfplan"
        args = [
            "plan",
            "-input=false",
            "-no-color",
            "-detailed-exitcode",
            f"-lock-timeout={self.lock_timeout}",
        ]
        args += ["-destroy"] if destroy else []
        args.append(f"-out={plan_file}")
        step = self._run(root, args)
        lock = lock_in(step.output) if step.exit_code == 1 else None
        if lock is not None:
            return PlanResult(root, None, False, step, lock)
        if step.exit_code not in (0, 2):
            raise TerraformError("plan", root, _tail(step.output), step.exit_code)
        return PlanResult(root, plan_file, step.exit_code == 2, step)

    def show_json(self, root: Path, plan_file: Path) -> dict[str, Any]:
        """The saved plan as Terraform's JSON plan representation."""
        return self._json("show", root, ["show", "-json", "-no-color", str(plan_file)])

    def output_json(self, root: Path) -> dict[str, Any]:
        """The root's outputs from its state (`output -json`): name -> {value, type, sensitive}. Its
        text is parsed, never printed: a sensitive output's value is in it too."""
        return self._json("output", root, ["output", "-json", "-no-color"])

    def apply(self, root: Path, plan_file: Path) -> ApplyResult:
        """Apply a saved plan (terraform refuses a plan whose state moved since: stale)."""
        args = ["apply", "-input=false", "-no-color", f"-lock-timeout={self.lock_timeout}", str(plan_file)]
        return self._applied("apply", root, args)

    def destroy(self, root: Path) -> ApplyResult:
        args = ["destroy", "-input=false", "-no-color", "-auto-approve", f"-lock-timeout={self.lock_timeout}"]
        return self._applied("destroy", root, args)

    # -- running -------------------------------------------------------------------------------

    def _applied(self, step_name: str, root: Path, args: list[str]) -> ApplyResult:
        step = self._run(root, args)
        if step.exit_code == 0:
            return ApplyResult(root, step)
        lock = lock_in(step.output)
        if lock is not None:
            return ApplyResult(root, step, lock)
        raise TerraformError(step_name, root, _tail(step.output), step.exit_code)

    def _json(self, step_name: str, root: Path, args: list[str]) -> dict[str, Any]:
        step = self._run(root, args, raw=True)
        if step.exit_code != 0:
            raise TerraformError(step_name, root, _tail(step.output), step.exit_code)
        try:
            data: dict[str, Any] = json.loads(step.output)
        except ValueError as exc:
            raise TerraformError(step_name, root, f"not JSON: {exc}") from None
        return data

    def _checked(self, step_name: str, root: Path, args: list[str]) -> StepResult:
        step = self._run(root, args)
        if step.exit_code != 0:
            raise TerraformError(step_name, root, _tail(step.output), step.exit_code)
        return step

    def _run(self, root: Path, args: Sequence[str], raw: bool = False) -> StepResult:
        """One terraform command. Its output is scrubbed and cut to its end, unless `raw` and the
        command succeeded: then it is stdout, whole (a plan's JSON, parsed and never printed)."""
        environment = dict(self.environment)
        environment.update(TF_IN_AUTOMATION="1", TF_INPUT="0")
        if self.plugin_cache is not None:
            environment["TF_PLUGIN_CACHE_DIR"] = str(self.plugin_cache)
        start = time.monotonic()
        try:
            done = subprocess.run(
                [self.executable, *args],
                cwd=root,
                env=environment,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=self.timeout,
            )
        except subprocess.TimeoutExpired as exc:
            output = _text(exc.stdout) + _text(exc.stderr)
            raise TerraformTimeout(
                args[0], root, f"no answer after {self.timeout:.0f} s: {_tail(scrub(output, environment))}"
            ) from None
        if raw and done.returncode == 0:
            output = done.stdout
        else:
            output = scrub(done.stdout + done.stderr, environment)[-OUTPUT_LIMIT:]
        return StepResult(tuple(args), done.returncode, output, time.monotonic() - start)


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _tail(output: str, lines: int = 30) -> str:
    """The end of a step's output, where terraform puts its errors."""
    kept = [line for line in output.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:]) or "(no output)"
