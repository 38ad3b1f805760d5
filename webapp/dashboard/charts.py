"""Charts drawn on the server as SVG: no chart script, nothing inline to allow.

A :class:`Chart` carries its SVG and its text alternative: the SVG names itself
with ``<title>``/``<desc>``, and the same numbers come as table rows, which the
page shows in a ``<details>`` under the chart. Colours come from CSS classes
(light and dark mode), never from inline styles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

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
    cid = escape(chart_id)
    head = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{cid}-title {cid}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{cid}-title">{escape(title)}</title>'
        f'<desc id="{cid}-desc">{escape(description)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704  (parts escaped)


def _axes(top: float, labels: Sequence[str], every: int) -> list[Markup]:
    """Gridlines with values on the left, and every ``every``-th label below."""
    parts: list[Markup] = []
    plot_h = HEIGHT - TOP - BOTTOM
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            Markup(  # noqa: S704  (numbers only)
                f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                f"{_fmt(value)}</text>"
            )
        )
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append(
                Markup(  # noqa: S704  (the label escaped)
                    f'<text class="axis" x="{LEFT + slot * (i + 0.5):.1f}" '
                    f'y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{escape(label)}</text>'
                )
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
    names = {name: escape(name) for name in series}
    escaped = [escape(label) for label in labels]
    for i in range(len(labels)):
        y: float = TOP + plot_h
        for name, values in series.items():
            if not values[i]:
                continue
            h = plot_h * values[i] / top
            y -= h
            body.append(
                Markup(  # noqa: S704  (the names escaped)
                    f'<rect class="bar s-{names[name]}" x="{LEFT + slot * i + 1:.1f}" y="{y:.1f}" '
                    f'width="{max(slot - 2, 1):.1f}" height="{h:.1f}"><title>{escaped[i]}: '
                    f"{escape(values[i])} {names[name]}</title></rect>"
                )
            )
    # Room for the longest name (a model's) beside each swatch.
    step = max(90, 7 * max((len(name) for name in series), default=0) + 24)
    legend = Markup(  # noqa: S704  (the names escaped)
        "".join(
            f'<rect class="s-{names[name]}" x="{LEFT + i * step}" y="{HEIGHT - 14}" width="10" '
            f'height="10"/><text class="axis" x="{LEFT + i * step + 14}" y="{HEIGHT - 5}">'
            f"{names[name]}</text>"
            for i, name in enumerate(series)
        )
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
    cls, suffix = escape(css_class), escape(unit)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / top
        body.append(
            Markup(  # noqa: S704  (the texts escaped)
                f'<rect class="bar {cls}" x="{LEFT + slot * i + 2:.1f}" y="{TOP + plot_h - h:.1f}" '
                f'width="{max(slot - 4, 1):.1f}" height="{h:.1f}"><title>{escape(label)}: '
                f"{_fmt(round(value, 1))}{suffix}</title></rect>"
            )
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
