"""Anonymisation strategies: known answers, idempotence, schema fit, and the stored result."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from retention import api
from retention.errors import ConfigError
from retention.model import Anonymise, Strategy
from retention.secrets import load_secrets
from retention.strategies import Secrets, changes, fit_problems, transform
from tests.conftest import CATEGORY_YAML, SECRET, Database

SECRETS = Secrets.from_secret(SECRET.encode())


def spec(value: Any) -> Strategy:
    """A strategy as a policy file writes it (`hmac`, `~` or {strategy: ..., ...})."""
    return Anonymise.model_validate({"anonymise": {"c": value}}).anonymise["c"]


def pseudonym(value: str, secret: str = SECRET, length: int = 32, prefix: str = "pn:") -> str:
    """The documented pseudonym, derived here independently of the library."""
    key = hmac.new(secret.encode(), b"retention/pseudonym", hashlib.sha256).digest()
    digest = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
    return prefix + digest[: length - len(prefix)]


# --------------------------------------------------------------------------- known answers

KNOWN_ANSWERS: list[tuple[Any, Any, Any]] = [
    # (strategy as written in a policy, value, anonymised value)
    (None, "Ola Nordmann", None),
    ("null", 42, None),
    ({"strategy": "fixed", "value": "removed"}, "Ola Nordmann", "removed"),
    ({"strategy": "fixed", "value": 0}, 1234, 0),
    ("hmac", "ola@example.no", pseudonym("ola@example.no")),
    ({"strategy": "hmac", "length": 12}, "ola@example.no", pseudonym("ola@example.no", length=12)),
    ({"strategy": "hmac", "length": 16, "prefix": "anon_"}, "ola@example.no",
     pseudonym("ola@example.no", length=16, prefix="anon_")),
    ("hmac", 12345, pseudonym("12345")),
    ("mask", "secret", "******"),
    ({"strategy": "mask", "keep_first": 1}, "Nordmann", "N*******"),
    ({"strategy": "mask", "keep_first": 1, "keep_last": 2}, "Nordmann", "N*****nn"),
    ({"strategy": "mask", "keep_last": 4, "char": "#"}, "4111111111111111", "############1111"),
    ({"strategy": "mask", "keep_first": 2, "keep_last": 2}, "abcde", "ab*de"),
    ({"strategy": "mask", "keep_first": 1, "keep_last": 2}, "abc", "***"),  # too short: all
    ({"strategy": "mask", "keep_first": 1, "keep_last": 2}, "ab", "**"),
    ({"strategy": "mask", "keep_first": 1}, "", ""),
    ("email_domain", "Ola.Nordmann@Example.no", "@Example.no"),
    ("email_domain", "a@b@c.no", "@c.no"),
    ("email_domain", "ola@ example.no ", "@example.no"),
    ("email_domain", "Ola Nordmann", "@"),  # no '@': nothing to keep, nothing leaked
    ("email_domain", "@Example.no", "@Example.no"),
    ("truncate_date", datetime(2024, 5, 17, 13, 4, 5, 123), datetime(2024, 5, 1)),
    ({"strategy": "truncate_date", "to": "year"}, datetime(2024, 5, 17, 13, 4, 5),
     datetime(2024, 1, 1)),
    ("truncate_date", datetime(2024, 5, 17, 13, 4, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC)),
    ("truncate_date", date(2024, 5, 17), date(2024, 5, 1)),
    ({"strategy": "truncate_date", "to": "year"}, date(1980, 5, 17), date(1980, 1, 1)),
    ("round", Decimal("199.50"), Decimal("200")),
    ("round", Decimal("-2.5"), Decimal("-3")),  # half away from zero
    ({"strategy": "round", "digits": 2}, Decimal("199.505"), Decimal("199.51")),
    ({"strategy": "round", "digits": -2}, 1250, 1300),
    ({"strategy": "round", "digits": -2}, 1249, 1200),
    ({"strategy": "round", "digits": -3}, 123456, 123000),
    ({"strategy": "round", "digits": -2}, Decimal("1250"), Decimal("1300")),
    ({"strategy": "round", "digits": 1}, 2.25, 2.3),  # half-up on the decimal text
    ({"strategy": "round", "digits": 1}, 0.15, 0.2),
    ("round", 2.5, 3.0),
    ("round", 7, 7),
    ("postcode_prefix", "0752", "07"),
    ({"strategy": "postcode_prefix", "keep": 3}, "SW1A 1AA", "SW1"),
    ({"strategy": "postcode_prefix", "keep": 0}, "0752", ""),
    ("postcode_prefix", "1", "1"),
]


def _id(case: Any) -> str:
    return repr(case)[:40]


@pytest.mark.parametrize(("written", "value", "expected"), KNOWN_ANSWERS, ids=_id)
def test_transform_gives_the_known_answer(written: Any, value: Any, expected: Any) -> None:
    """Each strategy turns a value into its documented anonymised form, keeping the type."""
    result = transform(spec(written), value, SECRETS)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(("written", "value", "expected"), KNOWN_ANSWERS, ids=_id)
def test_transform_is_idempotent(written: Any, value: Any, expected: Any) -> None:
    """Anonymising an anonymised value returns it unchanged, so a second run changes nothing."""
    strategy = spec(written)
    once = transform(strategy, value, SECRETS)
    if once is None:
        return  # NULL is never anonymised again: it stays NULL
    assert transform(strategy, once, SECRETS) == once
    assert not changes(strategy, once, SECRETS)


@pytest.mark.parametrize(("written", "value", "expected"), KNOWN_ANSWERS, ids=_id)
def test_changes_agrees_with_transform(written: Any, value: Any, expected: Any) -> None:
    """`changes` is true exactly when anonymising would write a different value."""
    strategy = spec(written)
    assert changes(strategy, value, SECRETS) == (transform(strategy, value, SECRETS) != value)


def test_changes_of_fixed_and_round_is_false_for_values_already_in_final_form() -> None:
    """A value that already equals the fixed value or is already rounded needs no update."""
    assert not changes(spec({"strategy": "fixed", "value": "removed"}), "removed", SECRETS)
    assert not changes(spec({"strategy": "fixed", "value": 0}), 0, SECRETS)
    assert not changes(spec({"strategy": "round", "digits": 2}), Decimal("199.50"), SECRETS)
    assert changes(spec({"strategy": "round", "digits": 2}), Decimal("199.505"), SECRETS)


# --------------------------------------------------------------------------- hmac


def test_hmac_never_hashes_a_pseudonym_twice() -> None:
    """A value that already starts with the prefix is returned unchanged, even without the
    secret, and `changes` says so without the secret."""
    strategy = spec("hmac")
    already = pseudonym("ola@example.no")
    assert transform(strategy, already, SECRETS) == already
    assert transform(strategy, "pn:anything", None) == "pn:anything"
    assert not changes(strategy, "pn:anything", None)
    assert changes(strategy, "ola@example.no", None)


def test_hmac_pseudonyms_are_stable_per_secret_and_differ_between_secrets() -> None:
    """The same value and secret always give the same pseudonym (joins survive); another
    secret gives another pseudonym."""
    strategy = spec("hmac")
    other = Secrets.from_secret(b"another-secret-0123456789abcdef0123")
    first = transform(strategy, "ola@example.no", SECRETS)
    assert transform(strategy, "ola@example.no", SECRETS) == first
    assert transform(strategy, "ola@example.no", other) != first
    assert transform(strategy, "kari@example.no", SECRETS) != first
    assert transform(strategy, "ola@example.no", other) == \
        pseudonym("ola@example.no", secret="another-secret-0123456789abcdef0123")


@pytest.mark.parametrize("length", [12, 16, 32, 64, 67, 128])
def test_hmac_length_is_the_total_length_prefix_included(length: int) -> None:
    """`length` counts the prefix; beyond the 64 hex digits of SHA-256 nothing is added."""
    result = transform(spec({"strategy": "hmac", "length": length}), "x", SECRETS)
    assert result.startswith("pn:")
    assert len(result) == min(length, 3 + 64)


def test_hmac_needs_the_secret_for_a_new_value() -> None:
    """Pseudonymising a value without the secret is refused rather than done weakly."""
    with pytest.raises(RuntimeError, match="secret"):
        transform(spec("hmac"), "ola@example.no", None)


def test_secrets_derive_separate_keys_for_pseudonyms_and_audit() -> None:
    """The pseudonym key, the audit key and the key id are distinct derivations of the secret."""
    assert SECRETS.pseudonym_key == hmac.new(SECRET.encode(), b"retention/pseudonym",
                                             hashlib.sha256).digest()
    assert SECRETS.audit_key != SECRETS.pseudonym_key
    assert len(SECRETS.key_id) == 16
    assert SECRETS.key_id not in SECRET


@pytest.mark.parametrize(("env", "message"), [
    ({}, "RETENTION_SECRET is not set"),
    ({"RETENTION_SECRET": ""}, "RETENTION_SECRET is not set"),
    ({"RETENTION_SECRET": "x" * 31}, "RETENTION_SECRET is 31 bytes long; at least 32 are "
                                     "required"),
    ({"RETENTION_SECRET_FILE": "{dir}/missing"}, "RETENTION_SECRET_FILE: cannot read "
                                                 "{dir}/missing: No such file or directory"),
    ({"RETENTION_SECRET_FILE": "{dir}/empty"}, "RETENTION_SECRET_FILE: {dir}/empty is empty"),
    ({"RETENTION_SECRET_FILE": "{dir}/short"}, "the secret in RETENTION_SECRET_FILE "
                                               "({dir}/short) is 5 bytes long"),
])
def test_load_secrets_refuses_a_missing_unreadable_or_short_secret(
        env: dict[str, str], message: str, tmp_path: Path) -> None:
    """A run needs a secret of at least 32 bytes, from the environment or a file; the error
    says which source is wrong and never shows the secret."""
    (tmp_path / "empty").write_bytes(b"\n")
    (tmp_path / "short").write_bytes(b"s3cre\n")
    env = {k: v.format(dir=tmp_path) for k, v in env.items()}
    with pytest.raises(ConfigError) as err:
        load_secrets(env)
    assert message.format(dir=tmp_path) in str(err.value)
    assert "s3cre" not in str(err.value).replace(str(tmp_path), "")


def test_load_secrets_reads_the_file_before_the_variable(tmp_path: Path) -> None:
    """RETENTION_SECRET_FILE wins over RETENTION_SECRET; a final newline is not part of it."""
    (tmp_path / "secret").write_bytes(SECRET.encode() + b"\n")
    from_file = load_secrets({"RETENTION_SECRET_FILE": str(tmp_path / "secret"),
                              "RETENTION_SECRET": "y" * 40})
    assert from_file == SECRETS
    assert load_secrets({"RETENTION_SECRET": SECRET}) == SECRETS


# --------------------------------------------------------------------------- other strategies


def test_truncate_date_refuses_values_that_are_not_dates() -> None:
    """truncate_date on text is a type error, not a silent no-op."""
    with pytest.raises(TypeError, match="date"):
        transform(spec("truncate_date"), "2024-05-17", SECRETS)


# --------------------------------------------------------------------------- schema fit


def column(ctype: Any, *, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column("c", ctype, nullable=nullable)


@pytest.mark.parametrize(("written", "col", "fragment"), [
    (None, column(sa.String(64), nullable=False), "NOT NULL"),
    ("hmac", column(sa.String(16)), "pseudonym is 32 characters; column 'c' holds 16"),
    ({"strategy": "hmac", "length": 17}, column(sa.String(16)), "set a smaller 'length'"),
    ("hmac", column(sa.Integer), "needs a text column"),
    ("mask", column(sa.Date), "needs a text column"),
    ("email_domain", column(sa.Numeric(10, 2)), "needs a text column"),
    ("postcode_prefix", column(sa.Integer), "needs a text column"),
    ({"strategy": "fixed", "value": "removed"}, column(sa.Integer), "is text"),
    ({"strategy": "fixed", "value": 0}, column(sa.Date), "is a number"),
    ({"strategy": "fixed", "value": "removed customer"}, column(sa.String(8)),
     "fixed value is 16 characters; column 'c' holds 8"),
    ("truncate_date", column(sa.String(32)), "needs a date/time column"),
    ("round", column(sa.String(32)), "needs a numeric column"),
], ids=_id)
def test_fit_problems_rejects_strategies_the_column_cannot_hold(
        written: Any, col: sa.Column[Any], fragment: str) -> None:
    """A strategy whose output the column cannot store is reported before anything runs."""
    problems = fit_problems(spec(written), col)
    assert len(problems) == 1
    assert fragment in problems[0]


@pytest.mark.parametrize(("written", "col"), [
    (None, column(sa.String(64))),
    ("null", column(sa.Date)),
    ("hmac", column(sa.String(32))),
    ({"strategy": "hmac", "length": 16}, column(sa.String(16))),
    ("hmac", column(sa.Text)),
    ("hmac", column(sa.String())),
    ("mask", column(sa.String(8), nullable=False)),
    ("email_domain", column(sa.String(255))),
    ("postcode_prefix", column(sa.String(16))),
    ({"strategy": "fixed", "value": "removed"}, column(sa.String(7), nullable=False)),
    ({"strategy": "fixed", "value": 0}, column(sa.Integer, nullable=False)),
    ({"strategy": "fixed", "value": 0.5}, column(sa.Numeric(10, 2))),
    ("truncate_date", column(sa.Date)),
    ({"strategy": "truncate_date", "to": "year"}, column(sa.DateTime(timezone=True))),
    ("round", column(sa.Numeric(12, 4))),
    ({"strategy": "round", "digits": -2}, column(sa.Integer)),
    ("round", column(sa.Float)),
], ids=_id)
def test_fit_problems_is_empty_when_the_strategy_fits(written: Any,
                                                      col: sa.Column[Any]) -> None:
    """A strategy whose output the column can store raises no problem."""
    assert fit_problems(spec(written), col) == []


# --------------------------------------------------------------------------- in the database

NOW = datetime(2026, 11, 29, 3, 0, 0)

STRATEGY_POLICY = CATEGORY_YAML + """
rules:
  - id: people-anonymise
    category: history
    table: people
    expires: {after: 3 years, from: created_at}
    action:
      anonymise:
        h: hmac
        m: {strategy: mask, keep_first: 1, keep_last: 2}
        e: email_domain
        d: truncate_date
        t: {strategy: truncate_date, to: year}
        n: round
        i: {strategy: round, digits: -2}
        p: {strategy: postcode_prefix, keep: 2}
        f: {strategy: fixed, value: removed}
        z: ~
