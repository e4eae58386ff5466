"""Swagger UI renders the batch API in a real browser with no request leaving this machine."""

import json
import time

import httpx
import pytest

pytestmark = pytest.mark.slow

BATCH_OPERATIONS = {
    ("POST", "/api/progressupdates/{filename}"),
    ("POST", "/api/metricupdates/{filename}"),
    ("GET", "/api/progressupdates/status/{jobId}"),
    ("GET", "/api/metricupdates/status/{jobId}"),
    ("GET", "/exports/plans/{plan_id}"),
    ("GET", "/exports/plans/{plan_id}/externalids"),
}


def test_swagger_ui_lists_and_expands_the_batch_api_offline(live_server, page, screenshot):
    response = page.goto(f"{live_server.url}/swagger")  # the redirect to /swagger/ included
    assert response is not None
    assert response.ok
    assert page.url == f"{live_server.url}/swagger/"
    page.wait_for_selector(".opblock-summary-path")

    summaries = page.locator(".opblock-summary")
    listed = {
        (
            summary.locator(".opblock-summary-method").inner_text().strip(),
            summary.locator(".opblock-summary-path").get_attribute("data-path"),
        )
        for summary in summaries.all()
    }
    assert listed >= BATCH_OPERATIONS
    assert page.locator(".info .title").inner_text().startswith("planfeed")
    assert page.locator(".btn.authorize").is_visible()  # the API key scheme is declared

    submit = page.locator("#operations-batch-submit_progressupdates")
    submit.locator(".opblock-summary").click()
    body = submit.locator(".opblock-body")
    body.wait_for()
    options = body.locator(".body-param-content-type select option")
    options.first.wait_for(state="attached")  # the body's select renders after the block opens
    content_types = options.all_inner_texts()
    assert set(content_types) == {
        "application/octet-stream",
        "text/csv",
        "multipart/form-data",
        "application/json",
    }
    statuses = body.locator(".responses-table .response-col_status")
    statuses.first.wait_for()
    codes = statuses.all_inner_texts()
    assert {"200", "202"} - set(codes) == {"202"}  # the submit answers 200, never 202
    assert {"200", "400", "401", "413", "500"} <= {code.strip() for code in codes}
    assert '"jobId"' in body.locator(".responses-table").inner_text()

    page.wait_for_load_state("networkidle")
    shot = screenshot(page, "post-progressupdates")
    assert shot.stat().st_size > 10_000

    recorder = page.recorder
    assert recorder.external_requests() == []
    assert f"{live_server.url}/openapi.json" in recorder.requests
    assert f"{live_server.url}/static/swagger/swagger-ui-bundle.js" in recorder.requests
    assert recorder.page_errors == []
    assert recorder.console_errors == []


def test_try_it_out_with_an_api_key_reaches_this_server(live_server, page, screenshot, make_tenant):
    """Authorize with an API key, submit a file and read its status through the page."""
    from planfeed.accounts.models import Role

    tenant = make_tenant("acme")
    tenant.user("root", Role.SUPER_ADMIN)
    key = tenant.key("root")
    page.goto(f"{live_server.url}/swagger/")
    page.wait_for_selector(".opblock-summary-path")

    page.locator(".btn.authorize").click()
    dialog = page.locator(".dialog-ux")
    dialog.locator("input").fill(f"API-KEY {key}")
    dialog.locator("button.authorize").click()
    dialog.locator("button.btn-done").click()

    submit = page.locator("#operations-batch-submit_progressupdates")
    submit.locator(".opblock-summary").click()
    submit.locator(".try-out__btn").click()
    submit.locator("input[placeholder='filename']").fill("from_swagger")
    submit.locator(".body-param-content-type select").select_option("application/json")
    submit.locator("textarea.body-param__text").fill(
        '[{"externalId": "NOPE", "status": "On Track", "asOfDate": "2025-11-01"}]'
    )
    submit.locator("button.execute").click()
    live = submit.locator(".live-responses-table")
    status = live.locator("tr.response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    answer = live.locator("tr.response .response-col_description pre").first.inner_text()
    assert '"jobId"' in answer
    screenshot(page, "try-it-out")

    recorder = page.recorder
    submitted = [url for url in recorder.requests if "/api/progressupdates/from_swagger" in url]
    assert submitted == [f"{live_server.url}/api/progressupdates/from_swagger?dryRun=false"]
    assert recorder.external_requests() == []
    assert recorder.page_errors == []

    job_id = json.loads(answer)["jobId"]
    status_url = f"{live_server.url}/api/progressupdates/status/{job_id}"
    deadline = time.monotonic() + 30
    while (
        status := httpx.get(status_url, headers={"Authorization": f"API-KEY {key}"})
    ).status_code == 202:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert status.status_code == 400  # the worker rejected the unknown External ID
    assert status.json()["errors"][0]["value"] == "NOPE"
