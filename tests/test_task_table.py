"""The table of tasks (``ganprint/tasks/table.py``) agrees with everything that names a task: the console scripts
of pyproject.toml, the entries a table spec may name (``runstore.spec.ENTRY_CONFIG``, with the config
each composes), the config files, the shell modules and the task functions. Read from source, no task imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import tomllib

import ganprint
from ganprint.runstore.spec import ENTRIES, ENTRY_CONFIG
from ganprint.tasks.table import TASKS
from ganprint.utils.config import CONFIG_DIR, PROJECT_ROOT

PACKAGE_DIR = Path(ganprint.__file__).resolve().parent.parent


def source_of(module: str) -> Path:
    return PACKAGE_DIR.joinpath(*module.split(".")).with_suffix(".py")


def defines(module: str, name: str) -> bool:
    tree = ast.parse(source_of(module).read_text())
    return any(isinstance(n, ast.FunctionDef) and n.name == name for n in tree.body)


def test_console_scripts_are_the_table():
    scripts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {t.script: f"{t.shell}:main" for t in TASKS.values()}


def test_spec_entries_are_tasks_with_their_configs():
    assert set(ENTRIES) == set(ENTRY_CONFIG) and set(ENTRIES) <= set(TASKS)
    assert {e: TASKS[e].config for e in ENTRIES} == ENTRY_CONFIG
    # the multirun launcher starts a spec job as ``python -m ganprint.<entry>``
    assert all(TASKS[e].shell == f"ganprint.{e}" for e in ENTRIES)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_each_task_exists(name):
    task = TASKS[name]
    assert defines(task.shell, "main"), f"{task.shell} has no main()"
    assert (CONFIG_DIR / f"{task.config}.yaml").is_file()
    module, function = task.function.split(":")
    assert defines(module, function), f"{task.function} is not defined"
    assert f"TASKS[{name!r}]".replace("'", '"') in source_of(task.shell).read_text(), \
        f"{task.shell} should take its config and task from TASKS[{name!r}]"


def test_run_entry_pickles_by_name():
    """Worker processes receive the job runner pickled: it must be a module-level function."""
    import pickle

    from ganprint.tasks.table import run_entry

    assert pickle.loads(pickle.dumps(run_entry)) is run_entry
