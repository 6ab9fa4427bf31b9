"""A revision made runnable, once: isolated builds cached by (revision, recipe hash).

The face of the build layer; the recipes (pip, npm, commands, none) are in tracker.build.recipes, cargo's
in tracker.build.cargo.
"""
from __future__ import annotations

from tracker.build.recipes import BUILD_VERSION, BuildOutcome, build_dir, ensure_build, recipe_hash

__all__ = ["BUILD_VERSION", "BuildOutcome", "build_dir", "ensure_build", "recipe_hash"]
