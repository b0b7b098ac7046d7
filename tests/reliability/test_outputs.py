"""Issue 18, cases 7 and 11 and the noise on every run: a dry run writes nothing, outputs get the process
umask (not mkstemp's 0600), and Lightning's tips and expected warnings stay out of the user's terminal."""

from __future__ import annotations

import logging
import os
import stat
import warnings

import pytest
import yaml
from tests.helpers.hydra_cli import compose_cfg

from ganprint.tasks.reproduce import reproduce
from ganprint.tasks.train import publish_best
from ganprint.utils.atomic import atomic_write_json, process_umask
from ganprint.utils.quiet import silence_lightning_noise

SPEC = {"id": "mini", "title": "mini", "common": ["sources=synthetic3"], "chance": 1 / 3,
        "rows": [{"name": "kNN", "overrides": ["model=knn"]}],
        "columns": [{"name": "accuracy (%)", "metric": "test/acc"}]}


def snapshot(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_dry_run_writes_nothing(tmp_path):
    """Before: it overwrote results/<scale>/provenance.json (losing the phase times) and the index."""
    exp, results = tmp_path / "specs", tmp_path / "results"
    exp.mkdir()
    (exp / "mini.yaml").write_text(yaml.safe_dump(SPEC))
    root = results / "smoke"
    root.mkdir(parents=True)
    (root / "provenance.json").write_text('{"phase_wall_time_s": {"jobs": 1234.5}}\n')
    (root / "README.md").write_text("# the index of the last real reproduction\n")
    before = snapshot(results)
    cfg = compose_cfg("reproduce", tmp_path / "log", ["scale=smoke", f"specs_dir={exp}",
                                                      f"results_dir={results}", "dry_run=true"])
    out = reproduce(cfg)
    assert out["dry_run"] and out["index"] is None
    assert [st["seeds_run"] for st in out["stages"]] == [[1000]]   # what would run is still reported
    assert snapshot(results) == before


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_outputs_follow_the_process_umask(tmp_path, umask):
    """Before: every atomically written file (metrics.json, manifest.csv, attributions.*, best.ckpt) was 0600."""
    old = os.umask(umask)
    try:
        assert process_umask() == umask
        record = atomic_write_json(tmp_path / "metrics.json", {"status": "ok"})
        epoch = tmp_path / "epoch_001.ckpt"
        epoch.write_bytes(b"weights")
        best = publish_best(epoch)
    finally:
        os.umask(old)
    for path in (record, best):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path.name
    assert best.read_bytes() == b"weights"


def test_lightning_noise_is_silenced(caplog):
    silence_lightning_noise()
    silence_lightning_noise()   # twice: one filter, not two
    lightning = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    assert len(lightning.filters) == 1
    # a handler on the logger itself: another test may have stopped this logger propagating to caplog's
    seen: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: seen.append(record.getMessage())
    lightning.addHandler(handler)
    level = lightning.level
    lightning.setLevel(logging.INFO)
    try:
        lightning.info("💡 Tip: For seamless cloud logging, try installing litlogger")
        lightning.info("GPU available: False, used: False")
    finally:
        lightning.removeHandler(handler)
        lightning.setLevel(level)
    assert seen == ["GPU available: False, used: False"]
    with warnings.catch_warnings(record=True) as caught:
        silence_lightning_noise()
        warnings.warn("Checkpoint directory /x/checkpoints exists and is not empty.", UserWarning, stacklevel=1)
        warnings.warn("something new", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something new"]
