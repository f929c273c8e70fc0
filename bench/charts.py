"""SVG charts of a bench/run result (hand-written SVG, no dependency).

- `<out>-fanout.svg`: the fan-out sweep, deliveries/s received and delivery p99 against the
  offered load, one line per server (the `bigroom` sweep likewise in `<out>-bigroom.svg`);
- `<out>-redis.svg`: sustained deliveries/s against the number of web processes, one line per
  variant of the Redis scenario (a core each, CPU-capped).

    python bench/charts.py RESULT.json      # (re)draw the charts of a saved run
"""

from __future__ import annotations

import json
import math
import re
import sys
from html import escape
from pathlib import Path
from typing import Any

Series = dict[str, list[tuple[float, float]]]
COLORS = ["#d9480f", "#1971c2", "#2f9e44", "#9c36b5", "#e8590c", "#495057"]
W, H = 460, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 34, 46


def nice_ticks(hi: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `hi`."""
    if hi <= 0:
        return [0, 1]
    raw = hi / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    return [step * k for k in range(math.ceil(hi / step) + 1)]


def fmt(v: float) -> str:
    if v >= 1000:
        return f"{v / 1000:g}k"
    return f"{v:g}"


def panel(
    title: str,
    xlabel: str,
    ylabel: str,
    series: Series,
    dx: float = 0,
    log_y: bool = False,
    dashed: frozenset[str] = frozenset(),
) -> str:
    """One chart's SVG elements, drawn at horizontal offset dx. `log_y`: a logarithmic y axis
    (latencies, which grow by orders of magnitude past saturation); `dashed`: series drawn as
    dashed reference lines."""
    xs = [x for pts in series.values() for x, _ in pts] or [1]
    ys = [y for pts in series.values() for _, y in pts if not log_y or y > 0] or [1]
    xt = nice_ticks(max(xs))
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    if log_y:
        lo = math.floor(math.log10(min(ys)))
        hi = max(lo + 1, math.ceil(math.log10(max(ys))))
        yt = [10.0**k for k in range(lo, hi + 1)]
    else:
        yt = nice_ticks(max(ys))

    def sx(x: float) -> float:
        return dx + LEFT + pw * x / xt[-1]

    def sy(y: float) -> float:
        if log_y:
            y = max(y, yt[0])
            return TOP + ph * (1 - (math.log10(y) - math.log10(yt[0])) / (hi - lo))
        return TOP + ph * (1 - y / yt[-1])

    out = [f'<text x="{dx + W / 2}" y="20" text-anchor="middle" font-weight="bold">'
           f"{escape(title)}</text>"]  # fmt: skip
    for y in yt:
        out.append(f'<line x1="{sx(0)}" x2="{sx(xt[-1])}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" '
                   'stroke="#ddd"/>')  # fmt: skip
        out.append(f'<text x="{sx(0) - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{fmt(y)}</text>')
    for x in xt:
        out.append(
            f'<text x="{sx(x):.1f}" y="{TOP + ph + 16}" text-anchor="middle">{fmt(x)}</text>'
        )
    out.append(f'<line x1="{sx(0)}" x2="{sx(xt[-1])}" y1="{sy(yt[0])}" y2="{sy(yt[0])}" '
               'stroke="#555"/>')  # fmt: skip
    out.append(f'<text x="{dx + LEFT + pw / 2}" y="{H - 8}" text-anchor="middle">'
               f"{escape(xlabel)}</text>")  # fmt: skip
    out.append(f'<text transform="translate({dx + 14},{TOP + ph / 2}) rotate(-90)" '
               f'text-anchor="middle">{escape(ylabel)}</text>')  # fmt: skip
    colors: dict[str, str] = {}
    for k, (name, pts) in enumerate(series.items()):
        # a dashed reference line takes the colour of the series it is named after
        base = next((c for n, c in colors.items() if name.startswith(n)), None)
        color = colors[name] = base or COLORS[k % len(COLORS)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in sorted(pts))
        dash = ' stroke-dasharray="5,4"' if name in dashed else ""
        if len(pts) > 1:
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                       f'stroke-width="2"{dash}/>')  # fmt: skip
        for x, y in pts if not dash else []:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>')
        ly = TOP + 4 + 15 * k
        out.append(f'<rect x="{dx + LEFT + 8}" y="{ly}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{dx + LEFT + 22}" y="{ly + 9}">{escape(name)}</text>')
    return "\n".join(out)


def svg(panels: list[str], note: str = "") -> str:
    width = W * len(panels)
    height = H + (18 if note else 0)
    body = "\n".join(panels)
    foot = f'<text x="8" y="{H + 12}" fill="#555">{escape(note)}</text>' if note else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">\n'
        f'<rect width="100%" height="100%" fill="#fff"/>\n{body}\n{foot}\n</svg>\n'
    )


def sweep_chart(results: dict[str, Any], prefix: str, title: str, note: str) -> str | None:
    rate: Series = {}
    p99: Series = {}
    for key, r in results.items():
        if not key.startswith(prefix) or not isinstance(r, dict) or not r.get("steps"):
            continue
        name = key.split("/", 1)[1]
        steps = r["steps"]
        rate[name] = [(st["offered_deliveries_per_s"], st["achieved_deliveries_per_s"])
                      for st in steps]  # fmt: skip
        p99[name] = [(st["offered_deliveries_per_s"], st["latency_ms"]["p99_ms"])
                     for st in steps if st["latency_ms"].get("p99_ms") is not None]  # fmt: skip
    if not rate:
        return None
    return svg(
        [
            panel(f"{title}: received", "offered deliveries/s", "deliveries/s received", rate),
            panel(
                f"{title}: delivery p99",
                "offered deliveries/s",
                "p99 ms (log)",
                p99,
                dx=W,
                log_y=True,
            ),
        ],
        note,
    )


def redis_chart(results: dict[str, Any], note: str) -> str | None:
    r = results.get("redis/campfire")
    if not isinstance(r, dict):
        return None
    lines: Series = {}
    for key, run in r.items():
        m = re.fullmatch(r"(\d+)proc(_capped)?", key)
        if not m or not isinstance(run, dict):
            continue
        name = f"capped at {r.get('cpu_cap')} CPU each" if m.group(2) else "a core each"
        value = run.get("sustained_deliveries_per_s")
        if value is not None:
            lines.setdefault(name, []).append((int(m.group(1)), value))
    if not lines:
        return None
    # Linear scaling from each variant's one-process figure, to read the speedups against.
    dashed = set()
    for name, pts in list(lines.items()):
        one = dict(pts).get(1)
        if one and len(pts) > 1:
            lines[f"{name}: linear"] = [(n, one * n) for n, _ in sorted(pts)]
            dashed.add(f"{name}: linear")
    chart = panel("Redis fan-out: scale-out", "web processes", "sustained deliveries/s", lines,
                  dashed=frozenset(dashed))  # fmt: skip
    return svg([chart], note)


def write_charts(doc: dict[str, Any], out: Path) -> list[Path]:
    """Write the charts of result `doc` beside `out` (the result's JSON path)."""
    machine = doc.get("machine", {})
    note = (f"{doc.get('started', '')} profile {doc.get('profile')}, {machine.get('cpus')} CPUs "
            f"{machine.get('cpu', '')}")  # fmt: skip
    results = doc.get("results", {})
    charts = {
        "fanout": sweep_chart(results, "fanout/", "Fan-out sweep", note),
        "bigroom": sweep_chart(results, "bigroom/", "One big room", note),
        "redis": redis_chart(results, note),
    }
    written = []
    for name, text in charts.items():
        if text:
            path = out.with_name(f"{out.stem}-{name}.svg")
            path.write_text(text)
            written.append(path)
    return written


if __name__ == "__main__":
    src = Path(sys.argv[1])
    for path in write_charts(json.loads(src.read_text()), src):
        print(path)
