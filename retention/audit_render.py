"""The audit report as Markdown or as one self-contained HTML file (inline CSS and SVG, no
script, nothing fetched: a Content-Security-Policy forbids it), readable without a server.

Every text from the trail or the policy files is escaped for the format it lands in: the
trail is input like any other, and a policy clause quotes freely.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from html import escape

from . import __version__
from .audit_chart import colours, nightly_svg
from .audit_report import Report, RuleEntry, RunEntry

VERB = {"delete": "deleted", "anonymise": "anonymised", "cascade delete": "deleted by cascade",
        "cascade set null": "link set to NULL by cascade"}


def _verb(action: str | None) -> str:
    return VERB.get(action or "", action or "")


def chart_days(report: Report) -> tuple[date, date]:
    """The chart's first and last night: the period, or up to the last run when it is open."""
    first = report.period.since.date()
    if report.period.until is not None:
        last = (report.period.until - timedelta(microseconds=1)).date()
    else:
        nights = [date.fromisoformat(r.night) for r in report.runs]
        last = max([first, *nights])
    return first, max(first, last)


def period_text(report: Report) -> str:
    first, last = chart_days(report)
    until = last.isoformat() if report.period.until is not None else "now"
    return f"{first.isoformat()} to {until}"


def summary_figures(report: Report) -> list[tuple[str, str]]:
    statuses: dict[str, int] = {}
    totals: dict[str, int] = {}
    for run in report.runs:
        statuses[run.status] = statuses.get(run.status, 0) + 1
        for action, rows in run.totals().items():
            totals[action] = totals.get(action, 0) + rows
    problems = report.problems()
    return [
        ("Runs", f"{len(report.runs):,}" + (" (" + ", ".join(
            f"{n:,} {s}" for s, n in sorted(statuses.items())) + ")" if statuses else "")),
        ("Rows deleted", f"{totals.get('delete', 0):,}"),
        ("Rows deleted by database cascades", f"{totals.get('cascade delete', 0):,}"),
        ("Rows anonymised", f"{totals.get('anonymise', 0):,}"),
        ("Rules stopped by caps", f"{sum(1 for _, r in problems if r.problem == 'capped'):,}"),
        ("Rules failed", f"{sum(1 for _, r in problems if r.problem == 'failed'):,}"),
    ]


def _rule_rows(rule: RuleEntry) -> Iterable[tuple[str, str, int]]:
    """(table label, action, rows) of a rule; a stopped rule without rows still shows."""
    if not rule.counts:
        yield rule.table or "", _verb(rule.action), 0
    for label, count in rule.counts.items():
        yield label, _verb(count.action), count.rows


def _problem(rule: RuleEntry) -> str:
    message = rule.message or ""
    if rule.problem == "capped":  # the message a run records starts with "stopped by cap"
        return message if message.startswith("stopped by cap") \
            else "stopped by cap" + (f": {message}" if message else "")
    if rule.problem == "failed":
        return "failed" + (f": {message}" if message else "")
    return ""


def _t(recorded_at: str | None) -> str:
    """A trail time to the second, as people read it (the trail keeps microseconds)."""
    return recorded_at[:19].replace("T", " ") if recorded_at else "-"


# --------------------------------------------------------------------------- Markdown

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md(text: object) -> str:
    """Inline Markdown text: one line, `&` and `<` as entities (Markdown passes raw HTML and
    entities through), Markdown's own specials and table pipes backslash-escaped."""
    flat = " ".join(str(text).split()).replace("&", "&amp;").replace("<", "&lt;")
    return _MD_SPECIAL.sub(r"\\\1", flat)


