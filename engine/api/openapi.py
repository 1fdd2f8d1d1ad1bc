"""What the OpenAPI document says that FastAPI cannot see: the bodies read by hand (their models in
engine.api.bodies), what each route answers on success, and one error schema for every refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Final, Literal, get_type_hints

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, RootModel, WithJsonSchema, create_model

from engine.api.bodies import BODIES, REQUEST_EXAMPLES, DatabaseRequestBody, one_of, without_null
from engine.connection import Connection
from engine.gitops import CHANGE_STATUSES, Change
from engine.modify import Effect
from engine.store.records import CHANNELS, STATUSES


class FieldRule(BaseModel):
    """One rule one field breaks."""

    field: str = Field(description="The field, header or parameter, as the caller named it.")
    rule: str = Field(description="What it must be.")


class ErrorAnswer(BaseModel):
    """Every refusal and failure: a sentence, and the fields it names when there are any."""

    detail: str
    errors: list[FieldRule] = Field(default_factory=list, description="Present when fields are named.")


# What the routes answer on success. These models only document the dicts the routes build, in
# each route's `responses`: the routes keep their `dict[str, Any]` response model, so what clients
# receive is serialized as before, byte for byte (a response_model=None route would go through
# jsonable_encoder and json.dumps instead of pydantic: 1e-07 where it was 1e-7). _amend drops the
# generic object FastAPI infers from that annotation. tests/integration/test_openapi.py validates
# real answers against these models, so they cannot drift from the code.
RequestStatus = Annotated[str, WithJsonSchema({"type": "string", "enum": list(STATUSES)})]
ChangeStatus = Annotated[str, WithJsonSchema({"type": "string", "enum": list(CHANGE_STATUSES)})]
AnyObject = Annotated[dict[str, Any], WithJsonSchema({"type": "object"})]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")  # every answer holds exactly these fields


class ProvisionAccepted(_Answer):
    """The seed's contract: the request is recorded and queued."""

    message: Literal["Request accepted"]
    sns_message_id: str = Field(description="The queue's message id (SNS's, in AWS).")
    request_id: str = Field(description="Its status is at /v1/requests/{request_id}.")


class DatabaseAccepted(_Answer):
    """A request recorded and queued, and where its status is read."""

    request_id: str
    status: RequestStatus
    message_id: str = Field(description="The queue's message id (SNS's, in AWS).")
    location: str = Field(description="/v1/requests/{request_id}")


class RequestEvent(_Answer):
    """One step of a request's history."""

    status: RequestStatus
    at: str
    detail: str | None


class RequestStatusAnswer(_Answer):
    """A request as the ledger knows it (engine.store.records.RequestRecord.as_dict)."""

    request_id: str
    channel: Annotated[str, WithJsonSchema({"type": "string", "enum": list(CHANNELS)})]
    requester: str
    request: AnyObject = Field(description="The request as it was asked for.")
    environment: str
    identifier: str
    database_name: str
    owner: str | None
    status: RequestStatus
    change_id: int | None
    change_link: str | None
    errors: list[AnyObject] = Field(description="Why it was refused or failed; empty otherwise.")
    policy: AnyObject | None = Field(description="The policy gate's findings, once it ran.")
    created_at: str
    updated_at: str
    history: list[RequestEvent]


class DatabaseSummary(_Answer):
    """One requested database in a listing."""

    environment: str
    identifier: str
    database_name: str
    engine: str | None
    owner: str | None
    status: RequestStatus
    request_id: str
    change_id: int | None
    change_link: str | None
    created_at: str


class DatabasePage(_Answer):
    """A page of requested databases, newest first."""

    items: list[DatabaseSummary]
    next_cursor: str | None = Field(
        description="Pass it back as `cursor` for the next page; null on the last."
    )


class ChangeLink(_Answer):
    """A change in short: its number, status, branch and link."""

    id: int
    status: ChangeStatus
    branch: str
    link: str | None


class CostLineAnswer(_Answer):
    item: str
    monthly_usd: float


class CostAnswer(_Answer):
    """A monthly cost estimate in USD (engine.cost.CostEstimate)."""

    monthly_usd: float
    lines: list[CostLineAnswer]
    unpriced: list[str]
    ceiling: CostLineAnswer | None
    source: str


