"""Helpers for network tests: parameter counts and the conv widths of equalized-lr layers."""


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv_widths(module) -> list[tuple[int, int]]:
    """(in, out) channels of every EqualizedConv2d, in order."""
    return [(m.weight.shape[1], m.weight.shape[0]) for m in module.modules() if m.__class__.__name__ == "EqualizedConv2d"]
