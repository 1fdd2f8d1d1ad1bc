"""The composition root: what dbvend is made of at run time, built once per process from one
`Settings` by the entry points (the CLI, `dbvend serve`, the Lambda handlers) and handed inward."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from engine.access import AccessRules
from engine.catalog import Catalog
from engine.errors import DbvendError
from engine.gitops import GitOpsBackend, IssueReplies, PullRequests
from engine.gitops.local import LocalRepository
from engine.keys import KeyStore, RateLimiter, parse_entries, read_key_file
from engine.settings import Settings
from engine.store.ledger import Ledger

if TYPE_CHECKING:
    from engine.queue.sqs import Outbox


log = logging.getLogger("dbvend.services")
RULES_MAX_AGE: Final = 30.0  # seconds


@dataclass
class Services:
    """Built once at start-up (build_services) and handed to every route, page and handler."""

    settings: Settings
    ledger: Ledger
    backend: GitOpsBackend
    keys: KeyStore
    limiter: RateLimiter
    replies: IssueReplies | None = None  # GitHub mode: comments on the request's issue
    pulls: PullRequests | None = None  # GitHub mode: pull-request comment commands
    outbox: Outbox | None = None  # DBVEND_QUEUE=sqs: accepted requests go on through SNS
    _read_catalog: tuple[float, Catalog] | None = field(default=None, repr=False)

    def index_for_reading(self) -> None:
        """The claims index as the fleet reads it. Locally it is brought up to main first (one
        `git ls-tree` when nothing changed); on GitHub only when it was never filled: push webhooks
        and the periodic reconcile keep it, so a page makes no GitHub call. When bringing it up
        fails, the index as last read is shown (and the failure logged)."""
        from engine.claim_index import reconcile_index

        if self.settings.gitops != "local" and self.ledger.index_state() is not None:
            return
        try:
            reconcile_index(self.ledger, self.backend)
        except DbvendError as exc:
            log.warning("the claims index was not reconciled: %s", exc)

    def catalog_for_reading(self) -> Catalog:
        """dbvend.yaml for the routes that only read (pages, lists): read again at most every
        RULES_MAX_AGE seconds (on GitHub each reading of dbvend.yaml is a call). Whatever changes
        a database reads the catalog it checks against as it acts."""
        now = time.monotonic()
        if self._read_catalog is None or now - self._read_catalog[0] > RULES_MAX_AGE:
            self._read_catalog = (now, self.backend.catalog())
        return self._read_catalog[1]

    def access_rules(self) -> AccessRules:
        """dbvend.yaml's access rules for the routes that only read (catalog_for_reading)."""
        return self.catalog_for_reading().access


def build_services(settings: Settings, keys: KeyStore | None = None) -> tuple[Services, str | None]:
    """The ledger, the GitOps backend, the keys; also a newly generated key (shown once) or None."""
    new_key = None
    if keys is None:
        keys, new_key = configured_keys(settings)
    settings.data.mkdir(parents=True, exist_ok=True)
    ledger = Ledger.connect(settings.ledger_url)
    backend, replies, pulls = build_backend(settings, ledger)
    services = Services(
        settings=settings,
        ledger=ledger,
        backend=backend,
        keys=keys,
        limiter=RateLimiter(settings.rate_limit),
        replies=replies,
        pulls=pulls,
        outbox=build_outbox(settings, ledger),
    )
    return services, new_key


def configured_keys(settings: Settings) -> tuple[KeyStore, str | None]:
    """The API keys settings name (DBVEND_API_KEYS_FILE, DBVEND_API_KEY_HASHES, DBVEND_API_KEYS, all
    that are set), else the data dir's own, generated on first start (returned once in plain text)."""
    entries = [
        *(read_key_file(settings.api_keys_file) if settings.api_keys_file is not None else ()),
        *parse_entries(settings.api_key_hash_list, "DBVEND_API_KEY_HASHES", hashed=True),
        *parse_entries(settings.api_key_list, "DBVEND_API_KEYS", hashed=False),
    ]
    if entries:
        return KeyStore(entries), None
    return KeyStore.load_or_generate(settings.data)


