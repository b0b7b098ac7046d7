"""A row's `seeds:` sets the least number of seeds its jobs run; shared jobs take the larger count."""

from __future__ import annotations

import pytest
import yaml

from ganprint.errors import ConfigError
from ganprint.runstore.spec import load_spec, merge_jobs, seeds_for


def _spec(tmp_path, name, rows):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"id": name, "title": name, "entry": "train", "common": ["sources=synthetic3"],
                                    "rows": rows, "columns": [{"name": "acc", "metric": "test/acc"}]}))
    return load_spec(path)


def test_row_seeds_extend_the_reproductions_seeds_and_shared_jobs_take_the_larger(tmp_path):
    a = _spec(tmp_path, "a", [{"name": "attNet", "overrides": ["model=attnet"], "seeds": 3},
                              {"name": "kNN", "overrides": ["model=knn"]}])
    b = _spec(tmp_path, "b", [{"name": "same attNet", "overrides": ["model=attnet"]}])
    att, knn = (c.job for c in a.cells)
    assert seeds_for(att, [1000]) == [1000, 1001, 1002]
    assert seeds_for(knn, [1000]) == [1000]
    assert seeds_for(att, [1000, 1001, 1002, 1003]) == [1000, 1001, 1002, 1003]  # never fewer than asked globally
    jobs = merge_jobs([*b.jobs(), *a.jobs()])   # b's copy (no seeds) is seen first
    assert len(jobs) == 2 and jobs[0] == b.cells[0].job and jobs[0].seeds == 3


@pytest.mark.parametrize("bad", [-1, "three", 1.5])
def test_a_bad_seed_count_names_the_row(tmp_path, bad):
    with pytest.raises(ConfigError, match="attNet.*seeds"):
        _spec(tmp_path, "c", [{"name": "attNet", "overrides": ["model=attnet"], "seeds": bad}])
