"""The SVG charts escape every name and label (a model or project is anyone's text)."""

from __future__ import annotations

from webapp.dashboard import charts

EVIL = '<script>alert("x")</script>'


def test_chart_texts_are_escaped() -> None:
    stacked = charts.stacked_bars(
        EVIL, EVIL, EVIL, ["2026-01-01", f"2026-01-02{EVIL}"], {EVIL: [1, 2], "ok": [3, 0]}
    )
    plain = charts.bars(EVIL, EVIL, EVIL, [EVIL, "b"], [1.5, 2], unit=EVIL, css_class=EVIL)
    for chart in (stacked, plain):
        assert "<script>" not in chart.svg
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in chart.svg
        assert chart.svg.startswith('<svg class="chart" viewBox="0 0 640 220"')
    assert "<title>2026-01-01: 1 &lt;script&gt;" in stacked.svg
    assert 'height="10"/><text class="axis" x="271" y="215">ok</text></svg>' in stacked.svg
    assert "<title>b: 2&lt;script&gt;" in plain.svg
