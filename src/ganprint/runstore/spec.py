"""Table specs (``specs/*.yaml``): which runs fill which cells of a table or which figure.

A spec names its rows and columns; a cell is the job ``entry`` run with ``common + row + column`` overrides,
optionally on a parent job's checkpoint (evaluation of a trained model, fine-tuning for immunization), and
reads one metric from its run records. Paper values travel with the spec, marked approximate where
``docs/paper.md`` §4 marks them so.

``curves`` (robustness curves) are severity sweeps written as columns: a curve names a config key (``param``,
e.g. ``perturb.std``) and its ``values``, and expands to one column per value (overrides: the curve's own plus
``param=value``); ``reporting/robustness.py`` draws accuracy against severity from those cells, one panel per
curve, one line per row (rows sharing a ``label`` share a line). A row's ``columns`` may name curves as well as
columns; ``clean`` names the column plotted at each curve's ``clean_at`` severity.

The keys a file may hold, their types and defaults are declared in ``runstore/spec_schema.py``, which checks a
file key by key; this module checks what spans keys (unique column names, ``clean``) and expands rows x columns
into cells and jobs. Plain data and parsing only (imports ``errors`` and ``runstore.spec_schema``):
``pipeline/`` plans runs from these specs and ``reporting/`` lays out their tables, so it sits below both and may
be imported by either.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ganprint.errors import ConfigError
from ganprint.runstore.spec_schema import (
    ENTRIES,
    ENTRY_CONFIG,
    ColumnEntry,
    CurveEntry,
    ParentEntry,
    SpecFile,
    read_spec_file,
)

__all__ = ["ENTRIES", "ENTRY_CONFIG", "Cell", "CurveSpec", "ExperimentSpec", "FigureSpec", "JobSpec", "is_accuracy",
           "load_spec", "load_specs", "merge_jobs", "seeds_for"]

@dataclass(frozen=True)
class JobSpec:
    """One configuration to run (per seed): an entry point and its overrides, maybe on a parent checkpoint."""

    entry: str
    overrides: tuple[str, ...]
    parent: JobSpec | None = None
    parent_arg: str = "ckpt"  # `ckpt` (evaluate a parent) or `init_ckpt` (fine-tune from it)
    # At least this many seeds (a row's `seeds:`), whatever the reproduction's `seeds`; not part of the job's
    # identity, so a job shared by two tables runs once, with the larger count.
    seeds: int = field(default=0, compare=False)

    def describe(self) -> dict[str, Any]:
        return {"entry": self.entry, "overrides": list(self.overrides), "parent_arg": self.parent_arg,
                "parent": self.parent.describe() if self.parent else None}


@dataclass
class Cell:
    row: str
    column: str
    job: JobSpec
    metric: str
    percent: bool = False


@dataclass
class FigureSpec:
    name: str
    job: JobSpec
    file: str          # path relative to the job's run directory
    caption: str = ""


@dataclass
class CurveSpec:
    """A severity sweep: ``columns[i]`` holds the cells at severity ``values[i]`` of config key ``param``."""

    name: str
    param: str
    values: list[float]
    columns: list[str]
    xlabel: str = ""
    clean_at: float | None = None   # the severity that equals no perturbation (noise 0, blur k=1), if any
    invert: bool = False            # draw the axis reversed (JPEG: a lower quality is a stronger perturbation)


@dataclass
class ExperimentSpec:
    id: str
    title: str
    path: Path
    paper_ref: str = ""
    description: str = ""
    chance: float | str | None = None    # a fraction, or "sources": 1 / the number of sources of its runs
    rows: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)
    figures: list[FigureSpec] = field(default_factory=list)
    paper: dict[str, dict[str, Any]] = field(default_factory=dict)
    paper_approx: bool = True
    notes: str = ""
    curves: list[CurveSpec] = field(default_factory=list)
    clean_column: str | None = None
    row_labels: dict[str, str] = field(default_factory=dict)   # legend label per row (default: its name)

    def jobs(self) -> list[JobSpec]:
        seen: dict[JobSpec, None] = {}
        for job in [c.job for c in self.cells] + [f.job for f in self.figures]:
            chain = []
            while job is not None:
                chain.append(job)
                job = job.parent
            for j in reversed(chain):  # parents first
                seen.setdefault(j, None)
        return list(seen)


def seeds_for(job: JobSpec, seeds: list[int]) -> list[int]:
    """The seeds a job runs: the reproduction's, extended from its first to the job's own minimum count."""
    if job.seeds <= len(seeds):
        return list(seeds)
    return [*seeds, *(seeds[0] + i for i in range(len(seeds), job.seeds))] if seeds else list(range(job.seeds))


def merge_jobs(jobs: list[JobSpec]) -> list[JobSpec]:
    """Each job once, in first-seen order, carrying the largest seed count any table asked of it."""
    merged: dict[JobSpec, JobSpec] = {}
    for job in jobs:
        if job not in merged or job.seeds > merged[job].seeds:
            merged[job] = job
    return list(merged.values())


def _job(entry: str, overrides: list[str], parent: ParentEntry | None, seeds: int = 0) -> JobSpec:
    """A job and its chain of parents; a parent's own ``common`` overrides go before its ``overrides``."""
    parent_job = None if parent is None else _job(parent.entry, [*parent.common, *parent.overrides], parent.parent)
    return JobSpec(entry, tuple(overrides), parent_job, parent.as_ if parent else "ckpt", seeds)


