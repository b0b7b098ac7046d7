"""Every config file composes, and everything in it with a ``_target_`` instantiates."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
import yaml
from omegaconf import DictConfig, OmegaConf

from ganprint.models.baselines.base import Baseline
from ganprint.tasks.train import is_baseline
from ganprint.utils.config import CONFIG_DIR, SPECS_DIR
from ganprint.utils.instantiate import instantiate_group
from tests.helpers.hydra_cli import compose_cfg

GROUP_OVERRIDES = {"data": ["++data_root={tmp}"], "sources": ["++sources.gan_root={tmp}"]}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def all_train_overrides() -> list[list[str]]:
    out = []
    for group in ("scale", "data", "sources", "model", "trainer", "callbacks", "logger", "debug", "experiment",
                  "variant", "perturb", "attack"):
        if not (CONFIG_DIR / group).is_dir():
            continue
        for opt in options(group):
            out.append([f"{group}={opt}", *GROUP_OVERRIDES.get(group, [])])
    return out


@pytest.mark.parametrize("overrides", all_train_overrides(), ids=lambda o: o[0])
def test_train_config_option_composes_and_instantiates(overrides, tmp_path):
    overrides = [o.format(tmp=tmp_path) for o in overrides]
    if not any(o.startswith("scale=") for o in overrides):
        overrides.append("scale=smoke")
    cfg = compose_cfg("train", tmp_path, overrides)
    if any(o.startswith("trainer=") and ("gpu" in o or o == "trainer=ddp") for o in overrides):
        # GPU configs must compose and name a valid Trainer; instantiating them needs a GPU.
        assert cfg.trainer.accelerator == "gpu"
        assert OmegaConf.to_container(cfg.trainer, resolve=True)
        return
    dm = hydra.utils.instantiate(cfg.data)
    assert dm.num_classes == len(cfg.sources.members) >= 2
    if is_baseline(cfg):
        assert isinstance(hydra.utils.instantiate(cfg.model), Baseline)
    else:
        model = hydra.utils.instantiate(cfg.model, source_names=dm.source_names)
        assert model.net.spec()["num_classes"] == dm.num_classes
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    assert trainer.max_epochs >= 1 or cfg.trainer.get("fast_dev_run")


@pytest.mark.parametrize("name", ["eval", "attribute", "openset", "reproduce", "audit"])
def test_other_entry_configs_compose(name, tmp_path):
    overrides = {"eval": ["ckpt=x.ckpt"], "attribute": ["ckpt=x.ckpt", "input=somewhere"],
                 "openset": ["ckpt=x.ckpt"], "reproduce": [], "audit": []}[name]
    cfg = compose_cfg(name, tmp_path, overrides)
    assert cfg.task_name == name
    if name == "reproduce":  # the table specs shipped with the package, wherever it is installed
        assert Path(cfg.specs_dir) == SPECS_DIR and (SPECS_DIR / "t1_architectures.yaml").is_file()
    if name in ("eval", "openset", "audit"):
        dm = hydra.utils.instantiate(cfg.data)
        assert dm.source_names[0] == "real"


def _defaults_entries(path: Path) -> list[tuple[str, str | None, bool]]:
    """(group or config path, option, optional) of each defaults-list entry of ``path``, resolved against its group
    as Hydra does: ``/x`` is absolute, ``x`` inside group ``g`` is ``g/x``; ``_self_`` is left out."""
    here = path.parent.relative_to(CONFIG_DIR).as_posix()
    here = "" if here == "." else here
    out = []
    for entry in (yaml.safe_load(path.read_text()) or {}).get("defaults", []) or []:
        key, option = (entry, None) if isinstance(entry, str) else next(iter(entry.items()))
        if key == "_self_":
            continue
        words = key.split()
        optional = "optional" in words[:-1]
        name = words[-1].split("@")[0]
        name = name[1:] if name.startswith("/") else (f"{here}/{name}" if here else name)
        out.append((name, option, optional))
    return out


def test_every_yaml_is_reachable():
    """Every config file can be selected from an entry point: it is a primary config (``conf/<name>.yaml``) or an
    option of a group that the defaults list of a reachable config names (``sources=x``, ``/gan@zoo.progan``), or a
    config a reachable defaults list names by path. And every option a defaults list names exists."""
    conf = Path(CONFIG_DIR)
    files = {p.relative_to(conf).with_suffix("").as_posix() for p in conf.rglob("*.yaml")}
    reached = {f for f in files if "/" not in f}
    missing = []
    todo = list(reached)
    while todo:
        current = todo.pop()
        for name, option, optional in _defaults_entries(conf / f"{current}.yaml"):
            if option is None and (conf / f"{name}.yaml").is_file():  # a config named by its path
                found = {name}
            else:
                found = {f for f in files if f.rsplit("/", 1)[0] == name}
                if option is not None and not optional and not name.startswith("hydra/") \
                        and f"{name}/{option}" not in files:
                    missing.append(f"{current}.yaml: {name}: {option}")
            todo += sorted(found - reached)
            reached |= found
    assert not missing, f"defaults lists name options that do not exist: {missing}"
    assert files - reached == set(), f"config files no entry point can select: {sorted(files - reached)}"
    assert {"train", "eval", "gan/progan", "sources/architectures5", "model/visnet", "debug/limit"} <= reached


@pytest.mark.parametrize(("scale", "plain", "fine_tune"), [("cpu", 2e-2, 5e-4), ("smoke", 1e-3, 1e-3), ("paper", 1e-3, 1e-3)])
def test_attnet_fine_tunes_at_its_scales_fine_tuning_rate(scale, plain, fine_tune, tmp_path):
    """A fine-tune (init_ckpt set: immunization) starts from a converged net, so the cpu scale, which trains at 2e-2,
    fine-tunes at 5e-4; scales that keep the official 1e-3 keep it for both."""
    base = ["sources=architectures5", "model=attnet", f"scale={scale}"]
    assert compose_cfg("train", tmp_path, base).model.optimizer.lr == plain
    assert compose_cfg("train", tmp_path, [*base, "init_ckpt=parent.ckpt"]).model.optimizer.lr == fine_tune


@pytest.mark.parametrize(("model", "scale", "norm", "lr", "one_cycle"), [
    ("visnet", "cpu", "batch", 2e-2, True), ("visnet_official", "cpu", "none", 1e-3, False),
    ("visnet", "paper", "none", 1e-3, False), ("visnet", "smoke", "none", 1e-3, False)])
def test_visnet_takes_its_scales_recipe_and_the_official_one_is_one_override_away(model, scale, norm, lr, one_cycle,
                                                                                   tmp_path):
    cfg = compose_cfg("train", tmp_path, ["sources=architectures5", f"model={model}", f"scale={scale}"])
    assert cfg.model.net.norm == norm and cfg.model.optimizer.lr == lr
    assert cfg.model.critic_optimizer.lr == 1e-3  # the critic keeps the official rate at every scale
    assert (cfg.model.scheduler is not None) == one_cycle
    if one_cycle:
        assert cfg.model.scheduler._target_.endswith("OneCycleLR") and cfg.model.scheduler.max_lr == lr


@pytest.mark.parametrize(("entry", "overrides", "zoo"), [
    ("train", ["sources=architectures5"], "sources"),
    ("train", ["sources=seeds11_holdout", "sources.zoo.progan.spec.latent_dim=77"], "sources"),
    ("train", ["sources=architectures5_random", "scale.gan.batch_size=5"], "sources"),
    ("openset", ["sources=architectures5", "unknown=lofo", "ckpt=x", "unknown.zoo.progan.spec.latent_dim=55"], "unknown"),
])
def test_a_generator_member_gets_its_gan_from_its_family(entry, overrides, zoo, tmp_path):
    """``gan: ${zoo_gan:<family>}`` expands to the family's zoo spec (without ``_target_``), the scale's step
    budget, batch size (else the family's) and precision, read from the set's own ``zoo`` (overrides of it reach every member)."""
    cfg = compose_cfg(entry, tmp_path, ["scale=smoke", *overrides])
    members = []
    for m in OmegaConf.select(cfg, f"{zoo}.members"):
        members += [n for n in (m, m.get("base")) if isinstance(n, DictConfig) and "gan" in n]
    assert members
    for m in members:
        family = m.gan.spec.family
        spec = OmegaConf.to_container(cfg[zoo].zoo[family].spec, resolve=True)
        batch = OmegaConf.select(cfg, "scale.gan.batch_size", default=cfg[zoo].zoo[family].batch_size)
        assert OmegaConf.to_container(m.gan, resolve=True) == {
            "spec": {k: v for k, v in spec.items() if k != "_target_"},
            "max_steps": cfg.scale.gan.steps[family], "batch_size": batch, "precision": "32-true"}
    if "sources.zoo.progan.spec.latent_dim=77" in overrides:
        assert {m.gan.spec.latent_dim for m in members} == {77}
    if "scale.gan.batch_size=5" in overrides:
        assert {m.gan.batch_size for m in members} == {5}
    if zoo == "unknown":
        assert 55 in {m.gan.spec.latent_dim for m in members}


def test_the_cpu_scale_trains_each_family_in_its_precision_and_caches_it_apart(tmp_path):
    """conf/scale/cpu.yaml: bf16-mixed for the classifiers and four GAN families, fp32 for MMDGAN; a generator's
    precision is part of its cache key, so an fp32 twin of the same spec is another cache entry."""
    cfg = compose_cfg("train", tmp_path, ["scale=cpu", "sources=architectures5"])
    assert cfg.trainer.precision == "bf16-mixed"
    gens = {m.name: m for m in list(cfg.sources.members)[1:]}
    assert {n: m.gan.precision for n, m in gens.items()} == {
        "progan": "bf16-mixed", "sngan": "bf16-mixed", "cramergan": "bf16-mixed", "mmdgan": "32-true"}
    fp32 = compose_cfg("train", tmp_path / "fp32", ["scale=cpu", "sources=architectures5",
                                                    "scale.gan.precision.progan=32-true"])
    a, b = (hydra.utils.instantiate(c.sources.members[1]) for c in (cfg, fp32))
    assert a.gan["spec"] == b.gan["spec"] and a.entry_dir != b.entry_dir


def test_a_set_member_names_what_differs_and_shares_the_rest_through_extend(tmp_path):
    """``${extend:_generator,{...}}``: a member is its set's shared node (conf/source/, loaded as ``_generator`` or
    ``_subset``) plus its own keys; an override of the shared node reaches every member (an anchor's copy did not)."""
    cfg = compose_cfg("train", tmp_path, ["scale=smoke", "sources=architectures5_random",
                                          "sources._generator.train_images=7"])
    shared = OmegaConf.to_container(cfg.sources._generator, resolve=True)
    assert shared["n_images"] == cfg.scale.gan.pool_images  # the set's own change to the shared node
    subsets = list(cfg.sources.members)[1:]
    assert [m.name for m in subsets] == ["progan", "sngan", "cramergan", "mmdgan"]
    for m in subsets:
        base = OmegaConf.to_container(m.base, resolve=True)
        assert m.rule == "random" and m.n_images == cfg.scale.gan.subset_images
        assert base == {**shared, "name": f"{m.name}_pool", "train_seed": 0, "gan": base["gan"]}
        assert base["train_images"] == 7 and base["gan"]["spec"]["family"] == m.name


def test_extend_without_a_shared_node_names_the_defaults_entry_to_add():
    from ganprint.utils.config import ResolverConfigError

    cfg = OmegaConf.create({"members": ["${extend:_generator,{name: x}}"]})
    with pytest.raises(ResolverConfigError, match=r"add `- /source/generator@_generator` to that set's defaults"):
        _ = cfg.members[0]
