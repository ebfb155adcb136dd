"""The rows as tables: plain text, rich, Markdown, and JSON."""

from __future__ import annotations

import json
import sys
from typing import Any

from ._scenarios import DESCRIPTIONS, file_backends

COLUMNS = [
    ("fps", "fps", "{:.1f}"),
    ("gbps_append", "GB/s append", "{:.2f}"),
    ("gbps_close", "GB/s +close", "{:.2f}"),
    ("gbps_sync", "GB/s +sync", "{:.2f}"),
    ("gbps_total", "+create", "{:.2f}"),
    ("cpu_gbps", "CPU GB/s", "{:.2f}"),
    ("create_ms", "create ms", "{:.0f}"),
    ("create_warm_ms", "again ms", "{:.1f}"),
    ("p50_ms", "p50 ms", "{:.2f}"),
    ("p99_ms", "p99 ms", "{:.2f}"),
    ("max_ms", "max ms", "{:.1f}"),
    ("close_s", "close s", "{:.2f}"),
    ("peak_rss_mb", "RSS MB", "{:.0f}"),
    ("late_frames", "late", "{:.0f}"),
    ("late_worst", "late worst", "{:.0f}"),
    ("p99_worst_ms", "p99 worst", "{:.2f}"),
    ("vs_ceiling", "÷ceiling", "{:.2f}"),
    ("vs_cpu_ceiling", "÷CPU ceiling", "{:.2f}"),
    ("vs_disk", "÷disk", "{:.2f}"),
    ("vs_raw", "÷raw", "{:.2f}"),
    ("vs_flat", "÷flat", "{:.2f}"),
    ("vs_window_off", "÷off", "{:.2f}"),
    ("vs_local", "÷local", "{:.2f}"),
    ("vs_other_sync", "÷other", "{:.2f}"),
    ("vs_other_total", "÷other +create", "{:.2f}"),
    ("vs_other_total_paired", "÷other paired", "{:.2f}"),
    ("p99_vs_other_paired", "p99 ÷other paired", "{:.2f}"),
    ("vs_unread_paired", "÷no readers", "{:.2f}"),
    ("p99_vs_unread_paired", "p99 ÷no readers", "{:.2f}"),
    ("reader_rps", "reader req/s", "{:.0f}"),
    ("reader_mbps", "reader MB/s", "{:.0f}"),
    ("reader_cores", "reader cores", "{:.2f}"),
    ("reader_not_yet", "reader not yet", "{:.0f}"),
    ("reader_errors", "reader errors", "{:.0f}"),
]


def _label(row: dict[str, Any]) -> str:
    kind, _, backend = row["target"].partition(":")
    version = row.get("version", "")
    if kind in ("ours", "other"):
        return f"{backend} {version}".strip()
    if kind == "raw":
        return f"raw {backend}"
    if kind == "s3":
        return f"{backend} → S3 (loopback)"
    if kind == "served":
        readers = f"{row['readers']:.0f}" if "readers" in row else "?"
        return f"{backend} {version}".strip() + f" + {readers} HTTP readers"
    if kind == "ceiling":
        return "disk ceiling (O_DIRECT)" if _direct(row) else "disk ceiling*"
    return "plain write" if kind == "disk" else kind


def _direct(row: dict[str, Any]) -> bool:
    """Whether a ceiling row wrote with direct I/O."""
    return bool(row.get("direct_io", True))


#: under a table whose ceiling fell back to buffered writes
BUFFERED_NOTE = (
    "* the filesystem refused O_DIRECT: this ceiling is buffered writes "
    "+ fsync, not a direct-I/O one"
)


def footnotes(rows: list[dict[str, Any]]) -> list[str]:
    """The notes under one scenario's table."""
    buffered = any(
        r["target"] == "ceiling" and "error" not in r and not _direct(r) for r in rows
    )
    return [BUFFERED_NOTE] if buffered else []


def render(rows: list[dict[str, Any]]) -> str:
    """The rows as one text table per scenario."""
    lines = []
    for name in dict.fromkeys(r["scenario"] for r in rows):
        lines.append(f"\n{scenario_title(rows, name)}")
        for row in (r for r in rows if r["scenario"] == name):
            if "error" in row:
                lines.append(f"  {_label(row):<26} failed: {row['error']}")
            elif row["target"] == "camera":
                lines.append(f"  {_camera_line(row)}")
        table = [r for r in rows if r["scenario"] == name and "gbps_sync" in r]
        if not table:
            continue
        header = [f"{'':<26}"] + [f"{title:>11}" for _, title, _ in COLUMNS]
        lines.append(" ".join(header))
        for row in table:
            cells = [f"{_label(row):<26}", *(f"{c:>11}" for c in _cells(row))]
            lines.append(" ".join(cells))
        lines += [f"  {note}" for note in footnotes(table)]
    return "\n".join(lines)