# How to reach a database, as engine.connection.Connection holds it, field for field: every field in
# every answer (so all required), the optional ones nullable. No secret: the password's secret by ARN.
ConnectionAnswer: type[_Answer] = create_model(  # type: ignore[call-overload]
    "ConnectionAnswer",
    __base__=_Answer,
    __doc__="Where the database answers and who signs in; the password stays in Secrets Manager.",
    **{name: (hint, ...) for name, hint in get_type_hints(Connection).items()},
)


class DatabaseAnswer(_Answer):
    """One database: its claim, status and errors, monthly cost estimate and expiry."""

    environment: str
    identifier: str
    status: RequestStatus
    request_id: str | None
    errors: list[AnyObject]
    change: ChangeLink | None
    claim: AnyObject | None = Field(description="Its request.json, once there is one.")
    cost: CostAnswer | None
    expires_at: str | None
    extensions: int
    destroy_requested_at: str | None
    connection: ConnectionAnswer | None = Field(  # type: ignore[valid-type]
        description="How to connect, once applied (never a password); null before that."
    )


class ExtensionAnswer(_Answer):
    """An extension opened: the expiry it moves to once merged, and its change."""

    environment: str
    identifier: str
    expires_at: str | None
    previous_expires_at: str | None
    extensions: int
    change: ChangeLink


class EffectAnswer(_Answer):
    """One field a modification changes, and what RDS does to the running database (engine.modify)."""

    field: str
    before: str
    after: str
    impact: str = Field(description="in place / with a reboot / new or removed resources, and when.")
    what: str = Field(description="What happens to the running database.")
    source: str = Field(description="The AWS document that says so.")


class ModificationAnswer(_Answer):
    """A modification opened: what each field does to the running database, and its change."""

    environment: str
    identifier: str
    modifications: int = Field(description="Its count: the change's branch ends in .modify-<count>.")
    allow_major_version_upgrade: bool = Field(description="A major engine upgrade, allowed for this change.")
    effects: list[EffectAnswer]
    change: ChangeLink


def effect_answer(effect: Effect) -> dict[str, Any]:
    """An engine.modify.Effect as EffectAnswer documents it."""
    behaviour = effect.behaviour
    return {
        "field": effect.field,
        "before": effect.before,
        "after": effect.after,
        "impact": effect.impact,
        "what": behaviour.what,
        "source": behaviour.source,
    }


class DatabaseChangeAnswer(RootModel[ExtensionAnswer | ModificationAnswer]):
    """What PATCH answers: an extension's (for {"ttl"}) or a modification's."""

    model_config = ConfigDict(json_schema_extra=lambda schema: one_of(schema))


class DestructionAnswer(_Answer):
    """A destroy change opened."""

    environment: str
    identifier: str
    change: ChangeLink


# A change as engine.gitops.Change holds it, field for field (every field in every answer, so all
# required; the record's optional ones nullable), its status one of CHANGE_STATUSES.
_CHANGE_FIELDS: Final = {name: (hint, ...) for name, hint in get_type_hints(Change).items()}
ChangeAnswer: type[_Answer] = create_model(  # type: ignore[call-overload]
    "ChangeAnswer",
    __base__=_Answer,
    __doc__="A proposed change: a branch with one commit, waiting to be merged.",
    **_CHANGE_FIELDS | {"status": (ChangeStatus, ...)},
)


class ChangeList(_Answer):
    items: list[ChangeAnswer]  # type: ignore[valid-type]


