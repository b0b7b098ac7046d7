"""Where the Hydra configs and the table specs live, the configs' OmegaConf resolvers, and config hashing."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

from ganprint.errors import ConfigError

# The configs ship inside the package (src/ganprint/conf/, package data), so an installed wheel finds them; the
# repository's top-level conf/ is a symlink to that folder, the place users read and edit.
PACKAGE_DIR = Path(__file__).resolve().parents[1]
CONFIG_DIR = Path(os.environ.get("GANPRINT_CONFIG_DIR", PACKAGE_DIR / "conf"))
# The table specs (which runs fill which cells of the paper's tables and figures) ship the same way, so a wheel
# can reproduce; the top-level specs/ is a symlink to this folder. conf/reproduce.yaml's ``specs_dir`` defaults to it
# (``${package_dir:}/specs``) and ``specs_dir=...`` points a reproduction elsewhere.
SPECS_DIR = PACKAGE_DIR / "specs"
# The checkout (src/ganprint/ sits two levels below it) when run from one; from an installed package, the current
# directory, where data/, logs/ and results/ then go.
_CHECKOUT = PACKAGE_DIR.parents[1]
PROJECT_ROOT = _CHECKOUT if (_CHECKOUT / "pyproject.toml").is_file() else Path.cwd()


def in_multirun() -> bool:
    """Whether this process runs one job of a Hydra multirun (``-m``)."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


class ResolverConfigError(ConfigError, InterpolationResolutionError):
    """A user error raised inside a resolver. OmegaConf wraps any other exception a resolver raises into an
    InterpolationResolutionError, which would turn a one-line config mistake into a traceback."""

    def __str__(self) -> str:
        # OmegaConf re-raises it with "full_key: ... object_type=..." appended; the message names its key already
        # and must end with the sentence saying what to fix.
        return super().__str__().split("\n    full_key:")[0]


def leave_one_out(members_key: str, holdout_key: str, side: str, *, _root_: DictConfig) -> ListConfig:
    """``${leave_one_out:<members key>,<holdout key>,known|unknown}``: the source list at ``members_key`` without
    (``known``) or with only (``unknown``) the member named by the value at ``holdout_key``.

    Keys, not values, are passed so the error can name the key to fix. The members are returned resolved, as
    plain data, exactly as the full set resolves them: a generator left in (or held out) keeps its cache key.
    The real source cannot be held out: it is what every generator is told apart from."""
    members = OmegaConf.select(_root_, members_key, default=None)
    if members is None:
        raise ResolverConfigError(f"`{members_key}` is not in this config, so no source can be held out of it; pick "
                                  f"a source set that has it (unknown=held_out goes with sources=seeds11_holdout or "
                                  f"trainsets_holdout), or make the first argument of ${{leave_one_out:...}} the key "
                                  f"of a list of sources.")
    holdout = OmegaConf.select(_root_, holdout_key, default=None)
    real = OmegaConf.select(_root_, "real.name", default=None)
    names = [str(m.get("name")) for m in members]
    valid = [n for n in names if n != real]
    if holdout not in valid:
        raise ResolverConfigError(f"`{holdout_key}` is {holdout!r}, which names no source that can be held out of "
                                  f"`{members_key}`; set `{holdout_key}` to one of {', '.join(valid)}.")
    if side not in ("known", "unknown"):
        raise ResolverConfigError(f"leave_one_out: side {side!r} is neither `known` nor `unknown`; write one of them "
                                  f"as the third argument of ${{leave_one_out:...}}.")
    # A config node, not a plain list: OmegaConf would hand a plain list on as one opaque value.
    return OmegaConf.create([OmegaConf.to_container(m, resolve=True) for m in members
                             if (m.get("name") == holdout) == (side == "unknown")])


