"""Prometheus metrics of one process (`serve` or `worker`), from `prometheus_client`.

Counters and histograms count what this process did, told by the services once each transaction
has committed (:mod:`autopilot.services.telemetry`): each process is a target of its own and the
series add up across targets. The gauges of what is waiting (the due backlog, approvals, active
triggers, live workers) are read from the database at scrape time, so every process reports the
same, database-wide value: aggregate them with ``max``, not ``sum``.

Base units (seconds), ``_total`` on counters, every series that will exist exported as 0 from the
start, and never a client, account, rule or order id in a label.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from autopilot.bootstrap import Services
from autopilot.domain.orders import OrderStatus
from autopilot.domain.outcomes import AutomationType, OutcomeStatus
from autopilot.services.records import LogEntry, WorkerState

log = logging.getLogger("autopilot.metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

AUTOMATIONS = {
    AutomationType.AUTO_INVEST: "auto_invest",
    AutomationType.REBALANCING: "rebalancing",
    AutomationType.TRIGGER_ORDER: "trigger_order",
}
STATUSES = {
    OutcomeStatus.SUCCESS: "success",
    OutcomeStatus.FAILED: "failed",
    OutcomeStatus.SKIPPED: "skipped",
    OutcomeStatus.PENDING_APPROVAL: "pending_approval",
}
# Why an occurrence did not execute, read from the start of its log message (the domain's
# wording); a no-op rebalancing check ("nothing to trade") is not a missed occurrence.
MISSED = {
    "missed occurrence": "catch_up",
    "gave up after": "gave_up",
    "insufficient cash": "insufficient_cash",
    "nothing to invest": "nothing_to_invest",
    "expired": "expired",
    "proposal expired": "expired",
    "proposal rejected": "rejected",
}
MISSED_REASONS = (*sorted(set(MISSED.values())), "other")
PASS_OUTCOMES = ("ok", "failed")
WEBHOOK_OUTCOMES = ("delivered", "retrying", "given_up")
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
LAG_SECONDS = (1, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86_400, 3 * 86_400, 7 * 86_400)


def missed_reason(entry: LogEntry) -> str | None:
    """The reason label of a Skipped occurrence, or None when it is not a missed one."""
    if entry.status is not OutcomeStatus.SKIPPED or entry.no_op:
        return None
    for start, reason in MISSED.items():
        if entry.message.startswith(start):
            return reason
    return "other"


class Metrics:
    """This process's metrics: a registry of its own (tests build several in one process)."""

    def __init__(self, *, zone: ZoneInfo, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._zone = zone
        r = self.registry
        self.executions = Counter(
            "autopilot_executions",
            "Occurrences executed, by automation and the status of their log row.",
            ["automation", "status"],
            registry=r,
        )
        self.execution_duration = Histogram(
            "autopilot_execution_duration_seconds",
            "Time from an occurrence's start to its log row, by automation.",
            ["automation"],
            buckets=SECONDS,
            registry=r,
        )
        self.schedule_lag = Histogram(
            "autopilot_schedule_lag_seconds",
            "Executed time minus due time (the start of the occurrence's market day; for a"
            " trigger, the start of its firing), by automation.",
            ["automation"],
            buckets=LAG_SECONDS,
            registry=r,
        )
        self.missed = Counter(
            "autopilot_missed_occurrences",
            "Occurrences logged Skipped instead of executed, by automation and reason.",
            ["automation", "reason"],
            registry=r,
        )
        self.passes = Counter(
            "autopilot_passes",
            "Scheduler passes, by outcome (ok, failed).",
            ["outcome"],
            registry=r,
        )
        self.pass_duration = Histogram(
            "autopilot_pass_duration_seconds",
            "Wall time of a scheduler pass.",
            buckets=SECONDS,
            registry=r,
        )
        self.last_pass = Gauge(
            "autopilot_last_pass_timestamp_seconds",
            "Unix time at which this process's last successful scheduler pass ended (0: none"
            ' yet; a failed pass is counted in autopilot_passes_total{outcome="failed"}).',
            registry=r,
        )
        self.orders = Counter(
            "autopilot_orders", "Orders reaching each status.", ["status"], registry=r
        )
        self.price_updates = Counter(
            "autopilot_price_updates", "Prices stored by this process.", registry=r
        )
        self.webhook_deliveries = Counter(
            "autopilot_webhook_deliveries",
            "Webhook delivery attempts: delivered, retrying (failed, retried later), given_up.",
            ["outcome"],
            registry=r,
        )
        self.http_requests = Counter(
            "autopilot_http_requests",
            "HTTP requests, by method, route template and status code.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "autopilot_http_request_duration_seconds",
            "HTTP request handling time, by method and route template.",
            ["method", "route"],
            buckets=SECONDS,
            registry=r,
        )
        for automation in AUTOMATIONS.values():
            self.execution_duration.labels(automation)
            self.schedule_lag.labels(automation)
            for status in STATUSES.values():
                self.executions.labels(automation, status)
            for reason in MISSED_REASONS:
                self.missed.labels(automation, reason)
        for outcome in PASS_OUTCOMES:
            self.passes.labels(outcome)
        for outcome in WEBHOOK_OUTCOMES:
            self.webhook_deliveries.labels(outcome)
        for order_status in OrderStatus:
            self.orders.labels(order_status.value)

    # --- the services' telemetry port -------------------------------------------------

    def executions_committed(self, entries: Sequence[LogEntry], committed_at: datetime) -> None:
        for entry in entries:
            automation = AUTOMATIONS[entry.automation_type]
            self.executions.labels(automation, STATUSES[entry.status]).inc()
            finished = entry.finished_at or committed_at
            self.execution_duration.labels(automation).observe(
                max(0.0, (finished - entry.started_at).total_seconds())
            )
            self.schedule_lag.labels(automation).observe(self._lag(entry, finished))
            reason = missed_reason(entry)
            if reason is not None:
                self.missed.labels(automation, reason).inc()

    def _lag(self, entry: LogEntry, finished: datetime) -> float:
        if entry.automation_type is AutomationType.TRIGGER_ORDER:
            due = entry.started_at
        else:
            due = datetime.combine(entry.execution_date, datetime.min.time(), tzinfo=self._zone)
        return max(0.0, (finished - due).total_seconds())

    def orders_reached(self, statuses: Sequence[OrderStatus]) -> None:
        for status in statuses:
            self.orders.labels(status.value).inc()

    def prices_stored(self, count: int) -> None:
        self.price_updates.inc(count)

    def pass_ended(self, *, outcome: str, seconds: float) -> None:
        self.passes.labels(outcome).inc()
        self.pass_duration.observe(seconds)
        if outcome == "ok":
            self.last_pass.set(time.time())

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_duration.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class Telemetry:
    """The services' port (:class:`autopilot.services.telemetry.Telemetry`) over Metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def executions(self, entries: Sequence[LogEntry], committed_at: datetime) -> None:
        self._m.executions_committed(entries, committed_at)

    def orders(self, statuses: Sequence[OrderStatus]) -> None:
        self._m.orders_reached(statuses)

    def price_updates(self, count: int) -> None:
        self._m.prices_stored(count)

    def pass_finished(self, *, outcome: str, seconds: float, finished_at: datetime) -> None:
        self._m.pass_ended(outcome=outcome, seconds=seconds)

    def webhook_attempt(self, outcome: str) -> None:
        self._m.webhook_deliveries.labels(outcome).inc()


class WaitingWork(Collector):
    """Gauges read from the database at scrape time (the same value in every process)."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def collect(self) -> Iterator[GaugeMetricFamily]:
        due = GaugeMetricFamily(
            "autopilot_due_rules",
            "Rules due now and not yet executed (rebalancing: due by schedule), by automation.",
            labels=["automation"],
        )
        approvals = GaugeMetricFamily(
            "autopilot_pending_approvals", "Rebalancing proposals awaiting approval."
        )
        triggers = GaugeMetricFamily("autopilot_trigger_orders_active", "Active trigger orders.")
        workers = GaugeMetricFamily(
            "autopilot_workers_alive",
            "Dedicated workers whose heartbeat is within AUTOMATION_WORKER_LEASE.",
        )
        dead = GaugeMetricFamily(
            "autopilot_workers_dead",
            "Dedicated workers not stopped whose heartbeat is older than the lease.",
        )
        services = self._services
        try:
            today = services.clock.now().astimezone(services.settings.zone).date()
            with services.uow(read_only=True) as uow:
                counts = uow.stats.counts(today, now=services.clock.now())
            listed = services.workers.list()
        except Exception as exc:  # the database is down: the gauges are absent this scrape
            log.warning("metrics: the database could not be read: %s", exc)
            return
        due.add_metric(["auto_invest"], counts.due_auto_invest)
        due.add_metric(["rebalancing"], counts.due_rebalancing)
        approvals.add_metric([], counts.pending_approvals)
        triggers.add_metric([], counts.active_triggers)
        workers.add_metric([], listed.count(WorkerState.ALIVE))
        dead.add_metric([], listed.count(WorkerState.DEAD))
        yield from (due, approvals, triggers, workers, dead)


def for_process(services: Services) -> Metrics:
    """This process's metrics, installed as the services' telemetry, with the waiting work."""
    from autopilot.services import telemetry

    metrics = Metrics(zone=services.settings.zone)
    metrics.registry.register(WaitingWork(services))
    telemetry.install(Telemetry(metrics))
    return metrics
