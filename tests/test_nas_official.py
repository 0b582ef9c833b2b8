"""Facts about the official NAS code that tests/nas_official.py drives (xautodl, ofa).

These pin what comes from outside archsweep: the published figures and conventions of
NAS-Bench-201 / NATS-Bench (AutoDL-Projects, xautodl) and Once-for-All (ofa, its published
specialised networks), plus hand derivations written out here, checked against the official
constructors. The per-variant comparison with archsweep's data/spaces/*.toml builds on
nas_official.py once the spec language can say the spaces.

Skipped (with the reason) when torch, xautodl or ofa is missing; under ARCHSWEEP_REQUIRE_TORCH=1
a missing one is an error. scripts/torch-env installs them (tests/requirements/torch.txt).
"""

from __future__ import annotations

import collections
import math

import pytest
from optional_modules import require

torch = require("torch")
require("xautodl.models")
require("ofa.imagenet_classification.elastic_nn.networks")

import nas_official as official  # noqa: E402 (after the skip when torch, xautodl or ofa are absent)

pytestmark = pytest.mark.filterwarnings("error")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small forwards on a shared 2-core machine: one intra-op thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------
# Space sizes and orders, from the official definitions
# ---------------------------------------------------------------------------------------------


def test_space_sizes_from_the_official_definitions():
    assert official.nb201_space_size() == 5**6 == 15_625
    assert official.nats_sss_definition() == ((8, 16, 24, 32, 40, 48, 56, 64), 5)
    assert official.nats_sss_space_size() == 8**5 == 32_768
    assert official.ofa_networks_per_stage() == 9**2 + 9**3 + 9**4 == 7_371
    assert official.ofa_space_size_per_resolution() == 7_371**5
    assert len(official.OFA_RESOLUTIONS) == 25 and official.OFA_RESOLUTIONS[::24] == (128, 224)


def test_nb201_index_is_gen_all_order():
    from xautodl.models import CellStructure, get_search_spaces

    structures = CellStructure.gen_all(get_search_spaces("cell", "nas-bench-201"), 4, False)
    assert len(structures) == 15_625
    assert [s.tostr() for s in structures] == [official.nb201_arch_of_index(i) for i in range(15_625)]


def test_nb201_benchmark_indices():
    """AutoDL-Projects exps/NAS-Bench-201/main.py, generate_meta_info: gen_all's list shuffled with
    random.seed(88) asserts these two entries; main-sss.py names the size space's cell arch-index
    9930 (NATS-Bench tss keeps NAS-Bench-201's indices)."""
    archs = official.nb201_benchmark_archs()
    assert archs[0] == "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    assert archs[9] == "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    assert archs.index(official.NATS_SSS_CELL) == 9930


def test_nats_sss_index_is_traverse_net_order():
    """main-sss.py's traverse_net appends candidates to the right, the first layer varying slowest."""
    assert official.nats_sss_channels_of_index(0) == "8:8:8:8:8"
    assert official.nats_sss_channels_of_index(1) == "8:8:8:8:16"
    assert official.nats_sss_channels_of_index(8) == "8:8:8:16:8"
    assert official.nats_sss_channels_of_index(32_767) == "64:64:64:64:64"


# ---------------------------------------------------------------------------------------------
# NAS-Bench-201 by hand (C=16, N=5, CIFAR-10)
# ---------------------------------------------------------------------------------------------

# The part every cell choice shares (derived in test_nb201_all_none):
NB201_FIXED_PARAMS = 73_306
NB201_FIXED_BUFFERS = 550
NB201_FIXED_MACS = 7_783_040


def nb201_by_hand(arch: str) -> tuple[int, int, int]:
    """(params, buffers, MACs) from the cell's ops: per cell and edge, nor_conv_kxk is ReLU ->
    Conv(C, C, k, bias=False) -> BN(C) (k^2 C^2 + 2C params, 2C + 1 buffers, H W k^2 C^2 MACs);
    none, skip_connect (identity: C_in == C_out, stride 1) and avg_pool_3x3 (no 1x1 preprocess:
    C_in == C_out) cost nothing. Each of the 3 stages (C, H W) has N=5 such cells."""
    kernel = {"nor_conv_3x3": 3, "nor_conv_1x1": 1}
    params, buffers, macs = NB201_FIXED_PARAMS, NB201_FIXED_BUFFERS, NB201_FIXED_MACS
    for c, hw in ((16, 32 * 32), (32, 16 * 16), (64, 8 * 8)):
        for op in official.nb201_edge_ops(arch):
            if op in kernel:
                k2 = kernel[op] ** 2
                params += 5 * (k2 * c * c + 2 * c)
                buffers += 5 * (2 * c + 1)
                macs += 5 * hw * k2 * c * c
    return params, buffers, macs


