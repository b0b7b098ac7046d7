"""DDP under a Hydra multirun: one output directory and one wandb run per job.

Lightning's ``ddp`` strategy starts the extra ranks by re-running the command line with the job's run
directory appended. Inside a multirun that command line still carries ``-m`` and the whole sweep, so each rank
would launch the sweep again and write elsewhere (ashleve/lightning-hydra-template #393, Lightning #11300).
Before fitting, each multirun job therefore rewrites ``sys.argv`` to a single run of itself — its own task
overrides — and points Hydra's run directory at the job's output directory, which Lightning hands to the ranks.
On SLURM (submitit) the ranks are started by srun instead and none of this is needed.
"""

from __future__ import annotations

import logging
import sys

from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from ganprint.utils.config import in_multirun

log = logging.getLogger("ganprint")


def single_run_argv_for_ranks(world_size: int) -> bool:
    """Make Lightning's subprocess launcher start this job's ranks as single runs; True if it changed argv."""
    if world_size <= 1 or not in_multirun():
        return False
    hc = HydraConfig.get()
    overrides = [o for o in hc.overrides.task]
    sys.argv = [sys.argv[0], *overrides]
    with open_dict(hc):
        hc.run.dir = hc.runtime.output_dir
    log.info("DDP inside a multirun: ranks will run `%s` in %s", " ".join(overrides), hc.runtime.output_dir)
    return True
