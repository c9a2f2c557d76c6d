"""A worker's LISTEN connection: the wake-up hint that prices were stored (DESIGN §1).

A connection of its own (autocommit, outside the pool: LISTEN holds it for as long as the
worker runs), named as the worker's other sessions are, so a live worker that finds this one
dead ends it with the rest. It is only a hint: a NOTIFY lost (sent while this connection was
down, or never sent) is made up for by the worker's poll. A connection that breaks is opened
again at the next wait; meanwhile a wait just sleeps out its timeout, so the poll goes on.
"""

from __future__ import annotations

import contextlib
import logging
import threading

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

from autopilot.storage.price_feed_repo import CHANNEL

log = logging.getLogger("autopilot.worker")


def libpq_conninfo(database_url: str) -> str:
    """The SQLAlchemy URL (``postgresql+psycopg://…``) as a libpq connection string (its query,
    the worker's ``application_name`` among it, kept as SQLAlchemy read it)."""
    url = make_url(database_url)
    given: dict[str, str | int | None] = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": url.database,
    }
    query = {k: v if isinstance(v, str) else v[-1] for k, v in url.query.items()}
    return make_conninfo("", **{k: v for k, v in given.items() if v is not None}, **query)


class PriceWakeups:
    def __init__(self, database_url: str, *, stop: threading.Event | None = None) -> None:
        self._conninfo = libpq_conninfo(database_url)
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self._stop = stop or threading.Event()
        self._broken = False

    def wait(self, timeout_s: float) -> bool:
        """Until a NOTIFY arrives (True) or ``timeout_s`` passes (False). Every notification
        queued by then is consumed: one round covers them all."""
        try:
            connection = self._listening()
            woke = any(True for _ in connection.notifies(timeout=timeout_s, stop_after=1))
            if woke:
                for _ in connection.notifies(timeout=0.001):
                    pass
            return woke
        except psycopg.Error as exc:
            self.close()
            if not self._broken:
                log.warning(
                    "LISTEN for prices failed (%s); polling until it is back",
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                    extra={"action": "triggers.listen_lost"},
                )
            self._broken = True
            self._stop.wait(timeout_s)
            return False

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                connection.close()

    def _listening(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._connection is None or self._connection.closed:
            connection = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
            connection.execute(f"LISTEN {CHANNEL}")
            self._connection = connection
            if self._broken:
                log.info("Listening for prices again", extra={"action": "triggers.listening"})
            self._broken = False
        return self._connection
