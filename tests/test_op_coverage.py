"""Every op is cross-checked against torch or exempt with a reason (runs without torch): the
list of ops comes from the core, the cross-check's table from tests/torch_counterparts.py."""

from __future__ import annotations

from torch_counterparts import NOT_CROSS_CHECKED, NOT_GENERATED, TORCH_COUNTERPART

import archsweep


def test_every_op_has_a_torch_counterpart_or_an_exemption():
    ops = set(archsweep.ops())
    unaccounted = ops - set(TORCH_COUNTERPART) - set(NOT_CROSS_CHECKED)
    assert not unaccounted, (
        f"ops neither cross-checked nor exempt: {sorted(unaccounted)}; add a torch builder and an entry in "
        "tests/torch_counterparts.py TORCH_COUNTERPART, or an exemption with its reason in NOT_CROSS_CHECKED"
    )


def test_the_tables_name_real_ops_once():
    ops = set(archsweep.ops())
    for table in (TORCH_COUNTERPART, NOT_CROSS_CHECKED, NOT_GENERATED):
        assert set(table) <= ops, f"not ops: {sorted(set(table) - ops)}"
    assert not set(TORCH_COUNTERPART) & set(NOT_CROSS_CHECKED), "an op is both cross-checked and exempt"
    # the generator can only draw what torch_module builds
    assert set(NOT_GENERATED) <= set(TORCH_COUNTERPART)
    for table in (NOT_CROSS_CHECKED, NOT_GENERATED):
        assert all(why.strip() for why in table.values()), "every exemption says why"
