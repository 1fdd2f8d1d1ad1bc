"""engine/terraform.py's pure parts: the lock a failed step names, and secrets scrubbed from its output."""

from __future__ import annotations

from engine.terraform import LockHeld, lock_in, scrub


def test_lock_info_parsing_and_scrubbing() -> None:
    output = """
Error: Error acquiring the state lock

Error message: operation error S3: PutObject, https response error StatusCode: 412
Lock Info:
  ID:        6f1c0a52-1a2b-4c3d-9e8f-0123456789ab
  Path:      state/dev/orders/terraform.tfstate
  Operation: OperationTypePlan
  Who:       runner@ci-7
  Version:   1.11.4
  Created:   2026-11-23 10:00:00.123 +0000 UTC
  Info:
"""
    assert lock_in(output) == LockHeld(
        "6f1c0a52-1a2b-4c3d-9e8f-0123456789ab",
        "state/dev/orders/terraform.tfstate",
        "OperationTypePlan",
        "runner@ci-7",
        "1.11.4",
        "2026-11-23 10:00:00.123 +0000 UTC",
    )
    assert lock_in("Error: Invalid reference") is None
    text = (
        'password = "p@ss" AKIAABCDEFGHIJKLMNOP https://user:pw@host/x ghs_'
        + "a" * 36
        + "\n-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\nmaster_password: s3cr3t"
    )
    cleaned = scrub(text, {"GITHUB_TOKEN": "tok-0123456789", "HOME": "/root"})
    for secret in ("p@ss", "AKIAABCDEFGHIJKLMNOP", "user:pw", "ghs_a", "BEGIN RSA", "s3cr3t"):
        assert secret not in cleaned, secret
    assert scrub("deploying tok-0123456789", {"GITHUB_TOKEN": "tok-0123456789"}) == "deploying [redacted]"
    assert scrub("instance_class = db.t3.micro", {}) == "instance_class = db.t3.micro"


def test_a_lock_reads_as_a_sentence_or_as_the_detail_of_one() -> None:
    lock = LockHeld("6f1c", who="runner@ci-7", created="2026-11-23 10:00 UTC", operation="OperationTypeApply")
    assert lock.describe() == "state lock 6f1c held by runner@ci-7, since 2026-11-23 10:00 UTC, for apply"
    assert lock.detail() == "lock 6f1c, held by runner@ci-7, since 2026-11-23 10:00 UTC, for apply"
