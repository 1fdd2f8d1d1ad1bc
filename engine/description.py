"""The markdown description of a change: the claim, its monthly cost, the checks that ran."""

from __future__ import annotations

import json
import re
from typing import Final

from engine import rds
from engine.claim import Claim
from engine.cost import CostEstimate
from engine.hcl import CheckResult
from engine.modify import Modification
from engine.policy import PolicyDecision
from engine.render import final_snapshot_identifier

MARKER = "<!-- dbvend:change -->"
# Inside a table cell only these can start markup, a link, an HTML tag or an entity, or end the cell.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|<>~&])")
_STATUS = {"pass": "pass", "fail": "FAIL", "skip": "skipped"}


def md_escape(text: str) -> str:
    """Text that markdown shows as written: no links, no markup, no table breaks."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text.replace("\n", " "))


def change_title(claim: Claim) -> str:
    return f"dbvend: {claim.request.database_engine} database {claim.identifier} in {claim.environment}"


# The order of the claim's rows, whichever fields were asked for: what it is, who asked and why, how
# long it lives, its size, what protects it; then anything else the request carries.
_ROW_ORDER: Final = (
    "database_name",
    "database_engine",
    "environment",
    "identifier",
    "restore_from",
    "owner",
    "team",
    "reason",
    "ttl",
    "expires_at",
    "extensions",
    "size",
    "engine_version",
    "instance_class",
    "storage_gb",
    "multi_az",
    "min_acu",
    "max_acu",
    "acu",
    "readers",
    "proxy",
    "backup_retention_days",
    "deletion_protection",
    "final_snapshot",
    "request_id",
)


def claim_rows(claim: Claim) -> list[tuple[str, str]]:
    """The claim as field/value rows in a fixed order (_ROW_ORDER): a value the catalog resolved
    replaces the requested one."""
    asked = claim.request.as_dict()
    asked.pop("restore_from", None)
    rows = [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in asked.items()]
    if claim.request.restore_from is not None:
        rows.append(("restore_from", restore_origin(claim)))
    rows += [
        ("request_id", claim.request_id),
        ("engine_version", claim.engine_version),
        ("instance_class", claim.instance_class),
        ("ttl", claim.ttl),
        ("expires_at", claim.expires_at or "never"),
    ]
    if claim.extensions:
        rows.append(("extensions", str(claim.extensions)))
    if claim.is_aurora:
        rows += [
            ("acu", f"{claim.min_acu:g} to {claim.max_acu:g}"),
            ("readers", str(claim.readers)),
            ("proxy", json.dumps(claim.proxy)),
        ]
    else:
        rows += [("storage_gb", str(claim.storage_gb)), ("multi_az", json.dumps(claim.multi_az))]
    rows += [
        ("backup_retention_days", str(claim.backup_retention_days)),
        ("deletion_protection", json.dumps(claim.deletion_protection)),
        ("final_snapshot", json.dumps(claim.final_snapshot)),
    ]
    resolved = dict(rows)  # a later (resolved) value replaces the requested one
    rank = {key: index for index, key in enumerate(_ROW_ORDER)}
    return sorted(resolved.items(), key=lambda row: rank.get(row[0], len(rank)))


def describe_change(
    claim: Claim, cost: CostEstimate, checks: list[CheckResult], policy: PolicyDecision
) -> str:
    """The change's description, the same for the local backend and a GitHub pull request."""
    lines = [
        MARKER,
        f"## {md_escape(change_title(claim))}",
        "",
        f"Terraform root: `{claim.root}`",
        "",
        "| field | value |",
        "|---|---|",
        *(f"| {key} | {md_escape(value)} |" for key, value in claim_rows(claim)),
        "",
        *restore_section(claim),
        f"### Estimated monthly cost: ${cost.monthly_usd:,.2f}",
        "",
        "| item | USD per month |",
        "|---|---:|",
        *(f"| {md_escape(line.item)} | {line.monthly_usd:,.2f} |" for line in cost.lines),
        "",
    ]
    if cost.ceiling is not None:
        lines += [f"Ceiling: ${cost.ceiling.monthly_usd:,.2f} ({md_escape(cost.ceiling.item)}).", ""]
    if cost.unpriced:
        lines += [f"Not included: {md_escape(', '.join(cost.unpriced))}.", ""]
    lines += [
        f"_{md_escape(cost.source)}._",
        "",
        "### Checks",
        "",
        "| check | result | detail |",
        "|---|---|---|",
        *(f"| {c.name} | {_STATUS[c.status]} | {md_escape(c.detail)} |" for c in checks),
        "",
        *policy_section(policy),
    ]
    return "\n".join(lines)


