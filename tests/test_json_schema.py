"""The JSON Schema of policy files: it accepts what the loader accepts, and it cannot go stale."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from retention.cli import main
from retention.model import STRATEGY_NAMES, PolicyFile, json_schema
from retention.yamlsource import load_source
from tests.conftest import CATEGORY_YAML
from tests.test_strategies import STRATEGY_POLICY
from tests.test_sweep_end_to_end import POLICY as SWEEP_POLICY

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "policies" / "schema.json"

# --------------------------------------------------------------------------- a small validator
# jsonschema is not a dependency; this covers the draft 2020-12 keywords the schema uses and
# fails loudly on any other, so that it can never pass a document by ignoring a keyword.

_ANNOTATIONS = {"title", "description", "default", "examples", "discriminator", "$schema",
                "$defs"}
_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema_errors(value: Any, schema: dict[str, Any], root: dict[str, Any],
                  where: str = "$") -> list[str]:
    """Every way `value` violates `schema` (empty when it conforms)."""
    errors: list[str] = []
    for keyword, arg in schema.items():
        if keyword in _ANNOTATIONS:
            continue
        if keyword == "$ref":
            assert arg.startswith("#/$defs/"), arg
            errors += schema_errors(value, root["$defs"][arg.removeprefix("#/$defs/")], root,
                                    where)
        elif keyword == "type":
            if not _TYPES[arg](value):
                errors.append(f"{where}: {value!r} is not of type {arg}")
        elif keyword == "const":
            if value != arg or type(value) is not type(arg):
                errors.append(f"{where}: {value!r} is not {arg!r}")
        elif keyword == "enum":
            if value not in arg:
                errors.append(f"{where}: {value!r} is not one of {arg}")
        elif keyword == "pattern":
            if isinstance(value, str) and not re.search(arg, value):
                errors.append(f"{where}: {value!r} does not match {arg}")
        elif keyword in ("minLength", "maxLength"):
            if isinstance(value, str) and (len(value) < arg if keyword == "minLength"
                                           else len(value) > arg):
                errors.append(f"{where}: {value!r} violates {keyword} {arg}")
        elif keyword in ("minimum", "maximum"):
            if _TYPES["number"](value) and (value < arg if keyword == "minimum" else value > arg):
                errors.append(f"{where}: {value!r} violates {keyword} {arg}")
        elif keyword == "minItems":
            if isinstance(value, list) and len(value) < arg:
                errors.append(f"{where}: fewer than {arg} items")
        elif keyword == "items":
            if isinstance(value, list):
                for i, item in enumerate(value):
                    errors += schema_errors(item, arg, root, f"{where}[{i}]")
        elif keyword == "minProperties":
            if isinstance(value, dict) and len(value) < arg:
                errors.append(f"{where}: fewer than {arg} properties")
        elif keyword == "required":
            if isinstance(value, dict):
                errors += [f"{where}: missing {k!r}" for k in arg if k not in value]
        elif keyword in ("properties", "patternProperties", "additionalProperties",
                         "propertyNames"):
            if isinstance(value, dict):
                errors += _object_errors(keyword, value, schema, root, where)
        elif keyword in ("anyOf", "oneOf"):
            matching = sum(not schema_errors(value, s, root, where) for s in arg)
            if matching == 0 or (keyword == "oneOf" and matching > 1):
                errors.append(f"{where}: {value!r} matches {matching} of the {keyword} schemas")
        else:
            raise AssertionError(f"the test validator does not know the keyword {keyword!r}")
    return errors


def _object_errors(keyword: str, value: dict[str, Any], schema: dict[str, Any],
                   root: dict[str, Any], where: str) -> list[str]:
    errors: list[str] = []
    properties = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    for key, item in value.items():
        matched = [p for p in patterns if re.search(p, key)]
        if keyword == "properties" and key in properties:
            errors += schema_errors(item, properties[key], root, f"{where}.{key}")
        elif keyword == "patternProperties":
            for p in matched:
                errors += schema_errors(item, patterns[p], root, f"{where}.{key}")
        elif keyword == "propertyNames":
            errors += schema_errors(key, schema["propertyNames"], root, f"{where}.{key}")
        elif keyword == "additionalProperties" and key not in properties and not matched:
            extra = schema["additionalProperties"]
            if extra is False:
                errors.append(f"{where}: unexpected key {key!r}")
            elif isinstance(extra, dict):
                errors += schema_errors(item, extra, root, f"{where}.{key}")
    return errors


SCHEMA = json_schema()


def validate(text: str) -> list[str]:
    data = load_source(textwrap.dedent(text).lstrip(), "policy.yaml").data
    return schema_errors(data, SCHEMA, SCHEMA)


def test_the_test_validator_rejects_what_it_should() -> None:
    """The validator used below finds wrong types, missing and extra keys, bad patterns,
    out-of-range numbers and union mismatches, so its silence means something."""
    root = {"$defs": {"n": {"type": "integer", "minimum": 1}}, "type": "object",
            "additionalProperties": False, "required": ["a"],
            "properties": {"a": {"$ref": "#/$defs/n"},
                           "b": {"type": "string", "pattern": "^x"},
                           "c": {"oneOf": [{"type": "integer"}, {"type": "number"}]}}}
    assert schema_errors({"a": 1, "b": "xy"}, root, root) == []
    assert schema_errors({"a": True}, root, root) == ["$.a: True is not of type integer"]
    assert schema_errors({"a": 0}, root, root) == ["$.a: 0 violates minimum 1"]
    assert schema_errors({"b": "y"}, root, root) == ["$: missing 'a'", "$.b: 'y' does not match ^x"]
    assert schema_errors({"a": 1, "z": 1}, root, root) == ["$: unexpected key 'z'"]
    assert schema_errors({"a": 1, "c": 2}, root, root) == \
        ["$.c: 2 matches 2 of the oneOf schemas"]
    with pytest.raises(AssertionError, match="does not know the keyword 'if'"):
        schema_errors(1, {"if": {}}, root)


# --------------------------------------------------------------------------- valid policies

EVERYTHING = CATEGORY_YAML + """
settings:
  financial_year_start: "07-01"
  batch_size: 500
