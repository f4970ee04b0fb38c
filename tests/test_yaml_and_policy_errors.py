"""Reading policy YAML: YAML 1.2 scalars, exact `file:line:col: path: message` errors, merging."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from retention.errors import PolicyError
from retention.model import ColumnCondition
from retention.policy import load_policy
from retention.yamlsource import YamlIssues, load_source
from tests.conftest import CATEGORY_YAML

# --------------------------------------------------------------------------- the YAML reader


@pytest.mark.parametrize(("text", "expected"), [
    ("no", "no"), ("yes", "yes"), ("on", "on"), ("off", "off"), ("Yes", "Yes"),
    ("1:30", "1:30"), ("2024-01-01", "2024-01-01"), ("07-01", "07-01"),
    ("2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"), ("0x1F", "0x1F"), ("1_000", "1_000"),
    ("'12'", "12"), ('"true"', "true"), ("!!str 12", "12"), ("!!str 0752", "0752"),
    ("true", True), ("True", True), ("TRUE", True), ("false", False),
    ("null", None), ("~", None), ("", None),
    ("12", 12), ("-7", -7), ("+3", 3), ("0", 0), ("012", 12), ("!!int '12'", 12),
    ("1.5", 1.5), (".5", 0.5), ("1e3", 1000.0), ("-2.5E-1", -0.25),
    ("3 years", "3 years"), ("|\n  two\n  lines", "two\nlines\n"),
])
def test_plain_scalars_resolve_by_the_yaml_1_2_core_schema(text: str, expected: Any) -> None:
    """Only null, booleans, integers and floats are resolved; 'no', '1:30' and dates stay the
    strings they look like (YAML 1.1 would make them False, 90 and a date)."""
    value = load_source(f"key: {text}\n", "f.yaml").data["key"]
    assert value == expected
    assert type(value) is type(expected)


def test_duplicate_keys_are_rejected_naming_both_lines() -> None:
    """Every duplicate key is an error at the second occurrence that names the first line."""
    text = "a: 1\nb:\n  c: 2\n  c: 3\na: 4\n"
    with pytest.raises(YamlIssues) as err:
        load_source(text, "f.yaml")
    assert [str(i) for i in err.value.issues] == [
        "f.yaml:4:3: b.c: duplicate key 'c' (first given on line 3); remove one of them",
        "f.yaml:5:1: a: duplicate key 'a' (first given on line 1); remove one of them",
    ]


def test_non_scalar_mapping_keys_are_rejected() -> None:
    """A mapping key must be a plain string, not a list or mapping."""
    with pytest.raises(YamlIssues) as err:
        load_source("? [a, b]\n: 1\n", "f.yaml")
    assert [str(i) for i in err.value.issues] == [
        "f.yaml:1:3: mapping keys must be plain strings"]


@pytest.mark.parametrize(("text", "expected"), [
    ("a: b: c\n", "f.yaml:1:5: YAML syntax: mapping values are not allowed here"),
    ("rules:\n  - id: x\n    table: [orders\n",
     "f.yaml:4:1: YAML syntax: expected ',' or ']', but got '<stream end>' "
     "(while parsing a flow sequence started at line 3, column 12)"),
    ('key: "unterminated\n',
     "f.yaml:2:1: YAML syntax: found unexpected end of stream "
     "(while scanning a quoted scalar started at line 1, column 6)"),
    ("a: 1\n\tb: 2\n",
     "f.yaml:2:1: YAML syntax: found character '\\t' that cannot start any token"),
    ("a: *nope\n", "f.yaml:1:4: YAML syntax: found undefined alias 'nope'"),
    ("a: 1\n---\nb: 2\n",
     "f.yaml:2:1: YAML syntax: expected a single document in the stream, but found another "
     "document"),
])
def test_syntax_errors_are_reported_with_line_and_column(text: str, expected: str) -> None:
    """A YAML syntax error is one issue at the line:col where the parser stopped, saying where
    an unclosed bracket or quote began."""
    with pytest.raises(YamlIssues) as err:
        load_source(text, "f.yaml")
    assert [str(i) for i in err.value.issues] == [expected]


# --------------------------------------------------------------------------- golden policy errors

RULE = """
rules:
  - id: guest-orders
    category: history
    table: orders
    expires: {after: 3 years, from: created_at}
    action: delete
