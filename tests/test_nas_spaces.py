"""The NAS spaces archsweep ships against the official code that defines them (issue 17).

data/spaces/nb201.toml and data/spaces/nats_sss.toml are compared with the networks xautodl
builds (tests/nas_official.py): their sizes with the published counts, their variant ids with the
benchmarks' index orders, and on >= 200 seeded variants of each space archsweep's params,
buffers, FLOPs (FlopCounterMode's total) and output shape with the official network's, variant by
variant. Skipped (with the reason) when torch or xautodl is missing; under
ARCHSWEEP_REQUIRE_TORCH=1 a missing one is an error. scripts/torch-env installs them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from optional_modules import require

torch = require("torch")
require("xautodl.models")

import nas_official as official  # noqa: E402 (after the skip when torch or xautodl are absent)

import archsweep  # noqa: E402

SPACES = Path(__file__).resolve().parents[1] / "data" / "spaces"
VARIANTS = 200

pytestmark = pytest.mark.filterwarnings("error")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small forwards on a shared 2-core machine: one intra-op thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def nb201_config(arch: str) -> dict[str, str]:
    """The archsweep config of an arch string: edge_j_i is the op on the edge i -> j."""
    ops = official.nb201_edge_ops(arch)
    return {f"edge_{to}_{frm}": op for (to, frm), op in zip(official.NB201_EDGES, ops)}


def nats_sss_config(channels: str) -> dict[str, int]:
    return {f"channels_{k}": int(c) for k, c in enumerate(channels.split(":"))}


def compare(space: archsweep.Space, configs: list[dict], measured: list[official.Measured], names: list[str]) -> None:
    ids = [space.variant_id(c) for c in configs]
    rows = archsweep.sweep(space, ids=ids)
    assert rows["valid"].all()
    by_id = {row["variant_id"]: row for row in rows.iter_rows(named=True)}
    for variant_id, name, m in zip(ids, names, measured):
        row = by_id[variant_id]
        assert (row["params"], row["buffers"], row["flops"], tuple(row["output_shape"])) == \
            (m.params, m.buffers, m.flops, m.output_shape), name


def test_nb201_size_and_index_order():
    space = archsweep.Space.load(SPACES / "nb201.toml")
    assert space.size == official.nb201_space_size() == 15_625
    for index in (0, 1, 4, 5, 3_906, 11_718, 15_624):
        arch = official.nb201_arch_of_index(index)
        assert space.variant_id(nb201_config(arch)) == index
        assert space.config(index) == nb201_config(arch)


def test_nb201_sampled_variants_match_xautodl():
    space = archsweep.Space.load(SPACES / "nb201.toml")
    archs = official.nb201_sample(VARIANTS, seed=201) + [official.NATS_SSS_CELL, official.nb201_arch_of_index(0)]
    measured = [official.measure_nb201(arch, device="meta") for arch in archs]
    compare(space, [nb201_config(a) for a in archs], measured, archs)


def test_nats_sss_size_and_index_order():
    space = archsweep.Space.load(SPACES / "nats_sss.toml")
    assert space.size == official.nats_sss_space_size() == 32_768
    for index in (0, 1, 8, 4_681, 32_767):
        channels = official.nats_sss_channels_of_index(index)
        assert space.variant_id(nats_sss_config(channels)) == index


def test_nats_sss_sampled_variants_match_xautodl():
    space = archsweep.Space.load(SPACES / "nats_sss.toml")
    samples = official.nats_sss_sample(VARIANTS, seed=32_768) + ["8:8:8:8:8", "64:8:64:8:64", "64:64:64:64:64"]
    measured = [official.measure_nats_sss(channels, device="meta") for channels in samples]
    compare(space, [nats_sss_config(c) for c in samples], measured, samples)
