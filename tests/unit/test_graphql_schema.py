"""Every GraphQL document in engine/ validates against GitHub's published schema (@octokit/graphql-schema).

The documents are found, not listed: every string constant in engine/**/*.py that starts with
`query Name`, `mutation Name` or `subscription Name`. The fake GitHub of the tests recognises operations
by name and does not parse them (tests/support/github_server.py), so this is the test that catches a field,
argument or type GitHub does not have.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import pytest
from graphql import (
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    parse,
    validate,
)

from tests.support.github_schema import github_schema
from tests.support.paths import ROOT

ENGINE = ROOT / "engine"
# `query Name(`, `mutation Name {`, ...: an operation's keyword and name, then its variables, directives
# or selection (so a message like "query DbvendState failed" is not taken for a document).
OPERATION = re.compile(r"^(query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)\s*[({@]")


@dataclass(frozen=True)
class Operation:
    name: str
    where: str  # engine/<path>:<line>
    text: str


def operations_in(source: str, filename: str) -> list[Operation]:
    """The GraphQL operations among a module's string constants, wherever they are."""
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = OPERATION.match(node.value.strip())
            if match:
                found.append(Operation(match[2], f"{filename}:{node.lineno}", node.value))
    return sorted(found, key=lambda operation: int(operation.where.rpartition(":")[2]))


def engine_operations() -> list[Operation]:
    """Every GraphQL operation in engine/, in file and line order."""
    return [
        operation
        for path in sorted(ENGINE.rglob("*.py"))
        for operation in operations_in(path.read_text(encoding="utf-8"), str(path.relative_to(ENGINE.parent)))
    ]


OPERATIONS = engine_operations()


def validation_errors(schema: GraphQLSchema, text: str) -> list[str]:
    try:
        document = parse(text)
    except GraphQLSyntaxError as error:
        return [str(error)]
    return [_describe(error) for error in validate(schema, document)]


def _describe(error: GraphQLError) -> str:
    lines = ", ".join(f"line {location.line}" for location in error.locations or ())
    return f"{error.message} ({lines})" if lines else error.message


def test_the_engine_has_graphql_documents() -> None:
    assert len(OPERATIONS) >= 4, [operation.where for operation in OPERATIONS]


def test_operation_names_are_unique() -> None:
    # GitHub's logs and the tests' fake GitHub tell operations apart by name.
    names = [operation.name for operation in OPERATIONS]
    repeated = sorted({name for name in names if names.count(name) > 1})
    assert not repeated, [(o.name, o.where) for o in OPERATIONS if o.name in repeated]


@pytest.mark.parametrize("operation", OPERATIONS, ids=[operation.name for operation in OPERATIONS])
def test_document_validates_against_githubs_schema(operation: Operation) -> None:
    errors = validation_errors(github_schema(), operation.text)
    assert not errors, f"{operation.name} ({operation.where}) is not valid on GitHub:\n" + "\n".join(errors)
    document = parse(operation.text)
    names = [
        definition.name.value if definition.name else None
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    ]
    assert names == [operation.name], f"{operation.where}: one operation per document, named {operation.name}"


# Each a small document wrong in one way, and what graphql-core says about it (a pattern): proof that the
# check above cannot pass for want of a schema to compare with.
BROKEN = [
    (
        "unknown field",
        "query Bad($owner: String!, $name: String!) {"
        " repository(owner: $owner, name: $name) { nameWithOwnr } }",
        r"Cannot query field 'nameWithOwnr' on type 'Repository'\.",
    ),
    (
        "unknown argument",
        'query Bad { repository(owner: "acme", name: "infra", branch: "main") { id } }',
        r"Unknown argument 'branch' on field 'Query\.repository'\.",
    ),
    (
        "wrong argument type",
        "query Bad($first: String) { viewer { repositories(first: $first) { totalCount } } }",
        r"Variable '\$first' of type 'String' used in position expecting type 'Int'\.",
    ),
    (
        "missing required argument",
        'query Bad { repository(owner: "acme") { id } }',
        r"[Aa]rgument '(name|Query\.repository\(name:\))' of type 'String!' is required",  # 3.2 | 3.3
    ),
    (
        "undefined variable",
        'query Bad { repository(owner: $owner, name: "infra") { id } }',
        r"Variable '\$owner' is not defined by operation 'Bad'\.",
    ),
    (
        "fragment on a wrong type",
        'query Bad { viewer { repository(name: "infra") {'
        ' object(expression: "HEAD") { ... on User { login } } } } }',
        r"Fragment cannot be spread here as objects of type 'GitObject' can never be of type 'User'\.",
    ),
    (
        "wrong literal type",
        'query Bad { viewer { repositories(first: "ten") { totalCount } } }',
        r"Int cannot represent non-integer value",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN]
)
def test_the_schema_check_catches(text: str, expected: str) -> None:
    errors = validation_errors(github_schema(), text)
    assert any(re.search(expected, error) for error in errors), errors


def test_the_scan_finds_documents_anywhere_in_a_module() -> None:
    source = '''
STATE: Final = """
query One($a: String!) { viewer { login } }
"""
def build() -> str:
    return "mutation Two { x }" + f"{1}"
class Holder:
    text = """  subscription Three @live { y }"""
MESSAGE = "query One failed"
'''
    assert [operation.name for operation in operations_in(source, "example.py")] == ["One", "Two", "Three"]
