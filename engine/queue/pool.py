"""More than one worker in a process: requests in parallel, never two for the same database at once."""

# Threads, not processes: a request's time goes mostly to subprocesses (git plumbing, the checkov
# worker over a pipe) and the ledger, which all run outside the GIL. Each worker has its own policy
# gate (a gate scans one root at a time); the GitOps backend, and with it GitHub's pacer, is the
# process's one and is shared (engine.services builds it once).

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from engine.checkov.gate import PolicyGate

log = logging.getLogger("dbvend.worker")

T = TypeVar("T")
W = TypeVar("W")


@dataclass
class _Held:
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


class DatabaseLocks:
    """One lock per database ("env/identifier"), made when first wanted and dropped when unused.

    The queue hands each delivery to one worker; this keeps two deliveries for the same database (a
    redelivery while the first is still at work, a re-sent message) from running at the same time.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held: dict[str, _Held] = {}

    @contextmanager
    def hold(self, database: str) -> Iterator[None]:
        """Wait for the database's lock and hold it for the block."""
        with self._guard:
            held = self._held.setdefault(database, _Held())
            held.users += 1
        held.lock.acquire()
        try:
            yield
        finally:
            held.lock.release()
            with self._guard:
                held.users -= 1
                if held.users == 0:
                    del self._held[database]

    def __len__(self) -> int:
        """Databases held or waited for now."""
        with self._guard:
            return len(self._held)


def start_gates(make_gate: Callable[[], PolicyGate], count: int) -> list[PolicyGate]:
    """`count` policy gates with their checkov workers started (side by side: ~1.6 s each); a gate
    that cannot start stops the others and raises."""
    gates = [make_gate() for _ in range(count)]
    errors: list[BaseException] = []

    def start(gate: PolicyGate) -> None:
        try:
            gate.known()
        except BaseException as exc:  # handed to the caller below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(gate,), name="dbvend-gate-start") for gate in gates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        for gate in gates:
            gate.close()
        raise errors[0]
    return gates


class PooledWorker(Protocol):
    """What the pool needs of a worker (engine.queue.worker.Worker, which imports this module)."""

    gate: PolicyGate
    locks: DatabaseLocks | None

    def run(self, stop: threading.Event, poll_interval: float = 0.2) -> None: ...


class WorkerPool:
    """Workers taking messages from the local queue, each in a thread of its own, sharing one set
    of database locks (none for a single worker: nothing runs beside it)."""

    def __init__(self, workers: Sequence[PooledWorker]) -> None:
        if not workers:
            raise ValueError("a worker pool needs at least one worker")
        self.workers = list(workers)
        self.locks = DatabaseLocks() if len(self.workers) > 1 else None
        for worker in self.workers:
            worker.locks = self.locks
        self.threads: list[threading.Thread] = []

    def start(self, stop: threading.Event) -> WorkerPool:
        """Each worker runs until `stop` is set (finishing the message in hand)."""
        for number, worker in enumerate(self.workers, 1):
            name = "dbvend-worker" if len(self.workers) == 1 else f"dbvend-worker-{number}"
            thread = threading.Thread(target=worker.run, args=(stop,), name=name)
            thread.start()
            self.threads.append(thread)
        log.info("%d worker(s) started", len(self.workers))
        return self

    def join(self) -> None:
        for thread in self.threads:
            thread.join()

    def close(self) -> None:
        """Stop the workers' policy gates (after join)."""
        for gate in {id(worker.gate): worker.gate for worker in self.workers}.values():
            gate.close()


def share_out(items: Iterable[T], workers: Sequence[W], handle: Callable[[W, T], None]) -> None:
    """Each item handled by one of `workers`, at most one item per worker at a time, as many at once
    as there are workers; returns when all are done (the first exception of `handle` is raised)."""
    items = list(items)
    if len(workers) <= 1 or len(items) <= 1:
        for item in items:
            handle(workers[0], item)
        return
    free: queue.SimpleQueue[W] = queue.SimpleQueue()
    for worker in workers:
        free.put(worker)

    def run(item: T) -> None:
        worker = free.get()
        try:
            handle(worker, item)
        finally:
            free.put(worker)

    with ThreadPoolExecutor(min(len(workers), len(items)), thread_name_prefix="dbvend-batch") as pool:
        for _ in pool.map(run, items):
            pass
