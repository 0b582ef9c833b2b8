"""PyTorch in: ``archsweep.from_torch(module, input_shape)`` (torch.fx on a fake input).

Truth: torchvision's own modules. Every zoo preset is a torchvision model (tests/test_zoo.py holds
the presets to torchvision's published numbers); ``from_torch`` of torchvision's module, built on
the meta device, must give the preset's parameters, buffers, MACs and FLOPs exactly. Inception
v3's preset also counts the auxiliary classifier its published numbers include, which the eval
forward pass (what is traced) does not run: there the preset's ``AuxLogits`` layers are left out.
Then the round trips: torchvision's module -> ``from_torch`` -> ``to_torch`` loads torchvision's
weights (the layers keep torchvision's names) and gives torchvision's outputs, and every shipped
space's variants -> ``to_torch`` -> ``from_torch`` keep every count. ``from_torch`` checks its
result against torch itself (the used tensors' numels and FlopCounterMode); what it cannot
express is an error naming the node.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from torch import nn  # noqa: E402
from torchvision.models import regnet  # noqa: E402

import archsweep  # noqa: E402
from archsweep import FromTorchError, zoo  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")

COUNTS = ("params", "buffers", "macs", "flops")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def torchvision_model(name: str, res: int, device: str = "meta") -> nn.Module:
    """torchvision's ``name`` (no weights) for inputs of ``res`` x ``res``, built on ``device``."""
    kwargs = {"image_size": res} if name.startswith("vit_") else {}
    build = getattr(torchvision.models, name)
    if device != "meta":
        return build(**kwargs).eval()
    # RegNet computes its widths with tensors, which the meta device cannot read back
    widths = regnet.BlockParams.from_init_params.__func__

    def on_cpu(cls, *args, **kw):
        with torch.device("cpu"):
            return widths(cls, *args, **kw)

    regnet.BlockParams.from_init_params = classmethod(on_cpu)
    try:
        with torch.device("meta"):
            return build(**kwargs)
    finally:
        regnet.BlockParams.from_init_params = classmethod(widths)


def counts(model) -> dict[str, int]:
    totals = archsweep.analyze(model).totals
    return {k: totals[k] for k in COUNTS}


def unnamed_layers(report, module) -> list[str]:
    """Layers with parameters not named after a module of ``module``'s state_dict (or one of its
    parameters: a class token, a layer scale's gamma): rows must line up with state_dict keys."""
    keys = set(module.state_dict())
    modules = {k.rpartition(".")[0] for k in keys}
    named = [row["name"] for row in report.layers.iter_rows(named=True) if row["params"] > 0]
    assert named, "no layer has parameters"
    return [n for n in named if not (n in keys or n in modules or any(k.startswith(n + ".") for k in modules))]


@pytest.mark.parametrize("name", zoo.names())
def test_torchvision_module_gives_the_zoo_preset(name):
    """params, buffers, MACs and FLOPs (from_torch checks its FLOPs against FlopCounterMode's
    itself), the output shape, and layers named after the state_dict's modules."""
    preset = zoo.load(name)
    tv = torchvision_model(name, preset.input[-1])
    got = archsweep.from_torch(tv, preset.input, name=name)
    want = counts(preset)
    rep = archsweep.analyze(preset)
    if name == "inception_v3":
        aux = rep.layers.filter(rep.layers["name"].str.starts_with("AuxLogits."))
        assert len(aux) == 10
        want = {k: want[k] - int(aux[k].sum()) for k in COUNTS}
    assert counts(got) == want
    got_rep = archsweep.analyze(got)
    assert got_rep.layers["output_shape"][-1].to_list() == rep.layers["output_shape"][-1].to_list() == [1, 1000]
    assert not unnamed_layers(got_rep, tv)


#: torchvision models and a small input resolution for each (ViT's position embedding is built
#: for the size it is given)
WEIGHTS = {"resnet18": 64, "mobilenet_v3_small": 64, "convnext_tiny": 64, "swin_t": 64, "vit_b_32": 64,
           "shufflenet_v2_x0_5": 64, "efficientnet_b0": 64, "googlenet": 64}


