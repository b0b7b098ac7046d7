"""Tables from a table spec and its cells' aggregated values: Markdown, LaTeX and CSV.

Each table shows our value (mean ± std over seeds, n) next to the paper's, marked "≈" where the paper's numbers
are recollections (docs/paper.md §4); chance level is stated; gaps show why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ganprint.reporting.aggregate import RESUMED_MARK, CellValue
from ganprint.runstore.spec import ExperimentSpec
from ganprint.utils.atomic import atomic_write_text


def paper_text(spec: ExperimentSpec, row: str, column: str) -> str:
    value = spec.paper.get(row, {}).get(column)
    if value is None:
        return ""
    return f"≈{value}" if spec.paper_approx and not str(value).startswith(("≈", "~", "n/r", "–")) else str(value)


def table_frame(spec: ExperimentSpec, cells: dict[tuple[str, str], CellValue]) -> pd.DataFrame:
    """One row per spec row; for each column ``ours`` and (when the spec has paper values) ``paper``."""
    has_paper = bool(spec.paper)
    data: dict[str, list[str]] = {"method": list(spec.rows)}
    for col in spec.columns:
        data[col] = [cells[(r, col)].text() if (r, col) in cells else "" for r in spec.rows]
        if has_paper:
            data[f"{col} (paper)"] = [paper_text(spec, r, col) for r in spec.rows]
    return pd.DataFrame(data)


def numeric_frame(spec: ExperimentSpec, cells: dict[tuple[str, str], CellValue]) -> pd.DataFrame:
    rows = []
    for (row, col), cell in cells.items():
        rows.append({"table": spec.id, "row": row, "column": col, "mean": cell.mean, "std": cell.std,
                     "ci95": cell.ci95, "n": cell.n, "resumed": cell.resumed, "percent": cell.percent, "gaps": " | ".join(cell.gaps),
                     "paper": paper_text(spec, row, col)})
    return pd.DataFrame(rows)


def write_table(spec: ExperimentSpec, cells: dict[tuple[str, str], CellValue], out_dir: Path) -> dict[str, Any]:
    """Write ``<id>.md``, ``<id>.tex`` and ``<id>.csv`` (numbers, one line per cell); return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = table_frame(spec, cells)
    chance = f"Chance: {spec.chance * 100:.2f} %." if spec.chance else ""
    md = [f"### {spec.id}: {spec.title}", ""]
    if spec.paper_ref or spec.description:
        md += [f"{spec.paper_ref}. {spec.description}".strip(". ") + ".", ""]
    md += [frame.to_markdown(index=False), ""]
    gaps = sorted({(row, col, g) for (row, col), cell in cells.items() for g in cell.gaps})
    if gaps:
        md += ["Gaps:", *[f"- {row} / {col}: {g}" for row, col, g in gaps], ""]
    resumed = sorted((row, col, cell.resumed) for (row, col), cell in cells.items() if cell.resumed)
    if resumed:
        md += [f"{RESUMED_MARK} Resumed from a checkpoint after an interruption (the run record's `resumed_from`), "
               f"so not bit-exact with an uninterrupted run: "
               + "; ".join(f"{row} / {col} ({n} seed{'s' if n > 1 else ''})" for row, col, n in resumed) + ".", ""]
    md += [" ".join(x for x in (chance, "Values: mean ± std over seeds (n seeds); accuracies in %." ,
                                "Paper values marked ≈ are recollections, not verified." if spec.paper else "",
                                spec.notes) if x), ""]
    paths = {"md": out_dir / f"{spec.id}.md", "tex": out_dir / f"{spec.id}.tex", "csv": out_dir / f"{spec.id}.csv"}
    atomic_write_text(paths["md"], "\n".join(md))
    atomic_write_text(paths["tex"], frame.to_latex(index=False, caption=f"{spec.title}. {chance}", label=f"tab:{spec.id}",
                                                   escape=True))
    atomic_write_text(paths["csv"], numeric_frame(spec, cells).to_csv(index=False))
    return {"frame": frame, "markdown": "\n".join(md), "paths": paths}