def scenario_title(rows: list[dict[str, Any]], name: str) -> str:
    """Heading of scenario `name`'s table, with the frames its rows wrote
    and the rate they were offered at when they were paced."""
    counts = sorted(
        {r["frames"] for r in rows if r["scenario"] == name and "frames" in r}
    )
    written = f", {'/'.join(f'{c:,}' for c in counts)} frames written" if counts else ""
    offered = [
        r["offered_fps"] for r in rows if r["scenario"] == name and "offered_fps" in r
    ]
    paced = offered[0] if offered else None
    rate = f", frames offered at {paced:.0f} fps" if paced else ""
    return f"scenario {name}: {DESCRIPTIONS[name]}{written}{rate}"


def _cells(
    row: dict[str, Any], columns: list[tuple[str, str, str]] = COLUMNS
) -> list[str]:
    """The row's `columns`, formatted ("" where it has no value)."""
    return [
        fmt.format(row[key]) if row.get(key) is not None else ""
        for key, _, fmt in columns
    ]


def print_rich(rows: list[dict[str, Any]]) -> bool:
    """Print the rows as rich tables; False when rich is not installed."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        return False
    console = Console(width=None if sys.stdout.isatty() else 200)
    for name in dict.fromkeys(r["scenario"] for r in rows):
        table = Table(title=scenario_title(rows, name))
        table.add_column("", no_wrap=True)
        scenario_rows = [r for r in rows if r["scenario"] == name]
        # only the columns some row of this table has (narrower tables)
        columns = [
            c for c in COLUMNS if any(r.get(c[0]) is not None for r in scenario_rows)
        ]
        for _, title, _ in columns:
            table.add_column(title, justify="right")
        for row in scenario_rows:
            if "error" in row:
                console.print(f"{_label(row)} failed: {row['error']}")
            elif row["target"] == "camera":
                console.print(_camera_line(row))
            else:
                table.add_row(_label(row), *_cells(row, columns))
        if table.row_count:
            console.print(table)
            for note in footnotes(scenario_rows):
                console.print(note)
    return True


def _camera_line(row: dict[str, Any]) -> str:
    return (
        f"mda.run -> OME-Zarr {row['fps']:.0f} fps (mda.run alone "
        f"{row['mda_alone_fps']:.0f}); sequence acquisition drained "
        f"zero-copy={row['zero_copy']} at {row['drain_fps']:.0f} fps "
        f"(camera alone {row['camera_fps']:.0f}), at most "
        f"{row['max_frames_buffered']:.0f} of "
        f"{row['buffer_capacity_frames']:.0f} buffer slots used"
    )


def _pair(row: dict[str, Any] | None, first: str, second: str, fmt: str) -> str:
    if not row or first not in row:
        return ""
    return f"{fmt.format(row[first])} / {fmt.format(row[second])}"


def _triple(row: dict[str, Any] | None, keys: tuple[str, ...], fmt: str) -> str:
    if not row or any(k not in row for k in keys):
        return ""
    return " / ".join(fmt.format(row[k]) for k in keys)


def render_markdown(rows: list[dict[str, Any]]) -> str:
    """Side by side per scenario and backend: ours, the compared version, raw, disk."""
    by_key = {(r["scenario"], r["target"]): r for r in rows if "gbps_sync" in r}
    other_version = next(
        (r.get("version", "") for r in rows if r["target"].startswith("other:")), ""
    )
    other = f"{other_version or 'other'}"
    speeds = ("gbps_close", "gbps_sync", "gbps_total")
    create = ("create_ms", "create_warm_ms")
    lines = [
        f"| scenario | backend | ours GB/s (+close / +sync / +create) | {other} GB/s "
        f"(+close / +sync / +create) | ours ÷ {other} (+sync / +create) "
        f"| raw library GB/s (+sync) | ours create ms (first / again) "
        f"| {other} create ms (first / again) | ours p50 / p99 ms "
        f"| {other} p50 / p99 ms | ours RSS MB | {other} RSS MB "
        f"| ours ÷ ceiling (disk / CPU) "
        f"| ours ÷ {other} +create, each repeat (geometric mean) "
        f"| ours ÷ {other} p99, each repeat (geometric mean) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: | ---: |",
    ]
    notes: list[str] = []
    for name in dict.fromkeys(r["scenario"] for r in rows):
        disk = by_key.get((name, "disk"))
        if disk:
            plain = _pair(disk, "gbps_close", "gbps_sync", "{:.2f}")
            lines.append(_markdown_line([name, "plain write", plain]))
        ceiling = by_key.get((name, "ceiling"))
        if ceiling:
            cells = [name, _label(ceiling), _ceiling_cell(ceiling)]
            lines.append(_markdown_line(cells))
            notes += [n for n in footnotes([ceiling]) if n not in notes]
        for backend in file_backends():
            ours = by_key.get((name, f"ours:{backend}"))
            theirs = by_key.get((name, f"other:{backend}"))
            raw = by_key.get((name, f"raw:{backend}"))
            if not ours and not theirs:
                continue
            cells = [
                name,
                backend,
                _triple(ours, speeds, "{:.2f}"),
                _triple(theirs, speeds, "{:.2f}"),
                _triple(ours, ("vs_other_sync", "vs_other_total"), "{:.2f}"),
                f"{raw['gbps_sync']:.2f}" if raw else "",
                _triple(ours, create, "{:.0f}"),
                _triple(theirs, create, "{:.0f}"),
                _pair(ours, "p50_ms", "p99_ms", "{:.1f}"),
                _pair(theirs, "p50_ms", "p99_ms", "{:.1f}"),
                f"{ours['peak_rss_mb']:.0f}" if ours else "",
                f"{theirs['peak_rss_mb']:.0f}" if theirs else "",
                _vs_ceiling_cell(ours),
                _each_cell(ours, "vs_other_total"),
                _each_cell(ours, "p99_vs_other"),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *notes] if notes else []
    if any(r["target"].startswith("served:") for r in by_key.values()):
        lines += ["", *_readers_markdown(by_key)]
    return "\n".join(lines)


#: cells in a line of the Markdown table of `render_markdown`
MARKDOWN_CELLS = 15


def _markdown_line(cells: list[str]) -> str:
    """A line of `render_markdown`'s table: `cells`, then empty ones."""
    cells = cells + [""] * (MARKDOWN_CELLS - len(cells))
    return "| " + " | ".join(cells) + " |"


