"""Attribution checkpoints written without training: what ``AttributionModule.on_save_checkpoint`` writes, for a
small untrained attNet (smoke sizes: 3 sources, 32x32 greyscale)."""

from __future__ import annotations

from pathlib import Path

import torch

from ganprint.models.attnet import AttNet
from ganprint.models.module import AttributionModule

SOURCES = ["real", "synth0", "synth1"]
SPEC = {"num_classes": 3, "in_channels": 1, "resolution": 32, "fmap_base": 64, "fmap_max": 32,
        "fingerprint_dim": 32, "mode": "full", "switching_res": 4}


def untrained_module(seed: int = 0) -> AttributionModule:
    torch.manual_seed(seed)
    return AttributionModule(net=AttNet(**SPEC), source_names=SOURCES)


def write_ckpt(path: Path, spec=None, module_name="ganprint.models.module.AttributionModule", state=None, hparams=None):
    """Write a checkpoint at ``path``; each argument replaces one part to forge a broken one."""
    module = untrained_module()
    meta = {"format": 1, "kind": "attribution", "module": module_name, "source_names": SOURCES,
            "net": {"_target_": "ganprint.models.attnet.AttNet", **(spec if spec is not None else SPEC)}}
    torch.save({"ganprint": meta, "state_dict": state if state is not None else module.state_dict(),
                "hyper_parameters": hparams if hparams is not None else {"source_names": SOURCES, "hflip": True,
                                                                          "compile": False},
                "global_step": 6}, path)
    return path
