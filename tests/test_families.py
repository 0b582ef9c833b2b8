"""Family templates (data/families/) set to torchvision configurations reproduce torchvision's
published models exactly; every shipped space (data/spaces/, data/families/) sweeps.

Expected figures: torchvision's published ``num_params`` and ``_ops`` (GFLOPS, which are
multiply-accumulates in archsweep's ``macs`` convention) from each model's default weights
meta (``torchvision.models.<Model>_Weights.IMAGENET1K_*.meta``, torchvision 0.29; the same
values as ``tests/data/reference/torchvision_models.csv`` used by test_published_models.py),
written here as literals. GMACs are compared as ``round(macs / 1e9, 3)``, the precision
torchvision publishes.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

import archsweep

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ROOT / "data" / "families"


def variant(space: archsweep.Space, config: dict) -> int:
    """variant_id of a config whose per-stage variables are given as lists (width=[...])."""
    flat = {}
    for k, v in config.items():
        if isinstance(v, (list, tuple)):
            assert len(v) == sum(1 for name in space.variables if re.fullmatch(rf"{k}_\d+", name)), f"{k}: wrong number of stages"
            flat.update({f"{k}_{i}": x for i, x in enumerate(v)})
        else:
            flat[k] = v
    assert set(flat) == set(space.variables), set(flat) ^ set(space.variables)
    vid = space.variant_id(flat)
    got = space.config(vid)
    assert all(got[k] == v for k, v in flat.items())
    return vid


def check(space: archsweep.Space, config: dict, params: int, gmacs: float | None):
    model = space.model(variant(space, config))
    totals = archsweep.analyze(model).totals
    assert totals["params"] == params
    if gmacs is not None:
        assert round(totals["macs"] / 1e9, 3) == gmacs
    return model


def count(model: archsweep.Model, op: str) -> int:
    return sum(1 for layer in model.layers if layer["op"] == op)


# ---------------------------------------------------------------------------------------------
# VGG
# ---------------------------------------------------------------------------------------------

VGG_DEPTHS = {"vgg11": [1, 1, 2, 2, 2], "vgg13": [2, 2, 2, 2, 2], "vgg16": [2, 2, 3, 3, 3], "vgg19": [2, 2, 4, 4, 4]}
# torchvision VGG*_Weights.IMAGENET1K_V1: num_params, GFLOPS
VGG = {
    "vgg11": (132_863_336, 7.609),
    "vgg11_bn": (132_868_840, 7.609),
    "vgg13": (133_047_848, 11.308),
    "vgg13_bn": (133_053_736, 11.308),
    "vgg16": (138_357_544, 15.47),
    "vgg16_bn": (138_365_992, 15.47),
    "vgg19": (143_667_240, 19.632),
    "vgg19_bn": (143_678_248, 19.632),
}


@pytest.fixture(scope="module")
def vgg():
    return archsweep.Space.load(FAMILIES / "vgg.toml")


@pytest.mark.parametrize("arch", VGG)
def test_vgg_family_reproduces_torchvision(vgg, arch):
    params, gmacs = VGG[arch]
    config = dict(res=224, depth=VGG_DEPTHS[arch.removesuffix("_bn")], width=[64, 128, 256, 512, 512],
                  bn=arch.endswith("_bn"), fc=[4096, 4096])
    model = check(vgg, config, params, gmacs)
    assert count(model, "batchnorm2d") == (sum(config["depth"]) if config["bn"] else 0)


# ---------------------------------------------------------------------------------------------
# ResNet
# ---------------------------------------------------------------------------------------------

BASIC, BOTTLENECK = 0, 1
# torchvision ResNet*/ResNeXt*/Wide_ResNet*_Weights (the default weights): num_params, GFLOPS
RESNET = {
    "resnet18": (dict(block=BASIC, depth=[2, 2, 2, 2]), 11_689_512, 1.814),
    "resnet34": (dict(block=BASIC, depth=[3, 4, 6, 3]), 21_797_672, 3.664),
    "resnet50": (dict(block=BOTTLENECK, depth=[3, 4, 6, 3]), 25_557_032, 4.089),
    "resnet101": (dict(block=BOTTLENECK, depth=[3, 4, 23, 3]), 44_549_160, 7.801),
    "resnet152": (dict(block=BOTTLENECK, depth=[3, 8, 36, 3]), 60_192_808, 11.514),
    "resnext50_32x4d": (dict(block=BOTTLENECK, depth=[3, 4, 6, 3], groups=32, width_per_group=4), 25_028_904, 4.23),
    "resnext101_32x8d": (dict(block=BOTTLENECK, depth=[3, 4, 23, 3], groups=32, width_per_group=8), 88_791_336, 16.414),
    "resnext101_64x4d": (dict(block=BOTTLENECK, depth=[3, 4, 23, 3], groups=64, width_per_group=4), 83_455_272, 15.46),
    "wide_resnet50_2": (dict(block=BOTTLENECK, depth=[3, 4, 6, 3], width_per_group=128), 68_883_240, 11.398),
    "wide_resnet101_2": (dict(block=BOTTLENECK, depth=[3, 4, 23, 3], width_per_group=128), 126_886_696, 22.753),
}


@pytest.fixture(scope="module")
def resnet():
    return archsweep.Space.load(FAMILIES / "resnet.toml")


@pytest.mark.parametrize("arch", RESNET)
def test_resnet_family_reproduces_torchvision(resnet, arch):
    knobs, params, gmacs = RESNET[arch]
    config = dict(res=224, stem=64, width=[64, 128, 256, 512], groups=1, width_per_group=64) | knobs
    model = check(resnet, config, params, gmacs)
    # projection shortcuts: layer2-4 always; layer1 only for bottlenecks (64 -> 256 channels)
    downsamples = sum(1 for layer in model.layers if layer["name"].endswith("downsample.0"))
    assert downsamples == (4 if knobs["block"] == BOTTLENECK else 3)
    assert count(model, "add") == sum(knobs["depth"])


def test_resnet_family_v15_stride_placement(resnet):
    config = dict(res=224, stem=64, width=[64, 128, 256, 512], groups=1, width_per_group=64) | RESNET["resnet50"][0]
    layers = {layer["name"]: layer for layer in resnet.model(variant(resnet, config)).layers}
    assert layers["layer2.0.bottleneck.conv1"].get("stride", 1) == 1
    assert layers["layer2.0.bottleneck.conv2"]["stride"] == 2
    assert layers["layer2.0.downsample.0"]["stride"] == 2
    assert layers["layer1.0.downsample.0"]["stride"] == 1


# ---------------------------------------------------------------------------------------------
# MobileNetV2 / EfficientNet / MnasNet
# ---------------------------------------------------------------------------------------------

RELU, RELU6, SILU, HARDSWISH = 0, 1, 2, 3
MOBILENET_V2 = dict(res=224, width_mult=1.0, depth_mult=1.0, act=RELU6, se=False, last=1280,
                    depth=[1, 2, 3, 4, 3, 3, 1], width=[16, 24, 32, 64, 96, 160, 320],
                    expand=[1, 6, 6, 6, 6, 6, 6], kernel=[3] * 7)
EFFICIENTNET_B0 = dict(res=224, width_mult=1.0, depth_mult=1.0, act=SILU, se=True, last=1280,
                       depth=[1, 2, 2, 3, 3, 4, 1], width=[16, 24, 40, 80, 112, 192, 320],
                       expand=[1, 6, 6, 6, 6, 6, 6], kernel=[3, 3, 5, 3, 5, 5, 3])
MNASNET = dict(res=224, depth_mult=1.0, act=RELU, se=False, last=1280,
               depth=[1, 3, 3, 3, 2, 4, 1], width=[16, 24, 40, 80, 96, 192, 320],
               expand=[1, 3, 3, 6, 6, 6, 6], kernel=[3, 3, 5, 5, 3, 5, 3])


def efficientnet(width_mult: float, depth_mult: float, res: int) -> dict:
    # torchvision: last conv = 4 * adjusted last stage width = make_divisible(1280 * w, 8) here
    return EFFICIENTNET_B0 | dict(width_mult=width_mult, depth_mult=depth_mult, res=res, last=round(1280 * width_mult))


# torchvision *_Weights (the default weights): num_params, GFLOPS
MOBILENET = {
    "mobilenet_v2": (MOBILENET_V2, 3_504_872, 0.301),
    "efficientnet_b0": (efficientnet(1.0, 1.0, 224), 5_288_548, 0.386),
    "efficientnet_b1": (efficientnet(1.0, 1.1, 240), 7_794_184, 0.687),
    "efficientnet_b2": (efficientnet(1.1, 1.2, 288), 9_109_994, 1.088),
    "efficientnet_b3": (efficientnet(1.2, 1.4, 300), 12_233_232, 1.827),
    "efficientnet_b4": (efficientnet(1.4, 1.8, 380), 19_341_616, 4.394),
    "efficientnet_b5": (efficientnet(1.6, 2.2, 456), 30_389_784, 10.266),
    "efficientnet_b6": (efficientnet(1.8, 2.6, 528), 43_040_704, 19.068),
    "efficientnet_b7": (efficientnet(2.0, 3.1, 600), 66_347_960, 37.746),
    "mnasnet0_5": (MNASNET | dict(width_mult=0.5), 2_218_512, 0.104),
    "mnasnet0_75": (MNASNET | dict(width_mult=0.75), 3_170_208, 0.215),
    "mnasnet1_0": (MNASNET | dict(width_mult=1.0), 4_383_312, 0.314),
    "mnasnet1_3": (MNASNET | dict(width_mult=1.3), 6_282_256, 0.526),
}


@pytest.fixture(scope="module")
def mobilenet():
    return archsweep.Space.load(FAMILIES / "mobilenet.toml")


@pytest.mark.parametrize("arch", MOBILENET)
def test_mobilenet_family_reproduces_torchvision(mobilenet, arch):
    config, params, gmacs = MOBILENET[arch]
    model = check(mobilenet, config, params, gmacs)
    blocks = sum(math.ceil(d * config["depth_mult"]) for d in config["depth"])
    assert count(model, "mul") == (blocks if config["se"] else 0)


def test_mobilenet_v2_structure(mobilenet):
    model = mobilenet.model(variant(mobilenet, MOBILENET_V2))
    # residual adds: every block but the first of each stage, none in stage1 (32 -> 16)
    assert count(model, "add") == 10
    # expansion convs in every block but stage1's (expand ratio 1)
    assert sum(1 for layer in model.layers if layer["name"].endswith(".expand")) == 16
    assert count(model, "relu6") == 1 + 16 + 17 + 1
    assert count(model, "sigmoid") == count(model, "silu") == 0


def test_mobilenet_family_hardswish_se_uses_hardsigmoid(mobilenet):
    model = mobilenet.model(variant(mobilenet, EFFICIENTNET_B0 | dict(act=HARDSWISH)))
    assert count(model, "hardsigmoid") == 16 and count(model, "sigmoid") == 0
    assert count(model, "relu") == 16  # the SE's inner activation
    assert archsweep.analyze(model).totals["params"] == 5_288_548  # activations have no params


# ---------------------------------------------------------------------------------------------
# The benchmark spaces contain the torchvision model they are centred on
# ---------------------------------------------------------------------------------------------


def test_resnet_space_contains_resnet50():
    space = archsweep.Space.load(ROOT / "data" / "spaces" / "resnet.toml")
    assert space.size >= 10**8
    config = dict(res=224, stem=64, depth=[3, 4, 6, 3], width=[64, 128, 256, 512], width_per_group=64)
    check(space, config, 25_557_032, 4.089)  # torchvision resnet50
    check(space, config | dict(width_per_group=128), 68_883_240, 11.398)  # wide_resnet50_2


def test_mobilenet_space_contains_efficientnet_b0():
    space = archsweep.Space.load(ROOT / "data" / "spaces" / "mobilenet.toml")
    config = {k: EFFICIENTNET_B0[k] for k in ("res", "depth", "width", "expand", "kernel")}
    model = check(space, config, 5_288_548, 0.386)  # torchvision efficientnet_b0
    assert count(model, "mul") == 16


# ---------------------------------------------------------------------------------------------
# Every shipped space sweeps
# ---------------------------------------------------------------------------------------------

SPACE_FILES = sorted((ROOT / "data" / "spaces").glob("*.toml")) + sorted(FAMILIES.glob("*.toml"))


@pytest.mark.parametrize("path", SPACE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_space_sweeps(path):
    space = archsweep.Space.load(path)
    df = archsweep.sweep(space, sample=min(2000, space.size), seed=0)
    # variants rejected by a constraint are not returned; the rest are mostly valid networks
    assert len(df) >= 200
    assert df["valid"].mean() > 0.9, df.filter(~df["valid"])["error"].value_counts().head(5)
    assert (df.filter(df["valid"])["params"] > 0).all()


# ---------------------------------------------------------------------------------------------
# A layer switched off at compile time can still be named (it stands for its first input)
# ---------------------------------------------------------------------------------------------


def test_statically_off_layer_can_still_be_named():
    spec = {
        "name": "static_off",
        "input": [3, 8, 8],
        "variables": {"c": [4, 8]},
        "layers": [{
            "name": "block{i}", "repeat": 2, "index": "i",
            "layers": [
                {"name": "conv", "op": "conv2d", "out_channels": "=c", "kernel_size": 1},
                # projection only in the first block; elsewhere the identity shortcut
                {"name": "proj", "op": "conv2d", "inputs": ["block_input"], "out_channels": "=c", "kernel_size": 1, "when": "=i == 0"},
                {"name": "add", "op": "add", "inputs": ["conv", "proj"]},
            ],
        }],
    }
    space = archsweep.Space(spec)
    model = space.model(space.variant_id({"c": 4}))
    assert "block1.proj" not in {layer["name"] for layer in model.layers}
    # block0: conv 3*4+4 and proj 3*4+4; block1: conv 4*4+4
    assert archsweep.analyze(model).totals["params"] == 16 + 16 + 20
