"""Data: source kinds, deterministic splits, the manifest and the attribution LightningDataModule.

Knows nothing of models/ or gans/: a ``generator`` source reaches the GAN zoo through the small backend
interface defined in ``data/sources/generator.py``. May be imported by entry points, reporting and tests.
"""

from ganprint.data.datamodule import AttributionDataModule, ImageArrayDataset, LeakageError, to_float

__all__ = ["AttributionDataModule", "ImageArrayDataset", "LeakageError", "to_float"]
