"""A database's Terraform root in the infrastructure repository: terraform/<env>/<identifier>."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

PREFIX: Final = "terraform"
_ROOT: Final = re.compile(rf"{PREFIX}/([^/]+)/([^/]+)")


@dataclass(frozen=True, order=True)
class Root:
    environment: str
    identifier: str

    @property
    def path(self) -> str:
        return f"{PREFIX}/{self.environment}/{self.identifier}"

    def file(self, name: str) -> str:
        """A file of the root, by its path in the repository."""
        return f"{self.path}/{name}"

    def __str__(self) -> str:
        return self.path

    @classmethod
    def parse(cls, path: str) -> Root | None:
        """The root `path` names exactly (terraform/<env>/<id>, no trailing part); else None."""
        found = _ROOT.fullmatch(path)
        return cls(found[1], found[2]) if found else None

    @classmethod
    def of(cls, path: str) -> Root:
        """As parse, for a path known to be a root; ValueError naming it otherwise."""
        root = cls.parse(path)
        if root is None:
            raise ValueError(f"{path!r} is not a database root (terraform/<env>/<identifier>)")
        return root
