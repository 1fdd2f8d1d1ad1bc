"""API keys with names and roles (issue 23): how they are configured, and that a key never shows in
an error about its configuration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.errors import DbvendError
from engine.keys import KEY_FILE, KeyEntry, KeyStore, hash_key, parse_entries, read_key_file
from engine.services import configured_keys
from engine.settings import Settings

SECRET = "dbv_sentinel-key-never-shown"


def test_named_keys_identify_as_key_and_name_with_their_role() -> None:
    keys = KeyStore.from_keys([f"ci:requester:{SECRET}", "reader-one:reader:other-key"])
    found = keys.identify(SECRET)
    assert found is not None and found.name == "ci" and found.role == "requester"
    assert found.actor().name == "key:ci" and found.actor().role == "requester"
    assert keys.identify("no such key") is None
    assert keys.by_id(found.key_id) == found and keys.by_id("key-000000000000") is None


def test_an_unnamed_key_is_an_admin_named_by_its_hash() -> None:
    (entry,) = parse_entries([SECRET], "DBVEND_API_KEYS", hashed=False)
    assert entry == KeyEntry(hash_key(SECRET)[:12], "admin", hash_key(SECRET))


def test_hashes_take_names_and_roles_too() -> None:
    digest = hash_key(SECRET)
    (entry,) = parse_entries([f"deploy:admin:{digest.upper()}"], "DBVEND_API_KEY_HASHES", hashed=True)
    assert entry == KeyEntry("deploy", "admin", digest)


@pytest.mark.parametrize(
    ("item", "says"),
    [
        (f"ci:{SECRET}", "write it as KEY or NAME:ROLE:KEY"),
        (f"ci:owner:{SECRET}", "the role must be one of admin, requester, reader"),
        (f"Bad Name:admin:{SECRET}", "a name is 1-40"),
        (f"a:b:c:{SECRET}", "write it as KEY or NAME:ROLE:KEY"),
    ],
)
def test_a_wrong_key_item_is_named_by_position_never_by_its_key(item: str, says: str) -> None:
    with pytest.raises(DbvendError) as refused:
        parse_entries(["fine-key", item], "DBVEND_API_KEYS", hashed=False)
    assert "item 2" in str(refused.value) and says in str(refused.value)
    assert SECRET not in str(refused.value)


def test_a_hash_that_is_no_digest_is_refused() -> None:
    with pytest.raises(DbvendError, match="item 1: not a SHA-256 hex digest"):
        parse_entries(["ci:admin:abc"], "DBVEND_API_KEY_HASHES", hashed=True)


def test_two_keys_of_one_name_are_refused() -> None:
    with pytest.raises(DbvendError, match="ci named twice"):
        KeyStore.from_keys(["ci:admin:one", "ci:reader:two"])


def test_a_key_file_names_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [{"name": "ci", "role": "requester", "sha256": hash_key(SECRET)}]}))
    assert read_key_file(path) == [KeyEntry("ci", "requester", hash_key(SECRET))]
    path.write_text(json.dumps([{"name": "ci", "role": "requester"}]))
    with pytest.raises(DbvendError, match="key 1: must have exactly name, role and sha256"):
        read_key_file(path)


def test_the_generated_key_is_a_named_admin_and_older_files_still_read(tmp_path: Path) -> None:
    keys, shown = KeyStore.load_or_generate(tmp_path)
    assert shown is not None and keys.identify(shown) == KeyEntry("admin", "admin", hash_key(shown))
    stored = (tmp_path / KEY_FILE).read_text()
    assert shown not in stored
    again, none = KeyStore.load_or_generate(tmp_path)
    assert none is None and again.identify(shown) is not None
    (tmp_path / KEY_FILE).write_text(json.dumps({"sha256": [hash_key(SECRET)]}))  # before names
    older, _ = KeyStore.load_or_generate(tmp_path)
    assert older.identify(SECRET) == KeyEntry(hash_key(SECRET)[:12], "admin", hash_key(SECRET))


def test_settings_join_every_source_of_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [{"name": "filed", "role": "reader", "sha256": hash_key("k-file")}]}))
    settings = Settings(
        data=tmp_path / "data",
        api_keys_file=path,
        api_key_hashes=f"hashed:requester:{hash_key('k-hash')}",
        api_keys="plain:admin:k-plain",
    )
    keys, generated = configured_keys(settings)
    assert generated is None
    assert [keys.identify(k).name for k in ("k-file", "k-hash", "k-plain")] == ["filed", "hashed", "plain"]  # type: ignore[union-attr]
    assert not (tmp_path / "data" / KEY_FILE).exists()
