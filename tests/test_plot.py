"""Plots: the density of a sweep with its Pareto front (`archsweep plot`, `archsweep.plot_sweep`)
and one model's per-layer shares (`archsweep analyze --plot`, `Report.plot`).

The files are checked as files (PNG signature and pixels, SVG parsed as XML, HTML with its image
inline), the plotted front against a brute-force front written here, the bins against numpy,
the axes' scale and unit labels against the rules stated in docs/results.md."""

from __future__ import annotations

import base64
import importlib
import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import archsweep
from archsweep import ArchsweepError
from archsweep.cli import main
from archsweep.plot import Axis, density, wants_log

ROOT = Path(__file__).resolve().parents[1]
VGG_SPACE = ROOT / "data" / "spaces" / "vgg.toml"
VGG16 = ROOT / "data" / "models" / "vgg16.toml"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
results_module = importlib.import_module("archsweep.sweep.results")  # where pareto reads PARETO_BATCH


@pytest.fixture(scope="module")
def vgg(tmp_path_factory):
    """3,000 sampled variants of data/spaces/vgg.toml in 3 part files."""
    d = tmp_path_factory.mktemp("plot") / "vgg"
    archsweep.sweep_to_dataset(archsweep.Space.load(VGG_SPACE), sample=3000, seed=7, out=d, chunk_rows=1000)
    return d


@pytest.fixture(scope="module")
def rows(vgg):
    return archsweep.scan(vgg).collect().filter(pl.col("valid"))


def brute_front(df: pl.DataFrame, x: str, y: str) -> set[tuple[int, int]]:
    """(x, y) of the rows no other row beats: <= in both and < in one (numpy, all pairs)."""
    a, b = df[x].to_numpy().astype(np.int64), df[y].to_numpy().astype(np.int64)
    le = (a[None, :] <= a[:, None]) & (b[None, :] <= b[:, None])
    lt = (a[None, :] < a[:, None]) | (b[None, :] < b[:, None])
    dominated = (le & lt).any(axis=1)
    return set(zip(a[~dominated].tolist(), b[~dominated].tolist()))


def unit_of(label: str) -> float:
    """The divisor a label names: '(M, 10^6)' -> 1e6, '(MiB, 2^20 B)' -> 2**20, none -> 1."""
    m = re.search(r"\((\w+), (?:2\^(\d+) B|10\^(\d+))\)", label)
    if not m:
        return 1.0
    return float(2 ** int(m.group(2))) if m.group(2) else float(10 ** int(m.group(3)))


def front_line(fig):
    (line,) = [ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "pareto-front"]
    return line


def pixels(png: bytes) -> np.ndarray:
    from matplotlib.image import imread

    return imread(io.BytesIO(png), format="png")


def distinct_colours(img: np.ndarray) -> int:
    rgb = (img[..., :3] * 255).round().astype(np.uint8).reshape(-1, 3)
    return len(np.unique(rgb, axis=0))


# --------------------------------------------------------------------------------------------
# Files


def test_png_svg_and_html_are_valid_files(vgg, tmp_path):
    png, svg, page = tmp_path / "front.png", tmp_path / "front.svg", tmp_path / "front.html"
    archsweep.plot_sweep(vgg, x="params", y="peak_activation_bytes", out=png)
    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    img = pixels(data)
    assert img.shape[0] > 400 and img.shape[1] > 600
    assert distinct_colours(img) > 100  # a colour map, not a blank canvas

    archsweep.plot_sweep(vgg, x="params", y="macs", color="peak_activation_bytes", out=svg)
    root = ET.fromstring(svg.read_bytes())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "MACs (G, 10^9)" in svg.read_text()  # text stays text

    archsweep.plot_sweep(vgg, x="params", y="macs", out=page)
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "</html>" in text
    (b64,) = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert base64.b64decode(b64).startswith(PNG_SIGNATURE)
    assert "http://" not in text and "https://" not in text and "<script" not in text
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # written atomically


def test_cli_plot_writes_each_format(vgg, tmp_path, capsys):
    for suffix in ("png", "svg", "html"):
        out = tmp_path / f"p.{suffix}"
        code = main(["plot", str(vgg), "--x", "params", "--y", "peak_activation_bytes", "--color", "macs",
                     "--where", "res >= 160", "-o", str(out)])
        assert code == 0 and out.stat().st_size > 10_000
    assert "wrote" in capsys.readouterr().err


