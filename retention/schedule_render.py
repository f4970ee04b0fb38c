"""The retention schedule as Markdown or as one static HTML file (inline CSS, no script).

Every text from the policy files is escaped for its format: a title holding `<script>` or a
`|` shows as written and breaks neither the page nor a Markdown table.
"""

from __future__ import annotations

import re
from html import escape

from .schedule_report import (
    CategoryEntry,
    Ident,
    RuleEntry,
    Schedule,
    TableAction,
    Words,
    words,
)

INTRO = ("Record of processing activities, retention part (GDPR Art. 30(1)(f)): the time "
         "limits for erasure of each category of personal data.")
CASCADE_NOTE = ("Rows that the database deletes by itself with a rule's rows (ON DELETE "
                "CASCADE) depend on the schema and are not listed here; `retention plan` "
                "lists them with their counts.")
NO_RULE = "No rule erases this category's data automatically."

# `_` inside a word (customer_id) never starts emphasis in CommonMark: left as it is, readable
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|#&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def _md(text: str, *, strip: bool = True) -> str:
    """Free text as Markdown that renders as written, on one line."""
    one_line = re.sub(r"\s+", " ", text)
    return _MD_SPECIAL.sub(r"\\\1", one_line.strip() if strip else one_line)


def _code(name: str) -> str:
    return f"`{name}`"  # identifiers: letters, digits, _ and . only, never a backtick


def _md_words(text: Words) -> str:
    return "".join(_code(p) if isinstance(p, Ident) else _md(p, strip=False)
                   for p in text.parts)


def _html_words(text: Words) -> str:
    return "".join(f"<code>{escape(p)}</code>" if isinstance(p, Ident) else escape(p)
                   for p in text.parts)


def summary(category: CategoryEntry) -> Words:
    """The category's retention in one line: each rule's action and period, once each."""
    if not category.rules:
        return words("kept (see below)" if category.keeps else "no automatic erasure")
    unique = {str(w): w for w in (words(r.action, " ", r.period) for r in category.rules)}
    parts: list[str | Words] = []
    for i, item in enumerate(unique.values()):
        parts += ["; ", item] if i else [item]
    return words(*parts)


# --------------------------------------------------------------------------- Markdown


def render_markdown(schedule: Schedule) -> str:
    files = ", ".join(_code_path(f) for f in schedule.files)
    out = ["# Retention schedule", "",
           f"{INTRO} Generated on {schedule.generated.isoformat()} from the policy files that "
           f"`retention run` enforces: {files} (policy digest `{schedule.policy_digest[:12]}`).",
           "", "| Category | Retention | Legal basis |", "| --- | --- | --- |"]
    for cat in schedule.categories:
        out.append(f"| {_md(cat.title)} | {_md_words(summary(cat))} | {_md(cat.legal_basis)} |")
    for cat in schedule.categories:
        out += ["", f"## {_md(cat.title)} ({_code(cat.id)})", ""]
        if cat.description:
            out += [_md(cat.description), ""]
        out.append(f"- **Legal basis:** {_md(cat.legal_basis)}")
        if cat.legal_floor:
            tables = ", ".join(_code(t) for t in cat.floor_tables)
            out.append(f"- **Legal floor:** kept at least {_md(cat.legal_floor)}; "
                       f"protects {tables}")
        out += ["- **Privacy policy:**", "", f"  > {_md(cat.policy_clause)}", ""]
        for rule in cat.rules:
            out += _md_rule(rule)
        if not cat.rules:
            out += [NO_RULE, ""]
        if cat.keeps:
            out += ["**Kept on purpose:**", "", "| Table | Columns | Reason |",
                    "| --- | --- | --- |"]
            for keep in cat.keeps:
                columns = ", ".join(_code(c) for c in keep.columns) if keep.columns \
                    else "the whole table"
                out.append(f"| {_code(keep.table)} | {columns} | {_md(keep.reason)} |")
            out.append("")
    out += ["", "---", "", CASCADE_NOTE, ""]
    return "\n".join(out)


def _code_path(path: str) -> str:
    return "`" + path.replace("`", "'") + "`"


def _md_rule(rule: RuleEntry) -> list[str]:
    out = [f"### Rule {_code(rule.id)}: {rule.action}", ""]
    if rule.description:
        out += [_md(rule.description), ""]
    out.append(f"- **When:** {_md_words(rule.period)}")
    if rule.where:
        out.append(f"- **Which rows:** {_md_words(rule.where)}")
    out.append("- **Tables:**")
    for table in rule.tables:
        out.append("  " * (table.depth + 1) + f"- {_md_table(table)}")
    return [*out, ""]


