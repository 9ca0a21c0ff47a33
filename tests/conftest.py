"""Test configuration: Hypothesis profiles and torch threads."""

from __future__ import annotations

import os

import torch
from hypothesis import HealthCheck, settings

# "dev" keeps a local run fast; CI selects "ci" through HYPOTHESIS_PROFILE for a wider search. Both derandomise,
# so a failure reproduces exactly on the next run.
settings.register_profile(
    "dev", max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci", max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

torch.set_num_threads(min(2, torch.get_num_threads()))
