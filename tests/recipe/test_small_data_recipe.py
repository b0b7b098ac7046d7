"""The cpu recipe converges on small user data: on a source set where DCT + ridge exceeds 95 %, attNet with the
scale's default recipe (no overrides) comes within 2 points of it, as the mean of three seeds: on these 1,500-image
test sets one seed swings by more than a point (interp5, fp32: 94.3 / 93.5 / 96.0 % for seeds 1000-1002), so a
single seed would pass or fail by luck.

The sets are real photographs against image pipelines (tests/recipe/upsampler_sets.py), 500 training images per
source, nothing from Fashion-MNIST or the GAN zoo. ``pipelines5`` was built after the recipe was chosen and is
never used to choose it; ``interp5`` was the development set, checked too so that a regression shows on both.
Slow (a few minutes each): `make test-full`.
"""

from __future__ import annotations

import json
import statistics
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers.hydra_cli import run_cli
from tests.recipe.upsampler_sets import SETS, build

COUNTS = ["scale.counts.train=500", "scale.counts.val=100", "scale.counts.test=300"]
SEEDS = (1000, 1001, 1002)


def _source_set(conf: Path, name: str, root: Path) -> None:
    members = "\n".join(f"  - {{_target_: ganprint.data.sources.FolderSource, name: {s}, root: '{root / s}'}}"
                        for s in SETS[name])
    (conf / "sources").mkdir(parents=True, exist_ok=True)
    (conf / "sources" / f"{name}.yaml").write_text(f"name: {name}\nmembers:\n  - ${{real}}\n{members}\n")


def _accuracy(tmp: Path, name: str, model: str, seed: int = 1000) -> float:
    out = tmp / f"run_{model}_{seed}"
    run_cli("train", "--config-dir", str(tmp / "conf"), "data=folders", f"data_root={tmp / 'data' / 'real'}",
            f"sources={name}", f"model={model}", "logger=none", f"hydra.run.dir={out}",
            f"paths.cache_dir={tmp / 'cache'}", f"seed={seed}", *COUNTS, timeout=1800)
    record = json.loads((out / "metrics.json").read_text())
    assert record["status"] == "ok", record.get("reason")
    return float(record["metrics"]["test/acc"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pipelines5", "interp5"])
def test_attnet_within_two_points_of_dct_on_small_data(tmp_path: Path, name: str) -> None:
    build(name, tmp_path / "data")
    _source_set(tmp_path / "conf", name, tmp_path / "data")
    dct = _accuracy(tmp_path, name, "dct_ridge")  # deterministic: its ridge strength is chosen on validation
    assert dct > 0.95, f"the set no longer separates by pixel statistics (DCT + ridge {dct:.3f}); it tests nothing"
    with ThreadPoolExecutor(2) as pool:  # one torch thread each (run_cli), two cores; DCT's run filled the cache
        attnet = list(pool.map(lambda s: _accuracy(tmp_path, name, "attnet", s), SEEDS))
    mean = statistics.mean(attnet)
    print(f"{name}: DCT + ridge {dct:.4f}, attNet {mean:.4f} (seeds {', '.join(f'{a:.4f}' for a in attnet)})")
    assert mean >= dct - 0.02, f"attNet {mean:.3f} (mean of seeds {SEEDS}: {attnet}) vs DCT + ridge {dct:.3f} on {name}"
