"""Random streams shared by the transforms: a generator per DataLoader worker and distributed rank."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed
import torch.utils.data
from torch import Tensor

from ._validation import check_generator

# (distributed rank, DataLoader worker seed) of the main process of rank 0, where -1 means "not in a worker".
_MAIN_STREAM = (0, -1)


@dataclass(frozen=True)
class GeneratorState:
    """A ``torch.Generator`` as plain bytes, for pickling.

    torch's own pickling of a generator sends its state as a shared-memory tensor, which fails when a DataLoader
    with the ``spawn`` start method sends a transform to its workers (seen with torch 2.14).
    """

    device: str
    state: bytes

    @classmethod
    def capture(cls, generator: torch.Generator) -> GeneratorState:
        """Copy the device and state of ``generator``."""
        return cls(str(generator.device), generator.get_state().numpy().tobytes())

    def restore(self) -> torch.Generator:
        """Build a generator on the saved device in the saved state."""
        generator = torch.Generator(device=self.device)
        generator.set_state(torch.frombuffer(bytearray(self.state), dtype=torch.uint8))
        return generator


def _current_stream() -> tuple[int, int]:
    """Return the distributed rank and the DataLoader worker seed of the calling process."""
    worker = torch.utils.data.get_worker_info()
    worker_seed = -1 if worker is None else worker.seed
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    rank = torch.distributed.get_rank() if distributed else 0
    return rank, worker_seed


class RandomStreamMixin:
    """Mixin for modules that draw from an optional ``generator``: per-worker and per-rank streams, and pickling."""

    generator: torch.Generator | None

    def set_generator(self, owner: str, generator: Any) -> None:
        """Check and store ``generator``, remembering its initial seed for reseeding in workers and ranks."""
        self.generator = check_generator(owner, generator)
        self._initial_seed = None if generator is None else generator.initial_seed()
        self._stream = _MAIN_STREAM

    def stream_generator(self) -> torch.Generator | None:
        """Return the module's own generator, reseeded once in each DataLoader worker and distributed rank.

        Every worker and rank receives a copy of the module whose generator is in the same state, so without
        reseeding they would all draw the same numbers. The first draw in a worker or on a rank other than 0 reseeds
        the generator from its initial seed, the rank and the worker's seed. The worker's seed comes from the
        DataLoader's base seed, so an epoch is reproducible from the DataLoader's generator (or ``torch.manual_seed``)
        and the module's seed. The main process of rank 0 keeps the stream as given. Returns ``None`` when the
        module draws from torch's global generator, which DataLoader already seeds per worker.
        """
        if self.generator is None:
            return None
        stream = _current_stream()
        if stream != self._stream:
            if stream != _MAIN_STREAM:
                rank, worker_seed = stream
                entropy = [self._initial_seed, rank, worker_seed + 1]
                self.generator.manual_seed(int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] >> 1))
            self._stream = stream
        return self.generator

    def draw_uniform(self, shape: tuple[int, ...] | torch.Size, device: torch.device) -> Tensor:
        """Draw float32 numbers uniform in [0, 1) on ``device`` from the module's stream."""
        generator = self.stream_generator()
        if generator is None:
            return torch.rand(shape, device=device)
        return torch.rand(shape, generator=generator, device=generator.device).to(device)

    def draw_normal(self, shape: tuple[int, ...] | torch.Size, device: torch.device) -> Tensor:
        """Draw float32 standard normal numbers on ``device`` from the module's stream."""
        generator = self.stream_generator()
        if generator is None:
            return torch.randn(shape, device=device)
        return torch.randn(shape, generator=generator, device=generator.device).to(device)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if state.get("generator") is not None:
            state["generator"] = GeneratorState.capture(state["generator"])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("generator"), GeneratorState):
            state = {**state, "generator": state["generator"].restore()}
        super().__setstate__(state)  # type: ignore[misc]
