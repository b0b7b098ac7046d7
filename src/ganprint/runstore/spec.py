"""Experiment specs (``experiments/*.yaml``): which runs fill which cells of a table or which figure.

A spec names its rows and columns; a cell is the job ``entry`` run with ``common + row + column`` overrides,
optionally on a parent job's checkpoint (evaluation of a trained model, fine-tuning for immunization), and
reads one metric from its run records. Paper values travel with the spec, marked approximate where
``docs/paper.md`` §4 marks them so.

``curves`` (robustness curves) are severity sweeps written as columns: a curve names a config key (``param``,
e.g. ``perturb.std``) and its ``values``, and expands to one column per value (overrides: the curve's own plus
``param=value``); ``reporting/robustness.py`` draws accuracy against severity from those cells, one panel per
curve, one line per row (rows sharing a ``label`` share a line). A row's ``columns`` may name curves as well as
columns; ``clean`` names the column plotted at each curve's ``clean_at`` severity.

Plain data and parsing only (imports ``errors`` and ``utils``): ``pipeline/`` plans runs from these specs and
``reporting/`` lays out their tables, so it sits below both and may be imported by either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ganprint.errors import ConfigError

# The entry points a spec's job may name, each with the Hydra config it composes (conf/<name>.yaml). An entry
# is also the name of its command-line module (``python -m ganprint.<entry>``). Plain data so that this low
# package can check specs; tasks/table.py holds the full table of tasks and a test keeps the two in step.
ENTRY_CONFIG = {"train": "train", "evaluate": "eval", "openset": "openset", "train_gan": "train_gan"}
ENTRIES = tuple(ENTRY_CONFIG)


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


def _job(entry: str, overrides: list[str], parent: dict | None, where: str, seeds: int = 0) -> JobSpec:
    if entry not in ENTRIES:
        raise ConfigError(f"{where}: unknown entry {entry!r}; use one of {ENTRIES}.")
    parent_job = None
    parent_arg = "ckpt"
    if parent:
        parent_job = _job(parent.get("entry", "train"), [*parent.get("common", []), *parent.get("overrides", [])],
                          parent.get("parent"), where)
        parent_arg = parent.get("as", "ckpt")
        if parent_arg not in ("ckpt", "init_ckpt"):
            raise ConfigError(f"{where}: parent `as` must be ckpt or init_ckpt, not {parent_arg!r}.")
    return JobSpec(entry, tuple(str(o) for o in overrides), parent_job, parent_arg, int(seeds))


def _curve_columns(data: dict, where: str) -> tuple[list[CurveSpec], list[dict]]:
    """Expand ``curves`` into CurveSpecs and the plain column dicts (one per severity) that fill them."""
    curves, columns = [], []
    for i, cur in enumerate(data.get("curves") or []):
        name, param, values = cur.get("name"), cur.get("param"), cur.get("values")
        if not name or not param or "=" in str(param):
            raise ConfigError(f"{where}: curves[{i}] needs a `name` and a `param` (a config key such as perturb.std).")
        if not isinstance(values, list) or not values or \
                not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise ConfigError(f"{where}: curve {name!r} needs `values`, a non-empty list of numbers (severities).")
        short = str(param).rsplit(".", 1)[-1]
        names = [f"{name} {short}={v}" for v in values]
        for col, v in zip(names, values, strict=True):
            columns.append({"name": col, "overrides": [*cur.get("overrides", []), f"{param}={v}"],
                            "metric": cur.get("metric", "test/acc"), **({"rows": cur["rows"]} if cur.get("rows") else {})})
        clean_at = cur.get("clean_at")
        curves.append(CurveSpec(str(name), str(param), [float(v) for v in values], names,
                                str(cur.get("xlabel", param)), None if clean_at is None else float(clean_at),
                                bool(cur.get("invert", False))))
    return curves, columns


def is_accuracy(metric: str) -> bool:
    """Accuracies are shown in %: ``test/acc``, per-source ``test/acc_<source>``, ``openset/open_acc_<score>``."""
    name = metric.rsplit("/", 1)[-1]
    return name == "acc" or name.startswith("acc_") or "_acc" in name


def _chance(value: Any, where: str) -> float | str | None:
    if value is None or value == "sources":
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1:
        return float(value)
    raise ConfigError(f"{where}: `chance` is {value!r}; write a fraction between 0 and 1, or `sources` when it is "
                      f"1 / the number of sources, which the scale decides.")


def load_spec(path: str | Path) -> ExperimentSpec:
    """Parse and check one spec file; errors name the file and key."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML ({exc}); fix the file.") from exc
    where = str(path)
    for key in ("id", "title"):
        if key not in data:
            raise ConfigError(f"{where}: missing `{key}`; every spec needs id and title.")
    spec = ExperimentSpec(id=str(data["id"]), title=str(data["title"]), path=path,
                          paper_ref=str(data.get("paper_ref", "")), description=str(data.get("description", "")),
                          chance=_chance(data.get("chance"), where), notes=str(data.get("notes", "")))
    common = list(data.get("common", []))
    default_entry = data.get("entry", "train")
    paper = data.get("paper") or {}
    spec.paper_approx = bool(paper.get("approx", True))
    spec.paper = {str(k): dict(v) for k, v in (paper.get("values") or {}).items()}
    spec.curves, curve_columns = _curve_columns(data, where)
    columns = [*(data.get("columns") or []), *curve_columns]
    if len({str(c["name"]) for c in columns}) < len(columns):
        raise ConfigError(f"{where}: two columns (or curve points) share a name; rename one.")
    by_curve = {c.name: c.columns for c in spec.curves}
    spec.clean_column = str(data["clean"]) if data.get("clean") else None
    if spec.clean_column and spec.clean_column not in {str(c["name"]) for c in columns}:
        raise ConfigError(f"{where}: `clean: {spec.clean_column}` names no column; name the unperturbed column.")
    for row in data.get("rows") or []:
        spec.rows.append(str(row["name"]))
        if row.get("label"):
            spec.row_labels[str(row["name"])] = str(row["label"])
        # a row may name whole curves among its columns
        allowed = {c for n in row.get("columns") or [] for c in by_curve.get(n, [n])}
        for col in columns:
            if str(col["name"]) not in spec.columns:
                spec.columns.append(str(col["name"]))
            if (col.get("rows") and row["name"] not in col["rows"]) or \
                    (row.get("columns") and col["name"] not in allowed):
                continue
            overrides = [*common, *row.get("overrides", []), *col.get("overrides", [])]
            parent = row.get("parent")
            if parent is not None:
                parent = {**parent, "common": [*common, *parent.get("common", [])]}
            seeds = row.get("seeds", 0)
            if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 0:
                raise ConfigError(f"{where}: row {row['name']!r} has `seeds: {seeds!r}`; write a whole number of "
                                  "seeds (the least this row runs, whatever the reproduction's `seeds`).")
            job = _job(row.get("entry", col.get("entry", default_entry)), overrides, parent, where, seeds)
            spec.cells.append(Cell(str(row["name"]), str(col["name"]), job, str(col.get("metric", "test/acc")),
                                   bool(col.get("percent", is_accuracy(str(col.get("metric", "test/acc")))))))
    for fig in data.get("figures") or []:
        job = _job(fig.get("entry", default_entry), [*common, *fig.get("overrides", [])], None, where)
        spec.figures.append(FigureSpec(str(fig["name"]), job, str(fig["file"]), str(fig.get("caption", ""))))
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
