"""Charts drawn on the server as SVG: no chart script, nothing inline to allow.

A :class:`Chart` carries its SVG and its text alternative: the SVG names itself
with ``<title>``/``<desc>``, and the same numbers come as table rows, which the
page shows in a ``<details>`` under the chart. Colours come from CSS classes
(light and dark mode), never from inline styles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 36


@dataclass
class Chart:
    """One chart: its id, SVG, and a table of the same data."""

    id: str
    title: str
    description: str
    svg: Markup
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def _fmt(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def _frame(chart_id: str, title: str, description: str, body: list[Markup]) -> Markup:
    head = Markup(
        '<svg class="chart" viewBox="0 0 {w} {h}" role="img" '
        'aria-labelledby="{id}-title {id}-desc" xmlns="http://www.w3.org/2000/svg">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>'
    ).format(w=WIDTH, h=HEIGHT, id=chart_id, title=title, desc=description)
    return head + Markup("").join(body) + Markup("</svg>")


def _axes(top: float, labels: Sequence[str], every: int) -> list[Markup]:
    """Gridlines with values on the left, and every ``every``-th label below."""
    parts: list[Markup] = []
    plot_h = HEIGHT - TOP - BOTTOM
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            Markup(
                '<line class="grid" x1="{l}" x2="{r}" y1="{y:.1f}" y2="{y:.1f}"/>'
                '<text class="axis" x="{tx}" y="{ty:.1f}" text-anchor="end">{v}</text>'
            ).format(l=LEFT, r=WIDTH - RIGHT, y=y, tx=LEFT - 6, ty=y + 4, v=_fmt(value))
        )
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append(
                Markup(
                    '<text class="axis" x="{x:.1f}" y="{y}" text-anchor="middle">{t}</text>'
                ).format(x=LEFT + slot * (i + 0.5), y=HEIGHT - BOTTOM + 16, t=label)
            )
    return parts


def stacked_bars(
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
) -> Chart:
    """Stacked bars: one bar per label, one segment per series (CSS class ``s-<name>``)."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    body = _axes(top, [label[5:] for label in labels], every=max(len(labels) // 6, 1))
    for i, label in enumerate(labels):
        y: float = TOP + plot_h
        for name, values in series.items():
            if not values[i]:
                continue
            h = plot_h * values[i] / top
            y -= h
            body.append(
                Markup(
                    '<rect class="bar s-{name}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
                    'height="{h:.1f}"><title>{label}: {n} {name}</title></rect>'
                ).format(
                    name=name,
                    x=LEFT + slot * i + 1,
                    y=y,
                    w=max(slot - 2, 1),
                    h=h,
                    label=label,
                    n=values[i],
                )  # fmt: skip
            )
    # Room for the longest name (a model's) beside each swatch.
    step = max(90, 7 * max((len(name) for name in series), default=0) + 24)
    legend = Markup("").join(
        Markup(
            '<rect class="s-{n}" x="{x}" y="{y}" width="10" height="10"/>'
            '<text class="axis" x="{tx}" y="{ty}">{n}</text>'
        ).format(n=name, x=LEFT + i * step, y=HEIGHT - 14, tx=LEFT + i * step + 14, ty=HEIGHT - 5)
        for i, name in enumerate(series)
    )
    body.append(legend)
    rows = [
        [label, *(str(v[i]) for v in series.values()), str(totals[i])]
        for i, label in enumerate(labels)
    ]
    return Chart(
        chart_id, title, description, _frame(chart_id, title, description, body),
        ["day", *series, "total"], rows,
    )  # fmt: skip


def bars(
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    unit: str = "",
    css_class: str = "s-total",
    value_header: str = "count",
) -> Chart:
    """Plain bars (histograms, rates): one bar per label."""
    top = _nice_max(max(values, default=0))
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    every = max(len(labels) // 10, 1)
    short = [label[5:] if len(label) == 10 and label[4] == "-" else label for label in labels]
    body = _axes(top, short, every=every)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / top
        body.append(
            Markup(
                '<rect class="bar {cls}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}">'
                "<title>{label}: {v}{unit}</title></rect>"
            ).format(
                cls=css_class,
                x=LEFT + slot * i + 2,
                y=TOP + plot_h - h,
                w=max(slot - 4, 1),
                h=h,
                label=label,
                v=_fmt(round(value, 1)),
                unit=unit,
            )  # fmt: skip
        )
    rows = [[label, _fmt(round(v, 1)) + unit] for label, v in zip(labels, values, strict=True)]
    return Chart(
        chart_id, title, description, _frame(chart_id, title, description, body),
        ["", value_header], rows,
    )  # fmt: skip


def bucket_labels(bounds: Sequence[int], unit: str = "") -> list[str]:
    """Labels of the buckets below each bound and the open one above the last."""
    names = [duration_label(b) if unit == "s" else str(b) for b in bounds]
    labels = [f"< {names[0]}"]
    labels += [f"{names[i - 1]}–{names[i]}" for i in range(1, len(bounds))]
    labels.append(f"≥ {names[-1]}")
    return labels


def duration_label(seconds: int) -> str:
    """``30d``, ``12h``, ``5m`` or ``90s``: the largest unit that divides ``seconds``."""
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