def _ceiling_cell(ceiling: dict[str, Any]) -> str:
    """The ceiling's durable GB/s, and the CPU ceiling's where it has one."""
    cell = f"{ceiling['gbps_sync']:.2f} (+sync)"
    if ceiling.get("cpu_gbps"):
        cell += f", CPU {ceiling['cpu_gbps']:.2f}"
    return cell


def _vs_ceiling_cell(ours: dict[str, Any] | None) -> str:
    """``÷disk ceiling`` of a row, and ``/ ÷CPU ceiling`` where it has one."""
    if not ours or "vs_ceiling" not in ours:
        return ""
    if "vs_cpu_ceiling" in ours:
        return f"{ours['vs_ceiling']:.2f} / {ours['vs_cpu_ceiling']:.2f}"
    return f"{ours['vs_ceiling']:.2f}"


def _readers_markdown(by_key: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """Per scenario and backend: without and with HTTP readers (``--readers``)."""
    lines = [
        "| scenario | backend | readers | GB/s +create without / with "
        "| with ÷ without +create, each repeat (geometric mean) "
        "| p99 ms without / with | p99 with ÷ without, each repeat (geometric mean) "
        "| reader requests/s | reader MB/s | readers and server: cores busy "
        "| reader not yet | reader errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |",
    ]
    for (name, target), served in by_key.items():
        kind, _, backend = target.partition(":")
        plain = by_key.get((name, f"ours:{backend}"))
        if kind != "served" or not plain:
            continue
        cells = [
            name,
            backend,
            f"{served['readers']:.0f}",
            f"{plain['gbps_total']:.2f} / {served['gbps_total']:.2f}",
            _each_cell(served, "vs_unread"),
            f"{plain['p99_ms']:.2f} / {served['p99_ms']:.2f}",
            _each_cell(served, "p99_vs_unread"),
            f"{served['reader_rps']:.0f}",
            f"{served['reader_mbps']:.0f}",
            f"{served['reader_cores']:.2f}" if "reader_cores" in served else "",
            f"{served.get('reader_not_yet', 0)}",
            f"{served['reader_errors']}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _each_cell(row: dict[str, Any] | None, name: str) -> str:
    """``r1 / r2 / ... (geometric mean)`` of a row's per-repeat ratios
    `name`_each (`_summary._add_paired`)."""
    if not row or not row.get(f"{name}_each"):
        return ""
    each = " / ".join(f"{x:.2f}" for x in row[f"{name}_each"])
    return each + f" ({row[f'{name}_paired']:.2f})"


def dumps_rows(rows: list[dict[str, Any]]) -> str:
    """The rows as JSON, one key per line (a latency sample on one line)."""
    if not rows:
        return "[]"
    items = [
        " {\n"
        + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in row.items())
        + "\n }"
        for row in rows
    ]
    return "[\n" + ",\n".join(items) + "\n]"
