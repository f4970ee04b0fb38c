"""Load policy files (several files or directories, merged) into one validated `Policy`."""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .durations import parse_month_day
from .errors import Issue, PolicyError
from .floors import floor_problems
from .model import (
    STRATEGY_NAMES,
    Category,
    Keep,
    LegalFloor,
    PolicyFile,
    Related,
    Rule,
    Settings,
)
from .yamlsource import Source, YamlIssues, load_source

_KNOWN_KEYS = sorted({
    name
    for model in (PolicyFile, Settings, Category, Rule, Related, Keep, LegalFloor)
    for name in model.model_fields
} | {"from", "after", "counted_from", "epoch", "timezone", "column", "op", "value", "all",
     "any", "exists", "not_exists", "table", "on", "where", "anonymise", "strategy", "length",
     "prefix", "keep_first", "keep_last", "char", "to", "digits", "keep"} - {"from_"})


@dataclass(frozen=True)
class Policy:
    """Every rule and category from a set of policy files, checked and merged."""

    files: tuple[str, ...]
    digest: str
    settings: Settings
    categories: dict[str, Category]
    rules: tuple[Rule, ...]
    # where each rule came from, for errors found later (e.g. against the database schema)
    origins: dict[str, tuple[Source, int]]
    # personal data kept on purpose, in reading order, and where each entry came from
    keeps: tuple[Keep, ...] = ()
    keep_origins: tuple[tuple[Source, int], ...] = ()

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        known = ", ".join(r.id for r in self.rules)
        raise PolicyError([Issue("<command line>", 1, 1, "--rule",
                                 f"no rule {rule_id!r} (rules: {known})")])

    def issue(self, rule_id: str, path: tuple[str | int, ...], message: str) -> Issue:
        """An issue located at `path` below the rule's node in its file."""
        source, index = self.origins[rule_id]
        return source.issue(("rules", index, *path), message)

    def keep_issue(self, index: int, path: tuple[str | int, ...], message: str) -> Issue:
        """An issue located at `path` below the `index`-th keep entry (of `keeps`)."""
        source, position = self.keep_origins[index]
        return source.issue(("keep", position, *path), message)

    @property
    def financial_year(self) -> tuple[int, int]:
        return parse_month_day(self.settings.financial_year_start)


def policy_files(paths: Sequence[str | Path]) -> list[Path]:
    """Expand directories to their *.yaml / *.yml files (sorted); keep files as given."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir()
                                if p.suffix in (".yaml", ".yml") and p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise PolicyError([Issue(str(path), 1, 1, "", "no such policy file or directory")])
    if not found:
        joined = ", ".join(str(p) for p in paths)
        raise PolicyError([Issue(joined or ".", 1, 1, "", "no policy files (*.yaml) found")])
    return found


def load_policy(paths: Sequence[str | Path]) -> Policy:
    """Read, validate and merge policy files; raise PolicyError listing every problem found."""
    files = policy_files(paths)
    issues: list[Issue] = []
    sources: list[Source] = []
    parsed: list[tuple[Source, PolicyFile]] = []
    digest = hashlib.sha256()
    for file in files:
        text = _read(file, issues)
        if text is None:
            continue
        digest.update(f"{file.name}\0{len(text)}\0".encode() + text.encode())
        try:
            source = load_source(text, str(file))
        except YamlIssues as err:
            issues.extend(err.issues)
            continue
        if source.data is None:
            continue
        sources.append(source)
        try:
            parsed.append((source, PolicyFile.model_validate(source.data)))
        except ValidationError as err:
            issues.extend(_translate(source, err))
    issues.extend(_cross_check(sources))
    if issues:
        order = {str(f): i for i, f in enumerate(files)}  # reading order: file, line, column
        issues.sort(key=lambda i: (order.get(i.file, len(order)), i.line, i.column))
        raise PolicyError(issues)
    policy = _merge(files, digest.hexdigest(), parsed)
    floor_issues = floor_problems(policy)
    if floor_issues:
        raise PolicyError(floor_issues)
    return policy


def _read(file: Path, issues: list[Issue]) -> str | None:
    """The file's text, or None after adding an issue when it cannot be read as UTF-8."""
    try:
        raw = file.read_bytes()
    except OSError as err:
        issues.append(Issue(str(file), 1, 1, "", f"cannot read the file: {err.strerror}"))
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        line_start = raw.rfind(b"\n", 0, err.start) + 1
        column = len(raw[line_start:err.start].decode("utf-8")) + 1  # valid up to the byte
        issues.append(Issue(str(file), line, column, "",
                            f"byte 0x{raw[err.start]:02x} is not UTF-8; save the file as UTF-8"))
        return None


