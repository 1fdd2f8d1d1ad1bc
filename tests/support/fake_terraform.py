#!/usr/bin/env python3
"""A recording terraform stand-in for roots that need the AWS provider (not downloadable here).

Every call is appended to $FAKE_TERRAFORM_LOG as one JSON line {"cwd", "args"}. `init` and
`apply` succeed; `plan` writes its -out file and exits 2 (changes) as -detailed-exitcode says;
`show -json` prints the plan JSON in $FAKE_TERRAFORM_PLAN (a recorded plan in Terraform's
documented format), or one built from the root's request.json: a create of its database.
`output -json` prints no outputs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def plan_for(root: Path) -> dict[str, object]:
    recorded = os.environ.get("FAKE_TERRAFORM_PLAN")
    if recorded:
        data: dict[str, object] = json.loads(Path(recorded).read_text())
        return data
    claim = json.loads((root / "request.json").read_text())
    identifier = claim["request"]["database_name"].replace("_", "-")
    return {
        "format_version": "1.2",
        "terraform_version": "1.11.4",
        "resource_changes": [
            {
                "address": "aws_db_instance.this",
                "mode": "managed",
                "type": "aws_db_instance",
                "name": "this",
                "provider_name": "registry.terraform.io/hashicorp/aws",
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": {"identifier": identifier, "instance_class": claim.get("instance_class")},
                    "after_unknown": {"arn": True, "endpoint": True},
                    "before_sensitive": False,
                    "after_sensitive": {},
                },
            }
        ],
        "applyable": True,
        "complete": True,
        "errored": False,
    }


def main() -> int:
    args = sys.argv[1:]
    log = os.environ.get("FAKE_TERRAFORM_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"cwd": os.getcwd(), "args": args}) + "\n")
    command = args[0] if args else ""
    if command == "plan":
        out = next(arg.split("=", 1)[1] for arg in args if arg.startswith("-out="))
        Path(out).write_text("fake plan\n")
        return 2
    if command == "show":
        print(json.dumps(plan_for(Path.cwd())))
        return 0
    if command == "output":
        print(json.dumps({}))  # nothing was really applied: no outputs in the state
        return 0
    if command in ("init", "apply", "destroy", "version"):
        return 0
    print(f"fake terraform: unknown command {command!r}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
