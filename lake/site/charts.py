"""Charts as inline SVG: small pure functions from numbers to markup, every text escaped.

Inline SVG needs no file, no script and no network, so a page works from ``file://`` and from an
S3 static website alike, and a browser (or a test) can read the drawn values back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

from lake.site.model import LineageGraph

PALETTE = ("#2e86c1", "#c0392b", "#27ae60", "#8e44ad", "#d68910", "#17a589", "#7f8c8d", "#e74c3c")
WIDTH, HEIGHT, PAD = 640, 220, 44
MAX_POINTS = 400  # longer series are thinned to this many points (every k-th, the last always kept)


def _fmt(value: float, percent: bool) -> str:
    if percent:
        return f"{100 * value:.1f}%"
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.3g}"


def thin(xs: Sequence[int], n: int = MAX_POINTS) -> list[int]:
    """Indexes of at most ``n`` evenly spread points, first and last included."""
    if len(xs) <= n:
        return list(range(len(xs)))
    step = -(-len(xs) // n)
    picked = list(range(0, len(xs), step))
    return picked if picked[-1] == len(xs) - 1 else [*picked, len(xs) - 1]


def line_chart(
    title: str,
    xs: Sequence[int],
    series: Mapping[str, Sequence[float | None]],
    *,
    percent: bool = False,
    x_label: str = "version",
) -> Markup:
    """One line per series over ``xs`` (table versions); gaps where a value is None."""
    keep = thin(xs)
    values = [v for vs in series.values() for i in keep if (v := vs[i]) is not None]
    top = max(values, default=0.0) or 1.0
    x0, x1 = xs[keep[0]] if xs else 0, xs[keep[-1]] if xs else 1
    span = x1 - x0

    def px(x: int) -> float:
        if not span:  # one version: in the middle
            return WIDTH / 2
        return PAD + (WIDTH - 2 * PAD) * (x - x0) / span

    def py(y: float) -> float:
        return HEIGHT - PAD + (2 * PAD - HEIGHT) * y / top

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#999"/>',
        f'<line x1="{PAD}" y1="{PAD / 2}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#999"/>',
        f'<text x="{PAD - 4}" y="{PAD / 2 + 4}" text-anchor="end" font-size="10">{escape(_fmt(top, percent))}</text>',
        f'<text x="{PAD - 4}" y="{HEIGHT - PAD}" text-anchor="end" font-size="10">0</text>',
        f'<text x="{PAD}" y="{HEIGHT - PAD + 14}" font-size="10">{x0}</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 14}" text-anchor="end" font-size="10">{x1}</text>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - PAD + 14}" text-anchor="middle" font-size="10">{escape(x_label)}</text>',
    ]
    for n, (name, vs) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        points = [(xs[i], v) for i in keep if (v := vs[i]) is not None]
        if len(points) > 1:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}"/>')
        for x, y in points if len(points) <= 60 else points[-1:]:
            parts.append(
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{colour}">'
                f"<title>{escape(name)} v{x}: {escape(_fmt(y, percent))}</title></circle>"
            )
        parts.append(
            f'<text x="{WIDTH - PAD}" y="{12 * (n + 1)}" font-size="10" fill="{colour}" '
            f'text-anchor="end">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(
    title: str,
    bars: Sequence[tuple[str, float]],
    *,
    threshold: float | None = None,
    percent: bool = False,
    highlight: Sequence[bool] = (),
) -> Markup:
    """Horizontal bars with their values; ``threshold`` drawn as a dashed line, ``highlight`` in red."""
    label_w, row = 180, 18
    height = PAD + row * max(len(bars), 1)
    top = max([v for _, v in bars] + [threshold or 0.0], default=0.0) or 1.0
    inner = WIDTH - label_w - 70
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, (name, value) in enumerate(bars):
        y = PAD / 2 + i * row
        width = inner * max(value, 0.0) / top
        colour = "#c0392b" if i < len(highlight) and highlight[i] else PALETTE[0]
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end" font-size="11">{escape(name)}</text>'
            f'<rect x="{label_w}" y="{y + 2}" width="{width:.1f}" height="{row - 5}" fill="{colour}">'
            f"<title>{escape(name)}: {escape(_fmt(value, percent))}</title></rect>"
            f'<text x="{label_w + width + 4:.1f}" y="{y + 12}" font-size="10">{escape(_fmt(value, percent))}</text>'
        )
    if threshold is not None:
        x = label_w + inner * threshold / top
        parts.append(
            f'<line x1="{x:.1f}" y1="{PAD / 4}" x2="{x:.1f}" y2="{height - PAD / 4}" stroke="#000" '
            f'stroke-dasharray="4 3"><title>threshold {escape(_fmt(threshold, percent))}</title></line>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def lineage_chart(graph: LineageGraph) -> Markup:
    """Columns by depth, inputs on the left (landed files), the table version on the right; each table
    box links to its page."""
    node_w, node_h, gap_x, gap_y = 190, 34, 60, 12
    columns: dict[int, list[str]] = {}
    for node in graph.nodes:
        columns.setdefault(node.depth, []).append(node.key)
    deepest = max(columns, default=0)
    tallest = max((len(v) for v in columns.values()), default=1)
    width = (deepest + 1) * (node_w + gap_x) + gap_x
    height = tallest * (node_h + gap_y) + gap_y
    where: dict[str, tuple[float, float]] = {}
    for depth, keys in columns.items():
        left = float(gap_x + (deepest - depth) * (node_w + gap_x))
        offset = (height - len(keys) * (node_h + gap_y)) / 2
        for i, key in enumerate(keys):
            where[key] = (left, offset + gap_y / 2 + i * (node_h + gap_y))
    colours = {"landed": "#f4f6f7", "raw": "#fdebd0", "cleaned": "#d6eaf8", "features": "#d5f5e3"}
    parts = [
        f'<svg class="lineage" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>lineage of {escape(graph.root)} v{graph.version}</title>'
    ]
    for source, target in graph.edges:
        (sx, sy), (tx, ty) = where[source], where[target]
        parts.append(
            f'<path d="M{sx + node_w:.0f},{sy + node_h / 2:.0f} C{sx + node_w + gap_x / 2:.0f},{sy + node_h / 2:.0f} '
            f'{tx - gap_x / 2:.0f},{ty + node_h / 2:.0f} {tx:.0f},{ty + node_h / 2:.0f}" fill="none" stroke="#888"/>'
        )
    for node in graph.nodes:
        x, y = where[node.key]
        label = node.label if len(node.label) <= 30 else node.label[:29] + "…"
        box = (
            f'<g class="node node-{escape(node.kind)}" data-key="{escape(node.key)}">'
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{node_w}" height="{node_h}" rx="4" '
            f'fill="{colours.get(node.kind, "#eee")}" stroke="#666"/>'
            f'<text x="{x + 6:.0f}" y="{y + 14:.0f}" font-size="11">{escape(label)}</text>'
            f'<text x="{x + 6:.0f}" y="{y + 27:.0f}" font-size="9" fill="#555">{escape(node.detail[:40])}</text>'
            f"<title>{escape(node.detail or node.label)}</title></g>"
        )
        if node.page:
            box = f'<a href="../{escape(node.page)}">{box}</a>'
        parts.append(box)
    parts.append("</svg>")
    return Markup("".join(parts))
