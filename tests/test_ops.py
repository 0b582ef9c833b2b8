"""Hand-derived cases for every op, through the public Python API.

Every expected number is written as its derivation from PyTorch's documented shape rules and
from archsweep's documented counting convention (rust/core/src/cost.rs):
  * macs: conv, linear and the attention matmuls only; flops = 2 * macs;
  * other_ops: one per output element for activations, norms, softmax, add/mul (per extra
    operand), upsample, channel_shuffle, embeddings; window elements per output element for
    pools (exact bin sums for adaptive pools); zero for views, concat and class_token;
  * buffers: BatchNorm / InstanceNorm running_mean + running_var (fp32, 4 bytes each) plus one
    int64 num_batches_tracked (8 bytes).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import archsweep

ROOT = Path(__file__).resolve().parents[1]


# ---- helpers --------------------------------------------------------------------------------


def analyze(layers, input_shape, **kw):
    return archsweep.analyze({"name": "t", "layers": layers}, input_shape=input_shape, **kw)


def rows(report):
    return {r["name"]: r for r in report.layers.to_dicts()}


def case(id, layers, shape, out, *, batch=1, w=0, b=0, buffers=0, buffer_bytes=0, macs=0, other=0, view=False):
    """One op case: the op under test is the LAST layer of `layers`; anything not given is 0."""
    if isinstance(layers, dict):
        layers = [layers]
    exp = dict(out=out, w=w, b=b, buffers=buffers, buffer_bytes=buffer_bytes, macs=macs, other=other, view=view)
    return pytest.param(layers, shape, batch, exp, id=id)


ACTIVATIONS = ["relu", "relu6", "leaky_relu", "elu", "gelu", "silu", "mish", "hardswish", "hardsigmoid", "sigmoid", "tanh"]

# A squeeze-excitation block (MobileNetV3 style): x * hardsigmoid(conv(relu(conv(gap(x))))).
SE_BLOCK = [
    {"name": "gap", "op": "adaptive_avgpool2d", "output_size": 1, "inputs": "x"},
    {"name": "fc1", "op": "conv2d", "out_channels": 24, "kernel_size": 1},
    {"name": "act", "op": "relu"},
    {"name": "fc2", "op": "conv2d", "out_channels": 96, "kernel_size": 1},
    {"name": "gate", "op": "hardsigmoid"},
    {"name": "scale", "op": "mul", "inputs": ["x", "gate"]},
]

# Cross-attention wiring: query (N, 5, 8); key (N, 3, 4) and value (N, 3, 6) derived from it.
CROSS_ATTN = [
    {"name": "t1", "op": "transpose", "dim0": 1, "dim1": 2, "inputs": "x"},  # (N, 8, 5)
    {"name": "p", "op": "adaptive_avgpool1d", "output_size": 3},  # (N, 8, 3)
    {"name": "t2", "op": "transpose", "dim0": 1, "dim1": 2},  # (N, 3, 8)
    {"name": "k", "op": "linear", "out_features": 4, "inputs": "t2"},  # (N, 3, 4)
    {"name": "v", "op": "linear", "out_features": 6, "inputs": "t2"},  # (N, 3, 6)
    {"name": "attn", "op": "multihead_attention", "embed_dim": 8, "num_heads": 2, "kdim": 4, "vdim": 6,
     "bias": False, "inputs": ["x", "k", "v"]},
]

CASES = [
    # ---- convolutions: out = (n + 2p - d(k-1) - 1)//s + 1; params Cout*(Cin/g)*prod(k) (+Cout)
    case("conv1d", {"op": "conv1d", "out_channels": 6, "kernel_size": 5, "stride": 2, "padding": 1}, [4, 20],
         # (20 + 2*1 - 1*(5-1) - 1)//2 + 1 = 17//2 + 1 = 9
         [1, 6, 9], w=6 * 4 * 5, b=6, macs=6 * 9 * 4 * 5),
    case("conv2d-resnet-stem", {"op": "conv2d", "out_channels": 64, "kernel_size": 7, "stride": 2, "padding": 3, "bias": False},
         [3, 224, 224],
         # (224 + 2*3 - 7)//2 + 1 = 223//2 + 1 = 112
         [1, 64, 112, 112], w=64 * 3 * 7 * 7, macs=64 * 112 * 112 * 3 * 7 * 7),  # 118,013,952
    case("conv2d-vgg-batch2", {"op": "conv2d", "out_channels": 64, "kernel_size": 3, "padding": 1}, [3, 224, 224],
         # (224 + 2 - 2 - 1)//1 + 1 = 224
         [2, 64, 224, 224], batch=2, w=64 * 3 * 3 * 3, b=64, macs=2 * 64 * 224 * 224 * 3 * 3 * 3),
    case("conv2d-dilation", {"op": "conv2d", "out_channels": 8, "kernel_size": 3, "dilation": 2}, [4, 32, 32],
         # (32 + 0 - 2*(3-1) - 1)//1 + 1 = 28
         [1, 8, 28, 28], w=8 * 4 * 3 * 3, b=8, macs=8 * 28 * 28 * 4 * 3 * 3),
    case("conv2d-mixed-tuples",
         {"op": "conv2d", "out_channels": 4, "kernel_size": [3, 5], "stride": [2, 1], "padding": [1, 2], "dilation": [2, 1]},
         [2, 15, 11],
         # H: (15 + 2*1 - 2*(3-1) - 1)//2 + 1 = 12//2 + 1 = 7;  W: (11 + 2*2 - 1*(5-1) - 1)//1 + 1 = 11
         [1, 4, 7, 11], w=4 * 2 * 3 * 5, b=4, macs=4 * 7 * 11 * 2 * 3 * 5),
    case("conv2d-grouped", {"op": "conv2d", "out_channels": 64, "kernel_size": 3, "groups": 4, "bias": False}, [32, 10, 10],
         # (10 - 3)//1 + 1 = 8; Cin/g = 32/4 = 8
         [1, 64, 8, 8], w=64 * (32 // 4) * 3 * 3, macs=64 * 8 * 8 * (32 // 4) * 3 * 3),
    case("conv2d-depthwise", {"op": "conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1, "groups": "depthwise"},
         [32, 10, 10],
         # groups = Cin = 32: each filter sees 1 channel; (10 + 2 - 3)//1 + 1 = 10
         [1, 32, 10, 10], w=32 * 1 * 3 * 3, b=32, macs=32 * 10 * 10 * 1 * 3 * 3),
    case("conv2d-depthwise-multiplier-2", {"op": "conv2d", "out_channels": 64, "kernel_size": 3, "padding": 1, "groups": 32,
                                           "bias": False}, [32, 10, 10],
         [1, 64, 10, 10], w=64 * 1 * 3 * 3, macs=64 * 10 * 10 * 1 * 3 * 3),
    case("conv1d-same-even-kernel", {"op": "conv1d", "out_channels": 2, "kernel_size": 4, "padding": "same"}, [1, 10],
         # total pad 1*(4-1) = 3 (1 left, 2 right): (10 + 3 - 3 - 1)//1 + 1 = 10
         [1, 2, 10], w=2 * 1 * 4, b=2, macs=2 * 10 * 1 * 4),
    case("conv2d-same-even-dilated", {"op": "conv2d", "out_channels": 2, "kernel_size": [2, 5], "dilation": [3, 1],
                                      "padding": "same"}, [1, 9, 7],
         # H: pad 3*(2-1) = 3 -> (9 + 3 - 3 - 1) + 1 = 9;  W: pad 1*(5-1) = 4 -> (7 + 4 - 4 - 1) + 1 = 7
         [1, 2, 9, 7], w=2 * 1 * 2 * 5, b=2, macs=2 * 9 * 7 * 1 * 2 * 5),
    case("conv2d-valid", {"op": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": "valid"}, [1, 9, 9],
         # (9 - 3) + 1 = 7
         [1, 2, 7, 7], w=2 * 1 * 3 * 3, b=2, macs=2 * 7 * 7 * 9),
    case("conv3d-batch2", {"op": "conv3d", "out_channels": 4, "kernel_size": 3, "stride": [1, 2, 2]}, [2, 8, 16, 16],
         # D: (8 - 3)//1 + 1 = 6;  H, W: (16 - 3)//2 + 1 = 7
         [2, 4, 6, 7, 7], batch=2, w=4 * 2 * 3 * 3 * 3, b=4, macs=2 * 4 * 6 * 7 * 7 * 2 * 27),
    # ---- transposed: out = (n-1)s - 2p + d(k-1) + output_padding + 1; params Cin*(Cout/g)*prod(k);
    #      macs N*Cin*(Cout/g)*prod(k)*prod(in_spatial)
    case("conv_transpose1d-dilated-grouped", {"op": "conv_transpose1d", "out_channels": 6, "kernel_size": 3, "dilation": 2,
                                              "groups": 2, "bias": False}, [4, 10],
         # (10-1)*1 - 0 + 2*(3-1) + 0 + 1 = 14
         [1, 6, 14], w=4 * (6 // 2) * 3, macs=4 * 10 * (6 // 2) * 3),
    case("conv_transpose2d-output-padding", {"op": "conv_transpose2d", "out_channels": 8, "kernel_size": 3, "stride": 2,
                                             "padding": 1, "output_padding": 1}, [16, 7, 7],
         # (7-1)*2 - 2*1 + 1*(3-1) + 1 + 1 = 14
         [1, 8, 14, 14], w=16 * 8 * 3 * 3, b=8, macs=16 * 7 * 7 * 8 * 3 * 3),
    case("conv_transpose2d-output-padding-below-dilation", {"op": "conv_transpose2d", "out_channels": 1, "kernel_size": 3,
                                                            "dilation": 2, "output_padding": 1}, [1, 7, 7],
         # stride 1 but dilation 2 > output_padding 1 is allowed: (7-1)*1 - 0 + 2*(3-1) + 1 + 1 = 12
         [1, 1, 12, 12], w=1 * 1 * 9, b=1, macs=7 * 7 * 9),
    case("conv_transpose3d", {"op": "conv_transpose3d", "out_channels": 4, "kernel_size": 2, "stride": 2}, [2, 3, 4, 5],
         # (3-1)*2 + (2-1) + 1 = 6; (4-1)*2 + 2 = 8; (5-1)*2 + 2 = 10
         [1, 4, 6, 8, 10], w=2 * 4 * 2 * 2 * 2, b=4, macs=2 * 3 * 4 * 5 * 4 * 8),
    # ---- linear: params in*out (+out); macs rows*in*out
    case("linear-tokens-batch2", {"op": "linear", "out_features": 32}, [5, 16],
         [2, 5, 32], batch=2, w=16 * 32, b=32, macs=2 * 5 * 16 * 32),
    case("linear-seed-4-to-3", {"op": "linear", "out_features": 3}, [4],
         # the seed's example: 4 x 3 + 3 = 15
         [1, 3], w=4 * 3, b=3, macs=4 * 3),
    case("linear-no-bias", {"op": "linear", "out_features": 4, "bias": False}, [8], [1, 4], w=8 * 4, macs=8 * 4),
    # ---- batch norm: weight C + bias C; buffers 2C + 1, bytes 2C*4 + 8
    case("batchnorm1d-2d-input", {"op": "batchnorm1d"}, [10], [4, 10], batch=4,
         w=10, b=10, buffers=2 * 10 + 1, buffer_bytes=2 * 10 * 4 + 8, other=4 * 10),
    case("batchnorm1d-3d-input", {"op": "batchnorm1d", "num_features": 10}, [10, 7], [1, 10, 7],
         w=10, b=10, buffers=21, buffer_bytes=88, other=10 * 7),
    case("batchnorm2d", {"op": "batchnorm2d"}, [64, 56, 56], [1, 64, 56, 56],
         w=64, b=64, buffers=2 * 64 + 1, buffer_bytes=2 * 64 * 4 + 8, other=64 * 56 * 56),  # 129 buffers, 520 bytes
    case("batchnorm2d-no-running-stats", {"op": "batchnorm2d", "track_running_stats": False}, [8, 4, 4], [1, 8, 4, 4],
         w=8, b=8, other=8 * 16),
    case("batchnorm3d-no-affine", {"op": "batchnorm3d", "affine": False}, [3, 2, 4, 4], [1, 3, 2, 4, 4],
         buffers=2 * 3 + 1, buffer_bytes=2 * 3 * 4 + 8, other=3 * 2 * 4 * 4),
    # ---- layer norm: weight prod(ns) + bias prod(ns)
    case("layernorm-vit", {"op": "layernorm", "normalized_shape": 768}, [197, 768], [1, 197, 768],
         w=768, b=768, other=197 * 768),
    case("layernorm-no-bias", {"op": "layernorm", "normalized_shape": 768, "bias": False}, [197, 768], [1, 197, 768],
         w=768, other=197 * 768),
    case("layernorm-2d-shape", {"op": "layernorm", "normalized_shape": [7, 7]}, [3, 7, 7], [1, 3, 7, 7],
         w=7 * 7, b=7 * 7, other=3 * 7 * 7),
    case("layernorm-no-affine", {"op": "layernorm", "normalized_shape": [7, 7], "elementwise_affine": False}, [3, 7, 7],
         [1, 3, 7, 7], other=3 * 7 * 7),
    case("layernorm-default-last-dim", {"op": "layernorm"}, [10, 32], [1, 10, 32], w=32, b=32, other=10 * 32),
    # ---- group norm: weight C + bias C
    case("groupnorm", {"op": "groupnorm", "num_groups": 32}, [64, 8, 8], [2, 64, 8, 8], batch=2,
         w=64, b=64, other=2 * 64 * 8 * 8),
    case("groupnorm-no-affine", {"op": "groupnorm", "num_groups": 4, "affine": False}, [8, 3], [1, 8, 3], other=24),
    # ---- instance norm: affine and running stats off by default
    case("instancenorm1d", {"op": "instancenorm1d"}, [16, 20], [1, 16, 20], other=16 * 20),
    case("instancenorm2d-affine-tracked", {"op": "instancenorm2d", "affine": True, "track_running_stats": True},
         [16, 8, 8], [1, 16, 8, 8], w=16, b=16, buffers=2 * 16 + 1, buffer_bytes=2 * 16 * 4 + 8, other=16 * 64),
    case("instancenorm3d", {"op": "instancenorm3d"}, [2, 3, 3, 3], [1, 2, 3, 3, 3], other=2 * 27),
    case("instancenorm-any-rank", {"op": "instancenorm"}, [5, 6], [1, 5, 6], other=30),
    # ---- pointwise
    *[case(f"{a}", {"op": a}, [3, 4, 5], [2, 3, 4, 5], batch=2, other=2 * 3 * 4 * 5) for a in ACTIVATIONS],
    case("relu-inplace-is-a-view", {"op": "relu", "inplace": True}, [3, 4], [1, 3, 4], other=12, view=True),
    case("leaky_relu-attrs", {"op": "leaky_relu", "negative_slope": 0.2}, [6], [1, 6], other=6),
    case("gelu-tanh", {"op": "gelu", "approximate": "tanh"}, [6], [1, 6], other=6),
    case("softmax", {"op": "softmax", "dim": 1}, [10], [2, 10], batch=2, other=2 * 10),
    case("dropout", {"op": "dropout", "p": 0.5}, [4096], [1, 4096], view=True),
    case("identity", {"op": "identity"}, [2, 3], [1, 2, 3], view=True),
    case("stochastic_depth", {"op": "stochastic_depth", "p": 0.2, "mode": "row"}, [2, 3], [1, 2, 3], view=True),
    case("zeros", {"op": "zeros"}, [16, 8, 8], [1, 16, 8, 8]),
    # ---- pooling: out = (n + 2p - d(k-1) - 1 [+ s-1 if ceil])//s + 1, minus 1 if ceil and the last
    #      window would start at or after n + p; other ops = outputs * prod(k)
    case("maxpool1d-dilated-padded", {"op": "maxpool1d", "kernel_size": 3, "stride": 1, "padding": 1, "dilation": 2},
         [1, 10],
         # (10 + 2 - 2*(3-1) - 1)//1 + 1 = 8
         [1, 1, 8], other=8 * 3),
    case("maxpool2d-vgg", {"op": "maxpool2d", "kernel_size": 2, "stride": 2}, [64, 224, 224],
         # (224 - 2)//2 + 1 = 112
         [1, 64, 112, 112], other=64 * 112 * 112 * 2 * 2),
    case("maxpool2d-ceil-googlenet", {"op": "maxpool2d", "kernel_size": 3, "stride": 2, "ceil_mode": True},
         [64, 112, 112],
         # (112 - 3 + 1)//2 + 1 = 56 (floor mode: 55); (56-1)*2 = 110 < 112 + 0 so it stays
         [1, 64, 56, 56], other=64 * 56 * 56 * 9),
    case("maxpool2d-ceil-gains-one", {"op": "maxpool2d", "kernel_size": 3, "stride": 2, "ceil_mode": True}, [1, 6, 6],
         # (6 - 3 + 1)//2 + 1 = 3 (floor: (6-3)//2 + 1 = 2); (3-1)*2 = 4 < 6 so it stays
         [1, 1, 3, 3], other=9 * 9),
    case("maxpool2d-ceil-last-window-dropped", {"op": "maxpool2d", "kernel_size": 2, "stride": 2, "padding": 1,
                                                "ceil_mode": True}, [1, 5, 5],
         # (5 + 2 - 2 + 1)//2 + 1 = 4, but (4-1)*2 = 6 >= 5 + 1: that window starts in the right
         # padding, so it is dropped -> 3
         [1, 1, 3, 3], other=9 * 4),
    case("maxpool2d-ceil-last-window-kept", {"op": "maxpool2d", "kernel_size": 2, "stride": 2, "padding": 1,
                                             "ceil_mode": True}, [1, 6, 6],
         # (6 + 2 - 2 + 1)//2 + 1 = 4 and (4-1)*2 = 6 < 6 + 1: the window starts inside -> 4
         [1, 1, 4, 4], other=16 * 4),
    case("maxpool3d-5d", {"op": "maxpool3d", "kernel_size": 2}, [2, 4, 6, 6],
         # stride defaults to kernel: 4//2 = 2, 6//2 = 3
         [1, 2, 2, 3, 3], other=2 * 2 * 3 * 3 * 8),
    case("avgpool1d", {"op": "avgpool1d", "kernel_size": 4, "stride": 3, "padding": 2}, [3, 10],
         # (10 + 4 - 4)//3 + 1 = 4
         [1, 3, 4], other=3 * 4 * 4),
    case("avgpool2d-stride-defaults-to-kernel", {"op": "avgpool2d", "kernel_size": 3}, [1, 10, 10],
         # (10 - 3)//3 + 1 = 3
         [1, 1, 3, 3], other=9 * 9),
    case("avgpool2d-ceil", {"op": "avgpool2d", "kernel_size": 2, "stride": 2, "ceil_mode": True}, [1, 7, 7],
         # (7 - 2 + 1)//2 + 1 = 4 (floor: 3); (4-1)*2 = 6 < 7 so it stays
         [1, 1, 4, 4], other=16 * 4),
    case("avgpool3d", {"op": "avgpool3d", "kernel_size": 2}, [1, 4, 4, 4], [1, 1, 2, 2, 2], other=8 * 8),
    # ---- adaptive pools: bin i of n -> o covers [floor(i*n/o), ceil((i+1)*n/o)); other = sum of bins
    case("adaptive_avgpool1d-5-to-3", {"op": "adaptive_avgpool1d", "output_size": 3}, [1, 5],
         # bins [0,2) [1,4) [3,5): 2 + 3 + 2 = 7
         [1, 1, 3], other=7),
    case("adaptive_avgpool2d-7x5-to-3x2", {"op": "adaptive_avgpool2d", "output_size": [3, 2]}, [2, 7, 5],
         # H 7->3: [0,3) [2,5) [4,7) = 9;  W 5->2: [0,3) [2,5) = 6;  C*9*6
         [1, 2, 3, 2], other=2 * 9 * 6),
    case("adaptive_avgpool2d-global", {"op": "adaptive_avgpool2d", "output_size": 1}, [2048, 7, 7], [2, 2048, 1, 1],
         batch=2, other=2 * 2048 * 7 * 7),
    case("adaptive_avgpool3d", {"op": "adaptive_avgpool3d", "output_size": 2}, [1, 4, 4, 4], [1, 1, 2, 2, 2],
         # each dim 4->2: [0,2) [2,4) = 4
         other=4 * 4 * 4),
    case("adaptive_avgpool1d-upsampling", {"op": "adaptive_avgpool1d", "output_size": 4}, [1, 2], [1, 1, 4],
         # 2->4: [0,1) [0,1) [1,2) [1,2): 1 each
         other=4),
    case("adaptive_maxpool1d-10-to-4", {"op": "adaptive_maxpool1d", "output_size": 4}, [2, 10], [1, 2, 4],
         # [0,3) [2,5) [5,8) [7,10): 3 each = 12, times C=2
         other=2 * 12),
    case("adaptive_maxpool2d-none-keeps", {"op": "adaptive_maxpool2d", "output_size": [None, 3]}, [1, 6, 5], [1, 1, 6, 3],
         # H kept (6 bins of 1); W 5->3 = 7
         other=6 * 7),
    case("adaptive_maxpool3d-global", {"op": "adaptive_maxpool3d", "output_size": 1}, [1, 3, 3, 3], [1, 1, 1, 1, 1],
         other=27),
    # ---- views
    case("flatten-vgg", {"op": "flatten"}, [512, 7, 7], [1, 512 * 7 * 7], view=True),  # 25,088
    case("flatten-start2", {"op": "flatten", "start_dim": 2}, [768, 14, 14], [1, 768, 196], view=True),
    case("flatten-batch-in", {"op": "flatten", "start_dim": 0, "end_dim": 1}, [3, 4], [6, 4], batch=2, view=True),
    case("reshape-infer", {"op": "reshape", "shape": [768, -1]}, [768, 14, 14], [1, 768, 196], view=True),
    case("reshape-keeps-batch", {"op": "reshape", "shape": [4, 6]}, [2, 3, 4], [3, 4, 6], batch=3, view=True),
    case("permute", {"op": "permute", "dims": [0, 2, 1]}, [768, 196], [2, 196, 768], batch=2, view=True),
    case("transpose", {"op": "transpose", "dim0": 1, "dim1": -1}, [768, 196], [2, 196, 768], batch=2, view=True),
    case("select-class-token", {"op": "select", "dim": 1, "index": 0}, [197, 768], [2, 768], batch=2, view=True),
    case("select-negative-index", {"op": "select", "dim": -1, "index": -1}, [4, 5], [1, 4], view=True),
    # ---- multi-input
    case("add-residual", [{"name": "r", "op": "relu"}, {"op": "add", "inputs": ["x", "r"]}], [64, 56, 56],
         [1, 64, 56, 56], other=64 * 56 * 56),
    case("add-three-inputs", {"op": "add", "inputs": ["x", "x", "x"]}, [3, 4], [2, 3, 4], batch=2,
         other=2 * 3 * 4 * (3 - 1)),
    case("mul-squeeze-excitation", SE_BLOCK, [96, 28, 28],
         # (1, 96, 28, 28) * (1, 96, 1, 1) broadcasts to (1, 96, 28, 28)
         [1, 96, 28, 28], other=96 * 28 * 28),
    case("concat-densenet",
         [{"name": "b1", "op": "conv2d", "out_channels": 32, "kernel_size": 1, "inputs": "x"},
          {"name": "b2", "op": "conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1, "inputs": "x"},
          {"op": "concat", "inputs": ["x", "b1", "b2"]}],
         [64, 56, 56], [1, 64 + 32 + 32, 56, 56]),
    case("concat-last-dim", [{"name": "l", "op": "linear", "out_features": 5},
                             {"op": "concat", "dim": -1, "inputs": ["x", "l"]}], [2, 3], [1, 2, 3 + 5]),
    case("channel_shuffle", {"op": "channel_shuffle", "groups": 2}, [116, 28, 28], [1, 116, 28, 28],
         other=116 * 28 * 28),
    # ---- upsample: floor(n * scale) per spatial dim
    case("upsample-x2", {"op": "upsample", "scale_factor": 2}, [3, 7, 9], [1, 3, 14, 18], other=3 * 14 * 18),
    case("upsample-x1.5-bilinear", {"op": "upsample", "scale_factor": 1.5, "mode": "bilinear"}, [3, 7, 9],
         # floor(7*1.5) = floor(10.5) = 10; floor(9*1.5) = floor(13.5) = 13
         [1, 3, 10, 13], other=3 * 10 * 13),
    case("upsample-size", {"op": "upsample", "size": [4, 5]}, [3, 7, 9], [1, 3, 4, 5], other=3 * 4 * 5),
    case("upsample-1d-linear", {"op": "upsample", "scale_factor": 2, "mode": "linear"}, [2, 5], [1, 2, 10], other=20),
    case("upsample-3d-per-dim", {"op": "upsample", "scale_factor": [2, 1, 0.5], "mode": "trilinear"}, [1, 2, 3, 4],
         # 2*2 = 4, 3*1 = 3, floor(4*0.5) = 2
         [1, 1, 4, 3, 2], other=4 * 3 * 2),
    # ---- attention (batch_first): params 4E^2 (+4E); macs N*(3 proj + out proj + QK^T + AV)
    case("multihead_attention-self", {"op": "multihead_attention", "embed_dim": 16, "num_heads": 4}, [5, 16],
         [2, 5, 16], batch=2, w=4 * 16 * 16, b=4 * 16,
         macs=2 * (4 * 5 * 16 * 16 + 2 * 5 * 5 * 16),  # 11,840 (= torch flop counter / 2)
         other=2 * 4 * 5 * 5),  # softmax over N*heads*Lq*Lk scores
    case("multihead_attention-vit-b", {"op": "multihead_attention", "embed_dim": 768, "num_heads": 12}, [197, 768],
         [1, 197, 768], w=4 * 768 * 768, b=4 * 768,  # 2,362,368 params
         macs=4 * 197 * 768 * 768 + 2 * 197 * 197 * 768, other=12 * 197 * 197),
    case("multihead_attention-cross-kdim-vdim", CROSS_ATTN, [5, 8], [2, 5, 8], batch=2,
         # q_proj E*E + k_proj E*kdim + v_proj E*vdim + out_proj E*E = 64 + 32 + 48 + 64 (no bias)
         w=8 * 8 + 8 * 4 + 8 * 6 + 8 * 8,
         # per sample: Lq*E*E + Lk*kdim*E + Lk*vdim*E + Lq*Lk*E (scores) + Lq*Lk*E (mix) + Lq*E*E
         macs=2 * (5 * 8 * 8 + 3 * 4 * 8 + 3 * 6 * 8 + 5 * 3 * 8 + 5 * 3 * 8 + 5 * 8 * 8),  # 2,240
         other=2 * 2 * 5 * 3),
    # ---- embeddings
    case("embedding", {"op": "embedding", "num_embeddings": 1000, "embedding_dim": 16}, [7], [2, 7, 16], batch=2,
         w=1000 * 16, other=2 * 7 * 16),
    case("positional_embedding", {"op": "positional_embedding"}, [197, 768], [1, 197, 768], w=197 * 768,
         other=197 * 768),
    case("class_token", {"op": "class_token"}, [196, 768], [1, 196 + 1, 768], w=768),
    # ---- chunk: piece sizes ceil(size/chunks) except the last (PyTorch's Tensor.chunk); a view
    case("chunk-shufflenet-split", {"op": "chunk", "chunks": 2, "dim": 1, "index": 1}, [116, 28, 28],
         # 116 channels in 2 chunks of ceil(116/2) = 58: piece 1 is channels 58..115
         [1, 58, 28, 28], view=True),
    case("chunk-uneven-last", {"op": "chunk", "chunks": 4, "dim": -1, "index": 2}, [3, 5],
         # size 5 in chunks of ceil(5/4) = 2: pieces 2, 2, 1 (only 3 pieces); piece 2 has 1
         [1, 3, 1], view=True),
    # ---- split: pieces of split_size (the last holds the rest) or a list of sizes; a view
    case("split-sknet-unequal", {"op": "split", "split_size": [12, 4], "index": 1}, [16, 56, 56],
         # channels 12..15 of 16
         [1, 4, 56, 56], view=True),
    case("split-by-size-last", {"op": "split", "split_size": 4, "dim": -1, "index": -1}, [3, 10],
         # 10 in pieces of 4: 4, 4, 2; the last has 2
         [1, 3, 2], view=True),
    # ---- slice: x[:, start:end:step] with Python's clamping; a view
    case("slice-ghostnet-channels", {"op": "slice", "end": 16}, [32, 56, 56],
         # x[:, :16] of 32 channels
         [1, 16, 56, 56], view=True),
    case("slice-step-clamped", {"op": "slice", "dim": -1, "start": -7, "end": 100, "step": 2}, [4, 10],
         # range(10)[-7:100:2] = [3, 5, 7, 9]: 4 elements
         [1, 4, 4], view=True),
    # ---- pad: a constant-padded copy; (before, after) from the last dim backwards; no compute
    case("pad-swin-windows", {"op": "pad", "pad": [0, 0, 0, 4, 0, 4]}, [10, 10, 96],
         # W 10 + 0 + 4 = 14, H 10 + 0 + 4 = 14, C unchanged
         [1, 14, 14, 96]),
    case("pad-negative-cuts", {"op": "pad", "pad": [-1, 2], "value": 1.0}, [3, 5],
         # 5 - 1 + 2 = 6
         [1, 3, 6]),
    # ---- mul_scalar: x * c, 1 other op per element
    case("mul_scalar-inception-resnet", {"op": "mul_scalar", "other": 0.17}, [320, 35, 35], [1, 320, 35, 35],
         other=320 * 35 * 35),
    # ---- layer_scale: gamma * x, one weight per element of `dim`; 1 other op per element
    case("layer_scale-convnext", {"op": "layer_scale", "dim": 1}, [96, 56, 56],
         # ConvNeXt's (C, 1, 1) gamma: 96 weights; 96*56*56 multiplies
         [1, 96, 56, 56], w=96, other=96 * 56 * 56),
    case("layer_scale-tokens", {"op": "layer_scale"}, [197, 768],
         # default dim -1: 768 weights; 197*768 multiplies
         [1, 197, 768], w=768, other=197 * 768),
    # ---- window_attention (Swin): C=96, 3 heads, 7x7 windows on a 56x56 channels-last map
    case("window_attention-swin-t-stage1", {"op": "window_attention", "num_heads": 3, "window_size": 7}, [56, 56, 96],
         [1, 56, 56, 96],
         # weights: qkv 96*288 + proj 96*96 + relative-position bias table (2*7-1)^2 * 3 heads
         #          = 27,648 + 9,216 + 507 = 37,371; biases: qkv 288 + proj 96 = 384
         w=96 * 288 + 96 * 96 + 13 * 13 * 3, b=288 + 96,
         # buffer: relative_position_index (7*7)^2 = 2,401 int64 entries = 19,208 bytes
         buffers=49 * 49, buffer_bytes=49 * 49 * 8,
         # MACs: 3,136 tokens through qkv and proj, plus Q.K^T and attn.V in 64 windows of 49 tokens
         macs=3136 * 96 * 288 + 3136 * 96 * 96 + 2 * 64 * 49 * 49 * 96,
         # other ops: 64 windows x 3 heads x 49 x 49 scores, each biased and soft-maxed
         other=2 * 64 * 3 * 49 * 49),
]


@pytest.mark.parametrize("layers,shape,batch,exp", CASES)
def test_op(layers, shape, batch, exp):
    r = analyze(layers, shape, batch=batch)
    row = r.layers.to_dicts()[-1]
    assert row["output_shape"] == exp["out"]
    assert row["weight_params"] == exp["w"]
    assert row["bias_params"] == exp["b"]
    assert row["params"] == exp["w"] + exp["b"]
    assert row["trainable_params"] == row["params"]
    assert row["buffers"] == exp["buffers"]
    assert row["buffer_bytes"] == exp["buffer_bytes"]
    assert row["macs"] == exp["macs"]
    assert row["flops"] == 2 * exp["macs"]
    assert row["other_ops"] == exp["other"]
    assert row["weight_bytes"] == 4 * (exp["w"] + exp["b"])  # fp32
    assert row["is_view"] == exp["view"]
    assert row["activation_bytes"] == (0 if exp["view"] else 4 * math.prod(exp["out"]))


def test_every_op_has_a_case():
    covered = {p.values[0][-1]["op"] for p in CASES}
    missing = set(archsweep.ops()) - covered
    assert not missing, f"ops without a hand-derived case: {sorted(missing)}"


# ---- focused checks ---------------------------------------------------------------------------


def test_ceil_mode_last_window_rule_per_dim():
    # H: n=5, k=2, s=2, p=1: (5 + 2 - 2 + 1)//2 + 1 = 4; (4-1)*2 = 6 >= 5 + 1 -> 3.
    # W: n=6: (6 + 2 - 2 + 1)//2 + 1 = 4; (4-1)*2 = 6 < 6 + 1 -> 4.
    r = analyze([{"op": "maxpool2d", "kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}], [1, 5, 6])
    assert r.layers["output_shape"][0].to_list() == [1, 1, 3, 4]
    # Same input in floor mode: (5 + 2 - 2)//2 + 1 = 3 and (6 + 2 - 2)//2 + 1 = 4.
    r = analyze([{"op": "maxpool2d", "kernel_size": 2, "stride": 2, "padding": 1}], [1, 5, 6])
    assert r.layers["output_shape"][0].to_list() == [1, 1, 3, 4]
    # Window partly outside the input without padding: n=1, k=2, s=2, ceil: (1 - 2 + 1)//2 + 1 = 1 and
    # (1-1)*2 = 0 < 1: one output (torch: MaxPool1d(2, 2, ceil_mode=True) on length 1 gives 1).
    r = analyze([{"op": "maxpool1d", "kernel_size": 2, "stride": 2, "ceil_mode": True}], [1, 1])
    assert r.layers["output_shape"][0].to_list() == [1, 1, 1]


def test_squeeze_excitation_block_params():
    r = rows(analyze(SE_BLOCK, [96, 28, 28]))
    assert r["gap"]["output_shape"] == [1, 96, 1, 1]
    assert (r["fc1"]["weight_params"], r["fc1"]["bias_params"]) == (24 * 96 * 1 * 1, 24)  # 2,304 + 24
    assert (r["fc2"]["weight_params"], r["fc2"]["bias_params"]) == (96 * 24 * 1 * 1, 96)  # 2,304 + 96
    assert r["fc1"]["macs"] == 24 * 1 * 1 * 96
    assert r["scale"]["inputs"] == ["x", "gate"]


def test_cross_attention_params_with_bias():
    # torch.nn.MultiheadAttention(8, 2, kdim=4, vdim=6): q/k/v_proj_weight 64 + 32 + 48,
    # in_proj_bias 3*8, out_proj 8*8 + 8: 240 in all.
    layers = [dict(layer) for layer in CROSS_ATTN]
    layers[-1] = {k: v for k, v in layers[-1].items() if k != "bias"}
    row = analyze(layers, [5, 8]).layers.to_dicts()[-1]
    assert row["weight_params"] == 8 * 8 + 8 * 4 + 8 * 6 + 8 * 8
    assert row["bias_params"] == 3 * 8 + 8
    assert row["params"] == 240


def test_layernorm_bias_off_needs_affine():
    # elementwise_affine=False removes both weight and bias, whatever bias says.
    row = analyze([{"op": "layernorm", "normalized_shape": 8, "elementwise_affine": False, "bias": True}], [4, 8]).layers.to_dicts()[0]
    assert (row["weight_params"], row["bias_params"]) == (0, 0)


def test_batchnorm_buffers_in_totals_and_independent_of_dtype():
    layers = [{"op": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1, "bias": False},
              {"op": "batchnorm2d"}, {"op": "batchnorm2d", "name": "bn_b"}]
    for dtype in ["fp32", "fp16", "int8"]:
        t = analyze(layers, [3, 8, 8], dtype=dtype).totals
        # two BNs: each running_mean 16 + running_var 16 + num_batches_tracked 1
        assert t["buffers"] == 2 * (16 + 16 + 1)
        # fp32 stats (4 bytes) and an int64 counter (8 bytes), whatever the model dtype
        assert t["buffer_bytes"] == 2 * (16 * 4 + 16 * 4 + 8)
        # buffers are not parameters
        assert t["params"] == 16 * 3 * 9 + 2 * (16 + 16)


def test_trainable_false_layers():
    layers = [
        {"name": "frozen", "op": "conv2d", "out_channels": 4, "kernel_size": 3, "trainable": False},
        {"name": "head", "op": "linear", "out_features": 2},
    ]
    r = analyze(layers, [3, 5, 5])
    rr = rows(r)
    # frozen: 4*3*3*3 + 4 = 112 params, none trainable; head: (5-3+1)=3 -> in 3, 3*2 + 2 = 8
    assert (rr["frozen"]["params"], rr["frozen"]["trainable_params"]) == (112, 0)
    assert (rr["head"]["params"], rr["head"]["trainable_params"]) == (8, 8)
    assert r.totals["params"] == 120
    assert r.totals["trainable_params"] == 8
    assert r.totals["grad_bytes"] == 8 * 4


@pytest.mark.parametrize("dtype,nbytes", [("fp32", 4), ("fp16", 2), ("bf16", 2), ("int8", 1), ("fp8", 1), ("fp64", 8)])
def test_dtype_byte_sizes(dtype, nbytes):
    layers = [{"name": "c", "op": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
              {"name": "bn", "op": "batchnorm2d"},
              {"name": "r", "op": "relu", "inplace": True}]
    r = analyze(layers, [3, 8, 8], batch=2, dtype=dtype)
    rr = rows(r)
    # params: conv 4*3*3*3 + 4 = 112, bn 4 + 4 = 8
    assert rr["c"]["weight_bytes"] == 112 * nbytes
    assert rr["bn"]["weight_bytes"] == 8 * nbytes
    assert r.totals["weight_bytes"] == 120 * nbytes
    # activations, batch 2: conv and bn outputs are 2*4*8*8 = 512 elements each; relu in place
    assert rr["c"]["activation_bytes"] == 512 * nbytes
    assert rr["r"]["activation_bytes"] == 0
    assert r.totals["activation_bytes"] == 2 * 512 * nbytes
    assert r.totals["input_bytes"] == 2 * 3 * 8 * 8 * nbytes
    # buffers keep their own dtypes: 4*4 + 4*4 + 8
    assert r.totals["buffer_bytes"] == 40
    assert r.dtype == dtype


def test_dtype_aliases():
    base = analyze([{"op": "linear", "out_features": 3}], [4])
    assert base.totals["weight_bytes"] == 15 * 4
    assert analyze([{"op": "linear", "out_features": 3}], [4], dtype="half").totals["weight_bytes"] == 15 * 2
    assert analyze([{"op": "linear", "out_features": 3}], [4], dtype="bfloat16").totals["weight_bytes"] == 15 * 2


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_activation_bytes_scale_with_batch(batch):
    layers = [{"name": "c", "op": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2},
              {"name": "f", "op": "flatten"},
              {"name": "fc", "op": "linear", "out_features": 10}]
    r = analyze(layers, [3, 9, 9], batch=batch)
    rr = rows(r)
    # conv: (9 - 3)//2 + 1 = 4 -> B*8*4*4 = 128 B elements; flatten is a view; fc: B*10
    assert rr["c"]["activation_bytes"] == batch * 8 * 4 * 4 * 4
    assert rr["f"]["activation_bytes"] == 0
    assert rr["fc"]["activation_bytes"] == batch * 10 * 4
    assert r.totals["activation_bytes"] == batch * (128 + 10) * 4
    assert r.totals["input_bytes"] == batch * 3 * 9 * 9 * 4
    # macs scale with the batch too: conv 8*4*4 outputs * 3*3*3, fc 128*10
    assert r.totals["macs"] == batch * (8 * 4 * 4 * 27 + 128 * 10)
    assert r.totals["flops"] == 2 * r.totals["macs"]


RESIDUAL_DAG = [
    {"name": "c1", "op": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1, "inputs": "x"},
    {"name": "r1", "op": "relu", "inplace": True},
    {"name": "side", "op": "conv2d", "out_channels": 16, "kernel_size": 1, "inputs": "r1"},  # read by nobody
    {"name": "c2", "op": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1, "inputs": "r1"},
    {"name": "bn2", "op": "batchnorm2d"},
    {"name": "sum", "op": "add", "inputs": ["bn2", "r1"]},
    {"name": "r2", "op": "relu"},
    {"name": "pool", "op": "maxpool2d", "kernel_size": 2},
    {"name": "flat", "op": "flatten"},
    {"name": "fc", "op": "linear", "out_features": 10},
]


@pytest.mark.parametrize("batch", [1, 2])
def test_peak_activation_bytes_residual_dag(batch):
    # Sizes for batch B, fp32, input (4, 8, 8):
    #   x, c1, c2, bn2, sum, r2: B*4*8*8*4 = 1024B bytes;  side: B*16*8*8*4 = 4096B
    #   pool: B*4*4*4*4 = 256B;  fc: B*10*4 = 40B;  r1 (in place) and flat (view): 0.
    # Liveness walk in file order (alloc, record, then free storages whose last reader ran); the
    # caller holds the input x through the whole forward:
    #   start           live {x}                      1024B
    #   1 c1   +1024B   {x, c1}             2048B
    #   2 r1   +0       (aliases c1; c1 now lives until the last reader of r1: sum)   2048B
    #   3 side          never reaches the output (no reader): not run at inference, nothing
    #                   allocated (docs/inference-only.md; it would have made a 6144B peak)
    #   4 c2   +1024B   {x, c1, c2}         3072B
    #   5 bn2  +1024B   {x, c1, c2, bn2}    4096B  <- PEAK -> free c2                3072B
    #   6 sum  +1024B   {x, c1, bn2, sum}   4096B  -> free c1 (via r1), bn2           2048B
    #   7 r2   +1024B   {x, sum, r2}        3072B  -> free sum                        2048B
    #   8 pool +256B    {x, r2, pool}       2304B  -> free r2                         1280B
    #   9 flat +0       (aliases pool)                                                  1280B
    #  10 fc   +40B     {x, pool, fc}       1320B  -> free pool; fc (the result) stays 1064B
    # Peak = 4096B (reached at bn2 and again at sum).
    r = analyze(RESIDUAL_DAG, [4, 8, 8], batch=batch)
    assert r.totals["peak_activation_bytes"] == 4096 * batch
    assert r.totals["input_bytes"] == 1024 * batch
    # activation_bytes: c1 + c2 + bn2 + sum + r2 + pool + fc (side's 4096B never made)
    assert r.totals["activation_bytes"] == (1024 + 1024 + 1024 + 1024 + 1024 + 256 + 40) * batch
    assert not rows(r)["side"]["reaches_output"] and rows(r)["side"]["activation_bytes"] == 0
    rr = rows(r)
    assert rr["r1"]["is_view"] and rr["flat"]["is_view"]
    assert rr["sum"]["output_shape"] == [batch, 4, 8, 8]


def test_peak_activation_bytes_without_side_branch():
    # Same DAG minus `side`: the walk above without step 3 peaks at steps 5/6 with four
    # 1024-byte tensors live (the input among them): 4096.
    layers = [layer for layer in RESIDUAL_DAG if layer["name"] != "side"]
    assert analyze(layers, [4, 8, 8]).totals["peak_activation_bytes"] == 4096


@pytest.mark.parametrize("inplace,peak", [
    # input (1, 8, 8): x = 64*4 = 256 bytes, held throughout; conv out 8 ch: 8*8*8*4 = 2048;
    # gap: 8*4 = 32.
    # not in place: conv {x, conv} 2304; relu {x, conv, relu} 4352 -> free conv; gap 2336.
    (False, 4352),
    # in place: conv {x, conv} 2304; relu aliases conv: 2304; gap {x, conv, gap} 2336.
    (True, 2336),
])
def test_peak_inplace_relu(inplace, peak):
    layers = [{"op": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
              {"op": "relu", "inplace": inplace},
              {"op": "adaptive_avgpool2d", "output_size": 1}]
    assert analyze(layers, [1, 8, 8]).totals["peak_activation_bytes"] == peak


TRAIN_MODEL = [
    {"name": "stem", "op": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1, "bias": False, "trainable": False},
    {"name": "bn", "op": "batchnorm2d"},
    {"name": "relu", "op": "relu", "inplace": True},
    {"name": "gap", "op": "adaptive_avgpool2d", "output_size": 1},
    {"name": "flat", "op": "flatten"},
    {"name": "fc", "op": "linear", "out_features": 10},
]


@pytest.mark.parametrize("optimizer,states", [("sgd", 0), ("momentum", 1), ("adam", 2), ("adamw", 2)])
def test_train_bytes(optimizer, states):
    # params: stem 4*3*3*3 = 108 (frozen), bn 4 + 4 = 8, fc 4*10 + 10 = 50 -> 166, trainable 58
    # batch 2, fp32:
    #   weights 166*4 = 664; buffers 4*4 + 4*4 + 8 = 40; grads 58*4 = 232; optimizer states*232
    #   activations: stem 2*4*8*8*4 = 2048, bn 2048, gap 2*4*4 = 32, fc 2*10*4 = 80 -> 4208
    #   input 2*3*8*8*4 = 1536
    r = analyze(TRAIN_MODEL, [3, 8, 8], batch=2, optimizer=optimizer)
    t = r.totals
    assert t["params"] == 166
    assert t["trainable_params"] == 58
    assert t["weight_bytes"] == 664
    assert t["buffer_bytes"] == 40
    assert t["grad_bytes"] == 232
    assert t["optimizer_bytes"] == states * 232
    assert t["activation_bytes"] == 4208
    assert t["input_bytes"] == 1536
    # inference peak, the input held throughout: {x, stem} 1536 + 2048 = 3584; {x, stem, bn}
    # 5632 -> free stem; relu aliases bn; {x, bn, gap} 3616 -> free bn; flat aliases gap;
    # {x, gap, fc} 1648.
    assert t["peak_activation_bytes"] == 5632
    # saved for backward: the frozen stem on the input (no gradient) keeps nothing; bn keeps its
    # input (stem's output, 2048) and 2 x 4 channel statistics x 4 B = 32; the in-place relu
    # keeps bn's output (2048); gap to 1x1 is a mean (keeps nothing); fc keeps gap's output
    # (through the flatten view): 32.
    assert t["saved_bytes"] == 2048 + 32 + 2048 + 32
    # the training step built from them: weights, buffers, gradients, optimizer state and the
    # saved activations (sgd 5096, momentum 5328, adam 5560)
    assert t["train_bytes"] == 664 + 40 + 232 + states * 232 + 4160
    # no layer name is a module path (no dots): eager PyTorch holds nothing longer
    assert t["peak_eager_bytes"] == 5632
    assert r.optimizer == optimizer


def test_eager_peak_holds_module_arguments():
    # batch 1, fp32, input 3x8x8 = 768 B (held by the caller throughout). stem conv 3->4: 1,024 B;
    # block.conv1 4->8: 2,048; block.conv2 8->8: 2,048; block.conv3 8->4: 1,024; pool 16.
    # By the graph the stem's output is freed once block.conv1 has read it: the peak is at
    # block.conv2, {x, conv1, conv2} 768 + 2,048 + 2,048 = 4,864. Eager PyTorch's `block`
    # (module `block`, as the names say) keeps its argument, the stem's output, until it returns
    # after block.conv3: {x, stem, conv1, conv2} 4,864 + 1,024 = 5,888.
    conv = {"op": "conv2d", "kernel_size": 3, "padding": 1, "bias": False}
    layers = [{"name": n, "out_channels": c, **conv} for n, c in
              [("stem", 4), ("block.conv1", 8), ("block.conv2", 8), ("block.conv3", 4)]]
    layers.append({"name": "pool", "op": "adaptive_avgpool2d", "output_size": 1})
    t = analyze(layers, [3, 8, 8]).totals
    assert (t["peak_activation_bytes"], t["peak_eager_bytes"]) == (4864, 5888)


# ---- model files ------------------------------------------------------------------------------

TOML_TEXT = """
name = "tiny"
input = [3, 16, 16]

