"""Validation after the last optimizer step when a step budget (``trainer.max_steps``) ends mid-epoch."""

from __future__ import annotations

import pytorch_lightning as pl


class ValidateAtMaxSteps(pl.Callback):
    """Asks Lightning to stop, and so to validate, on the batch that reaches ``trainer.max_steps``.

    Lightning validates at epoch ends; a step budget that ends inside an epoch ends training without a last
    validation, so the checkpoint callback never sees the final weights and the run is tested on the last
    epoch-end checkpoint instead. With a one-cycle schedule those are the weights of the highest learning rates:
    Table 2 at the cpu scale (657 batches per epoch, 3,000 steps) lost its last 372 steps, where the rate falls
    from 1e-3 to 0. Requesting the stop through ``trainer.should_stop`` is the path Lightning validates on
    (early stopping's), so the final weights are validated, checkpointed and, if best, tested.
    """

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        budget = int(trainer.max_steps)
        if budget > 0 and trainer.global_step >= budget:
            trainer.should_stop = True