def test_nb201_all_none():
    """All edges `none`: only the skeleton. Params:
      stem Conv(3,16,3) 432 + BN(16) 32                                              =    464
      reduction 16->32 (ResNetBasicblock, stride 2):
        conv_a ReLU-Conv(16,32,3,s2)-BN 4,608 + 64; conv_b ReLU-Conv(32,32,3)-BN 9,216 + 64;
        downsample AvgPool(2,2)-Conv(16,32,1) 512 (no BN)                              = 14,464
      reduction 32->64: 18,432 + 128 + 36,864 + 128 + 2,048                            = 57,600
      lastact BN(64) 128; classifier Linear(64,10) 640 + 10                            =    778
                                                                                 total = 73,306
    Buffers: BN(16) 33 + 2 BN(32) 130 + 2 BN(64) 258 + BN(64) 129 = 550 (2C + 1 each: running mean
    and var, num_batches_tracked). MACs (output positions x inputs per output):
      stem 1,024 x 16 x 27 = 442,368; reduction 1: 256 x 32 x 144 + 256 x 32 x 288 + 256 x 32 x 16
      = 3,670,016; reduction 2: 64 x 64 x 288 + 64 x 64 x 576 + 64 x 64 x 32 = 3,670,016;
      classifier 640                                                         total = 7,783,040
    FlopCounterMode counts 2 x MACs (bias adds, pools and the zero op's mul(0.0) are free)."""
    measured = official.measure_nb201("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert measured.params == NB201_FIXED_PARAMS
    assert measured.buffers == NB201_FIXED_BUFFERS and measured.batchnorms == 6
    assert measured.buffer_bytes == 4 * (550 - 6) + 8 * 6
    assert measured.flops == 2 * NB201_FIXED_MACS
    assert measured.output_shape == (1, 10)


def test_nb201_all_nor_conv_3x3():
    """Every edge ReLU-Conv(C,C,3)-BN: 6 edges x 5 cells per stage on top of the skeleton.
      params  C=16: 30 x (2,304 + 32) = 70,080; C=32: 30 x (9,216 + 64) = 278,400;
              C=64: 30 x (36,864 + 128) = 1,109,760; + 73,306 = 1,531,546
      buffers 30 x (33 + 65 + 129) + 550 = 7,360
      MACs    each stage 30 x H W 9 C^2 = 30 x 1,024 x 2,304 = 70,778,880 (H W C^2 is the same in
              all three stages); 3 x 70,778,880 + 7,783,040 = 220,119,680"""
    measured = official.measure_nb201(official.nb201_arch(["nor_conv_3x3"] * 6))
    assert (measured.params, measured.buffers, measured.flops) == (1_531_546, 7_360, 2 * 220_119_680)
    assert nb201_by_hand(official.nb201_arch(["nor_conv_3x3"] * 6)) == (1_531_546, 7_360, 220_119_680)


def test_nb201_resnet_cell():
    """xautodl's ResNet_CODE in the 6-edge form: two nor_conv_3x3 per cell, the rest skip/none.
    params 73,306 + 5 x 2 x (2,336 + 9,280 + 36,992) = 559,386."""
    arch = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
    measured = official.measure_nb201(arch)
    params, buffers, macs = nb201_by_hand(arch)
    assert measured.params == params == 559_386
    assert (measured.buffers, measured.flops) == (buffers, 2 * macs)


def test_nb201_sampled_variants_match_the_hand_formula():
    for arch in official.nb201_sample(12, seed=201):
        measured = official.measure_nb201(arch, device="meta")
        params, buffers, macs = nb201_by_hand(arch)
        assert (measured.params, measured.buffers, measured.flops, measured.output_shape) == \
            (params, buffers, 2 * macs, (1, 10)), arch


def test_nb201_xautodl_counter_is_flop_counter_mode_halved_plus_classifier_bias():
    """xautodl's get_model_infos (the counter behind the benchmarks' 'flops' and 'params'
    columns, in units of 1e6) counts conv and linear MACs plus one per bias output: here only the
    classifier has a bias, so its 'FLOPs' = FlopCounterMode / 2 + 10, and 'Params' = params / 1e6."""
    from xautodl.utils import get_model_infos

    for arch in ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", official.NATS_SSS_CELL):
        measured = official.measure_nb201(arch)
        mflops, mparams = get_model_infos(official.nb201_network(arch), official.NB201_INPUT_SHAPE)
        assert round(mflops * 1e6) == measured.flops // 2 + 10
        assert round(mparams * 1e6) == measured.params


# ---------------------------------------------------------------------------------------------
# NATS-Bench size space by hand
# ---------------------------------------------------------------------------------------------


def nats_sss_by_hand(channels: str) -> tuple[int, int, int]:
    """(params, buffers, MACs) of DynamicShapeTinyNet(c0..c4) with NATS_SSS_CELL:
    stem Conv(3,c0,3)-BN at 32x32; cell c0->c0 at 32x32; ResNetBasicblock c0->c1 stride 2; cell
    c1->c2 at 16x16; ResNetBasicblock c2->c3 stride 2; cell c3->c4 at 8x8; BN(c4), Linear(c4,10).
    A cell i->o of this genotype: edges 0->1 and 0->2 are ReLU-Conv(i,o,3)-BN, edges 1->2, 1->3,
    2->3 ReLU-Conv(o,o,3)-BN, edge 0->3 skip_connect: the identity when i == o, otherwise
    FactorizedReduce stride 1 = Conv(i,o,1)-BN (no ReLU at stride 1)."""
    c0, c1, c2, c3, c4 = (int(c) for c in channels.split(":"))
    params = buffers = macs = 0

    def conv_bn(cin, cout, k, hw):
        nonlocal params, buffers, macs
        params += k * k * cin * cout + 2 * cout
        buffers += 2 * cout + 1
        macs += hw * k * k * cin * cout

    def cell(i, o, hw):
        conv_bn(i, o, 3, hw)
        conv_bn(i, o, 3, hw)
        for _ in range(3):
            conv_bn(o, o, 3, hw)
        if i != o:
            conv_bn(i, o, 1, hw)

    def reduction(i, o, hw_out):
        nonlocal params, macs
        conv_bn(i, o, 3, hw_out)  # conv_a, stride 2
        conv_bn(o, o, 3, hw_out)  # conv_b
        params += i * o  # downsample: AvgPool2d(2, 2) -> Conv(i, o, 1), no BN
        macs += hw_out * i * o

    conv_bn(3, c0, 3, 32 * 32)
    cell(c0, c0, 32 * 32)
    reduction(c0, c1, 16 * 16)
    cell(c1, c2, 16 * 16)
    reduction(c2, c3, 8 * 8)
    cell(c3, c4, 8 * 8)
    params += 2 * c4 + 10 * c4 + 10
    buffers += 2 * c4 + 1
    macs += 10 * c4
    return params, buffers, macs


def test_nats_sss_largest():
    """64:64:64:64:64 (every skip an identity). MACs: stem 1,024 x 27 x 64 = 1,769,472;
    cell at 32x32 5 x 1,024 x 9 x 4,096 = 188,743,680; reductions 2 x 256 x 9 x 4,096 + 256 x 4,096
    = 19,922,944 and 2 x 64 x 9 x 4,096 + 64 x 4,096 = 4,980,736; cells at 16x16 and 8x8
    47,185,920 and 11,796,480; classifier 640: 274,399,872 MACs."""
    measured = official.measure_nats_sss("64:64:64:64:64")
    assert measured.flops == 2 * 274_399_872
    assert (measured.params, measured.buffers, measured.flops // 2) == nats_sss_by_hand("64:64:64:64:64")
    assert measured.batchnorms == 1 + 5 + 2 + 5 + 2 + 5 + 1


def test_nats_sss_sampled_variants_match_the_hand_formula():
    for channels in official.nats_sss_sample(12, seed=32768) + ["8:8:8:8:8", "64:8:64:8:64"]:
        measured = official.measure_nats_sss(channels, device="meta")
        params, buffers, macs = nats_sss_by_hand(channels)
        assert (measured.params, measured.buffers, measured.flops, measured.output_shape) == \
            (params, buffers, 2 * macs, (1, 10)), channels


# ---------------------------------------------------------------------------------------------
# Once-for-All MobileNetV3
# ---------------------------------------------------------------------------------------------


def make_divisible(value: float, divisor: int = 8) -> int:
    """OFA's rule (ofa/utils/pytorch_modules.py, from TF's mobilenet): round to the nearest
    multiple of the divisor, at least the divisor, and never more than 10 % below the value."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


OFA_BASE_WIDTHS = (16, 16, 24, 40, 80, 112, 160, 960, 1280)  # stem, first block, 5 stages, final expand, feature mix
OFA_STAGE_STRIDES = (2, 2, 2, 1, 2)
OFA_STAGE_SE = (False, True, False, True, True)


def test_ofa_widths():
    """width_mult scales every base width through make_divisible(., 8); OFA's own make_divisible
    agrees with the rule restated here on every published and a few other multipliers."""
    from ofa.utils import make_divisible as ofa_make_divisible

    assert [make_divisible(b * 1.0) for b in OFA_BASE_WIDTHS] == [16, 16, 24, 40, 80, 112, 160, 960, 1280]
    assert [make_divisible(b * 1.2) for b in OFA_BASE_WIDTHS] == [24, 24, 32, 48, 96, 136, 192, 1152, 1536]
    for width_mult in (0.35, 0.5, 0.75, 1.0, 1.1, 1.2, 1.3):
        for base in OFA_BASE_WIDTHS:
            assert make_divisible(base * width_mult) == ofa_make_divisible(base * width_mult, 8)


def ofa_by_hand(config: official.OfaConfig) -> tuple[int, int, int]:
    """(params, buffers, MACs) of the subnet, from docs/nas-spaces-reference.md's description."""
    widths = [make_divisible(b * config.width_mult) for b in OFA_BASE_WIDTHS]
    params = buffers = macs = 0

    def out_size(h, stride):  # odd kernel k, padding k // 2
        return (h - 1) // stride + 1

    def conv(cin, cout, k, h_out, groups=1, bn=True, bias=False):
        nonlocal params, buffers, macs
        params += k * k * cin // groups * cout + (cout if bias else 0)
        macs += h_out * h_out * k * k * cin // groups * cout
        if bn:
            params += 2 * cout
            buffers += 2 * cout + 1

    h = out_size(config.resolution, 2)
    conv(3, widths[0], 3, h)  # first_conv: Conv-BN-h_swish, stride 2
    conv(widths[0], widths[0], 3, h, groups=widths[0])  # first block: depthwise 3x3-BN-ReLU
    conv(widths[0], widths[1], 1, h)  # ... point-linear Conv-BN (identity shortcut)
    cin = widths[1]
    for stage in range(official.OFA_STAGES):
        cout = widths[2 + stage]
        for j in range(config.depths[stage]):
            slot = stage * 4 + j
            k, e = config.kernel_sizes[slot], config.expand_ratios[slot]
            mid = make_divisible(round(cin * e))
            conv(cin, mid, 1, h)  # inverted bottleneck
            h = out_size(h, OFA_STAGE_STRIDES[stage] if j == 0 else 1)
            conv(mid, mid, k, h, groups=mid)  # depthwise
            if OFA_STAGE_SE[stage]:
                squeeze = make_divisible(mid // 4)
                conv(mid, squeeze, 1, 1, bn=False, bias=True)
                conv(squeeze, mid, 1, 1, bn=False, bias=True)
            conv(mid, cout, 1, h)  # point-linear
            cin = cout
    conv(cin, widths[7], 1, h)  # final_expand_layer: Conv-BN-h_swish
    conv(widths[7], widths[8], 1, 1, bn=False)  # feature_mix_layer after the global average pool
    params += widths[8] * official.OFA_CLASSES + official.OFA_CLASSES
    macs += widths[8] * official.OFA_CLASSES
    return params, buffers, macs


# OFA's published specialised networks ("flops@389M_top1@79.1_finetune@75", ...@482M..., ...@595M...
# in ofa.model_zoo.ofa_specialized; net.config and run.config in han-cai/files,
# ofa/ofa_specialized/flops-*/). Each is a MobileNetV3 of the width-1.2 supernet; per stage the
# blocks' (kernel size, expand ratio), as their net.config lists them, and the image size of
# their run.config.
OFA_PUBLISHED = {
    "flops@389M_top1@79.1_finetune@75": (224, 389, [
        [(3, 3), (3, 3)],
        [(5, 3), (5, 6), (3, 3)],
        [(5, 4), (5, 4), (3, 3)],
        [(5, 6), (5, 4), (3, 4), (3, 4)],
        [(3, 6), (3, 6), (7, 6), (3, 3)],
    ]),
    "flops@482M_top1@79.6_finetune@75": (224, 482, [
        [(5, 3), (3, 3), (3, 3)],
        [(5, 4), (3, 4), (5, 4), (3, 3)],
        [(5, 4), (5, 6), (3, 3), (3, 3)],
        [(5, 6), (7, 6), (3, 6), (5, 4)],
        [(7, 6), (3, 6), (3, 6), (3, 3)],
    ]),
    "flops@595M_top1@80.0_finetune@75": (236, 595, [
        [(3, 3), (5, 4), (3, 3)],
        [(5, 4), (5, 4), (3, 6), (5, 3)],
        [(7, 6), (5, 6), (3, 3), (5, 4)],
        [(3, 6), (5, 6), (7, 6), (3, 4)],
        [(3, 6), (3, 6), (5, 6), (3, 3)],
    ]),
}
# The 595M network's block list in its net.config: (in, out, kernel, expand, mid, stride, SE).
OFA_595M_BLOCKS = [
    (24, 24, 3, 1, None, 1, False),
    (24, 32, 3, 3, 72, 2, False), (32, 32, 5, 4, 128, 1, False), (32, 32, 3, 3, 96, 1, False),
    (32, 48, 5, 4, 128, 2, True), (48, 48, 5, 4, 192, 1, True), (48, 48, 3, 6, 288, 1, True),
    (48, 48, 5, 3, 144, 1, True),
    (48, 96, 7, 6, 288, 2, False), (96, 96, 5, 6, 576, 1, False), (96, 96, 3, 3, 288, 1, False),
    (96, 96, 5, 4, 384, 1, False),
    (96, 136, 3, 6, 576, 1, True), (136, 136, 5, 6, 816, 1, True), (136, 136, 7, 6, 816, 1, True),
    (136, 136, 3, 4, 544, 1, True),
    (136, 192, 3, 6, 816, 2, True), (192, 192, 3, 6, 1152, 1, True), (192, 192, 5, 6, 1152, 1, True),
    (192, 192, 3, 3, 576, 1, True),
]


def published_config(name: str) -> official.OfaConfig:
    resolution, _, stages = OFA_PUBLISHED[name]
    kernel_sizes, expand_ratios = [], []
    for blocks in stages:
        padded = blocks + [(None, None)] * (4 - len(blocks))
        kernel_sizes += [k for k, _ in padded]
        expand_ratios += [e for _, e in padded]
    return official.OfaConfig(tuple(kernel_sizes), tuple(expand_ratios), tuple(len(b) for b in stages), resolution, 1.2)


def test_ofa_595m_is_the_published_network():
    """The width-1.2 supernet's subnet for the published config has exactly the published block
    list (so it is the network of net.config; with 4 blocks in stage 1 it would count 619.6M)."""
    net = official.ofa_network(published_config("flops@595M_top1@80.0_finetune@75"))
    blocks = [b["conv"] for b in net.config["blocks"]]
    assert [(b["in_channels"], b["out_channels"], b["kernel_size"], b["expand_ratio"], b["mid_channels"], b["stride"],
             b["use_se"]) for b in blocks] == OFA_595M_BLOCKS
    assert net.first_conv.config["out_channels"] == 24
    assert (net.final_expand_layer.config["out_channels"], net.feature_mix_layer.config["out_channels"]) == (1152, 1536)


@pytest.mark.parametrize("name", sorted(OFA_PUBLISHED))
def test_ofa_published_macs(name):
    """The published MACs in the networks' names are OFA's own count (ofa.utils.count_net_flops:
    conv and linear MACs, no bias, no BN/activation/SE-product/pool), at the run.config image size.
    FlopCounterMode counts exactly twice the MACs (its conv and addmm rules are 2 x the same
    products; everything else is free in both). OFA's profile sums per-layer counts in float32
    tensors, so its total is the exact MAC count only up to float32 rounding (595,188,992 vs
    595,189,032 for the 595M network)."""
    from ofa.utils import count_net_flops

    resolution, published_mmacs, _ = OFA_PUBLISHED[name]
    config = published_config(name)
    measured = official.measure_ofa(config)
    exact_macs = ofa_by_hand(config)[2]
    assert measured.flops == 2 * exact_macs
    assert round(exact_macs / 1e6) == published_mmacs
    ofa_macs = count_net_flops(official.ofa_network(config), (1, 3, resolution, resolution))
    assert math.isclose(ofa_macs, exact_macs, rel_tol=1e-6)
    assert measured.output_shape == (1, 1000)


def test_ofa_595m_exact_numbers():
    """Params 9,135,928; FlopCounterMode 1,190,378,064 = 2 x 595,189,032 MACs at 236 x 236;
    61 BatchNorms (first conv, first block 2, 19 blocks x 3, final expand), 42,605 buffers."""
    config = published_config("flops@595M_top1@80.0_finetune@75")
    measured = official.measure_ofa(config)
    assert (measured.params, measured.flops, measured.batchnorms) == (9_135_928, 1_190_378_064, 1 + 2 + 19 * 3 + 1)
    assert measured.buffers == 42_605
    assert (measured.params, measured.buffers, measured.flops // 2) == ofa_by_hand(config)


def test_ofa_standalone_rebuild_measures_the_same():
    """The subnet is a plain MobileNetV3: rebuilt from its config (MobileNetV3.build_from_config,
    what ofa_specialized does with a published net.config) it measures the same."""
    from ofa.imagenet_classification.networks import MobileNetV3

    for config in official.ofa_sample(2, seed=5):
        subnet = official.ofa_network(config)
        shape = (1, 3, config.resolution, config.resolution)
        assert official.measure(MobileNetV3.build_from_config(subnet.config), shape, "meta") == \
            official.measure(subnet, shape, "meta")


def test_ofa_sampled_variants_match_the_hand_formula():
    for config in official.ofa_sample(8, seed=7371):
        measured = official.measure_ofa(config, device="meta")
        assert (measured.params, measured.buffers, measured.flops // 2) == ofa_by_hand(config), config
        assert measured.flops % 2 == 0 and measured.output_shape == (1, 1000)


def test_ofa_inactive_blocks_do_not_matter():
    """A slot beyond its stage's depth does not exist: whatever it holds, the subnet is the same."""
    config = official.ofa_config_of_stage_indices([0, 100, 5_000, 7_370, 42], 160, 1.0)
    assert config.depths == (2, 3, 4, 4, 2)
    filled = official.OfaConfig(tuple(7 if k is None else k for k in config.kernel_sizes),
                                tuple(6 if e is None else e for e in config.expand_ratios),
                                config.depths, config.resolution, config.width_mult)
    assert official.measure_ofa(filled, "meta") == official.measure_ofa(config, "meta")


# ---------------------------------------------------------------------------------------------
# Samplers and the meta-device shortcut
# ---------------------------------------------------------------------------------------------


def test_samplers_are_seeded_and_distinct():
    assert official.nb201_sample(20, seed=1) == official.nb201_sample(20, seed=1) != official.nb201_sample(20, seed=2)
    assert sorted(official.nb201_sample(15_625, seed=0)) == sorted(official.nb201_arch_of_index(i) for i in range(15_625))
    assert len(set(official.nats_sss_sample(500, seed=1))) == 500
    ofa = official.ofa_sample(300, seed=1)
    assert ofa == official.ofa_sample(300, seed=1) and len(set(ofa)) == 300
    for config in ofa:
        active = set(config.active_slots())
        for slot in range(20):
            assert (config.kernel_sizes[slot] is None) == (slot not in active)
            assert (config.expand_ratios[slot] is None) == (slot not in active)


def test_ofa_sampler_is_uniform_over_networks():
    """A stage of depth d has 9^d networks: uniform over the 7,371 stage networks means depth 2, 3,
    4 with probability 81, 729, 6,561 / 7,371 (1.1 %, 9.9 %, 89.0 %); a sampler uniform over depth
    would give a third each."""
    depths = collections.Counter(d for c in official.ofa_sample(2_000, seed=11) for d in c.depths)
    total = sum(depths.values())
    for depth, networks in ((2, 81), (3, 729), (4, 6_561)):
        assert abs(depths[depth] / total - networks / 7_371) < 0.01


def test_meta_device_measures_the_same_as_cpu():
    for arch in official.nb201_sample(2, seed=3):
        assert official.measure_nb201(arch, "meta") == official.measure_nb201(arch)
    for channels in official.nats_sss_sample(2, seed=3):
        assert official.measure_nats_sss(channels, "meta") == official.measure_nats_sss(channels)
    config = official.ofa_sample(1, seed=3, resolutions=(128,))[0]
    assert official.measure_ofa(config, "meta") == official.measure_ofa(config)
