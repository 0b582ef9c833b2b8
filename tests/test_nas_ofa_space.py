"""data/spaces/ofa_mbv3.toml against the official Once-for-All code (tests/nas_official.py): for
seeded samples of the space, the subnet OFAMobileNetV3.get_active_subnet() builds for the same
configuration has exactly the params, buffers, FlopCounterMode FLOPs and output shape of the
sweep's row. Also the space's size and the published 595M network.

Skipped (with the reason) when torch or ofa is missing; under ARCHSWEEP_REQUIRE_TORCH=1 a missing
one is an error. scripts/torch-env installs them (tests/requirements/torch.txt).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from optional_modules import require

import archsweep
from archsweep import Space

torch = require("torch")
require("ofa.imagenet_classification.elastic_nn.networks")

import nas_official as official  # noqa: E402 (after the skip when torch or ofa is absent)

pytestmark = pytest.mark.filterwarnings("error")

OFA = Path(__file__).resolve().parents[1] / "data" / "spaces" / "ofa_mbv3.toml"
SLOTS = official.OFA_STAGES * max(official.OFA_DEPTHS)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small forwards on a shared 2-core machine: one intra-op thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def space() -> Space:
    return Space.load(OFA)


def official_config(row: dict) -> official.OfaConfig:
    """The official code's configuration of a sweep row (absent block slots are null: None)."""
    return official.OfaConfig(
        kernel_sizes=tuple(row[f"kernel_{i}"] for i in range(SLOTS)),
        expand_ratios=tuple(row[f"expand_{i}"] for i in range(SLOTS)),
        depths=tuple(row[f"depth_{s}"] for s in range(official.OFA_STAGES)),
        resolution=row["res"],
        width_mult=row["width_mult"],
    )


def test_size_is_the_official_count(space):
    per_resolution_and_width = official.ofa_space_size_per_resolution()
    assert per_resolution_and_width == 7_371**5
    assert space.variables["res"] == list(official.OFA_RESOLUTIONS)
    assert space.variables["width_mult"] == list(official.OFA_WIDTH_MULTS)
    assert space.size == len(official.OFA_RESOLUTIONS) * len(official.OFA_WIDTH_MULTS) * per_resolution_and_width


def test_sampled_subnets_equal_the_official_ones(space):
    rows = archsweep.sweep(space, sample=240, seed=17)
    assert rows.height == 240 and rows["variant_id"].n_unique() == 240 and rows["valid"].all()
    seen = set()
    for row in rows.iter_rows(named=True):
        config = official_config(row)
        seen.add(config)
        # the blocks that exist are exactly those below each stage's depth
        assert [i for i in range(SLOTS) if config.kernel_sizes[i] is not None] == config.active_slots()
        assert [i for i in range(SLOTS) if config.expand_ratios[i] is not None] == config.active_slots()
        got = official.measure_ofa(config, device="meta")
        assert (row["params"], row["buffers"], row["flops"]) == (got.params, got.buffers, got.flops), config
        assert tuple(row["output_shape"]) == got.output_shape == (1, official.OFA_CLASSES), config
    assert len(seen) == 240
    # a sample is uniform over networks: a stage is 4 deep in 6,561 of its 7,371 networks
    deep = sum(rows[f"depth_{s}"].eq(4).sum() for s in range(official.OFA_STAGES)) / (5 * 240)
    assert abs(deep - 6_561 / 7_371) < 0.05, deep


def test_the_published_595m_network(space):
    """OFA's flops@595M_top1@80.0_finetune@75 (docs/nas-spaces-reference.md §3), the spec's
    preset, evaluated at its published 236 px: the official subnet's numbers."""
    vid = space.preset_id("ofa_595m")
    report = archsweep.analyze(space.model(vid), input_shape=[3, 236, 236])
    assert (report.totals["params"], report.totals["buffers"], report.totals["macs"]) == (9_135_928, 42_605, 595_189_032)
    cfg = space.config(vid)
    config = official_config({**{f"{n}_{i}": None for n in ("kernel", "expand") for i in range(SLOTS)}, **cfg, "res": 236})
    got = official.measure_ofa(config, device="meta")
    assert (report.totals["params"], report.totals["buffers"], report.totals["flops"]) == (got.params, got.buffers, got.flops)
