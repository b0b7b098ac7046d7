"""Where attNet's learned trunk runs and what it sees: plain numbers, no layers.

For an input resolution, a Fig. 2 ``mode`` and ``switching_res``, :func:`attnet_layout` says which fixed filter
comes first (none, the binomial low-pass, or the band residual), the resolution the first convolution sees, the
resolutions that get a learned block (two 3x3 convs, 2x2 average pooling between blocks) and the receptive field
in input pixels after each block. ``models.attnet`` builds its layers from this; tests check it on its own.
Imports ``receptive_field`` and ``transforms.filters`` only; imported by ``models.attnet``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ganprint.models.receptive_field import ReceptiveField
from ganprint.transforms.filters import levels_between

# No learned block below 8x8: the head's 3x3 conv takes the 4x4 map.
SMALLEST_BLOCK = 8


@dataclass(frozen=True)
class AttNetLayout:
    """attNet's trunk for one configuration.

    ``preprocess`` is ``identity``, ``lowpass`` (``lowpass_levels`` pyramid levels down) or ``band_residual``;
    ``start`` is the side of the first convolution's input; ``blocks`` the learned resolutions, fine to coarse;
    ``fields`` the receptive field after the block at each of them, keyed by resolution."""

    preprocess: str
    start: int
    blocks: tuple[int, ...]
    input_field: ReceptiveField = ReceptiveField()
    fields: dict[int, ReceptiveField] = field(default_factory=dict)
    lowpass_levels: int = 0

    @property
    def last(self) -> int:
        """Side of the trunk's output map."""
        return self.blocks[-1] if self.blocks else self.start

    @property
    def output_field(self) -> ReceptiveField:
        """Receptive field of one position of the trunk's output (the input filter's alone if nothing is learned)."""
        return self.fields[self.blocks[-1]] if self.blocks else self.input_field


def attnet_layout(resolution: int, mode: str = "full", switching_res: int = 4) -> AttNetLayout:
    """The trunk of ``AttNet(resolution=..., mode=..., switching_res=...)``; arguments are assumed valid."""
    preprocess, levels, input_field, start = "identity", 0, ReceptiveField(), resolution
    if mode == "predownsample" and switching_res < resolution:
        preprocess, levels = "lowpass", levels_between(resolution, switching_res)
        input_field, start = input_field.pyramid_down(levels), switching_res
    elif mode == "residual":
        preprocess = "band_residual"
        fine = input_field.pyramid_down(levels_between(resolution, 2 * switching_res))
        input_field, start = fine.union(fine.pyramid_down().pyramid_up()), 2 * switching_res
    # Postpool learns only above the switching resolution; below it the trunk is plain pooling (the head's).
    lowest = max(2 * switching_res if mode == "postpool" else SMALLEST_BLOCK, SMALLEST_BLOCK)
    blocks = tuple(r for r in (start >> i for i in range(start.bit_length())) if r >= lowest)
    fields, rf = {}, input_field
    for i, r in enumerate(blocks):
        rf = (rf.pool(2) if i else rf).conv(3).conv(3)
        fields[r] = rf
    return AttNetLayout(preprocess, start, blocks, input_field, fields, levels)
