"""The web UI in a real headless Chromium against `steplane dev` (issue 12, items 2 and 4).

One browser session for the module; the tests run in file order and share the runs started
by `runs`: one completed, one failed after retries, one waiting on a hook, one held open to
be cancelled. Every test ends with no console error in the browser (`console_clean`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import Dev, fetch

pytest.importorskip("selenium")
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

WAIT = 20.0


def wait_for(driver: Any, condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """The first truthy value of `condition()` within `timeout` (elements may be replaced
    by a re-render while read: that counts as not yet)."""

    def attempt(_: Any) -> Any:
        try:
            return condition()
        except StaleElementReferenceException:
            return None

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(attempt, message=what)


def shoot(driver: Any, path: Path) -> None:
    """A screenshot of the whole page (the window is made as tall as the page for it)."""
    width, height = driver.get_window_size()["width"], driver.get_window_size()["height"]
    full = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(max(full + 140, height), 4000))
    try:
        driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(width, height)


def texts(driver: Any, selector: str) -> list[str]:
    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, selector)]


@pytest.fixture(scope="module")
def runs(dev: Dev) -> dict[str, str]:
    started = {
        "completed": dev.start("ui.checkout", "o-1"),
        "failed": dev.start("ui.declined", "o-2"),
        "hook": dev.start("ui.approval", "o-3"),
        "hold": dev.start("ui.hold", "hold-token-1"),
    }
    dev.wait_status(started["completed"], {"completed"})
    dev.wait_status(started["failed"], {"failed"})
    return started


def visit(browser: Any, dev: Dev, fragment: str) -> None:
    """Open a page of the UI, signing in first if this session has not (a test run alone)."""
    browser.get(f"{dev.url}/{fragment}")
    if "/ui/login" in browser.current_url:
        browser.find_element(By.ID, "key").send_keys(dev.api_key, Keys.ENTER)
        wait_for(browser, lambda: "/ui/login" not in browser.current_url, "signed in")
        browser.get(f"{dev.url}/{fragment}")


def open_run(browser: Any, dev: Dev, run_id: str) -> None:
    visit(browser, dev, f"#/runs/{run_id}")
    wait_for(browser, lambda: run_id in browser.find_element(By.ID, "run-header").text, "run page")


def status_on_page(browser: Any) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, "#run-header .badge").text)


# --- signing in -------------------------------------------------------------------------------


def test_nothing_is_readable_without_the_api_key(dev: Dev, runs: dict[str, str]) -> None:
    run_id = runs["completed"]
    for path in ("/", "/ui"):
        status, _ = fetch(dev.url + path)
        assert status == 303  # to the login page
    status, body = fetch(dev.url + "/ui/login")
    assert status == 200 and "API key" in body and run_id not in body
    assert fetch(dev.url + "/ui/assets/app.js")[0] == 401
    forged = {"Cookie": "steplane_session=v1.9999999999.00ff"}
    for path in ("/v1/runs", f"/v1/runs/{run_id}/events?decrypt=true", "/v1/hooks"):
        for headers in ({}, forged):
            status, body = fetch(dev.url + path, headers)
            assert status == 401 and run_id not in body, (path, headers)
    assert fetch(dev.url + "/", forged)[0] == 303


def test_login_takes_the_key(
    browser: Any, dev: Dev, runs: dict[str, str], screenshots: Path
) -> None:
    browser.get(f"{dev.url}/#/runs/{runs['completed']}")
    wait_for(browser, lambda: "/ui/login" in browser.current_url, "login page")
    assert runs["completed"] not in browser.page_source
    browser.find_element(By.ID, "key").send_keys("not-the-key", Keys.ENTER)
    error = wait_for(browser, lambda: browser.find_element(By.ID, "login-error").text, "error")
    assert error == "That API key is not valid."
    browser.get_log("browser")  # the 401 answer of the refused login is logged; expected
    browser.find_element(By.ID, "key").send_keys(dev.api_key)
    shoot(browser, screenshots / "login.png")
    browser.find_element(By.ID, "login-submit").click()
    wait_for(browser, lambda: browser.find_elements(By.ID, "runs-body"), "runs page")
    browser.get_log("browser")


# --- runs -------------------------------------------------------------------------------------


def test_runs_list_shows_status_workflow_duration_and_steps(
    browser: Any, dev: Dev, runs: dict[str, str], screenshots: Path, console_clean: None
) -> None:
    visit(browser, dev, "#/runs")

    def row(run_id: str) -> Any:
        return browser.find_element(By.CSS_SELECTOR, f'tr[data-run-id="{run_id}"]')

    wait_for(browser, lambda: all(row(r) for r in runs.values()), "every run listed")
    cells = row(runs["completed"]).find_elements(By.TAG_NAME, "td")
    assert [c.text for c in cells[:3]] == ["completed", "ui.checkout", runs["completed"]]
    pinned = dev.api("GET", f"/v1/runs/{runs['completed']}")["deployment"]
    assert pinned.startswith("d-") and cells[3].text == pinned  # the deployment column
    assert cells[5].text.endswith(("ms", "s")) and cells[6].text == "3"
    assert row(runs["failed"]).get_attribute("data-status") == "failed"
    assert row(runs["hook"]).get_attribute("data-status") == "running"
    # live: a run started now appears without a reload
    fresh = dev.start("ui.checkout", "o-live")
    wait_for(browser, lambda: row(fresh), "a new run shows up by itself")
    dev.wait_status(fresh, {"completed"})
    wait_for(browser, lambda: row(fresh).get_attribute("data-status") == "completed", "updated")
    shoot(browser, screenshots / "runs.png")


def listed(browser: Any) -> list[str]:
    rows = browser.find_elements(By.CSS_SELECTOR, "#runs-body tr[data-run-id]")
    return [str(r.get_attribute("data-run-id")) for r in rows]


def test_filters_and_pages(
    browser: Any, dev: Dev, runs: dict[str, str], console_clean: None
) -> None:
    visit(browser, dev, "#/runs")
    wait_for(browser, lambda: runs["failed"] in listed(browser), "list")
    Select(browser.find_element(By.ID, "filter-status")).select_by_value("failed")
    wait_for(browser, lambda: listed(browser) == [runs["failed"]], "status filter")
    Select(browser.find_element(By.ID, "filter-status")).select_by_value("")
    box = browser.find_element(By.ID, "filter-workflow")
    box.send_keys("ui.approval", Keys.ENTER)
    wait_for(browser, lambda: listed(browser) == [runs["hook"]], "workflow filter")
    box = browser.find_element(By.ID, "filter-workflow")
    box.clear()
    box.send_keys(Keys.ENTER)
    Select(browser.find_element(By.ID, "filter-since")).select_by_value("900")
    wait_for(browser, lambda: set(runs.values()) <= set(listed(browser)), "time filter")
    everything = dev.api("GET", "/v1/runs?limit=100")["runs"]
    newest_first = [r["run_id"] for r in everything]
    visit(browser, dev, "#/runs?limit=2")
    wait_for(browser, lambda: listed(browser) == newest_first[:2], "first page of 2")
    browser.find_element(By.ID, "page-next").click()
    wait_for(browser, lambda: listed(browser) == newest_first[2:4], "second page")
    browser.find_element(By.ID, "page-first").click()
    wait_for(browser, lambda: listed(browser) == newest_first[:2], "back to the first page")


def deployments_shown(browser: Any) -> list[str]:
    return texts(browser, "#runs-body tr[data-run-id] td.deployment")


def apply_filter(browser: Any, field: str, value: str) -> None:
    """Type `value` into one text filter (the others cleared) and apply it with Enter."""
    for other in ("filter-workflow", "filter-deployment", "filter-attr"):
        browser.find_element(By.ID, other).clear()
    box = browser.find_element(By.ID, field)
    box.send_keys(value, Keys.ENTER)


def test_attribute_and_deployment_filters(
    browser: Any, dev: Dev, runs: dict[str, str], console_clean: None
) -> None:
    tagged = {c: dev.start("ui.tagged", c) for c in ("c-7", "c-8")}
    for run_id in tagged.values():
        dev.wait_status(run_id, {"completed"})
    visit(browser, dev, "#/runs")
    wait_for(browser, lambda: tagged["c-8"] in listed(browser), "list")
    apply_filter(browser, "filter-attr", "customer=c-7")
    wait_for(browser, lambda: listed(browser) == [tagged["c-7"]], "attribute filter")
    assert "attr=customer%3Dc-7" in browser.current_url  # the filter is in the link
    apply_filter(browser, "filter-attr", "stage=paid")  # an attribute both runs set
    wait_for(browser, lambda: set(listed(browser)) == set(tagged.values()), "both tagged runs")

    deployment = dev.api("GET", f"/v1/runs/{runs['completed']}")["deployment"]
    assert deployment and deployment.startswith("d-")
    apply_filter(browser, "filter-deployment", deployment)
    wait_for(browser, lambda: set(runs.values()) <= set(listed(browser)), "deployment filter")
    assert set(deployments_shown(browser)) == {deployment}
    apply_filter(browser, "filter-deployment", "d-" + "0" * 16)  # well formed, no runs
    wait_for(browser, lambda: texts(browser, "#runs-body td") == ["No runs."], "no runs")

    open_run(browser, dev, tagged["c-7"])  # a run links to its deployment's runs
    attributes = browser.find_element(By.ID, "run-attributes")
    wait_for(browser, lambda: "c-7" in attributes.text, "the run's attributes")
    attributes.find_element(By.CSS_SELECTOR, "li[data-name=customer] a").click()
    wait_for(browser, lambda: listed(browser) == [tagged["c-7"]], "the attribute's runs")
    open_run(browser, dev, tagged["c-7"])
    browser.find_element(By.ID, "run-deployment").click()
    wait_for(browser, lambda: tagged["c-7"] in listed(browser), "the deployment's runs")
    assert browser.find_element(By.ID, "filter-deployment").get_attribute("value") == deployment


# --- one run ----------------------------------------------------------------------------------


def gantt(browser: Any) -> list[tuple[str, str, list[str], float]]:
    """(kind, name, attempt outcomes, left edge in px) of each timeline row."""
    found = []
    for row in browser.find_elements(By.CSS_SELECTOR, "#gantt .gantt-row"):
        bars = row.find_elements(By.CSS_SELECTOR, ".bar")
        outcomes = [
            str(b.get_attribute("data-outcome")) for b in bars if b.get_attribute("data-outcome")
        ]
        left = min(b.location["x"] for b in bars)
        found.append(
            (
                str(row.get_attribute("data-kind")),
                str(row.get_attribute("data-name")),
                outcomes,
                left,
            )
        )
    return found


def test_the_gantt_shows_steps_in_order(
    browser: Any, dev: Dev, runs: dict[str, str], console_clean: None
) -> None:
    open_run(browser, dev, runs["completed"])
    rows = wait_for(browser, lambda: len(gantt(browser)) == 3 and gantt(browser), "three bars")
    assert [(kind, name, outcomes) for kind, name, outcomes, _ in rows] == [
        ("step", "validate", ["completed"]),
        ("step", "charge", ["completed"]),
        ("step", "ship", ["completed"]),
    ]
    lefts = [left for *_, left in rows]
    assert lefts == sorted(lefts)


def test_a_failed_run_shows_its_retries_and_errors(
    browser: Any, dev: Dev, runs: dict[str, str], screenshots: Path, console_clean: None
) -> None:
    open_run(browser, dev, runs["failed"])
    rows = wait_for(browser, lambda: len(gantt(browser)) == 2 and gantt(browser), "two bars")
    assert rows[1][:3] == ("step", "flaky_card", ["retrying", "retrying", "failed"])
    assert len(browser.find_elements(By.CSS_SELECTOR, "#gantt .bar.backoff")) == 2
    errors = [
        [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        for row in browser.find_elements(By.CSS_SELECTOR, "#errors-table tbody tr")
    ]
    assert [e[:3] for e in errors] == [
        ["flaky_card", "1", "step retrying"],
        ["flaky_card", "2", "step retrying"],
        ["flaky_card", "3", "step failed"],
        ["(run)", "", "run failed"],
    ]
    assert all(e[4].startswith("encrypted (") for e in errors)  # until someone decrypts
    assert status_on_page(browser) == "failed"
    browser.find_element(By.ID, "decrypt").click()
    wait_for(
        browser,
        lambda: "card declined for o-2" in browser.find_element(By.ID, "errors").text,
        "decrypted error messages",
    )
    shoot(browser, screenshots / "run-failed.png")


def test_values_stay_encrypted_until_decrypted_and_each_decrypt_is_audited(
    browser: Any, dev: Dev, runs: dict[str, str], screenshots: Path, console_clean: None
) -> None:
    run_id = runs["completed"]
    before = dev.audit_records(run_id)
    open_run(browser, dev, run_id)
    wait_for(browser, lambda: "encrypted (" in browser.find_element(By.ID, "output").text, "sealed")
    assert "shipped O-1" not in browser.page_source and '"o-1"' not in browser.page_source
    assert dev.audit_records(run_id) == before  # reading the page decrypts nothing
    browser.find_element(By.ID, "decrypt").click()
    wait_for(browser, lambda: "shipped O-1" in browser.find_element(By.ID, "output").text, "output")
    assert '"o-1"' in browser.find_element(By.ID, "input").text
    assert "audit log" in browser.find_element(By.ID, "notice").text
    after = dev.audit_records(run_id)
    assert len(after) == len(before) + 1
    [record] = [r for r in after if r not in before]
    assert (record["audit"], record["run_id"], record["via"]) == ("decrypt", run_id, "ui")
    assert record["actor"].startswith("api key key_")
    shoot(browser, screenshots / "run-decrypted.png")


def test_a_hostile_value_is_shown_as_text(browser: Any, dev: Dev, console_clean: None) -> None:
    hostile = "<img src=x onerror=window.pwned=1><script>window.pwned=2</script>"
    run_id = dev.start("ui.checkout", hostile)
    dev.wait_status(run_id, {"completed"})
    open_run(browser, dev, run_id)
    browser.find_element(By.ID, "decrypt").click()
    wait_for(browser, lambda: hostile in browser.find_element(By.ID, "input").text, "as text")
    assert browser.execute_script("return window.pwned") is None
    assert browser.find_elements(By.CSS_SELECTOR, "#main img, #main script") == []


def test_hooks_page_lists_live_hooks_by_fingerprint(
    browser: Any, dev: Dev, runs: dict[str, str], screenshots: Path, console_clean: None
) -> None:
    visit(browser, dev, "#/hooks")

    def row(run_id: str) -> list[str]:
        cells = browser.find_elements(By.CSS_SELECTOR, f'#hooks-body tr[data-run-id="{run_id}"] td')
        return [cell.text for cell in cells]

    wait_for(browser, lambda: row(runs["hook"]) and row(runs["hold"]), "both live hooks")
    fingerprint, workflow, run, _, age, received = row(runs["hold"])
    assert fingerprint.startswith("tok_") and "hold-token-1" not in browser.page_source
    assert (workflow, run, received) == ("ui.hold", runs["hold"], "0")
    assert age.endswith(("ms", "s"))
    assert row(runs["hook"])[1] == "ui.approval"
    shoot(browser, screenshots / "hooks.png")


def test_resume_a_hook_from_its_form(
    browser: Any, dev: Dev, runs: dict[str, str], screenshots: Path, console_clean: None
) -> None:
    run_id = runs["hook"]
    open_run(browser, dev, run_id)
    form = wait_for(browser, lambda: browser.find_element(By.CSS_SELECTOR, ".hook-form"), "form")
    shoot(browser, screenshots / "run-hook.png")
    browser.find_element(By.ID, "decrypt").click()  # the hook's token stays hidden even so

    def created() -> str:
        return str(browser.find_element(By.CSS_SELECTOR, 'tr[data-type="hook_created"]').text)

    wait_for(browser, lambda: '"[redacted]"' in created(), "hook_created, its token redacted")
    assert '"metadata"' in created() and '"order": "o-3"' in created()
    form = browser.find_element(By.CSS_SELECTOR, ".hook-form")
    field = form.find_element(By.TAG_NAME, "textarea")
    field.clear()
    field.send_keys('{"approved": true, "by": "ada"}')
    form.find_element(By.CSS_SELECTOR, "button.resume").click()
    wait_for(browser, lambda: status_on_page(browser) == "completed", "run completes")
    result = dev.api("GET", f"/v1/runs/{run_id}/result")
    assert result["result"]["decision"] == {"approved": True, "by": "ada"}
    assert "No live hooks." in browser.find_element(By.ID, "hooks").text


def test_cancel_asks_first(
    browser: Any, dev: Dev, runs: dict[str, str], console_clean: None
) -> None:
    run_id = runs["hold"]
    open_run(browser, dev, run_id)
    browser.find_element(By.ID, "cancel").click()
    dialog = browser.find_element(By.ID, "confirm")
    wait_for(browser, dialog.is_displayed, "confirmation")
    assert run_id in dialog.text
    browser.find_element(By.ID, "confirm-no").click()
    wait_for(browser, lambda: not dialog.is_displayed(), "dialog closed")
    assert dev.api("GET", f"/v1/runs/{run_id}")["status"] == "running"
    browser.find_element(By.ID, "cancel").click()
    wait_for(browser, dialog.is_displayed, "confirmation again")
    browser.find_element(By.ID, "confirm-yes").click()
    wait_for(browser, lambda: status_on_page(browser) == "cancelled", "cancelled")
    assert dev.api("GET", f"/v1/runs/{run_id}")["status"] == "cancelled"
    assert browser.find_element(By.ID, "cancel").get_attribute("disabled") is not None


def test_rerun_starts_a_linked_run_with_the_same_input(
    browser: Any, dev: Dev, runs: dict[str, str], console_clean: None
) -> None:
    old = runs["completed"]
    open_run(browser, dev, old)
    browser.find_element(By.ID, "rerun").click()
    browser.find_element(By.ID, "confirm-yes").click()
    wait_for(browser, lambda: old not in browser.current_url, "the new run's page")
    new = browser.current_url.rsplit("/", 1)[1]
    assert new.startswith("run_") and new != old
    link = wait_for(browser, lambda: browser.find_element(By.ID, "rerun-of"), "rerun-of link")
    assert link.text == old
    dev.wait_status(new, {"completed"})
    wait_for(browser, lambda: status_on_page(browser) == "completed", "the rerun completes")
    old_result = dev.api("GET", f"/v1/runs/{old}/result")["result"]
    assert dev.api("GET", f"/v1/runs/{new}/result")["result"] == old_result


def test_a_stream_resumes_across_a_reload_without_gaps_or_repeats(
    browser: Any, dev: Dev, screenshots: Path, tmp_path: Path, console_clean: None
) -> None:
    stop = tmp_path / "stop-streaming"  # the stream goes on until this file exists
    run_id = dev.start("ui.streaming", 3, 0.1, str(stop))
    open_run(browser, dev, run_id)

    def chunks() -> list[str]:
        return texts(browser, '.stream[data-stream="default"] li')

    def status() -> str:
        return str(browser.find_element(By.CSS_SELECTOR, ".stream-status").text)

    wait_for(browser, lambda: len(chunks()) >= 3, "first chunks", timeout=30)
    browser.get_log("performance")  # only the requests after the reload count below
    browser.refresh()
    wait_for(browser, lambda: status().startswith("resumed after chunk"), "resumed", timeout=30)
    resumed_after = int(status().split()[3])
    assert chunks()[: resumed_after + 1] == [f"chunk-{i:02d}" for i in range(resumed_after + 1)]
    assert stream_requests(browser) == [str(resumed_after)]  # one request, resuming
    wait_for(browser, lambda: len(chunks()) > resumed_after + 2, "chunks after the reload")
    stop.touch()
    wait_for(browser, lambda: status().startswith("ended"), "the stream ends", timeout=30)
    total = dev.api("GET", f"/v1/runs/{run_id}/result?timeout=30")["result"]
    assert chunks() == [f"chunk-{i:02d}" for i in range(total)]  # each once, in order
    assert status() == f"ended · {total} chunks"
    wait_for(browser, lambda: status_on_page(browser) == "completed", "the run completes")
    wait_for(browser, lambda: len(gantt(browser)) == 1, "its step on the timeline")
    shoot(browser, screenshots / "run-stream.png")


def stream_requests(browser: Any) -> list[str | None]:
    """The `Last-Event-ID` of each stream request the page made (Chromium's network log)."""
    found = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        request = message.get("params", {}).get("request", {})
        if message["method"] == "Network.requestWillBeSent" and "/streams/" in request.get(
            "url", ""
        ):
            headers = {k.lower(): v for k, v in request.get("headers", {}).items()}
            found.append(headers.get("last-event-id"))
    return found


# --- small screens and keyboards ------------------------------------------------------------


def page_overflows(browser: Any) -> bool:
    return bool(
        browser.execute_script(
            "return document.documentElement.scrollWidth > window.innerWidth + 1"
        )
    )


def focused_href(browser: Any) -> str:
    """The `href` of the focused element ("" for none), read in one step of the page."""
    return str(browser.execute_script("return document.activeElement.getAttribute('href')") or "")


def press(browser: Any, key: str) -> None:
    """Press `key` on the focused element, whichever it is by the time the key arrives."""
    ActionChains(browser).send_keys(key).perform()


def test_390px_wide_and_keyboard_only(
    browser: Any, dev: Dev, runs: dict[str, str], screenshots: Path, console_clean: None
) -> None:
    browser.set_window_size(390, 844)
    try:
        visit(browser, dev, "#/runs")
        wait_for(browser, lambda: runs["failed"] in listed(browser), "list")
        assert not page_overflows(browser)
        shoot(browser, screenshots / "runs-390.png")
        # Keys go to whatever holds the focus, as a keyboard's do: the live list re-renders
        # every few seconds and replaces its rows (focus moves to the new row, keepFocus in
        # app.js), so an element reference taken before a re-render would be stale.
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
        target = f"#/runs/{runs['failed']}"
        for _ in range(60):
            if focused_href(browser).endswith(target):
                break
            press(browser, Keys.TAB)
        else:
            raise AssertionError("the run's link is not reachable with Tab")
        fresh = dev.start("ui.checkout", "o-keyboard")  # the live list re-renders meanwhile
        wait_for(browser, lambda: fresh in listed(browser), "the new run listed")
        assert focused_href(browser).endswith(target)  # focus kept
        press(browser, Keys.ENTER)
        wait_for(browser, lambda: browser.current_url.endswith(target), "run page by keyboard")
        wait_for(browser, lambda: len(gantt(browser)) == 2, "timeline")
        assert not page_overflows(browser)
        for control in ("cancel", "rerun", "decrypt"):
            element = browser.find_element(By.ID, control)
            assert element.tag_name == "button" and element.is_displayed()
        shoot(browser, screenshots / "run-390.png")
    finally:
        browser.set_window_size(1280, 900)


# --- the CLI's rerun ----------------------------------------------------------------------------


def test_cli_rerun(dev: Dev, runs: dict[str, str]) -> None:
    old = runs["completed"]
    done = dev.steplane("runs", "rerun", old)
    assert done.exit_code == 0, done.output
    [line] = done.stdout.splitlines()
    new, _, rest = line.partition(": ")
    assert new.startswith("run_") and rest == f"rerun of {old} (ui.checkout)"
    as_json = dev.steplane("runs", "rerun", old, "--json")
    started = json.loads(as_json.stdout)
    assert (started["rerun_of"], started["workflow"]) == (old, "ui.checkout")
    for run_id in (new, started["run_id"]):
        dev.wait_status(run_id, {"completed"})
        events = dev.api("GET", f"/v1/runs/{run_id}/events")["events"]
        assert events[0]["type"] == "run_created" and events[0]["rerun_of"] == old
    missing = dev.steplane("runs", "rerun", "run_nosuchrun")
    assert missing.exit_code == 1 and missing.stdout == ""
    [error] = missing.stderr.strip().splitlines()
    assert "run_nosuchrun" in error and "Traceback" not in missing.stderr