class HealthAnswer(_Answer):
    """`ok`, or `degraded` with what is wrong with the GitHub App's installation."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=lambda schema: _no_default(schema, "detail"))

    status: Literal["ok", "degraded"]
    detail: str = Field("", description="Present only when degraded.")


class WebhookOutcome(BaseModel):
    """What a delivery did: a sentence, and what each handler adds (request ids, commands)."""

    model_config = ConfigDict(extra="allow")

    detail: str


def _no_default(schema: dict[str, Any], name: str) -> None:
    """A field that is absent rather than defaulted: no `default` for clients to invent."""
    properties: dict[str, Any] = schema["properties"]
    properties[name].pop("default", None)


def answer(model: type[BaseModel], description: str, **extra: Any) -> dict[str, Any]:
    """A success answer of a route, for its `responses`: its body documented as `model`."""
    return {"model": model, "description": description} | extra


_REFUSALS: Final[dict[int, str]] = {
    400: "The body is not valid JSON (duplicate keys, NaN and Infinity included).",
    401: "No x-api-key header.",
    403: "An x-api-key that is not a key (the same answer as 401).",
    404: "Nothing by that name.",
    409: "It conflicts with what exists or is under way.",
    413: "The body is too large: above 64 KiB (5 MiB for the GitHub webhook).",
    415: "The body is not sent as Content-Type: application/json.",
    422: "A field, parameter or header breaks a rule: each is named in errors.",
    429: "Over the key's rate limit; try again after Retry-After seconds.",
    503: "Something dbvend needs did not answer; try again after Retry-After seconds.",
}
_RETRY_AFTER: Final = {
    "Retry-After": {"description": "Seconds to wait.", "required": True, "schema": {"type": "integer"}}
}


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers of a route, for its `responses`: each one ErrorAnswer."""
    return {
        status: {"model": ErrorAnswer, "description": _REFUSALS[status]}
        | ({"headers": _RETRY_AFTER} if status in (429, 503) else {})
        for status in statuses
    }


KEYED: Final = refusals(401, 403, 422, 429)
"""What every route behind the API key may answer."""
WITH_BODY: Final = refusals(400, 413, 415)
"""What every route reading a JSON body may answer besides."""


def links(**targets: dict[str, str]) -> dict[str, Any]:
    """A success answer's OpenAPI links: operation id -> its parameters, read from this answer."""
    named = {
        operation_id: {
            "operationId": operation_id,
            "parameters": {name: f"$response.body#/{field}" for name, field in parameters.items()},
        }
        for operation_id, parameters in targets.items()
    }
    return {"links": named}


TO_REQUEST: Final = links(get_request={"request_id": "request_id"})
"""From an accepted request to its status."""
_DATABASE: Final = {"environment": "environment", "identifier": "identifier"}
TO_DATABASE: Final = links(
    get_database=_DATABASE,
    change_database=_DATABASE,
    destroy_database=_DATABASE,
    clone_database=_DATABASE,
    merge_change={"change_id": "change_id"},
)
"""From a request's status to its database and its change."""
_FIRST: Final = {"environment": "items/0/environment", "identifier": "items/0/identifier"}
TO_FIRST_DATABASE: Final = links(
    get_request={"request_id": "items/0/request_id"},
    get_database=_FIRST,
    change_database=_FIRST,
    destroy_database=_FIRST,
    clone_database=_FIRST,
)
"""From a listing of databases to the first one."""
TO_FIRST_CHANGE: Final = links(merge_change={"change_id": "items/0/id"})
"""From a listing of changes to merging the first one."""


def json_body(model: type[BaseModel], examples: dict[str, Any]) -> dict[str, Any]:
    """A route's `openapi_extra` declaring the JSON body it reads by hand as `model`."""
    media = {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}, "examples": examples}
    return {"requestBody": {"required": True, "content": {"application/json": media}}}


def asks_for_a_database(accepted: type[BaseModel]) -> dict[str, Any]:
    """The route arguments of the two doors that take a DatabaseRequestBody (engine.api.deps.Accepted),
    each answering 202 with its own `accepted` body."""
    return {
        "status_code": 202,
        "openapi_extra": json_body(DatabaseRequestBody, REQUEST_EXAMPLES),
        "responses": WITH_BODY
        | refusals(409, 503)
        | {202: answer(accepted, "Recorded and queued; its status is at Location.", **TO_REQUEST)},
    }


def install(app: FastAPI) -> None:
    """Make app.openapi add the bodies' schemas and drop FastAPI's default 422 answer (every 422
    is ErrorAnswer, declared by the routes that can answer it) and the generic object it infers
    for a success answer documented by a model."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _amend(generate())  # FastAPI keeps what it generated in app.openapi_schema
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _amend(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in BODIES:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    default = "#/components/schemas/HTTPValidationError"
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422", {})
            if answer.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref") == default:
                del operation["responses"]["422"]
            for status, response in operation.get("responses", {}).items():
                media = response.get("content", {}).get("application/json", {})
                if int(status) < 400 and "$ref" in media.get("schema", {}):  # documented by a model
                    media["schema"] = {"$ref": media["schema"]["$ref"]}
            for parameter in operation.get("parameters", []):
                parameter["schema"] = without_null(parameter["schema"])
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
