"""The forecast as a terminal table, JSON, or one static HTML file with an inline SVG chart
(no script, nothing fetched; every text escaped)."""

from __future__ import annotations

import json
from html import escape

from rich.console import Console
from rich.table import Table

from .forecast import Forecast, Period
from .svgchart import BOTTOM, HEIGHT, LEFT, PALETTE, RIGHT, TOP, WIDTH, nice_ceiling


def forecast_json(result: Forecast, by: str) -> str:
    return json.dumps(result.to_dict(by), indent=2)


def _headline(result: Forecast) -> str:
    now = sum(r.backlog for r in result.rules)
    later = sum(sum(r.counts[1:]) for r in result.rules)
    return (f"{now:,} rows due now; {later:,} more become due in the next {result.days} days "
            "(if no run happens in between and no rows are added).")


def forecast_table(result: Forecast, by: str, console: Console) -> None:
    console.print(f"Forecast from [bold]{result.as_of.isoformat()}[/] on {result.database} "
                  f"(policy {result.policy_digest[:12]}): rows becoming due per {by} — "
                  "nothing is changed")
    table = Table()
    for col in ("period", "rows", "by rule"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    for period, per in result.table(by):
        parts = ", ".join(f"{rule} {n:,}" for rule, n in per.items() if n)
        table.add_row(period.label, f"{sum(per.values()):,}", parts)
    console.print(table)
    console.print(_headline(result))


def forecast_svg(result: Forecast, by: str) -> str:
    """Stacked bars of the rows becoming due per period (the backlog left out: it would
    dwarf the rest and is given in numbers above the chart)."""
    rows = result.table(by)[1:]
    rules = [r.rule_id for r in result.rules if any(per[r.rule_id] for _p, per in rows)]
    colour = {rule: PALETTE[i % len(PALETTE)] for i, rule in enumerate(rules)}
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(rows), 1)
    top = nice_ceiling(max((sum(per.values()) for _p, per in rows), default=0))
    total = sum(sum(per.values()) for _p, per in rows)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} '
           f'{HEIGHT}" width="100%" aria-labelledby="chart-title chart-desc">'
           f'<title id="chart-title">Rows becoming due per {escape(by)}</title>'
           f'<desc id="chart-desc">{total:,} rows become due over {len(rows)} '
           f'{escape(by)}s after the backlog.</desc>']
    for i in range(5):
        value = top * i // 4
        y = TOP + plot_h - plot_h * i / 4
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="#ddd"/><text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
                   f'font-size="11">{value:,}</text>')
    every = max(1, len(rows) // 12)
    bar = max(slot * 0.8, 0.6)
    for i, (period, per) in enumerate(rows):
        x = LEFT + slot * i + (slot - bar) / 2
        if i % every == 0:
            out.append(f'<text x="{x + bar / 2:.1f}" y="{TOP + plot_h + 16}" '
                       f'text-anchor="middle" font-size="11">{escape(_short(period))}</text>')
        base = float(TOP + plot_h)
        for rule in rules:
            if not per[rule]:
                continue
            h = plot_h * per[rule] / top
            base -= h
            out.append(f'<rect x="{x:.2f}" y="{base:.2f}" width="{bar:.2f}" height="{h:.2f}" '
                       f'fill="{colour[rule]}"><title>{escape(period.label)} {escape(rule)}: '
                       f'{per[rule]:,} rows</title></rect>')
    out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" '
               f'y2="{TOP + plot_h}" stroke="#333"/>')
    if not total:
        out.append(f'<text x="{LEFT + plot_w / 2:.0f}" y="{TOP + plot_h / 2:.0f}" '
                   'text-anchor="middle" font-size="14">No rows become due in this period'
                   '</text>')
    out.append("</svg>")
    legend = "".join(f'<li><span class="swatch" style="background:{colour[r]}"></span>'
                     f"{escape(r)}</li>" for r in rules)
    return "".join(out) + (f'<ul class="legend">{legend}</ul>' if legend else "")


def _short(period: Period) -> str:
    return period.label.split(" – ")[0][5:]  # MM-DD of the first day


_CSS = """
body{font:15px/1.5 system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;
color:#1a1a1a}table{border-collapse:collapse;margin:.6rem 0}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}td.n{text-align:right}
th{background:#f2f2f2}.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:1rem}
.swatch{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem}
.scroll{overflow-x:auto}
"""


def forecast_html(result: Forecast, by: str) -> str:
    head = ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            'style-src \'unsafe-inline\'">', "<title>Retention forecast</title>",
            f"<style>{_CSS}</style></head><body>", "<h1>Retention forecast</h1>",
            f"<p>From {escape(result.as_of.isoformat())} on {escape(result.database)} (policy "
            f"<code>{escape(result.policy_digest[:12])}</code>), per {escape(by)}. "
            f"{escape(_headline(result))}</p>"]
    rules = ["<h2>Rules</h2><table><thead><tr><th>rule</th><th>category</th><th>table</th>"
             "<th>action</th><th>expiry</th><th>due now</th>"
             f"<th>next {result.days} days</th></tr></thead><tbody>"]
    for r in result.rules:
        rules.append(f"<tr><td>{escape(r.rule_id)}</td><td>{escape(r.category)}</td>"
                     f"<td>{escape(r.table)}</td><td>{escape(r.action)}</td>"
                     f"<td>{escape(r.expiry or 'no expiry (filters only)')}</td>"
                     f'<td class="n">{r.backlog:,}</td><td class="n">{sum(r.counts[1:]):,}'
                     "</td></tr>")
    rules.append("</tbody></table>")
    ids = [r.rule_id for r in result.rules]
    grid = ['<h2>Rows becoming due</h2><div class="scroll"><table><thead><tr><th>period</th>'
            "<th>rows</th>" + "".join(f"<th>{escape(i)}</th>" for i in ids)
            + "</tr></thead><tbody>"]
    for period, per in result.table(by):
        grid.append(f"<tr><td>{escape(period.label)}</td><td class=\"n\">"
                    f"{sum(per.values()):,}</td>"
                    + "".join(f'<td class="n">{per[i]:,}</td>' for i in ids) + "</tr>")
    grid.append("</tbody></table></div>")
    chart = [f"<h2>Chart</h2>{forecast_svg(result, by)}"]
    return "\n".join([*head, *chart, *rules, *grid, "</body></html>"]) + "\n"
