"""Invalid models and options: each must raise ArchsweepError whose message names the offending
layer as `<layer> (<op>): ...` (or, for model-level problems, the option / file at fault), the
broken rule and its numbers, and never leaks panic or traceback text from the Rust core."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from error_cases import assert_message

import archsweep
from archsweep import ArchsweepError, ModelFileError


def M(*layers: dict, input: list[int] | None = None) -> dict:
    model: dict[str, Any] = {"name": "bad", "layers": list(layers)}
    if input is not None:
        model["input"] = input
    return model


def conv(name="c", **attrs):
    return {"name": name, "op": "conv2d", **attrs}


class Bad(NamedTuple):
    model: Any  # a model dict, or a callable(tmp_path) -> path
    kwargs: dict
    prefix: str | None  # "<layer> (<op>): " the message must start with; None for model-level errors
    fragments: tuple[str, ...]  # must all appear in the message
    exc: type = ArchsweepError


def bad(id, model, prefix, *fragments, kwargs=None, exc=ArchsweepError, marks=()):
    return pytest.param(Bad(model, kwargs or {}, prefix, fragments, exc), id=id, marks=marks)


def write(name: str, text: str) -> Callable:
    def make(tmp_path):
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        return p

    return make


def xfail(reason, raises=()):
    """Known disagreement: the test asserts the truth and is expected to fail (strictly) the way
    archsweep currently fails it: a wrong/missing message, no error at all, or the wrong exception."""
    return pytest.mark.xfail(strict=True, raises=(AssertionError, pytest.fail.Exception, *raises), reason=reason)


TOO_BIG = 2**32  # 4294967296

CASES = [
    # ---- channel / group arithmetic
    bad("groups-vs-in-channels", M(conv(out_channels=8, kernel_size=3, groups=3), input=[64, 8, 8]),
        "c (conv2d): ", "groups=3 does not divide in_channels=64"),
    bad("groups-vs-out-channels", M(conv(out_channels=6, kernel_size=3, groups=4), input=[64, 8, 8]),
        "c (conv2d): ", "groups=4 does not divide out_channels=6"),
    bad("depthwise-vs-out-channels", M(conv(out_channels=48, kernel_size=3, groups="depthwise"), input=[32, 8, 8]),
        "c (conv2d): ", "groups=32 does not divide out_channels=48"),
    bad("conv-transpose-groups", M({"name": "up", "op": "conv_transpose2d", "out_channels": 4, "kernel_size": 2, "groups": 3},
                                   input=[6, 4, 4]),
        "up (conv_transpose2d): ", "groups=3 does not divide out_channels=4"),
    bad("groupnorm-groups", M({"name": "gn", "op": "groupnorm", "num_groups": 3}, input=[64, 8, 8]),
        "gn (groupnorm): ", "num_groups=3 does not divide num_channels=64"),
    bad("attention-heads", M({"name": "mha", "op": "multihead_attention", "embed_dim": 10, "num_heads": 3}, input=[4, 10]),
        "mha (multihead_attention): ", "num_heads=3 does not divide embed_dim=10"),
    bad("channel-shuffle-groups", M({"name": "cs", "op": "channel_shuffle", "groups": 3}, input=[116, 28, 28]),
        "cs (channel_shuffle): ", "groups=3 does not divide channels=116"),
    # ---- kernels vs inputs
    bad("kernel-larger-than-input", M(conv("conv5_3", out_channels=8, kernel_size=3), input=[64, 1, 1]),
        "conv5_3 (conv2d): ", "kernel 3×3 is larger than the padded input 1×1"),
    bad("dilated-kernel-larger-than-input", M(conv(out_channels=2, kernel_size=3, dilation=2), input=[1, 4, 4]),
        # effective kernel 2*(3-1) + 1 = 5 > 4
        "c (conv2d): ", "kernel 3×3", "effective 5×5", "larger than the padded input 4×4"),
    bad("conv1d-kernel-vs-padding", M({"name": "c1", "op": "conv1d", "out_channels": 2, "kernel_size": 7, "padding": 1},
                                      input=[1, 4]),
        # padded 4 + 2*1 = 6 < 7
        "c1 (conv1d): ", "kernel 7 is larger than the padded input 6"),
    # ---- declared sizes vs inferred sizes
    bad("linear-in-features", M({"name": "flat", "op": "flatten"},
                                {"name": "fc1", "op": "linear", "in_features": 25088, "out_features": 4096},
                                input=[512, 3, 3]),
        # 512*3*3 = 4608 features arrive
        "fc1 (linear): ", "expects 25088 input features, got 4608"),
    bad("conv-in-channels", M(conv(in_channels=3, out_channels=8, kernel_size=3), input=[64, 8, 8]),
        "c (conv2d): ", "expects 3 input channels, got 64"),
    bad("batchnorm-num-features", M({"name": "bn", "op": "batchnorm2d", "num_features": 32}, input=[64, 8, 8]),
        "bn (batchnorm2d): ", "expects 32 input features", "got 64"),
    bad("groupnorm-num-channels", M({"name": "gn", "op": "groupnorm", "num_groups": 2, "num_channels": 8}, input=[16, 4]),
        "gn (groupnorm): ", "expects 8 input channels, got 16"),
    bad("attention-embed-dim", M({"name": "mha", "op": "multihead_attention", "embed_dim": 8, "num_heads": 2}, input=[4, 10]),
        "mha (multihead_attention): ", "query has 10 features but embed_dim=8"),
    bad("attention-kdim", M({"name": "mha", "op": "multihead_attention", "embed_dim": 8, "num_heads": 2, "kdim": 4},
                            input=[4, 8]),
        # self-attention feeds the 8-feature input as key
        "mha (multihead_attention): ", "key has 8 features but kdim=4"),
    # ---- op names and attributes
    bad("unknown-op-suggests", M({"name": "a", "op": "conv2"}, input=[3, 8, 8]),
        "a (conv2): ", "unknown op 'conv2'", "did you mean conv2d"),
    bad("unknown-op", M({"name": "a", "op": "frobnicate"}, input=[3, 8, 8]),
        "a (frobnicate): ", "unknown op 'frobnicate'"),
    bad("unknown-attribute-typo", M(conv(out_channels=8, kernel_size=3, stirde=2), input=[3, 8, 8]),
        "c (conv2d): ", "unknown attribute 'stirde' for op conv2d", "stride"),
    bad("unknown-attribute-on-pool", M({"name": "p", "op": "avgpool2d", "kernel_size": 3, "dilation": 2}, input=[1, 9, 9]),
        "p (avgpool2d): ", "unknown attribute 'dilation' for op avgpool2d"),
    bad("unknown-attribute-inplace-sigmoid", M({"name": "s", "op": "sigmoid", "inplace": True}, input=[4]),
        "s (sigmoid): ", "unknown attribute 'inplace'"),
    bad("kernal_size-typo", M(conv(out_channels=8, kernal_size=3), input=[3, 8, 8]),
        # kernel_size is then missing: that is what is reported
        "c (conv2d): ", "kernel_size"),
    bad("kernal_size-typo-named", M(conv(out_channels=8, kernal_size=3), input=[3, 8, 8]),
        "c (conv2d): ", "kernal_size"),
    bad("missing-out-features", M({"name": "fc", "op": "linear"}, input=[8]),
        "fc (linear): ", "missing required attribute 'out_features'"),
    bad("missing-kernel-size", M({"name": "p", "op": "maxpool2d"}, input=[1, 8, 8]),
        "p (maxpool2d): ", "missing required attribute 'kernel_size'"),
    bad("missing-num-heads", M({"name": "mha", "op": "multihead_attention", "embed_dim": 8}, input=[4, 8]),
        "mha (multihead_attention): ", "missing required attribute 'num_heads'"),
    bad("missing-output-size", M({"name": "ap", "op": "adaptive_avgpool2d"}, input=[1, 8, 8]),
        "ap (adaptive_avgpool2d): ", "missing required attribute 'output_size'"),
    bad("missing-reshape-shape", M({"name": "r", "op": "reshape"}, input=[4]),
        "r (reshape): ", "missing required attribute 'shape'"),
    bad("missing-permute-dims", M({"name": "p", "op": "permute"}, input=[4, 5]),
        "p (permute): ", "missing required attribute 'dims'"),
    bad("missing-op", M({"name": "a", "out_channels": 8}, input=[4]),
        "a: ", "missing 'op'"),
    # ---- wrong types
    bad("type-string-int", M(conv(out_channels="64", kernel_size=3), input=[3, 8, 8]),
        "c (conv2d): ", "out_channels must be an integer, got a string"),
    bad("type-bool-int", M(conv(out_channels=8, kernel_size=True), input=[3, 8, 8]),
        "c (conv2d): ", "kernel_size must be an integer, got a boolean"),
    bad("type-fractional-int", M(conv(out_channels=8, kernel_size=2.5), input=[3, 8, 8]),
        "c (conv2d): ", "kernel_size must be an integer, got 2.5"),
    bad("type-bool", M(conv(out_channels=8, kernel_size=3, bias="yes"), input=[3, 8, 8]),
        "c (conv2d): ", "bias must be true or false, got a string"),
    bad("type-tuple-length", M(conv(out_channels=8, kernel_size=[3, 3, 3]), input=[3, 8, 8]),
        "c (conv2d): ", "kernel_size needs 1 or 2 values, got 3"),
    bad("type-padding-word", M(conv(out_channels=8, kernel_size=3, padding="full"), input=[3, 8, 8]),
        "c (conv2d): ", "padding='full'", "'same' or 'valid'"),
    bad("type-groups-word", M(conv(out_channels=8, kernel_size=3, groups="dw"), input=[8, 8, 8]),
        "c (conv2d): ", "groups='dw' must be a positive integer or 'depthwise'"),
    bad("type-float", M({"name": "bn", "op": "batchnorm2d", "eps": "tiny"}, input=[4, 4, 4]),
        "bn (batchnorm2d): ", "eps must be a number, got a string"),
    bad("type-choice", M({"name": "g", "op": "gelu", "approximate": "erf"}, input=[4]),
        "g (gelu): ", "approximate='erf' is not one of none, tanh"),
    bad("type-trainable", M({"name": "fc", "op": "linear", "out_features": 2, "trainable": "no"}, input=[4]),
        "fc (linear): ", "trainable must be true or false"),
    bad("type-inputs", M({"name": "r", "op": "relu", "inputs": [1]}, input=[4]),
        "r (relu): ", "inputs must be layer names, got 1"),
    bad("type-empty-inputs", M({"name": "r", "op": "relu", "inputs": []}, input=[4]),
        "r (relu): ", "non-empty list"),
    # ---- negative / zero values
    bad("zero-out-channels", M(conv(out_channels=0, kernel_size=3), input=[3, 8, 8]),
        "c (conv2d): ", "out_channels=0 must be at least 1"),
    bad("zero-stride", M(conv(out_channels=4, kernel_size=3, stride=0), input=[3, 8, 8]),
        "c (conv2d): ", "stride=0 must be at least 1"),
    bad("negative-padding", M(conv(out_channels=4, kernel_size=3, padding=-1), input=[3, 8, 8]),
        "c (conv2d): ", "padding=-1 must be at least 0"),
    bad("negative-out-features", M({"name": "fc", "op": "linear", "out_features": -5}, input=[8]),
        "fc (linear): ", "out_features=-5 must not be negative"),
    bad("zero-kernel-pool", M({"name": "p", "op": "maxpool2d", "kernel_size": [2, 0]}, input=[1, 8, 8]),
        "p (maxpool2d): ", "kernel_size=0 must be at least 1"),
    bad("dropout-p", M({"name": "d", "op": "dropout", "p": 1.5}, input=[8]),
        "d (dropout): ", "p=1.5 must be between 0 and 1"),
    bad("layernorm-zero-shape", M({"name": "ln", "op": "layernorm", "normalized_shape": 0}, input=[4]),
        "ln (layernorm): ", "normalized_shape entries must be positive, got 0"),
    # ---- wiring
    bad("undefined-input", M({"name": "r", "op": "relu", "inputs": "nope"}, input=[4]),
        "r (relu): ", "input 'nope' is not the model input 'x' or a layer defined before this one"),
    bad("forward-reference", M({"name": "a", "op": "add", "inputs": ["x", "b"]}, {"name": "b", "op": "relu", "inputs": "x"},
                               input=[4]),
        "a (add): ", "input 'b' is not the model input 'x' or a layer defined before this one"),
    bad("self-reference", M({"name": "a", "op": "relu", "inputs": "a"}, input=[4]),
        "a (relu): ", "input 'a'"),
    bad("duplicate-name", M({"name": "conv", "op": "conv2d", "out_channels": 4, "kernel_size": 1},
                            {"name": "conv", "op": "relu"}, input=[3, 4, 4]),
        "conv (relu): ", "already defined", "unique"),
    bad("reserved-name-x", M({"name": "x", "op": "relu"}, input=[4]),
        "x (relu): ", "'x' is reserved for the model input"),
    bad("add-one-input", M({"name": "sum", "op": "add", "inputs": ["x"]}, input=[4]),
        "sum (add): ", "takes at least 2 input(s), got 1"),
    bad("relu-two-inputs", M({"name": "r", "op": "relu", "inputs": ["x", "x"]}, input=[4]),
        "r (relu): ", "takes 1 input(s), got 2"),
    bad("attention-two-inputs", M({"name": "mha", "op": "multihead_attention", "embed_dim": 8, "num_heads": 2,
                                   "inputs": ["x", "x"]}, input=[4, 8]),
        "mha (multihead_attention): ", "one input (self-attention) or three", "got 2"),
    bad("attention-four-inputs", M({"name": "mha", "op": "multihead_attention", "embed_dim": 8, "num_heads": 2,
                                    "inputs": ["x", "x", "x", "x"]}, input=[4, 8]),
        "mha (multihead_attention): ", "takes 1 to 3 input(s), got 4"),
    # ---- ranks
    bad("conv2d-on-3d", M(conv(out_channels=4, kernel_size=3), input=[3, 10]),
        "c (conv2d): ", "expects a 4-d input (N, C, H, W), got 3-d (1, 3, 10)"),
    bad("conv1d-on-4d", M({"name": "c", "op": "conv1d", "out_channels": 4, "kernel_size": 3}, input=[3, 10, 10]),
        "c (conv1d): ", "expects a 3-d input (N, C, L), got 4-d (1, 3, 10, 10)"),
    bad("batchnorm2d-on-2d", M({"name": "bn", "op": "batchnorm2d"}, input=[10]),
        "bn (batchnorm2d): ", "4-d", "got 2-d (1, 10)"),
    bad("maxpool1d-on-4d", M({"name": "p", "op": "maxpool1d", "kernel_size": 2}, input=[1, 4, 4]),
        "p (maxpool1d): ", "expects a 3-d input (N, C, L), got 4-d"),
    bad("class-token-on-2d", M({"name": "cls", "op": "class_token"}, input=[768]),
        "cls (class_token): ", "expects a 3-d (N, L, E) input, got 2-d (1, 768)"),
    bad("attention-on-2d", M({"name": "mha", "op": "multihead_attention", "embed_dim": 8, "num_heads": 2}, input=[8]),
        "mha (multihead_attention): ", "expects a 3-d (N, L, E) query, got 2-d"),
    bad("channel-shuffle-on-2d", M({"name": "cs", "op": "channel_shuffle", "groups": 2}, input=[4]),
        "cs (channel_shuffle): ", "with spatial dims", "(1, 4)"),
    bad("upsample-on-2d", M({"name": "up", "op": "upsample", "scale_factor": 2}, input=[4]),
        "up (upsample): ", "3-d, 4-d or 5-d", "(1, 4)"),
    bad("linear-on-1d", M({"name": "f", "op": "flatten", "start_dim": 0}, {"name": "fc", "op": "linear", "out_features": 2},
                          input=[4]),
        "fc (linear): ", "expects an input with a feature dim, got (4,)"),
    bad("concat-rank", M({"name": "f", "op": "flatten"}, {"name": "cat", "op": "concat", "inputs": ["x", "f"]},
                         input=[2, 3]),
        "cat (concat): ", "input 1 (1, 6) has rank 2 but input 0 (1, 2, 3) has rank 3"),
    bad("input-rank-too-big", M({"name": "r", "op": "relu"}), None,
        "rank 9 exceeds the supported maximum of 8", kwargs={"input_shape": [1] * 8}),
    # ---- reshape / permute / dims
    bad("reshape-count", M({"name": "r", "op": "reshape", "shape": [7, 7]}, input=[50]),
        "r (reshape): ", "cannot reshape 50 (50 elements per sample) into 7×7"),
    bad("reshape-infer-indivisible", M({"name": "r", "op": "reshape", "shape": [3, -1]}, input=[50]),
        "r (reshape): ", "cannot reshape 50", "3×-1"),
    bad("reshape-two-minus-one", M({"name": "r", "op": "reshape", "shape": [-1, -1]}, input=[50]),
        "r (reshape): ", "only one dim of shape may be -1"),
    bad("permute-repeated", M({"name": "p", "op": "permute", "dims": [0, 1, 1]}, input=[3, 4]),
        "p (permute): ", "dim 1 appears twice in dims"),
    bad("permute-length", M({"name": "p", "op": "permute", "dims": [0, 1]}, input=[3, 4]),
        "p (permute): ", "dims has 2 entries but the input (1, 3, 4) has 3 dims"),
    bad("transpose-out-of-range", M({"name": "t", "op": "transpose", "dim0": 1, "dim1": 3}, input=[3, 4]),
        "t (transpose): ", "dim 3 is out of range for a rank-3 tensor"),
    bad("softmax-dim", M({"name": "sm", "op": "softmax", "dim": 2}, input=[10]),
        "sm (softmax): ", "dim 2 is out of range for a rank-2 tensor"),
    bad("flatten-order", M({"name": "f", "op": "flatten", "start_dim": 3, "end_dim": 1}, input=[3, 4, 5]),
        "f (flatten): ", "start_dim=3 comes after end_dim=1"),
    bad("select-batch", M({"name": "s", "op": "select", "dim": 0}, input=[3, 4]),
        "s (select): ", "cannot select along the batch dim 0"),
    bad("select-index", M({"name": "s", "op": "select", "dim": 1, "index": 197}, input=[197, 768]),
        "s (select): ", "index 197 is out of range for dim 1 of size 197"),
    # ---- padding rules
    bad("same-with-stride", M(conv(out_channels=4, kernel_size=3, stride=2, padding="same"), input=[3, 9, 9]),
        "c (conv2d): ", "padding='same' is not supported for strided convolutions (stride=2×2)"),
    bad("transpose-same", M({"name": "up", "op": "conv_transpose2d", "out_channels": 1, "kernel_size": 3,
                             "padding": "same"}, input=[1, 7, 7]),
        "up (conv_transpose2d): ", "padding='same'", "no 'same'/'valid'"),
    bad("output-padding-too-big", M({"name": "up", "op": "conv_transpose2d", "out_channels": 1, "kernel_size": 3,
                                     "stride": 2, "output_padding": 2}, input=[1, 7, 7]),
        "up (conv_transpose2d): ", "output_padding=2 must be smaller than either stride=2 or dilation=1"),
    bad("transpose-output-not-positive", M({"name": "up", "op": "conv_transpose1d", "out_channels": 1, "kernel_size": 1,
                                            "padding": 1}, input=[1, 2]),
        # (2-1)*1 - 2*1 + 1*(1-1) + 0 + 1 = 0
        "up (conv_transpose1d): ", "output size 0", "not positive"),
    bad("maxpool-padding-over-half", M({"name": "p", "op": "maxpool2d", "kernel_size": 2, "padding": 2}, input=[1, 10, 10]),
        "p (maxpool2d): ", "padding=2 should be at most half of the effective kernel size 2"),
    bad("avgpool-padding-over-half", M({"name": "p", "op": "avgpool2d", "kernel_size": 3, "padding": 2}, input=[1, 10, 10]),
        "p (avgpool2d): ", "padding=2 should be at most half of the kernel size 3"),
    bad("pool-output-too-small", M({"name": "p", "op": "maxpool2d", "kernel_size": 2}, input=[1, 1, 1]),
        # (1 - 2)//2 + 1 = 0
        "p (maxpool2d): ", "kernel 2×2", "on input 1×1", "gives output size 0×0", "too small"),
    bad("pool3d-output-too-small", M({"name": "p", "op": "avgpool3d", "kernel_size": [1, 3, 1]}, input=[1, 4, 2, 4]),
        "p (avgpool3d): ", "too small"),
    # ---- adaptive pool output_size
    bad("adaptive-zero", M({"name": "ap", "op": "adaptive_avgpool2d", "output_size": 0}, input=[1, 8, 8]),
        "ap (adaptive_avgpool2d): ", "output_size must be a positive int or a list of 2 positive ints or nulls"),
    bad("adaptive-length", M({"name": "ap", "op": "adaptive_avgpool2d", "output_size": [7, 7, 7]}, input=[1, 8, 8]),
        "ap (adaptive_avgpool2d): ", "list of 2"),
    bad("adaptive-negative", M({"name": "ap", "op": "adaptive_maxpool1d", "output_size": -3}, input=[1, 8]),
        "ap (adaptive_maxpool1d): ", "output_size must be a positive int"),
    bad("adaptive-string", M({"name": "ap", "op": "adaptive_avgpool3d", "output_size": "7"}, input=[1, 8, 8, 8]),
        "ap (adaptive_avgpool3d): ", "output_size must be a positive int"),
    # ---- norms, concat, broadcast, upsample
    bad("layernorm-shape", M({"name": "ln", "op": "layernorm", "normalized_shape": 512}, input=[197, 768]),
        "ln (layernorm): ", "normalized_shape=512 does not match the trailing dims of the input (1, 197, 768)"),
    bad("concat-dims", M(conv("down", out_channels=32, kernel_size=2, stride=2), {"name": "cat", "op": "concat",
                                                                                "inputs": ["x", "down"]},
                         input=[64, 56, 56]),
        # down: (56 - 2)//2 + 1 = 28
        "cat (concat): ", "input 1 (1, 32, 28, 28) differs from input 0 (1, 64, 56, 56) in dim 2 (only dim 1 may differ)"),
    bad("concat-dim-range", M({"name": "cat", "op": "concat", "dim": 4, "inputs": ["x", "x"]}, input=[2, 3, 4]),
        "cat (concat): ", "dim 4 is out of range for a rank-4 tensor"),
    bad("broadcast", M(conv("proj", out_channels=32, kernel_size=1), {"name": "sum", "op": "add", "inputs": ["x", "proj"]},
                       input=[64, 56, 56]),
        "sum (add): ", "shapes (1, 64, 56, 56) and (1, 32, 56, 56) do not broadcast: dim 1 is 64 vs 32"),
    bad("upsample-both", M({"name": "up", "op": "upsample", "size": 4, "scale_factor": 2}, input=[3, 7, 9]),
        "up (upsample): ", "either size or scale_factor, not both"),
    bad("upsample-neither", M({"name": "up", "op": "upsample"}, input=[3, 7, 9]),
        "up (upsample): ", "missing required attribute: size or scale_factor"),
    bad("upsample-shrinks-to-zero", M({"name": "up", "op": "upsample", "scale_factor": 0.1}, input=[3, 5, 5]),
        # floor(5 * 0.1) = 0
        "up (upsample): ", "scale_factor 0.1 shrinks spatial dim of size 5 to 0"),
    bad("upsample-size-length", M({"name": "up", "op": "upsample", "size": [4, 5, 6]}, input=[3, 7, 9]),
        "up (upsample): ", "1 or 2 entries"),
    # ---- unsupported PyTorch features are refused, not ignored
    bad("attention-batch-first-false", M({"name": "mha", "op": "multihead_attention", "embed_dim": 8, "num_heads": 2,
                                          "batch_first": False}, input=[4, 8]),
        "mha (multihead_attention): ", "batch_first=false is not supported"),
    bad("maxpool-return-indices", M({"name": "p", "op": "maxpool2d", "kernel_size": 2, "return_indices": True},
                                    input=[1, 4, 4]),
        "p (maxpool2d): ", "return_indices=true is not supported"),
    # ---- overflow
    bad("overflow-linear", M({"name": "huge", "op": "linear", "out_features": TOO_BIG}, input=[TOO_BIG]),
        # weight 2^32 * 2^32 = 2^64 > u64::MAX
        "huge (linear): ", "overflow", "4294967296 × 4294967296", "does not fit in 64 bits"),
    bad("overflow-linear-macs", M({"name": "huge", "op": "linear", "out_features": 2**31}, input=[2**20, 2**20]),
        # weight 2^20 * 2^31 = 2^51 fits; macs 2^20 rows * 2^31 outputs * 2^20 = 2^71 does not
        "huge (linear): ", "overflow", "does not fit in 64 bits"),
    bad("overflow-numel", M({"name": "r", "op": "relu"}, input=[TOO_BIG, TOO_BIG]),
        "r (relu): ", "overflow"),
    bad("overflow-flops-only", M({"name": "huge", "op": "linear", "out_features": 2**31 + 1, "bias": False},
                                 input=[TOO_BIG]),
        # macs = 2^32 * (2^31 + 1) = 2^63 + 2^32 fits in u64, flops = 2 * macs does not
        "huge (linear): ", "overflow", kwargs={"dtype": "int8"}),
    bad("attribute-beyond-i64", M({"name": "fc", "op": "linear", "out_features": 2**63}, input=[4]),
        "fc (linear): ", "out_features", "9223372036854775808"),
    # ---- options
    bad("bad-dtype", M({"name": "r", "op": "relu"}, input=[4]), None,
        "unknown dtype 'fp4'", "fp32", "bf16", kwargs={"dtype": "fp4"}),
    bad("bad-optimizer", M({"name": "r", "op": "relu"}, input=[4]), None,
        "unknown optimizer 'adagrad'", "sgd", "adam", kwargs={"optimizer": "adagrad"}),
    bad("batch-zero", M({"name": "r", "op": "relu"}, input=[4]), None,
        "batch must be at least 1", kwargs={"batch": 0}),
    bad("batch-negative", M({"name": "r", "op": "relu"}, input=[4]), None,
        "batch must be at least 1", kwargs={"batch": -2}),
    bad("input-shape-beyond-u64", M({"name": "r", "op": "relu"}), None, "input", kwargs={"input_shape": [2**64]}),
    bad("batch-beyond-u64", M({"name": "r", "op": "relu"}, input=[4]), None, "batch", kwargs={"batch": 2**64}),
    bad("batch-not-an-integer", M({"name": "r", "op": "relu"}, input=[4]), None, "batch", kwargs={"batch": 2.5}),
    bad("input-shape-not-integers", M({"name": "r", "op": "relu"}), None, "input", kwargs={"input_shape": [3, 2.5]}),
    bad("input-shape-string", M({"name": "r", "op": "relu"}), None, "input", kwargs={"input_shape": "3x8"}),
    bad("missing-input-shape", M({"name": "r", "op": "relu"}), None, "no input shape"),
    bad("input-shape-zero", M({"name": "r", "op": "relu"}), None,
        "input shape (3, 0, 4) must have positive dims", kwargs={"input_shape": (3, 0, 4)}),
    bad("model-input-zero", M({"name": "r", "op": "relu"}, input=[3, 0]), None,
        "input must be a list of positive ints"),
    bad("empty-layers", M(input=[4]), None, "the model has no layers"),
    bad("layer-not-a-table", M(5, input=[4]), None, "layer #0 is not a table"),
    bad("unknown-model-key", {"name": "bad", "input": [4], "layers": [{"op": "relu"}], "inptu": [4]}, None,
        "unknown model key", "inptu", exc=ModelFileError),
    # ---- files
    bad("malformed-toml", write("broken.toml", 'name = "m"\ninput = [3, 8, 8\n[[layers]]\nop = "relu"\n'), None,
        "broken.toml", "cannot parse TOML", exc=ModelFileError),
    bad("malformed-yaml", write("broken.yaml", "name: m\nlayers:\n  - {op: relu\n"), None,
        "broken.yaml", "cannot parse YAML", exc=ModelFileError),
    bad("malformed-json", write("broken.json", '{"name": "m", "layers": [}'), None,
        "broken.json", "cannot parse JSON", exc=ModelFileError),
    bad("missing-file", lambda tmp_path: tmp_path / "nowhere.toml", None,
        "nowhere.toml", "no such model file", exc=ModelFileError),
    bad("unknown-suffix", write("model.txt", "{}"), None, "unknown model file type '.txt'", exc=ModelFileError),
    bad("layers-not-a-list", write("nolayers.toml", 'name = "m"\nlayers = 3\n'), None,
        "nolayers.toml", "a model needs a 'layers' list", exc=ModelFileError),
    bad("bad-layer-in-file", write("vgg_bad.toml", 'input = [3, 8, 8]\n[[layers]]\nname = "conv1"\nop = "conv2d"\n'
                                                   'out_channels = 8\nkernel_size = 3\ngroups = 3\n'), "conv1 (conv2d): ",
        "groups=3 does not divide out_channels=8"),
    # ---- PyTorch raises (archsweep used to accept these; see the report)
    bad("torch-maxpool-padding-vs-dilated-kernel",
        M({"name": "p", "op": "maxpool2d", "kernel_size": 3, "stride": 1, "padding": 2, "dilation": 2}, input=[1, 10, 10]),
        "p (maxpool2d): ", "padding=2"),
    bad("torch-instancenorm-affine-num-features",
        M({"name": "inorm", "op": "instancenorm2d", "num_features": 8, "affine": True}, input=[16, 4, 4]),
        "inorm (instancenorm2d): ", "8", "16"),
    bad("torch-upsample-bilinear-needs-4d",
        M({"name": "up", "op": "upsample", "scale_factor": 2, "mode": "bilinear"}, input=[3, 5]),
        "up (upsample): ", "bilinear"),
    bad("torch-upsample-align-corners-with-nearest",
        M({"name": "up", "op": "upsample", "scale_factor": 2, "mode": "nearest", "align_corners": False},
          input=[3, 5, 5]),
        "up (upsample): ", "align_corners"),
    bad("torch-reflect-padding-too-big",
        M(conv(out_channels=2, kernel_size=3, padding=4, padding_mode="reflect"), input=[1, 4, 4]),
        "c (conv2d): ", "padding"),
    bad("torch-circular-padding-wraps-twice",
        M(conv(out_channels=2, kernel_size=3, padding=5, padding_mode="circular"), input=[1, 4, 4]),
        "c (conv2d): ", "padding"),
    bad("torch-avgpool3d-input-smaller-than-kernel",
        M({"name": "p", "op": "avgpool3d", "kernel_size": [1, 4, 4], "stride": [1, 2, 2], "padding": [0, 0, 1]},
          input=[2, 5, 6, 3]),
        "p (avgpool3d): ", "kernel"),
    bad("torch-adaptive-pool1d-none",
        M({"name": "ap", "op": "adaptive_avgpool1d", "output_size": [None]}, input=[2, 4]),
        "ap (adaptive_avgpool1d): ", "output_size"),
    bad("torch-embedding-padding-idx-range",
        M({"name": "emb", "op": "embedding", "num_embeddings": 10, "embedding_dim": 4, "padding_idx": 10}, input=[3]),
        "emb (embedding): ", "padding_idx"),
]

LEAKS = ("panicked", "Traceback", "internal error", "RUST_BACKTRACE", "thread '", "unwrap()", "src/")


@pytest.mark.parametrize("c", CASES)
def test_bad_input(c: Bad, tmp_path):
    model = c.model(tmp_path) if callable(c.model) else c.model
    with pytest.raises(c.exc) as info:
        archsweep.analyze(model, **c.kwargs)
    assert isinstance(info.value, ArchsweepError)
    msg = str(info.value)
    if c.prefix is not None:
        assert msg.startswith(c.prefix), msg
    assert_message(msg, c.fragments, LEAKS)


def test_at_least_forty_cases():
    assert len(CASES) >= 40


def test_load_raises_model_file_error(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        archsweep.load(tmp_path / "missing.yaml")
    p = tmp_path / "bad.toml"
    p.write_text("layers = [", encoding="utf-8")
    with pytest.raises(ArchsweepError, match="cannot parse TOML"):
        archsweep.load(p)


def test_first_bad_layer_is_reported():
    # two broken layers: the error names the first one in file order
    model = M(conv("ok", out_channels=4, kernel_size=1), conv("first", out_channels=4, kernel_size=9),
              conv("second", out_channels=4, kernel_size=3, groups=3), input=[4, 4, 4])
    with pytest.raises(ArchsweepError) as info:
        archsweep.analyze(model)
    assert str(info.value).startswith("first (conv2d): kernel 9×9 is larger than the padded input 4×4")
