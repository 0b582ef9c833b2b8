"""More family templates (data/families/): every ``[presets.<name>]`` of the files below is a
torchvision model and must reproduce torchvision's published figures exactly.

Truth: ``torchvision_models.csv`` (published ``num_params`` and ``_ops`` = GMACs of the default
weights, torchvision 0.29), read at test time from ``tests/data/reference/`` in the repository (or
``$ARCHSWEEP_REFERENCE``: the CSV or the folder holding it); the comparisons never skip.
Asserted per preset: params exactly, ``round(macs / 1e9, 3)`` equal to the published gmacs, and
the preset's resolution equal to the reference row's.

Presets give every primary variable; per-stage variables as lists (``depth = [6, 12, 24, 16]``
stands for depth_0 .. depth_3). The variant id is computed here from the values (flattened to
name_0, name_1, ...) and checked against ``Space.preset_id``.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from reference import reference  # tests/data/reference/torchvision_models.csv

import archsweep

try:  # exact FLOPs and buffers measured with torch on torchvision's models
    from test_published_models import TORCHVISION_BUFFERS, TORCHVISION_FLOPS
except ImportError:  # pragma: no cover - run from elsewhere
    TORCHVISION_BUFFERS, TORCHVISION_FLOPS = {}, {}

#: The same measurement for models test_published_models.py does not describe (torch 2.15,
#: torchvision 0.29, CPU, eval mode, batch 1, autograd on, at the weights' resolution: 224, Swin V2
#: 256): FLOPs `FlopCounterMode(display=False)` around `m(torch.zeros(1, 3, res, res))`, buffers
#: `sum(b.numel() for b in m.buffers())` — Swin: every block's relative_position_index (window^4,
#: int64) and in V2 its relative_coords_table ((2 window - 1)^2 x 2); MaxViT: BatchNorm statistics
#: and every attention's relative_position_index (partition^4).
MORE_FLOPS = {
    "convnext_tiny": 8_911_062_528,
    "convnext_small": 17_367_424_512,
    "convnext_base": 30_709_458_944,
    "convnext_large": 68_722_867_200,
    "swin_t": 8_981_133_312,
    "swin_s": 17_481_750_528,
    "swin_b": 30_861_893_632,
    "swin_v2_t": 11_879_380_992,
    "swin_v2_s": 23_091_714_048,
    "swin_v2_b": 40_650_268_672,
    "maxvit_t": 11_116_093_440,
}
MORE_BUFFERS = {
    "convnext_tiny": 0, "convnext_small": 0, "convnext_base": 0, "convnext_large": 0,
    "swin_t": 28_812, "swin_s": 57_624, "swin_b": 57_624,
    "swin_v2_t": 54_552, "swin_v2_s": 109_104, "swin_v2_b": 109_104,
    "maxvit_t": 100_472,
}

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ROOT / "data" / "families"

#: family file -> the torchvision models it must reproduce (exactly its presets)
FAMILY_MODELS = {
    "densenet.toml": ["densenet121", "densenet161", "densenet169", "densenet201"],
    "googlenet.toml": ["googlenet"],
    "inception.toml": ["inception_v3"],
    "alexnet.toml": ["alexnet"],
    "squeezenet.toml": ["squeezenet1_0", "squeezenet1_1"],
    "vit.toml": ["vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14"],
    "regnet.toml": [f"regnet_{v}_{s}" for v in "xy" for s in ["400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf"]] + ["regnet_y_128gf"],
    "mobilenet_v3.toml": ["mobilenet_v3_large", "mobilenet_v3_small"],
    "shufflenet.toml": ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"],
    "convnext.toml": ["convnext_tiny", "convnext_small", "convnext_base", "convnext_large"],
    "swin.toml": ["swin_t", "swin_s", "swin_b", "swin_v2_t", "swin_v2_s", "swin_v2_b"],
    "maxvit.toml": ["maxvit_t"],
    "efficientnet_v2.toml": ["efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"],
}

# inception_v3 keeps a head that does not run in eval mode (AuxLogits: in the published weights,
# idle in eval): its parameters count, its MACs do not. archsweep counts a layer whose output
# never reaches the model's output that way too (inference-only counting), so every preset's own
# MACs are the published ones.




def flatten(space: archsweep.Space, values: dict) -> dict:
    """Preset values -> one value per primary variable (lists become name_0, name_1, ...)."""
    flat = {}
    for k, v in values.items():
        if isinstance(v, list):
            stages = sum(1 for name in space.variables if re.fullmatch(rf"{re.escape(k)}_\d+", name))
            assert len(v) == stages, f"{k}: {len(v)} values for {stages} stages"
            flat.update({f"{k}_{i}": x for i, x in enumerate(v)})
        else:
            flat[k] = v
    assert set(flat) == set(space.variables), f"preset misses or adds variables: {set(flat) ^ set(space.variables)}"
    return flat


_FAMILIES: dict[str, tuple] = {}


def family(file: str) -> tuple[archsweep.Space, dict[str, dict]]:
    """(space, {preset name: {"id", "values", "description"}}) of a family file, cached. The id is
    computed here from the values and must agree with ``Space.preset_id``."""
    if file not in _FAMILIES:
        space = archsweep.Space.load(FAMILIES / file)
        out = {}
        for name, p in space.presets.items():
            vid = space.variant_id(flatten(space, p["values"]))
            assert space.preset_id(name) == vid, name
            out[name] = {"id": vid, "values": p["values"], "description": p.get("description", "")}
        _FAMILIES[file] = (space, out)
    return _FAMILIES[file]


def totals(space: archsweep.Space, vid: int) -> dict:
    return archsweep.analyze(space.model(vid)).totals


CASES = [(file, model) for file, models in FAMILY_MODELS.items() for model in models]


@pytest.mark.parametrize("file", FAMILY_MODELS)
def test_presets_are_the_listed_models(file):
    _, presets = family(file)
    assert sorted(presets) == sorted(FAMILY_MODELS[file])
    for p in presets.values():
        assert p["description"]


@pytest.mark.parametrize("file,model", CASES, ids=[m for _, m in CASES])
def test_preset_reproduces_torchvision(file, model):
    ref = reference()[model]
    space, presets = family(file)
    p = presets[model]
    assert p["values"]["res"] == ref["resolution"]
    t = totals(space, p["id"])
    assert t["params"] == ref["num_params"]
    assert t["trainable_params"] == ref["num_params"]
    assert round(t["macs"] / 1e9, 3) == ref["gmacs"], f"{model}: {t['macs']:,} MACs"


@pytest.mark.parametrize("file,model", CASES, ids=[m for _, m in CASES])
def test_preset_matches_torch_measured_flops_and_buffers(file, model):
    """Stronger than the rounded GMACs, and without the reference file: the exact FLOPs and
    buffer counts measured once on torchvision's own models (tests/test_published_models.py
    says how)."""
    space, presets = family(file)
    buffers, flops = TORCHVISION_BUFFERS | MORE_BUFFERS, TORCHVISION_FLOPS | MORE_FLOPS
    if model not in flops:
        pytest.skip(f"{model}: no torch-measured figures")
    # buffers measured on the model as published (inception: with AuxLogits), FLOPs in eval mode
    assert totals(space, presets[model]["id"])["buffers"] == buffers[model]
    assert totals(space, presets[model]["id"])["flops"] == flops[model]


@pytest.mark.parametrize("file", FAMILY_MODELS)
def test_family_sweeps(file):
    space, _ = family(file)
    df = archsweep.sweep(space, sample=min(500, space.size), seed=0)
    assert len(df) >= 100
    assert df["valid"].mean() > 0.9, df.filter(~df["valid"])["error"].value_counts().head(5)
    assert (df.filter(df["valid"])["params"] > 0).all()


# ---------------------------------------------------------------------------------------------
# Points of the families that are not presets, measured once with torch (2.15, torchvision 0.29,
# CPU, eval mode, batch 1): params `sum(p.numel() for p in m.parameters())`, buffers
# `sum(b.numel() for b in m.buffers())`, FLOPs `FlopCounterMode(display=False)` around
# `m(torch.zeros(1, 3, res, res))` with autograd on (under torch.no_grad() nn.MultiheadAttention
# takes its fused fast path, which FlopCounterMode does not count), on the torchvision model
# named in the comment.
# ---------------------------------------------------------------------------------------------

TORCH_MEASURED = [
    # (family file, values, params, buffers, flops)
    # mobilenet_v3_large(width_mult=0.75, reduced_tail=True) at 224
    ("mobilenet_v3.toml", dict(res=224, small=False, width_mult=0.75, reduced_tail=True, dilated=False), 1_620_728, 14_574, 241_861_648),
    # mobilenet_v3_small(dilated=True) at 192
    ("mobilenet_v3.toml", dict(res=192, small=True, width_mult=1.0, reduced_tail=False, dilated=True), 2_542_856, 12_146, 157_603_072),
    # mobilenet_v3_large(width_mult=1.25, reduced_tail=True, dilated=True) at 160
    ("mobilenet_v3.toml", dict(res=160, small=False, width_mult=1.25, reduced_tail=True, dilated=True), 3_844_568, 24_110, 367_730_048),
    # DenseNet(growth_rate=24, block_config=(3, 6, 9, 5), num_init_features=48, bn_size=2) at 160
    ("densenet.toml", dict(res=160, growth=24, depth=[3, 6, 9, 5], init=48, bn_size=2, compression=0.5), 795_886, 11_703, 391_644_000),
    # VisionTransformer(image_size=128, patch_size=8, num_layers=4, num_heads=6, hidden_dim=384, mlp_dim=1152)
    ("vit.toml", dict(res=128, patch=8, depth=4, heads=6, hidden=384, mlp_ratio=3), 6_475_624, 0, 3_476_017_152),
    # RegNet(BlockParams(depths=[1, 2, 3, 2], widths=[48, 96, 240, 576], group_widths=[24] * 4,
    # bottleneck_multipliers=[1.0] * 4, strides=[2] * 4, se_ratio=0.25), stem_width=24) at 192:
    # the template's widths 40, 104, 248, 576 with group width 24 are adjusted to 48, 96, 240, 576
    # (make_divisible(w, min(24, w)), as BlockParams.from_init_params does)
    ("regnet.toml", dict(res=192, stem=24, width=[40, 104, 248, 576], depth=[1, 2, 3, 2], group_width=24, se=True), 3_009_958, 14_669, 505_079_424),
    # RegNet(BlockParams(depths=[2, 1, 4, 1], widths=[64, 160, 384, 1024], group_widths=[16] * 4,
    # bottleneck_multipliers=[1.0] * 4, strides=[2] * 4, se_ratio=None), stem_width=32) at 256
    ("regnet.toml", dict(res=256, stem=32, width=[64, 160, 384, 1024], depth=[2, 1, 4, 1], group_width=16, se=False), 4_508_936, 20_445, 1_774_141_440),
    # ShuffleNetV2(stages_repeats=[3, 5, 2], stages_out_channels=[16, 64, 128, 256, 512]) at 160
    ("shufflenet.toml", dict(res=160, stem=16, width=[64, 128, 256], depth=[3, 5, 2], last=512, kernel=3), 791_496, 5_990, 38_944_000),
    # ConvNeXt([CNBlockConfig(64, 128, 2), CNBlockConfig(128, 256, 2), CNBlockConfig(256, 512, 4),
    # CNBlockConfig(512, None, 2)]) at 192
    ("convnext.toml", dict(res=192, width=[64, 128, 256, 512], depth=[2, 2, 4, 2], kernel=7, mlp_ratio=4, patch=4, layer_scale=True), 7_967_400, 0, 1_699_790_848),
    # SwinTransformer(patch_size=[4, 4], embed_dim=64, depths=[1, 2, 3, 1], num_heads=[2, 4, 8, 16],
    # window_size=[6, 6], mlp_ratio=3.0) at 192
    ("swin.toml", dict(res=192, v2=False, embed=64, depth=[1, 2, 3, 1], heads=[2, 4, 8, 16], window=6, mlp_ratio=3, patch=4), 6_190_410, 9_072, 1_510_678_528),
    # the same with block=SwinTransformerBlockV2, downsample_layer=PatchMergingV2, patch_size=[2, 2],
    # embed_dim=48, depths=[2, 1, 2, 1], num_heads=[3, 6, 12, 24], window_size=[7, 7], mlp_ratio=2.0
    # at 160 (windows of 7 on 80, 40, 20, 10: every stage padded)
    ("swin.toml", dict(res=160, v2=True, embed=48, depth=[2, 1, 2, 1], heads=[3, 6, 12, 24], window=7, mlp_ratio=2, patch=2), 2_705_524, 16_434, 2_000_729_088),
    # MaxVit(input_size=(256, 256), stem_channels=32, partition_size=8, block_channels=[32, 64, 128, 256],
    # block_layers=[1, 2, 2, 1], head_dim=16, stochastic_depth_prob=0.0, expansion_ratio=2, mlp_ratio=3)
    ("maxvit.toml", dict(res=256, stem=32, width=[32, 64, 128, 256], depth=[1, 2, 2, 1], head_dim=16, partition=8, expansion=2, mlp_ratio=3), 3_034_556, 55_507, 1_849_300_992),
    # googlenet(aux_logits=False) at 160
    ("googlenet.toml", dict(res=160, stem_mult=1.0, depth=[2, 5, 2], width_mult=[1.0, 1.0, 1.0], b3_kernel=3), 6_624_904, 14_617, 1_529_958_400),
    # squeezenet1_1() at 160
    ("squeezenet.toml", dict(res=160, stem_kernel=3, stem_width=64, depth=[2, 2, 4], base_e=128, incr_e=128, freq=2, pct_3x3=0.5, sr=0.125), 1_235_496, 0, 341_386_624),
    # alexnet() at 256
    ("alexnet.toml", dict(res=256, width=[64, 192, 384, 256, 256], pool=6, fc=[4096, 4096]), 61_100_840, 0, 1_854_248_320),
]


@pytest.mark.parametrize("file,values,params,buffers,flops", TORCH_MEASURED, ids=[f"{c[0]}-{i}" for i, c in enumerate(TORCH_MEASURED)])
def test_non_preset_points_match_torch(file, values, params, buffers, flops):
    space, _ = family(file)
    t = totals(space, space.variant_id(flatten(space, values)))
    assert (t["params"], t["buffers"], t["flops"]) == (params, buffers, flops)


def test_inception_at_331_with_aux_matches_torch():
    # inception_v3(aux_logits=True) at 331: params and buffers include AuxLogits; torch's
    # 14,240,373,952 FLOPs are eval mode (AuxLogits idle): the variant with aux_logits = true
    # gives them (its AuxLogits counts no MACs), and so does the one without the head
    space, _ = family("inception.toml")
    values = dict(res=331, width_mult=1.0, depth=[3, 4, 2], aux_logits=True)
    t = totals(space, space.variant_id(flatten(space, values)))
    assert (t["params"], t["buffers"], t["flops"]) == (27_161_264, 36_320, 14_240_373_952)
    t = totals(space, space.variant_id(flatten(space, values | {"aux_logits": False})))
    assert t["flops"] == 14_240_373_952


# ---------------------------------------------------------------------------------------------
# Structure checks, hand-derived
# ---------------------------------------------------------------------------------------------


def shapes(space: archsweep.Space, vid: int) -> dict:
    r = archsweep.analyze(space.model(vid))
    return dict(zip(r.layers["name"].to_list(), map(tuple, r.layers["output_shape"].to_list())))


def test_inception_aux_head_costs():
    space, presets = family("inception.toml")
    p = presets["inception_v3"]
    without_id = space.variant_id(flatten(space, p["values"] | {"aux_logits": False}))
    with_aux, without = totals(space, p["id"]), totals(space, without_id)
    # AuxLogits on Mixed_6e (768 x 17 x 17): avgpool 5/3 -> 5x5; conv0 1x1 768->128 and conv1 5x5
    # 128->768 (-> 1x1), no bias, BN(128), BN(768); fc 768 -> 1000. Its output is not the model's:
    # params and buffers (2C + 1 per BN) count, MACs, other ops and activations do not.
    assert with_aux["params"] - without["params"] == 768 * 128 + 2 * 128 + 128 * 768 * 25 + 2 * 768 + 768 * 1000 + 1000
    assert with_aux["buffers"] - without["buffers"] == (2 * 128 + 1) + (2 * 768 + 1)
    for k in ("macs", "flops", "other_ops", "activation_bytes", "peak_activation_bytes"):
        assert with_aux[k] == without[k], k
    assert with_aux["macs"] == 5_713_216_096  # torchvision's published 5.713 GMACs, exactly
    r = archsweep.analyze(space.model(p["id"]))
    aux = r.layers.filter(pl.col("name").str.starts_with("AuxLogits."))
    assert len(aux) == 10 and not aux["reaches_output"].any() and r.layers["reaches_output"].sum() == len(r.layers) - 10
    assert aux["macs"].sum() == aux["other_ops"].sum() == aux["activation_bytes"].sum() == 0
    # the sweep engine counts the same (grid order, reuse off, and a sample)
    ids = [p["id"], without_id]
    fresh = pl.concat([pl.from_arrow(b) for b in space.compiled.evaluate("ids", 0, 2, ids=ids, reuse=False)[0]])  # type: ignore[misc]
    for df in (archsweep.sweep(space, ids=ids), fresh):
        assert df["macs"].to_list() == [with_aux["macs"], without["macs"]]  # type: ignore[index]
        assert df["params"].to_list() == [with_aux["params"], without["params"]]  # type: ignore[index]
    s = shapes(space, p["id"])
    assert s["Mixed_6.out"] == (1, 768, 17, 17)
    assert s["AuxLogits.avg_pool"] == (1, 768, 5, 5)
    assert s["Mixed_7.1.cat"] == (1, 2048, 8, 8)
    assert s["fc"] == (1, 1000)


def test_googlenet_and_densenet_shapes():
    space, presets = family("googlenet.toml")
    s = shapes(space, presets["googlenet"]["id"])
    assert s["maxpool1"] == (1, 64, 56, 56)  # ceil_mode: 112 -> 56
    assert s["inception3.1.cat"] == (1, 480, 28, 28)
    assert s["maxpool4"] == (1, 832, 7, 7)
    assert s["inception5.1.cat"] == (1, 1024, 7, 7)
    space, presets = family("densenet.toml")
    s = shapes(space, presets["densenet121"]["id"])
    # 64 + 6*32 = 256 -> 128; 128 + 12*32 = 512 -> 256; 256 + 24*32 = 1024 -> 512; 512 + 16*32
    assert s["features.denseblock1.cat"] == (1, 256, 56, 56)
    assert s["features.transition1.pool"] == (1, 128, 28, 28)
    assert s["features.transition3.conv"] == (1, 512, 14, 14)
    assert s["features.denseblock4.cat"] == (1, 1024, 7, 7)


def test_shufflenet_chunk_halves():
    space, presets = family("shufflenet.toml")
    r = archsweep.analyze(space.model(presets["shufflenet_v2_x1_0"]["id"]))
    rows = {n: (op, tuple(sh), v) for n, op, sh, v in zip(r.layers["name"], r.layers["op"], r.layers["output_shape"], r.layers["is_view"])}
    # stage2.1: x.chunk(2, dim=1) of (1, 116, 28, 28): two views of 58 channels, nothing computed
    assert rows["stage2.1.x1"] == ("chunk", (1, 58, 28, 28), True)
    assert rows["stage2.1.x2"] == ("chunk", (1, 58, 28, 28), True)
    assert rows["stage2.1.cat"][1] == (1, 116, 28, 28)
    # the stride-2 unit has branch1 and no chunk
    assert "stage2.0.x1" not in rows and rows["stage2.0.branch1.4"][1] == (1, 58, 28, 28)
    assert rows["stage4.3.shuffle"][1] == (1, 464, 7, 7)


def test_convnext_layer_scale_and_swin_shifts():
    space, presets = family("convnext.toml")
    p = presets["convnext_tiny"]
    model = space.model(p["id"])
    scales = [layer for layer in model.layers if layer["op"] == "layer_scale"]
    assert len(scales) == 3 + 3 + 9 + 3 and all(layer["dim"] == 1 for layer in scales)
    # without it: one (C, 1, 1) scale fewer per block, nothing else changes
    off = space.variant_id(flatten(space, p["values"] | {"layer_scale": False}))
    assert totals(space, p["id"])["params"] - totals(space, off)["params"] == 96 * 3 + 192 * 3 + 384 * 9 + 768 * 3
    assert totals(space, p["id"])["macs"] == totals(space, off)["macs"]
    space, presets = family("swin.toml")
    layers = {layer["name"]: layer for layer in space.model(presets["swin_t"]["id"]).layers}
    # even blocks plain windows, odd blocks shifted by window // 2; V1 has pre-norms only
    assert layers["features.1.0.attn"]["shift_size"] == 0 and layers["features.1.1.attn"]["shift_size"] == 3
    assert layers["features.5.5.attn"]["num_heads"] == 12 and layers["features.5.5.attn"]["version"] == 1
    assert "features.1.0.norm1" in layers and "features.1.0.norm1_post" not in layers
    s = shapes(space, presets["swin_t"]["id"])
    assert s["features.2.cat"] == (1, 28, 28, 384) and s["features.2.reduction"] == (1, 28, 28, 192)
    assert s["features.7.1.add2"] == (1, 7, 7, 768)
