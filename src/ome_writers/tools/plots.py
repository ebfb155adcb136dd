"""Figures of benchmark rows: durable throughput and append latency.

Drawn with matplotlib (the ``plot`` extra) on its Agg backend, without pyplot,
so drawing changes no global matplotlib state. The rows are those of
`ome_writers.tools.benchmark` (``ome-writers bench --json``): dicts with
``scenario``, ``target`` (``ceiling``, ``disk``, ``raw:<lib>``,
``ours:<backend>``, ``served:<backend>``, ``other:<backend>``), ``gbps_sync``,
``p50_ms`` / ``p99_ms`` / ``max_ms`` and, from rows measured since it was
added, ``latencies_ms``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Mapping, Sequence

    from matplotlib.artist import Artist
    from matplotlib.axes import Axes

INSTALL_HINT = 'pip install "ome-writers[plot]"'
# slots within one backend's group, left to right
KINDS = ("ours", "served", "other", "raw")
COLORS = {
    "ours": "#1f77b4",
    "served": "#9467bd",
    "other": "#ff7f0e",
    "raw": "#2ca02c",
    "disk": "#8c8c8c",
    "ceiling": "#d62728",
}
PLAIN = "plain write"
FLOOR_MS = 1e-4  # latencies are drawn on a log axis: nothing below 0.1 µs


def require_matplotlib() -> None:
    """Check that matplotlib can be imported.

    Raises
    ------
    ImportError
        When matplotlib is not installed; the message names the extra to install.
    """
    if importlib.util.find_spec("matplotlib") is None:
        raise ImportError(f"plots need matplotlib: {INSTALL_HINT}")


def plot_benchmark(
    rows: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    titles: Mapping[str, str] | None = None,
    dpi: int = 120,
) -> Path:
    """Draw benchmark rows into an image: one band of two panels per scenario.

    Left, durable throughput (GB/s to after ``os.sync()``) as grouped bars per
    backend: this version, the compared version (``--compare``) and the
    backend's library driven directly, with the plain sequential write as a
    bar and a dashed line, and the disk ceiling (direct I/O) as a dotted
    line. Right, the append latencies of the same rows on a
    log axis: boxes (p25-p75, whiskers p1-p99, median line) and the maximum
    from each row's latency sample, or a p50-p99 line and the maximum for rows
    without one (saved by versions that did not record samples).

    Parameters
    ----------
    rows : sequence of mapping
        Benchmark rows, as printed by ``ome-writers bench --json``. Rows without
        throughput (the camera scenario) are left out; failed rows are marked.
    path : str or os.PathLike
        The image file; its suffix picks the format (PNG for ``.png``).
    titles : mapping of str to str, optional
        A title per scenario name (default: "scenario <name>").
    dpi : int
        Resolution of the image.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ImportError
        When matplotlib is not installed.
    ValueError
        When no row has a throughput to draw.
    """
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    writers = [r for r in rows if r["target"] != "camera"]
    scenarios = list(
        dict.fromkeys(r["scenario"] for r in writers if r.get("gbps_sync"))
    )
    if not scenarios:
        raise ValueError("no rows with a durable throughput (gbps_sync) to draw")
    titles = titles or {}

    fig = Figure(figsize=(13, 0.9 + 3.4 * len(scenarios)), layout="constrained")
    FigureCanvasAgg(fig)
    bands = fig.subfigures(len(scenarios), 1, squeeze=False)[:, 0]
    drawn: set[str] = set()
    for band, name in zip(bands, scenarios, strict=True):
        band.suptitle(titles.get(name, f"scenario {name}"), fontweight="bold")
        speed, latency = band.subplots(1, 2)
        own = [r for r in writers if r["scenario"] == name]
        drawn |= _draw_scenario(speed, latency, own)

    versions = {
        kind: next(
            (r.get("version", "") for r in writers if r["target"].startswith(kind)),
            "",
        )
        for kind in ("ours", "other")
    }
    names = {
        "ours": f"ome-writers {versions['ours']}".strip(),
        "served": f"ome-writers {versions['ours']}, HTTP readers polling (--readers)",
        "other": f"ome-writers {versions['other'] or '(compared)'} (--compare)",
        "raw": "the backend's library alone (raw)",
        "disk": f"{PLAIN} (one sequential write per frame)",
    }
    handles: list[Artist] = [
        Patch(color=COLORS[kind], label=names[kind])
        for kind in (*KINDS, "disk")
        if kind in drawn
    ]
    if "ceiling" in drawn:
        handles.append(
            Line2D(
                [],
                [],
                color=COLORS["ceiling"],
                ls=":",
                label="disk ceiling (direct I/O, writes in flight)",
            )
        )
    if "box" in drawn:
        handles.append(
            Patch(facecolor="white", edgecolor="black", label="box p25-p75, p1-p99")
        )
    if "line" in drawn:
        handles.append(
            Line2D([], [], color="black", lw=3, label="p50-p99 (no sample saved)")
        )
    handles.append(
        Line2D([], [], color="black", marker="x", ls="", label="slowest append")
    )
    fig.legend(handles=handles, loc="outside upper center", ncol=4, fontsize=9)

    out = Path(path)
    fig.savefig(out, dpi=dpi)
    return out


def _draw_scenario(
    speed: Axes, latency: Axes, rows: Sequence[Mapping[str, Any]]
) -> set[str]:
    """One scenario's bars and latency marks; the kinds of marks drawn."""
    slots = [k for k in KINDS if any(_kind(r) == k for r in rows)]
    backends = list(
        dict.fromkeys(r["target"].partition(":")[2] for r in rows if _kind(r) in slots)
    )
    groups = ([PLAIN] if any(_kind(r) == "disk" for r in rows) else []) + backends
    width = 0.8 / max(len(slots), 2)  # a lone slot is not a whole group wide

    def where(row: Mapping[str, Any]) -> float:
        kind, _, backend = row["target"].partition(":")
        if kind == "disk":
            return float(groups.index(PLAIN))
        offset = (slots.index(kind) - (len(slots) - 1) / 2) * width
        return groups.index(backend) + offset

    drawn: set[str] = set()
    for kind in ("disk", *slots):
        mine = [r for r in rows if _kind(r) == kind]
        ok = [r for r in mine if r.get("gbps_sync")]
        if ok:
            drawn.add(kind)
            bars = speed.bar(
                [where(r) for r in ok],
                [r["gbps_sync"] for r in ok],
                width * 0.95,
                color=COLORS[kind],
            )
            speed.bar_label(bars, fmt="{:.3g}", fontsize=7, padding=1)
            drawn |= _draw_latencies(latency, ok, where, width * 0.8, COLORS[kind])
        for row in mine:
            if "error" in row:
                for ax in (speed, latency):
                    ax.annotate(
                        "failed",
                        (where(row), 0.02),
                        xycoords=("data", "axes fraction"),
                        rotation=90,
                        ha="center",
                        va="bottom",
                        fontsize=8,
                        color="crimson",
                    )
    disk = next((r for r in rows if _kind(r) == "disk" and r.get("gbps_sync")), None)
    if disk:
        speed.axhline(disk["gbps_sync"], color=COLORS["disk"], ls="--", lw=1, zorder=0)
    ceiling = next(
        (r for r in rows if _kind(r) == "ceiling" and r.get("gbps_sync")), None
    )
    if ceiling:
        drawn.add("ceiling")
        speed.axhline(
            ceiling["gbps_sync"], color=COLORS["ceiling"], ls=":", lw=1.2, zorder=0
        )
    top = max((r.get("gbps_sync") or 0 for r in rows), default=0)
    speed.set_ylim(0, top * 1.15 or 1)
    speed.set_ylabel("GB/s, to after os.sync()")
    speed.set_title("durable throughput", fontsize=10)
    latency.set_yscale("log")
    span = [
        max(r[k], FLOOR_MS)
        for r in rows
        for k in ("p50_ms", "p99_ms", "max_ms")
        if r.get("gbps_sync") and k in r
    ]
    span += [
        max(min(r["latencies_ms"]), FLOOR_MS) for r in rows if r.get("latencies_ms")
    ]
    if span:  # room above the slowest append and below the fastest mark
        latency.set_ylim(min(span) / 2, max(span) * 2)
    latency.set_ylabel("append latency, ms (log)")
    latency.set_title("append latency", fontsize=10)
    for ax in (speed, latency):
        ax.set_xticks(range(len(groups)), groups, fontsize=9)
        ax.set_xlim(-0.6, len(groups) - 0.4)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    return drawn


