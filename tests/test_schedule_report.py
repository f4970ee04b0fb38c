"""`retention schedule-report`: the retention schedule (GDPR Art. 30(1)(f)) written from the
enforced policy files, as Markdown and as one static HTML page, every text escaped."""

from __future__ import annotations

import html
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from retention.schedule_render import render_html, render_markdown
from retention.schedule_report import build_schedule
from tests.conftest import run_cli as retention

pytestmark = pytest.mark.usefixtures("cli_env")

POLICIES = Path(__file__).resolve().parent.parent / "policies"


def shipped_categories() -> list[dict[str, Any]]:
    """The categories as policies/categories.yaml spells them, read without the tool."""
    data = yaml.safe_load((POLICIES / "categories.yaml").read_text(encoding="utf-8"))
    categories: list[dict[str, Any]] = data["categories"]
    return categories


def words(text: str) -> str:
    return " ".join(text.split())


def markdown_text(markdown: str) -> str:
    """The Markdown as a reader sees it: escapes removed, whitespace collapsed."""
    return words(re.sub(r"\\(.)", r"\1", markdown))


def html_text(page: str) -> str:
    return words(html.unescape(re.sub(r"<[^>]+>", " ", page)))


@pytest.mark.parametrize("render", [render_markdown, render_html])
def test_every_shipped_category_with_its_clause_and_basis(render: Any) -> None:
    """Each category of policies/categories.yaml appears with its title, privacy-policy
    clause and legal basis, in Markdown and in HTML."""
    text = render(build_schedule([POLICIES]))
    seen = markdown_text(text) if render is render_markdown else html_text(text)
    categories = shipped_categories()
    assert len(categories) >= 5
    for category in categories:
        assert words(category["title"]) in seen
        assert words(category["policy_clause"]) in seen
        assert words(category["legal_basis"]) in seen


def test_every_shipped_rule_is_listed_under_its_category() -> None:
    """No enforced rule is missing from the schedule, nor listed under another category."""
    schedule = build_schedule([POLICIES])
    listed = {rule.id: cat.id for cat in schedule.categories for rule in cat.rules}
    data = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(POLICIES.glob("*.yaml"))]
    rules = {r["id"]: r["category"] for d in data for r in (d or {}).get("rules", [])}
    assert listed == rules


POLICY = """
settings:
  financial_year_start: "07-01"
categories:
  - id: history
    title: "Purchase <script>alert(1)</script> | history"
    description: Orders & deliveries.
    legal_basis: "Bookkeeping Act § 13"
    policy_clause: "we store purchase history for *3* years"
    legal_floor:
      after: 5 years
      counted_from: financial_year_end
      from: created_at
      tables: [invoices]
      law: Bookkeeping Act § 13
  - id: traffic
    title: Traffic
    legal_basis: GDPR Art. 6(1)(f)
    policy_clause: then the data is removed
rules:
  - id: guest-orders
    category: history
    description: Guest orders lose their personal fields.
    table: orders
    where:
      - {column: is_guest, op: "=", value: 1}
      - {column: status, op: in, value: [complete, closed]}
      - not_exists:
          table: complaints
          on: {order_id: id}
          where: {column: open, op: "=", value: 1}
    expires: {after: 3 years, from: created_at}
    action:
      anonymise:
        email: email_domain
        name: {strategy: fixed, value: "-"}
        ip: {strategy: mask, keep_first: 3}
        dob: {strategy: truncate_date, to: year}
        total: {strategy: round, digits: -2}
        zip: {strategy: postcode_prefix, keep: 2}
        note: ~
        ref: hmac
    related:
      - table: order_grid
        on: {id: id}
        action: delete
  - id: books
    category: history
    table: orders
    expires: {after: 5 years, from: created_at, counted_from: financial_year_end}
    action: delete
keep:
  - table: orders
    columns: [total, created_at]
    category: history
    reason: The sales record for the books.
  - table: stores
    category: traffic
    reason: "Holds no personal data: shop names <b>only</b>."
"""


