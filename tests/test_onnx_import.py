"""ONNX in: ``archsweep.from_onnx`` and ``archsweep analyze model.onnx``.

Truth: the zoo presets (held to torchvision's published numbers by tests/test_zoo.py). Each of
torchvision's 80 classification models is exported by torch itself (``torch.onnx.export``, eval
mode, no constant folding so that batch norms stay batch norms, ``export_params=False`` so that
no weights are initialised or written) and read back: parameters, buffers, MACs and the output
shape must equal the preset's; the presets ONNX_REFUSED names are refused with the node that
blocks them, and NOT_EXPORTED says why a few large copies are not exported. A node that has no
archsweep counterpart is an error naming the node and its op."""

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


def export(module, path, shape=(3, 224, 224)):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.zeros(1, *shape),), str(path), dynamo=False, do_constant_folding=False)
    return path


#: zoo presets whose ONNX export archsweep refuses, with what the error says (the first node the
#: reader cannot map is named). None since ViT's class token and attention, ShuffleNetV2's chunk,
#: Swin's (V1 and V2) shifted window attention and MaxViT's relative attention are read
#: (ONNX_READ_BY_PATTERN); what refusals look like: test_unmapped_node_is_named and
#: test_multihead_attention_with_more_weights_is_not_read_as_one.
ONNX_REFUSED: dict[str, str] = {}

#: presets read exactly only through what the reader recognises beyond one node = one layer, and
#: the layers that shows (checked in the test below): ViT's class token and positional
#: embedding (named after their parameters) and nn.MultiheadAttention's exported nodes as one
#: multihead_attention layer each (named after the module); ShuffleNetV2's chunks, whose Slice
#: bounds (C + 1) // 2 are folded to constants so that shape inference knows the pieces; Swin's
#: ShiftedWindowAttention(V2) nodes as one window_attention layer each (named after the module);
#: MaxViT's RelativePositionalMultiHeadAttention nodes as a window_attention on its groups, as
#: from_torch reads the module, and its SiLU (x * sigmoid(x)) as silu.
ONNX_READ_BY_PATTERN = {
    "vit_b_32": {"class_token": "class_token", "encoder.pos_embedding": "positional_embedding",
                 **{f"encoder.layers.encoder_layer_{i}.self_attention": "multihead_attention" for i in range(12)}},
    **{name: {} for name in ("shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0")},
    "swin_t": {f"features.{s}.{b}.attn": "window_attention" for s, n in ((1, 2), (3, 2), (5, 6), (7, 2)) for b in range(n)},
    "swin_v2_t": {f"features.{s}.{b}.attn": "window_attention" for s, n in ((1, 2), (3, 2), (5, 6), (7, 2)) for b in range(n)},
    "maxvit_t": {"blocks.0.layers.0.layers.window_attention.attn_layer.1": "window_attention",
                 "blocks.0.layers.0.layers.grid_attention.attn_layer.1": "window_attention"},
}

#: zoo presets not exported by the test, to keep CI's time bounded (the export runs the model's
#: forward pass on the CPU; measured on a loaded 2-core machine, docs/performance.md): each is a
#: larger copy of a model exported here, whose result it would repeat
NOT_EXPORTED = {
    **{name: "a larger ViT: read like vit_b_32 (export 8-122 s each; vit_h_14 at 518 px: 122 s)"
       for name in ("vit_b_16", "vit_l_16", "vit_l_32", "vit_h_14")},
    **{name: "a larger Swin: read like swin_t / swin_v2_t (export with initialised buffers about 40 s each)"
       for name in ("swin_s", "swin_b", "swin_v2_s", "swin_v2_b")},
    "regnet_y_128gf": "RegNetY at 384 px (export 65 s): the RegNetY blocks of regnet_y_400mf ... regnet_y_32gf, read back exactly",
}

#: built with initialised buffers: their relative position index is computed at construction,
#: and an uninitialised one (to_empty) sends the export's indexing out of range
COMPUTED_BUFFERS = ("swin_", "maxvit_")


