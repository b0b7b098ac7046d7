"""Whether a Lightning ``precision`` setting runs natively on the machine at hand (bf16 on CPU needs hardware support).

The cpu scale trains in ``bf16-mixed`` because this project's 2-core reference machine has AVX512-BF16: conv and
matmul run at about twice the fp32 rate there (docs/cpu-recipe.md, "bf16 on the CPU"). A CPU without native bf16
computes it by conversion, slower than fp32; the numbers stay valid, so this warns rather than refuses. Bottom
layer: anything in the package may import it.
"""

from __future__ import annotations

import functools
import logging

import torch

log = logging.getLogger(__name__)


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when oneDNN reports bf16 instructions (AVX512-BF16 or AMX) on this CPU."""
    probe = getattr(getattr(torch.ops, "mkldnn", None), "_is_mkldnn_bf16_supported", None)
    if probe is not None:
        try:
            return bool(probe())
        except RuntimeError:
            pass
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def warn_if_emulated(precision: str | int | None, accelerator: str | None, key: str = "scale.precision") -> bool:
    """Log a warning (once per process) when ``precision`` asks for bf16 on a CPU that lacks it; True if so."""
    on_cpu = str(accelerator or "cpu") == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    if not (on_cpu and "bf16" in str(precision) and not cpu_has_native_bf16()):
        return False
    _warn_once(str(precision), key)
    return True


@functools.cache
def _warn_once(precision: str, key: str) -> None:
    log.warning("precision %s on a CPU without native bf16 (AVX512-BF16 or AMX) runs emulated, slower than fp32; "
                "set %s=32-true (conf/scale/) for speed on this machine.", precision, key)