"""
# CATEGORY_YAML takes lines 1-5 and line 6 is blank; the rule starts on line 7:
#  8   - id: guest-orders
#  9     category: history
# 10     table: orders
# 11     expires: {after: 3 years, from: created_at}
# 12     action: delete
VALID = textwrap.dedent(CATEGORY_YAML + RULE).lstrip()
ANOTHER_RULE = """\
  - id: guest-orders
    category: history
    table: order_grid
    action: delete
"""


def problems(*paths: Path) -> list[str]:
    """The issue lines of loading `paths`, with the temporary directory cut from file names."""
    with pytest.raises(PolicyError) as err:
        load_policy(list(paths))
    prefix = str(paths[0].parent if paths[0].is_file() else paths[0]) + "/"
    lines = [str(i).replace(prefix, "") for i in err.value.issues]
    assert str(err.value).replace(prefix, "") == "\n".join(lines)
    return lines


def edit(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new, 1)


GOLDEN = [
    ("unknown key with a hint", edit("    table: orders", "    tabel: orders"), [
        "policy.yaml:8:5: rules.guest-orders: missing required key 'table'",
        "policy.yaml:10:5: rules.guest-orders.tabel: unknown key 'tabel' (did you mean 'table'?)",
    ]),
    ("unknown top-level key", edit("rules:", "rule:"), [
        "policy.yaml:7:1: rule: unknown key 'rule' (did you mean 'rules'?)",
    ]),
    ("bad duration", edit("3 years,", "3 yeras,"), [
        "policy.yaml:11:22: rules.guest-orders.expires.after: '3 yeras' is not a duration "
        "(try '3 years', '18 months', '90 days' or 'P3Y')",
    ]),
    ("duration given as a number", edit("3 years,", "3,"), [
        "policy.yaml:11:22: rules.guest-orders.expires.after: 3 is not a duration "
        "(try '3 years', '18 months', '90 days' or 'P3Y')",
    ]),
    ("unknown category", edit("category: history", "category: histroy"), [
        "policy.yaml:9:15: rules.guest-orders.category: unknown category 'histroy' "
        "(did you mean 'history'?)",
    ]),
    ("unknown category without a close match", edit("category: history", "category: zzz"), [
        "policy.yaml:9:15: rules.guest-orders.category: unknown category 'zzz' "
        "(categories: history)",
    ]),
    ("wrong type", VALID + "    batch_size: many\n", [
        "policy.yaml:13:17: rules.guest-orders.batch_size: input should be a valid integer, "
        "unable to parse string as an integer (got 'many')",
    ]),
    ("number out of range", VALID + "    batch_size: 0\n", [
        "policy.yaml:13:17: rules.guest-orders.batch_size: input should be greater than or "
        "equal to 1 (got 0)",
    ]),
    ("SQL in a table name", edit("table: orders", 'table: "orders; DROP TABLE x"'), [
        "policy.yaml:10:12: rules.guest-orders.table: 'orders; DROP TABLE x' is not a plain "
        "table/column name (letters, digits and _ only, at most 64 characters)",
    ]),
    ("quote in a column name", edit("from: created_at", "from: name\"--"), [
        "policy.yaml:11:37: rules.guest-orders.expires.from: 'name\"--' is not a plain "
        "table/column name (letters, digits and _ only, at most 64 characters)",
    ]),
    ("SQL in a filter column",
     VALID + "    where: {column: \"1=1 OR status\", op: \"=\", value: x}\n", [
        "policy.yaml:13:21: rules.guest-orders.where.column: '1=1 OR status' is not a plain "
        "table/column name (letters, digits and _ only, at most 64 characters)",
    ]),
    ("SQL in an anonymised column", edit("action: delete",
                                         "action: {anonymise: {\"email; --\": hmac}}"), [
        "policy.yaml:12:26: rules.guest-orders.action.anonymise.email; --: 'email; --' is not "
        "a plain table/column name (letters, digits and _ only, at most 64 characters)",
    ]),
    ("unknown strategy", edit("action: delete", "action: {anonymise: {email: hashme}}"), [
        "policy.yaml:12:33: rules.guest-orders.action.anonymise.email: unknown strategy "
        "'hashme'; strategies: null, fixed, hmac, mask, email_domain, truncate_date, round, "
        "postcode_prefix",
    ]),
    ("misspelt strategy",
     edit("action: delete", "action: {anonymise: {email: {strategy: hmca}}}"), [
        "policy.yaml:12:33: rules.guest-orders.action.anonymise.email: unknown strategy "
        "'hmca' (did you mean 'hmac'?); strategies: null, fixed, hmac, mask, email_domain, "
        "truncate_date, round, postcode_prefix",
    ]),
    ("strategy option misspelt",
     edit("action: delete", "action: {anonymise: {email: {strategy: hmac, lenght: 20}}}"), [
        "policy.yaml:12:50: rules.guest-orders.action.anonymise.email.lenght: unknown key "
        "'lenght' (did you mean 'length'?)",
    ]),
    ("in without a list", VALID + "    where: {column: status, op: in, value: complete}\n", [
        "policy.yaml:13:12: rules.guest-orders.where: 'in' needs a non-empty list as value, "
        "e.g. [a, b]",
    ]),
    ("is null with a value", VALID + "    where: {column: customer_id, op: is null, value: 3}\n", [
        "policy.yaml:13:12: rules.guest-orders.where: 'is null' takes no value; remove 'value'",
    ]),
    ("comparison without a value", VALID + "    where: {column: status, op: \"=\"}\n", [
        "policy.yaml:13:12: rules.guest-orders.where: '=' needs one non-null value "
        "(use 'is null' to test for NULL)",
    ]),
    ("unknown operator", VALID + "    where: {column: status, op: like, value: x}\n", [
        "policy.yaml:13:33: rules.guest-orders.where.op: 'like' is not allowed here; expected "
        "'=', '!=', '<', '<=', '>', '>=', 'in', 'not in', 'is null' or 'is not null'",
    ]),
    ("missing required key", edit("    action: delete\n", ""), [
        "policy.yaml:8:5: rules.guest-orders: missing required key 'action'",
    ]),
    ("missing nested key", edit("{after: 3 years, from: created_at}", "{after: 3 years}"), [
        "policy.yaml:11:14: rules.guest-orders.expires: missing required key 'from'",
    ]),
    ("duplicate YAML key", VALID + "    action: delete\n", [
        "policy.yaml:13:5: rules.guest-orders.action: duplicate key 'action' (first given on "
        "line 12); remove one of them",
    ]),
    ("duplicate rule id", VALID + ANOTHER_RULE, [
        "policy.yaml:13:9: rules.guest-orders.id: duplicate rule id 'guest-orders' (first "
        "defined at policy.yaml:8); rule ids must be unique",
    ]),
    ("invalid rule id", edit("id: guest-orders", "id: Guest Orders"), [
        "policy.yaml:8:9: rules.Guest Orders.id: 'Guest Orders' is not a valid id (lowercase "
        "letters, digits, '-', '_' and '.')",
    ]),
    ("invalid financial year start", "settings: {financial_year_start: 02-29}\n" + VALID, [
        "policy.yaml:1:34: settings.financial_year_start: '02-29' is not a month-day like "
        "'01-01' or '07-01'",
    ]),
    ("not a mapping", "- rules\n", [
        "policy.yaml:1:1: expected a mapping (got ['rules'])",
    ]),
    ("rules not a list", "rules: 5\n", [
        "policy.yaml:1:8: rules: expected a list (got 5)",
    ]),
    ("filter value of no scalar type",
     VALID + "    where: {column: status, op: \"=\", value: {a: 1}}\n", [
        "policy.yaml:13:45: rules.guest-orders.where.value: expected a string, an integer, a "
        "number, a boolean or a list (got {'a': 1})",
    ]),
    ("unknown action", edit("action: delete", "action: anonymise"), [
        "policy.yaml:12:13: rules.guest-orders.action: 'anonymise' is not allowed here; "
        "expected 'delete' or {anonymise: {column: strategy, ...}}",
    ]),
    ("SQL in a related key",
     VALID + "    related: [{table: items, on: {\"x y\": id}, action: delete}]\n", [
        "policy.yaml:13:35: rules.guest-orders.related[0].on.x y: 'x y' is not a plain "
        "table/column name (letters, digits and _ only, at most 64 characters)",
    ]),
    ("unknown time zone", edit("from: created_at}", "from: created_at, timezone: Mars/Base}"), [
        "policy.yaml:11:59: rules.guest-orders.expires.timezone: 'Mars/Base' is not a time zone "
        "(e.g. 'Europe/Oslo')",
    ]),
    ("hmac length too short", edit("action: delete",
                                   "action: {anonymise: {email: {strategy: hmac, length: 5}}}"), [
        "policy.yaml:12:58: rules.guest-orders.action.anonymise.email.length: input should be "
        "greater than or equal to 12 (got 5)",
    ]),
    ("fixed without value", edit("action: delete", "action: {anonymise: {email: fixed}}"), [
        "policy.yaml:12:33: rules.guest-orders.action.anonymise.email: missing required key "
        "'value'",
    ]),
    ("YAML syntax", edit("table: orders", "table: [orders"), [
        "policy.yaml:11:12: YAML syntax: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence started at line 10, column 12)",
    ]),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _n, t, e in GOLDEN],
                         ids=[n for n, _t, _e in GOLDEN])
def test_policy_errors_name_file_line_column_path_and_fix(
        write_policy, text: str, expected: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Each mistake is reported as `file:line:col: path: message` at the offending key or
    value, with a hint where one can be given."""
    assert problems(write_policy(text)) == expected


