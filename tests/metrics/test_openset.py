"""Open-set scores, thresholds and metrics on constructed data; the openset task fits on validation only; the
attribute CLI answers "unknown" for a foreign image set."""

from __future__ import annotations

import json

import hydra
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from PIL import Image
from tests.helpers.hydra_cli import compose_cfg, requires_fmnist, run_cli

from ganprint.errors import ConfigError
from ganprint.metrics.openset import (
    Mahalanobis,
    OpenSetDetector,
    SplitOutputs,
    auroc,
    auroc_per_unknown_source,
    closed_set_accuracy,
    evaluate_open_set,
    fit_open_set,
    fit_threshold,
    fpr_at_tpr,
    msp_score,
    open_set_accuracy,
    open_set_predict,
)
from ganprint.models.attnet import AttNet
from ganprint.models.module import AttributionModule
from ganprint.utils.config import CONFIG_DIR
from ganprint.utils.run_record import read_run_record

NAMES = ["real", "synth0", "synth1"]


# -- constructed feature-space problems ----------------------------------------------------------------
def gaussian_problem(seed: int, n: int = 300, d: int = 16, k: int = 3, unknown: str = "between"):
    """Known classes: unit Gaussians around 6·e_c; logits of the matching linear (LDA) classifier.

    unknown="between": a source equidistant from all known means and off their plane (clearly different);
    unknown="same": drawn exactly like the known sources (indistinguishable)."""
    g = torch.Generator().manual_seed(seed)
    means = 6.0 * torch.eye(k, d)
    y = torch.arange(k).repeat_interleave(n)
    feats = means[y] + torch.randn(len(y), d, generator=g)
    if unknown == "between":
        centre = means.mean(0) + 6.0 * F.one_hot(torch.tensor(k), d).float()
        unk = centre + torch.randn(n, d, generator=g)
    else:
        unk = means[torch.arange(k).repeat_interleave(n // k)] + torch.randn(n // k * k, d, generator=g)

    def logits(f):
        return f @ means.T - 0.5 * (means**2).sum(1)

    return {"means": means, "feats": feats, "labels": y, "unk": unk, "logits": logits}


def fitted(problem_seed: int = 0, unknown: str = "between"):
    train = gaussian_problem(problem_seed, unknown=unknown)
    val = gaussian_problem(problem_seed + 1, unknown=unknown)
    test = gaussian_problem(problem_seed + 2, unknown=unknown)
    lg = train["logits"]
    det = fit_open_set(SplitOutputs("train", lg(train["feats"]), train["labels"], train["feats"]),
                       SplitOutputs("val", lg(val["feats"]), val["labels"], val["feats"]), NAMES,
                       model_fingerprints=train["means"])
    feats = torch.cat([test["feats"], test["unk"]])
    labels = torch.cat([test["labels"], torch.full((len(test["unk"]),), -1)])
    return det, SplitOutputs("test", lg(feats), labels, feats)


def test_a_clearly_different_unknown_source_is_detected_well_above_chance():
    det, test = fitted(unknown="between")
    m = evaluate_open_set(det, test)
    assert m["auroc_msp"] > 0.8 and m["auroc_mahalanobis"] > 0.95 and m["auroc_fingerprint"] > 0.8
    assert m["fpr95_mahalanobis"] < 0.1
    # Thresholds fitted on validation keep about 95 % of known test images.
    for s in det.thresholds:
        assert 0.9 < m[f"test_tpr_{s}"] <= 1.0


def test_an_indistinguishable_unknown_source_gives_chance_auroc():
    det, test = fitted(unknown="same")
    m = evaluate_open_set(det, test)
    for s in ("msp", "mahalanobis", "energy"):
        assert 0.4 < m[f"auroc_{s}"] < 0.6, (s, m[f"auroc_{s}"])


def test_mahalanobis_uses_the_shared_covariance():
    # Two classes stretched along x: a point off-axis is farther than one at the same Euclidean distance on x.
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 2, generator=g) * torch.tensor([5.0, 0.5])
    y = torch.arange(2).repeat(1000)
    x = x + torch.tensor([[0.0, 0.0], [0.0, 20.0]])[y]
    maha = Mahalanobis.fit(x, y)
    s = maha.score(torch.tensor([[4.0, 0.0], [0.0, 4.0]]))
    assert s[0] > s[1] + 10
    assert torch.allclose(maha.means, torch.tensor([[0.0, 0.0], [0.0, 20.0]]), atol=0.5)


def test_msp_is_the_log_odds_of_the_max_probability_and_keeps_confident_images_apart():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0], [1.0, 1.0, -3.0]])
    assert torch.allclose(msp_score(logits).sigmoid(), logits.softmax(-1).amax(-1).double())
    # At T = 0.1 these round to probability 1.0 in float; their log-odds still order them.
    confident = torch.tensor([[30.0, 0.0, 0.0], [40.0, 0.0, 0.0], [50.0, 0.0, 0.0]])
    assert (confident / 0.1).softmax(-1).amax(-1).unique().numel() == 1
    assert msp_score(confident, 0.1).unique().numel() == 3 and bool((msp_score(confident, 0.1).diff() > 0).all())


