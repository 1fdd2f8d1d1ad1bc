"""Local HTTP receivers of dbvend's notifications, for tests and benchmarks: one that records every
POST (answering a planned status each time), one that accepts connections and never answers; and a
`dbvend serve` repository whose dbvend.yaml names them."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from engine.gitops.local import LocalRepository
from tests.support.catalogs import NETWORKED_CATALOG


def catalog_text(*targets: str) -> str:
    """The networked catalog with these notification targets (YAML flow mappings)."""
    assert "\nnotifications: []\n" in NETWORKED_CATALOG
    listed = "".join(f"  - {target}\n" for target in targets)
    return NETWORKED_CATALOG.replace("\nnotifications: []\n", f"\nnotifications:\n{listed}", 1)


def served_repo(data: Path, catalog: str) -> LocalRepository:
    """The local GitOps repository `dbvend serve --data-dir data` uses, with this dbvend.yaml on main."""
    repo = LocalRepository.open_or_create(data / "repo")
    (repo.path / "dbvend.yaml").write_text(catalog, encoding="utf-8")
    names = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    subprocess.run(
        ["git", "-C", str(repo.path), "commit", "-qam", "notifications", "--no-verify"],
        check=True,
        env={**names, "PATH": "/usr/bin:/bin"},
    )
    return repo


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Sink:
    """A receiver on 127.0.0.1: records each POST and answers the next status of `answers` (then 200)."""

    def __init__(self, answers: Iterable[int] = ()) -> None:
        self.answers = list(answers)
        self.received: list[Received] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink.lock:
                    sink.received.append(Received(self.path, dict(self.headers.items()), body))
                    status = sink.answers.pop(0) if sink.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Sink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if path is None or r.path == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 10.0) -> list[Received]:
        """The POSTs received (to `path`) once there are `count` of them, or when `timeout` runs out."""
        deadline = time.monotonic() + timeout
        while len(self.events(path)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.events(path)


class HungSink:
    """A receiver that accepts every TCP connection, reads nothing and never answers."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.connections: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(connection)

    def __enter__(self) -> HungSink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join()
        for connection in self.connections:
            connection.close()
        self.listener.close()
