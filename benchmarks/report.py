"""The benchmark's ratios, targets, printed table and ``results/bench.json``.

``derive`` computes the ratios from the measured medians (Lightning / plain, data loading / training,
achieved / matrix-multiply FLOP/s) and checks the targets (``TARGETS``: Lightning training at >= 0.90 of the plain
loop's images/s, data loading >= 3x as fast as training); ``format_report`` renders the table ``python -m benchmarks``
prints; ``write_json`` stores everything. Imported by ``benchmarks.runner`` and ``benchmarks.cli``.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from ganprint.utils.atomic import atomic_write_json

TARGETS = {"lightning_over_plain": 0.90, "loading_over_training": 3.0}


def _median(section: dict | None, name: str) -> float | None:
    if not section or name not in section:
        return None
    return section[name]["median"]


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _cpu_median(section: dict | None, name: str) -> float | None:
    if not section or name not in section or "per_cpu_second" not in section[name]:
        return None
    return section[name]["per_cpu_second"]["median"]


def _paired(section: dict | None, a: str, b: str) -> float | None:
    """Median over repetitions of run-by-run ratios: less sensitive to drift than the ratio of medians."""
    if not section or a not in section or b not in section:
        return None
    return statistics.median(x / y for x, y in zip(section[a]["runs"], section[b]["runs"], strict=True) if y)


def _overhead_ms(section: dict | None, batch_size: int | None, cpu: bool = False) -> float | None:
    """Extra milliseconds per training step of Lightning over the plain loop (from the medians)."""
    get = _cpu_median if cpu else _median
    light, plain = get(section, "lightning"), get(section, "plain")
    if not light or not plain or not batch_size:
        return None
    return 1000.0 * batch_size * (1.0 / light - 1.0 / plain)


def derive(res: dict) -> dict:
    """``{"ratios": {...}, "targets": {...}}`` from the measured sections that are present."""
    att = res.get("attnet", {})
    train, load = att.get("train"), att.get("loading")
    gan = res.get("gan")
    ratios = {
        "lightning_over_plain": _ratio(_median(train, "lightning"), _median(train, "plain")),
        "lightning_over_plain_paired": _paired(train, "lightning", "plain"),
        "lightning_over_plain_cpu_time": _ratio(_cpu_median(train, "lightning"), _cpu_median(train, "plain")),
        "lightning_progress_bar_over_plain": _ratio(_median(train, "lightning_progress_bar"),
                                                    _median(train, "plain")),
        "loading_over_training": _ratio(_median(load, "ganprint"), _median(train, "lightning")),
        "loading_over_plain_training": _ratio(_median(load, "ganprint"), _median(train, "plain")),
        "gan_lightning_over_plain": _ratio(_median(gan, "lightning"), _median(gan, "plain")),
        "gan_lightning_over_plain_paired": _paired(gan, "lightning", "plain"),
        "gan_lightning_over_plain_cpu_time": _ratio(_cpu_median(gan, "lightning"), _cpu_median(gan, "plain")),
    }
    batch = res.get("meta", {}).get("batch_size")
    ratios["lightning_overhead_ms_per_step"] = _overhead_ms(train, batch)
    ratios["lightning_overhead_cpu_ms_per_step"] = _overhead_ms(train, batch, cpu=True)
    ratios["gan_lightning_overhead_ms_per_step"] = _overhead_ms(gan, batch)
    achieved = res.get("flops", {}).get("achieved", {})
    for name, value in achieved.items():
        ratios[f"flops_fraction_{name}"] = value["fraction_of_matmul"]
        ratios[f"flops_fraction_{name}_cpu_time"] = value.get("fraction_of_matmul_cpu_time")
    gpu = res.get("gpu") or {}
    if "same_model" in gpu:
        ratios["gpu_lightning_over_plain"] = _ratio(_median(gpu["same_model"]["train"], "lightning"),
                                                    _median(gpu["same_model"]["train"], "plain"))
        ratios["gpu_paper_lightning_over_plain"] = _ratio(_median(gpu["paper"]["train"], "lightning"),
                                                          _median(gpu["paper"]["train"], "plain"))
        ratios["gpu_lightning_overhead_ms_per_step"] = _overhead_ms(gpu["same_model"]["train"], batch)
        ratios["gpu_paper_lightning_overhead_ms_per_step"] = _overhead_ms(gpu["paper"]["train"],
                                                                          gpu["paper"]["batch_size"])
        paper_achieved = gpu["paper"]["achieved"]["lightning"]
        ratios["gpu_paper_flops_fraction_lightning"] = paper_achieved["fraction_of_matmul"]
    ratios = {k: v for k, v in ratios.items() if v is not None}
    # The targets are set for attNet at the cpu scale; other sizes report them for information.
    applies = res.get("meta", {}).get("size", "cpu") == "cpu"
    targets = {name: {"value": ratios[name], "target": f">= {goal}", "met": ratios[name] >= goal,
                      "applies": applies} for name, goal in TARGETS.items() if name in ratios}
    return {"ratios": ratios, "targets": targets}


def _fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "-"
    if unit == "FLOP/s":
        return f"{v / 1e9:,.1f} GFLOP/s"
    return f"{v:,.1f}{(' ' + unit) if unit else ''}"


def _row(label: str, entry: dict | None) -> str:
    if not entry:
        return f"  {label:<44} -"
    line = f"  {label:<44} {_fmt(entry['median'], entry.get('unit', '')):>20}  (spread {entry['spread']:>4.0%})"
    cpu = entry.get("per_cpu_second")
    if cpu:
        value = _fmt(cpu["median"], "FLOP/s") if cpu.get("unit", "").startswith("FLOP") else f"{cpu['median']:,.1f}"
        line += f"  {value:>14} per CPU-s"
    return line


def format_report(res: dict) -> str:
    m = res["meta"]
    lines = [f"ganprint bench  size={m['size']}  threads={m['threads']}  batch={m['batch_size']}  "
             f"torch {m['torch']}  lightning {m['pytorch_lightning']}  load {m.get('load_average_before')}"
             f" -> {m.get('load_average_after')}",
             f"  medians of {m['repeats']} repetitions of {m['steps']} timed steps after {m['warmup']} warm-up steps"]
    att = res.get("attnet", {})
    for name, entry in (att.get("train") or {}).items():
        lines.append(_row(f"attNet train, {name}", entry))
    for name, entry in (att.get("loading") or {}).items():
        lines.append(_row(f"data loading, {name} loader", entry))
    for name, entry in (att.get("inference") or {}).items():
        lines.append(_row(f"inference (batch {entry['batch_size']}), {name}", entry))
    gan = res.get("gan")
    if gan:
        for name in ("plain", "lightning"):
            lines.append(_row(f"{gan['family']} train, {name}", gan[name]))
    flops = res.get("flops")
    if flops:
        lines.append(_row(f"matmul {flops.get('matmul_dtype', 'float32')} (n={flops['matmul']['n']})", flops["matmul"]))
        per = flops["attnet_per_image"]
        lines.append(f"  {'attNet FLOPs/image fwd | fwd+bwd':<44} {per['forward_per_image'] / 1e6:,.1f} | "
                     f"{per['train_step_per_image'] / 1e6:,.1f} MFLOP")
    lines.append("ratios:")
    for name, value in res.get("ratios", {}).items():
        target = res.get("targets", {}).get(name)
        mark = "" if target is None else f"   target {target['target']}: {'MET' if target['met'] else 'NOT MET'}"
        if target is not None and not target.get("applies", True):
            mark += " (the target is for --size cpu)"
        lines.append(f"  {name:<44} {value:>8.3f}{mark}")
    gpu = res.get("gpu")
    if gpu is not None and "skipped" in gpu:
        lines.append(f"GPU section skipped: {gpu['skipped']}")
    elif gpu:
        lines.append(f"GPU ({gpu['device']}):")
        for name, entry in gpu["same_model"]["train"].items():
            lines.append(_row(f"same attNet fp32, {name}", entry))
        p = gpu["paper"]
        for name in ("plain", "lightning"):
            e = p["train"][name]
            lines.append(_row(f"paper attNet {p['precision']}, {name}", e)
                         + (f"  peak {e['peak_memory_mib']:,.0f} MiB" if "peak_memory_mib" in e else ""))
        for name, a in p.get("achieved", {}).items():
            lines.append(f"  {'paper attNet FLOP/s, ' + name:<44} {_fmt(a['flops_per_s'], 'FLOP/s'):>20}   "
                         f"({a['fraction_of_matmul']:.1%} of {p['achieved_vs']})")
    return "\n".join(lines)


def write_json(res: dict, path: str | Path) -> Path:
    return atomic_write_json(Path(path), res)
