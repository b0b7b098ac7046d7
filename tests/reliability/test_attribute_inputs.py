"""Issue 18, cases 1, 5 (outputs), 9, 10, 11 and the plain input path: what ``ganprint-attribute`` does with
the files a user really has. Every candidate file is either attributed or listed as skipped with its reason,
one odd file name never costs the batch, outputs are readable by colleagues, and a run that attributed
nothing says so with its exit code."""

from __future__ import annotations

import json
import math
import os
import stat

import numpy as np
import pytest
import torch
from omegaconf import open_dict
from PIL import Image
from tests.helpers.checkpoints import untrained_module, write_ckpt
from tests.helpers.hydra_cli import compose_cfg, run_cli

from ganprint.data.imageio import decode_image
from ganprint.tasks.attribute import NonFiniteOutputError, attribute, attribute_files
from ganprint.tasks.job import run_job

ODD_NAME = b"sp ace \xff\xfe name.png"   # not valid UTF-8


def grey(seed: int, size: int = 28) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size, size), dtype=np.uint8))


@pytest.fixture
def suspects(tmp_path):
    """A folder as users have them: a quoting-hostile name, a non-UTF-8 file name, an animated GIF, a broken
    link, a text file, and two ordinary PNGs."""
    folder = tmp_path / "suspects (batch 1), run=2 'x'"
    folder.mkdir()
    grey(0).save(folder / "a.png")
    grey(1).save(folder / "b.png")
    with open(os.path.join(os.fsencode(folder), ODD_NAME), "wb") as fh:
        grey(2).save(fh, format="PNG")
    grey(3).save(folder / "anim.gif", save_all=True, append_images=[grey(4)], duration=100)
    (folder / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (folder / "notes.txt").write_text("not an image\n")
    return folder


def test_a_folder_is_attributed_file_by_file_whatever_the_names(suspects, tmp_path):
    """Before: the non-UTF-8 name aborted the run with UnicodeEncodeError and nothing was written; the GIF and
    the broken link vanished without a word; outputs were mode 0600; the folder's name needed Hydra quoting."""
    ckpt = write_ckpt(tmp_path / "model.ckpt")
    out = tmp_path / "attr"
    # the folder as a plain first argument: no quoting of its ( , = '
    proc = run_cli("attribute", str(suspects), f"ckpt={ckpt}", f"hydra.run.dir={out}", "progress=false")
    assert "Traceback" not in proc.stderr
    result = json.loads((out / "attributions.json").read_text())
    names = sorted(os.path.basename(r["path"]) for r in result["predictions"])
    assert names == ["a.png", "b.png", "sp ace \ufffd\ufffd name.png"]
    reasons = {os.path.basename(s["path"]): s["reason"] for s in result["skipped"]}
    assert sorted(reasons) == ["anim.gif", "gone.png", "notes.txt"]
    assert "animated image (2 frames)" in reasons["anim.gif"]
    assert "broken symbolic link" in reasons["gone.png"]
    assert "not a readable image" in reasons["notes.txt"]
    for row in result["predictions"]:
        assert math.isclose(sum(row[f"p_{s}"] for s in result["sources"]), 1.0, abs_tol=1e-5)
    assert (out / "attributions.csv").read_text(encoding="utf-8").count("\n") == 4   # header + 3 rows
    record = json.loads((out / "metrics.json").read_text())
    assert record["status"] == "ok" and record["n_files"] == 6 and record["n_attributed"] == 3
    umask = os.umask(0o022)
    os.umask(umask)
    for name in ("attributions.csv", "attributions.json", "metrics.json"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o666 & ~umask, name


def test_a_gif_passed_alone_agrees_with_folder_mode(suspects, tmp_path, capsys):
    """Before: the GIF passed alone was attributed (its first frame) while folder mode dropped it."""
    cfg = compose_cfg("attribute", tmp_path / "attr", [f"ckpt={write_ckpt(tmp_path / 'model.ckpt')}", "progress=false"])
    with open_dict(cfg):
        cfg.input = str(suspects / "anim.gif")
    with pytest.raises(SystemExit) as exit_:
        run_job(cfg, attribute)
    assert exit_.value.code == 1, "a run that attributed nothing must not exit 0"
    result = json.loads((tmp_path / "attr" / "attributions.json").read_text())
    assert result["predictions"] == [] and "animated image (2 frames)" in result["skipped"][0]["reason"]
    record = json.loads((tmp_path / "attr" / "metrics.json").read_text())
    assert record["status"] == "failed" and record["reason"].startswith("none of the 1 files")


def test_non_finite_outputs_are_an_error(tmp_path):
    module = untrained_module()
    with torch.no_grad():
        next(p for p in module.net.parameters() if p.ndim > 1).fill_(math.nan)   # past the load-time check
    grey(0).save(tmp_path / "a.png")
    with pytest.raises(NonFiniteOutputError, match="non-finite probabilities for 1 image"):
        attribute_files(module, [tmp_path / "a.png"], "center", progress=False)


def test_sixteen_bit_pngs_are_scaled_by_their_bit_depth(tmp_path):
    """Before: a 16-bit image whose values are all <= 255 was read as 8-bit (255/65535, near black, became
    white)."""
    for value, want in ((255, 1), (65535, 255), (32768, 128), (0, 0)):
        path = tmp_path / f"v{value}.png"
        Image.fromarray(np.full((8, 8), value, dtype=np.uint16)).save(path)
        assert Image.open(path).mode.startswith("I")
        assert decode_image(path, 8, 1, None).max() == want, value


def test_the_bomb_message_quotes_the_documented_limit(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("L", (9000, 8000)).save(path)
    with pytest.raises(ValueError, match=r"9000x8000 pixels, the limit is 8192x8192 pixels"):
        decode_image(path, 32, 1)
