"""The OAuth state of signing in with GitHub (engine.portal.oauth_state): signed, bound to the
browser, expiring; and its ledger row (engine.store.sessions), which counts once."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from pathlib import Path

import pytest

from engine.errors import SignInRefused
from engine.portal.oauth_state import LIFETIME, checked_nonce, new_state, nonce_hash, sign_state, state_key
from engine.store.ledger import Ledger

SECRET = "0123456789abcdef0123456789abcdef01234567"
NOW = 1_700_000_000.0


def test_a_new_state_is_signed_and_checks_with_its_own_cookie() -> None:
    made = new_state(SECRET, NOW)
    nonce, expires, signature = made.state.split(".")
    assert (nonce, int(expires)) == (made.nonce, int(NOW) + LIFETIME) and len(signature) == 64
    assert checked_nonce(SECRET, made.state, made.nonce, NOW + LIFETIME - 1) == made.nonce
    assert made.nonce_hash == hashlib.sha256(made.nonce.encode()).hexdigest() == nonce_hash(made.nonce)
    assert new_state(SECRET, NOW).nonce != made.nonce


def test_the_signing_key_is_derived_from_the_client_secret_not_the_secret_itself() -> None:
    key = state_key(SECRET)
    assert key == hmac.new(SECRET.encode(), b"dbvend-oauth-state", hashlib.sha256).digest()
    assert SECRET.encode() not in key and state_key(SECRET + "x") != key


def refusal(state: str | None, cookie: str | None, now: float = NOW, secret: str = SECRET) -> SignInRefused:
    with pytest.raises(SignInRefused) as refused:
        checked_nonce(secret, state, cookie, now)
    return refused.value


@pytest.mark.parametrize(
    "state",
    [
        None,
        "",
        "x",
        "a.b.c",
        f"{'n' * 31}.1.{'0' * 64}",
        f"{'n' * 32}.1.{'0' * 63}",
        f"{'n' * 32}.1.{'A' * 64}",
    ],
)
def test_a_missing_or_malformed_state_is_a_bad_request(state: str | None) -> None:
    found = refusal(state, "n" * 32)
    assert found.status == 400 and "incomplete or damaged" in str(found)
    assert "Start again from the sign-in page." in str(found)


def test_a_forged_state_is_refused() -> None:
    made = new_state(SECRET, NOW)
    nonce, expires, signature = made.state.split(".")
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    for forged in (
        f"{nonce}.{expires}.{flipped}",  # the signature changed
        f"{nonce}.{int(expires) + 3600}.{signature}",  # the expiry moved
        f"{'m' * 32}.{expires}.{signature}",  # another nonce
        sign_state("another secret", nonce, int(expires)),  # signed by someone else
    ):
        found = refusal(forged, nonce)
        assert found.status == 403 and "was not made here" in str(found), forged


def test_an_expired_state_is_refused() -> None:
    made = new_state(SECRET, NOW)
    assert "took longer than 10 minutes" in str(refusal(made.state, made.nonce, NOW + LIFETIME))
    old = sign_state(SECRET, "n" * 32, int(NOW) - 1)
    assert refusal(old, "n" * 32).status == 403


@pytest.mark.parametrize("cookie", [None, "", "m" * 32, "n" * 31, "\udcff" * 32, "ñ" * 32])
def test_a_state_needs_the_cookie_of_the_browser_that_started(cookie: str | None) -> None:
    made = new_state(SECRET, NOW)
    assert "started in another browser" in str(refusal(made.state, cookie))


def test_the_checks_come_in_order_signature_before_expiry_before_cookie() -> None:
    """A forged state is "not made here" even when expired and without a cookie: what is wrong first."""
    made = new_state(SECRET, NOW)
    nonce, expires, _ = made.state.split(".")
    assert "not made here" in str(refusal(f"{nonce}.{expires}.{'0' * 64}", None, NOW + LIFETIME))
    assert "took longer" in str(refusal(made.state, None, NOW + LIFETIME))


# -- the ledger's half (its adds purge by the real clock, so these times are real) -----------------


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger.connect(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")


def test_a_state_row_is_taken_once(ledger: Ledger) -> None:
    now = time.time()
    ledger.add_oauth_state("a" * 64, "/request", now + LIFETIME)
    assert ledger.take_oauth_state("a" * 64, now) == "/request"
    assert ledger.take_oauth_state("a" * 64, now) is None  # a replay finds no row
    assert ledger.take_oauth_state("b" * 64, now) is None


def test_an_expired_state_row_is_not_taken(ledger: Ledger) -> None:
    now = time.time()
    ledger.add_oauth_state("a" * 64, "/fleet", now + 10)
    assert ledger.take_oauth_state("a" * 64, now + 10) is None
    assert ledger.take_oauth_state("a" * 64, now + 11) is None


def test_of_callbacks_racing_with_one_state_exactly_one_wins(ledger: Ledger) -> None:
    now = time.time()
    ledger.add_oauth_state("a" * 64, "/fleet", now + LIFETIME)
    results: list[str | None] = []
    start = threading.Barrier(8)

    def take() -> None:
        start.wait()
        results.append(ledger.take_oauth_state("a" * 64, now))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=str) == ["/fleet", *[None] * 7]


def test_sessions_are_found_by_their_hash_until_they_expire_or_end(ledger: Ledger) -> None:
    now = time.time()
    ledger.add_session("s" * 64, "octocat", 1, ("platform", "dba"), "write", now + 60)
    found = ledger.session("s" * 64, now)
    assert found is not None
    assert (found.login, found.user_id, found.teams, found.permission) == (
        "octocat",
        1,
        ("dba", "platform"),
        "write",
    )
    assert ledger.session("s" * 64, now + 60) is None  # expired
    assert ledger.session("t" * 64, now) is None
    ledger.end_session("s" * 64)
    assert ledger.session("s" * 64, now) is None


def test_expired_rows_are_purged(ledger: Ledger) -> None:
    now = time.time()
    ledger.add_session("s" * 64, "octocat", 1, (), "read", now + 1)
    ledger.add_oauth_state("a" * 64, "/fleet", now + 1)
    ledger.add_oauth_state("b" * 64, "/fleet", now + 10)
    ledger.purge_expired(now + 5)
    assert ledger.take_oauth_state("a" * 64, now) is None  # purged, though not expired at `now`
    assert ledger.session("s" * 64, now) is None
    assert ledger.take_oauth_state("b" * 64, now) == "/fleet"


def test_an_add_purges_what_has_expired(ledger: Ledger) -> None:
    now = time.time()
    ledger.add_oauth_state("a" * 64, "/fleet", now - 1)
    ledger.add_session("s" * 64, "octocat", 1, (), "read", now - 1)
    ledger.add_oauth_state("b" * 64, "/fleet", now + 10)
    assert ledger.take_oauth_state("a" * 64, now - 100) is None
    assert ledger.session("s" * 64, now - 100) is None