def first_generators(key: str, n: Any, *, _parent_: DictConfig, _root_: DictConfig) -> ListConfig:
    """``${first_generators:<sibling key>,<n>}``: the list at ``key`` beside this one (the same source set), cut
    to its real source and its first ``n`` generators; ``n`` null keeps them all.

    A scale can so shrink a set of interchangeable generators (Table 3's seeds) without a second set file; each
    kept member resolves exactly as in the whole list, so it keeps its cache key."""
    members = _parent_.get(key) if isinstance(_parent_, DictConfig) else None
    if members is None:
        raise ResolverConfigError(f"`{key}` is not a key of this source set, so ${{first_generators:...}} has no list "
                                  f"to cut; make its first argument the name of the full member list beside it.")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ResolverConfigError(f"${{first_generators:{key},...}} got n={n!r}; set the scale's count (for Table 3: "
                                  f"scale.variants.seeds in conf/scale/) to a positive int, or null for every member.")
    real = OmegaConf.select(_root_, "real.name", default=None)
    kept, generators = [], 0
    for m in members:
        if m.get("name") != real:
            generators += 1
            if n is not None and generators > n:
                continue
        kept.append(OmegaConf.to_container(m, resolve=True))
    return OmegaConf.create(kept)


def zoo_gan(family: str, *, _parent_: DictConfig, _root_: DictConfig) -> DictConfig:
    """``gan: ${zoo_gan:<family>}`` in a generator source: what the GAN zoo needs to train that family, from the
    ``zoo.<family>`` entry of the outermost enclosing node that has a ``zoo`` (the source set or the unknown set the
    member belongs to: ``sources.zoo`` also for a set loaded inside another, as seeds11 in seeds11_holdout) and the
    scale. The same as writing out

        gan: {spec: '${plain:<zoo>.<family>.spec}', max_steps: '${scale.gan.steps.<family>}',
              batch_size: '${oc.select:scale.gan.batch_size,<zoo>.<family>.batch_size}',
              precision: '${oc.select:scale.gan.precision.<family>,32-true}'}

    so a member names its family once."""
    node: Any = _parent_
    owner = None
    while node is not None:
        if isinstance(node, DictConfig) and "zoo" in node:
            owner = node
        node = node._get_parent()
    entry = OmegaConf.select(owner, f"zoo.{family}", default=None) if owner is not None else None
    if entry is None:
        raise ResolverConfigError(f"${{zoo_gan:{family}}}: no `zoo.{family}` in the set this generator source belongs "
                                  f"to; add `- /gan@zoo.{family}: {family}` to that set's defaults list.")
    max_steps = OmegaConf.select(_root_, f"scale.gan.steps.{family}", default=None)
    if max_steps is None:
        raise ResolverConfigError(f"${{zoo_gan:{family}}}: the scale gives no step budget for {family}; set "
                                  f"scale.gan.steps.{family} (conf/scale/).")
    spec = {k: v for k, v in OmegaConf.to_container(entry.spec, resolve=True).items() if k != "_target_"}
    return OmegaConf.create({"spec": spec, "max_steps": max_steps,
                             "batch_size": OmegaConf.select(_root_, "scale.gan.batch_size", default=entry.batch_size),
                             "precision": gan_precision(_root_, family)})


def gan_precision(cfg: DictConfig, family: str) -> str:
    """The Lightning precision the scale trains ``family`` in (``scale.gan.precision.<family>``, else fp32). It is
    part of a generator's identity: the same spec in bf16 is another generator, cached under another hash."""
    return str(OmegaConf.select(cfg, f"scale.gan.precision.{family}", default=None) or "32-true")


def extend(key: str, keys: dict[str, Any], *, _parent_: Any) -> DictConfig:
    """``${extend:<key>,{name: ..., ...}}``: the node ``<key>`` of the innermost enclosing node that has one, with
    ``keys`` added or replaced (a shallow update, as a YAML merge key ``{<<: *anchor, ...}`` does), resolved.

    A set's members so name only what sets them apart (``- '${extend:_generator,{name: progan_seed3, train_seed:
    3, gan: ${zoo_gan:progan}}}'``) while the settings they share come from one file for every set
    (conf/source/, loaded as the set's ``_generator`` or ``_subset``). The shared node stays in the config, and
    each member resolves to the same keys and values as it did written out, so run hashes and cache keys do not
    move; unlike an anchor, an override of the shared node reaches every member."""
    node = _parent_
    while node is not None and not (isinstance(node, DictConfig) and key in node):
        node = node._get_parent()
    if node is None:
        raise ResolverConfigError(f"${{extend:{key},...}}: no `{key}` in the set this member belongs to; add "
                                  f"`- /source/{key.strip('_')}@{key}` to that set's defaults list (conf/source/).")
    shared = OmegaConf.to_container(node[key], resolve=True)
    return OmegaConf.create({**shared, **keys})


