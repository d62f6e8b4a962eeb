"""The core: the Blueprint, the compiler, the transforms and the diff.

It imports no backend and no check (tests/test_layers.py).
"""
