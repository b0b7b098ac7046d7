"""Reporting: run records → tables (Markdown, LaTeX, CSV), figures and the results index.

Reads run records and figure files only; never imports a model. A figure that needs a model is made by the run
that has it and saved beside its record.
"""
