"""Lightning callbacks of our own (what Lightning's built-ins do not measure)."""

from ganprint.callbacks.speed import TrainingSpeed

__all__ = ["TrainingSpeed"]
