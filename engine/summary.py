"""A Terraform plan (its JSON) summarised: counts, the changes that matter, drift, what is hidden."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from engine.versions import minor_only

ChangeKind = Literal["create", "update", "delete", "replace", "read", "forget"]

# The action lists of Terraform's JSON output format (internals/json-format). ["forget"] and
# ["create", "forget"] come from `removed` blocks with `destroy = false` (Terraform 1.7+): the object
# leaves the state but stays in AWS; Terraform's own views count the second one as a replace.
_KINDS: dict[tuple[str, ...], ChangeKind | None] = {
    ("no-op",): None,
    ("create",): "create",
    ("read",): "read",
    ("update",): "update",
    ("delete",): "delete",
    ("delete", "create"): "replace",
    ("create", "delete"): "replace",
    ("forget",): "forget",
    ("create", "forget"): "replace",
}
DATABASE_TYPES = frozenset({"aws_db_instance", "aws_rds_cluster", "aws_rds_cluster_instance", "aws_db_proxy"})
# The resources whose engine version AWS moves by itself: a minor upgrade in the maintenance window
# (auto_minor_version_upgrade = true). The provider keeps a configured prefix while the running version
# extends it ("17" while 17.6 runs: hashicorp/terraform-provider-aws internal/service/rds,
# compareActualEngineVersion; aws_db_instance docs: "If auto_minor_version_upgrade is enabled, you can
# provide a prefix of the version such as 8.0 (for 8.0.36)"). A root written with a full version, before
# dbvend rendered prefixes, still shows the minor AWS installed: engine_version 17.4 -> 17.6 in the drift
# and 17.6 -> 17.4 in the plan. Nobody asked for that change, so it is left out; a new major stays.
_AUTO_UPGRADED_TYPES = frozenset({"aws_db_instance", "aws_rds_cluster", "aws_rds_cluster_instance"})
_VERSION_ATTRIBUTES = frozenset({"engine_version", "engine_version_actual"})  # the second is computed
IMPORTANT_ATTRIBUTES = frozenset(
    {
        "instance_class",
        "allocated_storage",
        "max_allocated_storage",
        "engine_version",
        "deletion_protection",
        "multi_az",
        "storage_encrypted",
        "publicly_accessible",
        "backup_retention_period",
        "serverlessv2_scaling_configuration",
        "skip_final_snapshot",
    }
)
UNKNOWN = "(known after apply)"
SENSITIVE = "(sensitive)"
_SECRET_NAME = re.compile("password|secret|token", re.IGNORECASE)
_VALUE_WIDTH = 60
ABSENT = "(absent)"


@dataclass(frozen=True)
class AttributeChange:
    """One changed top-level attribute, its values already safe to show (never a secret). A map's
    (tags, say) changed keys are in `keys`, each with its own values: a secret one hides only its value.
    """

    name: str
    before: str
    after: str
    forces_replacement: bool = False
    keys: tuple[AttributeChange, ...] = ()


@dataclass(frozen=True)
class ResourceChange:
    """One resource instance that the plan changes (no-ops are only counted)."""

    address: str
    type: str
    actions: tuple[str, ...]
    kind: ChangeKind
    attributes: tuple[str, ...] = ()
    important: bool = False
    diffs: tuple[AttributeChange, ...] = ()
    action_reason: str | None = None


@dataclass(frozen=True)
class PlanSummary:
    """What a plan does: counts per action, the changes themselves, and drift found while refreshing."""

    create: int = 0
    update: int = 0
    delete: int = 0
    replace: int = 0
    read: int = 0
    no_op: int = 0
    forget: int = 0
    changes: tuple[ResourceChange, ...] = ()
    drift: tuple[ResourceChange, ...] = ()
    # Updates left out because their only change was AWS's own minor upgrade going back.
    minor_upgrades: int = 0

    @property
    def is_empty(self) -> bool:
        """Nothing but no-ops and data reads: applying it changes no infrastructure."""
        return not (self.create or self.update or self.delete or self.replace or self.forget)

    @property
    def important(self) -> tuple[ResourceChange, ...]:
        return tuple(change for change in self.changes if change.important)


# --- plan JSON -> PlanSummary ---------------------------------------------------------------------------


def summarize_plan(plan: Mapping[str, Any]) -> PlanSummary:
    """Summarize `terraform show -json PLANFILE`; ValueError naming the problem if it is not a plan."""
    _check_plan(plan)
    parsed = [
        _parse_change(entry, f"resource_changes[{i}]")
        for i, entry in enumerate(_entries(plan, "resource_changes"))
    ]
    drift = [
        _parse_change(entry, f"resource_drift[{i}]")
        for i, entry in enumerate(_entries(plan, "resource_drift"))
    ]
    counts = Counter(kind or "no_op" for kind, _ in parsed)
    minor_upgrades = sum(
        1
        for entry, (kind, _) in zip(_entries(plan, "resource_changes"), parsed, strict=True)
        if kind is None and entry["change"]["actions"] == ["update"]
    )
    return PlanSummary(
        create=counts["create"],
        update=counts["update"],
        delete=counts["delete"],
        replace=counts["replace"],
        read=counts["read"],
        no_op=counts["no_op"],
        forget=counts["forget"],
        changes=tuple(change for _, change in parsed if change is not None),
        drift=tuple(change for _, change in drift if change is not None),
        minor_upgrades=minor_upgrades,
    )


def _check_plan(plan: Any) -> None:
    if not isinstance(plan, Mapping):
        raise ValueError(f"a Terraform plan is a JSON object, not {type(plan).__name__}")
    if "format_version" not in plan:
        raise ValueError(
            "not a Terraform plan: format_version is missing (expected `terraform show -json PLANFILE`)"
        )
    version = plan["format_version"]
    if not isinstance(version, str) or version.split(".")[0] != "1":
        raise ValueError(f"unsupported plan format_version {version!r}: dbvend reads format 1.x")
    if "values" in plan and "resource_changes" not in plan and "planned_values" not in plan:
        raise ValueError("this is a Terraform state, not a plan: run `terraform show -json PLANFILE`")


def _entries(plan: Mapping[str, Any], key: str) -> list[Any]:
    entries = plan.get(key, [])  # Terraform omits both lists when they are empty
    if not isinstance(entries, list):
        raise ValueError(f"{key} must be a list, not {type(entries).__name__}")
    return entries


def _parse_change(entry: Any, where: str) -> tuple[ChangeKind | None, ResourceChange | None]:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} must be an object, not {type(entry).__name__}")
    address, rtype = _text_field(entry, "address", where), _text_field(entry, "type", where)
    change = entry.get("change")
    if not isinstance(change, Mapping):
        raise ValueError(f"{where} ({address}): change must be an object")
    actions = change.get("actions")
    if (
        not (isinstance(actions, list) and all(isinstance(a, str) for a in actions))
        or tuple(actions) not in _KINDS
    ):
        raise ValueError(
            f"{where} ({address}): change.actions {actions!r} is not one of Terraform's action lists"
        )
    kind = _KINDS[tuple(actions)]
    if kind is None:
        return None, None
    reason = entry.get("action_reason")
    diffs = _attribute_changes(change) if kind in ("update", "replace") else ()
    if kind == "update" and rtype in _AUTO_UPGRADED_TYPES:
        asked = _without_minor_upgrades(change, diffs)
        if diffs and not asked:
            return None, None  # only AWS's own minor upgrade: a no-op
        diffs = asked
    attributes = tuple(diff.name for diff in diffs)
    return kind, ResourceChange(
        address=address,
        type=rtype,
        actions=tuple(actions),
        kind=kind,
        attributes=attributes,
        important=_is_important(rtype, kind, attributes),
        diffs=diffs,
        action_reason=reason if isinstance(reason, str) else None,
    )


def _text_field(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: {key} must be a non-empty string, not {value!r}")
    return value


def _is_important(rtype: str, kind: ChangeKind, attributes: tuple[str, ...]) -> bool:
    if kind in ("delete", "replace") and rtype in DATABASE_TYPES:
        return True
    return kind in ("update", "replace") and not IMPORTANT_ATTRIBUTES.isdisjoint(attributes)


def _attribute_changes(change: Mapping[str, Any]) -> tuple[AttributeChange, ...]:
    """The top-level attributes whose value changes or becomes unknown, sorted by name."""
    before, after, unknown = (_as_object(change.get(key)) for key in ("before", "after", "after_unknown"))
    forcing = _forcing_attributes(change.get("replace_paths"))
    masks = change.get("before_sensitive"), change.get("after_sensitive")
    return tuple(
        AttributeChange(
            name,
            old,
            new,
            name in forcing,
            _key_changes(name, before.get(name), after.get(name), change, unknown.get(name)),
        )
        for name, old, new in _changed_values(before, after, unknown, *masks)
    )


_MISSING: Final = object()


def _changed_values(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    unknown: Mapping[str, Any],
    before_mask: Any,
    after_mask: Any,
    absent: str | None = None,
) -> Iterator[tuple[str, str, str]]:
    """(name, shown before, shown after) of each name whose value changes or becomes unknown, sorted.
    `absent` is how a name missing on one side shows; None: as null (Terraform's top level names every
    attribute on both sides)."""
    missing = None if absent is None else _MISSING
    for name in sorted(set(before) | set(after) | set(unknown)):
        is_unknown = _any_true(unknown.get(name))
        old_value, new_value = before.get(name, missing), after.get(name, missing)
        if not is_unknown and old_value == new_value:
            continue
        old = absent if old_value is _MISSING else _shown(name, old_value, before_mask)
        new = absent if new_value is _MISSING else _shown(name, new_value, after_mask)
        if is_unknown:
            new = SENSITIVE if _is_hidden(name, after.get(name), after_mask) else UNKNOWN
        yield str(name), str(old), str(new)


def _key_changes(
    name: str, before: Any, after: Any, change: Mapping[str, Any], unknown: Any
) -> tuple[AttributeChange, ...]:
    """A map's changed keys (tags, say): a key that looks secret, or that Terraform marks sensitive,
    shows no value; the others show theirs. () for what is no map, or is unknown or hidden whole."""
    maps = all(value is None or isinstance(value, Mapping) for value in (before, after))
    hidden_whole = _SECRET_NAME.search(name) or any(
        _hides_whole(change.get(side), name) for side in ("before_sensitive", "after_sensitive")
    )
    if not maps or (before is None and after is None) or unknown is True or hidden_whole:
        return ()
    old, new, unknown_keys = _as_object(before), _as_object(after), _as_object(unknown)
    old_mask, new_mask = (
        _as_object(change.get(side)).get(name) for side in ("before_sensitive", "after_sensitive")
    )
    changed = _changed_values(old, new, unknown_keys, old_mask, new_mask, absent=ABSENT)
    return tuple(
        AttributeChange(key, shown_before, shown_after) for key, shown_before, shown_after in changed
    )


def _hides_whole(sensitivity: Any, name: str) -> bool:
    """Whether a sensitivity mask marks the whole attribute (or the whole object) sensitive."""
    return sensitivity is True or (isinstance(sensitivity, Mapping) and sensitivity.get(name) is True)


def _without_minor_upgrades(
    change: Mapping[str, Any], diffs: tuple[AttributeChange, ...]
) -> tuple[AttributeChange, ...]:
    """The diffs but an engine version that moves within its major (see _AUTO_UPGRADED_TYPES)."""
    before, after = _as_object(change.get("before")), _as_object(change.get("after"))
    engine = before.get("engine") or after.get("engine")
    return tuple(
        diff
        for diff in diffs
        if not (
            diff.name in _VERSION_ATTRIBUTES
            and diff.after != UNKNOWN
            and _within_major(engine, before.get(diff.name), after.get(diff.name))
        )
    )


def _within_major(engine: Any, before: Any, after: Any) -> bool:
    if not (isinstance(engine, str) and isinstance(before, str) and isinstance(after, str)):
        return False  # unknown after apply, or no engine to read the versions by: shown as it is
    try:
        return minor_only(engine, before, after)
    except ValueError:  # an engine or version dbvend does not know: better shown than hidden
        return False


def _as_object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _forcing_attributes(replace_paths: Any) -> frozenset[str]:
    if not isinstance(replace_paths, list):
        return frozenset()
    return frozenset(p[0] for p in replace_paths if isinstance(p, list) and p and isinstance(p[0], str))


def _any_true(value: Any) -> bool:
    """Whether a sensitivity or unknown-ness mask marks anything at or below this point."""
    if isinstance(value, Mapping):
        return any(_any_true(v) for v in value.values())
    if isinstance(value, list):
        return any(_any_true(v) for v in value)
    return value is True


def _is_hidden(name: str, value: Any, sensitivity: Any) -> bool:
    if _SECRET_NAME.search(name) or _has_secret_key(value):
        return True
    if sensitivity is True:
        return True
    return isinstance(sensitivity, Mapping) and _any_true(sensitivity.get(name))


def _has_secret_key(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(_SECRET_NAME.search(str(k)) or _has_secret_key(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_secret_key(v) for v in value)
    return False


def _shown(name: str, value: Any, sensitivity: Any) -> str:
    """A value as the summary shows it: secrets hidden, long values shortened."""
    if _is_hidden(name, value, sensitivity):
        return SENSITIVE
    text = (
        value
        if isinstance(value, str) and value
        else json.dumps(value, sort_keys=True, separators=(",", ":"))
    )
    return text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 1] + "…"