def test_the_valid_base_policy_of_the_golden_tests_loads(write_policy) -> None:  # type: ignore[no-untyped-def]
    """The golden cases differ from a valid policy only by the mistake they show."""
    policy = load_policy([write_policy(VALID)])
    assert [r.id for r in policy.rules] == ["guest-orders"]
    assert policy.rules[0].table == "orders"


def test_every_problem_of_every_file_is_reported_at_once(write_policy) -> None:  # type: ignore[no-untyped-def]
    """One PolicyError lists all problems, in file order and then line order."""
    write_policy(edit("3 years,", "3 yeras,") + "    batch_size: many\n"
                 + "    where: {column: status, op: in, value: complete}\n", name="a.yaml")
    directory = write_policy("rules:\n  - id: b\n    category: nope\n    table: t\n"
                             "    action: delete\n  - {id: c}\n", name="b.yaml")
    assert problems(directory) == [
        "a.yaml:11:22: rules.guest-orders.expires.after: '3 yeras' is not a duration "
        "(try '3 years', '18 months', '90 days' or 'P3Y')",
        "a.yaml:13:17: rules.guest-orders.batch_size: input should be a valid integer, "
        "unable to parse string as an integer (got 'many')",
        "a.yaml:14:12: rules.guest-orders.where: 'in' needs a non-empty list as value, "
        "e.g. [a, b]",
        "b.yaml:3:15: rules.b.category: unknown category 'nope' (categories: history)",
        "b.yaml:6:5: rules.c: missing required key 'category'",
        "b.yaml:6:5: rules.c: missing required key 'table'",
        "b.yaml:6:5: rules.c: missing required key 'action'",
    ]


