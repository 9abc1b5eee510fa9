"""A throwaway PostgreSQL 15 server for the tests: Debian's binaries, a temporary directory, a Unix socket.

`PgServer.start()` runs `initdb` and `pg_ctl start` (as the `postgres` user when the tests run as
root: PostgreSQL refuses to run as root), listening only on a Unix socket inside its own
directory, so no TCP port is taken and nothing outside the test run can reach it. The
`regwatch_template` database holds the migrated schema; `fresh_database()` copies it with
`CREATE DATABASE ... TEMPLATE` for each test, and `stop()` stops the server and removes its files.

Without the binaries `available()` returns the reason, and the PostgreSQL variants of the tests
skip with it; `.ci/run` installs them and sets TESTS_REQUIRE_POSTGRES, under which they fail instead.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin",)
TEMPLATE = "regwatch_template"
START_DEADLINE_SECONDS = 60.0
PORT = 5432  # only names the socket file: the server listens on no TCP port at all


def find_bin_dir() -> Path | None:
    """Return the directory holding initdb and pg_ctl (Debian's PostgreSQL 15 first, else PATH)."""
    for candidate in PG_BIN_DIRS:
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(os.path.realpath(initdb)).parent
    return None


def available() -> str | None:
    """Return None when a test server can start here, else the reason it cannot."""
    if find_bin_dir() is None:
        return "PostgreSQL 15 binaries (initdb, pg_ctl) not found; install Debian's `postgresql` package"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed; install regwatch[postgres]"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root but `runuser` is missing to start PostgreSQL as the postgres user"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root but there is no `postgres` user to start PostgreSQL as"
    return None


class PgServer:
    """One PostgreSQL server in a temporary directory, reached over a Unix socket."""

    def __init__(self) -> None:
        self.bin_dir = find_bin_dir()
        self.root: Path | None = None
        self.started_in: float | None = None  # seconds from initdb to the template being ready
        self._names = itertools.count(1)

    @property
    def socket_dir(self) -> Path:
        """Return the directory holding the server's socket."""
        assert self.root is not None, "server not started"
        return self.root

    def url(self, database: str) -> str:
        """Return the libpq URL of one database on this server."""
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={PORT}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)

    def _check(self, what: str, result: subprocess.CompletedProcess[str]) -> None:
        if result.returncode != 0:
            log = ""
            if self.root is not None and (self.root / "server.log").exists():
                log = (self.root / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{what} failed ({result.returncode}): {result.stderr.strip()} {log}")

    def start(self) -> None:
        """Create a cluster, start it, wait until it answers, and build the migrated template."""
        assert self.bin_dir is not None, available()
        began = time.monotonic()
        # Under /tmp: a Unix socket path has at most 107 bytes, and TMPDIR may be long.
        self.root = Path(
            tempfile.mkdtemp(prefix="regwatch-pg-", dir="/tmp" if Path("/tmp").is_dir() else None)
        )
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        data = self.root / "data"
        self._check(
            "initdb",
            self._run(
                str(self.bin_dir / "initdb"),
                "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C",
                "--no-sync", "--no-instructions",
            ),
        )  # fmt: skip
        # Durability off: a test database is thrown away, and fsync is most of a small write's cost.
        options = (
            f"-k {self.root} -c listen_addresses='' -p {PORT} -c fsync=off -c synchronous_commit=off"
            " -c full_page_writes=off -c shared_buffers=32MB -c max_connections=200"
        )
        self._check(
            "pg_ctl start",
            self._run(
                str(self.bin_dir / "pg_ctl"), "start", "-D", str(data), "-l", str(self.root / "server.log"),
                "-w", "-t", str(int(START_DEADLINE_SECONDS)), "-o", options,
            ),
        )  # fmt: skip
        self._wait_ready(began + START_DEADLINE_SECONDS)
        self._build_template()
        self.started_in = time.monotonic() - began

    def _wait_ready(self, deadline: float) -> None:
        import psycopg

        while True:
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=5):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # polling a condition with a deadline, not waiting on the clock

    def _build_template(self) -> None:
        import psycopg

        from bot.storage.db import connect

        with psycopg.connect(self.url("postgres"), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {TEMPLATE}")
        db = connect(self.url(TEMPLATE))
        db.conn.close()

    def fresh_database(self, *, migrated: bool = True) -> str:
        """Create an empty database (the migrated schema when `migrated`) and return its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        template = TEMPLATE if migrated else "template0"
        with psycopg.connect(self.url("postgres"), autocommit=True) as admin:
            # FILE_COPY: a checkpoint and a directory copy, quicker than WAL-logging a small database.
            admin.execute(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by fresh_database (its connections are closed by force)."""
        import psycopg

        name = url.split("?", maxsplit=1)[0].rsplit("/", 1)[-1]
        with psycopg.connect(self.url("postgres"), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server at once and remove its directory."""
        if self.root is None:
            return
        if (self.root / "data" / "postmaster.pid").exists() and self.bin_dir is not None:
            self._run(
                str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.root / "data"), "-m", "immediate", "-w"
            )
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """Yield one started PostgreSQL server for the whole run (skip when it cannot run here)."""
    reason = available()
    if reason is not None:
        if os.environ.get("TESTS_REQUIRE_POSTGRES"):  # set by .ci/run, which installs PostgreSQL
            pytest.fail(reason)
        pytest.skip(reason)
    server = PgServer()
    try:
        server.start()
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """Yield the URL of a fresh, migrated database on the test server; drop it afterwards."""
    url = pg_server.fresh_database()
    yield url
    pg_server.drop_database(url)
