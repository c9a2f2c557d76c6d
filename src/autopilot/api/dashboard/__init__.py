"""The operator's dashboard at /dashboard, served by ``serve`` itself (see :mod:`.web`)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from autopilot.api.dashboard import actions, pages
from autopilot.api.dashboard.web import PREFIX, BadInput, Refused, SignInNeeded, failed, protect

STATIC = Path(__file__).parent.parent / "static" / "dashboard"


async def _signed_out(request: Request, exc: Exception) -> Response:
    """No valid session: a page goes to the sign-in form; a live update (which cannot follow a
    redirect to a form) gets a 401 telling the page's script where to go."""
    if request.query_params.get("fragment") == "1":
        return protect(JSONResponse({"signIn": PREFIX + "/sign-in"}, status_code=401))
    return protect(RedirectResponse(PREFIX + "/sign-in", status_code=303))


async def _refused(request: Request, exc: Exception) -> Response:
    return failed(request, exc)


def install(app: FastAPI) -> None:
    """Serve the dashboard; call once every API route is in (the roles are read from them)."""
    app.mount("/static/dashboard", StaticFiles(directory=STATIC), name="dashboard-static")
    app.include_router(actions.router)
    app.include_router(pages.router)
    app.add_exception_handler(SignInNeeded, _signed_out)
    for kind in (Refused, BadInput):
        app.add_exception_handler(kind, _refused)
