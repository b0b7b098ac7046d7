"""Attribution networks (attNet and its variants, visNet), the attribution LightningModule, baselines.

Models take tensors (or arrays, for the classical baselines) and know nothing of files or sources.
"""
