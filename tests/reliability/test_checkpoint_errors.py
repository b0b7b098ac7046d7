"""Issue 18, cases 5 and 6 (checkpoint side): every checkpoint a user can hand over that cannot work ends in
one ``CheckpointError`` sentence naming the fix, never a traceback from inside torch or the network; a
checkpoint whose weights are NaN is refused instead of labelling every image with probability ``nan``.

Checkpoints are written here the way ``AttributionModule.on_save_checkpoint`` writes them, from a small attNet:
no training needed."""

from __future__ import annotations

import math

import pytest
import torch
from tests.helpers.checkpoints import SOURCES, SPEC, write_ckpt

from ganprint.models.attnet import AttNet
from ganprint.models.checkpoint import CheckpointError, load_attribution_module, read_checkpoint
from ganprint.models.module import AttributionModule


def one_sentence(exc: BaseException, *needles: str) -> str:
    msg = str(exc)
    assert "\n" not in msg and "Traceback" not in msg, msg
    for n in needles:
        assert n in msg, msg
    return msg


def test_a_good_checkpoint_loads(tmp_path):
    module = load_attribution_module(write_ckpt(tmp_path / "good.ckpt"), expected_sources=SOURCES)
    probs = module(torch.zeros(2, 1, 32, 32)).softmax(-1)
    assert probs.shape == (2, 3) and torch.isfinite(probs).all()


def test_nan_weights_are_refused_on_load(tmp_path):
    state = AttributionModule(net=AttNet(**SPEC), source_names=SOURCES).state_dict()
    key = next(k for k, v in state.items() if k.startswith("net.") and v.is_floating_point())
    state[key] = torch.full_like(state[key], math.nan)
    with pytest.raises(CheckpointError) as err:
        load_attribution_module(write_ckpt(tmp_path / "nan.ckpt", state=state))
    one_sentence(err.value, "non-finite", key, "ckpt=")
    state[key] = torch.full_like(state[key], math.inf)
    with pytest.raises(CheckpointError, match="non-finite"):
        load_attribution_module(write_ckpt(tmp_path / "inf.ckpt", state=state))


@pytest.mark.parametrize(("content", "kind"), [
    (b"hello, this is a text file\n", "text"),
    (bytes(range(7, 250)) * 8, "unrecognised data"),
    (b"\x89PNG\r\n\x1a\n" + bytes(64), "a PNG image"),
    (b"", "an empty file"),
])
def test_a_file_that_is_no_checkpoint_says_so(tmp_path, content, kind):
    """Before: a text file raised ``KeyError: 101``; random bytes and a PNG were called a code-execution risk."""
    path = tmp_path / "model.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(path)
    msg = one_sentence(err.value, "is not a checkpoint", kind, "best.ckpt", "ckpt=")
    assert "run code" not in msg


def test_a_directory_is_not_reported_missing(tmp_path):
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(tmp_path)
    msg = one_sentence(err.value, "is a directory", str(tmp_path / "checkpoints" / "best.ckpt"))
    assert "does not exist" not in msg


def test_a_damaged_zip_checkpoint_is_one_sentence(tmp_path):
    path = write_ckpt(tmp_path / "cut.ckpt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(path)
    one_sentence(err.value, "damaged", "ckpt=")


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"module_name": "ganprint.models.module.NoSuchModule"}, "does not have"),
    ({"module_name": "ganprint.errors.UserError"}, "not a AttributionModule"),
    ({"spec": {**SPEC, "colour": "blue"}}, "does not fit AttNet"),
    ({"spec": {**SPEC, "resolution": 2 ** 20}}, "resolution 1048576"),
    ({"spec": {**SPEC, "resolution": 24}}, "power-of-two"),
    ({"hparams": {"hflip": True, "temperature": 3}}, "hyperparameters do not fit"),
])
def test_forged_or_foreign_specs_are_one_sentence(tmp_path, kwargs, needle):
    """Before: 15-22-line tracebacks from get_class, the network's constructor or torch."""
    with pytest.raises(CheckpointError) as err:
        load_attribution_module(write_ckpt(tmp_path / "odd.ckpt", **kwargs))
    one_sentence(err.value, needle)


def test_a_foreign_network_class_inside_ganprint_is_refused(tmp_path):
    path = tmp_path / "odd.ckpt"
    write_ckpt(path)
    ckpt = torch.load(path, weights_only=True)
    ckpt["ganprint"]["net"]["_target_"] = "ganprint.data.sources.folder.FolderSource"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError) as err:
        load_attribution_module(path)
    one_sentence(err.value, "FolderSource", "not a Module")


def test_wrong_tensor_shapes_are_one_sentence(tmp_path):
    state = AttributionModule(net=AttNet(**SPEC), source_names=SOURCES).state_dict()
    key = next(k for k in state if k.startswith("net.") and state[k].ndim == 4)
    state[key] = torch.zeros(*state[key].shape[:-1], state[key].shape[-1] + 2)
    with pytest.raises(CheckpointError) as err:
        load_attribution_module(write_ckpt(tmp_path / "shapes.ckpt", state=state))
    one_sentence(err.value, "size mismatch", key)
