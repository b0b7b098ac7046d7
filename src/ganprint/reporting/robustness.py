"""Robustness curves: accuracy against perturbation severity, one panel per perturbation, one line per method.

Drawn from the same aggregated cells as the tables (mean ± std over the seeds of each (row, column) run record)
of a spec with ``curves`` (``runstore/spec.py``; ``specs/f7_robustness_curves.yaml``). Rows that share a
``label`` share a line and a colour across panels, so "with immunization" can be a different fine-tuned model in
each panel. Reads run records only, never a model. Imported by the reproduction (``tasks/reproduce.py``) and runs
on its own over an existing results folder::

    python -m ganprint.reporting.robustness specs/f7_robustness_curves.yaml --results results/cpu
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from ganprint.reporting.aggregate import CellValue, cell_from_records
from ganprint.runstore.spec import ExperimentSpec, load_spec
from ganprint.runstore.store import collect
from ganprint.utils.atomic import atomic_write, atomic_write_text

__all__ = ["curve_frame", "plot_curves", "records_cells", "write_curves"]


def curve_frame(spec: ExperimentSpec, cells: dict[tuple[str, str], CellValue]) -> pd.DataFrame:
    """One line per (curve, row, severity) with a value: columns curve, param, severity, row, label, mean, std,
    n, clean (True for the clean column's value placed at the curve's ``clean_at``)."""
    out = []
    for curve in spec.curves:
        for row in spec.rows:
            label = spec.row_labels.get(row, row)
            points = list(zip(curve.values, curve.columns, [False] * len(curve.columns), strict=True))
            if not any((row, col) in cells for _, col, _ in points):
                continue  # the row is not on this curve
            if spec.clean_column and curve.clean_at is not None:
                points.insert(0, (curve.clean_at, spec.clean_column, True))
            for x, col, clean in points:
                cell = cells.get((row, col))
                if cell is None or not cell.n:
                    continue
                out.append({"curve": curve.name, "param": curve.param, "severity": x, "row": row, "label": label,
                            "mean": cell.mean, "std": cell.std, "n": cell.n, "clean": clean})
    return pd.DataFrame(out, columns=["curve", "param", "severity", "row", "label", "mean", "std", "n", "clean"])


def plot_curves(spec: ExperimentSpec, frame: pd.DataFrame, path: Path) -> Path:
    """The figure: a panel per curve (accuracy in % against severity), error bars = std over seeds, chance
    dotted. Empty panels say that their runs are missing."""
    labels = list(dict.fromkeys(spec.row_labels.get(r, r) for r in spec.rows))
    colours = {lab: f"C{i % 10}" for i, lab in enumerate(labels)}
    n = len(spec.curves)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(4.0 * ncols, 3.2 * nrows + 0.6))
    handles = {}
    for i, curve in enumerate(spec.curves):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        sub = frame[frame.curve == curve.name]
        for label in labels:
            pts = sub[sub.label == label].sort_values("severity")
            if pts.empty:
                continue
            std = pts["std"].fillna(0.0) * 100
            line = ax.errorbar(pts["severity"], pts["mean"] * 100, yerr=std, color=colours[label], marker="o",
                               markersize=4, capsize=2, linewidth=1.4, label=label)
            handles.setdefault(label, line)
            clean = pts[pts.clean]
            if not clean.empty:  # the unperturbed point: hollow, so it is not read as a measured severity
                ax.plot(clean["severity"], clean["mean"] * 100, "o", markersize=7, markerfacecolor="white",
                        color=colours[label])
        if spec.chance:
            ax.axhline(spec.chance * 100, color="grey", linestyle=":", linewidth=1)
        if sub.empty:
            ax.text(0.5, 0.5, "no runs yet", ha="center", va="center", transform=ax.transAxes, color="grey")
        ax.set_title(curve.name, fontsize=10)
        ax.set_xlabel(curve.xlabel, fontsize=9)
        ax.set_ylabel("accuracy (%)", fontsize=9)
        ax.set_ylim(0, 102)
        ax.set_xticks(sorted({*curve.values, *([curve.clean_at] if curve.clean_at is not None else [])}))
        if curve.invert:
            ax.invert_xaxis()
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(len(handles), 3),
                   fontsize=8, frameon=False)
    fig.suptitle(spec.title, fontsize=11)
    fig.tight_layout(rect=(0, 0.07 if handles else 0, 1, 0.95))
    return atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=110))


def write_curves(spec: ExperimentSpec, cells: dict[tuple[str, str], CellValue], out_dir: Path) -> list[tuple[Path, str]]:
    """Write ``<out_dir>/<id>.png`` and the points behind it, ``<out_dir>/<id>_points.csv``; return
    ``[(png path, caption)]`` (nothing for a spec without curves), as the results index lists figures."""
    if not spec.curves:
        return []
    out_dir = Path(out_dir)
    frame = curve_frame(spec, cells)
    atomic_write_text(out_dir / f"{spec.id}_points.csv", frame.to_csv(index=False))
    png = plot_curves(spec, frame, out_dir / f"{spec.id}.png")
    caption = (f"{spec.title}: accuracy vs severity per perturbation, mean ± std over seeds"
               + (" (hollow: unperturbed)" if spec.clean_column else "") + ".")
    return [(png, caption)]


def records_cells(spec: ExperimentSpec, root: Path, scale: str, seeds: list[int]) -> dict[tuple[str, str], CellValue]:
    """The spec's cells aggregated from the run records under ``root`` (``results/<scale>``)."""
    return {(c.row, c.column): cell_from_records(collect(root, c.job, scale, seeds), c.metric, c.percent)
            for c in spec.cells}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Draw the robustness curves of a spec from existing run records.")
    parser.add_argument("spec", help="a table spec with `curves`, e.g. specs/f7_robustness_curves.yaml")
    parser.add_argument("--results", default="results/cpu", help="the scale's results folder (default results/cpu)")
    parser.add_argument("--seeds", default="1000", help="comma-separated seeds (default 1000, the reproduction's)")
    parser.add_argument("--out", default=None, help="output folder (default <results>/figures)")
    args = parser.parse_args(argv)
    spec = load_spec(args.spec)
    if not spec.curves:
        parser.error(f"{args.spec} has no `curves`; pass a spec that declares them.")
    root = Path(args.results)
    cells = records_cells(spec, root, root.name, [int(s) for s in args.seeds.split(",")])
    for png, _ in write_curves(spec, cells, Path(args.out) if args.out else root / "figures"):
        print(png)


if __name__ == "__main__":
    main()