def export_zoo_model(name: str, path):
    """torchvision's ``name`` at its preset's input, exported without its weights
    (``export_params=False``: the weights are inputs of the file, with their shapes): no random
    initialisation, no weight bytes written."""
    from test_torch_import import torchvision_model

    res = zoo.load(name).input[-1]
    if name.startswith(COMPUTED_BUFFERS):
        m = torchvision_model(name, res, device="cpu")
    else:
        m = torchvision_model(name, res).to_empty(device="cpu").eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (torch.zeros(1, 3, res, res),), str(path), dynamo=False, do_constant_folding=False,
                          export_params=False)
    return path


def test_every_zoo_model_is_exported_or_named():
    assert set(NOT_EXPORTED) <= set(zoo.names()) and set(ONNX_REFUSED) <= set(zoo.names())
    assert not set(NOT_EXPORTED) & set(ONNX_REFUSED)


def test_the_docs_state_these_counts():
    """README.md's coverage table and docs/pytorch.md's ONNX section say how many of the exported
    presets read back exactly."""
    from pathlib import Path

    exported = [n for n in zoo.names() if n not in NOT_EXPORTED]
    claim = f"{len(exported) - len(ONNX_REFUSED)} of the {len(exported)} exported"
    root = Path(__file__).resolve().parents[1]
    for page in ("README.md", "docs/pytorch.md"):
        assert claim in " ".join((root / page).read_text(encoding="utf-8").split()), (page, claim)


@pytest.mark.parametrize("name", [n for n in zoo.names() if n not in NOT_EXPORTED])
def test_every_zoo_model_exported_reads_back_as_the_preset(tmp_path, name):
    path = export_zoo_model(name, tmp_path / f"{name}.onnx")
    if name in ONNX_REFUSED:
        with pytest.raises(FromOnnxError, match=ONNX_REFUSED[name]):
            archsweep.from_onnx(path)
        return
    preset = zoo.load(name)
    got, want = archsweep.analyze(archsweep.from_onnx(path)), archsweep.analyze(preset)
    keys = ("params", "buffers", "macs")
    expected = {k: want.totals[k] for k in keys}
    if name == "inception_v3":  # the preset counts the auxiliary classifier, which eval does not run
        aux = want.layers.filter(want.layers["name"].str.starts_with("AuxLogits."))
        expected = {k: expected[k] - int(aux[k].sum()) for k in keys}
    assert {k: got.totals[k] for k in keys} == expected
    assert got.layers["output_shape"][-1].to_list() == want.layers["output_shape"][-1].to_list()
    if name == "resnet18":  # layers named after the modules of torch's node names
        assert got.layers["name"].to_list()[:3] == ["conv1", "bn1", "relu"]
    if name in ONNX_READ_BY_PATTERN:
        ops = dict(zip(got.layers["name"].to_list(), got.layers["op"].to_list()))
        assert {k: ops.get(k) for k in ONNX_READ_BY_PATTERN[name]} == ONNX_READ_BY_PATTERN[name]
        for op in ("multihead_attention", "class_token", "positional_embedding", "window_attention", "silu"):  # as many as the preset has
            assert list(ops.values()).count(op) == want.layers["op"].to_list().count(op), op


def test_analyze_and_import_an_onnx_file(tmp_path, capsys):
    path = export(torchvision.models.resnet18(), tmp_path / "r18.onnx")
    assert main(["analyze", str(path), "--input", "3x160x160", "--format", "json"]) == 0
    totals = json.loads(capsys.readouterr().out)["totals"]
    assert totals["macs"] == archsweep.analyze("resnet18", input_shape=(3, 160, 160)).totals["macs"]
    assert main(["import", str(path), "-o", str(tmp_path / "r18.toml")]) == 0
    assert archsweep.analyze(tmp_path / "r18.toml").totals["params"] == 11_689_512


