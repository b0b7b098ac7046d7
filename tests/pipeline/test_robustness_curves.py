"""Robustness curves: spec ``curves`` expand to severity columns, the shipped t7/f7 specs compose and share their
fine-tuned models, and the figure is drawn from run records with the numbers those records hold."""

from __future__ import annotations

import json
import math
from pathlib import Path

import hydra
import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from ganprint.errors import ConfigError
from ganprint.pipeline.runs import job_overrides
from ganprint.reporting.aggregate import CellValue
from ganprint.reporting.robustness import curve_frame, main, records_cells, write_curves
from ganprint.runstore.spec import ENTRY_CONFIG, load_spec, load_specs
from ganprint.runstore.store import run_dir
from ganprint.transforms.adversarial import PGDAttack
from ganprint.utils.config import CONFIG_DIR, SPECS_DIR
from ganprint.utils.run_record import RECORD_NAME

CURVES = {
    "id": "mini_curves", "title": "mini curves", "chance": 0.5, "entry": "evaluate", "common": ["sources=synthetic3"],
    "clean": "clean",
    "rows": [
        {"name": "base", "label": "w/o", "parent": {"entry": "train", "overrides": ["model=attnet"], "as": "ckpt"}},
        {"name": "immunized noise", "label": "with", "columns": ["noise"],
         "parent": {"entry": "train", "overrides": ["model=attnet", "perturb=noise", "data.train_perturb=${perturb}"],
                    "as": "ckpt"}},
        {"name": "adversarial", "label": "with", "columns": ["clean", "PGD"],
         "parent": {"entry": "train", "overrides": ["model=attnet", "attack=pgd", "attack.train=true"], "as": "ckpt"}},
    ],
    "columns": [{"name": "clean", "overrides": ["perturb=none"]}],
    "curves": [
        {"name": "noise", "overrides": ["perturb=noise"], "param": "perturb.std", "values": [5, 20], "clean_at": 0},
        {"name": "JPEG", "overrides": ["perturb=jpeg"], "param": "perturb.quality", "values": [75, 10], "invert": True},
        {"name": "PGD", "overrides": ["attack=pgd"], "param": "attack.eps", "values": [2, 8], "clean_at": 0},
    ],
}


