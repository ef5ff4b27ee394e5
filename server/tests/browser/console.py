"""The web console in a real browser: Debian's Chromium driven by Playwright.

Run by server/tests/console.rs against a `dbfleet serve --transport http`
whose estate is the shop on SQLite (dev), PostgreSQL (staging) and MariaDB
(legacy), plus an environment that is down; exits non-zero on the first
failed expectation.
"""

import argparse
import json
import pathlib

from playwright.sync_api import expect, sync_playwright

INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--screenshots", type=pathlib.Path)
    args = parser.parse_args()

    def snap(page, name):
        if args.screenshots:
            page.screenshot(path=str(args.screenshots / f"console-{name}.png"), full_page=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1366, "height": 860})
        script_errors = []
        page.on("pageerror", lambda error: script_errors.append(str(error)))
        page.goto(f"{args.url}/ui/")

        # Without the token, the console asks for it; /mcp refuses a request
        # that lacks it, and a wrong one.
        expect(page.locator("#login")).to_be_visible()
        status = page.evaluate(
            """body => fetch('/mcp', {method: 'POST', body,
                 headers: {'Content-Type': 'application/json', 'Accept': 'application/json, text/event-stream'}})
               .then(r => r.status)""",
            json.dumps(INITIALIZE),
        )
        assert status == 401, f"/mcp without the token answered {status}"
        page.fill("#token", "not-the-token")
        page.press("#token", "Enter")
        expect(page.locator("#login-error")).to_have_text("The server refused this token.")
        page.fill("#token", args.token)
        page.press("#token", "Enter")

        # Estate: every environment with its status, the one down first.
        expect(page.locator("#estate")).to_be_visible()
        tiles = page.locator("#tiles li.tile")
        expect(tiles).to_have_count(4)
        expected = {"down": "unhealthy", "dev": "healthy", "legacy": "healthy", "staging": "healthy"}
        for name, status in expected.items():
            expect(page.locator(f'li.tile[data-environment="{name}"] .status')).to_have_text(status)
        expect(tiles.first).to_have_attribute("data-environment", "down")
        expect(page.locator('li.tile[data-environment="down"] .last-error')).to_contain_text("connection")
        expect(page.locator('li.tile[data-environment="staging"] dd').nth(2)).to_have_text("read-only")
        snap(page, "estate")

        # Query: one statement on every environment, side by side, the known
        # differences highlighted: order 2's amount differs on staging,
        # order 3 is missing from dev; the environment down fails alone.
        page.click('nav a[data-page="query"]')
        expect(page.locator("#query")).to_be_visible()
        expect(page.locator('#query-environments input[value="legacy"]')).to_be_checked()
        page.fill("#sql", "SELECT id, customer_id, amount FROM orders ORDER BY id")
        page.fill("#keys", "id")
        page.click("#query-form button")
        expect(page.locator("#comparison-summary")).to_have_text("2 difference(s) between dev, staging, legacy.")
        expect(page.locator("td.changed")).to_have_count(3)
        expect(page.locator('section.result[data-environment="staging"] td.changed')).to_have_text("20.00")
        for name, count in {"dev": 0, "staging": 1, "legacy": 1}.items():
            expect(page.locator(f'section.result[data-environment="{name}"] tr.only-here')).to_have_count(count)
        expect(page.locator('section.result[data-environment="down"] .refusal.kind-connection')).to_be_visible()
        expect(page.locator(".column-differences")).to_contain_text("amount")
        snap(page, "query")

        # Export: NDJSON from every environment chosen, each line tagged;
        # CSV from one.
        with page.expect_download() as download:
            page.click("#export-ndjson")
        lines = [json.loads(line) for line in pathlib.Path(download.value.path()).read_text().splitlines()]
        rows = {}
        for line in lines:
            if "row" in line:
                rows[line["environment"]] = rows.get(line["environment"], 0) + 1
        assert rows == {"dev": 2, "staging": 3, "legacy": 3}, f"rows exported: {rows}"
        failed = [line["environment"] for line in lines if "error" in line]
        assert failed == ["down"], f"errors exported: {failed}"
        expect(page.locator("#export-done")).to_contain_text("dbfleet-export.ndjson")
        for name in ["dev", "legacy", "down"]:
            page.uncheck(f'#query-environments input[value="{name}"]')
        with page.expect_download() as download:
            page.click("#export-csv")
        assert download.value.suggested_filename == "dbfleet-staging.csv", download.value.suggested_filename
        csv_text = pathlib.Path(download.value.path()).read_text()
        assert csv_text.splitlines() == ["id,customer_id,amount", "1,1,9.99", "2,2,20.00", "3,1,100.00"], csv_text
        for name in ["dev", "legacy", "down"]:
            page.check(f'#query-environments input[value="{name}"]')

        # A write is refused on read-only environments, and the console says why.
        page.fill("#sql", "DELETE FROM orders WHERE id = 3")
        page.fill("#keys", "")
        page.uncheck('#query-environments input[value="down"]')
        page.click("#query-form button")
        expect(page.locator(".refusal.kind-read_only").first).to_be_visible()
        expect(page.locator(".refusal.kind-read_only").first).to_contain_text("read_only = false")
        snap(page, "read-only")
        for name in ["dev", "legacy"]:
            page.uncheck(f'#query-environments input[value="{name}"]')
        page.click("#export-csv")
        expect(page.locator(".refusal.kind-read_only")).to_have_count(1)

        # Schema: the extra column of legacy and its other amount type.
        page.click('nav a[data-page="schema"]')
        page.click("#schema-form button")
        expect(page.locator("#schema-summary")).to_contain_text("difference(s) between")
        expect(page.locator(".schema-differences")).to_contain_text("note")
        expect(page.locator('section.result[data-environment="legacy"] li.changed', has_text=".orders")).to_have_count(1)

        # One table described on each environment: legacy's extra column
        # marked, the amount's other type highlighted on every side.
        page.click('section.result[data-environment="staging"] button:text-is("public.orders")')
        expect(page.locator('#describe-result section.result')).to_have_count(3)
        expect(page.locator('#describe-result section.result[data-environment="legacy"] tr.only-here')).to_have_text(
            "notevarchar(50) (text)nullNULL")
        expect(page.locator('#describe-result td.changed')).to_have_count(3)
        snap(page, "schema")

        # Activity: the statements above, newest first, literals masked.
        page.click('nav a[data-page="activity"]')
        expect(page.locator("#activity-table tbody tr").first).to_be_visible()
        page.select_option("#activity-environment", "staging")
        staging = page.locator("#activity-table tbody tr")
        expect(staging.first).to_be_visible()
        environments = staging.locator("td:nth-child(2)").all_inner_texts()
        assert set(environments) == {"staging"}, environments
        refused = page.locator('#activity-table tr[data-outcome="refused"]')
        expect(refused.first).to_contain_text("DELETE FROM orders WHERE id = ?")
        expect(refused.first).to_contain_text("refused (read_only)")
        expect(page.locator("#activity-table td", has_text="export").first).to_be_visible()
        snap(page, "activity")

        # Every field has a label, and the pages are reached from the keyboard.
        unlabeled = page.evaluate(
            "[...document.querySelectorAll('input, textarea, select')].filter(e => e.labels.length === 0).map(e => e.id)"
        )
        assert unlabeled == [], f"fields without a label: {unlabeled}"
        page.keyboard.press("Home")
        page.locator('nav a[data-page="estate"]').focus()
        page.keyboard.press("Enter")
        expect(page.locator("#estate")).to_be_visible()

        # The server samples the estate every 10 seconds while a console
        # looks: a second sample draws each healthy environment's line.
        expect(page.locator('li.tile[data-environment="dev"] svg polyline')).to_have_count(1, timeout=30_000)
        expect(page.locator('li.tile[data-environment="down"] svg polyline')).to_have_count(0)
        snap(page, "estate")

        assert not script_errors, f"script errors: {script_errors}"
        browser.close()
    print("console: every expectation met")


if __name__ == "__main__":
    main()
