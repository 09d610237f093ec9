"""Samples, their median and p90, and the markdown table the benchmarks print.

A :class:`Row` pairs our samples with the baseline's for one measured quantity; the ratio is
always ``median(ours) / median(baseline)``, whatever the unit, and the row says which
direction is better so the reader knows how to read it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Summary:
    """Median and 90th percentile of a list of samples."""

    median: float
    p90: float
    count: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary | None:
        if not samples:
            return None
        ordered = sorted(samples)
        return cls(statistics.median(ordered), _percentile(ordered, 0.9), len(ordered))


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method)."""
    if len(ordered) == 1:
        return ordered[0]
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the result table."""

    section: str
    name: str
    unit: str
    higher_is_better: bool
    ours: Sequence[float]
    baseline: Sequence[float] = ()

    @property
    def ratio(self) -> float | None:
        ours, base = Summary.of(self.ours), Summary.of(self.baseline)
        if ours is None or base is None or base.median == 0:
            return None
        return ours.median / base.median


def _number(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _cell(samples: Sequence[float]) -> str:
    summary = Summary.of(samples)
    if summary is None:
        return "-"
    return f"{_number(summary.median)} ({_number(summary.p90)})"


def _ratio_cell(row: Row) -> str:
    ratio = row.ratio
    if ratio is None:
        return "-"
    return f"{ratio:.3f}" if ratio < 0.1 else f"{ratio:.2f}"


def markdown_table(rows: Sequence[Row]) -> str:
    """The rows as one markdown table: medians with p90 in brackets, and the ratio (a dash
    where a row has no baseline samples)."""
    header = ["section", "benchmark", "ours median (p90)", "baseline median (p90)", "ratio"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        better = "higher" if row.higher_is_better else "lower"
        name = f"{row.name} [{row.unit}, {better} is better]"
        cells = [row.section, name, _cell(row.ours), _cell(row.baseline), _ratio_cell(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
