"""Reproduction orchestration: experiment specs → jobs (with seeds and parent checkpoints) → Hydra multiruns.

Plans and launches; never reads model code. Tables are built by ``reporting/`` from the run records alone.
"""
