"""/docs and /redoc render in a real browser with no request leaving the machine (issue 11)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import chromium, needs_chromium
from tests.support.server import StartServer

pytestmark = [pytest.mark.e2e, needs_chromium]

RESOURCES = "return performance.getEntriesByType('resource').map(e => e.name)"


def _wait(driver: Any, css: str, text: str) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    return driver.find_elements(By.CSS_SELECTOR, css)


def test_swagger_ui_and_redoc_render_from_the_package_alone(
    start_server: StartServer, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    server = start_server(AUTOMATION_SCHEDULER_ENABLED="false")
    with chromium() as driver:
        driver.get(f"{server.base_url}/docs")
        assert driver.title == "Autopilot - Swagger UI"
        _wait(driver, ".swagger-ui .info .title", "Autopilot")
        operations = driver.find_elements(By.CSS_SELECTOR, ".opblock")
        assert len(operations) >= 50  # the operations were read from /openapi.json
        swagger = driver.execute_script(RESOURCES)
        driver.save_screenshot(str(tmp_path / "docs.png"))

        driver.get(f"{server.base_url}/redoc")
        assert driver.title == "Autopilot - ReDoc"
        _wait(driver, "h1", "Autopilot")
        menu = driver.find_elements(By.CSS_SELECTOR, "[role=menuitem], li[data-item-id]")
        assert len(menu) >= 10
        redoc = driver.execute_script(RESOURCES)
        driver.save_screenshot(str(tmp_path / "redoc.png"))

    for fetched in (swagger, redoc):
        assert fetched, "the page fetched nothing: it did not load its scripts"
        elsewhere = [url for url in fetched if not url.startswith(server.base_url)]
        assert elsewhere == [], elsewhere
    assert any(u.endswith("/static/docs/swagger-ui-bundle.js") for u in swagger)
    assert any(u.endswith("/static/docs/redoc.standalone.js") for u in redoc)
