"""The library's two charts as SVG geometry, drawn on the server (templates/library/_charts.html):
records per month stacked by platform, and a calendar of one year's days."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Distinguishable on light and dark backgrounds; a platform keeps its colour by its place in the list.
PALETTE = ("#4c6ef5", "#e8590c", "#2f9e44", "#ae3ec9", "#1098ad", "#f08c00", "#e64980", "#868e96")
WIDTH, HEIGHT = 720, 160


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str


@dataclass
class ActivityChart:
    bars: list[Bar] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)  # (x, year)
    legend: list[tuple[str, str, int]] = field(default_factory=list)  # (colour, platform, records)
    peak: int = 0
    width: int = WIDTH
    height: int = HEIGHT


def _months(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def activity_chart(rows: list[tuple[str, str, int]], names: dict[str, str]) -> ActivityChart | None:
    """`rows`: (YYYY-MM, platform slug, records). None when nothing is dated."""
    rows = [r for r in rows if len(r[0]) == 7 and r[0][:4].isdigit() and r[0][5:7].isdigit()]
    if not rows:
        return None
    platforms = sorted({slug for _, slug, _ in rows})
    colour = {slug: PALETTE[i % len(PALETTE)] for i, slug in enumerate(platforms)}
    months = _months(min(r[0] for r in rows), max(r[0] for r in rows))
    per_month: dict[str, list[tuple[str, int]]] = {}
    totals: dict[str, int] = {}
    for month, slug, n in rows:
        per_month.setdefault(month, []).append((slug, n))
        totals[slug] = totals.get(slug, 0) + n
    peak = max(sum(n for _, n in per_month.get(m, [])) for m in months)
    chart = ActivityChart(peak=peak)
    step = WIDTH / len(months)
    for i, month in enumerate(months):
        x = i * step
        if month.endswith("-01") or i == 0:
            chart.ticks.append((round(x, 2), month[:4]))
        base = HEIGHT
        for slug, n in per_month.get(month, []):
            height = HEIGHT * n / peak
            base -= height
            chart.bars.append(
                Bar(
                    x=round(x, 2),
                    y=round(base, 2),
                    width=round(max(step - 1, 0.5), 2),
                    height=round(height, 2),
                    colour=colour[slug],
                    label=f"{month}: {n} record{'s' if n != 1 else ''} from {names.get(slug, slug)}",
                )
            )
    chart.legend = [(colour[slug], names.get(slug, slug), totals[slug]) for slug in platforms]
    return chart


@dataclass
class Day:
    x: int
    y: int
    date: str
    count: int
    level: int  # 0 (none) to 4 (busiest)


@dataclass
class HeatMap:
    year: int
    days: list[Day]
    months: list[tuple[int, str]]  # (x, "Jan")
    total: int
    width: int
    height: int


CELL = 12


def heat_map(year: int, counts: dict[str, int]) -> HeatMap:
    """A GitHub-style calendar: a column per week (Monday first), a square per day."""
    first = datetime.date(year, 1, 1)
    offset = first.weekday()
    peak = max(counts.values(), default=0)
    days, months = [], []
    day = first
    while day.year == year:
        index = (day - first).days + offset
        x, y = (index // 7) * CELL, (index % 7) * CELL
        n = counts.get(day.isoformat(), 0)
        level = 0 if n == 0 else min(4, 1 + (4 * (n - 1)) // max(peak, 1))
        days.append(Day(x=x, y=y, date=day.isoformat(), count=n, level=level))
        if day.day == 1:
            months.append((x, day.strftime("%b")))
        day += datetime.timedelta(days=1)
    return HeatMap(
        year=year,
        days=days,
        months=months,
        total=sum(counts.values()),
        width=(days[-1].x + CELL),
        height=7 * CELL,
    )


# --- drawn as SVG text here rather than in a template: a chart is thousands of shapes ------------
def activity_svg(chart: ActivityChart) -> SafeString:
    parts = [
        f'<svg class="lib-activity" viewBox="0 -4 {chart.width} {chart.height + 24}" role="img" '
        f'aria-label="Records per month by platform, at most {chart.peak} in a month">'
    ]
    parts += [
        f'<rect x="{b.x}" y="{b.y}" width="{b.width}" height="{b.height}" fill="{b.colour}">'
        f"<title>{escape(b.label)}</title></rect>"
        for b in chart.bars
    ]
    parts.append(f'<line x1="0" x2="{chart.width}" y1="{chart.height}" y2="{chart.height}" class="lib-axis"/>')
    parts += [f'<text x="{x}" y="{chart.height + 16}" class="lib-tick">{year}</text>' for x, year in chart.ticks]
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - numbers and escaped labels only


def heat_svg(heat: HeatMap) -> SafeString:
    parts = [
        f'<svg class="lib-heat" viewBox="-2 -16 {heat.width + 4} {heat.height + 18}" role="img" '
        f'aria-label="Records per day in {heat.year}">'
    ]
    parts += [f'<text x="{x}" y="-5" class="lib-tick">{name}</text>' for x, name in heat.months]
    for day in heat.days:
        square = (
            f'<rect x="{day.x}" y="{day.y}" width="10" height="10" rx="2" class="lib-level-{day.level}">'
            f"<title>{day.date}: {day.count} record{'' if day.count == 1 else 's'}</title></rect>"
        )
        # A day with records opens the library at that day.
        parts.append(f'<a href="?date_from={day.date}&amp;date_to={day.date}">{square}</a>' if day.count else square)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - numbers and dates only
