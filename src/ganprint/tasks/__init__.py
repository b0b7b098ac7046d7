"""What each entry point does (train, evaluate, attribute), as plain functions of a config.

The ``@hydra.main`` entry points in ``ganprint/*.py`` only call these. May import everything in the package.
"""