def _draw_latencies(
    ax: Axes,
    rows: Sequence[Mapping[str, Any]],
    where: Callable[[Mapping[str, Any]], float],
    width: float,
    color: str,
) -> set[str]:
    """Boxes from latency samples, p50-p99 lines without; the maximum as x."""
    drawn: set[str] = set()
    sampled = [r for r in rows if r.get("latencies_ms")]
    if sampled:
        drawn.add("box")
        ax.boxplot(
            [[max(x, FLOOR_MS) for x in r["latencies_ms"]] for r in sampled],
            positions=[where(r) for r in sampled],
            widths=width,
            whis=(1, 99),
            showfliers=False,
            patch_artist=True,
            manage_ticks=False,
            boxprops={"facecolor": color, "edgecolor": "black", "lw": 0.8},
            medianprops={"color": "black", "lw": 1.2},
            whiskerprops={"lw": 0.8},
            capprops={"lw": 0.8},
        )
    for row in rows:
        if row.get("latencies_ms") or "p50_ms" not in row:
            continue
        drawn.add("line")
        x = where(row)
        low, high = (max(row[k], FLOOR_MS) for k in ("p50_ms", "p99_ms"))
        ax.plot([x, x], [low, high], color=color, lw=3, solid_capstyle="butt")
        ax.plot([x - width / 3, x + width / 3], [low, low], color="black", lw=1.2)
    peaks = [r for r in rows if "max_ms" in r]
    ax.scatter(
        [where(r) for r in peaks],
        [max(r["max_ms"], FLOOR_MS) for r in peaks],
        marker="x",
        s=18,
        color="black",
        lw=1,
        zorder=3,
    )
    return drawn


def _kind(row: Mapping[str, Any]) -> str:
    return str(row["target"]).partition(":")[0]
