"""Open-set protocols as configs: leave-one-family-out (conf/sources/architectures5_lofo.yaml + conf/unknown/lofo.yaml,
one `sources.holdout` key for both sides), unseen training-set variants (conf/unknown/unseen_trainsets.yaml), and the
hold-out sets over Tables 3 and 2 (conf/sources/*_holdout.yaml + conf/unknown/held_out.yaml).

Everything here composes and instantiates without training a GAN (a generator source trains lazily, on first
use), except the smoke open-set run at the end, which trains the four smoke GANs (a few steps each).
"""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
from omegaconf import OmegaConf

from ganprint.data.sources import GeneratorSource
from ganprint.errors import ConfigError
from ganprint.pipeline.runs import job_overrides
from ganprint.runstore.spec import ENTRY_CONFIG, load_spec
from ganprint.tasks.openset import build_datamodule
from ganprint.utils.config import SPECS_DIR, leave_one_out
from ganprint.utils.run_record import read_run_record
from tests.helpers.hydra_cli import compose_cfg, requires_fmnist
from tests.metrics.test_openset import tiny_checkpoint

FAMILIES = ["progan", "sngan", "cramergan", "mmdgan"]


def lofo_cfg(tmp_path: Path, holdout: str | None, *extra: str):
    over = ["scale=smoke", "ckpt=x.ckpt", "sources=architectures5_lofo", "unknown=lofo", *extra]
    return compose_cfg("openset", tmp_path, over + ([f"sources.holdout={holdout}"] if holdout else []))


def instantiate(members) -> list:
    return [hydra.utils.instantiate(m) for m in members]


@pytest.mark.parametrize("holdout", FAMILIES)
def test_lofo_composes_for_every_family_with_disjoint_known_and_unknown_sources(holdout, tmp_path):
    cfg = lofo_cfg(tmp_path, holdout)
    dm, known, unknown = build_datamodule(cfg)
    assert known == ["real", *(f for f in FAMILIES if f != holdout)] and unknown == [holdout]
    assert dm.source_names == [*known, *unknown] and dm.num_classes == 5
    # The known set is named after the held-out family, so the four rows' protocols tell themselves apart.
    assert (cfg.sources.name, cfg.unknown.name, cfg.unknown.holdout) == (f"architectures5_lofo_{holdout}", "lofo", holdout)
    train = compose_cfg("train", tmp_path, ["scale=smoke", "sources=architectures5_lofo", f"sources.holdout={holdout}",
                                            "model=attnet"])
    assert train.model.net.num_classes == 4


def test_lofo_default_holds_out_progan_and_the_unknown_side_composes_with_any_known_set(tmp_path):
    cfg = lofo_cfg(tmp_path, None)
    assert [m.name for m in cfg.sources.members] == ["real", "sngan", "cramergan", "mmdgan"]
    assert [m.name for m in cfg.unknown.members] == ["progan"]
    other = compose_cfg("openset", tmp_path, ["scale=smoke", "ckpt=x.ckpt", "sources=synthetic3", "unknown=lofo",
                                              "unknown.holdout=mmdgan"])
    assert build_datamodule(other)[1:] == (["real", "synth0", "synth1"], ["mmdgan"])


def test_lofo_generators_are_architectures5s_cache_entries(tmp_path):
    """Each family's generator resolves to the very cache entry architectures5 uses, on either side of the split:
    the four LOFO models and T1 share four trained GANs instead of training up to twenty."""
    full = compose_cfg("openset", tmp_path, ["scale=smoke", "ckpt=x.ckpt", "sources=architectures5"])
    reference = {s.name: s for s in instantiate(full.sources.members) if isinstance(s, GeneratorSource)}
    assert sorted(reference) == sorted(FAMILIES)
    for holdout in FAMILIES:
        cfg = lofo_cfg(tmp_path, holdout)
        gens = [s for s in instantiate([*cfg.sources.members, *cfg.unknown.members]) if isinstance(s, GeneratorSource)]
        assert sorted(s.name for s in gens) == sorted(FAMILIES)
        for s in gens:
            assert s.generator_id() == reference[s.name].generator_id(), (holdout, s.name)
            assert s.samples_dir == reference[s.name].samples_dir, (holdout, s.name)
    assert len({s.entry_dir for s in reference.values()}) == 4
    assert not (tmp_path / "cache" / "generators").exists()   # composing trained nothing


