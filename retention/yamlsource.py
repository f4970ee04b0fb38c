"""Read policy YAML into plain Python while keeping each node's file:line:col.

PyYAML's constructors drop marks, keep the last of duplicate keys silently, and resolve YAML 1.1
scalars (`no` -> False, `1:30` -> 90, `2024-01-01` -> date). This reader composes the node tree
itself, rejects duplicate keys, and resolves plain scalars by the YAML 1.2 core schema only
(null, true/false, integers, floats); everything else stays a string, and so does a value tagged
`!!str` (`!!str 0752`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import Issue

Path = tuple[str | int, ...]

_INT = re.compile(r"^[-+]?[0-9]+$")  # YAML 1.2 core: '012' is 12 (1.1 read it as octal)
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")


@dataclass
class Source:
    """One parsed YAML document and where each of its nodes came from."""

    file: str
    data: Any
    marks: dict[Path, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path, *, at_key: bool = False) -> tuple[int, int]:
        """Line and column (1-based) of the deepest node of `path` that exists.

        With `at_key`, a mapping entry is located at its key rather than its value.
        """
        for end in range(len(path), -1, -1):
            mark = (self.key_marks.get(path[:end]) if at_key and end == len(path) else None) \
                or self.marks.get(path[:end])
            if mark is not None:
                return mark
        return (1, 1)

    def readable(self, path: Path) -> str:
        """Dotted path, naming list items by their `id` when they have one."""
        parts: list[str] = []
        node = self.data
        for step in path:
            if isinstance(step, int) and isinstance(node, list) and 0 <= step < len(node):
                item = node[step]
                ident = item.get("id") if isinstance(item, dict) else None
                parts.append(str(ident) if isinstance(ident, str) and ident else f"[{step}]")
                node = item
            elif isinstance(node, dict) and step in node:
                parts.append(str(step))
                node = node[step]
            else:
                parts.append(str(step))
                node = None
        return ".".join(parts).replace(".[", "[")

    def issue(self, path: Path, message: str, *, at_key: bool = False) -> Issue:
        line, col = self.locate(path, at_key=at_key)
        return Issue(self.file, line, col, self.readable(path), message)


class YamlIssues(Exception):
    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("; ".join(map(str, issues)))


_PLAIN = "tag:retention,plain"  # an untagged plain scalar, resolved by `_scalar`
_CORE_TAGS = frozenset({_PLAIN} | {f"tag:yaml.org,2002:{t}" for t in ("int", "float", "bool",
                                                                     "null")})


class _Loader(yaml.SafeLoader):
    """Marks untagged plain scalars instead of resolving them by YAML 1.1 rules, so that an
    explicit tag (`!!str 0752`) can be told apart from an implicit one."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]  # untyped stub


def _scalar(node: yaml.ScalarNode) -> Any:
    value = node.value
    if node.tag not in _CORE_TAGS:  # quoted, block, `!!str` or an unknown tag: a string
        return value
    if value in ("", "~", "null", "Null", "NULL"):
        return None
    if value in ("true", "True", "TRUE"):
        return True
    if value in ("false", "False", "FALSE"):
        return False
    if _INT.match(value):
        return int(value)
    if _FLOAT.match(value) and any(c.isdigit() for c in value):
        return float(value)
    return value


def _syntax_issue(err: yaml.MarkedYAMLError, file: str) -> Issue:
    mark = err.problem_mark or err.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = err.problem or err.context or "invalid YAML"
    context, start = err.context, err.context_mark
    if context and problem.startswith("but "):  # "expected a single document ..., but found"
        problem = f"{context}, {problem}"
    elif context and start is not None and err.problem and (start.line + 1, start.column + 1) \
            != (line, col):
        # an unclosed bracket or quote is reported where the text ends; say where it opened
        problem += f" ({context} started at line {start.line + 1}, column {start.column + 1})"
    return Issue(file, line, col, "", f"YAML syntax: {problem}")


def load_source(text: str, file: str) -> Source:
    """Parse one YAML document; raise YamlIssues for syntax errors and duplicate keys."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as err:
        raise YamlIssues([_syntax_issue(err, file)]) from None
    source = Source(file=file, data=None)
    issues: list[Issue] = []
    duplicates: list[tuple[Path, tuple[int, int], str]] = []

    def build(node: yaml.Node, path: Path) -> Any:
        source.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return [build(child, (*path, i)) for i, child in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = _scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, str | int | bool) or key is None:
                    issues.append(Issue(file, key_node.start_mark.line + 1,
                                        key_node.start_mark.column + 1, "",
                                        "mapping keys must be plain strings"))
                    continue
                key = str(key) if not isinstance(key, str) else key
                if key in result:
                    duplicates.append((
                        (*path, key),
                        (key_node.start_mark.line + 1, key_node.start_mark.column + 1),
                        f"duplicate key {key!r} (first given on line "
                        f"{source.key_marks[(*path, key)][0]}); remove one of them",
                    ))
                    continue
                source.key_marks[(*path, key)] = (key_node.start_mark.line + 1,
                                                  key_node.start_mark.column + 1)
                result[key] = build(value_node, (*path, key))
            return result
        return None  # pragma: no cover - composer yields only the three node kinds

    source.data = build(root, ()) if root is not None else None
    for path, (line, column), message in duplicates:  # named like validation errors
        issues.append(Issue(file, line, column, source.readable(path), message))
    if issues:
        issues.sort(key=lambda i: (i.line, i.column))
        raise YamlIssues(issues)
    return source
