"""`ganprint-eval`: evaluate a checkpoint on a source set (optionally perturbed), write the run record.

Without a ``scale=`` override the checkpoint's own scale is used (read from the run that wrote it): evaluating a
smoke-scale checkpoint at the default cpu scale would silently change the test set, or refuse its resolution."""

import sys

import hydra
from omegaconf import DictConfig

from ganprint.tasks.job import refuse_finished_run_dir, run_job
from ganprint.tasks.table import TASKS
from ganprint.utils.config import CONFIG_DIR

TASK = TASKS["evaluate"]


def scale_from_checkpoint_argv(argv: list[str]) -> list[str]:
    """``argv`` with ``scale=<the checkpoint's training scale>`` added when it names one checkpoint
    (``ckpt=PATH``) and chooses no scale itself; unchanged otherwise (a sweep over checkpoints included)."""
    args = argv[1:]
    if any(a.startswith(("scale=", "+scale=", "++scale=")) for a in args):
        return argv
    ckpts = [a.split("=", 1)[1] for a in args if a.startswith("ckpt=")]
    if len(ckpts) != 1 or "," in ckpts[0] or ckpts[0].startswith(("glob(", "range(", "choice(")):
        return argv
    from ganprint.utils.run_record import training_config

    config = training_config(ckpts[0].strip("'\""))
    name = ((config or {}).get("scale") or {}).get("name")
    if not isinstance(name, str) or not name.isidentifier():
        return argv
    print(f"ganprint-eval: scale={name}, the scale {ckpts[0]} was trained at (pass scale=... to choose another)",
          file=sys.stderr)
    return [argv[0], f"scale={name}", *args]


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=TASK.config)
def _main(cfg: DictConfig) -> None:
    run_job(cfg, TASK.load())


def main() -> None:
    refuse_finished_run_dir(sys.argv)
    sys.argv = scale_from_checkpoint_argv(sys.argv)
    _main()


if __name__ == "__main__":
    main()