# -- thresholds and metrics ----------------------------------------------------------------------------
def test_threshold_keeps_the_asked_fraction_of_known_scores():
    s = torch.randn(1001, generator=torch.Generator().manual_seed(0))
    for tpr in (0.5, 0.9, 0.95, 0.99):
        t = fit_threshold(s, tpr)
        assert float((s >= t).float().mean()) >= tpr
        assert float((s > t).float().mean()) < tpr  # and it is the largest such threshold
    with pytest.raises(ConfigError):
        fit_threshold(s, 1.5)


def test_auroc_and_fpr_on_hand_made_scores():
    known = torch.arange(1.0, 101.0)  # 1..100: the 95 %-TPR threshold is 6
    unknown = torch.cat([torch.full((10,), 50.0), torch.full((10,), 0.0)])
    assert fpr_at_tpr(known, unknown, 0.95) == pytest.approx(0.5)
    assert auroc(known, torch.full((5,), -1.0)) == 1.0
    assert auroc(torch.full((5,), -1.0), known) == 0.0
    # Large-magnitude scores (Mahalanobis distances) must not be squashed into ties.
    assert auroc(-1000 - torch.arange(10.0), -2000 - torch.arange(10.0)) == 1.0


def test_open_set_accuracy_counts_unknown_as_a_class():
    logits = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0], [5.0, 0, 0],   # known: right, right, wrong, rejected
                           [0, 5.0, 0], [0, 0, 5.0], [5.0, 0, 0]])               # unknown: accepted, rejected x2
    scores = torch.tensor([0.9, 0.9, 0.9, 0.1, 0.9, 0.1, 0.2])
    labels = torch.tensor([0, 1, 1, 0, -1, -1, -1])
    pred = open_set_predict(logits, scores, threshold=0.5)
    assert pred.tolist() == [0, 1, 2, 3, 1, 3, 3]
    acc = open_set_accuracy(pred, labels, num_known=3)
    assert acc["acc"] == pytest.approx(4 / 7)
    assert acc["acc_known"] == pytest.approx(2 / 4) and acc["acc_unknown"] == pytest.approx(2 / 3)
    # Unknown labels may also be given as K or above.
    assert open_set_accuracy(pred, torch.tensor([0, 1, 1, 0, 3, 4, 3]), 3) == acc


def test_closed_set_accuracy_overall_and_per_source():
    logits = torch.tensor([[2.0, 0, 0], [0, 2.0, 0], [2.0, 0, 0], [0, 0, 2.0], [0, 2.0, 0]])
    labels = torch.tensor([0, 1, 1, 2, 2])  # right, right, wrong, right, wrong
    assert closed_set_accuracy(logits, labels, NAMES) == pytest.approx(
        {"acc": 0.6, "acc_real": 1.0, "acc_synth0": 0.5, "acc_synth1": 0.5})
    # A source without images reads NaN, not 0.
    assert np.isnan(closed_set_accuracy(logits[:2], labels[:2], NAMES)["acc_synth1"])


