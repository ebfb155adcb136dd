"""Rows from repeats: the median of each figure, and the ratios between rows."""

from __future__ import annotations

import statistics
from typing import Any

from ._measure import latency_sample

# kept per repeat as well as their median (None for a repeat that failed), so
# that ratios can pair the rows of one repeat, which ran back to back
EACH_REPEAT = ("gbps_sync", "gbps_total", "p99_ms", "late_frames", "late_at")


def median_of_repeats(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from the repeats of a row: the median of each figure over those
    that did not fail, and (`EACH_REPEAT`) the figures of every repeat."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[-1]["error"], "repeats": 0}
    merged: dict[str, Any] = {"repeats": len(ok)}
    for key, value in ok[0].items():
        if key == "late_at":  # where a repeat's late appends fell: per repeat only
            continue
        if key == "latencies_ms":  # every repeat's appends, one distribution
            merged[key] = latency_sample([x for r in ok for x in r.get(key, [])])
        elif isinstance(value, bool) or not isinstance(value, int | float):
            merged[key] = value
        else:
            merged[key] = statistics.median(r[key] for r in ok)
    merged["each_repeat"] = {
        key: [None if "error" in r else r.get(key) for r in runs] for key in EACH_REPEAT
    }
    if any("readers" in r for r in ok):  # every reader error counts, not a median
        for key in ("reader_errors", "reader_not_yet"):
            merged[key] = sum(r.get(key, 0) for r in ok)
        samples = [m for r in ok for m in r.get("reader_error_sample", [])]
        merged["reader_error_sample"] = samples[:5]
    if any("late_frames" in r for r in ok):  # paced: a median can hide a repeat
        merged["late_worst"] = max(r.get("late_frames", 0) for r in ok)
        merged["p99_worst_ms"] = max(r["p99_ms"] for r in ok)
    return merged


def _each_repeat_ratios(
    row: dict[str, Any], other: dict[str, Any], key: str
) -> list[float]:
    """`row`'s `key` over `other`'s, repeat by repeat (both measured)."""
    mine = row.get("each_repeat", {}).get(key, [])
    theirs = other.get("each_repeat", {}).get(key, [])
    return [a / b for a, b in zip(mine, theirs, strict=False) if a and b]


def _add_paired(
    row: dict[str, Any], other: dict[str, Any], key: str, name: str
) -> None:
    """`name`_each: `row`'s `key` over `other`'s in each repeat, whose pair ran
    back to back, so the machine's drift between repeats cancels; and
    `name`_paired, their geometric mean."""
    each = _each_repeat_ratios(row, other, key)
    if each:
        row[f"{name}_each"] = each
        row[f"{name}_paired"] = statistics.geometric_mean(each)


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Durable throughput relative to the scenario's ceilings, the plain write
    and the compared version, among others."""
    by_key = {(r["scenario"], r["target"]): r for r in rows}
    for row in rows:
        if "gbps_sync" not in row:
            continue
        disk = by_key.get((row["scenario"], "disk"), {})
        if disk.get("gbps_sync"):
            row["vs_disk"] = row["gbps_sync"] / disk["gbps_sync"]
        ceiling = by_key.get((row["scenario"], "ceiling"), {})
        if row["target"] != "ceiling" and ceiling.get("gbps_sync"):
            row["vs_ceiling"] = row["gbps_sync"] / ceiling["gbps_sync"]
            if ceiling.get("cpu_gbps"):
                row["vs_cpu_ceiling"] = row["gbps_sync"] / ceiling["cpu_gbps"]
        kind, _, backend = row["target"].partition(":")
        other = by_key.get((row["scenario"], f"other:{backend}"), {})
        if kind == "ours" and other.get("gbps_sync"):
            row["vs_other_sync"] = row["gbps_sync"] / other["gbps_sync"]
            row["vs_other_close"] = row["gbps_close"] / other["gbps_close"]
            if row.get("gbps_total") and other.get("gbps_total"):
                row["vs_other_total"] = row["gbps_total"] / other["gbps_total"]
            _add_paired(row, other, "gbps_total", "vs_other_total")
            # with --compare self, the band a ratio of identical runs moves in
            _add_paired(row, other, "p99_ms", "p99_vs_other")
        plain = by_key.get((row["scenario"], f"ours:{backend}"), {})
        if kind == "served" and plain.get("gbps_total"):
            # a run with HTTP readers over the same backend's run without them
            _add_paired(row, plain, "gbps_total", "vs_unread")
            _add_paired(row, plain, "p99_ms", "p99_vs_unread")
        flat = by_key.get(("a", row["target"]), {})
        if row["scenario"] == "p" and kind == "ours" and flat.get("gbps_sync"):
            row["vs_flat"] = row["gbps_sync"] / flat["gbps_sync"]
        off = by_key.get(("n", row["target"]), {})
        if row["scenario"] == "w" and kind == "ours" and off.get("fps"):
            row["vs_window_off"] = row["fps"] / off["fps"]
        local = by_key.get((row["scenario"], f"ours:{backend}"), {})
        if kind == "s3" and local.get("gbps_sync"):
            row["vs_local"] = row["gbps_sync"] / local["gbps_sync"]
        raw = by_key.get((row["scenario"], f"raw:{backend}"), {})
        if kind == "ours" and raw.get("gbps_sync"):
            row["vs_raw"] = row["gbps_sync"] / raw["gbps_sync"]
