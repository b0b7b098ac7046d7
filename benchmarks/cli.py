"""`python -m benchmarks` (`make bench`): ganprint's Lightning training vs a plain PyTorch loop -> results/bench.json.

Usage: python -m benchmarks [--size cpu|smoke] [--smoke] [--threads N] [--repeats N] [--steps N] [--warmup N]
                            [--gan dcgan|progan|...] [--sections training,loading,...] [--no-gpu] [--out PATH]

The command line of the benchmark package; ``benchmarks/__main__.py`` runs it. Run from the repository root
(``benchmarks/`` is not part of the installed package).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganprint.utils.config import PROJECT_ROOT


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from benchmarks import SECTIONS, SIZES

    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=sorted(SIZES), default="cpu",
                   help="cpu (default): attNet at the cpu scale, batch 64, the reference comparison; "
                        "smoke: everything tiny, seconds, for tests")
    p.add_argument("--smoke", action="store_true", help="same as --size smoke")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads for every CPU measurement (default 1; 0: torch's default)")
    p.add_argument("--repeats", type=int, help="repetitions per measurement, medians reported (cpu 5, smoke 3; >= 3)")
    p.add_argument("--steps", type=int, help="timed training steps per repetition (cpu 30, smoke 3)")
    p.add_argument("--warmup", type=int, help="untimed training steps before them (cpu 5, smoke 1)")
    p.add_argument("--gan", help="GAN family of the GAN comparison, conf/gan/<name>.yaml (default dcgan)")
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)")
    p.add_argument("--no-progress-bar-variant", action="store_true",
                   help="skip timing Lightning with the configured Rich progress bar")
    p.add_argument("--no-gpu", action="store_true", help="skip the GPU section even when CUDA is available")
    p.add_argument("--out", type=Path, default=PROJECT_ROOT / "results" / "bench.json",
                   help="where the JSON goes (default results/bench.json)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from benchmarks import SECTIONS, SIZES, format_report, run_bench, write_json
    from ganprint.errors import UserError

    s = SIZES["smoke" if args.smoke else args.size]
    changes = {k: getattr(args, k) for k in ("repeats", "steps", "warmup", "gan") if getattr(args, k) is not None}
    if args.gan and args.gan != s.gan:  # the preset's size overrides are for its own family's keys
        changes["gan_overrides"] = {}
    if args.repeats is not None and args.repeats < 3:
        print("benchmarks: --repeats must be at least 3 (medians of fewer are not robust on a shared machine).",
              file=sys.stderr)
        return 2
    if (args.steps is not None and args.steps < 1) or (args.warmup is not None and args.warmup < 1):
        print("benchmarks: --steps and --warmup must be at least 1.", file=sys.stderr)
        return 2
    s = s.replace(threads=args.threads, gpu=not args.no_gpu,
                  progress_bar_variant=s.progress_bar_variant and not args.no_progress_bar_variant, **changes)
    sections = [x.strip() for x in args.sections.split(",") if x.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        print(f"benchmarks: unknown --sections {unknown}; choose from {','.join(SECTIONS)}.", file=sys.stderr)
        return 2
    try:
        res = run_bench(s, sections)
    except UserError as exc:
        print(f"benchmarks: {exc}", file=sys.stderr)
        return 2
    print(format_report(res))
    path = write_json(res, args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
