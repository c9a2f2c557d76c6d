"""/docs (Swagger UI) and /redoc served from the package, so they work with no internet.

FastAPI's defaults load Swagger UI and ReDoc from a CDN. The files are vendored under
``api/static/docs`` from npm (see ``VENDORED.md`` there: package, version, licence, checksum) and
served at ``/static/docs``. The two pages also carry a Content-Security-Policy that allows their
own origin only, so nothing they would fetch from elsewhere (ReDoc's footer logo, fonts) leaves
the machine.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static" / "docs"
PREFIX = "/static/docs"
# Own origin only. The pages' own inline script starts the UI; ReDoc runs a worker from a blob.
POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:;"
    " connect-src 'self'; frame-ancestors 'none'"
)


def _own_origin_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = POLICY
    return page


def install(app: FastAPI) -> None:
    """Create the app with ``docs_url=None, redoc_url=None``; this serves both pages."""
    app.mount(PREFIX, StaticFiles(directory=STATIC), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _own_origin_only(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
                swagger_css_url=f"{PREFIX}/swagger-ui.css",
                swagger_favicon_url=f"{PREFIX}/favicon-32x32.png",
            )
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _own_origin_only(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{PREFIX}/redoc.standalone.js",
                redoc_favicon_url=f"{PREFIX}/favicon-32x32.png",
                with_google_fonts=False,
            )
        )