def _md_table(header: list[str], rows: Iterable[Iterable[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
    return lines


def markdown(report: Report) -> str:
    out = [f"# Retention audit report: {md(period_text(report))}", "",
           f"Database {md(report.database)}; generated {md(_when(report))} by retention "
           f"{md(__version__)}. Times are UTC. This report summarises the audit trail's "
           "records; it does not itself check the trail's hash chain.", ""]
    out += [*_md_table(["", "total"], summary_figures(report)), "", "## Categories", ""]
    for info in report.categories.values():
        out += [f"### {md(info.title or info.id)} ({md(info.id)})", ""]
        if info.legal_basis is None:
            out += ["Not in the policy files given for this report.", ""]
            continue
        if info.description:
            out += [md(info.description), ""]
        out += [f"- **Legal basis:** {md(info.legal_basis)}",
                f"- **Privacy-policy clause:** {md(info.policy_clause)}", ""]
    out += ["## Totals per category and rule", ""]
    out += _md_table(["category", "rule", "table", "action", "rows"], (
        (category, rule_id, t.label, _verb(t.action), f"{t.rows:,}")
        for category, rules in report.category_totals().items()
        for (rule_id, _label), t in rules.items()))
    out += ["", "## Rules stopped by caps or failed", ""]
    problems = report.problems()
    out += _md_table(["started", "run", "rule", "category", "cutoff", "what happened"], (
        (_t(run.started_at), run.run_id, r.rule_id, r.category or "", r.cutoff or "", _problem(r))
        for run, r in problems)) if problems else ["None."]
    out += ["", "## Policy versions in force", ""]
    out += _md_table(["policy digest (SHA-256)", "first run", "last run", "runs", "current"], (
        (d.digest, _t(d.first), _t(d.last), f"{d.runs:,}", "yes" if d.current else "")
        for d in report.digests()))
    out += ["", "## Runs", ""]
    if not report.runs:
        out.append("No runs started in this period.")
    for run in report.runs:
        out += ["", f"### {md(_t(run.started_at))}: run {md(run.run_id)} ({md(run.status)})", "",
                f"Ended {md(_t(run.ended_at))}; policy {md(run.policy_digest)}."
                + (f" Replay of run(s) {md(', '.join(run.replay_of))}." if run.replay_of
                   else ""), ""]
        out += _md_table(["rule", "category", "table", "action", "cutoff", "rows", "batches",
                          "stopped"], _run_rows(run)) if run.rules else ["No rule changed rows."]
    return "\n".join(out) + "\n"


def _run_rows(run: RunEntry) -> Iterable[tuple[str, ...]]:
    for rule in run.rules.values():
        for i, (label, action, rows) in enumerate(_rule_rows(rule)):
            first = i == 0
            yield (rule.rule_id if first else "", (rule.category or "") if first else "",
                   label, action, (rule.cutoff or "") if first else "", f"{rows:,}",
                   str(rule.batches) if first else "", _problem(rule) if first else "")


def _when(report: Report) -> str:
    return report.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC")


# --------------------------------------------------------------------------- HTML

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;
margin:0 auto;max-width:1100px;padding:1.5rem}
h1{font-size:1.6rem;margin:.2rem 0}h2{margin-top:2rem;border-bottom:1px solid #ccc}
h3{font-size:1rem;margin:1.4rem 0 .4rem}
table{border-collapse:collapse;width:100%;margin:.4rem 0;font-size:.9rem}
th,td{border:1px solid #d0d0d0;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}#summary-table{width:auto;min-width:24rem}
td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:.85em;word-break:break-all}.meta{color:#555}
.bad{color:#a00000;font-weight:600}
.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.3rem 1.2rem}
.swatch{display:inline-block;width:.9em;height:.9em;margin-right:.35em;vertical-align:-.1em}
svg .grid{stroke:#e3e3e3}svg .tick,svg .axis-line{stroke:#777}
svg .axis{font-size:11px;fill:#444}svg .empty{font-size:15px;fill:#777}
blockquote{margin:.3rem 0;padding-left:.8rem;border-left:3px solid #ccc}
@media print{body{max-width:none;padding:0}h2{break-after:avoid}}
"""


class _Html(str):
    """Markup built here from escaped parts: a table cell takes it as it is."""


def _run_link(run_id: str) -> _Html:
    return _Html(f'<a href="#run-{escape(run_id)}">{escape(run_id)}</a>')


def _cells(row: Iterable[object], numeric: Callable[[int], bool] = lambda _i: False) -> str:
    def text(c: object) -> str:
        return c if isinstance(c, _Html) else escape(str(c))

    return "".join(f'<td class="n">{text(c)}</td>' if numeric(i) else f"<td>{text(c)}</td>"
                   for i, c in enumerate(row))


def _html_table(table_id: str, header: list[str] | None, rows: Iterable[Iterable[object]],
                numeric: Callable[[int], bool] = lambda _i: False) -> str:
    head = "" if header is None else \
        "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr></thead>"
    body = "".join(f"<tr>{_cells(r, numeric)}</tr>" for r in rows)
    return f'<table id="{escape(table_id)}">{head}<tbody>{body}</tbody></table>'



def html(report: Report) -> str:
    title = f"Retention audit report: {period_text(report)}"
    names = list(report.categories)
    first, last = chart_days(report)
    legend = "".join(f'<li><span class="swatch" style="background:{colour}"></span>'
                     f"{escape(name)}</li>" for name, colour in colours(names).items())
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        'style-src \'unsafe-inline\'">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{escape(title)}</h1><p class=\"meta\">Database "
        f"<code>{escape(report.database)}</code>; generated {escape(_when(report))} by "
        f"retention {escape(__version__)}. Times are UTC. This report summarises the audit "
        "trail's records; it does not itself check the trail's hash chain.</p></header>",
        '<section id="summary"><h2>Summary</h2>'
        + _html_table("summary-table", None, summary_figures(report), lambda i: i == 1)
        + "</section>",
        '<section id="chart"><h2>Rows changed per night and category</h2>'
        + nightly_svg(report.nightly(), names, first, last)
        + f'<ul class="legend">{legend}</ul><p class="meta">Rows deleted or anonymised, '
        "related rows and database cascades included, by the UTC date each run started."
        "</p></section>",
        '<section id="categories"><h2>Categories</h2>' + _categories(report) + "</section>",
        '<section id="totals"><h2>Totals per category and rule</h2>' + _html_table(
            "totals-table", ["category", "rule", "table", "action", "rows"],
            ((category, rule_id, t.label, _verb(t.action), f"{t.rows:,}")
             for category, rules in report.category_totals().items()
             for (rule_id, _label), t in rules.items()), lambda i: i == 4) + "</section>",
        '<section id="problems"><h2>Rules stopped by caps or failed</h2>' + (_html_table(
            "problems-table", ["started", "run", "rule", "category", "cutoff", "what happened"],
            ((_t(run.started_at), _run_link(run.run_id), r.rule_id, r.category or "",
              r.cutoff or "",
              _problem(r)) for run, r in report.problems()))
            if report.problems() else "<p>None.</p>") + "</section>",
        '<section id="policies"><h2>Policy versions in force</h2>' + _html_table(
            "policies-table", ["policy digest (SHA-256)", "first run", "last run", "runs",
                               "current"],
            ((d.digest, _t(d.first), _t(d.last), f"{d.runs:,}", "yes" if d.current else "")
             for d in report.digests()), lambda i: i == 3) + "</section>",
        '<section id="runs"><h2>Runs</h2>' + _runs(report) + "</section>",
        "</body></html>\n",
    ]
    return "".join(parts)


def _categories(report: Report) -> str:
    out = []
    for info in report.categories.values():
        out.append(f'<h3 id="category-{escape(info.id)}">{escape(info.title or info.id)} '
                   f"<code>{escape(info.id)}</code></h3>")
        if info.legal_basis is None:
            out.append('<p class="bad">Not in the policy files given for this report.</p>')
            continue
        if info.description:
            out.append(f"<p>{escape(info.description)}</p>")
        out.append(f"<p><strong>Legal basis:</strong> {escape(info.legal_basis)}</p>"
                   f"<p><strong>Privacy-policy clause:</strong></p><blockquote>"
                   f"{escape(info.policy_clause or '')}</blockquote>")
    return "".join(out) or "<p>No categories.</p>"


def _runs(report: Report) -> str:
    if not report.runs:
        return "<p>No runs started in this period.</p>"
    overview = _html_table("runs-table", ["started", "run", "status", "policy", "deleted",
                                          "anonymised", "stopped rules"], (
        (_t(run.started_at), _run_link(run.run_id), run.status, run.policy_digest[:12],
         f"{run.totals().get('delete', 0):,}", f"{run.totals().get('anonymise', 0):,}",
         sum(1 for r in run.rules.values() if r.problem)) for run in report.runs),
        lambda i: i >= 4)
    sections = []
    for run in report.runs:
        replay = (f" Replay of run(s) <code>{escape(', '.join(run.replay_of))}</code>."
                  if run.replay_of else "")
        table = _html_table(f"run-{run.run_id}-rules", ["rule", "category", "table", "action",
                                                        "cutoff", "rows", "batches", "stopped"],
                            _run_rows(run), lambda i: i in (5, 6)) if run.rules \
            else "<p>No rule changed rows.</p>"
        status = escape(run.status)
        if run.status not in ("completed", "stopped"):
            status = f'<span class="bad">{status}</span>'
        sections.append(
            f'<section class="run" id="run-{escape(run.run_id)}"><h3>{escape(_t(run.started_at))}'
            f" run <code>{escape(run.run_id)}</code>: {status}</h3><p class=\"meta\">Ended "
            f"{escape(_t(run.ended_at))}; policy <code>{escape(run.policy_digest)}</code>."
            f"{replay}</p>{table}</section>")
    return overview + "".join(sections)