version: 1
rules:
  - id: guest-orders
    category: history
    description: Guest orders go three years after the financial year ends.
    table: orders
    key: [id]
    where:
      any:
        - {column: status, op: in, value: [complete, closed]}
        - {column: status, op: "!=", value: pending}
        - {column: customer_id, op: is null}
        - {column: total, op: ">=", value: 0.5}
        - {column: is_guest, op: "=", value: true}
        - exists: {table: invoices, on: {order_id: id}, where: {column: paid, op: "=", value: 1}}
        - not_exists: {table: order_items, on: {order_id: id}}
        - all: [{column: status, op: is not null}]
    expires: {after: P3Y, from: created_at, counted_from: financial_year_end,
              timezone: Europe/Oslo}
    action: delete
    batch_size: 100
    related:
      - table: order_items
        on: {order_id: id}
        key: [id]
        where: [{column: sku, op: not in, value: [gift]}]
        action: delete
        related:
          - {table: item_options, on: {item_id: id}, action: delete}
  - id: sessions
    category: history
    table: sessions
    expires: {after: 90 days, from: last_seen, epoch: seconds}
    action:
      anonymise:
        a: ~
        b: "null"
        c: {strategy: "null"}
        d: {strategy: fixed, value: removed}
        e: {strategy: fixed, value: 0}
        f: hmac
        g: {strategy: hmac, length: 16, prefix: "anon_"}
        h: mask
        i: {strategy: mask, keep_first: 1, keep_last: 2, char: "#"}
        j: email_domain
        k: truncate_date
        l: {strategy: truncate_date, to: year}
        m: round
        n: {strategy: round, digits: -2}
        o: postcode_prefix
        p: {strategy: postcode_prefix, keep: 3}
"""


def _examples() -> list[Any]:
    shipped = sorted((ROOT / "policies").glob("*.y*ml"))
    return [
        pytest.param(EVERYTHING, id="every-feature"),
        pytest.param(SWEEP_POLICY, id="test_sweep_end_to_end.POLICY"),
        pytest.param(STRATEGY_POLICY, id="test_strategies.STRATEGY_POLICY"),
        *(pytest.param(p.read_text(encoding="utf-8"), id=f"policies/{p.name}") for p in shipped),
    ]


@pytest.mark.parametrize("text", _examples())
def test_policies_the_loader_accepts_validate_against_the_schema(text: str) -> None:
    """Every valid policy, shipped examples and shorthand forms included, conforms to the
    schema an editor checks it with."""
    data = load_source(textwrap.dedent(text).lstrip(), "policy.yaml").data
    PolicyFile.model_validate(data)  # the loader's own judgement: valid
    assert schema_errors(data, SCHEMA, SCHEMA) == []


# --------------------------------------------------------------------------- invalid policies

RULE = CATEGORY_YAML + """
rules:
  - id: r
    category: history
    table: orders
    expires: {after: 3 years, from: created_at}
    action: delete
