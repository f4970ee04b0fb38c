"""Structured filters select exactly the rows their operators promise, on every backend."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from retention import api
from tests.conftest import CATEGORY_YAML, Database

INJECTION = "x' OR '1'='1"

# id: (status, score)
TICKETS: dict[int, tuple[str | None, int | None]] = {
    1: ("open", 1),
    2: ("closed", 2),
    3: (None, 3),
    4: ("open", None),
    5: ("pending", 5),
    6: (None, None),
    7: (INJECTION, 7),
}
ALL_IDS = set(TICKETS)


def build_tickets(db: Database, names: list[str]) -> None:
    """One copy of the tickets per case, so that one sweep tries every case at once."""
    meta = sa.MetaData()
    for name in names:
        sa.Table(
            name, meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("status", sa.String(32), nullable=True),
            sa.Column("score", sa.Integer, nullable=True),
        )
    db.create(meta)
    for name in names:
        db.insert(meta.tables[name],
                  [{"id": i, "status": s, "score": n} for i, (s, n) in TICKETS.items()])


def col(column: str, op: str, value: Any = None) -> dict[str, Any]:
    cond: dict[str, Any] = {"column": column, "op": op}
    if value is not None:
        cond["value"] = value
    return cond


def sweep_cases(db: Database, write_policy, prefix: str,  # type: ignore[no-untyped-def]
                cases: dict[str, Any]) -> dict[str, tuple[int, int, set[int]]]:
    """One delete rule per case on table `<prefix>_<case>` (no expiry; 'SELF' in a filter
    names that table): per case the rows planned, the rows deleted and the ids left."""
    rules = []
    for case, where in cases.items():
        table = f"{prefix}_{case}"
        rules.append(f"""
  - id: {prefix}-{case.replace("_", "-")}
    category: history
    table: {table}
    where: {json.dumps(where).replace('"SELF"', json.dumps(table))}
    action: delete""")
    policies = write_policy(CATEGORY_YAML + "rules:" + "".join(rules) + "\n")
    plan = {r.table: r.rows for r in api.plan([policies], db.url).rules}
    result = api.sweep([policies], db.url, batch_size=2)
    assert result.status == "completed", [r.error for r in result.rules]
    done = {r.table: r.rows for r in result.rules}
    state = db.snapshot()
    return {case: (plan[f"{prefix}_{case}"], done[f"{prefix}_{case}"],
                   {r[0] for r in state[f"{prefix}_{case}"]}) for case in cases}


def expect(db_ids: set[int], deleted: dict[str, set[int]]) -> dict[str, tuple[int, int, set[int]]]:
    """What `sweep_cases` returns when each case deletes exactly the given ids."""
    return {case: (len(ids), len(ids), db_ids - ids) for case, ids in deleted.items()}


OPERATOR_CASES: dict[str, tuple[dict[str, Any], set[int]]] = {
    "eq": (col("score", "=", 3), {3}),
    "ne": (col("score", "!=", 3), {1, 2, 5, 7}),
    "lt": (col("score", "<", 3), {1, 2}),
    "le": (col("score", "<=", 3), {1, 2, 3}),
    "gt": (col("score", ">", 3), {5, 7}),
    "ge": (col("score", ">=", 3), {3, 5, 7}),
    "in": (col("score", "in", [1, 5, 99]), {1, 5}),
    "not_in": (col("score", "not in", [1, 5]), {2, 3, 7}),
    "is_null": (col("score", "is null"), {4, 6}),
    "is_not_null": (col("score", "is not null"), {1, 2, 3, 5, 7}),
    "text_eq": (col("status", "=", "open"), {1, 4}),
    "text_ne": (col("status", "!=", "open"), {2, 5, 7}),
    "text_in": (col("status", "in", ["open", "closed"]), {1, 2, 4}),
    "text_not_in": (col("status", "not in", ["open", "closed"]), {5, 7}),
    "text_is_null": (col("status", "is null"), {3, 6}),
}


def test_every_operator_selects_exactly_the_expected_rows(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Each operator deletes exactly the rows it matches, and the plan counts the same rows."""
    build_tickets(db, [f"op_{case}" for case in OPERATOR_CASES])
    got = sweep_cases(db, write_policy, "op", {c: w for c, (w, _) in OPERATOR_CASES.items()})
    assert got == expect(ALL_IDS, {c: ids for c, (_, ids) in OPERATOR_CASES.items()})