def restore_origin(claim: Claim) -> str:
    """Where a restored database's data comes from, in a few words."""
    restore = claim.request.restore_from
    assert restore is not None
    return f"{restore.database}: {_restored_as(claim)}"


def _restored_as(claim: Claim) -> str:
    restore = claim.request.restore_from
    assert restore is not None
    if claim.restore_snapshot is not None:
        kept = claim.restore_snapshot.startswith(rds.final_snapshot_prefix(restore.identifier))
        why = f", the final snapshot dbvend kept when it destroyed {restore.database}" if kept else ""
        return f"snapshot {claim.restore_snapshot}{why}"
    if claim.restore_latest:
        return "its latest restorable time (a few minutes before the restore runs)"
    return f"as it was at {claim.restore_time}"


def restore_section(claim: Claim) -> list[str]:
    """What a restore copies from its source, and what it does not: empty for a new, empty database."""
    restore = claim.request.restore_from
    if restore is None:
        return []
    if claim.restore_snapshot is not None:
        how = "Terraform creates the database from the snapshot (`snapshot_identifier`)."
    elif claim.is_aurora:
        how = (
            "Terraform creates the cluster as a point-in-time restore of the source cluster"
            " (`restore_to_point_in_time`, a full copy: its storage is its own, not shared with the source)."
        )
    else:
        how = (
            "Terraform creates the instance as a point-in-time restore of the source instance"
            " (`restore_to_point_in_time`)."
        )
    as_ = _restored_as(claim)
    return [
        f"### Restored from {md_escape(restore.database)}",
        "",
        f"{md_escape(as_[0].upper() + as_[1:])}. {how}",
        "",
        "- **Comes with it:** the data as it was then: every database, table and row, and the users,"
        " roles and grants defined inside the engine (they are data). The database name and the master"
        " user name are the source's.",
        "- **Does not come:** the source's parameter group (this database gets dbvend's own, from"
        " dbvend.yaml), its instance settings (size, storage autoscaling, backups, Multi-AZ, windows,"
        " tags and alarms are this claim's), and its master password: RDS makes a new secret for this"
        " database, so the source's master password does not work here. Anything changed by hand in"
        " AWS on the source (parameters, settings, security groups) is not copied.",
        "",
    ]


def describe_extension(before: Claim, after: Claim, by: str, checks: list[CheckResult]) -> str:
    """An extension's description: the expiry before and after, and who asked."""
    where = f"{after.environment}/{after.identifier}"
    return "\n".join(
        [
            MARKER,
            f"## dbvend: extend {md_escape(where)} until {after.expires_at}",
            "",
            f"Terraform root: `{after.root}`",
            "",
            f"Asked by {md_escape(by)}: the time-to-live moves from {before.expires_at} to "
            f"{after.expires_at} (extension {after.extensions}). The claim's `expires_at` and the "
            "`expires-at` tag change; nothing else does. Once merged (and applied, for the tag), "
            "the sweep goes by the new expiry.",
            "",
            "| check | result | detail |",
            "|---|---|---|",
            *(f"| {c.name} | {_STATUS[c.status]} | {md_escape(c.detail)} |" for c in checks),
            "",
        ]
    )


