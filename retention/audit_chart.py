"""The report's chart: rows changed per night, stacked by category, as inline SVG text.

Drawn here in Python so that the HTML report stays one static file: no script, no library,
nothing fetched. Every text is escaped; every bar has a <title> (a tooltip, and what a screen
reader reads).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from html import escape

from .svgchart import BOTTOM, HEIGHT, LEFT, PALETTE, RIGHT, TOP, WIDTH, nice_ceiling


def colours(categories: Sequence[str]) -> dict[str, str]:
    return {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(categories)}


def _days(first: date, last: date) -> int:
    return (last - first).days + 1


def _x_ticks(first: date, last: date) -> list[tuple[date, str]]:
    """At most about twelve labels: month starts (every 1, 2, 3, 6 months or whole years)
    for long periods, days for short ones."""
    days = _days(first, last)
    if days <= 62:
        every = 1 if days <= 12 else 7
        return [(first + timedelta(days=i), (first + timedelta(days=i)).strftime("%m-%d"))
                for i in range(0, days, every)]
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    step = next(s for s in (1, 2, 3, 6, 12, 24, 60, 120, 1200) if months / s <= 12)
    ticks = []
    month = date(first.year, first.month, 1)
    while month <= last:
        if month >= first and (month.month - 1) % min(step, 12) == 0 and \
                (step < 12 or month.year % (step // 12) == 0):
            ticks.append((month, month.strftime("%Y" if step >= 12 else "%Y-%m")))
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return ticks


def nice_step(value: int, steps: int = 4) -> int:
    """A 1-2-5 step such that `steps` of them reach `value`."""
    return nice_ceiling(-(-value // steps))


def nightly_svg(nightly: Mapping[str, Mapping[str, int]], categories: Sequence[str],
                first: date, last: date) -> str:
    """An SVG bar chart of `nightly` ({'YYYY-MM-DD': {category: rows}}) from `first` to
    `last` (inclusive), bars stacked in the order of `categories`."""
    colour = colours(categories)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    days = max(_days(first, last), 1)
    slot = plot_w / days
    totals = {night: sum(per.values()) for night, per in nightly.items()}
    step = nice_step(max(totals.values(), default=0))
    top = 4 * step
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" id="nightly-chart" role="img" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" aria-labelledby="chart-title '
           f'chart-desc"><title id="chart-title">Rows changed per night and category</title>'
           f'<desc id="chart-desc">{escape(_describe(totals, first, last))}</desc>']
    for i in range(5):  # horizontal grid lines with their values
        value = step * i
        y = TOP + plot_h - plot_h * i / 4
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'class="grid"/><text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
                   f'class="axis">{value:,}</text>')
    for day, label in _x_ticks(first, last):
        x = LEFT + slot * (day - first).days
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP + plot_h}" '
                   f'y2="{TOP + plot_h + 5}" class="tick"/><text x="{x:.1f}" '
                   f'y="{TOP + plot_h + 18}" text-anchor="middle" class="axis">'
                   f'{escape(label)}</text>')
    bar = max(slot * 0.8, 0.6)
    for night in sorted(nightly):
        try:
            offset = (date.fromisoformat(night) - first).days
        except ValueError:  # pragma: no cover - recorded_at always starts with a date
            continue
        if not 0 <= offset < days:
            continue
        x = LEFT + slot * offset + (slot - bar) / 2
        base = float(TOP + plot_h)
        for category in categories:
            rows = nightly[night].get(category, 0)
            if not rows:
                continue
            h = plot_h * rows / top
            base -= h
            out.append(f'<rect class="bar" x="{x:.2f}" y="{base:.2f}" width="{bar:.2f}" '
                       f'height="{h:.2f}" fill="{colour[category]}"><title>'
                       f'{escape(night)} {escape(category)}: {rows:,} rows</title></rect>')
    out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" '
               f'y2="{TOP + plot_h}" class="axis-line"/>')
    if not totals or not any(totals.values()):
        out.append(f'<text x="{LEFT + plot_w / 2:.0f}" y="{TOP + plot_h / 2:.0f}" '
                   'text-anchor="middle" class="empty">No rows changed in this period</text>')
    out.append(f'<text x="14" y="{TOP + plot_h / 2:.0f}" transform="rotate(-90 14 '
               f'{TOP + plot_h / 2:.0f})" text-anchor="middle" class="axis">rows</text>')
    out.append("</svg>")
    return "".join(out)


def _describe(totals: Mapping[str, int], first: date, last: date) -> str:
    rows = sum(totals.values())
    nights = sum(1 for v in totals.values() if v)
    return (f"From {first.isoformat()} to {last.isoformat()}: {rows:,} rows changed on "
            f"{nights:,} nights.")