def test_a_bad_holdout_names_the_key_and_the_valid_families(tmp_path):
    cfg = lofo_cfg(tmp_path, "biggan")
    with pytest.raises(ConfigError, match=r"`sources.holdout` is 'biggan'") as err:
        _ = cfg.sources.members
    # One line ending in the fix (OmegaConf's "full_key: ..." context is not appended).
    assert str(err.value).endswith("; set `sources.holdout` to one of progan, sngan, cramergan, mmdgan.")
    assert "\n" not in str(err.value)
    # The real source is what every generator is told apart from: it cannot be the unknown one.
    with pytest.raises(ConfigError, match=r"`sources.holdout` is 'real'"):
        _ = lofo_cfg(tmp_path, "real").sources.members
    # The unknown side follows sources.holdout; set apart, it names its own key, and a family on both sides is refused.
    with pytest.raises(ConfigError, match=r"`unknown.holdout` is 'biggan'.*one of progan, sngan, cramergan, mmdgan"):
        _ = lofo_cfg(tmp_path, "sngan", "unknown.holdout=biggan").unknown.members
    with pytest.raises(ConfigError, match=r"sources \['progan'\] are in both the known set"):
        build_datamodule(lofo_cfg(tmp_path, "sngan", "unknown.holdout=progan"))
    with pytest.raises(ConfigError, match=r"`nowhere.members` is not in this config"):
        leave_one_out("nowhere.members", "sources.holdout", "known", _root_=OmegaConf.create({}))


def test_unseen_trainsets_differ_from_trainsets_only_in_the_training_images(tmp_path):
    cfg = compose_cfg("openset", tmp_path, ["scale=smoke", "ckpt=x.ckpt", "sources=trainsets",
                                            "unknown=unseen_trainsets"])
    _, known, unknown = build_datamodule(cfg)
    assert unknown == ["progan_diff3", "progan_diff30", "progan_diff300"] and not set(known) & set(unknown)
    k_gens = [s for s in instantiate(cfg.sources.members) if isinstance(s, GeneratorSource)]
    u_gens = instantiate(cfg.unknown.members)
    base = next(s for s in k_gens if s.subset_diff == 0).generator_id()
    for s in u_gens:
        assert s.subset_diff in (3, 30, 300) and s.subset_diff not in {g.subset_diff for g in k_gens}
        assert {**s.generator_id(), "subset_diff": 0} == base   # same GAN, seed, base subset; i differs
    assert not {s.entry_dir for s in u_gens} & {s.entry_dir for s in k_gens}
    assert len({s.entry_dir for s in u_gens}) == 3


def test_every_x1_openset_job_composes_with_disjoint_sources(tmp_path):
    """Each row of the open-set table composes as the reproduction runs it, its parent training job on the same
    known sources (same names, same order, so the checkpoint's labels line up)."""
    spec = load_spec(SPECS_DIR / "x1_openset.yaml")
    lofo = [r for r in spec.rows if r.startswith("held-out family")]
    assert len(lofo) == 4
    openset_jobs = {c.job for c in spec.cells}
    holdouts = []
    for job in openset_jobs:
        assert job.entry == "openset" and job.parent.entry == "train"
        cfg = compose_cfg(ENTRY_CONFIG[job.entry], tmp_path, job_overrides(job, tmp_path, "smoke", 1000))
        parent = compose_cfg("train", tmp_path, job_overrides(job.parent, tmp_path, "smoke", 1000))
        _, known, unknown = build_datamodule(cfg)
        assert [m.name for m in parent.sources.members] == known and not set(known) & set(unknown)
        assert parent.model.net.num_classes == len(known)
        if cfg.sources.name.startswith("architectures5_lofo"):
            holdouts.append(unknown[0])
    assert sorted(holdouts) == sorted(FAMILIES)


