"""Receptive-field arithmetic for chains of local operations (convolutions, pooling, pyramid filters).

``ReceptiveField`` tracks, for one feature map, the side (in input pixels) of the input square that one of its
positions depends on and the input-pixel distance between neighbouring positions ("jump"). Used by
``models.attnet_layout`` to report the patch size of the post-pooling variants (the paper's Table 5). Sizes are the
maximum over positions and ignore image borders (reflect padding folds a border field back into the image).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReceptiveField:
    size: int = 1
    jump: int = 1

    def conv(self, kernel: int = 3, stride: int = 1) -> ReceptiveField:
        """A (kernel x kernel) window with the given stride: convolution, pooling, the binomial blur."""
        return ReceptiveField(self.size + (kernel - 1) * self.jump, self.jump * stride)

    def pool(self, factor: int = 2) -> ReceptiveField:
        """Non-overlapping average pooling by ``factor``."""
        return self.conv(factor, factor)

    def pyramid_down(self, times: int = 1) -> ReceptiveField:
        field = self
        for _ in range(times):
            field = field.conv(5, 2)
        return field

    def pyramid_up(self, times: int = 1) -> ReceptiveField:
        """Zero insertion + 5x5 blur: a fine pixel mixes at most 3 coarse pixels per axis (taps -2, 0, +2)."""
        field = self
        for _ in range(times):
            if field.jump % 2:
                raise ValueError("pyramid_up below the input resolution has no receptive field in input pixels.")
            field = ReceptiveField(field.size + 2 * field.jump, field.jump // 2)
        return field

    def union(self, other: ReceptiveField) -> ReceptiveField:
        """Two branches on the same grid combined position-wise (e.g. a difference of two filtered images)."""
        if self.jump != other.jump:
            raise ValueError("cannot combine feature maps on different grids.")
        return ReceptiveField(max(self.size, other.size), self.jump)
