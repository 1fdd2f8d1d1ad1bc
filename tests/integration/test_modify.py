"""A day-two change (engine.modify) through each front door: PATCH, the portal's Change form and
`dbvend modify` each open exactly one change on dbvend/<env>/<id>.modify-<n>, a retry finds it again,
and one change of a database is open at a time. (/modify on GitHub: test_comment_golden.py.)"""

from __future__ import annotations

import re
from typing import Any

from click.testing import CliRunner
from fastapi.testclient import TestClient

from engine.checkov.gate import PolicyGate
from engine.claim import Claim, parse_claim
from engine.cli import main
from engine.services import Services
from tests.support import app
from tests.support.app import KEY, ORDERS, drain, form_token, submit

services = app.services
browser = app.browser
DATABASE = "/v1/databases/dev/orders"
CLAIM = "terraform/dev/orders/request.json"


def merged_orders(browser: TestClient, services: Services, gate: PolicyGate) -> None:
    """dev/orders (postgres, 20 GB, small) requested through the portal and merged."""
    answer: Any = submit(browser, ORDERS)
    request_id = answer.headers["location"].rsplit("/", 1)[1]
    drain(services, gate)
    change_id = services.ledger.get(request_id).change_id  # type: ignore[union-attr]
    assert browser.post(f"/v1/changes/{change_id}/merge", headers=KEY).status_code == 200


def claim_of(services: Services, change_id: int) -> Claim:
    change = services.backend.change(change_id)
    return parse_claim(services.backend.read_file(change.commit, CLAIM) or "")


def modify_changes(services: Services) -> list[str]:
    return [c.branch for c in services.backend.changes() if ".modify-" in c.branch]


def test_a_resize_through_the_api_is_one_change_found_again(
    browser: TestClient, services: Services, gate: PolicyGate
) -> None:
    merged_orders(browser, services, gate)
    resize = {"size": "medium", "storage_gb": 40}
    answer = browser.patch(DATABASE, headers=KEY, json=resize)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["change"]["branch"] == "dbvend/dev/orders.modify-1" and body["modifications"] == 1
    assert [(e["field"], e["before"], e["after"]) for e in body["effects"]] == [
        ("size", "small (db.t3.micro)", "medium (db.t3.small)"),
        ("storage_gb", "20", "40"),
    ]
    assert body["effects"][0]["impact"] == "with a reboot, during the maintenance window"
    assert body["allow_major_version_upgrade"] is False
    again = browser.patch(DATABASE, headers=KEY, json=resize)  # a retry: the same change
    assert again.status_code == 200 and again.json()["change"] == body["change"]
    other = browser.patch(DATABASE, headers=KEY, json={"size": "large"})
    assert other.status_code == 409 and "already open in change" in other.json()["detail"]
    assert modify_changes(services) == ["dbvend/dev/orders.modify-1"]
    # an extension waits for it too: both rewrite request.json
    waiting = browser.patch(DATABASE, headers=KEY, json={"ttl": "5d"})
    assert waiting.status_code == 409, waiting.text
    assert f"change #{body['change']['id']} of dev/orders is open" in waiting.json()["detail"]
    # merged, the next modification waits for the open extension: one change of a database at a time
    assert browser.post(f"/v1/changes/{body['change']['id']}/merge", headers=KEY).status_code == 200
    extension = browser.patch(DATABASE, headers=KEY, json={"ttl": "5d"}).json()["change"]
    held = browser.patch(DATABASE, headers=KEY, json={"size": "large"})
    assert held.status_code == 409, held.text
    assert f"change #{extension['id']} of dev/orders is open" in held.json()["detail"]
    change = services.backend.change(body["change"]["id"])
    assert "| size | small (db.t3.micro) | medium (db.t3.small) |" in change.description
    assert "### Policy gate: pass" in change.description
    claim = claim_of(services, change.id)
    assert (claim.instance_class, claim.storage_gb, claim.request.size) == ("db.t3.small", 40, "medium")


def test_modification_refusals_through_the_api_name_the_field(
    browser: TestClient, services: Services, gate: PolicyGate
) -> None:
    merged_orders(browser, services, gate)
    cases = {
        "ttl": {"ttl": "3d", "size": "medium"},
        "storage_gb": {"storage_gb": 10},
        "database_engine": {"database_engine": "mysql"},
        "min_acu": {"min_acu": 1},
        "colour": {"colour": "red"},
        "size": {"size": "small"},  # nothing to change
    }
    for field, body in cases.items():
        answer = browser.patch(DATABASE, headers=KEY, json=body)
        assert answer.status_code == 422, (field, answer.text)
        assert field in {e["field"] for e in answer.json()["errors"]}, (field, answer.text)
    shrink = browser.patch(DATABASE, headers=KEY, json={"storage_gb": 20}).json()
    assert shrink["errors"] == [{"field": "storage_gb", "rule": "is already 20: nothing to change"}]
    assert browser.patch("/v1/databases/dev/none", headers=KEY, json={"size": "large"}).status_code == 404
    assert modify_changes(services) == []