def test_not_equal_and_not_in_never_match_null(db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """`!=` and `not in` compare as SQL does: a NULL value is unknown, so its row is kept,
    unless the policy adds `is null` with `any`."""
    cases = {
        "ne": col("score", "!=", 3),
        "not_in": col("score", "not in", [1]),
        "ne_or_null": {"any": [col("score", "!=", 3), col("score", "is null")]},
        "text_not_in_or_null": {"any": [col("status", "not in", ["open"]),
                                        col("status", "is null")]},
    }
    build_tickets(db, [f"nul_{case}" for case in cases])
    assert sweep_cases(db, write_policy, "nul", cases) == expect(ALL_IDS, {
        "ne": {1, 2, 5, 7},  # 4 and 6 have no score
        "not_in": {2, 3, 5, 7},
        "ne_or_null": {1, 2, 4, 5, 6, 7},
        "text_not_in_or_null": {2, 3, 5, 6, 7},
    })


def test_all_and_any_nest(db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """A bare list means `all`; `any` of `all`s of `any`s combines as written."""
    cases = {
        "bare_list": [col("status", "=", "open"), col("score", "is null")],
        "nested": {"any": [
            {"all": [col("status", "=", "open"), col("score", "is null")]},  # 4
            {"all": [
                col("status", "is null"),
                {"any": [col("score", ">=", 3), col("score", "<", 0)]},  # 3, not 6 (NULL)
            ]},
            {"all": [col("score", ">", 4), {"any": [col("status", "=", "pending")]}]},  # 5
        ]},
        "all_in_list": [{"all": [col("score", ">", 1)]}, {"any": [col("score", "<", 3)]}],
    }
    build_tickets(db, [f"nest_{case}" for case in cases])
    assert sweep_cases(db, write_policy, "nest", cases) == expect(ALL_IDS, {
        "bare_list": {4}, "nested": {3, 4, 5}, "all_in_list": {2}})


def test_injection_in_a_value_is_bound_as_data(db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """A value that tries SQL injection matches only a row holding exactly that text."""
    cases = {
        "exact": col("status", "=", INJECTION),
        "attempts": {"any": [
            col("status", "in", ["nobody') OR ('1'='1", "y\" OR \"1\"=\"1"]),
            col("status", "=", "open' --"),
            col("status", "!=", "x' OR status IS NULL OR '1'='1"),
            col("status", ">", "zzzz' OR 1=1 -- "),
        ]},
    }
    build_tickets(db, [f"inj_{case}" for case in cases])
    assert sweep_cases(db, write_policy, "inj", cases) == expect(ALL_IDS, {
        "exact": {7},
        "attempts": {1, 2, 4, 5, 7},  # only the `!=`, as for any other text
    })


# --------------------------------------------------------------------------- exists


def build_orders(db: Database, names: list[str]) -> None:
    """Orders (one copy per case) whose customer may be gone (no foreign key, as in many
    shops), complaints, and legal holds on complaints."""
    meta = sa.MetaData()
    customers = sa.Table(
        "customers", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    )
    for name in names:
        sa.Table(
            name, meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("customer_id", sa.Integer, nullable=True),
        )
    complaints = sa.Table(
        "complaints", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("order_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    holds = sa.Table(
        "complaint_holds", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("complaint_id", sa.Integer, nullable=False),
    )
    db.create(meta)
    db.insert(customers, [{"id": 1}, {"id": 2}])
    for name in names:
        db.insert(meta.tables[name], [
            {"id": 10, "customer_id": 1},     # customer exists, open complaint
            {"id": 11, "customer_id": 1},     # customer exists, no complaint
            {"id": 20, "customer_id": 99},    # customer gone, closed complaint
            {"id": 21, "customer_id": 99},    # customer gone, open complaint
            {"id": 22, "customer_id": 98},    # customer gone, no complaint
            {"id": 30, "customer_id": None},  # guest order: no customer row either
            {"id": 31, "customer_id": 2},     # customer exists, closed complaint on hold
        ])
    db.insert(complaints, [
        {"id": 1, "order_id": 10, "status": "open"},
        {"id": 2, "order_id": 20, "status": "closed"},
        {"id": 3, "order_id": 21, "status": "open"},
        {"id": 4, "order_id": 31, "status": "closed"},
    ])
    db.insert(holds, [{"id": 1, "complaint_id": 4}])


ORDER_IDS = {10, 11, 20, 21, 22, 30, 31}
CUSTOMER_GONE = {"not_exists": {"table": "customers", "on": {"id": "customer_id"}}}
NO_OPEN_COMPLAINT = {"not_exists": {"table": "complaints", "on": {"order_id": "id"},
                                    "where": col("status", "=", "open")}}


def test_exists_and_not_exists_follow_links(db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Links match on equal columns, filter the linked rows by their own `where`, nest, and
    may lead back to the rule's own table."""
    cases = {
        # no customer row: the customers that are gone, and guest orders (NULL customer_id)
        "customer_gone": CUSTOMER_GONE,
        # closed complaints do not count
        "no_open_complaint": NO_OPEN_COMPLAINT,
        "open_complaint": {"exists": {"table": "complaints", "on": {"order_id": "id"},
                                      "where": col("status", "=", "open")}},
        "both": [CUSTOMER_GONE, NO_OPEN_COMPLAINT],
        # a link's `where` holds its own `exists`: complaints on legal hold keep their order
        "nested": {"all": [
            {"exists": {"table": "customers", "on": {"id": "customer_id"}}},
            {"not_exists": {"table": "complaints", "on": {"order_id": "id"}, "where": {
                "exists": {"table": "complaint_holds", "on": {"complaint_id": "id"}}}}},
        ]},
        # orders of customers who have an order numbered above 20 (itself included)
        "own_table": [col("customer_id", "is not null"),
                      {"exists": {"table": "SELF", "on": {"customer_id": "customer_id"},
                                  "where": col("id", ">", 20)}}],
    }
    build_orders(db, [f"ord_{case}" for case in cases])
    assert sweep_cases(db, write_policy, "ord", cases) == expect(ORDER_IDS, {
        "customer_gone": {20, 21, 22, 30},
        "no_open_complaint": {11, 20, 22, 30, 31},
        "open_complaint": {10, 21},
        "both": {20, 22, 30},
        "nested": {10, 11},
        "own_table": {20, 21, 22, 31},
    })