def build_outbox(settings: Settings, ledger: Ledger) -> Outbox | None:
    """DBVEND_QUEUE=local (the ledger's own queue: None) or sqs (SNS -> SQS, engine.queue.sqs)."""
    if settings.queue == "local":
        return None
    if settings.queue != "sqs":
        raise DbvendError(f"DBVEND_QUEUE must be local or sqs, not {settings.queue!r}")
    if not settings.sns_topic_arn:
        raise DbvendError("DBVEND_QUEUE=sqs needs DBVEND_SNS_TOPIC_ARN")
    from engine.queue.sqs import Outbox, SnsPublisher

    return Outbox(ledger, SnsPublisher(settings.sns_topic_arn))


def build_backend(
    settings: Settings, ledger: Ledger | None = None
) -> tuple[GitOpsBackend, IssueReplies | None, PullRequests | None]:
    """DBVEND_GITOPS=local (a git repository on this machine) or github (the App). With a ledger,
    issue replies keep their comment ids there (one comment per issue, whatever the concurrency)."""
    if settings.gitops == "local":
        return LocalRepository.open_or_create(settings.repo_path), None, None
    if settings.gitops != "github":
        raise DbvendError(f"DBVEND_GITOPS must be local or github, not {settings.gitops!r}")
    from engine.github.client import Pacer, github_client
    from engine.github.pulls import GitHubPullRequests
    from engine.github.replies import GitHubIssueReplies
    from engine.github.repository import GitHubRepository

    if not settings.github_repository:
        raise DbvendError("DBVEND_GITOPS=github needs DBVEND_GITHUB_REPOSITORY (owner/name)")
    private_key = settings.github_private_key
    if not private_key and settings.github_private_key_file is not None:
        private_key = settings.github_private_key_file.read_text(encoding="utf-8")
    client = github_client(
        base_url=settings.github_api_url,
        token=settings.github_token,
        app_id=settings.github_app_id,
        private_key=private_key,
        installation_id=settings.github_installation_id,
        repository=settings.github_repository,
        pacer=Pacer(
            limits=((settings.github_writes_per_minute, 60.0), (settings.github_writes_per_hour, 3600.0))
        ),
    )
    repository = GitHubRepository(client, settings.github_repository, changes_store=ledger, index=ledger)
    full_name = settings.github_repository
    replies = GitHubIssueReplies(client, full_name, ledger)
    return repository, replies, GitHubPullRequests(client, full_name)


def actions_github(settings: Settings) -> tuple[Any, str] | None:
    """In a CI job: a GitHub client with the job's token (GITHUB_TOKEN, else DBVEND_GITHUB_TOKEN)
    and the repository it runs for, or None when the job has no token or repository."""
    from engine.github.client import github_client

    token = os.environ.get("GITHUB_TOKEN") or settings.github_token
    repository = os.environ.get("GITHUB_REPOSITORY") or settings.github_repository
    if not token or not repository:
        return None
    api = os.environ.get("GITHUB_API_URL") or settings.github_api_url
    return github_client(base_url=api.rstrip("/") + "/" if api else None, token=token), repository


def job_backend(settings: Settings) -> tuple[GitOpsBackend, IssueReplies | None] | None:
    """In a CI job: the GitOps store and issue replies on GitHub (the App when DBVEND_GITOPS=github,
    else the job's own token), or None without either."""
    if settings.gitops == "github":
        backend, replies, _ = build_backend(settings)
        return backend, replies
    found = actions_github(settings)
    if found is None:
        return None
    from engine.github.replies import GitHubIssueReplies
    from engine.github.repository import GitHubRepository

    client, repository = found
    return GitHubRepository(client, repository), GitHubIssueReplies(client, repository)