def test_a_resize_from_the_portal_is_one_change(
    browser: TestClient, services: Services, gate: PolicyGate
) -> None:
    merged_orders(browser, services, gate)
    page = browser.get("/databases/dev/orders").text
    assert '<button type="submit">Change</button>' in page
    assert '<label for="f-size">Size</label>' in page and '<label for="f-storage_gb">' in page
    token = form_token(browser, "/databases/dev/orders")
    refused = browser.post("/databases/dev/orders/modify", data={"csrf": token, "storage_gb": "21"})
    assert refused.status_code == 422
    assert 'id="error-storage_gb">must grow by at least 10% (at least 22 GB)' in refused.text
    assert 'name="storage_gb" value="21"' in refused.text
    # a summary at the top says so, linking to the field (the form itself is far down the page)
    summary = refused.text.split('id="error-summary"', 1)[1].split("</div>", 1)[0]
    assert '<a href="#f-storage_gb">storage_gb</a>: must grow by at least 10%' in summary
    typed = browser.post("/databases/dev/orders/modify", data={"csrf": token, "readers": "many"})
    assert typed.status_code == 422 and 'id="error-readers">readers must be a number' in typed.text
    form = {"csrf": token, "size": "medium", "storage_gb": "", "owner": ""}
    done = browser.post("/databases/dev/orders/modify", data=form)
    assert done.status_code == 303
    assert re.fullmatch(r"/databases/dev/orders\?done=modify-\d+", done.headers["location"])
    shown = browser.get(done.headers["location"]).text
    said = re.search(r'role="status">Modification proposed in change #(\d+)', shown)
    assert said is not None
    change = services.backend.change(int(said.group(1)))
    assert change.branch == "dbvend/dev/orders.modify-1"
    assert claim_of(services, change.id).instance_class == "db.t3.small"
    again = browser.post("/databases/dev/orders/modify", data=form)  # posted twice: the same change
    assert again.headers["location"] == done.headers["location"]
    assert modify_changes(services) == ["dbvend/dev/orders.modify-1"]
    other = browser.post("/databases/dev/orders/modify", data={"csrf": token, "size": "large"})
    assert other.status_code == 409 and 'id="error-modify">a modification of dev/orders' in other.text
    assert "<h2>Nothing was changed</h2>" in other.text
    forged = browser.post("/databases/dev/orders/modify", data={"size": "large"})
    assert forged.status_code == 403


def test_a_resize_with_the_cli_is_one_change(
    browser: TestClient, services: Services, gate: PolicyGate
) -> None:
    merged_orders(browser, services, gate)
    env = {"DBVEND_DATA": str(services.settings.data)}

    def dbvend(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(main, ["modify", "dev/orders", *args], env=env)
        assert result.exit_code == code, result.output
        return result.output

    said = dbvend("--size", "large", "--storage-gb", "100", "--by", "alice")
    found = re.search(r"change #(\d+) \(dbvend/dev/orders\.modify-1\) changes dev/orders:", said)
    assert found is not None, said
    assert "size: small (db.t3.micro) -> large (db.t3.medium): with a reboot" in said
    assert "storage_gb: 20 -> 100: in place, during the maintenance window" in said
    assert f"change #{found.group(1)} " in dbvend("--size", "large", "--storage-gb", "100")  # found again
    assert modify_changes(services) == ["dbvend/dev/orders.modify-1"]
    assert "storage_gb" in dbvend("--storage-gb", "10", code=2)
    assert "say what to change" in dbvend(code=2)
    services.backend.merge(int(found.group(1)))
    after = dbvend("--owner", "bob")
    assert "(dbvend/dev/orders.modify-2)" in after and "owner: alice -> bob: in place, when applied" in after
    claim = parse_claim(services.backend.read_file(None, CLAIM) or "")
    assert (claim.instance_class, claim.storage_gb, claim.modifications) == ("db.t3.medium", 100, 1)


def test_the_change_form_of_an_aurora_cluster_asks_for_its_own_fields(
    browser: TestClient, services: Services, gate: PolicyGate
) -> None:
    asked = {"database_name": "events", "database_engine": "aurora-postgresql", "environment": "dev"}
    answer = browser.post("/v1/databases", headers=KEY, json=asked)
    drain(services, gate)
    change_id = services.ledger.get(answer.json()["request_id"]).change_id  # type: ignore[union-attr]
    assert browser.post(f"/v1/changes/{change_id}/merge", headers=KEY).status_code == 200
    page = browser.get("/databases/dev/events").text
    for label in ('for="f-min_acu"', 'for="f-max_acu"', 'for="f-readers"', 'for="f-proxy"'):
        assert label in page
    assert 'for="f-size"' not in page and 'for="f-storage_gb"' not in page
    token = form_token(browser, "/databases/dev/events")
    done = browser.post("/databases/dev/events/modify", data={"csrf": token, "readers": "1", "max_acu": "2"})
    assert done.status_code == 303, done.text
    change = services.backend.change(int(done.headers["location"].rsplit("-", 1)[1]))
    assert change.branch == "dbvend/dev/events.modify-1"
    claim = parse_claim(services.backend.read_file(change.commit, "terraform/dev/events/request.json") or "")
    assert (claim.readers, claim.max_acu) == (1, 2.0)
    assert "new reader instances are created" in change.description
