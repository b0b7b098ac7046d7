"""The reproduction: specs → runs → tables from run records; finished runs are skipped, gaps keep their reason."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from tests.helpers.hydra_cli import requires_fmnist, run_cli

from ganprint.pipeline.runs import job_key
from ganprint.pipeline.spec import load_spec, load_specs
from ganprint.utils.config import PROJECT_ROOT

MINI = {
    "id": "mini", "title": "mini table", "chance": 1 / 3, "common": ["sources=synthetic3"],
    "rows": [
        {"name": "kNN", "overrides": ["model=knn"]},
        {"name": "attNet", "overrides": ["model=attnet"]},
        {"name": "attNet, JPEG test", "entry": "evaluate", "overrides": ["perturb=jpeg"],
         "parent": {"entry": "train", "overrides": ["model=attnet"], "as": "ckpt"}},
    ],
    "columns": [{"name": "accuracy (%)", "metric": "test/acc"}, {"name": "FD ratio", "metric": "test/fd_ratio",
                                                                 "percent": False, "rows": ["kNN", "attNet"]}],
    "paper": {"approx": True, "values": {"attNet": {"accuracy (%)": 99.43}}},
}


def reproduce(exp_dir: Path, results: Path, *extra: str):
    return run_cli("reproduce", "scale=smoke", f"experiments_dir={exp_dir}", f"results_dir={results}",
                   f"job_overrides=['logger=none','paths.cache_dir={results}/cache']", f"hydra.run.dir={results}/log",
                   *extra, timeout=900)


@requires_fmnist
def test_mini_reproduction_builds_tables_skips_done_runs_and_shows_gaps(tmp_path):
    exp = tmp_path / "experiments"
    exp.mkdir()
    (exp / "mini.yaml").write_text(yaml.safe_dump(MINI))
    results = tmp_path / "results"
    reproduce(exp, results)
    root = results / "smoke"
    csv = pd.read_csv(root / "tables" / "mini.csv")
    assert set(csv["row"]) == {"kNN", "attNet", "attNet, JPEG test"}
    acc = csv[csv.column == "accuracy (%)"].set_index("row")["mean"]
    assert (acc > 0).all() and (acc <= 1).all() and len(acc) == 3
    assert csv[(csv.row == "attNet, JPEG test") & (csv.column == "FD ratio")].empty  # restricted column
    md = (root / "tables" / "mini.md").read_text()
    assert "≈99.43" in md and "Chance: 33.33 %" in md
    tex = (root / "tables" / "mini.tex").read_text()
    assert tex.count(r"\begin{") == tex.count(r"\end{") > 0
    assert pd.read_csv(io.StringIO(csv.to_csv(index=False))).equals(csv)
    prov = json.loads((root / "provenance.json").read_text())
    assert prov["git"]["commit"] and len(prov["runs"]) == 3 and all(s["wall_time_s"] >= 0 for s in prov["stages"])
    assert (root / "README.md").read_text().count("### mini") == 1

    # Second run: nothing to redo.
    proc = reproduce(exp, results)
    assert proc.stdout.count("skipped") + proc.stderr.count("skipped") == 3

    # A record deleted before aggregation is a gap with its reason (and reruns just that job).
    spec = load_spec(exp / "mini.yaml")
    knn_job = next(c.job for c in spec.cells if c.row == "kNN")
    record = root / "runs" / job_key(knn_job, "smoke") / "seed_1000" / "metrics.json"
    record.write_text(json.dumps({"status": "failed", "reason": "disk full (test)"}))
    reproduce(exp, results, "dry_run=true")
    md = (root / "tables" / "mini.md").read_text()
    assert re.search(r"\| kNN +\| — \(failed\)", md), md
    assert "- kNN / accuracy (%): failed: disk full (test)" in md


def test_every_shipped_spec_parses_and_names_existing_configs():
    specs = load_specs(PROJECT_ROOT / "experiments")
    assert {s.id for s in specs} >= {"t1_architectures", "t2_training_sets", "t3_seeds", "t4_frequency",
                                     "t5_patches", "t6_artifacts", "t7_immunization", "f2_fingerprints"}
    conf = PROJECT_ROOT / "conf"
    for spec in specs:
        for job in spec.jobs():
            for o in job.overrides:
                key, _, value = o.partition("=")
                if (conf / key).is_dir():
                    assert (conf / key / f"{value}.yaml").is_file(), f"{spec.path}: {o} names no config"


@pytest.mark.slow
@requires_fmnist
def test_full_smoke_reproduction_builds_every_table(tmp_path):
    results = tmp_path / "results"
    reproduce(PROJECT_ROOT / "experiments", results)
    for spec in load_specs(PROJECT_ROOT / "experiments"):
        if spec.cells:
            csv = pd.read_csv(results / "smoke" / "tables" / f"{spec.id}.csv")
            assert set(csv["row"]) == set(spec.rows)
            assert set(csv["column"]) == set(spec.columns)
            assert (csv["n"] == 1).mean() > 0.9, csv[csv["n"] != 1]
    shutil.rmtree(results / "smoke" / "runs")


@pytest.mark.slow
@requires_fmnist
def test_results_notebook_runs_on_a_reproduction(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    exp = tmp_path / "experiments"
    exp.mkdir()
    (exp / "mini.yaml").write_text(yaml.safe_dump(MINI))
    reproduce(exp, tmp_path / "results")
    monkeypatch.setenv("GANPRINT_RESULTS", str(tmp_path / "results" / "smoke"))
    nb = nbformat.read(PROJECT_ROOT / "notebooks" / "1.0-results-overview.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(PROJECT_ROOT / "notebooks")}}).execute()
    assert (tmp_path / "results" / "smoke" / "overview.png").is_file()
