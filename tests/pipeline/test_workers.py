"""The reproduction's worker processes: they stop when the reproduction that started them is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

SCRIPT = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from ganprint.pipeline.runs import _init_worker

def pid_then_sleep(_):
    return os.getpid()

if __name__ == "__main__":
    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(1,)) as pool:
        print(pool.submit(pid_then_sleep, 0).result(), flush=True)
        pool.submit(time.sleep, 600)
        time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie waiting for its reaper counts as gone
        return fh.read().split()[2] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
def test_a_worker_dies_with_a_killed_reproduction(tmp_path):
    script = tmp_path / "pool.py"
    script.write_text(SCRIPT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    assert alive(worker)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 20
    while alive(worker) and time.time() < deadline:
        time.sleep(0.2)
    assert not alive(worker), "the worker outlived the killed reproduction"


def test_one_worker_runs_its_jobs_on_the_threads_per_worker(tmp_path):
    """workers=1 runs the jobs in the reproduction's own process; it must get the same thread count as a worker
    process, or a lone job takes every core beside other work (2 threads ran a job at 160 % CPU next to two
    one-thread workers)."""
    import torch

    from ganprint.pipeline.runs import Launch, LaunchReport, PlannedJob, launch_in_process
    from ganprint.runstore.spec import JobSpec

    seen = []

    def run_job(entry, overrides, run_dir, composed):
        seen.append(torch.get_num_threads())
        return 0

    job = JobSpec("train", ("model=knn",))
    planned = PlannedJob(job, LaunchReport("k", "train", [1000], []), [])
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        launch_in_process([planned], Launch(tmp_path, "smoke", "in_process", run_job=run_job, threads_per_worker=1))
    finally:
        torch.set_num_threads(before)
    assert seen == [1] and planned.report.returncode == 0