def test_a_broken_file_does_not_hide_the_problems_of_another(write_policy) -> None:  # type: ignore[no-untyped-def]
    """A YAML syntax error in one file and a validation error in another are both reported."""
    write_policy("rules: [\n", name="a.yaml")
    directory = write_policy(edit("3 years,", "3 yeras,"), name="b.yaml")
    found = problems(directory)
    assert len(found) == 2
    assert found[0].startswith("a.yaml:2:1: YAML syntax: ")
    assert found[1].startswith("b.yaml:11:22: rules.guest-orders.expires.after: '3 yeras'")


# --------------------------------------------------------------------------- several files


def test_duplicate_rule_id_across_files_names_the_first_file(write_policy) -> None:  # type: ignore[no-untyped-def]
    """A rule id defined in two files is an error at the second, naming the first."""
    write_policy(VALID, name="a.yaml")
    directory = write_policy("rules:\n" + ANOTHER_RULE, name="b.yaml")
    assert problems(directory) == [
        "b.yaml:2:9: rules.guest-orders.id: duplicate rule id 'guest-orders' (first defined "
        "at a.yaml:8); rule ids must be unique",
    ]


def test_duplicate_category_id_across_files_is_rejected(write_policy) -> None:  # type: ignore[no-untyped-def]
    """A category id defined in two files is an error at the second."""
    write_policy(VALID, name="a.yaml")
    directory = write_policy(CATEGORY_YAML, name="b.yaml")
    assert problems(directory) == [
        "b.yaml:2:9: categories.history.id: duplicate category id 'history' (first defined "
        "at a.yaml:2)",
    ]