def test_plot_errors_are_clean(vgg, tmp_path, capsys):
    code = main(["plot", str(vgg), "-o", str(tmp_path / "p.jpg")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown plot format '.jpg'" in err and "Traceback" not in err
    code = main(["plot", str(vgg), "--where", "res > 100000", "-o", str(tmp_path / "p.png")])
    assert code == 2 and "no valid rows to plot" in capsys.readouterr().err
    code = main(["plot", str(vgg), "--x", "nope", "-o", str(tmp_path / "p.png")])
    assert code == 2 and capsys.readouterr().err.startswith("archsweep: error:")
    assert not (tmp_path / "p.png").exists()
    with pytest.raises(ArchsweepError, match="log axis"):
        Axis.of("params", 0, 100, log=True)
    with pytest.raises(ArchsweepError, match="both 'macs'"):
        archsweep.plot_sweep(vgg, x="macs", y="macs")


# --------------------------------------------------------------------------------------------
# What is drawn


@pytest.mark.parametrize("x, y, where", [
    ("params", "peak_activation_bytes", None),
    ("params", "macs", None),
    ("macs", "train_bytes", "res >= 192 and fc == 4096"),
])
def test_plotted_front_equals_brute_force(vgg, rows, x, y, where):
    fig = archsweep.plot_sweep(vgg, x=x, y=y, where=where)
    ax = fig.axes[0]
    line = front_line(fig)
    assert line.get_drawstyle() == "steps-post" and line.get_marker() == "o"
    sx, sy = unit_of(ax.get_xlabel()), unit_of(ax.get_ylabel())
    plotted = list(zip(np.rint(line.get_xdata() * sx).astype(np.int64).tolist(),
                       np.rint(line.get_ydata() * sy).astype(np.int64).tolist()))
    # the same filter written out in polars (not through archsweep's translation)
    df = rows if where is None else rows.filter((pl.col("res") >= 192) & (pl.col("fc") == 4096))
    assert set(plotted) == brute_front(df, x, y)
    assert plotted == sorted(plotted)  # x rising, y falling: a staircase
    assert [b for _, b in plotted] == sorted((b for _, b in plotted), reverse=True)
    assert f"{df.height:,} valid variants" in ax.get_title()


def test_pareto_in_small_batches_equals_brute_force(vgg, rows, monkeypatch):
    # batches of 50 rows: per-batch fronts, merged over and over, must give the one front
    monkeypatch.setattr(results_module, "PARETO_BATCH", 50)
    for cols in (["params", "macs"], ["params", "peak_activation_bytes"]):
        front = archsweep.pareto(archsweep.scan(vgg), minimize=cols)
        assert set(front.select(cols).rows()) == brute_front(rows, *cols)
        assert front.columns == rows.columns
    three = ["params", "macs", "peak_activation_bytes"]
    monkeypatch.setattr(results_module, "PARETO_BATCH", 1 << 18)
    want = archsweep.pareto(rows, minimize=three)
    monkeypatch.setattr(results_module, "PARETO_BATCH", 7)
    assert archsweep.pareto(archsweep.scan(vgg), minimize=three).equals(want)


def test_log_axis_decision(vgg, rows):
    assert wants_log(1, 10**1.6) and not wants_log(1, 10**1.4)
    assert not wants_log(0, 10**6)  # zero has no logarithm
    assert wants_log(1, 2, force=True) and not wants_log(1, 10**6, force=False)
    # params span > 1.5 decades in this sample, res 96..288 (0.48 decades) does not
    assert np.log10(rows["params"].max() / rows["params"].min()) > 1.5
    fig = archsweep.plot_sweep(vgg, x="res", y="params")
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "res"
    fig = archsweep.plot_sweep(vgg, x="res", y="params", logx=True, logy=False)
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_yscale() == "linear"


def test_labels_name_the_units(vgg):
    ax = archsweep.plot_sweep(vgg, x="params", y="peak_activation_bytes").axes[0]
    assert ax.get_xlabel() == "params (M, 10^6)"
    assert ax.get_ylabel() == "peak activation (MiB, 2^20 B)"
    ax = archsweep.plot_sweep(vgg, x="params", y="macs").axes[0]
    assert ax.get_ylabel() == "MACs (G, 10^9)"


def test_bins_are_polars_counts_checked_against_numpy(vgg, rows):
    bins = 40
    x = Axis.of("params", rows["params"].min(), rows["params"].max())
    y = Axis.of("macs", rows["macs"].min(), rows["macs"].max())
    cells = density(archsweep.scan(vgg).filter(pl.col("valid")), x, y, bins, color="peak_activation_bytes", agg="min")
    assert cells["n"].sum() == rows.height
    # the same bins computed with numpy from the raw values
    lx, ly = np.log10(rows["params"].to_numpy().astype(float)), np.log10(rows["macs"].to_numpy().astype(float))
    ix = np.clip(np.floor((lx - lx.min()) / ((lx.max() - lx.min()) / bins)), 0, bins - 1).astype(int)
    iy = np.clip(np.floor((ly - ly.min()) / ((ly.max() - ly.min()) / bins)), 0, bins - 1).astype(int)
    counts = np.zeros((bins, bins), int)
    np.add.at(counts, (iy, ix), 1)
    mins = np.full((bins, bins), np.inf)
    np.minimum.at(mins, (iy, ix), rows["peak_activation_bytes"].to_numpy().astype(float))
    got_counts = np.zeros((bins, bins), int)
    got_counts[cells["iy"].to_numpy(), cells["ix"].to_numpy()] = cells["n"].to_numpy()
    got_mins = np.full((bins, bins), np.inf)
    got_mins[cells["iy"].to_numpy(), cells["ix"].to_numpy()] = cells["c"].to_numpy()
    assert (got_counts == counts).all() and (got_mins == mins).all()


def test_color_column_colours_bins(vgg, rows):
    fig = archsweep.plot_sweep(vgg, x="params", y="peak_activation_bytes", color="macs", agg="min")
    mesh = fig.axes[0].collections[0]
    colorbar_label = fig.axes[1].get_ylabel()
    assert colorbar_label == "min MACs (G, 10^9) per bin"
    values = np.ma.compressed(mesh.get_array())
    assert values.min() * 1e9 == pytest.approx(rows["macs"].min())
    fig = archsweep.plot_sweep(vgg, x="params", y="peak_activation_bytes")
    assert fig.axes[1].get_ylabel() == "variants per bin"
    assert np.ma.compressed(fig.axes[0].collections[0].get_array()).sum() == rows.height


# --------------------------------------------------------------------------------------------
# Per-layer shares of one model


def test_layer_shares_show_fc1_params_against_its_macs(tmp_path, capsys):
    out = tmp_path / "layers.png"
    code = main(["analyze", str(VGG16), "--plot", str(out)])
    assert code == 0
    assert "138,357,544" in capsys.readouterr().out  # the table is still printed
    assert out.read_bytes().startswith(PNG_SIGNATURE) and distinct_colours(pixels(out.read_bytes())) > 10

    report = archsweep.analyze(VGG16)
    fig = report.plot(tmp_path / "layers.svg")
    ET.fromstring((tmp_path / "layers.svg").read_bytes())
    params_ax, macs_ax, act_ax = fig.axes[:3]
    names = [t.get_text() for t in params_ax.get_yticklabels()]
    assert names[0] == "conv1_1" and "fc1" in names and "relu1_1" not in names  # in order, views left out
    fc1 = names.index("fc1")
    params_share = params_ax.patches[fc1].get_width()
    macs_share = macs_ax.patches[fc1].get_width()
    # fc1: 102,764,544 of 138,357,544 params; 102,760,448 of 15,470,264,320 MACs
    assert params_share == pytest.approx(100 * 102_764_544 / 138_357_544)  # 74.3 %
    assert macs_share == pytest.approx(100 * 102_760_448 / 15_470_264_320)  # 0.66 %
    texts = {t.get_text() for ax in (params_ax, macs_ax) for t in ax.texts}
    assert {"74.3 %", "0.66 %"} <= texts
    assert sum(p.get_width() for p in act_ax.patches) == pytest.approx(100)


def test_a_deep_network_is_drawn_by_block(tmp_path):
    # ResNet-50: 191 layers, over a hundred with a share; drawn by block (layer1.0.bottleneck, ...)
    report = archsweep.analyze("resnet50")
    fig = report.plot(tmp_path / "r50.png")
    params_ax, macs_ax, act_ax = fig.axes[:3]
    names = [t.get_text() for t in params_ax.get_yticklabels()]
    assert len(names) <= archsweep.plot.MAX_LAYER_ROWS
    assert names[:3] == ["conv1", "bn1", "maxpool"] and "layer1.0.bottleneck" in names and "layer4.2.bottleneck" in names
    assert not any(n.endswith(".conv1") for n in names)
    # a block's share is the exact sum of its layers': layer4.1's bottleneck, three convs 2048->512,
    # 512->512 3x3, 512->2048 and three BN: 1,048,576 + 2,359,296 + 1,048,576 + 2*(512+512+2048)
    i = names.index("layer4.1.bottleneck")
    assert params_ax.patches[i].get_width() == pytest.approx(100 * (1_048_576 + 2_359_296 + 1_048_576 + 6_144) / 25_557_032)
    for ax in (params_ax, macs_ax, act_ax):
        assert sum(p.get_width() for p in ax.patches) == pytest.approx(100)
        assert ax.xaxis.get_tick_params(which="major")["labeltop"]  # share axis at the top too
    height = fig.get_size_inches()[1] * fig.dpi
    assert height < 1500  # (per layer it was 3,201 px)
    assert "grouped by the first 3 part(s) of their names" in fig.get_suptitle()
    # depth= asks for a level; a small model keeps one bar per layer
    assert [t.get_text() for t in report.plot(depth=1).axes[0].get_yticklabels()][3:7] == \
        ["layer1", "layer2", "layer3", "layer4"]
    assert "share of each layer" in archsweep.analyze(VGG16).plot().get_suptitle()