"""

COLUMNS = ("h", "m", "e", "d", "t", "n", "i", "p", "f", "z")
ORIGINAL = {"h": "ola@example.no", "m": "Nordmann", "e": "Ola.Nordmann@Example.no",
            "d": date(1980, 5, 17), "t": datetime(2021, 5, 17, 13, 4, 5),
            "n": Decimal("199.50"), "i": 1250, "p": "0752", "f": "Ola", "z": "secret"}
ANONYMISED = {"h": pseudonym("ola@example.no"), "m": "N*****nn", "e": "@Example.no",
              "d": date(1980, 5, 1), "t": datetime(2021, 1, 1), "n": Decimal("200"),
              "i": 1300, "p": "07", "f": "removed", "z": None}


def people_table(meta: sa.MetaData) -> sa.Table:
    return sa.Table(
        "people", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("h", sa.String(64)), sa.Column("m", sa.String(64)),
        sa.Column("e", sa.String(128)), sa.Column("d", sa.Date), sa.Column("t", sa.DateTime),
        sa.Column("n", sa.Numeric(10, 2)), sa.Column("i", sa.Integer),
        sa.Column("p", sa.String(16)), sa.Column("f", sa.String(32)),
        sa.Column("z", sa.String(32)), sa.Column("created_at", sa.DateTime),
    )


@freeze_time(NOW)
def test_every_strategy_stores_its_known_answer(db: Database, write_policy,  # type: ignore[no-untyped-def]
                                                secret: str) -> None:
    """A due row gets each strategy's known answer in the database, NULL stays NULL,
    anonymised values and rows not yet due are left alone, and a second run changes nothing."""
    meta = sa.MetaData()
    people = people_table(meta)
    db.create(meta)
    due, not_due = NOW - timedelta(days=4 * 365), NOW - timedelta(days=365)
    db.insert(people, [
        {"id": 1, **ORIGINAL, "created_at": due},
        {"id": 2, **dict.fromkeys(COLUMNS), "created_at": due},
        {"id": 3, **ORIGINAL, "created_at": not_due},
        {"id": 4, **ANONYMISED, "created_at": due},
    ])
    result = api.sweep([write_policy(STRATEGY_POLICY)], db.url)
    assert result.status == "completed"
    rows = {r[0]: dict(zip(COLUMNS, r[1:11], strict=True)) for r in db.rows("people")}
    assert rows[1] == ANONYMISED
    assert rows[2] == dict.fromkeys(COLUMNS)
    assert rows[3] == ORIGINAL
    assert rows[4] == ANONYMISED
    assert result.rules[0].counts["people"].rows == 1

    again = api.sweep([write_policy(STRATEGY_POLICY)], db.url)
    assert sum(r.rows for r in again.rules) == 0
    assert {r[0]: dict(zip(COLUMNS, r[1:11], strict=True)) for r in db.rows("people")} == rows
