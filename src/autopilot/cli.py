"""The `autopilot` command: serve, run-once, db upgrade, prices import and replay, demo."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import monotonic, sleep
from typing import Annotated, Any

import typer
from rich.console import Console

from autopilot.config import ConfigError, Settings, load_settings

app = typer.Typer(help="Autopilot: automation engine for investing.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
prices_app = typer.Typer(help="Market prices.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (on the database directly).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(prices_app, name="prices")
app.add_typer(keys_app, name="keys")
err = Console(stderr=True)


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", force=True
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _first_line(exc: BaseException) -> str:
    # Driver errors span lines (hints, links); the first one says what went wrong.
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        _fail(str(exc))
        raise AssertionError("unreachable") from exc


def _migrated(url: str, wait_s: float) -> Exception | None:
    """Bring the database's schema up to date; the error that stopped it, if any. A database
    that cannot be reached (restarting, still starting) is tried again every second for
    `wait_s` first, said once."""
    from sqlalchemy.exc import DBAPIError

    from autopilot.storage.db import is_unreachable
    from autopilot.storage.migrate import upgrade

    deadline = monotonic() + wait_s
    said = False
    while True:
        try:
            upgrade(url)
            return None
        except DBAPIError as exc:
            if not is_unreachable(exc) or monotonic() >= deadline:
                return exc
            if not said:
                typer.echo(
                    f"waiting up to {wait_s:g}s for the database: {_first_line(exc)}", err=True
                )
                said = True
            sleep(1)
        except Exception as exc:
            return exc


@contextmanager
def _services(
    settings: Settings,
    as_of: date | None = None,
    *,
    exit_code: int = 2,
    json_error: dict[str, Any] | None = None,
    clock: Any = None,
    wait_s: float = 0,
) -> Iterator[Any]:
    """Migrated services; a database that cannot be reached or migrated is one error line and
    `exit_code` (with `json_error`, also that object with the error, on stdout). With `wait_s`,
    a database that cannot be reached yet (restarting, still starting) is waited for that long
    first, a line said once."""
    from autopilot.bootstrap import build
    from autopilot.services.ports import FixedClock

    failure = _migrated(settings.database_url, wait_s)
    if failure is not None:  # a database we cannot reach or migrate: say which, no traceback
        message = f"cannot prepare the database at DATABASE_URL: {_first_line(failure)}"
        if json_error is not None:
            typer.echo(json.dumps({**json_error, "error": message}))
        _fail(message, exit_code)
    if as_of is not None:
        clock = FixedClock(datetime.combine(as_of, time(12, 0), tzinfo=settings.zone))
    services = build(settings, clock=clock)
    try:
        yield services
    finally:
        services.close()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Overrides AUTOMATION_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides AUTOMATION_PORT.")] = None,
) -> None:
    """Migrate, then serve the HTTP API with the in-process scheduler (unless disabled)."""
    import uvicorn

    from autopilot.api.app import create_app

    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["automation_host"] = host
    if port is not None:
        overrides["automation_port"] = port
    settings = _settings(**overrides)
    # Bound before anything else: a port in use is one line, not a scheduler pass and then a
    # failed start.
    listening = _listen(settings.automation_host, settings.automation_port)
    _configure_logging()
    # The API's own process runs its passes (the in-process scheduler, POST .../execute) in one
    # lane: a second pass thread would take the interpreter from the requests (measured: p99 of
    # 16 clients 502 -> 652 ms during a 20,000-rule pass on PostgreSQL, the pass no faster under
    # that load). run-once and worker processes, which do nothing else, use the setting.
    settings = settings.model_copy(update={"automation_pass_lanes": 1})
    with _services(settings) as services:
        written = services.keys.ensure_admin_key(Path(settings.automation_admin_key_file))
        if written is not None:  # the path, never the key
            logging.getLogger("autopilot").info(
                "No admin key existed: wrote the first one to %s (mode 0600)",
                written,
                extra={"action": "keys.first_admin"},
            )
        api = create_app(services)
        config = uvicorn.Config(
            api,
            host=settings.automation_host,
            port=settings.automation_port,
            log_config=None,
            timeout_graceful_shutdown=30,
            # The client address (rate limits, the audit trail) is the socket's peer, unless
            # the operator names the proxies to believe: X-Forwarded-For is anyone's to send.
            proxy_headers=bool(settings.automation_forwarded_allow_ips),
            forwarded_allow_ips=settings.automation_forwarded_allow_ips or None,
        )
        # Uvicorn says where it listens only for sockets it binds itself.
        shown = f"[{config.host}]" if ":" in config.host else config.host
        logging.getLogger("autopilot").info(
            "Listening on http://%s:%d", shown, config.port, extra={"action": "server.listening"}
        )
        uvicorn.Server(config).run(sockets=[listening])


def _listen(host: str, port: int) -> socket.socket:
    """The server's listening socket. Made with the protocol named (IPPROTO_TCP): asyncio sets
    TCP_NODELAY only on connections of such a socket, and without it a kept-alive connection
    waits 40 ms per answer (Nagle's algorithm against the client's delayed ACK)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(socket.SOMAXCONN)
        return listening
    except OSError as exc:
        listening.close()
        _fail(
            f"cannot listen on {host}:{port} (AUTOMATION_HOST, AUTOMATION_PORT): "
            f"{exc.strerror or exc}"
        )
        raise AssertionError("unreachable") from exc


