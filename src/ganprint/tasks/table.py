"""The one table of ganprint's tasks: for each, its Hydra config, its task function, its command-line module and
its console script.

The shells (``ganprint/train.py``, ...) read their config name and task function from here; ``tasks/reproduce.py``
hands ``run_entry`` to the pipeline, which runs spec jobs through it without importing any task. The spec's
allowed entries (``runstore.spec.ENTRY_CONFIG``, plain data low enough for reporting to read) and the
``[project.scripts]`` of pyproject.toml are checked against this table by ``tests/test_task_table.py``.

Imports ``pipeline/`` and below; imported by ``tasks/reproduce.py`` and the command-line shells.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from ganprint.pipeline.runs import run_in_process
from ganprint.tasks.job import run_job


@dataclass(frozen=True)
class Task:
    config: str           # conf/<config>.yaml
    function: str         # "module:name" of the task function of a config, imported on first use
    shell: str            # the command-line module: ``python -m <shell>``
    script: str           # the console script, ``<shell>:main``

    def load(self) -> Callable[..., Any]:
        """The task function. Named by a string so that looking up one task does not import every other
        (Lightning, matplotlib, scikit-learn)."""
        module, name = self.function.split(":")
        return getattr(importlib.import_module(module), name)


TASKS: dict[str, Task] = {
    # entries a table spec may name (runstore.spec.ENTRY_CONFIG): the entry is also its shell's name
    "train": Task("train", "ganprint.tasks.train:train", "ganprint.train", "ganprint-train"),
    "evaluate": Task("eval", "ganprint.tasks.evaluate:evaluate", "ganprint.evaluate", "ganprint-eval"),
    "openset": Task("openset", "ganprint.tasks.openset:openset", "ganprint.openset", "ganprint-openset"),
    "train_gan": Task("train_gan", "ganprint.tasks.train_gan:train_gan", "ganprint.train_gan", "ganprint-gan"),
    # commands only
    "attribute": Task("attribute", "ganprint.tasks.attribute:attribute", "ganprint.attribute", "ganprint-attribute"),
    "audit": Task("audit", "ganprint.tasks.audit:audit", "ganprint.audit", "ganprint-audit"),
    "reproduce": Task("reproduce", "ganprint.tasks.reproduce:reproduce", "ganprint.reproduce", "ganprint-reproduce"),
}


def run_entry(entry: str, overrides: list[str], output_dir: Path, composed: Any = None) -> int:
    """Run one spec job in this process (``pipeline.runs.RunJob``): what ``tasks/reproduce.py`` hands the
    pipeline's launchers. Module-level, so it pickles by name into worker processes."""
    return run_in_process(entry, overrides, output_dir, composed, partial(run_job, task=TASKS[entry].load()))
