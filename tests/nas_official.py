"""The official-code side of the NAS-space cross-check (issue 17, item 7).

For each of the three published spaces archsweep ships (data/spaces/nb201.toml, nats_sss.toml,
ofa_mbv3.toml) this module builds any variant with the space's OFFICIAL constructors and measures
it; it also samples variants and computes the space sizes from the official definitions. It does
not import archsweep: the comparison is written on top of it, once the spec language can say the
spaces. docs/nas-spaces-reference.md describes the networks these constructors build.

What is measured (``Measured``), on the model in eval mode, for a batch of 1:
- ``params``: sum of ``numel`` over ``model.parameters()``.
- ``buffers``, ``buffer_bytes``: sum of ``numel`` (bytes) over ``model.buffers()``. This COUNTS
  BatchNorm's ``num_batches_tracked`` (one int64 per BatchNorm, 8 bytes), as archsweep's
  batchnorm op does (2C + 1); ``batchnorms`` says how many there are, to drop them if wanted.
- ``flops``: ``torch.utils.flop_counter.FlopCounterMode``'s total: 2 x MACs of convolutions and
  matmuls (Linear = addmm); bias adds, BatchNorm, activations, pooling, the global-average-pool
  ``mean``, element-wise products (SE, the zero op's ``mul(0.0)``) and sums count nothing.
- ``output_shape``: the logits' shape. xautodl's networks return ``(features, logits)``; the
  logits are the output (the features are the pooled (1, C) vector before the classifier).

The three spaces, in plain Python terms:
- NAS-Bench-201 topology space: an arch string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (six
  edges, five ops), built by ``xautodl.models.get_cell_based_tiny_net`` with the ``infer.tiny``
  config that the NAS-Bench-201 / NATS-Bench API's ``get_net_config`` returns (C=16, N=5,
  CIFAR-10: 10 classes, 32x32 input).
- NATS-Bench size space: five channel counts as xautodl writes them, ``"64:64:64:64:64"``, built
  by the same function with the ``infer.shape.tiny`` config (the fixed cell ``NATS_SSS_CELL``).
- Once-for-All MobileNetV3: kernel sizes and expand ratios of the 20 block slots (4 per stage;
  a slot beyond its stage's depth does not exist and may be given as None), the 5 stage depths,
  the input resolution and the width multiplier. The network is the STANDALONE
  ``ofa.imagenet_classification.networks.MobileNetV3`` that ``OFAMobileNetV3.set_active_subnet``
  + ``get_active_subnet`` produce: the network a user fine-tunes and deploys (OFA's published
  specialised nets are exactly such MobileNetV3s, see tests/test_nas_official.py). The supernet
  itself is never measured: it holds the weights of every kernel size and expand ratio (7x7
  kernels, 6x expansion, 4 blocks per stage) whatever subnet is active, so its params are never
  the chosen subnet's (they exceed even the largest subnet's, by 14,120 at width 1.0 and 1.2).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

# ---------------------------------------------------------------------------------------------
# NAS-Bench-201 topology space
# ---------------------------------------------------------------------------------------------

# The op list in xautodl's order (xautodl/models/cell_operations.py, NAS_BENCH_201); the order of
# CellStructure.gen_all and so of ``nb201_arch``'s index.
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NB201_NODES = 4
# (to_node, from_node) of the six edges, in arch-string order.
NB201_EDGES = tuple((to, frm) for to in range(1, NB201_NODES) for frm in range(to))
NB201_CHANNELS = 16  # C: channels of the first stage (then 2C, 4C)
NB201_CELLS_PER_STAGE = 5  # N
NB201_CLASSES = 10  # CIFAR-10
NB201_INPUT_SHAPE = (1, 3, 32, 32)
# The seed with which NAS-Bench-201's generate_meta_info shuffles CellStructure.gen_all's list
# into the benchmark's architecture indices (AutoDL-Projects exps/NAS-Bench-201/main.py).
NB201_BENCHMARK_SHUFFLE_SEED = 88


def nb201_arch(edge_ops: Sequence[str]) -> str:
    """The arch string of the cell whose edges, in ``NB201_EDGES`` order, carry ``edge_ops``."""
    if len(edge_ops) != len(NB201_EDGES) or any(op not in NB201_OPS for op in edge_ops):
        raise ValueError(f"need {len(NB201_EDGES)} ops from {NB201_OPS}, got {edge_ops!r}")
    nodes = []
    for to in range(1, NB201_NODES):
        nodes.append("|" + "|".join(f"{edge_ops[i]}~{frm}" for i, (t, frm) in enumerate(NB201_EDGES) if t == to) + "|")
    return "+".join(nodes)


def nb201_edge_ops(arch: str) -> tuple[str, ...]:
    """The six edge ops of an arch string (the inverse of ``nb201_arch``)."""
    ops = tuple(item.split("~")[0] for node in arch.split("+") for item in node.split("|") if item)
    if nb201_arch(ops) != arch:
        raise ValueError(f"not a NAS-Bench-201 arch string: {arch!r}")
    return ops


def nb201_arch_of_index(index: int) -> str:
    """The ``index``-th cell in CellStructure.gen_all's order: mixed radix over the six edges in
    ``NB201_EDGES`` order, the first edge most significant, digits in ``NB201_OPS`` order."""
    if not 0 <= index < nb201_space_size():
        raise ValueError(f"index {index} out of range")
    digits = []
    for _ in NB201_EDGES:
        index, digit = divmod(index, len(NB201_OPS))
        digits.append(digit)
    return nb201_arch([NB201_OPS[d] for d in reversed(digits)])


def nb201_space_size() -> int:
    """5 ops on each of the 6 edges of a 4-node cell: 5^6 = 15,625 (``get_search_spaces`` gives
    the op list; a cell of ``max_nodes`` nodes has max_nodes*(max_nodes-1)/2 edges)."""
    from xautodl.models import get_search_spaces

    ops = get_search_spaces("cell", "nas-bench-201")
    return len(ops) ** (NB201_NODES * (NB201_NODES - 1) // 2)


def nb201_benchmark_archs() -> list[str]:
    """Arch strings in NAS-Bench-201's (and NATS-Bench tss's) index order: gen_all's list shuffled
    by ``random.seed(88); random.shuffle(...)`` as generate_meta_info does."""
    from xautodl.models import CellStructure, get_search_spaces

    archs = [s.tostr() for s in CellStructure.gen_all(get_search_spaces("cell", "nas-bench-201"), NB201_NODES, False)]
    random.Random(NB201_BENCHMARK_SHUFFLE_SEED).shuffle(archs)
    return archs


def nb201_network(arch: str) -> torch.nn.Module:
    """xautodl's TinyNetwork for ``arch``, from the config ``get_net_config`` returns."""
    from xautodl.models import get_cell_based_tiny_net

    nb201_edge_ops(arch)
    config = {"name": "infer.tiny", "C": NB201_CHANNELS, "N": NB201_CELLS_PER_STAGE, "arch_str": arch,
              "num_classes": NB201_CLASSES}
    return get_cell_based_tiny_net(config)


