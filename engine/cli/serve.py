"""`dbvend serve`: the REST API, the portal and the queue worker on one machine, until stopped."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import uvicorn

from engine.cli.support import current_settings, reports_errors

if TYPE_CHECKING:
    from engine.checkov.gate import PolicyGate
    from engine.queue.local import LocalQueue
    from engine.queue.worker import Worker
    from engine.services import Services


@click.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1; DBVEND_HOST).")
@click.option("--port", type=int, help="Port to listen on (default 8080; DBVEND_PORT).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Data dir (DBVEND_DATA).")
@click.option(
    "--repo", type=click.Path(file_okay=False, path_type=Path), help="GitOps repository (DBVEND_REPO)."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Requests processed at once, never two for the same database (default 1; DBVEND_WORKERS).",
)
@reports_errors
def serve(
    host: str | None, port: int | None, data_dir: Path | None, repo: Path | None, workers: int | None
) -> None:
    """Run the REST API and the queue workers on the embedded default, until stopped.

    SIGINT or SIGTERM stops taking calls and lets each worker finish the message in hand.
    """
    import threading

    from engine.app import create_app
    from engine.claim_index import ReconcilePass
    from engine.logs import configure_logging
    from engine.notifier import NotificationSender
    from engine.queue.local import LocalQueue
    from engine.queue.pool import WorkerPool, start_gates
    from engine.queue.stuck import StuckPass, stuck_interval
    from engine.services import build_services

    overrides: dict[str, Any] = {
        "host": host,
        "port": port,
        "data": data_dir,
        "repo": repo,
        "workers": workers,
    }
    settings = current_settings(**overrides)
    configure_logging()
    services, new_key = build_services(settings)
    if new_key is not None:
        click.echo(
            f"API key (shown once; only its hash is kept in {settings.data / 'api-keys.json'}):\n  {new_key}",
            err=True,
        )
    queue = LocalQueue(services.ledger, settings.visibility_timeout, settings.max_receives)
    # One checkov worker per queue worker, started now: a missing or broken checkov stops serve at once.
    gates = start_gates(settings.policy_gate, settings.workers)
    consumers = queue_workers(services, queue, gates)
    if services.outbox is None:  # the local queue; with SNS the consumer Lambda runs the pass
        consumers[0].stuck = StuckPass(services.ledger, settings.stuck_after, replies=services.replies)
        consumers[0].stuck_interval = stuck_interval(settings.stuck_after)
    stop = threading.Event()
    pool = WorkerPool(consumers).start(stop)
    # Notifications go out from a thread of their own: a target that hangs never holds up a request.
    sender = NotificationSender(services.ledger, services.backend.catalog).start(stop)
    # The claims index follows the default branch: push webhooks, and this pass (engine.claim_index).
    indexing = ReconcilePass(services.ledger, services.backend).start(stop)
    config = uvicorn.Config(
        create_app(services), host=settings.host, port=settings.port, log_config=None, access_log=False
    )

    def stop_worker() -> None:
        stop.set()
        services.ledger.notified.set()
        pool.join()
        sender.join(10.0)  # a POST in hand ends within its timeout
        indexing.join(10.0)
        pool.close()

    try:
        _Server(config, stop_worker).run()
    finally:
        stop_worker()


def queue_workers(services: Services, queue: LocalQueue, gates: list[PolicyGate]) -> list[Worker]:
    """One worker per policy gate, all with the process's one GitOps backend (on GitHub: one client,
    so one pacer for every worker's writes)."""
    from engine.queue.worker import Worker

    workers = []
    for gate in gates:
        worker = Worker(services.ledger, queue, services.backend, gate, services.settings.terraform_path)
        worker.replies = services.replies
        workers.append(worker)
    return workers


class _Server(uvicorn.Server):
    """uvicorn, stopping the worker (after the message in hand) once the HTTP side has stopped.

    uvicorn re-raises SIGTERM/SIGINT when it returns, so that must happen inside its shutdown.
    """

    def __init__(self, config: uvicorn.Config, on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_stop = on_stop

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        await asyncio.to_thread(self.on_stop)