def fine_tune_value(init_ckpt: Any, when_fine_tuning: Any, otherwise: Any) -> Any:
    """``${fine_tune_value:<init_ckpt>,<value>,<otherwise>}``: ``value`` when the run starts from a parent checkpoint
    (``init_ckpt`` set) and a value is given (not null), else ``otherwise``. A scale's attNet learning rate, for
    instance, restarts a converged network far from its optimum if a fine-tune reuses it."""
    return when_fine_tuning if init_ckpt and when_fine_tuning is not None else otherwise


def register_resolvers() -> None:
    """``${len:...}`` (number of sources), ``${plain:...}``, ``${project_root:}``, ``${package_dir:}`` (the installed
    ganprint/ folder, where the table specs ship), ``${leave_one_out:...}``
    (leave-one-out source sets), ``${first_generators:...}`` (a set cut by the scale), ``${fine_tune_value:...}``
    (a setting of fine-tuning runs), ``${zoo_gan:...}`` (a generator source's GAN) and ``${extend:...}`` (a set
    member from the settings its set's members share); safe to call twice."""
    if not OmegaConf.has_resolver("len"):
        OmegaConf.register_new_resolver("len", lambda x: len(x))
    if not OmegaConf.has_resolver("plain"):
        # A config node as plain data: its `_target_` dropped, so Hydra passes it on instead of building it
        # (a GAN spec handed to a generator source, which builds the GAN itself when it has to train one).
        OmegaConf.register_new_resolver(
            "plain", lambda node: OmegaConf.create({k: v for k, v in OmegaConf.to_container(node, resolve=True).items()
                                                    if k != "_target_"}))
    if not OmegaConf.has_resolver("project_root"):
        OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT))
    if not OmegaConf.has_resolver("package_dir"):
        OmegaConf.register_new_resolver("package_dir", lambda: str(PACKAGE_DIR))
    if not OmegaConf.has_resolver("leave_one_out"):
        OmegaConf.register_new_resolver("leave_one_out", leave_one_out)
    if not OmegaConf.has_resolver("first_generators"):
        OmegaConf.register_new_resolver("first_generators", first_generators)
    if not OmegaConf.has_resolver("fine_tune_value"):
        OmegaConf.register_new_resolver("fine_tune_value", fine_tune_value)
    if not OmegaConf.has_resolver("zoo_gan"):
        OmegaConf.register_new_resolver("zoo_gan", zoo_gan)
    if not OmegaConf.has_resolver("extend"):
        OmegaConf.register_new_resolver("extend", extend)


register_resolvers()


def to_container(cfg: DictConfig | dict) -> dict[str, Any]:
    """A resolved plain-dict copy of ``cfg`` without the ``hydra`` node."""
    if isinstance(cfg, DictConfig):
        data = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    else:
        data = dict(cfg)
    data.pop("hydra", None)
    return data


def config_hash(cfg: DictConfig | dict,
                ignore: tuple[str, ...] = ("paths", "logger", "trainer", "callbacks", "audit")) -> str:
    """SHA-256 of the parts of a config that change results (paths, loggers, hardware and the shortcut audit,
    which only reports, left out)."""
    data = {k: v for k, v in to_container(cfg).items() if k not in ignore}
    if isinstance(data.get("scale"), dict) and "visnet" in data["scale"]:
        # A scale's visNet recipe reaches a run only through the model node's interpolations (model.optimizer.lr,
        # model.scheduler, model.net.norm), which are hashed resolved; hashing the block itself as well would make
        # every run of the scale stale, attNet's included, whenever visNet's recipe changes.
        data["scale"] = {k: v for k, v in data["scale"].items() if k != "visnet"}
    if isinstance(data.get("data"), dict):
        # `data.normalize: null` (off) and `data.test_limit: null` (no cap) came after many run records; off and
        # absent are the same data, so runs recorded before them keep their hash and are not redone.
        data["data"] = {k: v for k, v in data["data"].items()
                        if not (k in ("normalize", "test_limit") and v is None)}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