def nb201_sample(n: int, seed: int) -> list[str]:
    """``n`` distinct arch strings, uniform over the 15,625 cells (without replacement)."""
    rng = random.Random(seed)
    return [nb201_arch_of_index(i) for i in rng.sample(range(nb201_space_size()), n)]


# ---------------------------------------------------------------------------------------------
# NATS-Bench size space
# ---------------------------------------------------------------------------------------------

# The cell every size-space network uses (AutoDL-Projects exps/NATS-Bench/main-sss.py: "arch-index
# 9930 ... the architecture with the highest accuracy on CIFAR-100 validation set").
NATS_SSS_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
NATS_SSS_CLASSES = 10  # CIFAR-10
NATS_SSS_INPUT_SHAPE = (1, 3, 32, 32)


def nats_sss_definition() -> tuple[tuple[int, ...], int]:
    """(candidate channel counts, number of layers) from ``get_search_spaces("sss", ...)``."""
    from xautodl.models import get_search_spaces

    space = get_search_spaces("sss", "nats-bench-size")
    return tuple(space["candidates"]), space["numbers"]


def nats_sss_space_size() -> int:
    """8 channel counts for each of 5 layers: 8^5 = 32,768."""
    candidates, layers = nats_sss_definition()
    return len(candidates) ** layers


def nats_sss_channels_of_index(index: int) -> str:
    """The ``index``-th channel string in NATS-Bench sss's order (main-sss.py's traverse_net):
    mixed radix over the layers, the first layer most significant, digits in candidate order."""
    candidates, layers = nats_sss_definition()
    if not 0 <= index < nats_sss_space_size():
        raise ValueError(f"index {index} out of range")
    digits = []
    for _ in range(layers):
        index, digit = divmod(index, len(candidates))
        digits.append(candidates[digit])
    return ":".join(str(c) for c in reversed(digits))


