"""Source kinds: ``fashion_mnist`` (built-in real data), ``folder``, ``synthetic``, ``generator`` (GAN zoo)."""

from ganprint.data.sources.base import LoadResult, Source
from ganprint.data.sources.fashion_mnist import FashionMNISTSource, MissingDataError, read_idx
from ganprint.data.sources.folder import FolderSource
from ganprint.data.sources.generator import GeneratorBackend, GeneratorSource
from ganprint.data.sources.subset import SubsetSource
from ganprint.data.sources.synthetic import SyntheticSource

__all__ = ["FashionMNISTSource", "FolderSource", "GeneratorBackend", "GeneratorSource", "LoadResult", "MissingDataError", "Source",
           "SubsetSource", "SyntheticSource", "read_idx"]
