"""What a table spec file (``specs/*.yaml``) may hold: one dataclass per kind of entry, declaring
each key's type, default and the fix a user is told when a value does not fit, and :func:`read_spec_file`, which
checks parsed YAML against them.

Unknown keys, missing required keys, values of the wrong type and values outside their choices are refused in
one sentence that names the file, the key (with the row, column, curve or figure it sits in) and the fix. A key
left empty (``key:`` in YAML) takes its default. Checks that span several keys (unique column names, ``clean``
naming a column) and the expansion of rows x columns into jobs live in ``runstore/spec.py``, the only importer.
Plain data (imports ``errors`` only).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

from ganprint.errors import ConfigError

# The entry points a spec's job may name, each with the Hydra config it composes (conf/<name>.yaml). An entry
# is also the name of its command-line module (``python -m ganprint.<entry>``). Plain data so that this low
# package can check specs; tasks/table.py holds the full table of tasks and a test keeps the two in step.
ENTRY_CONFIG = {"train": "train", "evaluate": "eval", "openset": "openset", "train_gan": "train_gan"}
ENTRIES = tuple(ENTRY_CONFIG)

_OVERRIDES = "write a list of Hydra overrides such as [model=attnet, scale.max_epochs=2]"
_ENTRY = f"use one of {', '.join(ENTRIES)}"
_TEXT = "write a text"
_NAMES = "write a list of names"


def key(fix: str, default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING,
        yaml_key: str | None = None, choices: tuple = (), check: Callable[[Any], bool] | None = None) -> Any:
    """A spec key: its default (or ``factory``; neither: required), the fix told when its value does not fit,
    its name in YAML where that is no Python name, and optionally the values it may take or a test its (typed)
    value must pass."""
    return dataclasses.field(default=default, default_factory=factory,
                             metadata={"fix": fix, "key": yaml_key, "choices": choices, "check": check})


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


@dataclass(frozen=True)
class ParentEntry:
    """A job a row runs on top of: its best checkpoint is evaluated (``as: ckpt``) or fine-tuned (``init_ckpt``)."""

    entry: str = key(_ENTRY, "train", choices=ENTRIES)
    common: list[str] = key(_OVERRIDES, factory=list)
    overrides: list[str] = key(_OVERRIDES, factory=list)
    parent: ParentEntry | None = key("write a parent job (entry, overrides, as)", None)
    as_: str = key("use ckpt (evaluate the parent) or init_ckpt (fine-tune from it)", "ckpt", yaml_key="as",
                   choices=("ckpt", "init_ckpt"))


@dataclass(frozen=True)
class RowEntry:
    name: str = key("every row needs a name (a text)")
    overrides: list[str] = key(_OVERRIDES, factory=list)
    entry: str | None = key(_ENTRY, None, choices=ENTRIES)
    parent: ParentEntry | None = key("write a parent job (entry, overrides, as)", None)
    columns: list[str] = key(f"{_NAMES} (of columns or curves) this row fills", factory=list)
    label: str | None = key("write the row's line label in a figure", None)
    seeds: int = key("write a whole number of seeds (the least this row runs, whatever the reproduction's `seeds`)",
                     0, check=lambda n: n >= 0)


@dataclass(frozen=True)
class ColumnEntry:
    name: str = key("every column needs a name (a text)")
    overrides: list[str] = key(_OVERRIDES, factory=list)
    metric: str = key("write the run-record metric the column reads, such as test/acc", "test/acc")
    entry: str | None = key(_ENTRY, None, choices=ENTRIES)
    rows: list[str] = key(f"{_NAMES} (of rows) this column is filled for", factory=list)
    percent: bool | None = key("write true or false (default: true for accuracies)", None)


@dataclass(frozen=True)
class CurveEntry:
    name: str = key("every curve needs a name (a text)", check=bool)
    param: str = key("write a config key such as perturb.std (the severity; no `=`)",
                     check=lambda p: bool(p) and "=" not in p)
    values: list[float] = key("write a non-empty list of numbers (the severities)", check=bool)
    overrides: list[str] = key(_OVERRIDES, factory=list)
    metric: str = key("write the run-record metric the curve reads, such as test/acc", "test/acc")
    rows: list[str] = key(f"{_NAMES} (of rows) this curve is drawn for", factory=list)
    xlabel: str | None = key(_TEXT, None)
    clean_at: float | None = key("write the severity that equals no perturbation (a number)", None)
    invert: bool = key("write true or false", False)


@dataclass(frozen=True)
class FigureEntry:
    name: str = key("every figure needs a name (a text)")
    file: str = key("write the figure's path inside its job's run directory")
    overrides: list[str] = key(_OVERRIDES, factory=list)
    entry: str | None = key(_ENTRY, None, choices=ENTRIES)
    caption: str = key(_TEXT, "")


@dataclass(frozen=True)
class PaperEntry:
    approx: bool = key("write true where the paper's numbers are recollections, false where exact", True)
    values: dict[str, dict[str, Any]] = key("write the paper's number per row and then per column", factory=dict)


@dataclass(frozen=True)
class SpecFile:
    id: str = key("every spec needs an id and a title")
    title: str = key("every spec needs an id and a title")
    paper_ref: str = key(_TEXT, "")
    description: str = key(_TEXT, "")
    chance: Any = key("write a fraction between 0 and 1, or `sources` when it is 1 / the number of sources, which "
                      "the scale decides", None, check=lambda c: c == "sources" or (_is_number(c) and 0 < c < 1))
    notes: str = key(_TEXT, "")
    entry: str = key(_ENTRY, "train", choices=ENTRIES)
    common: list[str] = key(_OVERRIDES, factory=list)
    paper: PaperEntry = key("write a mapping with `values` (and `approx`)", factory=PaperEntry)
    rows: list[RowEntry] = key("write a list of rows, each with a `name`", factory=list)
    columns: list[ColumnEntry] = key("write a list of columns, each with a `name`", factory=list)
    curves: list[CurveEntry] = key("write a list of curves, each with a `name`, a `param` and `values`", factory=list)
    clean: str | None = key("name the unperturbed column", None)
    figures: list[FigureEntry] = key("write a list of figures, each with a `name` and a `file`", factory=list)


def read_spec_file(data: Any, where: str) -> SpecFile:
    """``data`` (a parsed spec file) as a :class:`SpecFile`; ``where`` names the file in errors."""
    return _read_entry(SpecFile, data, _Place(where), "write a mapping of spec keys (id, title, rows, columns, ...)")


@dataclass(frozen=True)
class _Place:
    """Where a value sits: the file, the key path and the named entry (row, column, ...) it belongs to."""

    where: str
    path: str = ""
    owner: str = ""

    def child(self, name: str) -> _Place:
        return _Place(self.where, f"{self.path}.{name}" if self.path else name, self.owner)

    def item(self, i: int, value: Any) -> _Place:
        kind = self.path.rsplit(".", 1)[-1].removesuffix("s")
        name = value.get("name") if isinstance(value, dict) else None
        if self.path in ("rows", "columns", "curves", "figures") and isinstance(name, str | int | float):
            return _Place(self.where, "", f"{kind} {str(name)!r}")
        return _Place(self.where, f"{self.path}[{i}]", self.owner)

    def refuse(self, message: str) -> ConfigError:
        return ConfigError(f"{self.where}: {message}.")

    def describe(self) -> str:
        if not self.path:
            return self.owner or "the spec"
        return f"`{self.path}`" + (f" of {self.owner}" if self.owner else "")

    def bad(self, value: Any, fix: str) -> ConfigError:
        return self.refuse(f"{self.describe()} is {value!r}; {fix}")


def _read_entry(cls: type, data: Any, at: _Place, fix: str) -> Any:
    if not isinstance(data, dict):
        raise at.bad(data, fix)
    fields = dataclasses.fields(cls)
    keys = {f.metadata["key"] or f.name: f for f in fields}
    unknown = [k for k in data if k not in keys]
    if unknown:
        where = f" in {at.describe()}" if at.path or at.owner else ""
        raise at.refuse(f"unknown key `{unknown[0]}`{where}; the keys here are {', '.join(keys)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in keys.items():
        if data.get(name) is None:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise at.refuse(f"{at.child(name).describe()} is missing; {f.metadata['fix']}")
            continue
        place, raw = at.child(name), data[name]
        value = _read(hints[f.name], raw, place, f.metadata["fix"])
        choices, check = f.metadata["choices"], f.metadata["check"]
        if (choices and value not in choices) or (check and not check(value)):
            raise place.bad(raw, f.metadata["fix"])
        values[f.name] = value
    return cls(**values)


def _read(tp: Any, value: Any, at: _Place, fix: str) -> Any:
    """``value`` checked against type ``tp``: scalars stay as written (numbers are not rounded, names become
    text), lists and mappings are read element by element, dataclasses key by key."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):  # `X | None`: an empty value never gets here
        return _read(next(a for a in args if a is not type(None)), value, at, fix)
    if dataclasses.is_dataclass(tp):
        return _read_entry(tp, value, at, fix)
    if origin is list:
        if not isinstance(value, list):
            raise at.bad(value, fix)
        return [_read(args[0], v, at.item(i, v), fix) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise at.bad(value, fix)
        return {_read(args[0], k, at, fix): _read(args[1], v, at.child(str(k)), fix) for k, v in value.items()}
    if tp is Any:
        return value
    if tp is str and isinstance(value, str | int | float):  # YAML reads `name: 2019` or `name: no` as non-text
        return str(value)
    if (tp is float and _is_number(value)) or (tp is int and isinstance(value, int) and not isinstance(value, bool)) \
            or (tp is bool and isinstance(value, bool)):
        return value
    raise at.bad(value, fix)