def nats_sss_network(channels: str) -> torch.nn.Module:
    """xautodl's DynamicShapeTinyNet for ``channels`` (e.g. "64:64:64:64:64"), from the config
    the NATS-Bench API's ``get_net_config`` returns for the size space."""
    from xautodl.models import get_cell_based_tiny_net

    candidates, layers = nats_sss_definition()
    values = [int(c) for c in channels.split(":")]
    if len(values) != layers or any(c not in candidates for c in values):
        raise ValueError(f"need {layers} channel counts from {candidates}, got {channels!r}")
    config = {"name": "infer.shape.tiny", "channels": channels, "genotype": NATS_SSS_CELL,
              "num_classes": NATS_SSS_CLASSES}
    return get_cell_based_tiny_net(config)


def nats_sss_sample(n: int, seed: int) -> list[str]:
    """``n`` distinct channel strings, uniform over the 32,768 (without replacement)."""
    rng = random.Random(seed)
    return [nats_sss_channels_of_index(i) for i in rng.sample(range(nats_sss_space_size()), n)]


# ---------------------------------------------------------------------------------------------
# Once-for-All MobileNetV3
# ---------------------------------------------------------------------------------------------

# The supernet of ofa.model_zoo.ofa_net("ofa_mbv3_d234_e346_k357_w1.0" / "..._w1.2").
OFA_KERNEL_SIZES = (3, 5, 7)
OFA_EXPAND_RATIOS = (3, 4, 6)
OFA_DEPTHS = (2, 3, 4)
OFA_STAGES = 5
# The resolutions OFA trains the supernet on (128, 132, ..., 224: 25), which the sampler draws
# from. A subnet runs at any size: the published 595M network is evaluated at 236 (its run.config).
OFA_RESOLUTIONS = tuple(range(128, 225, 4))
OFA_WIDTH_MULTS = (1.0, 1.2)  # the two published supernets
OFA_CLASSES = 1000


@dataclass(frozen=True)
class OfaConfig:
    """One OFA-MobileNetV3 subnet. ``kernel_sizes``/``expand_ratios`` have one entry per block slot
    (``OFA_STAGES`` x max depth = 20, stage-major, as OFAMobileNetV3.set_active_subnet takes
    them); slot j of stage s exists only when j < ``depths[s]``, others are None (or ignored)."""

    kernel_sizes: tuple[int | None, ...]
    expand_ratios: tuple[int | None, ...]
    depths: tuple[int, ...]
    resolution: int
    width_mult: float

    def active_slots(self) -> list[int]:
        max_depth = max(OFA_DEPTHS)
        return [s * max_depth + j for s, d in enumerate(self.depths) for j in range(d)]


@functools.cache
def ofa_supernet(width_mult: float) -> torch.nn.Module:
    """The OFA-MobileNetV3 supernet of ``width_mult`` (random weights: no download), built as
    ofa.model_zoo.ofa_net builds the published ones. Cached: set_active_subnet only switches it."""
    from ofa.imagenet_classification.elastic_nn.networks import OFAMobileNetV3

    return OFAMobileNetV3(n_classes=OFA_CLASSES, dropout_rate=0, width_mult=width_mult,
                          ks_list=list(OFA_KERNEL_SIZES), expand_ratio_list=list(OFA_EXPAND_RATIOS),
                          depth_list=list(OFA_DEPTHS))


def ofa_networks_per_stage() -> int:
    """Distinct stages: sum over depths d of (kernels x expand ratios)^d = 9^2 + 9^3 + 9^4 = 7,371."""
    supernet = ofa_supernet(1.0)
    per_block = len(supernet.ks_list) * len(supernet.expand_ratio_list)
    return sum(per_block**d for d in supernet.depth_list)


def ofa_space_size_per_resolution() -> int:
    """Distinct networks at one resolution and width: 7,371^5 (stages from the supernet's own
    block grouping)."""
    return ofa_networks_per_stage() ** len(ofa_supernet(1.0).block_group_info)


def ofa_network(config: OfaConfig) -> torch.nn.Module:
    """The standalone MobileNetV3 that the supernet of ``config.width_mult`` yields for
    ``config`` (set_active_subnet + get_active_subnet; the weights are the supernet's)."""
    max_depth = max(OFA_DEPTHS)
    if len(config.depths) != OFA_STAGES or any(d not in OFA_DEPTHS for d in config.depths):
        raise ValueError(f"need {OFA_STAGES} depths from {OFA_DEPTHS}, got {config.depths!r}")
    slots = OFA_STAGES * max_depth
    if len(config.kernel_sizes) != slots or len(config.expand_ratios) != slots:
        raise ValueError(f"need {slots} kernel sizes and expand ratios (None where a block does not exist)")
    for i in config.active_slots():
        if config.kernel_sizes[i] not in OFA_KERNEL_SIZES or config.expand_ratios[i] not in OFA_EXPAND_RATIOS:
            raise ValueError(f"block slot {i} exists but has kernel {config.kernel_sizes[i]!r}, "
                             f"expand {config.expand_ratios[i]!r}")
    if config.resolution < 1:
        raise ValueError(f"resolution {config.resolution} is not positive")
    supernet = ofa_supernet(config.width_mult)
    supernet.set_active_subnet(ks=list(config.kernel_sizes), e=list(config.expand_ratios), d=list(config.depths))
    return supernet.get_active_subnet(preserve_weight=True)


