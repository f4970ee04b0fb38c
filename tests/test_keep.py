"""Keep entries: personal data a policy keeps on purpose, each with its category and reason,
checked like rules (file:line:col, every problem at once) and against the database schema."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from retention import api
from retention.errors import PolicyError
from retention.model import Keep
from tests.conftest import CATEGORY_YAML, Database

WritePolicy = Callable[..., Path]

RULE = """
rules:
  - id: old-orders
    category: history
    table: orders
    expires: {after: 3 years, from: created_at}
    action: {anonymise: {email: null}}
"""


def problems(directory: Path) -> list[str]:
    with pytest.raises(PolicyError) as err:
        api.validate([directory])
    return [str(i).split(": ", 1)[1] for i in err.value.issues]  # without the file name


def test_keep_entries_are_read_in_order_with_where_they_came_from(
        write_policy: WritePolicy) -> None:
    """`columns` becomes a tuple (absent: the whole table); a keep and a rule may name the same
    table (an order is anonymised, its payment reference kept)."""
    directory = write_policy(CATEGORY_YAML + RULE + """
keep:
  - table: orders
    columns: [transaction_id, country]
    category: history
    reason: the payment reference reconciles the books
  - {table: customers, category: history, reason: the account itself}
""")
    policy = api.validate([directory])
    assert policy.keeps == (
        Keep(table="orders", columns=("transaction_id", "country"), category="history",
             reason="the payment reference reconciles the books"),
        Keep(table="customers", columns=None, category="history", reason="the account itself"),
    )
    issue = policy.keep_issue(1, ("table",), "no such table")
    assert (issue.file, issue.line, issue.path) == (str(directory / "policy.yaml"), 19,
                                                    "keep[1].table")
    assert policy.keep_issue(0, ("columns", 1), "x").line == 16


@pytest.mark.parametrize(("keep", "expected"), [
    ("  - {table: orders, category: history}",
     "keep[0]: missing required key 'reason'"),
    ("  - {table: orders, category: history, reason: '  '}",
     "keep[0].reason: must not be empty: say why (a law, a purpose)"),
    ("  - {table: orders, columns: [], category: history, reason: r}",
     "keep[0].columns: tuple should have at least 1 item after validation, not 0 (got [])"),
    ("  - {table: orders, columns: [email, email], category: history, reason: r}",
     "keep[0].columns: email listed twice"),
    ("  - {table: orders, category: histroy, reason: r}",
     "keep[0].category: unknown category 'histroy' (did you mean 'history'?)"),
    ("  - {table: orders, column: [email], category: history, reason: r}",
     "keep[0].column: unknown key 'column' (did you mean 'columns'?)"),
    ("  - {table: 'orders; drop', category: history, reason: r}",
     "keep[0].table: 'orders; drop' is not a plain table/column name (letters, digits and _ "
     "only, at most 64 characters)"),
])
def test_a_wrong_keep_entry_is_one_located_error(write_policy: WritePolicy, keep: str,
                                                 expected: str) -> None:
    directory = write_policy(CATEGORY_YAML + "keep:\n" + keep + "\n")
    assert problems(directory) == [expected]


@pytest.mark.parametrize(("second", "expected"), [
    ("  - {table: orders, category: history, reason: again}",
     "keep[0].table: orders is already kept at {first}; keep it once"),
    ("  - {table: orders, columns: [email], category: history, reason: part}",
     "keep[0].columns: orders.email is already kept at {first}; keep it once"),
])
def test_the_same_data_is_kept_once_across_files(write_policy: WritePolicy, second: str,
                                                 expected: str) -> None:
    """A table or column kept twice (also: whole and in part) is an error at the second
    entry, naming where the first one is."""
    directory = write_policy(CATEGORY_YAML + """
keep:
  - {table: orders, category: history, reason: first}
""", "a.yaml")
    write_policy("keep:\n" + second + "\n", "b.yaml")
    assert problems(directory) == [expected.format(first=f"{directory / 'a.yaml'}:8")]


def test_one_column_kept_twice_or_in_part_and_whole(write_policy: WritePolicy) -> None:
    directory = write_policy(CATEGORY_YAML + """
keep:
  - {table: orders, columns: [email, phone], category: history, reason: a}
  - {table: orders, columns: [phone], category: history, reason: b}
  - {table: orders, columns: [street], category: history, reason: c}
  - {table: orders, category: history, reason: d}
""")
    first = f"{directory / 'policy.yaml'}:8"
    assert problems(directory) == [
        f"keep[1].columns: orders.phone is already kept at {first}; keep it once",
        f"keep[3].table: orders is already kept at {first}; keep it once",
    ]


def test_keep_entries_must_fit_the_database(db: Database, write_policy: WritePolicy) -> None:
    """With a database, a kept table and its columns must exist: a misspelt keep would claim
    data is accounted for while the real column is not."""
    meta = sa.MetaData()
    sa.Table("orders", meta, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("email", sa.String(64)), sa.Column("transaction_id", sa.String(64)))
    db.create(meta)
    directory = write_policy(CATEGORY_YAML + """
keep:
  - {table: orders, columns: [transaction_id, emial], category: history, reason: a}
  - {table: order_notes, category: history, reason: b}
""")
    api.validate([directory])
    with pytest.raises(PolicyError) as err:
        api.validate([directory], db.url)
    assert [f"{i.line}:{i.column}: {i.path}: {i.message}" for i in err.value.issues] == [
        "8:47: keep[0].columns[1]: column 'emial' does not exist in table 'orders' (did you "
        "mean 'email'?)",
        "9:13: keep[1].table: table 'order_notes' does not exist in the database",
    ]


def test_the_documented_example_is_a_valid_policy(tmp_path: Path) -> None:
    """The complete example of docs/policy-language.md, with its legal floor and keep entry,
    loads as written."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "policy-language.md").read_text(
        encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "example.yaml").write_text(example, encoding="utf-8")
    policy = api.validate([tmp_path / "example.yaml"])
    assert policy.keeps[0].columns == ("last_trans_id",)
    floor = policy.categories["accounting-records"].legal_floor
    assert floor is not None and floor.tables == ("sales_order", "sales_invoice",
                                                  "sales_creditmemo")
