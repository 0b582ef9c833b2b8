"""docs/peers.md: the numbers it gives for ResNet-18 under fvcore's, ptflops', torchinfo's and
archsweep's conventions, recomputed here from archsweep's per-layer rows by the conventions as the
page states them (each tool's rule written out below), and archsweep.summary / analyze --depth."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import polars as pl
import pytest

import archsweep
from archsweep.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "peers.md").read_text(encoding="utf-8")


def numbers(text: str) -> set[int]:
    return {int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*\d|\d", text)}


@pytest.fixture(scope="module")
def resnet18():
    r = archsweep.analyze("resnet18")
    numel = [math.prod(s) for s in r.layers["output_shape"].to_list()]
    return r, r.layers.with_columns(pl.Series("numel", numel, dtype=pl.UInt64))


def total(df: pl.DataFrame, op: str, column: str) -> int:
    return int(df.filter(pl.col("op") == op)[column].sum())


def test_the_conventions_give_the_documented_numbers(resnet18):
    r, layers = resnet18
    t = r.totals
    assert (t["params"], t["macs"], t["flops"], t["buffers"]) == (11_689_512, 1_814_073_344, 3_628_146_688, 9_620)
    bn = total(layers, "batchnorm2d", "numel")
    avgpool_in = 512 * 7 * 7  # layer4's output
    maxpool_in = 64 * 112 * 112  # the stem's output
    # fvcore: conv and linear MACs, 2 x BatchNorm elements (eval, affine), adaptive-avg-pool inputs
    fvcore = total(layers, "conv2d", "macs") + total(layers, "linear", "macs") + 2 * bn + avgpool_in
    # ptflops (pytorch backend): MACs + bias adds + 2 x BatchNorm elements + ReLU outputs (per call)
    # + pooling inputs
    relu = layers.filter(pl.col("op") == "relu")
    assert relu.height == 17  # the stem's and two per BasicBlock (torchvision calls self.relu twice)
    ptflops = t["macs"] + 1000 + 2 * bn + int(relu["numel"].sum()) + maxpool_in + avgpool_in
    # torchinfo: conv (weight + bias) x positions; other layers with params: batch x params
    torchinfo = total(layers, "conv2d", "macs") + total(layers, "linear", "params") + total(layers, "batchnorm2d", "params")
    # torchinfo's forward/backward size: 2 x output bytes of the layers with params
    with_params = layers.filter(pl.col("op").is_in(["conv2d", "batchnorm2d", "linear"]))
    fwd_bwd = 2 * 4 * int(with_params["numel"].sum())
    documented = numbers(DOC)
    for n in (t["params"], t["macs"], t["flops"], t["buffers"], fvcore, bn, ptflops, int(relu["numel"].sum()), maxpool_in,
              avgpool_in, torchinfo, fwd_bwd, fwd_bwd // 2, t["weight_bytes"], t["input_bytes"]):
        assert n in documented, f"{n:,} is not in docs/peers.md"
    assert (fvcore, ptflops, torchinfo, fwd_bwd) == (1_819_065_856, 1_822_177_768, 1_814_083_944, 39_747_392)
    assert f"{(fwd_bwd + t['weight_bytes'] + t['input_bytes']) / 1e6:.2f} MB" in DOC


def test_summary_is_torchinfo_shaped_and_exact(resnet18):
    r, _ = resnet18
    out = io.StringIO()
    s = archsweep.summary("resnet18", input_size=(1, 3, 224, 224), depth=2, file=out)
    assert out.getvalue() == s.text + "\n"
    lines = s.text.splitlines()
    assert lines[1].split()[:3] == ["Layer", "(name:", "op)"] and "Param #" in lines[1] and "Mult-Adds" in lines[1]
    assert "Total params: 11,689,512" in s.text and "Trainable params: 11,689,512" in s.text
    assert "Total mult-adds (G): 1.81 (1,814,073,344 MACs" in s.text
    assert "Input size (MB): 0.60" in s.text  # 3*224*224*4 = 602,112 B
    # rows with numbers add up to the totals; containers shown with children print "--"
    shown = s.rows.filter("shown")
    assert int(shown["params"].sum()) == 11_689_512 and int(shown["macs"].sum()) == 1_814_073_344
    layer1 = s.rows.filter(pl.col("name") == "layer1").row(0, named=True)
    assert not layer1["shown"] and layer1["op"] == "block" and layer1["level"] == 1
    assert "├─layer1: block of" in s.text and "│    └─0: block of" in s.text
    # layer1.0 (two 3x3 convs 64->64, two BN(64)): 2 * 36,864 + 2 * 128 params
    l10 = s.rows.filter(pl.col("name") == "layer1.0").row(0, named=True)
    assert l10["params"] == 2 * 64 * 64 * 9 + 2 * 128 and l10["macs"] == 2 * 64 * 64 * 9 * 56 * 56
    # torchinfo's batch-included size and the per-sample size give the same model
    assert archsweep.summary("resnet18", input_size=(3, 224, 224), depth=1, verbose=0).text.replace("batch 1", "") \
        .count("11,689,512") == 2
    two = archsweep.summary("resnet18", input_size=(2, 3, 160, 160), depth=1, verbose=0)
    assert two.report.batch == 2 and two.totals["macs"] == archsweep.analyze("resnet18", (3, 160, 160), batch=2).totals["macs"]
    with pytest.raises(archsweep.ArchsweepError, match="says batch 2, batch= says 4"):
        archsweep.summary("resnet18", input_size=(2, 3, 160, 160), batch=4, verbose=0)


def test_analyze_depth_groups_by_name_prefix(capsys, resnet18):
    r, _ = resnet18
    g = r.grouped(1)
    assert g["name"].to_list() == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool",
                                   "flatten", "fc"]
    for c in ("params", "macs", "other_ops", "activation_bytes", "buffers"):
        assert int(g[c].sum()) == r.totals[c]  # exact sums
    # layer1: two BasicBlocks of 64 channels: 4 convs 64*64*9 and 4 BN(64)
    layer1 = g.filter(pl.col("name") == "layer1").row(0, named=True)
    assert layer1["params"] == 4 * 64 * 64 * 9 + 4 * 128 and layer1["op"] == "block"
    assert g.filter(pl.col("name") == "fc").row(0, named=True)["op"] == "linear"
    assert main(["analyze", "resnet18", "--depth", "1", "--format", "csv"]) == 0
    csv = pl.read_csv(io.StringIO(capsys.readouterr().out))
    assert csv["name"].to_list() == g["name"].to_list() and csv["params"].sum() == 11_689_512
    assert main(["analyze", "resnet18", "--depth", "2"]) == 0
    out = capsys.readouterr().out
    assert "layer1.0" in out and "layer1.0.conv1" not in out and "grouped by name to depth 2" in out
    assert main(["analyze", "resnet18", "--depth", "0"]) == 2
    assert "--depth 0: need at least 1" in capsys.readouterr().err