class SelfAttention(torch.nn.Module):
    """A pre-norm self-attention block as torchvision's ViT calls nn.MultiheadAttention."""

    def __init__(self, e=64, heads=4, **kw):
        super().__init__()
        self.ln = torch.nn.LayerNorm(e)
        self.attn = torch.nn.MultiheadAttention(e, heads, batch_first=True, **kw)

    def forward(self, x):
        y = self.ln(x)
        return x + self.attn(y, y, y, need_weights=False)[0]


@pytest.mark.parametrize("bias", [True, False])
def test_multihead_attention_nodes_read_as_one_layer(tmp_path, bias):
    """nn.MultiheadAttention exported node by node is one multihead_attention layer with torch's
    params; MACs by hand for L = 16 tokens, E = 64: in-projection 16·64·192 = 196,608, Q·Kᵀ and
    attention·V 2·16·16·64 = 32,768, out-projection 16·64·64 = 65,536."""
    m = SelfAttention(bias=bias)
    model = archsweep.from_onnx(export(m, tmp_path / "a.onnx", (16, 64)))
    layer = next(x for x in model.layers if x["op"] == "multihead_attention")
    assert (layer["name"], layer["embed_dim"], layer["num_heads"], layer["bias"]) == ("attn", 64, 4, bias)
    totals = archsweep.analyze(model).totals
    assert totals["params"] == sum(p.numel() for p in m.parameters())
    assert totals["macs"] == 196_608 + 32_768 + 65_536


def test_multihead_attention_with_more_weights_is_not_read_as_one(tmp_path):
    """add_bias_kv adds bias_k and bias_v (concatenated to the keys and values): the scope's
    weights are not 4·E² + 4·E, so it is not taken for a plain multihead_attention; its nodes are
    read one by one and the first the reader cannot map is named."""
    path = export(SelfAttention(add_bias_kv=True), tmp_path / "kv.onnx", (16, 64))
    with pytest.raises(FromOnnxError, match=r"kv.onnx: node /attn/\S+ \(\w+\): "):
        archsweep.from_onnx(path)


@pytest.mark.parametrize("version, window, shift, dim", [(1, [7, 7], [3, 3], 32), (1, [4, 6], [2, 3], 32), (1, [4, 4], [0, 0], 32),
                                                         (2, [4, 6], [2, 3], 32), (2, [5, 5], [0, 0], 32),
                                                         (2, [4, 4], [2, 2], 512)])  # 512: the width of V2's bias MLP too
def test_swin_window_attention_nodes_read_as_one_layer(tmp_path, version, window, shift, dim):
    """torchvision's ShiftedWindowAttention (V1) and ShiftedWindowAttentionV2 exported node by
    node (padding a 10 x 13 map to whole windows, rolling by the shift) are one window_attention
    layer with the window, shift, heads and version they were built with, and the counts of
    from_torch (which holds its result to torch's own params, buffers and FlopCounterMode's
    FLOPs)."""
    from torchvision.models.swin_transformer import ShiftedWindowAttention, ShiftedWindowAttentionV2

    cls = ShiftedWindowAttention if version == 1 else ShiftedWindowAttentionV2
    m = torch.nn.Sequential(cls(dim, window, shift, num_heads=4))  # a submodule, as in Swin
    model = archsweep.from_onnx(export(m, tmp_path / "w.onnx", (10, 13, dim)))
    (layer,) = [x for x in model.layers if x["op"] == "window_attention"]
    assert (layer["num_heads"], layer["window_size"], layer["shift_size"], layer.get("version", 1)) == (4, window, shift, version)
    got, want = archsweep.analyze(model).totals, archsweep.analyze(archsweep.from_torch(m, (10, 13, dim))).totals
    assert {k: got[k] for k in ("params", "buffers", "macs", "flops")} == {k: want[k] for k in ("params", "buffers", "macs", "flops")}
    assert got["params"] == sum(p.numel() for p in m.parameters())


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
