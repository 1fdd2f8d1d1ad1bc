"""Checks on every render: HCL parses, carries the claim, fits the provider schema, is fmt-clean."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Final

from engine.claim import Claim
from engine.connection import SECRET_NAME
from engine.render import RenderedRoot

META_ARGUMENTS: Final = frozenset({"count", "for_each", "depends_on", "lifecycle", "provider"})
_REFERENCE = re.compile(r"\b(aws_[a-z0-9_]+)\.([a-z0-9_]+)\.([a-z0-9_]+)(?:\[\d+\]\.([a-z0-9_]+))?")
_ESCAPE = re.compile(r'\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[\\"nrt])|\$\$\{|%%\{')
_SIMPLE_ESCAPES: Final = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}
# python-hcl2's own keys beside a body's attributes: block markers and comments inside a body.
_PARSER_KEYS: Final = frozenset({"__is_block__", "__comments__"})


@dataclass(frozen=True)
class CheckResult:
    """One check on one root: passed, failed (with why), or skipped (with why)."""

    name: str
    status: str  # "pass" | "fail" | "skip"
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "fail"


@cache
def provider_schema() -> Mapping[str, Any]:
    """The slice of the AWS provider schema dbvend emits (scripts/extract_provider_schema.py)."""
    text = resources.files("engine.data").joinpath("aws_provider_schema.json").read_text("utf-8")
    schema: Mapping[str, Any] = json.loads(text)
    return schema


def hcl_unquote(literal: Any) -> Any:
    """A value from python-hcl2 back to Python: quoted HCL strings are unescaped."""
    if isinstance(literal, str) and len(literal) >= 2 and literal[0] == literal[-1] == '"':

        def unescape(match: re.Match[str]) -> str:
            whole = match.group()
            if whole in ("$${", "%%{"):
                return whole[1:]
            code = match.group(1)
            return chr(int(code[1:], 16)) if code[0] in "uU" else _SIMPLE_ESCAPES[code]

        return _ESCAPE.sub(unescape, literal[1:-1])
    if isinstance(literal, list):
        return [hcl_unquote(item) for item in literal]
    if isinstance(literal, dict):
        return {hcl_unquote(k): hcl_unquote(v) for k, v in literal.items() if k not in _PARSER_KEYS}
    return literal


_HCL2: Final = threading.Lock()


def parse_hcl(text: str) -> dict[str, Any]:
    """python-hcl2's parse of a file (imported here: its grammar costs a second the first time).

    One parse at a time: python-hcl2 8.x serializes with a shared mutable default context
    (SerializationContext), so two threads parsing at once corrupt each other's values.
    """
    import hcl2

    with _HCL2:
        parsed: dict[str, Any] = hcl2.loads(text)
    return parsed


def resources_of(parsed: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(type, name) -> body of every resource block, labels unquoted."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in parsed.get("resource", []):
        for rtype, named in entry.items():
            for name, body in named.items():
                found[(hcl_unquote(rtype), hcl_unquote(name))] = body
    return found


def _blocks(body: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for key, value in body.items():
        if (
            isinstance(value, list)
            and value
            and all(isinstance(v, dict) and v.get("__is_block__") for v in value)
        ):
            for item in value:
                yield key, item


def _attributes(body: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    block_names = {name for name, _ in _blocks(body)}
    for key, value in body.items():
        if key not in _PARSER_KEYS and key not in block_names:
            yield key, value


# -- the checks ----------------------------------------------------------------------------


def check_no_password(parsed: Mapping[str, Any]) -> list[str]:
    """No password attribute anywhere: RDS manages the master secret."""
    problems = []

    def walk(body: Mapping[str, Any], where: str) -> None:
        for key, _ in _attributes(body):
            if "password" in key and key != "manage_master_user_password":
                problems.append(f"{where}: attribute {key} is not allowed (managed secrets only)")
        for key, block in _blocks(body):
            walk(block, f"{where}.{key}")

    for (rtype, name), body in resources_of(parsed).items():
        walk(body, f"{rtype}.{name}")
    return problems


_LOCAL: Final = re.compile(r"\blocal\.([A-Za-z0-9_]+)")
PARAMETER_VALUES: Final = ("value", "insecure_value", "value_wo")


def check_parameters_hold_no_secret(parsed: Mapping[str, Any]) -> list[str]:
    """An SSM parameter is a plain String whose value (and the locals it reads) names no secret:
    what dbvend publishes there is read by anyone allowed to read parameters."""
    local_values: dict[str, Any] = {}
    for block in parsed.get("locals", []):
        local_values |= {key: value for key, value in block.items() if key not in _PARSER_KEYS}
    problems = []
    for (rtype, name), body in resources_of(parsed).items():
        if rtype != "aws_ssm_parameter":
            continue
        if hcl_unquote(body.get("type")) != "String":
            problems.append(f"{rtype}.{name}: type must be String (a SecureString is for secrets)")
        text = json.dumps([body.get(key) for key in PARAMETER_VALUES])
        text += json.dumps([local_values.get(local) for local in _LOCAL.findall(text)])
        found = SECRET_NAME.search(text)
        if found:
            problems.append(f"{rtype}.{name}: its value names a secret ({found.group()})")
    return problems


def check_schema(parsed: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> list[str]:
    """Every resource type, argument, nested block and reference exists in the provider."""
    known = (schema or provider_schema())["resources"]
    problems: list[str] = []

    def walk(body: Mapping[str, Any], spec: Mapping[str, Any], where: str, top: bool) -> None:
        for key, _ in _attributes(body):
            if key not in spec["arguments"] and not (top and key in META_ARGUMENTS):
                problems.append(f"{where}: {key} is not an argument of the provider's schema")
        for key, block in _blocks(body):
            if key in spec.get("blocks", {}):
                walk(block, spec["blocks"][key], f"{where}.{key}", False)
            elif not (top and key == "lifecycle"):
                problems.append(f"{where}: block {key} is not in the provider's schema")

    resources = resources_of(parsed)
    for (rtype, name), body in resources.items():
        if rtype not in known:
            problems.append(f"{rtype}.{name}: resource type not in the checked provider schema")
        else:
            walk(body, known[rtype], f"{rtype}.{name}", True)
    for rtype, name, attr, nested in _references(parsed):
        where = f"reference {rtype}.{name}.{attr}"
        if (rtype, name) not in resources:
            problems.append(f"{where}: no such resource in this root")
        elif rtype in known and attr not in known[rtype]["attributes"]:
            problems.append(f"{where}: {rtype} has no attribute {attr}")
        elif nested and nested not in known[rtype].get("nested_attributes", {}).get(attr, []):
            problems.append(f"{where}[..].{nested}: {attr} has no field {nested}")
    return problems


def _references(parsed: Mapping[str, Any]) -> Iterator[tuple[str, str, str, str | None]]:
    def strings(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)

    for text in strings(parsed):
        if text.startswith('"'):
            continue  # a quoted literal: its ${ were escaped, nothing in it is a reference
        for match in _REFERENCE.finditer(text):
            yield match[1], match[2], match[3], match[4]


def check_claim(parsed: Mapping[str, Any], claim: Claim) -> list[str]:
    """The parsed blocks carry exactly what the claim says."""
    resources = {key: hcl_unquote(body) for key, body in resources_of(parsed).items()}
    problems: list[str] = []

    def expect(where: str, actual: Any, wanted: Any) -> None:
        if actual != wanted:
            problems.append(f"{where} is {actual!r}, the claim says {wanted!r}")

    expected: tuple[tuple[str, object], ...]
    if claim.is_aurora:
        main_type = "aws_rds_cluster"
        expected = (
            ("cluster_identifier", claim.identifier),
            ("engine", claim.request.database_engine),
            ("engine_version", claim.engine_version),
            ("database_name", None if claim.restored else claim.request.database_name),
            ("deletion_protection", claim.deletion_protection),
            ("backup_retention_period", claim.backup_retention_days),
            ("storage_encrypted", True),
            ("manage_master_user_password", True),
        )
    else:
        main_type = "aws_db_instance"
        expected = (
            ("identifier", claim.identifier),
            ("engine", claim.request.database_engine),
            ("engine_version", claim.engine_version),
            ("instance_class", claim.instance_class),
            ("allocated_storage", claim.storage_gb),
            ("db_name", None if claim.restored else claim.request.database_name),
            ("multi_az", claim.multi_az),
            ("deletion_protection", claim.deletion_protection),
            ("backup_retention_period", claim.backup_retention_days),
            ("storage_encrypted", True),
            ("manage_master_user_password", True),
            ("publicly_accessible", False),
            ("max_allocated_storage", claim.max_allocated_storage),
            ("performance_insights_enabled", claim.performance_insights),
            ("maintenance_window", claim.maintenance_window),
            ("backup_window", claim.backup_window),
        )
    main = resources.get((main_type, "this"))
    if main is None:
        return [f"{main_type}.this is missing"]
    for attr, wanted in expected:
        expect(f"{main_type}.this.{attr}", main.get(attr), wanted)
    problems += _restore_problems(main_type, main, claim)
    if claim.is_aurora:
        scaling = (main.get("serverlessv2_scaling_configuration") or [{}])[0]
        expect("serverlessv2 min_capacity", scaling.get("min_capacity"), claim.min_acu)
        expect("serverlessv2 max_capacity", scaling.get("max_capacity"), claim.max_acu)
        expect(
            "serverlessv2 seconds_until_auto_pause",
            scaling.get("seconds_until_auto_pause"),
            claim.seconds_until_auto_pause,
        )
        instances = [body for (rtype, _), body in resources.items() if rtype == "aws_rds_cluster_instance"]
        expect("number of cluster instances", len(instances), 1 + claim.readers)
        for body in instances:
            expect(
                f"instance {body.get('identifier')} class", body.get("instance_class"), claim.instance_class
            )
        expect("RDS Proxy present", ("aws_db_proxy", "this") in resources, claim.proxy)
    for (rtype, name), body in resources.items():
        if "tags" in known_arguments(rtype):
            expect(f"{rtype}.{name}.tags", body.get("tags"), dict(claim.tags))
    backend = hcl_unquote(parsed.get("terraform", [{}])[0].get("backend", [{}])[0]).get("s3", {})
    expect("backend s3 key", backend.get("key"), claim.state_key)
    expect("backend s3 bucket", backend.get("bucket"), claim.state_bucket)
    expect("backend s3 use_lockfile", backend.get("use_lockfile"), True)
    return problems


def _restore_problems(main_type: str, main: Mapping[str, Any], claim: Claim) -> list[str]:
    """The restore arguments are exactly the claim's: a snapshot, or one point-in-time block."""
    where = f"{main_type}.this"
    problems = []
    if main.get("snapshot_identifier") != claim.restore_snapshot:
        problems.append(
            f"{where}.snapshot_identifier is {main.get('snapshot_identifier')!r},"
            f" the claim says {claim.restore_snapshot!r}"
        )
    blocks = main.get("restore_to_point_in_time") or []
    point_in_time = claim.restored and claim.restore_snapshot is None
    if len(blocks) != (1 if point_in_time else 0):
        problems.append(
            f"{where} has {len(blocks)} restore_to_point_in_time blocks, the claim says {int(point_in_time)}"
        )
    elif point_in_time:
        aurora = main_type == "aws_rds_cluster"
        wanted: dict[str, Any] = {
            "source_cluster_identifier"
            if aurora
            else "source_db_instance_identifier": claim.restore_source_identifier,
            "restore_to_time" if aurora else "restore_time": claim.restore_time,
            "use_latest_restorable_time": True if claim.restore_latest else None,
        }
        if aurora:
            wanted["restore_type"] = "full-copy"
        got = {key: value for key, value in blocks[0].items() if key not in _PARSER_KEYS}
        wanted = {key: value for key, value in wanted.items() if value is not None}
        if got != wanted:
            problems.append(f"{where}.restore_to_point_in_time is {got!r}, the claim says {wanted!r}")
    return problems


