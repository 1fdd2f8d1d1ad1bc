"""CKV_DBV_12: an SSM parameter is a plain String that holds no secret (the published connection)."""

from __future__ import annotations

import json
import re
from typing import Any

from _context import value_of
from checkov.common.bridgecrew.severities import BcSeverities, Severities
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

VALUE_ATTRIBUTES = ("value", "insecure_value", "value_wo")
# A key or a reference that names a secret: a password, a secret's string, a generated password.
# engine.connection.SECRET_NAME, copied: checkov's venv cannot import engine (a unit test compares).
SECRET_NAME = re.compile(
    r"(?i)passw(?:or)?d|passphrase|secret_string|secret_value|private_key|token|credential"
)


class ConnectionParameterNoSecret(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="SSM parameters are plain Strings that hold no secret (connection details only)",
            id="CKV_DBV_12",
            categories=[CheckCategories.SECRETS],
            supported_resources=["aws_ssm_parameter"],
            guideline="Publish where and how to connect (host, port, database, user, the master "
            "secret's ARN) as type String; a password stays in the secret RDS manages.",
        )
        self.severity = Severities[BcSeverities.CRITICAL]

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        self.evaluated_keys = ["type", *VALUE_ATTRIBUTES]
        kind = value_of(conf, "type")
        if kind != "String":
            self.details.append(f"type is {kind!r}, not String: a parameter of dbvend's holds no secret")
            return CheckResult.FAILED
        text = json.dumps([conf.get(name) for name in VALUE_ATTRIBUTES], default=str)
        found = SECRET_NAME.search(text)
        if found:
            self.details.append(f"the value names a secret ({found.group()})")
            return CheckResult.FAILED
        return CheckResult.PASSED


check = ConnectionParameterNoSecret()