[[layers]]
name = "conv"
op = "conv2d"
out_channels = 8
kernel_size = [3, 3]
padding = 1
bias = false

[[layers]]
name = "bn"
op = "batchnorm2d"

[[layers]]
name = "act"
op = "relu"
inplace = true

[[layers]]
name = "pool"
op = "maxpool2d"
kernel_size = 3
stride = 2
ceil_mode = true

[[layers]]
name = "skip"
op = "conv2d"
out_channels = 8
kernel_size = 1
stride = 2
inputs = ["x"]

[[layers]]
name = "sum"
op = "add"
inputs = ["pool", "skip"]

[[layers]]
op = "flatten"

[[layers]]
name = "fc"
op = "linear"
out_features = 10
trainable = false
"""

YAML_TEXT = """
name: tiny
input: [3, 16, 16]
layers:
  - {name: conv, op: conv2d, out_channels: 8, kernel_size: [3, 3], padding: 1, bias: false}
  - name: bn
    op: batchnorm2d
  - {name: act, op: relu, inplace: true}
  - {name: pool, op: maxpool2d, kernel_size: 3, stride: 2, ceil_mode: true}
  - {name: skip, op: conv2d, out_channels: 8, kernel_size: 1, stride: 2, inputs: [x]}
  - {name: sum, op: add, inputs: [pool, skip]}
  - op: flatten
  - {name: fc, op: linear, out_features: 10, trainable: false}
