"""The FastAPI application: routes, the envelope, and the in-process scheduler's lifetime."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from autopilot.api import dashboard, docs, envelope, middleware, openapi
from autopilot.api.routes import (
    access,
    auto_invest_rules,
    metrics,
    orders,
    platform,
    rebalancing,
    scheduler,
    trigger_orders,
    webhooks,
)
from autopilot.bootstrap import Services
from autopilot.engine.scheduler import Scheduler
from autopilot.engine.webhooks import WebhookLoop
from autopilot.metrics import for_process as metrics_of_process
from autopilot.services.execution.results import PREFIX


def create_app(services: Services, *, run_scheduler: bool | None = None) -> FastAPI:
    """The app over wired services; the scheduler runs in-process when enabled in settings."""
    loop = Scheduler(services)
    enabled = (
        services.settings.automation_scheduler_enabled if run_scheduler is None else run_scheduler
    )

    deliveries = WebhookLoop(services.dispatcher)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        deliveries.start()
        if enabled:
            loop.start()
        else:  # the guide's first troubleshooting step reads the start-up lines
            logging.getLogger("autopilot.scheduler").info(
                "%s Scheduler disabled (AUTOMATION_SCHEDULER_ENABLED=false): passes run from"
                " `autopilot run-once` or POST /api/automation/scheduler/execute",
                PREFIX,
                extra={"action": "scheduler.disabled"},
            )
        try:
            yield
        finally:
            loop.stop()
            deliveries.stop()

    app = FastAPI(
        title="Autopilot",
        description="Automation engine for investing: auto-invest, rebalancing, trigger orders.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served from the package by docs.install, not from a CDN
        redoc_url=None,
    )
    app.state.services = services
    app.state.scheduler = loop
    app.state.metrics = metrics_of_process(services)
    envelope.install(app)
    openapi.install(app)
    docs.install(app)
    middleware.install(app)  # outermost: the request id is there for everything inside
    app.include_router(access.health_router)
    app.include_router(metrics.router)
    for module in (
        scheduler,
        auto_invest_rules,
        rebalancing,
        trigger_orders,
        platform,
        orders,
        access,
        webhooks,
    ):
        app.include_router(module.router)
    dashboard.install(app)  # after the API's routes: its roles are read from their grants
    return app