def test_settings_given_in_two_files_are_rejected(write_policy) -> None:  # type: ignore[no-untyped-def]
    """Settings belong in one file; a second file with settings is an error at its key."""
    write_policy("settings: {batch_size: 100}\n" + VALID, name="a.yaml")
    directory = write_policy("version: 1\nsettings:\n  batch_size: 10\n", name="b.yaml")
    assert problems(directory) == [
        "b.yaml:2:1: settings: settings are already given in a.yaml; keep them in one file",
    ]


def test_directory_files_are_merged_in_name_order(write_policy) -> None:  # type: ignore[no-untyped-def]
    """A directory contributes its *.yaml and *.yml files sorted by name; other files are
    ignored; categories of one file serve rules of another; settings come from their file."""
    write_policy("rules:\n" + ANOTHER_RULE.replace("guest-orders", "b-rule"), name="b.yaml")
    write_policy("settings: {batch_size: 7, financial_year_start: 07-01}\n" + VALID,
                 name="a.yaml")
    write_policy("rules:\n" + ANOTHER_RULE.replace("guest-orders", "c-rule"), name="c.yml")
    directory = write_policy("this is not: [yaml", name="notes.txt")
    (directory / "schema.json").write_text("{}", encoding="utf-8")
    policy = load_policy([directory])
    assert [Path(f).name for f in policy.files] == ["a.yaml", "b.yaml", "c.yml"]
    assert [r.id for r in policy.rules] == ["guest-orders", "b-rule", "c-rule"]
    assert list(policy.categories) == ["history"]
    assert policy.settings.batch_size == 7
    assert policy.financial_year == (7, 1)


def test_explicit_files_are_merged_in_the_order_given(write_policy) -> None:  # type: ignore[no-untyped-def]
    """Files named one by one are read in the order given, not sorted."""
    write_policy(VALID, name="a.yaml")
    directory = write_policy("rules:\n" + ANOTHER_RULE.replace("guest-orders", "b-rule"),
                             name="b.yaml")
    policy = load_policy([directory / "b.yaml", directory / "a.yaml"])
    assert [Path(f).name for f in policy.files] == ["b.yaml", "a.yaml"]
    assert [r.id for r in policy.rules] == ["b-rule", "guest-orders"]


