"""What each archsweep op is cross-checked against in tests/test_torch_crosscheck.py, readable
without torch: tests/test_op_coverage.py fails when an op of ``archsweep.ops()`` is in neither
``TORCH_COUNTERPART`` nor ``NOT_CROSS_CHECKED``, so a new op cannot silently go unchecked.

The torch side is the package's own mapping, ``archsweep.pytorch`` (what ``archsweep.to_torch``
and ``archsweep export`` build): ``TORCH_COUNTERPART`` is its ``COUNTERPARTS`` table, and the
cross-check builds each layer with ``archsweep.pytorch.layer_module`` and compares torch's own
measurements of it (parameter numels, buffers, FlopCounterMode, output shapes, refusals) with
archsweep's analysis.

Adding an op to the cross-check: its emitter (and ``COUNTERPARTS`` entry) in
``python/archsweep/pytorch/ops.py`` and a draw in the random-graph generator (``Gen``);
``test_random_graphs_cover_the_ops`` then expects the generator to produce it (or an entry in
``NOT_GENERATED`` naming the test that covers it instead).
"""

from __future__ import annotations

from archsweep.pytorch.ops import COUNTERPARTS

# op -> the torch module or function its export builds (a dotted name under ``torch``;
# test_torch_crosscheck checks that each resolves).
TORCH_COUNTERPART: dict[str, str] = dict(COUNTERPARTS)

# Ops with no torch counterpart in the cross-check, and why (none: every op has one).
NOT_CROSS_CHECKED: dict[str, str] = {}

# Ops that torch_module maps but the random-graph generator does not draw in its N_GRAPHS
# seeds, and why (the grids and tests of the cross-check do not cover them either).
NOT_GENERATED: dict[str, str] = {
    "identity": "a no-op: dropout (drawn by the generator) runs the same view path",
    "zeros": "a NAS cell's `none` edge, shape-preserving and free: data/spaces/nb201.toml's "
    "cross-check (tests/test_nas_spaces.py) runs it against xautodl's Zero on every sampled cell",
    "instancenorm1d": "the generator can draw it (a norm step on an (N, C, L) input) but none of "
    "the N_GRAPHS seeds does; instancenorm2d/3d and the rank-resolved instancenorm run the same "
    "per-channel rule",
    # drawing these in Gen would change every seed's graph: they have random checks of their own
    "chunk": "test_torch_crosscheck.py::test_ops_outside_the_generator draws its configs (valid and refused)",
    "layer_scale": "test_torch_crosscheck.py::test_ops_outside_the_generator draws its configs (valid and refused)",
    "split": "test_torch_crosscheck.py::test_ops_outside_the_generator draws its configs (valid and refused)",
    "slice": "test_torch_crosscheck.py::test_ops_outside_the_generator draws its configs (valid and refused)",
    "pad": "test_torch_crosscheck.py::test_ops_outside_the_generator draws its configs (valid and refused)",
    "mul_scalar": "test_torch_crosscheck.py::test_ops_outside_the_generator draws its configs",
    "stochastic_depth": "test_torch_crosscheck.py::test_ops_outside_the_generator draws its configs (valid and "
    "refused); test_stochastic_depth_keeps_its_mask compares its saved keep-mask with torchvision's",
    "window_attention": "test_torch_crosscheck.py::test_ops_outside_the_generator draws its configs (valid and "
    "refused); tests/test_torch_export.py compares its output with torchvision's Swin attention",
}
