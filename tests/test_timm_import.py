"""PyTorch in, timm's models: ``from_torch`` of timm models (no weights, built on the meta device).

Truth: timm's modules themselves, measured by torch in this file: parameters = Σ numel of
``module.parameters()``, buffers = Σ numel of ``module.buffers()``, FLOPs = the total of
``torch.utils.flop_counter.FlopCounterMode`` over one forward pass on a fake input, the output
shape of that pass. archsweep's analysis of the imported model must equal each exactly, and every
layer holding parameters must be named after a module of the state_dict (its qualified name).

``REFUSED``: the timm models ``from_torch`` cannot express, each refused by name with the reason
(docs/pytorch.md lists them and what blocks them).
"""

from __future__ import annotations

import re

import pytest
from optional_modules import require

torch = require("torch")
timm = require("timm")
from test_torch_import import unnamed_layers  # noqa: E402
from torch._subclasses.fake_tensor import FakeTensorMode  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import archsweep  # noqa: E402
from archsweep import FromTorchError  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")

#: timm models imported exactly, by family (docs/pytorch.md's coverage table).
IMPORTED = [
    # ResNet / ResNeXt / SE / ECA
    "resnet18", "resnet34", "resnet50", "resnet26d", "resnet50d", "wide_resnet50_2", "resnext50_32x4d",
    "resnext26ts", "seresnet50", "seresnext26d_32x4d", "ecaresnet26t", "ecaresnet50d", "gernet_s",
    # EfficientNet / MobileNet / MnasNet and other NAS nets
    "efficientnet_b0", "efficientnet_lite0", "tinynet_a", "mobilenetv2_100", "mobilenetv3_large_100",
    "mobilenetv3_small_100", "mnasnet_100", "semnasnet_100", "spnasnet_100", "fbnetc_100", "lcnet_050",
    "hardcorenas_a", "mixnet_s", "tf_efficientnet_b0",
    # GhostNet / RexNet (channel slicing x[:, :k])
    "ghostnet_100", "rexnet_100",
    # RegNet
    "regnetx_002", "regnetx_004", "regnety_002", "regnety_004",
    # ConvNeXt
    "convnext_atto", "convnext_tiny",
    # DenseNet / DLA / DPN
    "densenet121", "densenet169", "dla34", "dla46_c", "dpn68",
    # VGG (traced eagerly: torch.fx cannot trace it) / RepVGG
    "vgg11", "repvgg_a0", "repvgg_b0",
    # Inception / Xception
    "inception_v3", "inception_v4", "xception41", "inception_resnet_v2",
    # ViT / DeiT
    "vit_tiny_patch16_224", "vit_small_patch16_224", "deit_tiny_patch16_224", "deit_small_patch16_224",
    # ConvMixer, MLP-Mixer
    "convmixer_768_32", "convmixer_1024_20_ks9_p14", "mixer_s16_224", "gmixer_12_224",
]

#: timm models from_torch refuses, with what its error says.
REFUSED = {
    # torch.fx cannot trace these (control flow on shapes): traced eagerly, then refused
    "dm_nfnet_f0": r"mul of parameter stem.conv1.gain .*a weight computed in forward.*\[traced eagerly: torch.fx cannot trace NormFreeNet",
    "maxvit_tiny_tf_224": r"the reshape to \(64, 7, 7, 64\) changes the batch dim \[traced eagerly: torch.fx cannot trace MaxxVit",
    "mobilevit_xxs": r"the reshape to \(1024, 2, 16, 2\) changes the batch dim \[traced eagerly: torch.fx cannot trace ByobNet",
    "nf_resnet26": r"mul of parameter stem.conv.gain and the number 0.14136\d*: a weight computed in forward",
    "skresnet18": r"no archsweep counterpart for call_function stack",
    "swin_tiny_patch4_window7_224": r"the reshape to \(64, 7, 7, 96\) changes the batch dim",
    "resmlp_12_224": r"no archsweep counterpart for call_function addcmul",
    "poolformer_s12": r"no archsweep counterpart for call_function group_norm",
    "levit_128s": r"no archsweep counterpart for call_method reshape_as",
    "edgenext_xx_small": r"no archsweep counterpart for call_function zeros",
    "coatnet_0_rw_224": r"relative_position_index.*a buffer read outside a module",
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def build(name: str):
    """timm's ``name`` without weights, on the meta device, and its per-sample input shape."""
    with torch.device("meta"):
        m = timm.create_model(name, pretrained=False).eval()
    return m, tuple(m.pretrained_cfg["input_size"])


def measured(m, shape):
    """What torch says: params, buffers, FlopCounterMode's FLOPs and the output shape."""
    params = sum(p.numel() for p in m.parameters())
    buffers = sum(b.numel() for b in m.buffers())
    with FakeTensorMode(allow_non_fake_inputs=True) as fake:
        x = torch.zeros((1, *shape), device="meta")
    counter = FlopCounterMode(display=False)
    with fake, counter, torch.no_grad():
        y = m(x)
    return {"params": params, "buffers": buffers, "flops": counter.get_total_flops(), "output": tuple(y.shape)}


def test_the_families_are_diverse_enough():
    assert len(IMPORTED) >= 40 and len(set(IMPORTED)) == len(IMPORTED)
    assert not set(IMPORTED) & set(REFUSED)
    assert all(timm.is_model(n) for n in [*IMPORTED, *REFUSED])


def test_the_docs_state_these_counts():
    """README.md's coverage table and docs/pytorch.md's say how many timm models this file imports
    exactly and how many it tries."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    readme = " ".join((root / "README.md").read_text(encoding="utf-8").split())
    assert f"{len(IMPORTED)} of the {len(IMPORTED) + len(REFUSED)} tried" in readme
    doc = (root / "docs" / "pytorch.md").read_text(encoding="utf-8")
    assert f"| imported exactly ({len(IMPORTED)}) |" in doc


@pytest.mark.parametrize("name", IMPORTED)
def test_imported_exactly(name):
    m, shape = build(name)
    want = measured(m, shape)
    model = archsweep.from_torch(m, shape, name=name)
    report = archsweep.analyze(model)
    totals = report.totals
    got = {"params": totals["params"], "buffers": totals["buffers"], "flops": totals["flops"],
           "output": tuple(report.layers["output_shape"][-1])}
    assert got == want
    assert totals["flops"] == 2 * totals["macs"]
    assert not unnamed_layers(report, m)  # rows line up with state_dict keys


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_by_name(name):
    m, shape = build(name)
    with pytest.raises(FromTorchError) as e:
        archsweep.from_torch(m, shape, name=name)
    assert re.search(REFUSED[name], str(e.value)), str(e.value)