@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_round_trip_keeps_torchvision_weights_and_outputs(name):
    res = WEIGHTS[name]
    torch.manual_seed(0)
    tv = torchvision_model(name, res, device="cpu")
    net = archsweep.to_torch(archsweep.from_torch(tv, (3, res, res), name=name))
    ours, theirs = net.state_dict(), tv.state_dict()
    unused = {k for k in theirs if k.startswith(("aux1.", "aux2."))}  # GoogLeNet's heads, not run in eval
    assert set(ours) == set(theirs) - unused
    net.load_state_dict({k: v for k, v in theirs.items() if k not in unused})
    x = torch.randn(2, 3, res, res)
    with torch.no_grad():
        torch.testing.assert_close(net(x), tv(x), rtol=1e-5, atol=1e-5)


SPACES = sorted((Path(__file__).resolve().parents[1] / "data" / "spaces").glob("*.toml"))


@pytest.mark.parametrize("spec", SPACES, ids=lambda p: p.stem)
def test_round_trip_of_space_variants_keeps_every_count(spec):
    space = archsweep.Space.load(spec)
    rows = archsweep.sweep(space, sample=40, seed=3)
    for vid in rows.filter(rows["valid"])["variant_id"].to_list()[:5]:
        model = space.model(int(vid))
        back = archsweep.from_torch(archsweep.to_torch(model, device="meta"), model.input)
        a, b = archsweep.analyze(back), archsweep.analyze(model)
        # (not activation_bytes: a sum of three is `a + b + c` in torch, two adds and a tensor more)
        for key in (*COUNTS, "other_ops"):
            assert a.totals[key] == b.totals[key], (vid, key)
        assert a.layers["output_shape"][-1].to_list() == b.layers["output_shape"][-1].to_list()


