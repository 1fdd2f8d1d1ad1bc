"""Every GraphQL document in engine/ validates against GitHub's published schema (@octokit/graphql-schema).

The documents are found, not listed: every string constant in engine/**/*.py that starts with
`query Name`, `mutation Name` or `subscription Name`. The fake GitHub of the tests recognises operations
by name and does not parse them (tests/github_server.py), so this is the test that catches a field,
argument or type GitHub does not have.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from graphql import (
    DocumentNode,
    FieldDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    OperationDefinitionNode,
    build_ast_schema,
    parse,
    print_ast,
    validate,
    validate_schema,
)
from graphql.validation.validate import validate_sdl

from tests.octokit import GRAPHQL_SCHEMA, require_octokit

ENGINE = Path(__file__).resolve().parent.parent / "engine"
# `query Name(`, `mutation Name {`, ...: an operation's keyword and name, then its variables, directives
# or selection (so a message like "query DbvendState failed" is not taken for a document).
OPERATION = re.compile(r"^(query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)\s*[({@]")
# Two quirks of GitHub's schema that graphql-core refuses, and nothing else is forgiven: two fields of
# EnterpriseOwnerInfo are defined twice (identical but for the description), and some deprecated fields
# implement interface fields that are not deprecated (a rule graphql-js 16, GitHub's, does not have).
REPEATED_FIELD = re.compile(r"^Field '(\w+)\.(\w+)' can only be defined once\.$")
DEPRECATED_IMPLEMENTATION = re.compile(
    r"^Interface field \w+\.\w+ is not deprecated, so implementation field \w+\.\w+ must not be deprecated\.$"
)


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


def _field_signature(field: FieldDefinitionNode) -> tuple[object, ...]:
    """A field's type, arguments (name, type, default) and directives: everything but its descriptions."""
    arguments = tuple(
        (arg.name.value, print_ast(arg.type), print_ast(arg.default_value) if arg.default_value else "")
        for arg in field.arguments or ()
    )
    directives = tuple(print_ast(directive) for directive in field.directives or ())
    return (print_ast(field.type), *arguments, "@", *directives)


def _identical_twins(document: DocumentNode, type_name: str, field_name: str) -> bool:
    kinds = (
        ObjectTypeDefinitionNode,
        ObjectTypeExtensionNode,
        InterfaceTypeDefinitionNode,
        InterfaceTypeExtensionNode,
    )
    twins = {
        _field_signature(field)
        for definition in document.definitions
        if isinstance(definition, kinds) and definition.name.value == type_name
        for field in definition.fields or ()
        if field.name.value == field_name
    }
    return len(twins) == 1


def build_github_schema(sdl: str) -> GraphQLSchema:
    """GitHub's schema, refusing any error in it but its two known quirks."""
    document = parse(sdl, no_location=True)
    errors = []
    for error in validate_sdl(document):
        twin = REPEATED_FIELD.match(error.message)
        if not (twin and _identical_twins(document, twin[1], twin[2])):
            errors.append(error.message)
    schema = build_ast_schema(document, assume_valid_sdl=True)
    errors += [e.message for e in validate_schema(schema) if not DEPRECATED_IMPLEMENTATION.match(e.message)]
    assert not errors, "GitHub's schema.graphql is not valid:\n" + "\n".join(errors)
    # The same types, marked valid: validate() would otherwise refuse the schema for its quirks.
    kwargs = schema.to_kwargs()
    kwargs["assume_valid"] = True
    return GraphQLSchema(**kwargs)


@functools.cache
def _github_schema() -> GraphQLSchema:
    return build_github_schema(GRAPHQL_SCHEMA.read_text(encoding="utf-8"))


def github_schema() -> GraphQLSchema:
    """GitHub's schema, built once per test process (about 2 s); a test failure under CI without it."""
    require_octokit()
    return _github_schema()


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
