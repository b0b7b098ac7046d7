"""The shortcut audit: file properties, the metadata-only classifier, duplicates across sources, data.normalize,
the audit before training (run record), the input check of ganprint-attribute, the note in the results index."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.data.test_generator_source import FakeZoo
from tests.helpers.hydra_cli import FMNIST_DIR, compose_cfg, requires_fmnist

from ganprint.data import AttributionDataModule
from ganprint.data.audit import audit_sources, render
from ganprint.data.audit.jpeg import estimate_quality
from ganprint.data.audit.phash import near_duplicate_pairs
from ganprint.data.audit.properties import file_properties
from ganprint.data.normalize import resolve_normalize
from ganprint.data.sources import FashionMNISTSource, FolderSource, GeneratorSource
from ganprint.errors import ConfigError
from ganprint.reporting.audit import audit_note
from ganprint.utils.run_record import read_run_record


def smooth_image(rng: np.random.Generator, size: int = 40) -> np.ndarray:
    """A random smooth RGB picture with a little noise: distinct images hash far apart."""
    small = Image.fromarray((rng.random((5, 5, 3)) * 255).astype(np.uint8))
    arr = np.asarray(small.resize((size, size), Image.Resampling.BICUBIC), dtype=np.float64)
    return np.clip(arr + rng.normal(0, 6, arr.shape), 0, 255).astype(np.uint8)


def make_folder(root: Path, n: int, seed: int, fmt: str = "png", quality: int = 75, mode: str = "RGB",
                size: int = 40) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = Image.fromarray(smooth_image(rng, size)).convert(mode)
        if fmt == "jpeg":
            img.save(root / f"{i:04d}.jpg", quality=quality)
        else:
            img.save(root / f"{i:04d}.png")
    return root


def folder_set(root: Path, n: int = 60, **real) -> list[FolderSource]:
    """real (``real`` options), progan and sngan: PNG RGB 40x40 unless told otherwise."""
    make_folder(root / "real", n, seed=1, **real)
    make_folder(root / "progan", n, seed=2)
    make_folder(root / "sngan", n, seed=3)
    return [FolderSource(name, root / name) for name in ("real", "progan", "sngan")]


def test_jpeg_quality_is_read_from_the_quantization_tables(tmp_path):
    rng = np.random.default_rng(0)
    for q in (30, 75, 90, 100):
        Image.fromarray(smooth_image(rng)).save(tmp_path / f"q{q}.jpg", quality=q)
        props = file_properties(tmp_path / f"q{q}.jpg")
        assert (props["format"], props["jpeg_quality"], props["mode"], props["bit_depth"]) == ("JPEG", q, "RGB", 8)
    assert estimate_quality(None) is None


def test_jpeg_real_against_png_fakes_is_flagged_and_normalize_png_clears_it(tmp_path):
    sources = folder_set(tmp_path / "set", fmt="jpeg", quality=75)
    result = audit_sources(sources, cache_dir=tmp_path / "cache")
    meta = result["metadata"]
    # real stands out completely; progan and sngan share every property, so 2/3 of held-out files is the ceiling.
    assert result["flagged"] and meta["flagged"]
    assert meta["test_acc"] == pytest.approx(2 / 3, abs=0.01) and meta["majority"] == pytest.approx(1 / 3, abs=0.01)
    assert meta["per_property"]["format"] == pytest.approx(2 / 3, abs=0.01)
    assert meta["per_property"]["jpeg_quality"] == pytest.approx(2 / 3, abs=0.01)
    assert meta["per_source"] == pytest.approx({"real": 1.0, "progan": 0.5, "sngan": 0.5}, abs=0.05)
    assert result["sources"]["real"]["summary"]["jpeg_quality"] == {"q75": 1.0}
    warning = result["warnings"][0]
    assert "66.7 %" in warning and "real is JPEG (100 %); progan, sngan are PNG (100 %)" in warning
    # png would keep the JPEG artifacts in real's pixels: the fix names JPEG at the quality seen
    assert "data.normalize={format:jpeg,quality:75}" in warning and result["duplicates"]["n_pairs"] == 0

    dm = AttributionDataModule(sources, resolution=32, channels=3, counts={"train": 30, "val": 10, "test": 10},
                               cache_dir=tmp_path / "cache", normalize="png")
    clean = audit_sources(dm.sources, cache_dir=tmp_path / "cache", normalize=dm.normalize)
    assert not clean["flagged"] and clean["metadata"]["test_acc"] < clean["metadata"]["majority"] + 0.2
    assert {s["summary"]["format"]["PNG"] for s in clean["sources"].values()} == {1.0}
    assert {tuple(s["summary"]["size"]) for s in clean["sources"].values()} == {("32x32",)}
    assert clean["normalize"] == {"format": "png", "quality": None, "size": 32, "mode": "RGB"}
    assert "data normalised" in render(clean)
    dm.setup()
    assert dm.summary()["normalize"]["format"] == "png"
    assert all(s["normalize"]["format"] == "png" for s in dm.summary()["sources"])


def test_one_greyscale_source_among_rgb_is_flagged_by_colour_mode(tmp_path):
    result = audit_sources(folder_set(tmp_path / "set", mode="L"), cache_dir=None)
    assert result["metadata"]["per_property"]["mode"] == pytest.approx(2 / 3, abs=0.01)
    assert result["metadata"]["per_property"]["bit_depth"] < 0.5  # L and RGB are both 8-bit
    assert "real is L (100 %); progan, sngan are RGB (100 %)" in result["warnings"][0]
    assert "data.normalize=png" in result["warnings"][0]


def test_images_copied_into_two_sources_are_listed_with_their_paths(tmp_path):
    sources = folder_set(tmp_path / "set", n=40)
    real = sorted((tmp_path / "set" / "real").iterdir())
    for i, f in enumerate(real[:20]):
        shutil.copy(f, tmp_path / "set" / "progan" / f"copy_{i:02d}.png")
    for i, f in enumerate(real[20:25]):  # near-duplicates: the same picture with a little fresh noise
        arr = np.asarray(Image.open(f), dtype=np.int16) + np.random.default_rng(i).integers(-3, 4, (40, 40, 3))
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(tmp_path / "set" / "sngan" / f"near_{i}.png")
    result = audit_sources([FolderSource(s.name, s.root) for s in sources], cache_dir=None)
    dups = result["duplicates"]
    assert (dups["n_pairs"], dups["n_exact"]) == (25, 20)
    exact = {(Path(p["a_path"]).name, Path(p["b_path"]).name) for p in dups["pairs"] if p["exact"]}
    assert exact == {(f.name, f"copy_{i:02d}.png") for i, f in enumerate(real[:20])}
    assert all(p["distance"] <= 4 for p in dups["pairs"])
    assert not result["metadata"]["flagged"]   # same format, size and mode everywhere
    assert result["flagged"] and result["warnings"][0].startswith("Duplicates: 25 images sit in two sources")
    assert str(real[0]) in result["warnings"][0]


def test_near_duplicate_search_finds_exactly_the_pairs_within_the_distance():
    rng = np.random.default_rng(0)
    hashes = [int(h) for h in rng.integers(0, 2**63, 300, dtype=np.int64)]
    groups = ["a"] * 150 + ["b"] * 150
    hashes[200] = hashes[10] ^ 0b1011            # 3 bits apart, across sources: found
    hashes[201] = hashes[11] ^ 0b11111           # 5 bits apart: not found
    hashes[20] = hashes[21] ^ 0b1                # same source: not reported
    brute = [(i, j, (hashes[i] ^ hashes[j]).bit_count()) for i in range(300) for j in range(i + 1, 300)
             if groups[i] != groups[j] and (hashes[i] ^ hashes[j]).bit_count() <= 4]
    assert near_duplicate_pairs(hashes, groups, 4) == brute == [(10, 200, 3)]


@requires_fmnist
def test_builtin_in_memory_sources_say_so_and_pass_clean(tmp_path):
    cfg = compose_cfg("audit", tmp_path, ["scale=smoke", "sources=synthetic3", "audit.content=false"])
    from ganprint.tasks.audit import audit

    result = audit(cfg)
    assert not result["flagged"] and result["in_memory"] == ["real", "synth0", "synth1"]
    assert "skipped" in result["metadata"] and result["n_files"] == 0
    record = read_run_record(tmp_path)
    assert record["status"] == "ok" and record["flagged"] is False and record["data"]["audit"]["warnings"] == []


@requires_fmnist
def test_fashion_mnist_with_generator_sources_passes_clean(tmp_path):
    """Generator samples are PNG files of one size and mode: the classifier over them stays at chance."""

    class ImageZoo(FakeZoo):
        def sample(self, ckpt_path, n, seed, batch_size=256):
            rng = np.random.default_rng(seed + 100 * int(Path(ckpt_path).parent.name.split("-")[0][-1]))
            return np.stack([smooth_image(rng, 32)[..., :1] for _ in range(n)])

    real = FashionMNISTSource(root=FMNIST_DIR)
    gens = [GeneratorSource(name=f"gan{i}", real=real, gan={"spec": {"family": f"fake{i}"}, "max_steps": 1,
                                                           "batch_size": 2}, backend=ImageZoo(),
                            cache_dir=tmp_path, n_images=60, resolution=32, channels=1, train_images=100,
                            train_seed=i) for i in range(3)]
    result = audit_sources([real, *gens], cache_dir=tmp_path)
    assert result["in_memory"] == ["real"] and result["file_sources"] == ["gan0", "gan1", "gan2"]
    assert not result["flagged"], render(result)
    assert result["metadata"]["test_acc"] < result["metadata"]["majority"] + 0.2


@requires_fmnist
def test_different_simple_pictures_whose_hashes_collide_are_not_duplicates(tmp_path):
    """Fashion-MNIST's 32x32 garments often share a 64-bit perceptual hash; the thumbnail check keeps them apart,
    while the same picture saved again as JPEG is found."""
    fm = FashionMNISTSource(root=FMNIST_DIR)
    keys = fm.keys()
    train, test = [k for k in keys if not k.startswith("test:")][:300], [k for k in keys if k.startswith("test:")][:300]
    for name, ks in (("a", train), ("b", test)):
        (tmp_path / name).mkdir()
        for i, img in enumerate(fm.load(ks, 32, 1).images):
            Image.fromarray(img[..., 0]).save(tmp_path / name / f"{i:03d}.png")
    Image.open(tmp_path / "a" / "007.png").save(tmp_path / "b" / "again.jpg", quality=90)
    result = audit_sources([FolderSource("a", tmp_path / "a"), FolderSource("b", tmp_path / "b")])
    dups = result["duplicates"]
    assert dups["n_candidates"] > 50      # hash collisions between different garments
    assert [(Path(p["a_path"]).name, Path(p["b_path"]).name) for p in dups["pairs"]] == [("007.png", "again.jpg")]
    assert dups["pairs"][0]["correlation"] > 0.997 and not dups["pairs"][0]["exact"]


def test_normalize_settings_resolve_and_refuse_with_the_fix():
    assert resolve_normalize("jpeg", 32, 1) == {"format": "jpeg", "quality": 95, "size": 32, "mode": "L"}
    assert resolve_normalize({"format": "jpeg", "quality": 80, "size": 64}, 32, 3)["quality"] == 80
    assert resolve_normalize(None, 32, 1) is None
    for bad in ("gif", {"format": "png", "quality": 90}, {"format": "jpeg", "quality": 0}, {"mode": "CMYK"}):
        with pytest.raises(ConfigError, match=r"set `data.normalize` to png, jpeg"):
            resolve_normalize(bad, 32, 3)


def test_normalize_jpeg_round_trips_in_memory_sources(tmp_path):
    from tests.data.test_sources import ArraySource

    rng = np.random.default_rng(0)
    a = ArraySource("a", np.stack([smooth_image(rng, 32) for _ in range(20)]))
    b = ArraySource("b", np.stack([smooth_image(rng, 32) for _ in range(20)]))
    dm = AttributionDataModule([a, b], resolution=32, channels=3, counts={"train": 10, "val": 5, "test": 5},
                               normalize={"format": "jpeg", "quality": 50})
    out = dm.sources[0].load(["0"], 32, 3).images
    assert out.shape == (1, 32, 32, 3) and 0 < np.abs(out.astype(int) - a.images[:1]).mean() < 20
    assert dm.sources[0].describe()["normalize"]["quality"] == 50



def test_normalized_folders_without_a_cache_leave_no_temporary_files(tmp_path, monkeypatch):
    import gc
    import tempfile

    from ganprint.data.normalize import NormalizedSource

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    real = folder_set(tmp_path / "set", n=4)[0]
    unread = NormalizedSource(real, resolve_normalize("png", 32, 3))
    assert list(scratch.iterdir()) == []  # a source never read makes no folder
    read = NormalizedSource(real, resolve_normalize("png", 32, 3))
    paths = read.file_paths(real.keys())
    assert len(paths) == 4 and all(p.is_file() and scratch in p.parents for p in paths)
    del unread, read
    gc.collect()
    assert list(scratch.iterdir()) == []  # the re-encoded files go with their source

def train_on_folders(tmp_path: Path, *overrides: str) -> dict:
    from ganprint.tasks.train import train

    cfg = compose_cfg("train", tmp_path, [
        "scale=smoke", "logger=none", "callbacks.progress_bar=null", "model=knn", "model.progress=false",
        "data=folders", f"data_root={tmp_path}/set/real", "sources=folders_example", f"sources.gan_root={tmp_path}/set",
        "scale.counts.train=24", "scale.counts.val=12", "scale.counts.test=12", "scale.channels=3", *overrides])
    train(cfg)
    return read_run_record(tmp_path)


def test_training_on_folders_records_the_audit_and_normalize_removes_the_flag(tmp_path):
    folder_set(tmp_path / "set", fmt="jpeg", quality=75)
    flagged = train_on_folders(tmp_path)
    assert flagged["data"]["audit"]["flagged"] and flagged["data"]["normalize"] is None
    assert flagged["data"]["audit"]["metadata"]["test_acc"] == pytest.approx(2 / 3, abs=0.01)
    assert json.loads((tmp_path / "audit.json").read_text())["warnings"] == flagged["data"]["audit"]["warnings"]
    clean = train_on_folders(tmp_path, "data.normalize={format:jpeg,quality:75}")
    assert not clean["data"]["audit"]["flagged"] and clean["data"]["audit"]["warnings"] == []
    assert clean["data"]["normalize"] == {"format": "jpeg", "quality": 75, "size": 32, "mode": "RGB"}
    assert clean["data"]["audit"]["sources"]["progan"]["summary"]["jpeg_quality"] == {"q75": 1.0}
    assert clean["manifest_sha256"] != flagged["manifest_sha256"]   # every source's pixels went through JPEG
    png = train_on_folders(tmp_path, "data.normalize=png")
    assert not png["data"]["audit"]["flagged"] and png["data"]["normalize"]["format"] == "png"
    assert "Shortcut warning" in audit_note([flagged]) and "clean" in audit_note([clean])
    assert audit_note([{"status": "ok", "data": {}}]) == ""


def test_training_profile_goes_into_checkpoints_and_attribute_warns_outside_it(tmp_path):
    from ganprint.callbacks.input_profile import CHECKPOINT_KEY, InputProfile
    from ganprint.tasks.audit import audit_before_training, check_inputs

    folder_set(tmp_path / "set", fmt="jpeg", quality=75)
    cfg = compose_cfg("train", tmp_path, ["scale=smoke", "data=folders", f"data_root={tmp_path}/set/real",
                                          "sources=folders_example", f"sources.gan_root={tmp_path}/set"])
    import hydra

    dm = hydra.utils.instantiate(cfg.data)
    trainer = type("T", (), {"callbacks": []})()
    audit_before_training(cfg, dm, trainer)
    profile = trainer.callbacks[0].profile
    assert isinstance(trainer.callbacks[0], InputProfile)
    assert profile["formats"] == ["JPEG", "PNG"] and profile["width"] == [40, 40]
    assert profile["jpeg_quality"] == [75, 75] and profile["modes"] == ["RGB"]
    ckpt: dict = {}
    trainer.callbacks[0].on_save_checkpoint(None, None, ckpt)
    inputs = tmp_path / "inputs"
    make_folder(inputs, 2, seed=9)                                        # like training: PNG RGB 40x40
    make_folder(inputs / "big", 1, seed=9, size=64, mode="L")             # larger and greyscale
    make_folder(inputs / "q30", 1, seed=9, fmt="jpeg", quality=30)        # a JPEG quality never seen
    files = sorted(p for p in inputs.rglob("*") if p.is_file())
    flagged = check_inputs(ckpt, files, tmp_path)
    assert {Path(f["path"]).parent.name: f["outside"] for f in flagged} == {
        "big": ["mode L (trained on RGB)", "width 64 (trained on 40-40)", "height 64 (trained on 40-40)"],
        "q30": ["JPEG quality 30 (trained on 75-75)"]}
    assert json.loads((tmp_path / "input_check.json").read_text())["outside"] == flagged
    assert check_inputs({}, files) == [] and CHECKPOINT_KEY == "ganprint_inputs"
    # Under data.normalize the profile still describes the original files (attribution decodes inputs as they
    # are) and names the setting.
    cfg.data.normalize = "png"
    trainer = type("T", (), {"callbacks": []})()
    audit_before_training(cfg, hydra.utils.instantiate(cfg.data), trainer)
    normalised = trainer.callbacks[0].profile
    assert normalised["formats"] == ["JPEG", "PNG"] and normalised["normalize"]["format"] == "png"


@pytest.mark.slow  # ~30 s: a fresh interpreter importing torch and Lightning on a shared 2-core machine
def test_ganprint_audit_cli_prints_the_warning_and_writes_its_record(tmp_path):
    from tests.helpers.hydra_cli import run_cli

    folder_set(tmp_path / "set", n=40, mode="L")
    proc = run_cli("audit", "data=folders", f"data_root={tmp_path}/set/real", "sources=folders_example",
                   f"sources.gan_root={tmp_path}/set", "scale=smoke", "audit.content=false",
                   f"paths.log_dir={tmp_path}/logs", f"paths.cache_dir={tmp_path}/cache", "hydra.run.dir=" + str(tmp_path / "run"))
    assert "colour mode alone 66.7 % (real is L (100 %); progan, sngan are RGB (100 %))" in proc.stdout
    record = read_run_record(tmp_path / "run")
    assert record["status"] == "ok" and record["flagged"] is True
    assert record["metrics"]["audit/metadata_acc"] == pytest.approx(2 / 3, abs=0.01)
    assert json.loads((tmp_path / "run" / "audit.json").read_text())["warnings"] == record["warnings"]