def _merge(files: list[Path], digest: str, parsed: list[tuple[Source, PolicyFile]]) -> Policy:
    settings = next((pf.settings for _, pf in parsed if pf.settings is not None), Settings())
    categories = {c.id: c for _, pf in parsed for c in pf.categories}
    rules: list[Rule] = []
    origins: dict[str, tuple[Source, int]] = {}
    keeps: list[Keep] = []
    keep_origins: list[tuple[Source, int]] = []
    for source, pf in parsed:
        for index, rule in enumerate(pf.rules):
            rules.append(rule)
            origins[rule.id] = (source, index)
        for index, keep in enumerate(pf.keep):
            keeps.append(keep)
            keep_origins.append((source, index))
    return Policy(tuple(str(f) for f in files), digest, settings, categories, tuple(rules),
                  origins, tuple(keeps), tuple(keep_origins))


def _cross_check(parsed: list[Source]) -> Iterable[Issue]:
    """Checks across files, on the raw data so that they run even when a file has other errors."""
    seen_rules: dict[str, str] = {}
    seen_categories: dict[str, str] = {}
    settings_from: str | None = None
    for source in parsed:
        data = source.data if isinstance(source.data, dict) else {}
        if data.get("settings") is not None:
            if settings_from is not None:
                yield source.issue(("settings",), f"settings are already given in {settings_from};"
                                   " keep them in one file", at_key=True)
            settings_from = source.file
        for i, cat in _items(data, "categories"):
            cat_id = cat.get("id")
            if not isinstance(cat_id, str):
                continue
            if cat_id in seen_categories:
                yield source.issue(("categories", i, "id"),
                                   f"duplicate category id {cat_id!r} (first defined at "
                                   f"{seen_categories[cat_id]})")
            line = source.locate(("categories", i))[0]
            seen_categories.setdefault(cat_id, f"{source.file}:{line}")
    for source in parsed:
        data = source.data if isinstance(source.data, dict) else {}
        for i, rule in _items(data, "rules"):
            rule_id = rule.get("id")
            if isinstance(rule_id, str):
                if rule_id in seen_rules:
                    yield source.issue(("rules", i, "id"),
                                       f"duplicate rule id {rule_id!r} (first defined at "
                                       f"{seen_rules[rule_id]}); rule ids must be unique")
                seen_rules.setdefault(rule_id, f"{source.file}:{source.locate(('rules', i))[0]}")
            yield from _unknown_category(source, ("rules", i), rule, seen_categories)
            yield from _tool_tables(source, ("rules", i), rule)
    yield from _keep_clashes(parsed, seen_categories)


def _unknown_category(source: Source, path: tuple[str | int, ...], item: dict[str, Any],
                      categories: dict[str, str]) -> Iterable[Issue]:
    category = item.get("category")
    if isinstance(category, str) and category not in categories:
        hint = _did_you_mean(category, categories) or (
            f" (categories: {', '.join(sorted(categories)) or 'none defined'})")
        yield source.issue((*path, "category"), f"unknown category {category!r}{hint}")


def _keep_clashes(parsed: list[Source], categories: dict[str, str]) -> Iterable[Issue]:
    """Keep entries name a known category, and no table or column is kept twice (a whole
    table and some of its columns count as twice)."""
    kept: dict[str, dict[str | None, str]] = {}  # table -> column (None: whole) -> file:line
    for source in parsed:
        data = source.data if isinstance(source.data, dict) else {}
        for i, keep in _items(data, "keep"):
            yield from _unknown_category(source, ("keep", i), keep, categories)
            table, columns = keep.get("table"), keep.get("columns")
            if not isinstance(table, str) or not isinstance(columns, list | None):
                continue
            here = f"{source.file}:{source.locate(('keep', i))[0]}"
            before = kept.setdefault(table, {})
            names = [None] if columns is None else [c for c in columns if isinstance(c, str)]
            for name in dict.fromkeys(names):
                first = before.get(name) or before.get(None) or (
                    next(iter(before.values()), None) if name is None else None)
                if first is not None:
                    what = table if name is None else f"{table}.{name}"
                    yield source.issue(("keep", i, "table" if name is None else "columns"),
                                       f"{what} is already kept at {first}; keep it once")
                    break
                before[name] = here


# The tool's own tables: the audit trail is archived by export, never swept by a rule; the lock
# table holds who runs now.
TOOL_TABLES = ("retention_audit", "retention_lock")


def _tool_tables(source: Source, path: tuple[str | int, ...],
                 item: dict[str, Any]) -> Iterable[Issue]:
    """A rule, or a related table at any depth, that would change the tool's own tables."""
    table = item.get("table")
    if isinstance(table, str) and table.lower() in TOOL_TABLES:
        yield source.issue((*path, "table"), (
            f"{table!r} is the tool's own table; no rule may change it (archive the audit trail "
            "with 'retention audit export' instead)"))
    for j, related in _items(item, "related"):
        yield from _tool_tables(source, (*path, "related", j), related)


