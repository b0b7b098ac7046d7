"""Reproduction orchestration: table specs → jobs (with seeds and parent checkpoints) → Hydra multiruns.

Plans and launches; never reads model code. The specs and the run store it plans from live below it in
``runstore/``; the tasks it runs are handed in by the caller (``tasks/reproduce.py``), never imported. Tables are
built by ``reporting/`` from the run records alone. Imported only by ``tasks/`` and the command-line shells.
"""
