"""The package installs: a built wheel carries its configs and table specs and runs its entry points from any
directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ganprint.utils.config import PROJECT_ROOT, SPECS_DIR


@pytest.mark.slow
def test_wheel_installs_and_composes_from_another_directory(tmp_path):
    # Build from a copy of what the wheel is made of, so the checkout gets no build/ or egg-info of ours.
    src = tmp_path / "src_tree"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT_ROOT / name, src / name)
    shutil.copytree(PROJECT_ROOT / "src", src / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    (src / "src" / "ganprint" / "conf" / "local" / "should_not_ship.yaml").write_text("{}\n")
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels), str(src)], check=True, capture_output=True, text=True, timeout=600)
    (wheel,) = wheels.glob("ganprint-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"ganprint/py.typed", "ganprint/conf/train.yaml", "ganprint/conf/model/attnet.yaml",
            "ganprint/conf/hydra/default.yaml", "ganprint/specs/t1_architectures.yaml"} <= names
    assert not any(n.startswith("ganprint/conf/local/") and n.endswith(".yaml") for n in names)

    # Install the wheel alone into a folder; its dependencies come from the running environment.
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "-q",
                    "--target", str(target), str(wheel)], check=True, capture_output=True, text=True,
                   timeout=600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    env.pop("GANPRINT_CONFIG_DIR", None)
    where = subprocess.run([sys.executable, "-c", "import ganprint.utils.config as c; print(c.CONFIG_DIR)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True, timeout=120)
    assert Path(where.stdout.strip()) == (target / "ganprint" / "conf").resolve()
    # the reproduction reads its table specs from the installed package, every one of them
    specs = subprocess.run([sys.executable, "-c", "from ganprint.runstore.spec import load_specs; "
                            "from ganprint.utils.config import SPECS_DIR; print(SPECS_DIR, len(load_specs(SPECS_DIR)))"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True, timeout=120)
    folder, count = specs.stdout.split()
    assert Path(folder) == (target / "ganprint" / "specs").resolve() and int(count) == len(list(SPECS_DIR.glob("*.yaml")))

    proc = subprocess.run([str(target / "bin" / "ganprint-train"), "--cfg", "job"], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for key in ("task_name: train", "model:", "sources:", "trainer:", "paths:"):
        assert key in proc.stdout, f"{key!r} missing from the composed config:\n{proc.stdout[:2000]}"
    assert not (elsewhere / "logs").exists()  # --cfg job prints and runs nothing