def _items(data: dict[str, Any], key: str) -> Iterable[tuple[int, dict[str, Any]]]:
    items = data.get(key)
    if isinstance(items, list):
        for i, item in enumerate(items):
            if isinstance(item, dict):
                yield i, item


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _data_path(data: Any, loc: tuple[int | str, ...]) -> tuple[tuple[int | str, ...], bool]:
    """Map a pydantic error location onto the YAML data, dropping union tags.

    Returns the path and whether its last element is absent from the data (a missing key).
    """
    path: list[int | str] = []
    node = data
    loc = tuple(s for s in loc
                if not (isinstance(s, str) and s.endswith(("-condition", "-action"))))
    for i, step in enumerate(loc):
        last = i == len(loc) - 1
        in_dict = isinstance(node, dict) and step in node
        in_list = isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)
        if in_dict or in_list:
            path.append(step)
            node = node[step]
        elif last:
            path.append(step)
            return tuple(path), True
    return tuple(path), False


# Type errors pydantic reports once per member of a union (`value: str | int | ...`), merged
# into one issue per place.
_TYPE_WORDS = {
    "string_type": "a string", "int_type": "an integer", "float_type": "a number",
    "bool_type": "a boolean", "list_type": "a list", "dict_type": "a mapping",
    "model_type": "a mapping", "model_attributes_type": "a mapping",
}


def _translate(source: Source, err: ValidationError) -> list[Issue]:
    issues: list[Issue] = []
    seen: set[tuple[int, int, str]] = set()
    type_errors: dict[tuple[int | str, ...], tuple[int, list[str], Any]] = {}
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        at_key = loc[-1:] == ("[key]",)  # a mapping key itself is wrong, not its value
        path, absent = _data_path(source.data, loc[:-1] if at_key else loc)
        kind = e["type"]
        value = e.get("input")
        if absent and kind != "missing":
            path = path[:-1]  # the name of a union member pydantic tried, not a key
        if kind in _TYPE_WORDS:
            if path in type_errors:
                type_errors[path][1].append(_TYPE_WORDS[kind])
                continue
            type_errors[path] = (len(issues), [_TYPE_WORDS[kind]], value)
            message = f"wrong type at {path}"  # replaced below once every member is known
        elif kind == "extra_forbidden":
            key = str(path[-1])
            others = [k for k in _KNOWN_KEYS if k != key]  # 'column' where 'columns' belongs
            message = f"unknown key {key!r}" + (_did_you_mean(key, others) or
                                                "; see docs/policy-language.md for the keys")
            at_key = True
        elif kind == "missing":
            message = f"missing required key {path[-1]!r}"
            path = path[:-1] if absent else path
        elif kind == "union_tag_invalid":
            tag = str(e.get("ctx", {}).get("tag"))
            message = (f"unknown strategy {tag!r}{_did_you_mean(tag, STRATEGY_NAMES)}; "
                       f"strategies: {', '.join(STRATEGY_NAMES)}")
        elif kind == "string_pattern_mismatch":
            pattern = str(e.get("ctx", {}).get("pattern", ""))
            if pattern.startswith("^[A-Za-z_]"):
                message = (f"{value!r} is not a plain table/column name (letters, digits and _ "
                           "only, at most 64 characters)")
            elif pattern.startswith("^[a-z0-9]"):
                message = (f"{value!r} is not a valid id (lowercase letters, digits, '-', '_' "
                           "and '.')")
            else:
                message = f"{value!r} does not match {pattern}"
        elif kind == "literal_error":
            expected = e.get("ctx", {}).get("expected", "")
            message = f"{value!r} is not allowed here; expected {expected}"
            if expected == "'delete'":  # a string where an action goes
                message += " or {anonymise: {column: strategy, ...}}"
        elif kind in ("value_error", "assertion_error"):
            message = str(e.get("ctx", {}).get("error", e["msg"]))
        elif kind in ("condition", "action"):
            message = f"{value!r}: {e['msg']}"
        else:
            message = f"{e['msg'][0].lower()}{e['msg'][1:]} (got {_short(value)})"
        issue = source.issue(path, message, at_key=at_key)
        marker = (issue.line, issue.column, issue.message)
        if marker not in seen:  # unions can report one problem twice
            seen.add(marker)
            issues.append(issue)
    for index, words, value in type_errors.values():
        expected = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"
        issues[index] = replace(issues[index], message=f"expected {expected} (got {_short(value)})")
    return issues


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
