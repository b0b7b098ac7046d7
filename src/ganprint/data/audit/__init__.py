"""The shortcut audit: do the sources differ by something other than their generator?

Per source, from the files themselves (``properties``, ``jpeg``): container format, JPEG quality from the
quantization tables, original size, colour mode and bit depth, EXIF and ICC presence, bytes per pixel, and a
perceptual hash (``phash``) for near-duplicates across sources. A metadata-only classifier (``classifier``)
trained on those properties alone says whether the labels can be predicted without looking at a single pixel;
``run`` puts it together and words the warnings, ``summary`` the per-source tables. The fix is configuration,
``data.normalize`` (``ganprint.data.normalize``). Imports ``data/`` only; the content-only score, which needs a
model, is added by ``ganprint.tasks.audit``. May be imported by tasks, reporting and tests.
"""

from ganprint.data.audit.run import audit_sources, render

__all__ = ["audit_sources", "render"]