@app.command("run-once")
def run_once(
    automation_type: Annotated[
        str,
        typer.Option("--type", help="all (default), auto-invest, rebalancing or triggers."),
    ] = "all",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Run as of this market date (YYYY-MM-DD).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """One scheduler pass, for cron and for testing. Exit 1 if the pass failed, 3 if a rule did."""
    from autopilot.api.presenters.results import summary
    from autopilot.engine.scheduler import Scheduler
    from autopilot.services.execution.passes import ALL_KINDS, Kind

    kinds = [k.value for k in ALL_KINDS]
    if automation_type != "all" and automation_type not in kinds:
        _fail(f"--type {automation_type!r}: expected all, {', '.join(kinds)}")
    day = None
    if as_of is not None:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            _fail(f"--as-of {as_of!r} is not a date; expected YYYY-MM-DD")
    settings = _settings()
    _configure_logging()
    if as_json:
        logging.getLogger().setLevel(logging.WARNING)

    # Exit 1, as a failed pass: cron's "try again later", not a usage error.
    unreachable = {"type": automation_type} if as_json else None
    with _services(settings, day, exit_code=1, json_error=unreachable) as services:
        scheduler = Scheduler(services)
        # SIGTERM lets the batch in hand commit, then the pass ends.
        signal.signal(signal.SIGTERM, lambda *_: scheduler.request_stop())
        report = scheduler.run_pass(
            ALL_KINDS if automation_type == "all" else (Kind(automation_type),)
        )
    shown = summary(report.result).model_dump(by_alias=True) if report.result else {}
    payload = {"type": automation_type, "error": report.error, **shown}
    if as_json:
        typer.echo(json.dumps(payload))
    else:
        counts = shown.get("counts", {})
        typer.echo(
            f"executed {counts.get('executed', 0)}, skipped {counts.get('skipped', 0)}, "
            f"failed {counts.get('failed', 0)}, "
            f"pending approval {counts.get('pendingApproval', 0)}"
            + (f"; pass failed: {report.error}" if report.error else "")
        )
    if report.error:
        raise typer.Exit(1)
    if shown.get("counts", {}).get("failed"):
        raise typer.Exit(3)


@app.command()
def worker(
    worker_id: Annotated[
        str | None, typer.Option("--id", help="This worker's id (default host:pid).")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=1,
            max=65535,
            help="Serve this worker's Prometheus metrics on 127.0.0.1:PORT/metrics.",
        ),
    ] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", hidden=True)] = None,
) -> None:
    """Do the scheduler's work as one of N dedicated workers on PostgreSQL (SIGTERM stops it)."""
    from prometheus_client import start_http_server
    from sqlalchemy.engine import make_url

    from autopilot.engine.webhooks import WebhookLoop
    from autopilot.engine.worker import DatabaseClock, Worker, WorkerPolicy, default_worker_id
    from autopilot.metrics import for_process
    from autopilot.storage.workers_repo import application_name

    settings = _settings()
    if not settings.database_url.startswith("postgresql"):
        _fail("workers need PostgreSQL: DATABASE_URL is not a postgresql+psycopg:// URL")
    ident = (worker_id or default_worker_id()).strip()
    if not ident or len(ident) > 200 or not ident.isprintable():
        _fail(f"--id {worker_id!r}: expected 1 to 200 printable characters")
    day = None
    if as_of is not None:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            _fail(f"--as-of {as_of!r} is not a date; expected YYYY-MM-DD")
    # Its sessions carry its id, so that once it is dead another worker can end them.
    named = make_url(settings.database_url).update_query_dict(
        {"application_name": application_name(ident)}
    )
    settings = settings.model_copy(
        update={"database_url": named.render_as_string(hide_password=False)}
    )
    _configure_logging()
    clock = DatabaseClock()
    # A worker started while PostgreSQL restarts (systemd, compose) waits for it.
    wait_s = float(settings.automation_worker_lease)
    with _services(settings, day, clock=None if day else clock, wait_s=wait_s) as services:
        policy = WorkerPolicy(
            lease=timedelta(seconds=settings.automation_worker_lease),
            interval_s=settings.check_interval_seconds,
        )
        running = Worker(services, worker_id=ident, policy=policy, clock=clock)
        metrics = for_process(services)
        if metrics_port is not None:
            try:  # loopback only: open there, as serve's /metrics is
                start_http_server(metrics_port, addr="127.0.0.1", registry=metrics.registry)
            except OSError as exc:
                _fail(f"--metrics-port {metrics_port}: {exc.strerror or exc}")
        signals = 0

        def on_signal(signum: int, _frame: Any) -> None:
            nonlocal signals
            signals += 1
            if signals > 1:  # a second signal: at once; the batch in hand is rolled back
                os._exit(128 + signum)
            running.request_stop(settings.automation_worker_shutdown_timeout)
            # Past the timeout, stop at once as well: what did not commit is taken over.
            timer = threading.Timer(
                settings.automation_worker_shutdown_timeout, os._exit, (128 + signum,)
            )
            timer.daemon = True
            timer.start()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        # The work runs in a thread of its own: the main thread only waits, so a signal is
        # handled at once even while the work waits inside the database driver.
        failed: list[BaseException] = []

        def work() -> None:
            try:
                running.run()
            except BaseException as exc:  # reported below, with its exit code
                failed.append(exc)

        deliveries = WebhookLoop(services.dispatcher)
        deliveries.start()
        thread = threading.Thread(target=work, name="worker")
        thread.start()
        while thread.is_alive():
            thread.join(0.5)
        deliveries.stop()
    if failed:
        _fail(f"worker {ident} stopped: {type(failed[0]).__name__}: {_first_line(failed[0])}", 1)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema up to date."""
    from autopilot.storage.migrate import upgrade

    settings = _settings()
    try:
        upgrade(settings.database_url)
    except Exception as exc:
        _fail(f"cannot migrate the database at DATABASE_URL: {_first_line(exc)}")
    typer.echo("database is up to date")


@prices_app.command("import")
def prices_import(
    file: Annotated[Path, typer.Argument(help="CSV with columns symbol,price[,as_of].")],
) -> None:
    """Import prices from a CSV file (checked whole before anything is written)."""
    from autopilot.market.csv_import import CsvError, import_prices, read_price_file

    settings = _settings()
    try:
        ticks = read_price_file(file, now=datetime.now(UTC))
    except CsvError as exc:
        _fail(str(exc))
    with _services(settings) as services:
        count = import_prices(services.platform, ticks)
    typer.echo(f"imported {count} price(s) from {file}")


@prices_app.command("replay")
def prices_replay(
    file: Annotated[Path, typer.Argument(help="CSV with columns symbol,price,as_of.")],
    speed: Annotated[
        str,
        typer.Option(
            metavar="X", help="0: as fast as possible; X > 0: X seconds of history per second."
        ),
    ] = "0",
) -> None:
    """Replay a price history in as_of order, one update at a time, evaluating triggers on each
    (the file is checked whole before anything is written)."""
    from autopilot.market.csv_import import CsvError, read_price_file
    from autopilot.market.replay import ReplayError, parse_speed, replay_prices

    try:
        factor = parse_speed(speed)
        ticks = read_price_file(file, now=datetime.now(UTC), require_as_of=True)
    except (CsvError, ReplayError) as exc:
        _fail(str(exc))
    settings = _settings()
    with _services(settings) as services:
        before = services.triggers.fired
        count = replay_prices(services.platform, ticks, speed=factor)
        fired = services.triggers.fired - before
    typer.echo(f"replayed {count} price(s) from {file}; {fired} trigger(s) fired")


ROLES = ("admin", "operator", "client", "market-data")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin, operator, client or market-data.")],
    name: Annotated[str, typer.Option(help="What the key is for (shown in lists and audits).")],
    client_id: Annotated[
        int | None, typer.Option("--client-id", help="The client of a client key.")
    ] = None,
    expires_in_days: Annotated[
        int | None, typer.Option("--expires-in-days", help="Valid this many days (default: ever).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the key as JSON.")] = False,
) -> None:
    """Make a key and print it, this once (only its hash is kept)."""
    from autopilot.domain.errors import AutopilotError
    from autopilot.services.access import Role

    if role not in ROLES:
        _fail(f"--role {role!r}: expected {', '.join(ROLES)}")
    settings = _settings()
    with _services(settings) as services:
        try:
            made = services.keys.create(
                name=name,
                role=Role(role),
                client_id=client_id,
                expires_in_days=expires_in_days,
            )
        except AutopilotError as exc:
            _fail(_option_message(exc))
    record = made.record
    if as_json:
        typer.echo(
            json.dumps(
                {"id": record.id, "key": made.key, "role": role, "clientId": record.client_id}
            )
        )
        return
    typer.echo(made.key)
    err.print(
        f"key {record.id} ({role}{f', client {record.client_id}' if record.client_id else ''})"
        ": shown this once, keep it safe",
        highlight=False,
    )


@keys_app.command("list")
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print the keys as JSON.")] = False,
) -> None:
    """Every key (never the key itself)."""
    settings = _settings()
    with _services(settings) as services:
        records, _ = services.keys.search(page=1, page_size=10_000)
        now = services.clock.now()
    rows = [
        {
            "id": r.id,
            "name": r.name,
            "role": r.role.value,
            "clientId": r.client_id,
            "createdAt": r.created_at.isoformat(),
            "expiresAt": None if r.expires_at is None else r.expires_at.isoformat(),
            "revokedAt": None if r.revoked_at is None else r.revoked_at.isoformat(),
            "lastUsedAt": None if r.last_used_at is None else r.last_used_at.isoformat(),
        }
        for r in records
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for row, record in zip(rows, records, strict=True):
        state = "revoked" if record.revoked_at else "active" if record.valid_at(now) else "expired"
        client = f" client {row['clientId']}" if row["clientId"] else ""
        typer.echo(f"{row['id']}\t{row['role']}{client}\t{state}\t{row['name']}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="The key's id.")]) -> None:
    """Revoke a key: it is refused from the next request on."""
    from autopilot.domain.errors import NotFound

    settings = _settings()
    with _services(settings) as services:
        try:
            record = services.keys.revoke(key_id)
        except NotFound:
            _fail(f"no API key {key_id}")
            raise AssertionError("unreachable") from None
    typer.echo(f"key {record.id} revoked")


def _option_message(exc: Exception) -> str:
    """A service's refusal in the CLI's words (field client_id is the option --client-id)."""
    from autopilot.domain.errors import InvalidInput

    if isinstance(exc, InvalidInput):
        return f"--{exc.field.replace('_', '-')}: {exc.reason}"
    return str(exc)


@app.command()
def demo() -> None:
    """Load a small sample (a client, cash, prices, rules due today) and run a pass on it."""
    from autopilot.api.presenters.results import counts as pass_counts
    from autopilot.engine.demo import load_demo
    from autopilot.engine.scheduler import Scheduler
    from autopilot.services.access import Role

    settings = _settings()
    _configure_logging()
    with _services(settings) as services:
        loaded = load_demo(services)
        typer.echo(
            f"loaded client {loaded.client_id}, account {loaded.account_id}, "
            f"rules {', '.join(loaded.rule_ids)}"
        )
        # The API answers only with a key: the client's own, to look at what the pass did.
        key = services.keys.create(
            name="demo client", role=Role.CLIENT, client_id=loaded.client_id
        ).key
        report = Scheduler(services).run_pass()
        counts = pass_counts(report.result).model_dump(by_alias=True) if report.result else {}
        if not counts.get("executed"):
            typer.echo(
                "today is not a trading day, so nothing is due: executing the demo rules "
                "manually (POST /api/automation/scheduler/execute does the same)"
            )
            counts = _execute_manually(services, loaded.rule_ids)
    base = f"http://{settings.automation_host}:{settings.automation_port}"
    typer.echo(f"pass: {counts}")
    typer.echo(f"client {loaded.client_id}'s key (shown this once): {key}")
    typer.echo("with `make run` going, see what it did:")
    for path in (
        f"/api/accounts/{loaded.account_id}",
        f"/api/automation/execution-logs?clientId={loaded.client_id}",
    ):
        typer.echo(f'  curl -s "{base}{path}" -H "Authorization: Bearer {key}"')


def _execute_manually(services: Any, rule_ids: list[str]) -> dict[str, int]:
    from autopilot.api.presenters.results import counts
    from autopilot.services.access import SYSTEM
    from autopilot.services.execution.passes import ExecuteCommand, Kind
    from autopilot.services.execution.results import PassResult

    DEMO = replace(SYSTEM, name="demo")

    result = PassResult()
    for rule_id in rule_ids:
        command = ExecuteCommand(kind=Kind.AUTO_INVEST, rule_id=rule_id, caller=DEMO)
        result.merge(services.passes.execute(command))
    shown: dict[str, int] = counts(result).model_dump(by_alias=True)
    return shown


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
