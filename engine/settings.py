"""Settings: read once from the environment at the edges, then passed inward."""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """DESIGN.md §4a; each field reads DBVEND_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="DBVEND_", extra="ignore")

    data: Path = Path("dbvend-data")
    repo: Path | None = None
    gitops: str = "local"
    terraform: str = "terraform"  # DBVEND_TERRAFORM: the terraform executable (name or path)

    @property
    def terraform_path(self) -> str | None:
        """The terraform to run checks with, or None when there is none."""
        return shutil.which(self.terraform)

    @property
    def repo_path(self) -> Path:
        return self.repo if self.repo is not None else self.data / "repo"
