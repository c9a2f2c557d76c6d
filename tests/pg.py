"""A throwaway PostgreSQL cluster for tests.

Each test session gets its own cluster in a temporary directory, listening on a
free port on 127.0.0.1 and on a private Unix socket directory, with durability
switched off (fsync, synchronous_commit, full_page_writes) because the data is
thrown away.  PostgreSQL refuses to run as root, so when the tests run as root the
server commands are run as the ``postgres`` OS user via ``runuser``.

The server always runs on the real clock, also when the tests run under libfaketime
(``make test-dates``): Autopilot never asks the database for the time (every timestamp
and "today" come from its own clock), and under libfaketime PostgreSQL's processes
disagree about the time (the postmaster logs some lines at the real time, some at the
faked one) and cannot open the root-owned shared memory libfaketime keeps for them.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

PG_USER = "postgres"
HOST = "127.0.0.1"

_SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
    "-c full_page_writes=off -c max_connections=200"
)
_db_counter = itertools.count(1)


def _version_key(bin_dir: str) -> tuple[int, ...]:
    version = Path(bin_dir).parent.name  # /usr/lib/postgresql/<version>/bin
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (-1,)


def find_pg_bin() -> Path | None:
    """Return a directory holding both ``initdb`` and ``pg_ctl``, or None."""
    initdb = shutil.which("initdb")
    if initdb is not None:
        bin_dir = Path(initdb).parent
        if os.access(bin_dir / "pg_ctl", os.X_OK):
            return bin_dir
    candidates = [
        d
        for d in glob.glob("/usr/lib/postgresql/*/bin")
        if os.access(os.path.join(d, "initdb"), os.X_OK)
        and os.access(os.path.join(d, "pg_ctl"), os.X_OK)
    ]
    if not candidates:
        return None
    return Path(max(candidates, key=_version_key))


def _as_postgres(cmd: Sequence[str]) -> list[str]:
    """Prefix ``cmd`` so that it runs as the postgres OS user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", PG_USER, "--", *cmd]
    return list(cmd)


def _real_clock_env() -> dict[str, str]:
    """This process's environment without libfaketime (its FAKETIME* settings and its
    library in LD_PRELOAD), for the server commands."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKETIME")}
    preload = [p for p in re.split(r"[:\s]+", env.pop("LD_PRELOAD", "")) if p]
    kept = [p for p in preload if "libfaketime" not in p]
    if kept:
        env["LD_PRELOAD"] = " ".join(kept)
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _traversable_by_others(path: Path) -> bool:
    """True if every directory from / down to ``path`` is searchable by other users."""
    return all(os.stat(p).st_mode & stat.S_IXOTH for p in (path, *path.parents))


class PostgresError(RuntimeError):
    pass


class ThrowawayPostgres:
    """A disposable PostgreSQL cluster: ``start()``, use ``url()``, ``stop()``."""

    def __init__(self, bin_dir: Path | None = None, *, options: str = "") -> None:
        """``options``: more server settings (``-c name=value …``), e.g. for a benchmark."""
        found = bin_dir if bin_dir is not None else find_pg_bin()
        if found is None:
            raise PostgresError("PostgreSQL binaries (initdb, pg_ctl) not found")
        self.bin_dir: Path = found
        self.options = options
        self.root: Path | None = None
        self.port: int | None = None
        self.running = False

    # -- paths -------------------------------------------------------------
    def _root(self) -> Path:
        if self.root is None:
            raise PostgresError("cluster not started")
        return self.root

    @property
    def data_dir(self) -> Path:
        return self._root() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._root() / "sock"

    @property
    def log_file(self) -> Path:
        return self._root() / "postgres.log"

    # -- helpers -----------------------------------------------------------
    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = _as_postgres([str(self.bin_dir / args[0]), *args[1:]])
        proc = subprocess.run(
            cmd,
            cwd=self._root(),  # the postgres user may not be able to enter our cwd
            env=_real_clock_env(),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if proc.returncode != 0:
            raise PostgresError(
                f"{' '.join(cmd)} failed with exit code {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}\n"
                f"server log:\n{self._log_tail()}"
            )
        return proc

    def _log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except (OSError, PostgresError):
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _pg_ctl_start(self) -> None:
        assert self.port is not None
        options = f"-p {self.port} -k {self.socket_dir} {_SERVER_OPTIONS} {self.options}"
        self._run(
            "pg_ctl",
            "-w",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-o",
            options,
            "start",
        )
        self.running = True

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> ThrowawayPostgres:
        if self.root is not None:
            raise PostgresError("cluster already started")
        base = Path(tempfile.gettempdir())
        if os.geteuid() == 0 and not _traversable_by_others(base):
            base = Path("/tmp")
        self.root = Path(tempfile.mkdtemp(prefix="autopilot-pg-", dir=base))
        atexit.register(self.stop)
        try:
            if os.geteuid() == 0:
                pw = pwd.getpwnam(PG_USER)
                os.chown(self.root, pw.pw_uid, pw.pw_gid)
            os.chmod(self.root, 0o700)
            self._as_owner_mkdir(self.socket_dir)
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-A",
                "trust",
                "-U",
                PG_USER,
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            )
            # The port is only probed, not reserved: retry if someone grabs it first.
            for attempt in range(3):
                self.port = _free_port()
                try:
                    self._pg_ctl_start()
                    break
                except PostgresError:
                    if attempt == 2:
                        raise
        except BaseException:
            self.stop()
            raise
        return self

    def _as_owner_mkdir(self, path: Path) -> None:
        path.mkdir(mode=0o700)
        if os.geteuid() == 0:
            pw = pwd.getpwnam(PG_USER)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def stop_server(self) -> None:
        """Shut the server down cleanly, keeping its data (simulates an outage)."""
        if self.running:
            self._run("pg_ctl", "-w", "-D", str(self.data_dir), "-m", "fast", "stop")
            self.running = False

    def start_server(self) -> None:
        """Start the cluster again on the same port and data directory."""
        if not self.running:
            self._pg_ctl_start()

    def crash_and_restart(self) -> None:
        """`pg_ctl restart -m immediate`: every session cut, no checkpoint, crash recovery on the
        way back up (what a power cut or an OOM kill of the postmaster does)."""
        self._run("pg_ctl", "-w", "-D", str(self.data_dir), "-m", "immediate", "stop")
        self.running = False
        self._pg_ctl_start()

    def stop(self) -> None:
        """Stop the server (immediately) and delete the cluster.  Idempotent."""
        if self.root is None:
            return
        # Also check the pid file: a failed or timed-out start may have left a postmaster.
        if self.running or (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(PostgresError):
                self._run("pg_ctl", "-w", "-D", str(self.data_dir), "-m", "immediate", "stop")
            self.running = False
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None
        atexit.unregister(self.stop)

    # -- databases ---------------------------------------------------------
    def url(self, dbname: str) -> str:
        if self.port is None:
            raise PostgresError("cluster not started")
        return f"postgresql+psycopg://{PG_USER}@{HOST}:{self.port}/{dbname}"

    def _admin_connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=HOST, port=self.port, user=PG_USER, dbname="postgres", autocommit=True
        )

    def create_database(self) -> str:
        """Create a fresh, uniquely named database and return its SQLAlchemy URL."""
        name = f"test_{os.getpid()}_{next(_db_counter)}_{uuid.uuid4().hex[:8]}"
        with self._admin_connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database named in ``url``, disconnecting anyone still using it."""
        name = make_url(url).database
        if not name:
            raise ValueError(f"no database name in {url!r}")
        with self._admin_connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
