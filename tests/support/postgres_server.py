"""A throw-away PostgreSQL server on a free loopback port, for tests.

The server lives in a temporary directory (data, unix socket, log) and is tuned for speed, not
durability: fsync, synchronous_commit and full_page_writes are off. initdb and postgres refuse to
run as root, so as root every server binary runs as the `postgres` OS user through runuser.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

INSTALL_HINT = "apt-get update && apt-get install -y postgresql"
OS_USER = "postgres"  # who runs the server when we are root
SUPERUSER = "postgres"  # the database superuser initdb creates, whoever runs the server
HOST = "127.0.0.1"
SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
# The socket path (<dir>/.s.PGSQL.<port>) must fit in sun_path (107 bytes on Linux).
MAX_SOCKET_DIR = 80


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _has_server_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in SERVER_BINARIES)


def _version_key(bindir: Path) -> tuple[int, ...]:
    """/usr/lib/postgresql/15/bin -> (15,); unparsable versions sort first."""
    return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name)) or (-1,)


def find_bindir() -> Path | None:
    """The directory with initdb, pg_ctl and postgres, or None when PostgreSQL is not installed.

    `pg_config --bindir` first (with only libpq-dev installed it names a directory without a
    server, so the directory is checked), then the newest /usr/lib/postgresql/*/bin, then PATH.
    """
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False, timeout=30
        )
        if result.returncode == 0 and result.stdout.strip():
            bindir = Path(result.stdout.strip())
            if _has_server_binaries(bindir):
                return bindir
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for bindir in debian:
        if _has_server_binaries(bindir):
            return bindir
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb is not None and pg_ctl is not None:
        # Symlinks such as /usr/local/bin/initdb: postgres sits next to the real file.
        bindir = Path(initdb).resolve().parent
        if _has_server_binaries(bindir):
            return bindir
    return None


def _traversable_by_others(path: Path) -> bool:
    """Whether another user (the postgres OS user) can reach entries below path."""
    for part in [path, *path.parents]:
        try:
            if not part.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _ensure_os_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(OS_USER)
    except KeyError:
        pass
    # Normally created by Debian's postgresql package. Another xdist worker may win the race.
    result = subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
         "--shell", "/usr/sbin/nologin", OS_USER],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        return pwd.getpwnam(OS_USER)
    except KeyError:
        raise RuntimeError(
            f"running as root, PostgreSQL needs an unprivileged OS user {OS_USER!r} and "
            f"`useradd` could not create it: {result.stderr.strip() or result.stdout.strip()}"
        ) from None


class PostgresServer:
    """One PostgreSQL server in a temporary directory: start(), url(), create_database(), stop()."""

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir
        self.base: Path | None = None  # the temporary directory: data/, postgres.log, the socket
        self.port: int | None = None
        self.startup_seconds: float | None = None
        self._as_root = os.geteuid() == 0

    # -- life cycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> PostgresServer:
        if self.base is not None:
            raise RuntimeError("PostgresServer.start(): already started")
        if self.bindir is None:
            self.bindir = find_bindir()
        if self.bindir is None:
            raise RuntimeError(
                "the tests need a PostgreSQL server, but no PostgreSQL server binaries (initdb, "
                "pg_ctl, postgres) were found: not via `pg_config --bindir`, not in "
                "/usr/lib/postgresql/*/bin, not on PATH. Install them with: " + INSTALL_HINT
            )
        began = time.monotonic()
        self.base = Path(tempfile.mkdtemp(prefix="dbvend-pg-", dir=self._parent_dir()))
        atexit.register(self.stop)
        try:
            if self._as_root:
                user = _ensure_os_user()
                os.chown(self.base, user.pw_uid, user.pw_gid)
            self._initdb()
            self._configure()
            for _ in range(5):
                self.port = free_port()
                if self._pg_ctl_start(timeout):
                    break
            else:
                raise RuntimeError(self._failure("kept finding its port taken"))
            self._wait_ready(began + timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Immediate shutdown (nothing needs to survive), then delete the directory. Idempotent."""
        atexit.unregister(self.stop)
        base = self.base
        if base is None:
            return
        try:
            pid_file = base / "data" / "postmaster.pid"
            if pid_file.exists():
                stopped = self._run(
                    ["pg_ctl", "-D", str(base / "data"), "-m", "immediate", "-w", "-t", "30", "stop"],
                    check=False,
                )
                if stopped.returncode != 0:
                    self._kill_postmaster(pid_file)
        finally:
            self.base = None
            shutil.rmtree(base, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- using it -----------------------------------------------------------------------------

    def url(self, dbname: str) -> str:
        """An SQLAlchemy URL (psycopg 3 driver) of a database on this server."""
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self._port()}/{quote(dbname, safe='')}"

    def conninfo(self, dbname: str = "postgres") -> str:
        """A libpq connection string for psycopg.connect()."""
        return make_conninfo(host=HOST, port=self._port(), user=SUPERUSER, dbname=dbname)

    def create_database(self, name: str) -> str:
        """Create database `name` (from template1); return its SQLAlchemy URL."""
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database `name`, disconnecting whoever is still connected to it."""
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    @contextlib.contextmanager
    def temporary_database(self, prefix: str = "test") -> Iterator[str]:
        """A fresh, uniquely named database for the duration of the block; yields its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:16]}"
        url = self.create_database(name)
        try:
            yield url
        finally:
            self.drop_database(name)

    def log_tail(self, lines: int = 30) -> str:
        path = self.base / "postgres.log" if self.base is not None else None
        if path is None or not path.exists():
            return "(no server log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # -- internals ----------------------------------------------------------------------------

    def _port(self) -> int:
        if self.port is None or self.base is None:
            raise RuntimeError("PostgresServer is not running: call start() first")
        return self.port

    def _parent_dir(self) -> str:
        """The system temporary directory, unless the postgres user cannot reach it or it is too long."""
        parent = Path(tempfile.gettempdir())
        if len(str(parent)) > MAX_SOCKET_DIR - 20 or (self._as_root and not _traversable_by_others(parent)):
            return "/tmp"
        return str(parent)

    def _run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a server binary from bindir, as the postgres OS user when we are root."""
        assert self.bindir is not None and self.base is not None
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self._as_root:
            command = ["runuser", "-u", OS_USER, "--", *command]
        # cwd: the postgres user may not be allowed into the caller's working directory.
        result = subprocess.run(command, cwd=self.base, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}\n"
                + self._failure("failed")
            )
        return result

    def _initdb(self) -> None:
        assert self.base is not None
        self._run(
            ["initdb", "-D", str(self.base / "data"), "-U", SUPERUSER, "--auth=trust",
             "--encoding=UTF8", "--locale=C", "--no-sync"]
        )  # fmt: skip

    def _configure(self) -> None:
        assert self.base is not None
        socket_dir = str(self.base).replace("'", "''")
        settings = {
            "listen_addresses": f"'{HOST}'",
            "unix_socket_directories": f"'{socket_dir}'",
            "max_connections": "200",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        # Appending keeps the file's owner (the postgres user) even when root writes it.
        with open(self.base / "data" / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# dbvend tests\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _pg_ctl_start(self, timeout: float) -> bool:
        """Start on self.port; False when the port turned out to be taken (try another)."""
        assert self.base is not None
        log = self.base / "postgres.log"
        result = self._run(
            ["pg_ctl", "-D", str(self.base / "data"), "-l", str(log), "-o", f"-p {self.port}",
             "-w", "-t", str(max(1, int(timeout))), "start"],
            check=False,
        )  # fmt: skip
        if result.returncode == 0:
            return True
        if "Address already in use" in self.log_tail(200):
            log.unlink(missing_ok=True)
            return False
        raise RuntimeError(
            self._failure(
                f"did not start (pg_ctl exited {result.returncode}: {result.stdout}{result.stderr})"
            )
        )

    def _wait_ready(self, deadline: float) -> None:
        last_error = ""
        while True:
            try:
                with psycopg.connect(self.conninfo(), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as error:
                last_error = str(error).strip()
            if time.monotonic() > deadline:
                raise RuntimeError(self._failure(f"did not accept connections in time: {last_error}"))
            time.sleep(0.05)

    def _kill_postmaster(self, pid_file: Path) -> None:
        """pg_ctl stop failed: SIGQUIT (immediate shutdown) to the postmaster we started."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, signal.SIGQUIT)
            for _ in range(100):
                os.kill(pid, 0)  # raises ProcessLookupError once it is gone
                time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)

    def _failure(self, what: str) -> str:
        where = f"port {self.port}, directory {self.base}, binaries {self.bindir}"
        return f"PostgreSQL test server {what} ({where}); server log tail:\n{self.log_tail()}"