def test_defaults_apply_without_settings(write_policy) -> None:  # type: ignore[no-untyped-def]
    """Without settings the batch size is 2000 and the financial year is the calendar year."""
    policy = load_policy([write_policy(VALID)])
    assert policy.settings.batch_size == 2000
    assert policy.financial_year == (1, 1)


def test_an_empty_directory_is_a_clear_error(tmp_path: Path) -> None:
    """A directory without policy files is refused, naming the directory."""
    (tmp_path / "empty").mkdir()
    with pytest.raises(PolicyError) as err:
        load_policy([tmp_path / "empty"])
    assert str(err.value) == f"{tmp_path / 'empty'}:1:1: no policy files (*.yaml) found"


def test_a_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    """A policy path that does not exist is refused, naming the path."""
    with pytest.raises(PolicyError) as err:
        load_policy([tmp_path / "nope.yaml"])
    assert str(err.value) == f"{tmp_path / 'nope.yaml'}:1:1: no such policy file or directory"


def test_a_file_that_is_not_utf8_is_located_to_the_byte(write_policy) -> None:  # type: ignore[no-untyped-def]
    """A policy saved in another encoding is a policy error at the first undecodable byte."""
    directory = write_policy(VALID)
    (directory / "policy.yaml").write_bytes(
        VALID.replace("Purchase history", "Kjøpshistorikk").encode("latin-1"))
    assert problems(directory) == [
        "policy.yaml:3:14: byte 0xf8 is not UTF-8; save the file as UTF-8"]
    # columns count characters: the UTF-8 'å' before the bad byte is one column
    (directory / "policy.yaml").write_bytes(
        VALID.replace("Purchase history", "å Kjøp").encode("utf-8").replace(b"\xc3\xb8", b"\xf8"))
    assert problems(directory) == [
        "policy.yaml:3:16: byte 0xf8 is not UTF-8; save the file as UTF-8"]


def test_policy_digest_changes_when_a_file_changes(write_policy) -> None:  # type: ignore[no-untyped-def]
    """The digest identifies the policy text: same files, same digest; any edit, another."""
    directory = write_policy(VALID)
    first = load_policy([directory]).digest
    assert load_policy([directory]).digest == first
    write_policy(VALID.replace("3 years", "4 years"))
    changed = load_policy([directory]).digest
    assert changed != first
    write_policy("rules:\n" + ANOTHER_RULE.replace("guest-orders", "b-rule"), name="b.yaml")
    assert load_policy([directory]).digest not in (first, changed)
    assert len(first) == 64


def test_values_that_yaml_1_1_would_convert_reach_filters_as_strings(write_policy) -> None:  # type: ignore[no-untyped-def]
    """`value: no` compares with the text 'no' and `value: 2024-01-01` with that text."""
    policy = load_policy([write_policy(
        VALID + "    where: [{column: newsletter, op: \"=\", value: no},"
                " {column: day, op: \"=\", value: 2024-01-01}]\n")])
    where = policy.rules[0].where
    assert where is not None
    values = [c.value for c in where.all if isinstance(c, ColumnCondition)]  # type: ignore[union-attr]
    assert values == ["no", "2024-01-01"]


def test_rule_lookup_and_issue_location(write_policy) -> None:  # type: ignore[no-untyped-def]
    """A rule is found by id (an unknown id lists the known ones), and later checks locate
    their issues in the rule's file."""
    directory = write_policy(VALID)
    policy = load_policy([directory])
    assert policy.rule("guest-orders").table == "orders"
    with pytest.raises(PolicyError, match=r"no rule 'nope' \(rules: guest-orders\)"):
        policy.rule("nope")
    issue = policy.issue("guest-orders", ("table",), "table 'orders' does not exist")
    assert (Path(issue.file).name, issue.line, issue.column, issue.path) == \
        ("policy.yaml", 10, 12, "rules.guest-orders.table")
