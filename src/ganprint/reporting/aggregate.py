"""Aggregating a cell's seeds: mean ± std with n and a 95 % t confidence interval; gaps keep their reason."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from scipy import stats

RESUMED_MARK = "†"   # shown in a table cell one of whose seeds was resumed (explained under the table)


@dataclass
class CellValue:
    values: list[float] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)   # reasons for missing seeds
    percent: bool = False
    resumed: int = 0   # seeds whose training was resumed mid-fit: not bit-exact with an uninterrupted run

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / self.n if self.n else math.nan

    @property
    def std(self) -> float:
        if self.n < 2:
            return math.nan
        m = self.mean
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (self.n - 1))

    @property
    def ci95(self) -> float:
        """Half-width of the 95 % confidence interval of the mean (Student t); nan below 2 seeds."""
        if self.n < 2:
            return math.nan
        return float(stats.t.ppf(0.975, self.n - 1) * self.std / math.sqrt(self.n))

    def text(self) -> str:
        if not self.n:
            return f"— ({self.gaps[0].split(':')[0]})" if self.gaps else "—"
        f = 100.0 if self.percent else 1.0
        digits = 2 if self.percent or abs(self.mean) < 100 else 1
        s = f"{self.mean * f:.{digits}f}"
        if self.n > 1:
            s += f" ± {self.std * f:.{digits}f}"
        s += f" (n={self.n})"
        if self.gaps:
            s += f" [{len(self.gaps)} missing]"
        if self.resumed:
            s += f" {RESUMED_MARK}"
        return s

    def as_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "ci95": self.ci95, "n": self.n, "values": self.values,
                "gaps": self.gaps, "resumed": self.resumed}


def cell_from_records(records: list[dict[str, Any]], metric: str, percent: bool) -> CellValue:
    cell = CellValue(percent=percent)
    for rec in records:
        if rec.get("status") != "ok":
            cell.gaps.append(f"{rec.get('status')}: {rec.get('reason', '')}".strip(": "))
            continue
        value = rec.get("metrics", {}).get(metric)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            cell.gaps.append(f"metric {metric} not in record")
        else:
            cell.values.append(float(value))
            cell.resumed += int(was_resumed(rec))
    return cell


def was_resumed(record: dict[str, Any]) -> bool:
    """Whether a run's training was resumed from a checkpoint before its last step (a run resumed at its end,
    e.g. killed while testing, trained exactly as an uninterrupted one)."""
    if not record.get("resumed_from"):
        return False
    at, final = record.get("resumed_at_step"), record.get("global_step")
    return at is None or final is None or int(at) < int(final)
