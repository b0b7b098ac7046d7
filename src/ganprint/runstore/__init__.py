"""The table specs and the run store: what runs fill which table cells (``spec``, its file format declared
in ``spec_schema``), and where each (job, seed) run lives on disk and what its record says (``store``).

A low layer (imports only ``errors`` and ``utils``): ``pipeline/`` plans and launches runs from it and
``reporting/`` reads their records through it, so neither has to import the other.
"""