def ofa_config_of_stage_indices(stage_indices: Sequence[int], resolution: int, width_mult: float) -> OfaConfig:
    """The config whose stage s is the ``stage_indices[s]``-th of the 7,371 stage networks: depths
    in increasing order (81, then 729, then 6,561 of them), then the blocks' (kernel, expand)
    pairs as mixed radix, the first block most significant, a pair's digit kernel-major."""
    pairs = [(k, e) for k in OFA_KERNEL_SIZES for e in OFA_EXPAND_RATIOS]
    max_depth = max(OFA_DEPTHS)
    kernel_sizes: list[int | None] = []
    expand_ratios: list[int | None] = []
    depths = []
    for index in stage_indices:
        for depth in OFA_DEPTHS:
            if index < len(pairs) ** depth:
                break
            index -= len(pairs) ** depth
        else:
            raise ValueError("stage index out of range")
        digits = []
        for _ in range(depth):
            index, digit = divmod(index, len(pairs))
            digits.append(digit)
        blocks = [pairs[d] for d in reversed(digits)] + [(None, None)] * (max_depth - depth)
        kernel_sizes += [k for k, _ in blocks]
        expand_ratios += [e for _, e in blocks]
        depths.append(depth)
    return OfaConfig(tuple(kernel_sizes), tuple(expand_ratios), tuple(depths), resolution, width_mult)


def ofa_sample(n: int, seed: int, width_mults: Sequence[float] = OFA_WIDTH_MULTS,
               resolutions: Sequence[int] = OFA_RESOLUTIONS) -> list[OfaConfig]:
    """``n`` distinct configs, uniform over distinct networks: resolution and width uniform, each
    stage uniform over its 7,371 networks (so depth d with probability 9^d / 7,371), blocks
    beyond a stage's depth None."""
    rng = random.Random(seed)
    per_stage = ofa_networks_per_stage()
    seen: set[OfaConfig] = set()
    configs = []
    while len(configs) < n:
        config = ofa_config_of_stage_indices([rng.randrange(per_stage) for _ in range(OFA_STAGES)],
                                             rng.choice(list(resolutions)), rng.choice(list(width_mults)))
        if config not in seen:
            seen.add(config)
            configs.append(config)
    return configs


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    params: int
    buffers: int  # num_batches_tracked included (one per BatchNorm)
    buffer_bytes: int
    batchnorms: int
    flops: int  # FlopCounterMode's total, batch 1
    output_shape: tuple[int, ...]


def measure(model: torch.nn.Module, input_shape: Sequence[int], device: str = "cpu") -> Measured:
    """Params, buffers, FlopCounterMode FLOPs and logits shape of ``model`` in eval mode on a zero
    input of ``input_shape``. ``device="meta"`` moves the model to the meta device first: the
    forward then only propagates shapes (FlopCounterMode counts from shapes) and does no
    arithmetic, for the same numbers (tests/test_nas_official.py checks they are the same)."""
    model = model.to(device).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(torch.zeros(tuple(input_shape), device=device))
    logits = out[1] if isinstance(out, tuple) else out
    batchnorms = sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    return Measured(
        params=sum(p.numel() for p in model.parameters()),
        buffers=sum(b.numel() for b in model.buffers()),
        buffer_bytes=sum(b.numel() * b.element_size() for b in model.buffers()),
        batchnorms=batchnorms,
        flops=int(counter.get_total_flops()),
        output_shape=tuple(logits.shape),
    )


def measure_nb201(arch: str, device: str = "cpu") -> Measured:
    return measure(nb201_network(arch), NB201_INPUT_SHAPE, device)


def measure_nats_sss(channels: str, device: str = "cpu") -> Measured:
    return measure(nats_sss_network(channels), NATS_SSS_INPUT_SHAPE, device)


def measure_ofa(config: OfaConfig, device: str = "cpu") -> Measured:
    return measure(ofa_network(config), (1, 3, config.resolution, config.resolution), device)