def describe_modification(
    before: Claim, modification: Modification, by: str, checks: list[CheckResult], policy: PolicyDecision
) -> str:
    """A modification's description: per field, from and to, and what happens to the running database
    (engine.modify's table of RDS's documented behaviour), which CI's plan on this change confirms."""
    after = modification.claim
    where = f"{after.environment}/{after.identifier}"
    window = after.maintenance_window or "the weekly window AWS picks"
    lines = [
        MARKER,
        f"## dbvend: change {md_escape(where)} (modification {after.modifications})",
        "",
        f"Terraform root: `{after.root}`",
        "",
        f"Asked by {md_escape(by)}. What happens to the running database once this is merged and applied:",
        "",
        "| field | from | to | what happens | when |",
        "|---|---|---|---|---|",
        *(
            f"| {e.field} | {md_escape(e.before)} | {md_escape(e.after)} | {md_escape(e.behaviour.what)} "
            f"| {md_escape(e.impact)} |"
            for e in modification.effects
        ),
        "",
    ]
    if any(e.behaviour.window for e in modification.effects):
        lines += [
            "The generated root leaves `apply_immediately` at AWS's default (false): what RDS applies in "
            f"the maintenance window ({md_escape(window)}) waits for it, and until then later plans show "
            "it as still to change.",
            "",
        ]
    if modification.major_upgrade:
        lines += [
            "This is a major version upgrade: `allow_major_version_upgrade = true` for this change (the "
            "next modification of this database sets it back to false). Test the upgrade on a copy first.",
            "",
        ]
    lines += [
        "Nothing here replaces the database (dbvend refuses changes that would). CI's plan on this "
        "change confirms it: updates in place (`~`) and created or destroyed readers and proxies, never "
        "a replacement (`-/+`) of the database itself.",
        "",
        "Sources: "
        + "; ".join(md_escape(s) for s in dict.fromkeys(e.behaviour.source for e in modification.effects))
        + ".",
        "",
        "| check | result | detail |",
        "|---|---|---|",
        *(f"| {c.name} | {_STATUS[c.status]} | {md_escape(c.detail)} |" for c in checks),
        "",
        *policy_section(policy),
    ]
    return "\n".join(lines)


def describe_destroy(claim: Claim, reason: str, production: bool) -> str:
    """A destroy change's description: why, what goes, what is kept, how it proceeds and how to stop it.

    `production`: the environment is a production one in dbvend.yaml (an unknown one counts as one):
    only `/destroy` (or `/apply`) destroys it, with an approval, never a merge (`dbvend ci apply`
    refuses that on merge).
    """
    where = f"{claim.environment}/{claim.identifier}"
    environment = md_escape(claim.environment)
    snapshot = (
        f"A final snapshot `{md_escape(final_snapshot_identifier(claim))}` is kept (dbvend.yaml: "
        f"final_snapshot in {environment})."
        if claim.final_snapshot
        else f"No final snapshot is kept (dbvend.yaml: final_snapshot is false in {environment})."
    )
    protected = (
        " Deletion protection is on: it must be turned off (applied) before the destroy can succeed."
        if claim.deletion_protection
        else ""
    )
    if production:
        how = (
            f"{environment} is a production environment: only `/destroy` or `/apply` on this pull request "
            "destroys the database, and only with an approving review, even where dbvend.yaml asks for "
            "none. Merging does not destroy it (apply on merge refuses a production destroy): merge once "
            "the destroy succeeded and dbvend removed the root on this branch."
        )
    else:
        how = (
            "`/destroy` or `/apply` on this pull request destroys the database (with the approval and "
            "checks dbvend.yaml asks for), and so does merging it where the repository applies merges "
            "(repository variable `DBVEND_APPLY_ON_MERGE`). Once the destroy succeeds, dbvend commits the "
            "root's removal: on this branch after a command (merge it then), on the default branch after "
            "a merge."
        )
    keep = "To keep the database instead, close this change without merging it."
    if claim.expires_at is not None:
        keep += (
            " To keep it longer, extend its time-to-live too: a comment `/extend 3d` here sets its "
            "expiry to now + 3d."
        )
    return "\n".join(
        [
            MARKER,
            f"## dbvend: destroy {md_escape(where)}",
            "",
            f"Terraform root: `{claim.root}`",
            "",
            f"Why: {md_escape(reason)}.",
            "",
            "The claim is marked for destruction, and the checks plan `terraform plan -destroy` for "
            f"this root. {how} {snapshot}{protected}",
            "",
            keep,
            "",
            "| field | value |",
            "|---|---|",
            *(f"| {key} | {md_escape(value)} |" for key, value in claim_rows(claim)),
            "",
        ]
    )


def policy_section(policy: PolicyDecision) -> list[str]:
    """The policy gate's decision: its result, then every finding that failed, warned or was skipped."""
    lines = [f"### Policy gate: {policy.result}", ""]
    rows = [(f, "FAIL", "") for f in policy.failures] + [(f, "warn", "") for f in policy.warnings]
    rows += [(s.finding, "skipped", s.reason) for s in policy.skipped]
    if rows:
        lines += ["| check | result | resource | note |", "|---|---|---|---|"]
        for finding, result, note in rows:
            check = md_escape(f"{finding.check_id} {finding.name}")
            lines.append(f"| {check} | {result} | {md_escape(finding.resource)} | {md_escape(note)} |")
        lines.append("")
    else:
        lines += ["Every check passed.", ""]
    lines += [f"_{md_escape(note)}._" for note in policy.notes]
    return lines
