"""ganprint: GAN fingerprints and image source attribution.

Package layout (one concern per folder): ``data`` (sources, splits, the attribution data module),
``transforms`` (perturbations, frequency filters), ``nn`` (layers shared by attribution nets and GANs),
``models`` (attribution networks and baselines), ``gans`` (the GAN zoo), ``metrics``, ``reporting``
(run records to tables), ``utils`` (entry-point plumbing). Entry points import the package, never the reverse.
"""

__version__ = "0.1.0"
