"""GitHub's GraphQL schema (@octokit/graphql-schema, tests/octokit/), built once per test process and
refusing any error in it but its two known quirks."""

from __future__ import annotations

import functools
import re

from graphql import (
    DocumentNode,
    FieldDefinitionNode,
    GraphQLSchema,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    build_ast_schema,
    parse,
    print_ast,
    validate_schema,
)
from graphql.validation.validate import validate_sdl

from tests.support.octokit import GRAPHQL_SCHEMA, require_octokit

# Two quirks of GitHub's schema that graphql-core refuses, and nothing else is forgiven: two fields of
# EnterpriseOwnerInfo are defined twice (identical but for the description), and some deprecated fields
# implement interface fields that are not deprecated (a rule graphql-js 16, GitHub's, does not have).
REPEATED_FIELD = re.compile(r"^Field '(\w+)\.(\w+)' can only be defined once\.$")
DEPRECATED_IMPLEMENTATION = re.compile(
    r"^Interface field \w+\.\w+ is not deprecated, so implementation field \w+\.\w+ must not be deprecated\.$"
)


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