"""


@pytest.mark.parametrize(("old", "new"), [
    ("    table: orders", "    tabel: orders"),
    ("table: orders", 'table: "orders; DROP TABLE x"'),
    ("from: created_at", 'from: name"--'),
    ("action: delete", "action: remove"),
    ("action: delete", "action: anonymise"),
    ("action: delete", "action: {anonymise: {email: hashme}}"),
    ("action: delete", "action: {anonymise: {email: fixed}}"),
    ("action: delete", 'action: {anonymise: {"email; --": hmac}}'),
    ("action: delete", "action: {anonymise: {}}"),
    ("action: delete", "action: {anonymise: {email: {strategy: hmac, length: 5}}}"),
    ("action: delete", "action: {anonymise: {email: {strategy: mask, char: '**'}}}"),
    ("action: delete", "action: delete\n    batch_size: 0"),
    ("action: delete", "action: delete\n    batch_size: many"),
    ("action: delete", "action: delete\n    where: {column: status, op: like, value: x}"),
    ("action: delete", "action: delete\n    related: [{table: t, on: {'a b': id}, "
                       "action: delete}]"),
    ("after: 3 years", "after: 3"),
    ("created_at}", "created_at, counted_from: fy}"),
    ("id: r", "id: Not An Id"),
    ("rules:", "version: 2\nrules:"),
    ("rules:", "settings: {batch_size: 200000}\nrules:"),
])
def test_schema_rejects_what_the_loader_rejects(old: str, new: str) -> None:
    """Mistakes the schema can express (types, names, keys, enumerations, ranges) are errors
    in the editor as they are for the loader."""
    assert old in RULE
    text = RULE.replace(old, new, 1)
    data = load_source(textwrap.dedent(text).lstrip(), "policy.yaml").data
    with pytest.raises(ValueError):
        PolicyFile.model_validate(data)
    assert schema_errors(data, SCHEMA, SCHEMA) != []


# --------------------------------------------------------------------------- structure


def test_schema_describes_policy_files() -> None:
    """The schema is draft 2020-12 and names the top-level sections of a policy file."""
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["type"] == "object"
    assert set(SCHEMA["properties"]) == {"version", "settings", "categories", "rules", "keep"}
    assert SCHEMA["additionalProperties"] is False


def test_schema_describes_keep_entries_and_legal_floors() -> None:
    """A keep entry needs table, category and reason; a legal floor needs a period and the
    law; both are checked in the editor as by the loader."""
    keep = SCHEMA["$defs"]["Keep"]
    assert set(keep["required"]) == {"table", "category", "reason"}
    assert set(keep["properties"]) == {"table", "columns", "category", "reason"}
    floor = SCHEMA["$defs"]["LegalFloor"]
    assert set(floor["required"]) == {"after", "law"}
    assert set(floor["properties"]) == {"after", "counted_from", "from", "tables", "law"}
    good = {"categories": [{"id": "books", "title": "t", "legal_basis": "b", "policy_clause": "c",
                            "legal_floor": {"after": "5 years", "counted_from":
                                            "financial_year_end", "law": "Bookkeeping Act"}}],
            "keep": [{"table": "t", "columns": ["a"], "category": "books", "reason": "r"}]}
    assert schema_errors(good, SCHEMA, SCHEMA) == []
    PolicyFile.model_validate(good)
    for bad in ({"keep": [{"table": "t", "category": "books"}]},
                {"keep": [{"table": "t", "columns": [], "category": "books", "reason": "r"}]},
                {"keep": [{"table": "t t", "category": "books", "reason": "r"}]},
                {"categories": [{**good["categories"][0],
                                 "legal_floor": {"after": "5 years", "counted_from": "fy",
                                                 "law": "x"}}]}):
        assert schema_errors(bad, SCHEMA, SCHEMA) != [], bad
        with pytest.raises(ValueError):
            PolicyFile.model_validate(bad)


def test_schema_lists_the_rule_keys_and_requires_the_essential_ones() -> None:
    """A rule has id, category, table, key, where, expires, action, related and batch_size;
    id, category, table and action are required."""
    rule = SCHEMA["$defs"]["Rule"]
    assert {"id", "category", "table", "key", "where", "expires", "action", "related",
            "batch_size"} <= set(rule["properties"])
    assert set(rule["required"]) == {"id", "category", "table", "action"}
    expiry = SCHEMA["$defs"]["Expiry"]
    assert set(expiry["required"]) == {"after", "from"}
    assert expiry["properties"]["after"]["type"] == "string"
    assert "$ref" not in expiry["properties"]["after"]


def test_schema_lists_every_strategy() -> None:
    """Each strategy name appears as the constant of exactly one strategy definition."""
    consts = [d["properties"]["strategy"]["const"] for d in SCHEMA["$defs"].values()
              if "strategy" in d.get("properties", {})]
    assert sorted(consts) == sorted(STRATEGY_NAMES)


def test_every_object_in_the_schema_forbids_unknown_keys() -> None:
    """Misspelt keys are flagged by the editor too: no definition allows extra properties."""
    objects = [SCHEMA, *(d for d in SCHEMA["$defs"].values() if d.get("type") == "object")]
    assert all(d.get("additionalProperties") is False for d in objects)


def test_cli_schema_output_is_the_model_schema(tmp_path: Path) -> None:
    """`retention schema` writes exactly the schema the models produce."""
    target = tmp_path / "schema.json"
    with pytest.raises(SystemExit) as exit_info:
        main(["schema", "-o", str(target)])
    assert exit_info.value.code == 0
    assert json.loads(target.read_text(encoding="utf-8")) == SCHEMA


def test_committed_schema_is_current(tmp_path: Path) -> None:
    """policies/schema.json, the file editors point at, equals the current output."""
    target = tmp_path / "schema.json"
    with pytest.raises(SystemExit):
        main(["schema", "-o", str(target)])
    current = target.read_text(encoding="utf-8")
    assert COMMITTED.is_file(), "policies/schema.json is missing; run: retention schema -o " \
        "policies/schema.json"
    assert COMMITTED.read_text(encoding="utf-8") == current, \
        "policies/schema.json is stale; run: retention schema -o policies/schema.json"
