"""ONNX in: ``archsweep.from_onnx`` and ``archsweep analyze model.onnx``.

Truth: the zoo presets (held to torchvision's published numbers by tests/test_zoo.py). torchvision's
models are exported by torch itself (``torch.onnx.export``, eval mode, no constant folding so that
batch norms stay batch norms) and read back: parameters, buffers and MACs must equal the preset's.
A node that has no archsweep counterpart is an error naming the node and its op."""

from __future__ import annotations

import json
import sys
import warnings

import pytest
from optional_modules import require

torch = require("torch")
torchvision = require("torchvision")
require("onnx")

import archsweep  # noqa: E402
from archsweep import FromOnnxError, zoo  # noqa: E402
from archsweep.cli import main  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning", "ignore::DeprecationWarning")

MODELS = ["resnet18", "mobilenet_v3_small", "squeezenet1_0", "vgg11", "efficientnet_b0", "densenet121"]


def export(module, path, shape=(3, 224, 224)):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.zeros(1, *shape),), str(path), dynamo=False, do_constant_folding=False)
    return path


@pytest.mark.parametrize("name", MODELS)
def test_torchvision_exports_read_back_as_the_zoo_preset(tmp_path, name):
    torch.manual_seed(0)
    path = export(torchvision.models.get_model(name, weights=None), tmp_path / f"{name}.onnx")
    m = archsweep.from_onnx(path)
    got, want = archsweep.analyze(m).totals, archsweep.analyze(zoo.load(name)).totals
    assert m.input == [3, 224, 224]
    assert (got["params"], got["buffers"], got["macs"]) == (want["params"], want["buffers"], want["macs"])
    if name == "resnet18":
        assert [layer["name"] for layer in m.layers][:3] == ["conv1", "bn1", "relu"]


def test_analyze_and_import_an_onnx_file(tmp_path, capsys):
    path = export(torchvision.models.resnet18(), tmp_path / "r18.onnx")
    assert main(["analyze", str(path), "--input", "3x160x160", "--format", "json"]) == 0
    totals = json.loads(capsys.readouterr().out)["totals"]
    assert totals["macs"] == archsweep.analyze("resnet18", input_shape=(3, 160, 160)).totals["macs"]
    assert main(["import", str(path), "-o", str(tmp_path / "r18.toml")]) == 0
    assert archsweep.analyze(tmp_path / "r18.toml").totals["params"] == 11_689_512


class Cumsum(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return torch.cumsum(self.conv(x), dim=1)


def test_unmapped_node_is_named(tmp_path, capsys):
    path = export(Cumsum(), tmp_path / "c.onnx", (3, 8, 8))
    with pytest.raises(FromOnnxError, match=r"c.onnx: node \S*CumSum\S* \(CumSum\): no archsweep counterpart for ONNX op CumSum"):
        archsweep.from_onnx(path)
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("archsweep: error: ") and "CumSum" in err and "Traceback" not in err


def test_missing_file_and_missing_onnx(tmp_path, monkeypatch, capsys):
    assert main(["analyze", str(tmp_path / "none.onnx")]) == 2
    assert "no such ONNX file" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert main(["analyze", str(tmp_path / "none.onnx")]) == 2
    assert "pip install 'archsweep[onnx]'" in capsys.readouterr().err
