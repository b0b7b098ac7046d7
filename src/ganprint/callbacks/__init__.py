"""Lightning callbacks of our own: what Lightning's built-ins do not measure (``TrainingSpeed``) and figures that
need the model (``VisNetFigures``). They may import models and reporting's figure code; nothing below imports them."""

from ganprint.callbacks.speed import TrainingSpeed
from ganprint.callbacks.visnet_figures import VisNetFigures

__all__ = ["TrainingSpeed", "VisNetFigures"]