"""

JSON_TEXT = json.dumps({
    "name": "tiny",
    "input": [3, 16, 16],
    "layers": [
        {"name": "conv", "op": "conv2d", "out_channels": 8, "kernel_size": [3, 3], "padding": 1, "bias": False},
        {"name": "bn", "op": "batchnorm2d"},
        {"name": "act", "op": "relu", "inplace": True},
        {"name": "pool", "op": "maxpool2d", "kernel_size": 3, "stride": 2, "ceil_mode": True},
        {"name": "skip", "op": "conv2d", "out_channels": 8, "kernel_size": 1, "stride": 2, "inputs": ["x"]},
        {"name": "sum", "op": "add", "inputs": ["pool", "skip"]},
        {"op": "flatten"},
        {"name": "fc", "op": "linear", "out_features": 10, "trainable": False},
    ],
}, indent=2)


def test_toml_yaml_json_give_identical_reports(tmp_path):
    paths = {}
    for suffix, text in [("toml", TOML_TEXT), ("yaml", YAML_TEXT), ("json", JSON_TEXT)]:
        p = tmp_path / f"tiny.{suffix}"
        p.write_text(text, encoding="utf-8")
        paths[suffix] = p
    reports = {s: archsweep.analyze(p, batch=2, dtype="fp16") for s, p in paths.items()}
    # also through load() and a plain dict
    reports["load"] = archsweep.analyze(archsweep.load(paths["yaml"]), batch=2, dtype="fp16")
    reports["dict"] = archsweep.analyze(json.loads(JSON_TEXT), batch=2, dtype="fp16")
    ref = reports["toml"]
    # hand check of the reference: pool (16 - 3 + 1)//2 + 1 = 8 (ceil; (8-1)*2 = 14 < 16 stays);
    # skip (16 - 1)//2 + 1 = 8; flatten 8*8*8 = 512; params conv 8*3*9 = 216, bn 16, skip 8*3 + 8 = 32,
    # fc 512*10 + 10 = 5130 (frozen)
    assert ref.name == "tiny"
    assert ref.layers["name"].to_list() == ["conv", "bn", "act", "pool", "skip", "sum", "flatten_1", "fc"]
    assert ref.layers["output_shape"][-1].to_list() == [2, 10]
    assert ref.totals["params"] == 216 + 16 + 32 + 5130
    assert ref.totals["trainable_params"] == 216 + 16 + 32
    assert ref.totals["weight_bytes"] == (216 + 16 + 32 + 5130) * 2
    for key, rep in reports.items():
        assert rep.name == ref.name, key
        assert rep.input_shape == ref.input_shape == (2, 3, 16, 16), key
        assert rep.totals == ref.totals, key
        assert rep.layers.equals(ref.layers), key


# ---- VGG16 seed table (/work/shared/SEED_NOTES.md) -----------------------------------------

VGG16_SEED = {
    "conv1_1": 1_792,  # 3×3×3×64 + 64
    "conv1_2": 36_928,  # 64×3×3×64 + 64
    "conv2_1": 73_856,  # 64×128×3×3 + 128
    "conv2_2": 147_584,  # 128×128×3×3 + 128
    "conv3_1": 295_168,  # 128×256×3×3 + 256
    "conv3_2": 590_080,  # 256×256×3×3 + 256
    "conv3_3": 590_080,
    "conv4_1": 1_180_160,  # 256×512×3×3 + 512
    "conv4_2": 2_359_808,  # 512×512×3×3 + 512
    "conv4_3": 2_359_808,
    "conv5_1": 2_359_808,
    "conv5_2": 2_359_808,
    "conv5_3": 2_359_808,
    "fc1": 102_764_544,  # 25088×4096 + 4096
    "fc2": 16_781_312,  # 4096×4096 + 4096
    "fc3": 4_097_000,  # 4096×1000 + 1000
}


@pytest.fixture(scope="module")
def vgg16():
    return archsweep.analyze(ROOT / "data" / "models" / "vgg16.toml")


def test_vgg16_seed_table(vgg16):
    rr = rows(vgg16)
    for name, params in VGG16_SEED.items():
        assert rr[name]["params"] == params, name
    conv = sum(r["params"] for r in rr.values() if r["op"] == "conv2d")
    fc = sum(r["params"] for r in rr.values() if r["op"] == "linear")
    assert conv == 14_714_688
    assert fc == 123_642_856
    assert vgg16.totals["params"] == 138_357_544
    assert vgg16.totals["weight_bytes"] == 553_430_176  # 138,357,544 × 4
    # every param-carrying layer is in the table (pooling, relu, dropout, flatten have none)
    assert {n for n, r in rr.items() if r["params"]} == set(VGG16_SEED)
    assert rr["flatten"]["output_shape"] == [1, 25088]  # 7×7×512
    assert rr["fc3"]["output_shape"] == [1, 1000]
    # seed: torchvision's table gives VGG16 ≈ 15.47 GMACs; flops = 2 × macs
    assert round(vgg16.totals["macs"] / 1e9, 2) == 15.47
    assert vgg16.totals["flops"] == 2 * vgg16.totals["macs"]


def test_vgg16_explain_conv1_1(vgg16):
    formula = rows(vgg16)["conv1_1"]["formula"]
    assert "3×3×3×64 + 64 = 1,792" in formula
    assert any(line.startswith("conv1_1") and "3×3×3×64 + 64 = 1,792" in line for line in vgg16.explain())


# ---- former disagreements with PyTorch (archsweep now follows PyTorch) ----------------------

def test_batchnorm_without_bias():
    row = analyze([{"op": "batchnorm2d", "bias": False}], [64, 8, 8]).layers.to_dicts()[0]
    # torch.nn.BatchNorm2d(64, bias=False): weight 64, no bias; running stats unchanged
    assert (row["weight_params"], row["bias_params"]) == (64, 0)
    assert row["buffers"] == 2 * 64 + 1


def test_groupnorm_without_bias():
    row = analyze([{"op": "groupnorm", "num_groups": 4, "bias": False}], [8, 3]).layers.to_dicts()[0]
    # torch.nn.GroupNorm(4, 8, bias=False): weight 8, no bias
    assert (row["weight_params"], row["bias_params"]) == (8, 0)
