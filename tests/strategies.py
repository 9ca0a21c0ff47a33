"""Hypothesis strategies shared by the test modules.

Randomness stays under Hypothesis' control: a strategy draws an integer seed and builds the ``torch.Generator`` from
it, never the other way round.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st


@st.composite
def generators(draw: st.DrawFn) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from a drawn integer."""
    return torch.Generator().manual_seed(draw(st.integers(min_value=0, max_value=2**32 - 1)))


def image_sizes(*, min_side: int = 1, max_side: int = 40) -> st.SearchStrategy[tuple[int, int]]:
    """Pairs ``(height, width)`` with each side in ``[min_side, max_side]``."""
    side = st.integers(min_value=min_side, max_value=max_side)
    return st.tuples(side, side)


def hole_sizes(*, max_pixels: int = 48) -> st.SearchStrategy[int | float]:
    """Hole sides: ints in pixels up to ``max_pixels`` or floats in (0, 1] as fractions of the shorter side."""
    pixels = st.integers(min_value=1, max_value=max_pixels)
    fractions = st.floats(min_value=0.01, max_value=1.0, allow_nan=False)
    return st.one_of(pixels, fractions)


def image_dtypes() -> st.SearchStrategy[torch.dtype]:
    """The image dtypes every transform supports."""
    return st.sampled_from([torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.uint8])


def make_image(shape: tuple[int, ...], dtype: torch.dtype = torch.float32, *, seed: int = 0) -> torch.Tensor:
    """A random image batch of ``shape``: uniform in [0, 1) for floats, in 0..255 for uint8."""
    generator = torch.Generator().manual_seed(seed)
    if dtype == torch.uint8:
        return torch.randint(0, 256, shape, generator=generator, dtype=torch.uint8)
    return torch.rand(shape, generator=generator).to(dtype)