def _curve_columns(curves: list[CurveEntry]) -> tuple[list[CurveSpec], list[ColumnEntry]]:
    """Each curve as a CurveSpec and the columns (one per severity, named ``<curve> <param>=<value>``) it draws."""
    specs, columns = [], []
    for cur in curves:
        short = cur.param.rsplit(".", 1)[-1]
        names = [f"{cur.name} {short}={v}" for v in cur.values]
        columns += [ColumnEntry(name=n, overrides=[*cur.overrides, f"{cur.param}={v}"], metric=cur.metric, rows=cur.rows)
                    for n, v in zip(names, cur.values, strict=True)]
        specs.append(CurveSpec(cur.name, cur.param, [float(v) for v in cur.values], names,
                               cur.param if cur.xlabel is None else cur.xlabel,
                               None if cur.clean_at is None else float(cur.clean_at), cur.invert))
    return specs, columns


def is_accuracy(metric: str) -> bool:
    """Accuracies are shown in %: ``test/acc``, per-source ``test/acc_<source>``, ``openset/open_acc_<score>``."""
    name = metric.rsplit("/", 1)[-1]
    return name == "acc" or name.startswith("acc_") or "_acc" in name


def _cells(file: SpecFile, columns: list[ColumnEntry], curves: list[CurveSpec]) -> list[Cell]:
    """One cell per row and column the two allow: ``common + row + column`` overrides, on the row's parent."""
    by_curve = {c.name: c.columns for c in curves}
    cells = []
    for row in file.rows:
        # a row may name whole curves among its columns
        allowed = {c for n in row.columns for c in by_curve.get(n, [n])}
        parent = None if row.parent is None else dataclasses.replace(row.parent,
                                                                     common=[*file.common, *row.parent.common])
        for col in columns:
            if (col.rows and row.name not in col.rows) or (row.columns and col.name not in allowed):
                continue
            job = _job(row.entry or col.entry or file.entry, [*file.common, *row.overrides, *col.overrides], parent,
                       row.seeds)
            cells.append(Cell(row.name, col.name, job, col.metric,
                              is_accuracy(col.metric) if col.percent is None else col.percent))
    return cells


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML ({exc}); fix the file.") from exc


def load_spec(path: str | Path) -> ExperimentSpec:
    """Parse and check one spec file; errors name the file and key."""
    path = Path(path)
    where = str(path)
    file = read_spec_file(_read_yaml(path), where)
    curves, curve_columns = _curve_columns(file.curves)
    columns = [*file.columns, *curve_columns]
    names = [c.name for c in columns]
    if len(set(names)) < len(names):
        raise ConfigError(f"{where}: two columns (or curve points) share a name; rename one.")
    if file.clean and file.clean not in names:
        raise ConfigError(f"{where}: `clean: {file.clean}` names no column; name the unperturbed column.")
    spec = ExperimentSpec(
        id=file.id, title=file.title, path=path, paper_ref=file.paper_ref, description=file.description,
        chance=float(file.chance) if isinstance(file.chance, int | float) else file.chance,
        rows=[r.name for r in file.rows], columns=names if file.rows else [],
        cells=_cells(file, columns, curves), paper=file.paper.values, paper_approx=file.paper.approx,
        notes=file.notes, curves=curves, clean_column=file.clean or None,
        row_labels={r.name: r.label for r in file.rows if r.label},
        figures=[FigureSpec(f.name, _job(f.entry or file.entry, [*file.common, *f.overrides], None), f.file, f.caption)
                 for f in file.figures])
    if not spec.cells and not spec.figures:
        raise ConfigError(f"{where}: no rows x columns and no figures; a spec must say which runs fill it.")
    return spec


def load_specs(folder: str | Path, only: list[str] | None = None) -> list[ExperimentSpec]:
    files = sorted(Path(folder).glob("*.yaml"))
    specs = [load_spec(f) for f in files]
    if only:
        known = {s.id for s in specs}
        unknown = [o for o in only if o not in known]
        if unknown:
            raise ConfigError(f"unknown tables {unknown}; choose from {sorted(known)} (`tables=[...]`).")
        specs = [s for s in specs if s.id in only]
    return specs
