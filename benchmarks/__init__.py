"""Benchmarks of augspace against torchvision, timm, kornia, albumentations and dropblock; see BENCHMARKS.md.

Run ``python -m benchmarks --help`` for the options. The comparison libraries are optional: install them for
benchmarking only (``pip install timm kornia albumentations dropblock``); a missing one is skipped with a note.
"""
