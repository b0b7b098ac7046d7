"""Lightning callbacks of our own: what Lightning's built-ins do not measure (``TrainingSpeed``), figures that
need the model (``VisNetFigures``) and a last validation when a step budget ends mid-epoch
(``ValidateAtMaxSteps``). They may import models and reporting's figure code; nothing below imports them."""

from ganprint.callbacks.final_validation import ValidateAtMaxSteps
from ganprint.callbacks.speed import TrainingSpeed
from ganprint.callbacks.visnet_figures import VisNetFigures

__all__ = ["TrainingSpeed", "ValidateAtMaxSteps", "VisNetFigures"]