class Branchy(nn.Module):
    """Python control flow on a shape (torch.fx cannot trace it), and the slicing, splitting,
    padding and scaling ops: x[:, :6], torch.split into (2, 4), F.pad, x * 0.5."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(6 * 8 * 6, 10)
        self.gamma = nn.Parameter(torch.ones(4, 1, 1))

    def forward(self, x):
        x = self.conv(x)
        if x.shape[-1] > 8:
            x = self.pool(x)
        x = x[:, :6]
        a, b = torch.split(x, [2, 4], dim=1)
        b = torch.nn.functional.pad(b * 0.5, (-2, -1, -1, 0)) * self.gamma
        return self.fc(torch.cat([a[:, :, :8, :6], b], dim=1).flatten(1))


def test_eager_trace_where_fx_fails():
    m = Branchy()
    with pytest.raises(torch.fx.proxy.TraceError):
        torch.fx.symbolic_trace(m)
    model = archsweep.from_torch(m, (3, 20, 20))  # checks params, buffers and FlopCounterMode's FLOPs itself
    rep = archsweep.analyze(model)
    names = [layer["name"] for layer in model.layers]
    # modules keep their qualified names, the parameter its own; nothing fx would not record
    assert {"conv", "pool", "fc", "gamma"} <= set(names), names
    ops = {layer["name"]: layer["op"] for layer in model.layers}
    # conv 18 x 18 -> pool 9 x 9 -> x[:, :6] -> split 2 | 4 -> pad: W 9 - 2 - 1 = 6, H 9 - 1 + 0 = 8;
    # a[:, :, :8, :6]: a slice of W, then of H; cat 2 + 4 channels: 6 x 8 x 6 into fc
    picked = sorted(op for op in ops.values() if op in ("slice", "split", "pad", "mul_scalar"))
    assert picked == ["mul_scalar", "pad", "slice", "slice", "slice", "split", "split"], ops
    assert rep.totals["params"] == sum(p.numel() for p in m.parameters())
    assert rep.layers["output_shape"][-1].to_list() == [1, 10]


class Scaled(nn.Module):
    """conv - scale by 0.5 - a 1x1 conv to one channel: ``y *= 0.5`` (in place), ``y.mul_(0.5)`` or
    ``y = y * 0.5`` (a new tensor)."""

    def __init__(self, how: str):
        super().__init__()
        self.how = how
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 1, 1)

    def forward(self, x):
        y = self.conv1(x)
        if self.how == "*=":
            y *= 0.5
        elif self.how == "mul_":
            y.mul_(0.5)
        else:
            y = y * 0.5
        return self.conv2(y)


@pytest.mark.parametrize("how", ["*=", "mul_", "*"])
def test_in_place_scale_shares_its_input(how, tmp_path):
    """``x *= c`` and ``x.mul_(c)`` are mul_scalar in place: the result is the conv's storage, so
    the peak is torch's. Truth: tests/memory_truth.py's live-storage peak of the eager forward and
    the bytes autograd saves, on fake CPU tensors. At batch 2 on 3x16x16 (fp32): input 6,144 B,
    conv1's output 16,384 B, conv2's 2,048 B: in place the peak is 6,144 + 16,384 + 2,048 =
    24,576 B; ``y * 0.5`` holds conv1's output and the product at once, 6,144 + 2 x 16,384 =
    38,912 B."""
    import memory_truth

    inplace = how != "*"
    model = archsweep.from_torch(Scaled(how), (3, 16, 16))
    (scale,) = [layer for layer in model.layers if layer["op"] == "mul_scalar"]
    assert scale.get("inplace", False) is inplace and scale["other"] == 0.5
    report = archsweep.analyze(model, batch=2)
    with torch.device("meta"):
        module = Scaled(how)
    saved, peak = memory_truth.measure(module, (2, 3, 16, 16))
    assert peak == (24_576 if inplace else 38_912)
    assert (report.totals["peak_eager_bytes"], report.totals["peak_activation_bytes"], report.totals["saved_bytes"]) == (peak, peak, saved)
    # PyTorch out and back: the export writes y.mul_(0.5), which from_torch reads in place again
    source = archsweep.torch_source(model)
    assert (".mul_(0.5)" in source) is inplace
    again = archsweep.from_torch(archsweep.to_torch(model), (3, 16, 16))
    assert [layer.get("inplace", False) for layer in again.layers if layer["op"] == "mul_scalar"] == [inplace]


# ---------------------------------------------------------------------------------------------
# What cannot be expressed is an error naming the node
# ---------------------------------------------------------------------------------------------


class Shifted(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x) + 2


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(4, 4, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0]


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(3, 4))

    def forward(self, x):
        return torch.nn.functional.linear(x, self.w)


class SequenceFirst(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 2)

    def forward(self, x):
        return self.attn(x, x, x)[0]


@pytest.mark.parametrize("module, shape, message", [
    (Shifted(), (4,), r"add_?\w* .*add of .*only a multiplication of a tensor by a number is supported"),
    (Recurrent(), (5, 4), r"rnn .*no archsweep counterpart for module type torch\.nn\.modules\.rnn\.LSTM"),
    (Functional(), (4,), r"linear .*no archsweep counterpart for call_function linear"),
    (SequenceFirst(), (3, 4), "attn .*batch_first=False"),
])
def test_unsupported_constructs_name_the_node(module, shape, message):
    module.train()
    with pytest.raises(FromTorchError, match=message):
        archsweep.from_torch(module, shape)
    assert module.training, "from_torch left the module in eval mode"


def test_names_and_mode():
    tv = torchvision_model("resnet18", 64)
    tv.train()
    model = archsweep.from_torch(tv, (3, 64, 64))
    assert tv.training
    names = [layer["name"] for layer in model.layers]
    assert names[:4] == ["conv1", "bn1", "relu", "maxpool"] and "layer1.0.conv1" in names and names[-1] == "fc"
    assert model.name == "resnet" and model.input == [3, 64, 64]
    assert FromTorchError.__mro__[1] is archsweep.ArchsweepError