def test_auroc_per_unknown_source_scores_each_source_against_all_known_images():
    det = OpenSetDetector(source_names=NAMES, temperature=1.0, thresholds={"msp": 0.0, "energy": 0.0})
    logits = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0], [4.0, 0, 0],   # known
                           [0, 0, 0], [0.1, 0, 0],                               # gan_a: flatter than any known
                           [5.0, 0, 0], [0, 0, 0.5]])                            # gan_b: one as confident as known
    labels = torch.tensor([0, 1, 2, 0, -1, -1, -1, -1])
    sources = torch.tensor([0, 1, 2, 0, 3, 3, 4, 4])
    out = auroc_per_unknown_source(det, SplitOutputs("test", logits, labels), sources, ["gan_a", "gan_b"])
    assert list(out) == ["auroc_msp_gan_a", "auroc_energy_gan_a", "auroc_msp_gan_b", "auroc_energy_gan_b"]
    # gan_b: its confident image ties three known images (0.5 each) and outranks the fourth (0); its flat one is
    # below all four: (1.5 + 4) / 8 known-unknown pairs.
    assert out == pytest.approx({"auroc_msp_gan_a": 1.0, "auroc_energy_gan_a": 1.0,
                                 "auroc_msp_gan_b": 5.5 / 8, "auroc_energy_gan_b": 5.5 / 8})


# -- fitting only on the right splits ------------------------------------------------------------------
def test_fitting_refuses_test_data_and_unknown_sources():
    p = gaussian_problem(0)
    lg = p["logits"](p["feats"])
    train = SplitOutputs("train", lg, p["labels"], p["feats"])
    with pytest.raises(ValueError, match="validation"):
        fit_open_set(train, SplitOutputs("test", lg, p["labels"], p["feats"]), NAMES)
    with pytest.raises(ValueError, match="training"):
        fit_open_set(SplitOutputs("test", lg, p["labels"], p["feats"]), SplitOutputs("val", lg, p["labels"], p["feats"]),
                     NAMES)
    with_unknown = torch.cat([p["labels"][:-5], torch.full((5,), -1)])
    with pytest.raises(ValueError, match="unknown"):
        fit_open_set(train, SplitOutputs("val", lg, with_unknown, p["feats"]), NAMES)


def test_thresholds_depend_on_validation_only():
    det, test = fitted()
    before = dict(det.thresholds), det.temperature
    evaluate_open_set(det, test)
    # Same validation data, a completely different test set: same fit.
    det2, test2 = fitted(unknown="same")
    assert (dict(det.thresholds), det.temperature) == before
    assert det2.thresholds == pytest.approx(det.thresholds) and det2.temperature == pytest.approx(det.temperature)


def test_detector_json_round_trip(tmp_path):
    det, test = fitted()
    det.save(tmp_path / "calibration.json")
    det2 = OpenSetDetector.load(tmp_path / "calibration.json")
    assert det2.score == det.score == "mahalanobis"  # auto: Mahalanobis where fingerprints exist
    for k, v in det.predict(test.logits, test.features).items():
        assert torch.allclose(v.float(), det2.predict(test.logits, test.features)[k].float(), atol=1e-5)
    (tmp_path / "other.json").write_text(json.dumps({"kind": "something"}))
    with pytest.raises(ConfigError, match="openset_calibration"):
        OpenSetDetector.load(tmp_path / "other.json")


# -- the task and the CLI ------------------------------------------------------------------------------
def tiny_checkpoint(path, names=NAMES, seed: int = 0):
    """A ganprint checkpoint of an (untrained) smoke-size attNet, written as ModelCheckpoint would."""
    torch.manual_seed(seed)
    net = AttNet(num_classes=len(names), in_channels=1, resolution=32, fmap_base=64, fmap_max=32, fingerprint_dim=32)
    module = AttributionModule(net=net, source_names=names)
    ckpt = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    module.on_save_checkpoint(ckpt)
    torch.save(ckpt, path)
    return module


