"""The declared spec-file schema: typed entries with defaults, and one sentence naming file and key per mistake."""

from __future__ import annotations

import re

import pytest
import yaml

from ganprint.errors import ConfigError
from ganprint.runstore.spec import load_spec
from ganprint.runstore.spec_schema import ColumnEntry, CurveEntry, ParentEntry, RowEntry, read_spec_file

MINI = {"id": "m", "title": "M", "common": ["sources=synthetic3"],
        "rows": [{"name": "attNet", "overrides": ["model=attnet"]}], "columns": [{"name": "acc"}]}


def test_a_file_reads_into_typed_entries_with_defaults():
    data = {**MINI, "description": None, "chance": 0.2,
            "rows": [{"name": 2019, "parent": {"overrides": ["x=1"], "as": "init_ckpt"}, "seeds": 3}],
            "curves": [{"name": "noise", "param": "perturb.std", "values": [5, 20.5], "invert": True}]}
    file = read_spec_file(data, "t.yaml")
    assert (file.id, file.entry, file.description, file.chance, file.clean) == ("m", "train", "", 0.2, None)
    # YAML's `name: 2019` is a number; names are text. Overrides and defaults fill every entry.
    assert file.rows == [RowEntry(name="2019", seeds=3, parent=ParentEntry(overrides=["x=1"], as_="init_ckpt"))]
    assert file.columns == [ColumnEntry(name="acc", metric="test/acc")] and file.columns[0].percent is None
    # Severities stay as written: the column names (`noise std=5`) are built from them.
    assert file.curves == [CurveEntry(name="noise", param="perturb.std", values=[5, 20.5], invert=True)]
    assert [type(v) for v in file.curves[0].values] == [int, float]
    assert file.paper.approx is True and file.paper.values == {} and file.figures == []


@pytest.mark.parametrize(("change", "message"), [
    ({"colums": []}, "unknown key `colums`; the keys here are id, title, "),
    ({"rows": [{"name": "attNet", "overide": []}]}, "unknown key `overide` in row 'attNet'; the keys here are name, "),
    ({"id": None}, "`id` is missing; every spec needs an id and a title."),
    ({"common": "model=attnet"}, "`common` is 'model=attnet'; write a list of Hydra overrides such as "),
    ({"entry": "training"}, "`entry` is 'training'; use one of train, evaluate, openset, train_gan."),
    ({"rows": [{"name": "attNet", "parent": {"as": "ckpts"}}]},
     "`parent.as` of row 'attNet' is 'ckpts'; use ckpt (evaluate the parent) or init_ckpt (fine-tune from it)."),
    ({"rows": [{"name": "attNet", "seeds": 2.5}]}, "`seeds` of row 'attNet' is 2.5; write a whole number of seeds"),
    ({"rows": [{"overrides": []}]}, "`rows[0].name` is missing; every row needs a name (a text)."),
    ({"rows": ["attNet"]}, "`rows[0]` is 'attNet'; write a list of rows, each with a `name`."),
    ({"chance": 1.5}, "`chance` is 1.5; write a fraction between 0 and 1, or `sources`"),
    ({"curves": [{"name": "noise", "param": "perturb.std", "values": [5, "x"]}]},
     "`values[1]` of curve 'noise' is 'x'; write a non-empty list of numbers (the severities)."),
    ({"figures": [{"name": "fig"}]}, "`file` of figure 'fig' is missing; write the figure's path inside its job's"),
    ({"paper": {"values": {"attNet": [99.5]}}}, "`paper.values.attNet` is [99.5]; write the paper's number per row"),
])
def test_each_mistake_is_one_sentence_naming_the_file_and_the_key(tmp_path, change, message):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**MINI, **change}))
    with pytest.raises(ConfigError) as err:
        load_spec(path)
    text = str(err.value)
    assert text.startswith(f"{path}: {message}") and text.endswith(".") and "\n" not in text


def test_a_file_that_is_no_mapping_says_so(tmp_path):
    for content in ("", "- 1\n- 2\n"):
        path = tmp_path / "spec.yaml"
        path.write_text(content)
        with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: the spec is .*; write a mapping of spec keys"):
            load_spec(path)


def test_empty_keys_take_their_defaults(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**MINI, "entry": None, "common": None, "notes": None}))
    spec = load_spec(path)
    assert spec.notes == "" and [(c.job.entry, c.job.overrides) for c in spec.cells] == [("train", ("model=attnet",))]
