"""Server-rendered SVG charts that read without hovering and print in black and white.

Every chart writes its figures on the chart itself (the last value of each line, the value of
each bar), draws its axes with labelled ticks, and tells series apart by line style as well as
colour, so a printout or a screen reader loses nothing. Pure: values in, SVG text out.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Bar", "Series", "bar_chart", "funnel_chart", "heat_map", "line_chart", "percent"]

INK, MUTED, GRID = "#1d2330", "#5b6475", "#dde1e8"
PALETTE = ("#2f5d8c", "#8c5a2f", "#3d7a4a", "#7a3d6e")
DASHES = ("", "6 4", "2 3", "8 3 2 3")
FONT = 'font-family="system-ui, sans-serif"'
# The width of a character of the 12 px labels, near enough to leave them room.
CHAR_W = 7.0


def percent(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    if not signed:
        return f"{value:.0%}"
    shown = f"{value:+.0%}"
    # A change that rounds to nothing has no direction: "−0%" read as a small fall.
    return "0%" if shown in ("+0%", "-0%") else shown.replace("-", "−")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # one per x label, 0–1; None is a gap


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # 0–1
    note: str = ""  # written after the value, e.g. "12 of 20"


def _text(
    x: float, y: float, text: str, anchor: str = "start", size: int = 12, **extra: str
) -> str:
    attributes = "".join(f' {name.replace("_", "-")}="{value}"' for name, value in extra.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" {FONT} '
        f'fill="{extra.get("fill", INK)}"{attributes}>{html.escape(text)}</text>'
    )


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    title: str,
    width: int = 720,
    height: int = 240,
    tick_every: int = 7,
    legend: bool = True,
) -> str:
    """Lines over dated x labels on a 0–100 % axis, each line's last value written at its end
    and named in a legend (without one, a single line is named by the title: small multiples);
    an empty chart says so instead of drawing nothing."""
    left, right, top, bottom = 44, 230 if legend else 48, 28, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{html.escape(title, quote=True)}">',
        _text(left, 16, title, size=13, font_weight="600"),
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = top + plot_h * (1 - tick)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        parts.append(_text(left - 6, y + 4, f"{tick:.0%}", anchor="end", size=11, fill=MUTED))
    count = len(labels)
    step = plot_w / max(count - 1, 1)
    for index in range(0, count, max(tick_every, 1)):
        x = left + index * step
        parts.append(_text(x, height - 10, labels[index], anchor="middle", size=11, fill=MUTED))
    drawn = False
    legend_y = top + 4
    for number, line in enumerate(series):
        colour, dash = PALETTE[number % len(PALETTE)], DASHES[number % len(DASHES)]
        points = [
            (left + i * step, top + plot_h * (1 - min(max(v, 0.0), 1.0)))
            for i, v in enumerate(line.values)
            if v is not None
        ]
        last = next((v for v in reversed(line.values) if v is not None), None)
        if points:
            drawn = True
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(
                f'<polyline points="{coords}" fill="none" stroke="{colour}" '
                f'stroke-width="2"{dash_attr}/>'
            )
            x, y = points[-1]
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
            parts.append(_text(x + 6, y + 4, percent(last), size=12, fill=colour))
        if not legend:
            continue
        sample = f'stroke-dasharray="{dash}"' if dash else ""
        lx = left + plot_w + 48
        parts.append(
            f'<line x1="{lx}" x2="{lx + 22}" y1="{legend_y}" y2="{legend_y}" stroke="{colour}" '
            f'stroke-width="2" {sample}/>'
        )
        parts.append(_text(lx + 28, legend_y + 4, f"{line.name} {percent(last)}", size=11))
        legend_y += 18
    if not drawn:
        parts.append(
            _text(
                left + plot_w / 2, top + plot_h / 2, "no history yet", anchor="middle", fill=MUTED
            )
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(bars: Sequence[Bar], title: str, width: int = 520, bar_h: int = 22) -> str:
    """Horizontal 0–100 % bars, each with its label on the left and its value (and note) on the
    right, so every figure is written out."""
    label_w, value_w, top = 150, 150, 28
    plot_w = width - label_w - value_w
    height = top + len(bars) * (bar_h + 6) + 6
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{html.escape(title, quote=True)}">',
        _text(0, 16, title, size=13, font_weight="600"),
    ]
    for number, bar in enumerate(bars):
        y = top + number * (bar_h + 6)
        parts.append(_text(label_w - 8, y + bar_h * 0.7, bar.label, anchor="end"))
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{plot_w}" height="{bar_h}" fill="none" '
            f'stroke="{GRID}"/>'
        )
        if bar.value is not None:
            filled = plot_w * min(max(bar.value, 0.0), 1.0)
            parts.append(
                f'<rect x="{label_w}" y="{y}" width="{filled:.1f}" height="{bar_h}" '
                f'fill="{PALETTE[0]}"/>'
            )
        value = percent(bar.value) + (f" ({bar.note})" if bar.note else "")
        parts.append(_text(label_w + plot_w + 8, y + bar_h * 0.7, value))
    parts.append("</svg>")
    return "".join(parts)


def funnel_chart(stage_shares: Sequence[tuple[str, float | None, str]], title: str) -> str:
    """The ADKAR funnel: for each stage, the share of members who reached it or beyond."""
    return bar_chart([Bar(stage, share, note) for stage, share, note in stage_shares], title)


def heat_map(
    names: Sequence[str], cells: Mapping[tuple[str, str], int], title: str, cell: int = 34
) -> str:
    """A square matrix of counts between named things: darker is more, and every count is
    written in its cell (an empty cell is none), so a printout loses nothing."""
    label_w, top = 150, 28 + 110
    busiest = max(cells.values(), default=0) or 1
    # A column label slants up to the right: its run past its column is cos 60° of its length.
    overhang = max((len(name) for name in names), default=0) * CHAR_W * 0.5
    width = round(label_w + cell * len(names) + max(10.0, overhang))
    height = top + cell * len(names) + 10
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{html.escape(title, quote=True)}">',
        _text(0, 16, title, size=13, font_weight="600"),
    ]
    for column, name in enumerate(names):
        x = label_w + column * cell + cell * 0.6
        parts.append(
            _text(x, top - 6, name, anchor="start", transform=f"rotate(-60 {x:.1f} {top - 6})")
        )
    for row, name in enumerate(names):
        y = top + row * cell
        parts.append(_text(label_w - 8, y + cell * 0.62, name, anchor="end"))
        for column, other in enumerate(names):
            x = label_w + column * cell
            count = cells.get((name, other), 0)
            shade = count / busiest
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{PALETTE[0]}" '
                f'fill-opacity="{shade:.2f}" stroke="{GRID}"/>'
            )
            if count:
                ink = "#fff" if shade > 0.5 else INK
                parts.append(_text(x + cell / 2, y + cell * 0.62, str(count), "middle", fill=ink))
    parts.append("</svg>")
    return "".join(parts)