@requires_fmnist
def test_openset_task_fits_on_known_validation_only(tmp_path, monkeypatch):
    import ganprint.tasks.openset as task

    tiny_checkpoint(tmp_path / "tiny.ckpt")
    calls = []

    def spy(train, val, *args, **kwargs):
        det = fit_open_set(train, val, *args, **kwargs)
        calls.append((train, val, det))
        return det

    monkeypatch.setattr(task, "fit_open_set", spy)
    cfg = compose_cfg("openset", tmp_path, ["scale=smoke", f"ckpt={tmp_path / 'tiny.ckpt'}"])
    metrics = task.openset(cfg)
    (train, val, det), = calls
    # Known sources only, validation split only (smoke: 48 validation images per source).
    assert val.split == "val" and len(val.labels) == 3 * 48 and bool((val.labels >= 0).all())
    assert train.split == "train" and len(train.labels) == 3 * 96 and bool((train.labels >= 0).all())
    val_scores = det.scores(val.logits, val.features)
    assert det.thresholds == {s: fit_threshold(v, 0.95) for s, v in val_scores.items()}
    record = read_run_record(tmp_path)
    assert record["status"] == "ok" and record["test_data_used_for_fitting"] is False
    assert record["fitted_on"] == {"temperature": "val", "thresholds": "val", "mahalanobis": "train"}
    assert record["unknown_sources"] == ["synth7", "synth8"] and record["n_test"] == {"known": 144, "unknown": 96}
    for s in ("msp", "energy", "mahalanobis", "fingerprint"):
        assert 0.0 <= metrics[f"openset/auroc_{s}"] <= 1.0 and f"openset/auroc_{s}_synth8" in metrics
    assert metrics["calibration/ece_before"] >= 0 and metrics["calibration/temperature"] > 0
    assert (tmp_path / "figures" / "reliability.png").stat().st_size > 1000
    assert OpenSetDetector.load(tmp_path / "calibration.json").thresholds == pytest.approx(det.thresholds)


def smooth_images(n: int, seed: int) -> np.ndarray:
    """Low-frequency grey images (uint8 [N, 32, 32, 1])."""
    g = torch.Generator().manual_seed(seed)
    x = F.interpolate(torch.randn(n, 1, 4, 4, generator=g), size=32, mode="bilinear", align_corners=False)
    return (x * 40 + 128).clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def near_prototypes(n: int, seed: int) -> tuple[np.ndarray, torch.Tensor]:
    """Three "sources": three fixed pictures plus slight pixel noise (n each)."""
    protos = smooth_images(3, 0).astype(float)
    x = protos[np.arange(3).repeat(n)] + np.random.default_rng(seed).normal(0, 3, (3 * n, 32, 32, 1))
    return np.clip(x, 0, 255).round().astype(np.uint8), torch.arange(3).repeat_interleave(n)


def test_attribute_cli_open_set_says_unknown_for_a_foreign_image_set(tmp_path):
    from ganprint.data import to_float
    from ganprint.tasks.openset import weights_digest

    # Constructed case: the known sources are tight clusters around three pictures, so an image that is none of
    # them (uniform noise) is far from every known fingerprint, whatever the (untrained) weights.
    module = tiny_checkpoint(tmp_path / "tiny.ckpt")
    net = module.net.eval()

    def outputs(split, seed):
        imgs, labels = near_prototypes(40, seed)
        x = to_float(imgs)
        with torch.no_grad():
            return SplitOutputs(split, net(x), labels, net.features(x))

    det = fit_open_set(outputs("train", 0), outputs("val", 10), NAMES, score="mahalanobis",
                       model_fingerprints=net.model_fingerprints)
    det.info["weights_sha256"] = weights_digest(net)
    det.save(tmp_path / "calibration.json")
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(folder / f"foreign{i}.png")
    for i, img in enumerate(near_prototypes(2, 99)[0][1:5]):
        Image.fromarray(img[..., 0]).save(folder / f"known{i}.png")
    out = tmp_path / "attr"
    proc = run_cli("attribute", f"ckpt={tmp_path / 'tiny.ckpt'}", f"input={folder}", "open_set=true",
                   f"openset_calibration={tmp_path / 'calibration.json'}", f"hydra.run.dir={out}", "progress=false")
    assert "unknown" in proc.stdout
    result = json.loads((out / "attributions.json").read_text())
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in result["predictions"]}
    assert all(rows[f"foreign{i}.png"]["source"] == "unknown" for i in range(4))
    assert sum(rows[f"known{i}.png"]["source"] in NAMES for i in range(4)) >= 3
    for r in rows.values():
        assert r["nearest_source"] in NAMES and r["score"] == pytest.approx(r["score"])
        assert abs(sum(r[f"p_{n}"] for n in NAMES) - 1) < 1e-4
    assert result["open_set"]["score"] == "mahalanobis"
    assert read_run_record(out)["counts"]["unknown"] >= 4
    csv_header = (out / "attributions.csv").read_text().splitlines()[0]
    assert csv_header.startswith("path,source,probability,nearest_source,score,")