def test_rules_in_words(write_policy) -> None:  # type: ignore[no-untyped-def]
    """Periods, clocks, filters, links and every strategy read as sentences; floors and
    keep entries are attached to their category."""
    schedule = build_schedule([write_policy(POLICY)], generated=date(2026, 11, 29))
    history, traffic = schedule.categories
    guest, books = history.rules
    assert str(guest.period) == "3 years after created_at"
    assert str(guest.where) == ("is_guest = 1 and status is one of 'complete', 'closed' and no "
                           "complaints row has order_id = id and open = 1")
    assert dict(guest.tables[0].columns) == {
        "email": "cut to its @domain", "name": "replaced by '-'",
        "ip": "masked, keeping the first 3 characters",
        "dob": "truncated to the first day of its year", "total": "rounded to the nearest 100",
        "zip": "cut to its first 2 characters", "note": "set to NULL",
        "ref": "replaced by a keyed pseudonym (HMAC-SHA256)"}
    assert (guest.tables[1].table, str(guest.tables[1].link), guest.tables[1].action) == (
        "order_grid", "order_grid.id = orders.id", "delete")
    assert str(books.period) == ("5 years after the end of the financial year (starting 07-01) in "
                            "which created_at falls")
    assert history.legal_floor is not None and "5 years" in history.legal_floor
    assert "Bookkeeping Act § 13" in history.legal_floor
    assert history.floor_tables == ("invoices", "orders")
    assert [(k.table, k.columns) for k in history.keeps] == [("orders", ("total", "created_at"))]
    assert [(k.table, k.columns) for k in traffic.keeps] == [("stores", None)]
    assert not traffic.rules


def test_markdown_escapes_and_keeps_tables_intact(write_policy) -> None:  # type: ignore[no-untyped-def]
    """Text from the policy renders as written: no raw HTML, no broken table, no emphasis."""
    text = render_markdown(build_schedule([write_policy(POLICY)]))
    assert "<script>" not in text and "\\<script\\>" in text
    row = next(line for line in text.splitlines() if line.startswith("| Purchase"))
    assert len(re.findall(r"(?<!\\)\|", row)) == 4  # three cells, the title's | escaped
    assert "we store purchase history for \\*3\\* years" in text
    assert "| `stores` | the whole table | Holds no personal data: shop names \\<b\\>only" \
        "\\</b\\>. |" in text
    assert "- **Legal floor:** kept at least 5 years" in text
    # identifiers as code, the values of conditions as text
    assert "- **Which rows:** `is_guest` = 1 and `status` is one of 'complete', 'closed' and " \
        "no `complaints` row has `order_id` = `id` and `open` = 1" in text
    assert "| anonymise 3 years after `created_at`; delete 5 years after the end of the " \
        "financial year (starting 07-01) in which `created_at` falls |" in text
    assert "No rule erases this category's data automatically." in text


def test_html_is_one_static_escaped_page(write_policy) -> None:  # type: ignore[no-untyped-def]
    """One file, no script, nothing fetched, every policy text escaped."""
    page = render_html(build_schedule([write_policy(POLICY)]))
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "<b>only" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "src=" not in page and "<link" not in page  # nothing fetched
    text = html_text(page)
    assert "Kept on purpose Table Columns Reason orders total , created_at The sales record " \
        "for the books." in text
    assert "email cut to its @domain" in text
    assert "<dd>3 years after <code>created_at</code></dd>" in page


# --------------------------------------------------------------------------- the command


def test_command_needs_no_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Markdown on stdout, HTML into --output; no --database, no RETENTION_DATABASE_URL."""
    assert retention("schedule-report", "-p", str(POLICIES)) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Retention schedule\n")
    page = tmp_path / "schedule.html"
    assert retention("schedule-report", "-p", str(POLICIES), "--format", "html",
                     "--output", str(page)) == 0
    assert capsys.readouterr().out == ""
    assert "<h1>Retention schedule</h1>" in page.read_text(encoding="utf-8")


def test_invalid_policy_exits_3(write_policy, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """An invalid policy is reported as by `validate`, and no report is written."""
    directory = write_policy(POLICY.replace("after: 3 years", "after: 3 yeras"))
    assert retention("schedule-report", "-p", str(directory)) == 3
    out, err = capsys.readouterr()
    assert out == "" and "'3 yeras' is not a duration" in err
