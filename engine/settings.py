"""Settings: read once from the environment at the edges, then passed inward."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from engine.checkov.gate import PolicyGate


class Settings(BaseSettings):
    """DESIGN.md §4a; each field reads DBVEND_<NAME> unless it names another variable."""

    model_config = SettingsConfigDict(env_prefix="DBVEND_", extra="ignore")

    data: Path = Path("dbvend-data")
    repo: Path | None = None
    gitops: str = "local"
    terraform: str = "terraform"  # DBVEND_TERRAFORM: the terraform executable (name or path)
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    api_keys: str | None = None  # DBVEND_API_KEYS: comma-separated; generated once when unset
    api_key_hashes: str | None = None  # DBVEND_API_KEY_HASHES: their SHA-256 hex digests, instead
    # DBVEND_API_KEYS_FILE: a JSON file of named keys [{"name", "role", "sha256"}] (engine.keys)
    api_keys_file: Path | None = None
    # Sign-in to the portal (issue 23): with an API key, with GitHub (the App's OAuth credentials), or both.
    signin_api_key: bool = True  # DBVEND_SIGNIN_API_KEY=false: the portal takes no API keys
    github_client_id: str | None = None  # the App's "Client ID"
    github_client_secret: str | None = None  # and a client secret generated for it
    github_client_secret_secret_arn: str | None = None
    github_web_url: str | None = None  # default https://github.com/ (GitHub Enterprise: its web address)
    github_org: str | None = None  # whose teams count; default the infrastructure repository's owner
    public_url: str | None = None  # DBVEND_PUBLIC_URL: the portal's address GitHub sends people back to
    rate_limit: int = Field(default=60, ge=1)  # requests per minute per API key
    visibility_timeout: float = Field(default=30.0, gt=0)  # seconds a received message stays hidden
    max_receives: int = Field(default=5, ge=1)  # deliveries before a message is dead-lettered
    # DBVEND_WORKERS: requests run at once (`dbvend serve` threads; a Lambda batch's concurrency),
    # each with its own checkov worker; never two for the same database (engine.queue.pool)
    workers: int = Field(default=1, ge=1, le=64)
    # DBVEND_STUCK_AFTER: seconds an accepted request's sent message may go untaken before it is
    # sent again (once), and after that before the request is failed (engine.queue.stuck)
    stuck_after: float = Field(default=900.0, gt=0)
    checkov: str | None = None  # DBVEND_CHECKOV: checkov's virtualenv or executable (.tools/checkov)
    checkov_cli_fallback: bool = False  # one checkov CLI process per scan if the warm worker fails
    policy_timeout: float = Field(default=120.0, gt=0)  # seconds one policy scan may take
    # GitHub (the App): DBVEND_GITHUB_*; see github-app/README.md.
    github_repository: str | None = None  # owner/name of the infrastructure repository
    github_api_url: str | None = None  # default https://api.github.com/; tests point it at their server
    github_app_id: str | None = None
    github_private_key: str | None = None  # PEM text, or
    github_private_key_file: Path | None = None
    github_installation_id: int | None = None  # found from the repository when unset
    github_token: str | None = None  # instead of the App: a token (development only)
    github_webhook_secret: str | None = None
    # GitHub's secondary limits on content-creating calls (GitHub Enterprise Server sets its own).
    github_writes_per_minute: int = Field(default=80, ge=1)
    github_writes_per_hour: int = Field(default=500, ge=1)
    # AWS (engine.aws, github-app/template.yaml): the transport, and secrets from Secrets Manager.
    queue: str = "local"  # DBVEND_QUEUE: local (the ledger database) or sqs (SNS -> SQS)
    sns_topic_arn: str | None = None
    sqs_queue_url: str | None = None
    github_private_key_secret_arn: str | None = None
    github_webhook_secret_secret_arn: str | None = None
    api_key_hashes_secret_arn: str | None = None
    database_url_secret_arn: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)

    @property
    def terraform_path(self) -> str | None:
        """The terraform to run checks with, or None when there is none."""
        return shutil.which(self.terraform)

    @property
    def repo_path(self) -> Path:
        return self.repo if self.repo is not None else self.data / "repo"

    @property
    def ledger_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data / 'ledger.sqlite3').resolve()}"

    def policy_gate(self) -> PolicyGate:
        """The policy gate these settings describe (CheckovMissing when there is no checkov)."""
        from engine.checkov.gate import PolicyGate, find_checkov

        return PolicyGate(
            find_checkov(self.checkov), timeout=self.policy_timeout, cli_fallback=self.checkov_cli_fallback
        )

    @property
    def github_signin(self) -> bool:
        """Signing in with GitHub is configured (the App's client id and secret)."""
        return bool(self.github_client_id and self.github_client_secret)

    @property
    def has_ledger(self) -> bool:
        """A ledger is configured (DATABASE_URL) or `dbvend serve` has made one in the data dir."""
        return bool(self.database_url) or (self.data / "ledger.sqlite3").exists()

    @property
    def api_key_list(self) -> list[str]:
        return [key.strip() for key in (self.api_keys or "").split(",") if key.strip()]

    @property
    def api_key_hash_list(self) -> list[str]:
        return [digest.strip() for digest in (self.api_key_hashes or "").split(",") if digest.strip()]