def _md_table(table: TableAction) -> str:
    head = _code(table.table)
    if table.link:
        head += f" (rows with {_md_words(table.link)})"
    if table.where:
        head += f", where {_md_words(table.where)}"
    if table.action == "delete":
        return f"{head}: rows deleted, every column"
    changes = "; ".join(f"{_code(c)} {_md(what)}" for c, what in table.columns)
    return f"{head}: anonymised, {changes}; other columns kept"


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1a1a1a}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ccc}h3{font-size:1.05rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}code{font-size:.9em;background:#f4f4f4;padding:0 .2em}
blockquote{margin:.4rem 0 .8rem;padding:.2rem 1rem;border-left:4px solid #0072B2;
background:#f7fafc}dt{font-weight:600}dd{margin:0 0 .4rem 1.2rem}
.note{color:#555;font-size:.9rem}
"""


def render_html(schedule: Schedule) -> str:
    files = ", ".join(f"<code>{escape(f)}</code>" for f in schedule.files)
    out = ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
           'style-src \'unsafe-inline\'">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<title>Retention schedule</title>', f"<style>{_CSS}</style></head><body>",
           "<h1>Retention schedule</h1>",
           f"<p>{escape(INTRO)} Generated on {schedule.generated.isoformat()} from the policy "
           f"files that <code>retention run</code> enforces: {files} (policy digest "
           f"<code>{escape(schedule.policy_digest[:12])}</code>).</p>",
           "<table><thead><tr><th>Category</th><th>Retention</th><th>Legal basis</th></tr>"
           "</thead><tbody>"]
    for cat in schedule.categories:
        out.append(f'<tr><td><a href="#{escape(cat.id)}">{escape(cat.title)}</a></td>'
                   f"<td>{_html_words(summary(cat))}</td><td>{escape(cat.legal_basis)}</td></tr>")
    out.append("</tbody></table>")
    for cat in schedule.categories:
        out += _html_category(cat)
    out.append(f'<p class="note">{escape(CASCADE_NOTE)}</p></body></html>')
    return "\n".join(out) + "\n"


def _html_category(cat: CategoryEntry) -> list[str]:
    out = [f'<section id="{escape(cat.id)}"><h2>{escape(cat.title)} '
           f"<code>{escape(cat.id)}</code></h2>"]
    if cat.description:
        out.append(f"<p>{escape(cat.description)}</p>")
    out.append(f"<dl><dt>Legal basis</dt><dd>{escape(cat.legal_basis)}</dd>")
    if cat.legal_floor:
        tables = ", ".join(f"<code>{escape(t)}</code>" for t in cat.floor_tables)
        out.append(f"<dt>Legal floor</dt><dd>kept at least {escape(cat.legal_floor)}; "
                   f"protects {tables}</dd>")
    out.append(f"<dt>Privacy policy</dt><dd><blockquote>{escape(cat.policy_clause)}"
               "</blockquote></dd></dl>")
    for rule in cat.rules:
        out += _html_rule(rule)
    if not cat.rules:
        out.append(f"<p>{escape(NO_RULE)}</p>")
    if cat.keeps:
        out.append("<h3>Kept on purpose</h3><table><thead><tr><th>Table</th><th>Columns</th>"
                   "<th>Reason</th></tr></thead><tbody>")
        for keep in cat.keeps:
            columns = ", ".join(f"<code>{escape(c)}</code>" for c in keep.columns) \
                if keep.columns else "the whole table"
            out.append(f"<tr><td><code>{escape(keep.table)}</code></td><td>{columns}</td>"
                       f"<td>{escape(keep.reason)}</td></tr>")
        out.append("</tbody></table>")
    out.append("</section>")
    return out


def _html_rule(rule: RuleEntry) -> list[str]:
    out = [f"<h3>Rule <code>{escape(rule.id)}</code>: {escape(rule.action)}</h3>"]
    if rule.description:
        out.append(f"<p>{escape(rule.description)}</p>")
    out.append(f"<dl><dt>When</dt><dd>{_html_words(rule.period)}</dd>")
    if rule.where:
        out.append(f"<dt>Which rows</dt><dd>{_html_words(rule.where)}</dd>")
    out.append("<dt>Tables</dt><dd><table><thead><tr><th>Table</th><th>Rows</th>"
               "<th>What happens</th></tr></thead><tbody>")
    for table in rule.tables:
        rows = "the rule's rows" if not table.link else f"rows with {_html_words(table.link)}"
        if table.where:
            rows += f", where {_html_words(table.where)}"
        if table.action == "delete":
            what = "deleted, every column"
        else:
            what = "anonymised: " + "; ".join(
                f"<code>{escape(c)}</code> {escape(w)}" for c, w in table.columns) + \
                "; other columns kept"
        indent = "&#8627; " * table.depth
        out.append(f"<tr><td>{indent}<code>{escape(table.table)}</code></td>"
                   f"<td>{rows}</td><td>{what}</td></tr>")
    out.append("</tbody></table></dd></dl>")
    return out
