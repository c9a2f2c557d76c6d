"""Signing in to the dashboard over HTTP, as a browser does (cookies, the forms' CSRF tokens)."""

from __future__ import annotations

import re

import httpx

from tests.support.server import RunningServer

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found is not None, page[:500]
    return found.group(1)


def signed_in(server: RunningServer, key: str) -> httpx.Client:
    """An HTTP client holding a dashboard session opened with ``key``; closed at the server's
    stop."""
    browser = httpx.Client(base_url=server.base_url, timeout=10.0, follow_redirects=False)
    server.others.append(browser)
    form = browser.get("/dashboard/sign-in")
    assert form.status_code == 200, form.text
    answer = browser.post("/dashboard/sign-in", data={"csrf": csrf_of(form.text), "key": key})
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard", answer.text
    return browser
