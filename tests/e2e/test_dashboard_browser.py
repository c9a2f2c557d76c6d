"""The dashboard in a real browser (Debian's Chromium through Selenium), offline: an operator
signs in, reads each page, filters, watches a pass's executions appear without reloading, pauses
a rule and approves a proposal (issue 11). The overview's screenshot is saved to
``test-output/dashboard-overview.png`` (or under ``$AUTOPILOT_TEST_OUTPUT``)."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from autopilot.bootstrap import build
from autopilot.config import load_settings
from autopilot.domain.outcomes import AutomationType, OutcomeStatus
from autopilot.services.records import LogEntry
from tests.e2e.test_rebalancing_api import drifted_account
from tests.e2e.test_rebalancing_api import rule_body as rebalancing_body
from tests.support.browser import chromium, needs_chromium
from tests.support.http import data, funded_account, rule_body
from tests.support.server import RunningServer, StartServer

pytestmark = [pytest.mark.e2e, pytest.mark.real_clock, needs_chromium]

REPO = Path(__file__).resolve().parents[2]
OUTPUT = Path(os.environ.get("AUTOPILOT_TEST_OUTPUT", REPO / "test-output"))
RULES = "/api/automation/auto-invest-rules"
REBALANCING = "/api/automation/rebalancing-rules"
PROPOSALS = "/api/automation/rebalancing-proposals"
EXECUTE = "/api/automation/scheduler/execute"


def seed(server: RunningServer) -> dict[str, Any]:
    """An auto-invest rule, a rebalancing proposal awaiting approval, and a failed attempt."""
    api = server.client
    who = funded_account(api, "10000.00", {"VTI": "250.00", "BND": "72.50"})
    rule = data(api.post(RULES, json=rule_body(who)), 201)
    drifted = drifted_account(api)
    rebalancing = data(
        api.post(REBALANCING, json=rebalancing_body(drifted, requireConfirmation=True)), 201
    )
    (pending,) = data(api.post(EXECUTE, json={"type": "rebalancing"}))["pendingApproval"]
    assert pending["ruleId"] == rebalancing["id"]
    (proposal,) = data(api.get(PROPOSALS, params={"ruleId": rebalancing["id"]}))["items"]
    failed_rule = data(api.post(RULES, json=rule_body(who, name="Flaky")), 201)
    # A failed attempt, as a pass that met a broken quote feed writes it.
    services = build(load_settings(database_url=server.database_url))
    try:
        with services.uow() as uow:
            uow.logs.add_many(
                [
                    LogEntry(
                        automation_type=AutomationType.AUTO_INVEST,
                        automation_id=failed_rule["id"],
                        client_id=who.client_id,
                        execution_date=date.fromisoformat(failed_rule["startDate"]),
                        status=OutcomeStatus.FAILED,
                        message="attempt 1 of 3 failed",
                        error="RuntimeError: quote feed exploded",
                        triggered_by="scheduler",
                        attempt=1,
                        started_at=datetime.now(UTC),
                    )
                ],
                datetime.now(UTC),
            )
    finally:
        services.close()
    return {"rule": rule, "proposal": proposal, "failed_rule": failed_rule}


def test_an_operator_signs_in_reads_filters_pauses_and_approves_in_a_browser(
    start_server: StartServer,
) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    server = start_server(AUTOMATION_SCHEDULER_ENABLED="false")
    seeded = seed(server)
    rule_id, proposal_id = seeded["rule"]["id"], seeded["proposal"]["id"]
    base = server.base_url

    with chromium() as driver:
        # The live page re-renders its cards on each update: an element found just before one
        # is gone when it is read, and is looked up again.
        wait = WebDriverWait(driver, 20, ignored_exceptions=[StaleElementReferenceException])

        def text_of(css: str) -> str:
            for _ in range(4):
                try:
                    return str(driver.find_element(By.CSS_SELECTOR, css).text)
                except StaleElementReferenceException:
                    continue
            return str(driver.find_element(By.CSS_SELECTOR, css).text)

        def click(css: str) -> None:
            driver.find_element(By.CSS_SELECTOR, css).click()

        driver.get(f"{base}/dashboard")
        assert driver.current_url == f"{base}/dashboard/sign-in"
        driver.find_element(By.ID, "key").send_keys(server.admin_key)
        click("#sign-in")
        wait.until(ec.url_to_be(f"{base}/dashboard"))

        # Overview: the cards, the chart drawn from the vendored library, the scheduler.
        assert text_of("#pending-approvals .figure") == "1"
        assert text_of("#executions-48h") == "2"  # the proposal's row and the failed attempt
        drawn = "return !!Chart.getChart(document.getElementById('executions-chart'))"
        wait.until(lambda d: d.execute_script(drawn))
        assert "no" in text_of("#scheduler-running")  # AUTOMATION_SCHEDULER_ENABLED=false
        OUTPUT.mkdir(parents=True, exist_ok=True)
        shot = OUTPUT / "dashboard-overview.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        print(f"overview screenshot: {shot}")

        # Live: a pass run elsewhere shows up on the open page without a reload.
        driver.execute_script("window.notReloaded = true")
        data(server.client.post(EXECUTE, json={"type": "auto-invest", "ruleId": rule_id}))
        wait.until(lambda d: d.find_element(By.ID, "executions-48h").text == "3")
        assert driver.execute_script("return window.notReloaded") is True

        # Executions: filtered by rule, each row linking to its rule.
        driver.get(f"{base}/dashboard/executions")
        assert len(driver.find_elements(By.CSS_SELECTOR, "tr[data-log-id]")) == 3
        driver.find_element(By.ID, "f-rule").send_keys(rule_id)
        click("#apply")
        wait.until(ec.url_contains(f"rule={rule_id}"))
        rows = driver.find_elements(By.CSS_SELECTOR, "tr[data-log-id]")
        assert len(rows) == 1 and rule_id in rows[0].text
        click("a.rule-link")
        wait.until(ec.url_contains(f"/dashboard/rules/auto-invest/{rule_id}"))
        assert text_of("dd[data-field='id']") == rule_id

        # Failures: the failed attempt with its error.
        driver.get(f"{base}/dashboard/failures")
        failure = driver.find_element(By.CSS_SELECTOR, "tr[data-log-id]")
        assert seeded["failed_rule"]["id"] in failure.text
        assert "quote feed exploded" in failure.text

        # Rules: pause one.
        driver.get(f"{base}/dashboard/rules")
        row = f"tr[data-rule-id='{rule_id}']"
        driver.find_element(By.CSS_SELECTOR, f"{row} button[data-action='pause']").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "notice"), f"Paused {rule_id}"))
        assert "Paused" in text_of(f"{row} .rule-status")
        assert data(server.client.get(f"{RULES}/{rule_id}"))["status"] == "Paused"

        # Proposals: approve the one waiting.
        driver.get(f"{base}/dashboard/proposals")
        waiting = f"tr[data-proposal-id='{proposal_id}']"
        driver.find_element(By.CSS_SELECTOR, f"{waiting} button[data-action='approve']").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "notice"), f"Approved {proposal_id}"))
        approved = data(server.client.get(f"{PROPOSALS}/{proposal_id}"))
        assert approved["status"] == "Approved" and len(approved["orderIds"]) == 3

        # Nothing left the machine; the browser logged no error.
        fetched = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert [u for u in fetched if not u.startswith(base)] == []
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []

        click("#sign-out")
        wait.until(ec.url_to_be(f"{base}/dashboard/sign-in"))
        driver.get(f"{base}/dashboard")
        assert driver.current_url == f"{base}/dashboard/sign-in"