def known_arguments(rtype: str) -> Mapping[str, Any]:
    spec: Mapping[str, Any] = provider_schema()["resources"].get(rtype, {"arguments": {}})
    return spec["arguments"]  # type: ignore[no-any-return]


_STRING_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def fmt_layout(text: str) -> str:
    """The file with every string right of an '=' emptied: all that terraform fmt can change.

    fmt aligns '=' by the names on their left and spaces tokens, but never edits the contents
    of a quoted string. Two files with the same layout are both fmt-clean or both not.
    """
    return "\n".join(_line_layout(line) for line in text.split("\n"))


def _line_layout(line: str) -> str:
    inside = [m.span() for m in _STRING_LITERAL.finditer(line)]
    for at, char in enumerate(line):
        if char == "=" and not any(start <= at < end for start, end in inside):
            return line[: at + 1] + _STRING_LITERAL.sub('""', line[at + 1 :])
    return line


def check_fmt(text: str, terraform: str) -> list[str]:
    """`terraform fmt` would leave the file exactly as it is (run once per layout)."""
    return list(_fmt_layout_problems(fmt_layout(text), terraform))


@lru_cache(maxsize=256)
def _fmt_layout_problems(layout: str, terraform: str) -> tuple[str, ...]:
    env = {**os.environ, "CHECKPOINT_DISABLE": "1"}
    done = subprocess.run(
        [terraform, "fmt", "-no-color", "-"],
        input=layout,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        return (f"terraform fmt failed: {done.stderr.strip()[:500]}",)
    if done.stdout != layout:
        return ("terraform fmt would reformat main.tf",)
    return ()


def run_checks(rendered: RenderedRoot, claim: Claim, terraform: str | None) -> list[CheckResult]:
    """Every check on a freshly rendered root, in order; later ones need the parse.

    `terraform` is the terraform executable for the fmt check; None skips it (and says so).
    """
    text = rendered.files["main.tf"]
    try:
        parsed = parse_hcl(text)
    except Exception as exc:  # python-hcl2 raises lark's many error types
        return [CheckResult("hcl-parse", "fail", f"main.tf does not parse: {exc}"[:500])]
    results = [CheckResult("hcl-parse", "pass", "python-hcl2 parsed main.tf")]
    checks: list[tuple[str, Callable[[], list[str]], str]] = [
        ("claim", lambda: check_claim(parsed, claim), "the blocks carry the claim"),
        ("no-password", lambda: check_no_password(parsed), "no password attribute"),
        (
            "no-published-secret",
            lambda: check_parameters_hold_no_secret(parsed),
            "the published connection parameter holds no secret",
        ),
        ("provider-schema", lambda: check_schema(parsed), "every argument is in the AWS provider"),
    ]
    for name, check, ok in checks:
        problems = check()
        results.append(CheckResult(name, "fail" if problems else "pass", "; ".join(problems) or ok))
    if terraform is None:
        results.append(
            CheckResult("terraform-fmt", "skip", "no terraform executable (PATH or DBVEND_TERRAFORM)")
        )
    else:
        problems = check_fmt(text, terraform)
        results.append(
            CheckResult(
                "terraform-fmt",
                "fail" if problems else "pass",
                "; ".join(problems) or "terraform fmt leaves it unchanged",
            )
        )
    return results