def test_open_set_attribution_needs_a_matching_calibration(tmp_path):
    from ganprint.tasks.attribute import load_open_set

    module = tiny_checkpoint(tmp_path / "a.ckpt", seed=0)
    other = tiny_checkpoint(tmp_path / "b.ckpt", seed=1)
    with pytest.raises(ConfigError, match="openset_calibration"):
        load_open_set(OmegaConf.create({"open_set": True, "openset_calibration": None, "ckpt": "a"}), module)
    assert load_open_set(OmegaConf.create({"open_set": False}), module) is None
    from ganprint.tasks.openset import weights_digest

    det, _ = fitted()
    det.info["weights_sha256"] = weights_digest(other.net)
    det.save(tmp_path / "cal.json")
    cfg = OmegaConf.create({"open_set": True, "openset_calibration": str(tmp_path / "cal.json"), "ckpt": "a"})
    with pytest.raises(ConfigError, match="another checkpoint"):
        load_open_set(cfg, module)
    det.source_names = ["real", "x", "y"]
    det.save(tmp_path / "cal.json")
    with pytest.raises(ConfigError, match="sources"):
        load_open_set(cfg, module)


@pytest.mark.parametrize("unknown", sorted(p.stem for p in (CONFIG_DIR / "unknown").glob("*.yaml")))
def test_every_unknown_set_composes_with_openset_and_instantiates(unknown, tmp_path):
    # held_out is the member a hold-out source set leaves out, so it needs one; alone it names the fix
    paired = {"held_out": ["sources=seeds11_holdout"]}.get(unknown, [])
    if paired:
        alone = compose_cfg("openset", tmp_path, ["scale=smoke", "ckpt=x.ckpt", f"unknown={unknown}"])
        with pytest.raises(ConfigError, match=r"unknown=held_out goes with sources=seeds11_holdout or trainsets_holdout"):
            _ = alone.unknown.members
    cfg = compose_cfg("openset", tmp_path, ["scale=smoke", "ckpt=x.ckpt", f"unknown={unknown}", *paired])
    assert cfg.task_name == "openset" and cfg.unknown.name == unknown
    members = [hydra.utils.instantiate(m) for m in cfg.unknown.members]
    known = [hydra.utils.instantiate(m).name for m in cfg.sources.members]
    assert members and not {m.name for m in members} & set(known)


def test_val_or_test_images_the_checkpoint_was_trained_on_are_refused(tmp_path):
    from types import SimpleNamespace

    from ganprint.data.manifest import Manifest
    from ganprint.tasks.openset import check_training_overlap

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    trained = Manifest()
    trained.add("train", "real", 0, ["a", "b"], ["h1", "h2"])
    trained.write(run / "manifest.csv")
    here = Manifest()
    here.add("train", "real", 0, ["a"], ["h1"])  # the same training image is fine
    here.add("val", "real", 0, ["c"], ["h3"])
    assert check_training_overlap(run / "checkpoints" / "best.ckpt", SimpleNamespace(manifest=here)) is True
    here.add("test", "real", 0, ["b"], ["h2"])  # e.g. evaluated with other data.counts than trained with
    with pytest.raises(ConfigError, match="data.counts"):
        check_training_overlap(run / "checkpoints" / "best.ckpt", SimpleNamespace(manifest=here))
    assert check_training_overlap(tmp_path / "elsewhere.ckpt", SimpleNamespace(manifest=here)) is False
