"""`ganprint-attribute ckpt=... input=<file|folder|glob>`: say which source made each image.

The input may also be given as a plain path, with no Hydra quoting: ``ganprint-attribute PATH ckpt=...`` (a
first argument that is not an override) or ``--input PATH`` anywhere. File names holding ``( , = ' $`` need
quoting as ``input=`` values; a plain path is quoted here, exactly."""

import os
import re
import sys

import hydra
from omegaconf import DictConfig

from ganprint.tasks.job import refuse_finished_run_dir, run_job
from ganprint.tasks.table import TASKS
from ganprint.utils.config import CONFIG_DIR

TASK = TASKS["attribute"]


def hydra_quote(value: str) -> str:
    """``value`` as a single-quoted Hydra override value that parses back to exactly ``value``.

    Hydra unescapes only backslashes that precede a quote or end the string, and OmegaConf still resolves
    ``${...}`` inside quotes, so those three are escaped and nothing else."""
    escaped = re.sub(r"(\\*)('|$)", lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), value)
    return "'" + escaped.replace("${", "\\${") + "'"


def plain_input_argv(argv: list[str]) -> list[str]:
    """``argv`` with a plain input path (``--input PATH``, ``--input=PATH`` or a first argument that names an
    existing path or holds no ``=`` and no leading ``-``) turned into the override ``input='PATH'``."""
    args, out, i = argv[1:], [argv[0]], 0
    while i < len(args):
        a = args[i]
        if a == "--input" and i + 1 < len(args):
            out.append("input=" + hydra_quote(args[i + 1]))
            i += 2
            continue
        if a.startswith("--input="):
            out.append("input=" + hydra_quote(a.removeprefix("--input=")))
        elif i == 0 and not a.startswith("-") and (os.path.lexists(a) or "=" not in a):
            out.append("input=" + hydra_quote(a))
        else:
            out.append(a)
        i += 1
    return out


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=TASK.config)
def _main(cfg: DictConfig) -> None:
    run_job(cfg, TASK.load())


def main() -> None:
    refuse_finished_run_dir(sys.argv)
    sys.argv = plain_input_argv(sys.argv)
    _main()


if __name__ == "__main__":
    main()