@requires_fmnist
def test_smoke_openset_run_on_lofo_records_auroc_per_score(tmp_path):
    """The whole task on a LOFO protocol: four smoke GANs (4 or 2 steps) train and sample, an (untrained) attNet
    over real + three families scores the fourth, fitted on known validation images only (~7 s)."""
    import ganprint.tasks.openset as task

    known = ["real", "sngan", "cramergan", "mmdgan"]
    tiny_checkpoint(tmp_path / "tiny.ckpt", names=known)
    cfg = lofo_cfg(tmp_path, "progan", f"ckpt={tmp_path / 'tiny.ckpt'}")
    metrics = task.openset(cfg)
    record = read_run_record(tmp_path)
    assert record["status"] == "ok" and record["sources"] == known and record["unknown_sources"] == ["progan"]
    assert record["protocol"] == "architectures5_lofo_progan-vs-lofo"
    assert record["test_data_used_for_fitting"] is False
    assert record["n_test"] == {"known": 4 * 48, "unknown": 48}   # smoke: 48 test images per source
    for s in ("msp", "energy", "mahalanobis", "fingerprint"):
        assert 0.0 <= record["metrics"][f"openset/auroc_{s}"] == metrics[f"openset/auroc_{s}"] <= 1.0
    # A 4-step ProGAN's samples sit far from the other families' even in an untrained net's fingerprint space
    # (measured 0.996); the logit-based scores of an untrained net mean nothing and are not checked.
    assert metrics["openset/auroc_mahalanobis"] > 0.9
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "cache" / "generators").iterdir()
                  if p.is_dir()) == sorted(FAMILIES)


@pytest.mark.parametrize(("sources", "holdout", "family_set"), [("seeds11_holdout", "progan_seed4", "seeds11"),
                                                                ("trainsets_holdout", "progan_diff10", "trainsets")])
def test_holdout_sets_leave_one_generator_of_their_table_out_and_reuse_its_cache_entries(sources, holdout, family_set,
                                                                                          tmp_path):
    """Leave-one-seed-out and the unseen training-set variant: the held-out generator is the one Table 3 (Table 2)
    trains, so the protocols cost one attNet each and no GAN; known + unknown = the full set, disjoint."""
    cfg = compose_cfg("openset", tmp_path, ["scale=cpu", "ckpt=x.ckpt", f"sources={sources}", "unknown=held_out"])
    _, known, unknown = build_datamodule(cfg)
    full = compose_cfg("openset", tmp_path, ["scale=cpu", "ckpt=x.ckpt", f"sources={family_set}"])
    names = [m.name for m in full.sources.members]
    assert unknown == [holdout] and known == [n for n in names if n != holdout]
    assert cfg.sources.name == f"{sources}_{holdout}"
    reference = {s.name: s for s in instantiate(full.sources.members) if isinstance(s, GeneratorSource)}
    for s in instantiate([*cfg.sources.members, *cfg.unknown.members]):
        if isinstance(s, GeneratorSource):
            assert s.samples_dir == reference[s.name].samples_dir, s.name
    with pytest.raises(ConfigError, match=r"`sources.holdout` is 'progan_seed99'.*; set `sources.holdout` to one of"):
        _ = compose_cfg("openset", tmp_path, ["scale=cpu", "ckpt=x.ckpt", f"sources={sources}", "unknown=held_out",
                                              "sources.holdout=progan_seed99"]).unknown.members


def test_a_scale_cuts_the_seed_set_keeping_real_and_each_kept_generators_cache_entry(tmp_path):
    """The cpu scale keeps seeds 0-4 of Table 3 (scale.variants.seeds); the others keep all ten. A kept seed is the
    same generator either way, and seed 0 is still architectures5's ProGAN."""
    cpu = compose_cfg("train", tmp_path, ["scale=cpu", "sources=seeds11"])
    assert [m.name for m in cpu.sources.members] == ["real", *(f"progan_seed{i}" for i in range(5))]
    assert cpu.model.net.num_classes == 6
    whole = compose_cfg("train", tmp_path, ["scale=cpu", "sources=seeds11", "scale.variants.seeds=null"])
    assert len(whole.sources.members) == 11
    assert len(compose_cfg("train", tmp_path, ["scale=paper", "sources=seeds11"]).sources.members) == 11
    cut = {s.name: s.samples_dir for s in instantiate(cpu.sources.members) if isinstance(s, GeneratorSource)}
    every = {s.name: s.samples_dir for s in instantiate(whole.sources.members) if isinstance(s, GeneratorSource)}
    assert cut == {k: every[k] for k in cut}
    arch = compose_cfg("train", tmp_path, ["scale=cpu", "sources=architectures5"])
    progan = next(s for s in instantiate(arch.sources.members) if getattr(s, "name", "") == "progan")
    assert cut["progan_seed0"] == progan.samples_dir
    with pytest.raises(ConfigError, match=r"got n=0; set the scale's count .*scale.variants.seeds"):
        _ = compose_cfg("train", tmp_path, ["scale=cpu", "sources=seeds11", "scale.variants.seeds=0"]).sources.members
