"""The `archsweep analyze` / `ops` command line: formats, units, errors (run in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from archsweep.cli import main

ROOT = Path(__file__).resolve().parents[1]
VGG = str(ROOT / "data" / "models" / "vgg16.toml")


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_table_shows_both_units(capsys):
    code, out, _ = run(capsys, "analyze", VGG)
    assert code == 0
    # 138,357,544 × 4 B = 553,430,176 B = 527.8 MiB (2^20) = 553.4 MB (10^6): both printed
    assert "553,430,176 B" in out
    assert "527.8 MiB" in out and "553.4 MB" in out
    assert "138,357,544" in out
    assert "15,470,264,320" in out  # torchvision's VGG16: 15.47 GMACs
    assert "conv5_3" in out and "(1, 512, 14, 14)" in out


def test_explain_reproduces_the_seed_table(capsys):
    code, out, _ = run(capsys, "analyze", VGG, "--explain")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip() and not line.startswith(("│", "┃", "┏", "┡", "└"))}
    seed = {  # ../shared/SEED_NOTES.md
        "conv1_1": "3×3×3×64 + 64 = 1,792",
        "conv1_2": "64×3×3×64 + 64 = 36,928",
        "conv2_1": "64×3×3×128 + 128 = 73,856",
        "conv3_1": "128×3×3×256 + 256 = 295,168",
        "conv4_1": "256×3×3×512 + 512 = 1,180,160",
        "conv5_3": "512×3×3×512 + 512 = 2,359,808",
        "fc1": "25088×4096 + 4096 = 102,764,544",
        "fc2": "4096×4096 + 4096 = 16,781,312",
        "fc3": "4096×1000 + 1000 = 4,097,000",
    }
    for layer, formula in seed.items():
        assert formula in lines[layer], (layer, lines[layer])
    assert "all conv2d (13 layers): params 14,714,688" in out
    assert "all linear (3 layers): params 123,642,856" in out


def test_json_has_stable_keys(capsys):
    code, out, _ = run(capsys, "analyze", VGG, "--format", "json", "--input", "3x160x160", "--dtype", "fp16")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) >= {"name", "input_shape", "dtype", "totals", "layers"}
    assert doc["input_shape"] == [1, 3, 160, 160]
    assert doc["dtype"] == "fp16"
    for key in ["params", "trainable_params", "buffers", "macs", "flops", "other_ops", "weight_bytes",
                "activation_bytes", "peak_activation_bytes", "train_bytes"]:
        assert key in doc["totals"]
    assert doc["totals"]["weight_bytes"] == 138_357_544 * 2
    layer = doc["layers"][0]
    assert {"name", "op", "output_shape", "params", "macs", "flops"} <= set(layer)
    assert layer["output_shape"] == [1, 64, 160, 160]


def test_csv_and_parquet(capsys, tmp_path):
    csv_path = tmp_path / "l.csv"
    assert run(capsys, "analyze", VGG, "--format", "csv", "-o", str(csv_path))[0] == 0
    df = pl.read_csv(csv_path)
    assert df["params"].sum() == 138_357_544
    assert df.filter(pl.col("name") == "conv1_1")["output_shape"][0] == "1x64x224x224"
    pq = tmp_path / "l.parquet"
    assert run(capsys, "analyze", VGG, "--format", "parquet", "-o", str(pq))[0] == 0
    assert pl.read_parquet(pq)["params"].sum() == 138_357_544
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left
    code, _, err = run(capsys, "analyze", VGG, "--format", "parquet")
    assert code == 2 and "needs -o" in err


def test_errors_exit_2_without_traceback(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('input = [3, 8, 8]\n[[layers]]\nname = "c"\nop = "conv2d"\nout_channels = 4\nkernel_size = 9\n')
    code, out, err = run(capsys, "analyze", str(bad))
    assert code == 2
    assert err.startswith("archsweep: error: c (conv2d): kernel 9×9 is larger than the padded input 8×8")
    assert "Traceback" not in err
    code, _, err = run(capsys, "analyze", str(tmp_path / "missing.toml"))
    assert code == 2 and "no such model file" in err


def test_ops_lists_every_op(capsys):
    import archsweep

    code, out, _ = run(capsys, "ops")
    assert code == 0
    assert out.split() == archsweep.ops()
    assert "conv2d" in out and "multihead_attention" in out


def test_help_explains(capsys):
    with pytest.raises(SystemExit) as e:
        main(["analyze", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--explain" in out and "--dtype" in out and "memory model" in out
