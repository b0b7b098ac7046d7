"""ganprint's developer benchmark (``make bench``, ``python -m benchmarks``): throughput of ganprint's Lightning
training against a plain PyTorch loop.

One run measures, on the same model, batch size and torch thread count: attNet training images/s of a
hand-written loop and of ``AttributionModule`` + ``AttributionDataModule`` + the configured ``pl.Trainer``;
data-loading and batched-inference images/s; the same training comparison for one GAN family; the machine's
matrix-multiply FLOP/s and attNet's achieved training FLOP/s; and, with a GPU, the paper-scale attNet. Results go
to ``results/bench.json``. One concern per module: ``settings`` (sizes), ``workload`` (configs, data, model,
trainer), ``timing``, ``training``, ``loading``, ``inference``, ``gan``, ``flops``, ``gpu``, ``report``,
``runner``; the command line is ``cli``.

It lives outside the package, as timm keeps its benchmark script: users of ganprint never import it, and the wheel
does not ship it. It sits above everything and may import any part of ganprint; nothing in ganprint imports it.
Imported by ``benchmarks.cli`` and tests only.
"""

from benchmarks.report import format_report, write_json
from benchmarks.runner import SECTIONS, run_bench
from benchmarks.settings import SIZES, BenchSettings

__all__ = ["SECTIONS", "SIZES", "BenchSettings", "format_report", "run_bench", "write_json"]
