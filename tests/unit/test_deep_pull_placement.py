"""Pulling into a tree deeper than Python's recursion limit: the placement merges into it and
the staging directory is removed, where both recursed and ended in RecursionError."""

from __future__ import annotations

import os

from kubectl_oras.oci.pull import apply_placement, plan_placement, remove_staging
from tests.support.trees import DEEP, deep_bottom, make_deep_tree, remove_deep_tree


def test_an_artifact_1200_deep_merges_into_the_same_tree_and_its_staging_is_removed(tmp_path):
    staging, out = tmp_path / "staging", tmp_path / "out"
    try:
        staging.mkdir()
        make_deep_tree(staging / "deep")
        out.mkdir()
        make_deep_tree(out / "deep")
        leaf = os.path.join(out, "deep", *["d"] * DEEP, "bottom.txt")
        os.remove(leaf)  # the user's tree lacks the file the artifact has
        moves = plan_placement(str(staging), str(out))  # RecursionError before
        assert [(move.final, move.replaces) for move in moves] == [(leaf, False)]
        apply_placement(moves, graveyard=str(tmp_path))
        assert deep_bottom(out / "deep") == "the bottom\n"
        remove_staging(str(staging))  # what is left of the staged tree: 1,200 directories
        assert not staging.exists()
    finally:
        remove_deep_tree(staging, out)