def write_spec(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / f"{data['id']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_curves_expand_to_one_column_per_severity_and_rows_may_name_curves(tmp_path):
    spec = load_spec(write_spec(tmp_path, CURVES))
    assert spec.columns == ["clean", "noise std=5", "noise std=20", "JPEG quality=75", "JPEG quality=10",
                            "PGD eps=2", "PGD eps=8"]
    assert [(c.name, c.values, c.clean_at, c.invert) for c in spec.curves] == [
        ("noise", [5.0, 20.0], 0.0, False), ("JPEG", [75.0, 10.0], None, True), ("PGD", [2.0, 8.0], 0.0, False)]
    by_row = {r: [c.column for c in spec.cells if c.row == r] for r in spec.rows}
    assert by_row == {"base": spec.columns, "immunized noise": ["noise std=5", "noise std=20"],
                      "adversarial": ["clean", "PGD eps=2", "PGD eps=8"]}
    cell = next(c for c in spec.cells if (c.row, c.column) == ("base", "PGD eps=8"))
    assert cell.job.overrides == ("sources=synthetic3", "attack=pgd", "attack.eps=8") and cell.metric == "test/acc"
    assert cell.percent and spec.clean_column == "clean"
    assert spec.row_labels == {"base": "w/o", "immunized noise": "with", "adversarial": "with"}
    assert len(spec.jobs()) == 3 + len(spec.cells)  # three trained parents, one evaluation per cell


@pytest.mark.parametrize(("change", "match"), [
    ({"curves": [{"name": "noise", "param": "perturb.std", "values": []}]}, "non-empty list of numbers"),
    ({"curves": [{"name": "noise", "param": "perturb.std=5", "values": [5]}]}, "config key"),
    ({"clean": "unperturbed"}, "names no column"),
    ({"curves": [*CURVES["curves"], CURVES["curves"][0]]}, "share a name"),
])
def test_bad_curves_name_the_key_to_fix(tmp_path, change, match):
    with pytest.raises(ConfigError, match=match):
        load_spec(write_spec(tmp_path, {**CURVES, **change}))


def test_shipped_f7_shares_every_fine_tuned_model_with_t7():
    t7, f7 = (next(s for s in load_specs(SPECS_DIR) if s.id == i)
              for i in ("t7_immunization", "f7_robustness_curves"))
    t7_train = {j for j in t7.jobs() if j.entry == "train"}
    f7_train = {j for j in f7.jobs() if j.entry == "train"}
    # base attNet + 5 same-perturbation fine-tunes + seen + adversarial: all already t7's runs
    assert len(f7_train) == 8 and f7_train <= t7_train
    assert [c.name for c in f7.curves] == ["noise", "blur", "crop", "JPEG", "relight", "PGD"]
    assert all(3 <= len(c.values) <= 4 for c in f7.curves)
    assert len(f7.cells) <= 64  # evaluations only; each reuses a checkpoint
    seen = {c.column for c in t7.cells if c.row == "attNet immunized on seen (noise+blur+JPEG)"}
    assert seen == set(t7.columns)  # the seen model is tested on every column, unseen crop/relight included
    pgd = {c.row: c.job for c in t7.cells if c.column == "PGD"}
    assert set(pgd) == {"attNet w/o immunization", "attNet immunized on seen (noise+blur+JPEG)",
                        "attNet adversarially fine-tuned (PGD)"}
    # PGD evaluations cost ~10 forward/backward passes: t7's column is f7's eps=8 point, run once
    f7_pgd8 = {c.row: c.job for c in f7.cells if c.column == "PGD eps=8"}
    assert f7_pgd8["attNet w/o immunization"] == pgd["attNet w/o immunization"]
    assert f7_pgd8["attNet adversarially fine-tuned (PGD)"] == pgd["attNet adversarially fine-tuned (PGD)"]


def test_shipped_t7_and_f7_jobs_compose_with_their_severities(tmp_path):
    """Every training job of both specs, and one evaluation per f7 curve, compose and instantiate as run."""
    t7, f7 = (next(s for s in load_specs(SPECS_DIR) if s.id == i)
              for i in ("t7_immunization", "f7_robustness_curves"))
    jobs = [j for j in t7.jobs() if j.entry == "train"]
    last_points = {c.columns[-1]: c for c in f7.curves}
    evals = {c.column: c.job for c in f7.cells if c.row == "attNet w/o immunization" and c.column in last_points}
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            for job in jobs:
                cfg = compose(ENTRY_CONFIG[job.entry], overrides=job_overrides(job, tmp_path, "smoke", 1000))
                if "attack.train=true" in job.overrides:
                    attack = hydra.utils.instantiate(cfg.model.attack)
                    assert isinstance(attack, PGDAttack) and attack.train and attack.steps == 5
            for column, job in evals.items():
                curve = last_points[column]
                cfg = compose("eval", overrides=job_overrides(job, tmp_path, "cpu", 1000))
                assert cfg.ckpt.endswith("best.ckpt")
                if curve.name == "PGD":
                    assert hydra.utils.instantiate(cfg.attack).eps == curve.values[-1]
                    continue
                key = curve.param.split(".", 1)[1]
                perturb = hydra.utils.instantiate(cfg.perturb)
                drawn = {float(perturb.params_for(s, (32, 32, 1))[key]) for s in range(5)}
                assert drawn == {curve.values[-1]}, (column, drawn)
    finally:
        GlobalHydra.instance().clear()


def cells_for(spec, values: dict[tuple[str, str], list[float]]) -> dict[tuple[str, str], CellValue]:
    return {k: CellValue(values=v, percent=True) for k, v in values.items()}


def test_curve_points_carry_the_cells_numbers_clean_at_and_labels(tmp_path):
    spec = load_spec(write_spec(tmp_path, CURVES))
    cells = cells_for(spec, {("base", "clean"): [0.9, 1.0], ("base", "noise std=5"): [0.8], ("base", "noise std=20"): [0.4],
                             ("immunized noise", "noise std=5"): [0.85], ("immunized noise", "noise std=20"): [0.7],
                             ("adversarial", "clean"): [0.88], ("adversarial", "PGD eps=2"): [0.8],
                             ("adversarial", "PGD eps=8"): [0.6], ("base", "PGD eps=2"): [0.3],
                             ("base", "PGD eps=8"): [0.0]})
    frame = curve_frame(spec, cells)
    noise = frame[frame.curve == "noise"].set_index(["row", "severity"])
    assert noise.loc[("base", 0.0), "mean"] == pytest.approx(0.95) and bool(noise.loc[("base", 0.0), "clean"])
    assert noise.loc[("base", 0.0), "std"] == pytest.approx(math.sqrt(0.005)) and noise.loc[("base", 0.0), "n"] == 2
    assert noise.loc[("immunized noise", 20.0), "mean"] == 0.7 and noise.loc[("immunized noise", 20.0), "label"] == "with"
    assert ("immunized noise", 0.0) not in noise.index  # that row has no clean cell
    pgd = frame[frame.curve == "PGD"]
    assert set(pgd.row) == {"base", "adversarial"} and len(pgd) == 6
    assert frame[frame.curve == "JPEG"].empty  # no JPEG runs yet: an empty panel, not an error

    (png, caption), = write_curves(spec, cells, tmp_path / "figures")
    assert png == tmp_path / "figures" / "mini_curves.png" and "severity" in caption
    with Image.open(png) as im:
        assert im.width > 600 and im.height > 300
    points = pd.read_csv(tmp_path / "figures" / "mini_curves_points.csv")
    assert len(points) == len(frame) and points["mean"].sum() == pytest.approx(frame["mean"].sum())


def test_figure_from_run_records_on_disk(tmp_path, capsys):
    """The command line reads the records of a results folder (as a reproduction leaves them) and draws them."""
    spec_path = write_spec(tmp_path, CURVES)
    spec = load_spec(spec_path)
    root = tmp_path / "results" / "smoke"
    expected = {}
    for i, cell in enumerate(spec.cells):
        if cell.row == "immunized noise":
            continue  # a missing run: its points are absent, the rest is drawn
        acc = 0.2 + 0.05 * i
        rdir = run_dir(root, cell.job, "smoke", 1000)
        rdir.mkdir(parents=True)
        (rdir / RECORD_NAME).write_text(json.dumps({"status": "ok", "metrics": {"test/acc": acc}, "seed": 1000}))
        expected[(cell.row, cell.column)] = acc
    cells = records_cells(spec, root, "smoke", [1000])
    assert {k: v.mean for k, v in cells.items() if v.n} == pytest.approx(expected)
    assert cells[("immunized noise", "noise std=5")].gaps == ["missing: not run"]
    main([str(spec_path), "--results", str(root)])
    assert capsys.readouterr().out.strip() == str(root / "figures" / "mini_curves.png")
    points = pd.read_csv(root / "figures" / "mini_curves_points.csv")
    pgd8 = points[(points.curve == "PGD") & (points.severity == 8) & (points.row == "adversarial")]
    assert pgd8["mean"].item() == pytest.approx(expected[("adversarial", "PGD eps=8")])
    assert "immunized noise" not in set(points.row)
