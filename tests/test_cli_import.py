"""archsweep import / archsweep analyze REF: PyTorch models by reference.

Truth: torchvision's published parameter counts (resnet18: 11,689,512; mobilenet_v3_small:
2,542,856), the zoo presets (held to torchvision by tests/test_zoo.py) and a factory module
written here whose counts are derived by hand. Errors: exit 2, one line naming what is wrong."""

from __future__ import annotations

import json
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

import archsweep  # noqa: E402
from archsweep import zoo  # noqa: E402
from archsweep.cli import main  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")

FACTORY = '''
import torch
from torch import nn

def small():
    # conv 3->8 k3 (+bias): 8*3*9 + 8 = 224; bn: 16 params, 8+8+1 = 17 buffers; linear 8->10: 90
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8, 10))

class Cumsum(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Conv2d(3, 4, 1)
    def forward(self, x):
        return torch.cumsum(self.body(x), dim=1)

not_a_model = 3

def broken():
    raise ValueError("no such width")
'''


@pytest.fixture
def factory(tmp_path, monkeypatch):
    (tmp_path / "mynets.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "mynets"
    sys.modules.pop("mynets", None)


def test_import_torchvision_equals_the_zoo_preset(tmp_path, capsys):
    out = tmp_path / "resnet18.toml"
    assert main(["import", "torchvision:resnet18", "-o", str(out)]) == 0
    assert "11,689,512 params" in capsys.readouterr().err
    m = archsweep.load(out)
    assert m.layers[0]["name"] == "conv1" and m.input == [3, 224, 224]
    got, want = archsweep.analyze(m).totals, archsweep.analyze(zoo.load("resnet18")).totals
    assert (got["params"], got["buffers"], got["macs"]) == (11_689_512, want["buffers"], want["macs"])


def test_analyze_takes_a_reference(capsys):
    assert main(["analyze", "torchvision:mobilenet_v3_small", "--format", "json"]) == 0
    totals = json.loads(capsys.readouterr().out)["totals"]
    want = archsweep.analyze(zoo.load("mobilenet_v3_small")).totals
    assert totals["params"] == 2_542_856
    assert (totals["macs"], totals["buffers"]) == (want["macs"], want["buffers"])


def test_analyze_reference_with_input(capsys):
    assert main(["analyze", "torchvision:resnet18", "--input", "3x160x160", "--format", "json"]) == 0
    totals = json.loads(capsys.readouterr().out)["totals"]
    assert totals["macs"] == archsweep.analyze("resnet18", input_shape=(3, 160, 160)).totals["macs"]


def test_factory(tmp_path, factory, capsys):
    out = tmp_path / "small.yaml"
    assert main(["import", f"{factory}:small", "--input", "3x10x10", "-o", str(out)]) == 0
    m = archsweep.load(out)
    totals = archsweep.analyze(m).totals
    assert (totals["params"], totals["buffers"]) == (224 + 16 + 90, 17)
    # conv MACs: 8 out channels * 8*8 positions * 3*9; linear: 8*10
    assert totals["macs"] == 8 * 64 * 27 + 80
    assert [layer["name"] for layer in m.layers][:2] == ["0", "1"]


@pytest.mark.parametrize(("ref", "message"), [
    ("torchvision:resnet5", r"unknown torchvision classification model 'resnet5' \(\d+ are known; did you mean resnet"),
    ("nosuchpkg_xyz.models:net", r"nosuchpkg_xyz.models:net: cannot import module 'nosuchpkg_xyz.models'"),
    ("{f}:missing", r"{f}:missing: '{f}' has no attribute 'missing'"),
    ("{f}:not_a_model", r"'not_a_model' is a int, not an nn.Module"),
    ("{f}:broken", r"calling broken\(\) raised ValueError: no such width"),
    ("{f}:Cumsum", r"{f}:Cumsum: from_torch: cumsum .*no archsweep counterpart for call_function cumsum"),
])
def test_errors_name_the_reference(tmp_path, factory, capsys, ref, message):
    ref, message = ref.format(f=factory), message.format(f=factory)
    out = tmp_path / "m.toml"
    assert main(["import", ref, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("archsweep: error: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    import re

    assert re.search(message, err), err
    assert not out.exists()


def test_torch_missing_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    assert main(["analyze", "torchvision:resnet18"]) == 2
    assert "pip install 'archsweep[torch]'" in capsys.readouterr().err


@pytest.mark.parametrize(("package", "ref"), [("timm", "timm:resnet18"), ("torchvision", "torchvision:resnet18")])
def test_timm_or_torchvision_missing_names_the_extra(monkeypatch, capsys, package, ref):
    monkeypatch.setitem(sys.modules, package, None)
    assert main(["analyze", ref]) == 2
    assert f"this needs {package}, which cannot be imported" in (err := capsys.readouterr().err)
    assert f"pip install 'archsweep[{package}]'" in err


def test_bad_output_suffix_is_refused_first(tmp_path, capsys):
    assert main(["import", "torchvision:resnet18", "-o", str(tmp_path / "m.txt")]) == 2
    assert "unknown model file type '.txt'" in capsys.readouterr().err
