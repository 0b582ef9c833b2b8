"""Published torchvision 0.29 classification models, described layer by layer in archsweep's
model schema, checked against the figures torchvision publishes with their default weights.

Every description below follows torchvision's own source (torchvision/models/*.py): the same
layers in the same order with the same attributes (kernel, stride, padding, groups, bias,
ceil_mode, eps, ...). The truth is not computed here: it is read at test time from
``torchvision_models.csv`` (published ``num_params`` and ``_ops``, one row per model), kept in the
repository (``tests/data/reference/``, or ``$ARCHSWEEP_REFERENCE``: the CSV itself or the folder
holding it); these tests never skip.

Asserted per model: parameters exactly, and ``round(macs / 1e9, 3)`` equal to the published
``gmacs`` (torchvision counts convolutions, linear layers and the attention matmuls, not bias,
norms, activations, pooling or residual adds — archsweep's ``macs`` convention).

Also asserted, without the reference file: the exact FLOPs and buffer counts measured once on
torchvision's own models with torch (``TORCHVISION_FLOPS``, ``TORCHVISION_BUFFERS``; how they
were measured is written next to them), and a few intermediate shapes.

Models of the CSV not described here are listed in ``NOT_DESCRIBED`` with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from reference import reference  # tests/data/reference/torchvision_models.csv

import archsweep

# ---------------------------------------------------------------------------------------------
# Reference figures
# ---------------------------------------------------------------------------------------------





# ---------------------------------------------------------------------------------------------
# A small graph builder: every layer gets an explicit name and explicit inputs
# ---------------------------------------------------------------------------------------------


class Net:
    def __init__(self, name: str, resolution: int, channels: int = 3):
        self.name = name
        self.input = [channels, resolution, resolution]
        self.layers: list[dict] = []
        self._names: set[str] = set()

    def add(self, name: str, op: str, inputs, **attrs) -> str:
        assert name not in self._names, f"duplicate layer name {name}"
        self._names.add(name)
        inputs = [inputs] if isinstance(inputs, str) else list(inputs)
        self.layers.append({"name": name, "op": op, "inputs": inputs, **attrs})
        return name

    def model(self) -> dict:
        return {"name": self.name, "input": list(self.input), "layers": self.layers}


def conv(net, name, x, out, k, stride=1, padding=0, groups=1, bias=True, dilation=1):
    attrs = dict(out_channels=out, kernel_size=k, stride=stride, padding=padding, bias=bias)
    if groups != 1:
        attrs["groups"] = groups
    if dilation != 1:
        attrs["dilation"] = dilation
    return net.add(name, "conv2d", x, **attrs)


def bn(net, name, x, eps=None):
    attrs = {} if eps is None else {"eps": eps}
    return net.add(name, "batchnorm2d", x, **attrs)


def act(net, name, x, kind, inplace=True):
    if kind in ("sigmoid", "gelu", "tanh"):
        return net.add(name, kind, x)
    return net.add(name, kind, x, inplace=inplace)


def conv_norm_act(net, name, x, out, k=3, stride=1, padding=None, groups=1, activation="relu", eps=None, dilation=1):
    """torchvision.ops.misc.Conv2dNormActivation with BatchNorm2d: padding (k-1)//2*dilation,
    no conv bias (a norm follows), optional activation."""
    if padding is None:
        if isinstance(k, int):
            padding = (k - 1) // 2 * dilation
        else:
            padding = [(kk - 1) // 2 * dilation for kk in k]
    y = conv(net, f"{name}.0", x, out, k, stride, padding, groups, bias=False, dilation=dilation)
    y = bn(net, f"{name}.1", y, eps)
    if activation is not None:
        y = act(net, f"{name}.2", y, activation)
    return y


def squeeze_excitation(net, name, x, channels, squeeze, activation="relu", scale_activation="sigmoid"):
    """torchvision.ops.misc.SqueezeExcitation: avgpool(1) -> fc1 (1x1 conv) -> act -> fc2 -> scale act -> x * scale."""
    s = net.add(f"{name}.avgpool", "adaptive_avgpool2d", x, output_size=1)
    s = conv(net, f"{name}.fc1", s, squeeze, 1)
    s = act(net, f"{name}.activation", s, activation)
    s = conv(net, f"{name}.fc2", s, channels, 1)
    s = act(net, f"{name}.scale_activation", s, scale_activation)
    return net.add(f"{name}.mul", "mul", [s, x])


def classifier_head(net, x, in_name, num_classes=1000, dropout=None):
    y = net.add(f"{in_name}.avgpool", "adaptive_avgpool2d", x, output_size=1)
    y = net.add(f"{in_name}.flatten", "flatten", y)
    if dropout is not None:
        y = net.add(f"{in_name}.dropout", "dropout", y, p=dropout)
    return net.add(f"{in_name}.fc", "linear", y, out_features=num_classes)


def make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """torchvision.models._utils._make_divisible."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


# ---------------------------------------------------------------------------------------------
# alexnet.py
# ---------------------------------------------------------------------------------------------


def alexnet(res: int) -> dict:
    n = Net("alexnet", res)
    x = "x"
    x = conv(n, "features.0", x, 64, 11, stride=4, padding=2)
    x = act(n, "features.1", x, "relu")
    x = n.add("features.2", "maxpool2d", x, kernel_size=3, stride=2)
    x = conv(n, "features.3", x, 192, 5, padding=2)
    x = act(n, "features.4", x, "relu")
    x = n.add("features.5", "maxpool2d", x, kernel_size=3, stride=2)
    x = conv(n, "features.6", x, 384, 3, padding=1)
    x = act(n, "features.7", x, "relu")
    x = conv(n, "features.8", x, 256, 3, padding=1)
    x = act(n, "features.9", x, "relu")
    x = conv(n, "features.10", x, 256, 3, padding=1)
    x = act(n, "features.11", x, "relu")
    x = n.add("features.12", "maxpool2d", x, kernel_size=3, stride=2)
    x = n.add("avgpool", "adaptive_avgpool2d", x, output_size=[6, 6])
    x = n.add("flatten", "flatten", x)
    x = n.add("classifier.0", "dropout", x, p=0.5)
    x = n.add("classifier.1", "linear", x, out_features=4096)
    x = act(n, "classifier.2", x, "relu")
    x = n.add("classifier.3", "dropout", x, p=0.5)
    x = n.add("classifier.4", "linear", x, out_features=4096)
    x = act(n, "classifier.5", x, "relu")
    n.add("classifier.6", "linear", x, out_features=1000)
    return n.model()


# ---------------------------------------------------------------------------------------------
# vgg.py
# ---------------------------------------------------------------------------------------------

VGG_CFGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def vgg(cfg: str, batch_norm: bool) -> Callable[[int], dict]:
    def build(res: int) -> dict:
        n = Net(f"vgg_{cfg}{'_bn' if batch_norm else ''}", res)
        x, i = "x", 0
        for v in VGG_CFGS[cfg]:
            if v == "M":
                x = n.add(f"features.{i}", "maxpool2d", x, kernel_size=2, stride=2)
                i += 1
            else:
                x = conv(n, f"features.{i}", x, v, 3, padding=1)
                i += 1
                if batch_norm:
                    x = bn(n, f"features.{i}", x)
                    i += 1
                x = act(n, f"features.{i}", x, "relu")
                i += 1
        x = n.add("avgpool", "adaptive_avgpool2d", x, output_size=[7, 7])
        x = n.add("flatten", "flatten", x)
        x = n.add("classifier.0", "linear", x, out_features=4096)
        x = act(n, "classifier.1", x, "relu")
        x = n.add("classifier.2", "dropout", x, p=0.5)
        x = n.add("classifier.3", "linear", x, out_features=4096)
        x = act(n, "classifier.4", x, "relu")
        x = n.add("classifier.5", "dropout", x, p=0.5)
        n.add("classifier.6", "linear", x, out_features=1000)
        return n.model()

    return build


# ---------------------------------------------------------------------------------------------
# resnet.py (v1.5: the stride of a bottleneck sits on its 3x3 conv)
# ---------------------------------------------------------------------------------------------


def resnet(block: str, layers: list[int], groups: int = 1, width_per_group: int = 64) -> Callable[[int], dict]:
    expansion = 1 if block == "basic" else 4

    def build(res: int) -> dict:
        n = Net(f"resnet_{block}_{'_'.join(map(str, layers))}", res)
        x = conv(n, "conv1", "x", 64, 7, stride=2, padding=3, bias=False)
        x = bn(n, "bn1", x)
        x = act(n, "relu", x, "relu")
        x = n.add("maxpool", "maxpool2d", x, kernel_size=3, stride=2, padding=1)
        inplanes = 64
        for li, (planes, blocks) in enumerate(zip([64, 128, 256, 512], layers), start=1):
            for bi in range(blocks):
                stride = 2 if (li > 1 and bi == 0) else 1
                p = f"layer{li}.{bi}"
                identity = x
                if block == "basic":
                    y = conv(n, f"{p}.conv1", x, planes, 3, stride=stride, padding=1, bias=False)
                    y = bn(n, f"{p}.bn1", y)
                    y = act(n, f"{p}.relu1", y, "relu")
                    y = conv(n, f"{p}.conv2", y, planes, 3, padding=1, bias=False)
                    y = bn(n, f"{p}.bn2", y)
                else:
                    width = int(planes * (width_per_group / 64.0)) * groups
                    y = conv(n, f"{p}.conv1", x, width, 1, bias=False)
                    y = bn(n, f"{p}.bn1", y)
                    y = act(n, f"{p}.relu1", y, "relu")
                    y = conv(n, f"{p}.conv2", y, width, 3, stride=stride, padding=1, groups=groups, bias=False)
                    y = bn(n, f"{p}.bn2", y)
                    y = act(n, f"{p}.relu2", y, "relu")
                    y = conv(n, f"{p}.conv3", y, planes * expansion, 1, bias=False)
                    y = bn(n, f"{p}.bn3", y)
                if stride != 1 or inplanes != planes * expansion:
                    identity = conv(n, f"{p}.downsample.0", x, planes * expansion, 1, stride=stride, bias=False)
                    identity = bn(n, f"{p}.downsample.1", identity)
                y = n.add(f"{p}.add", "add", [y, identity])
                x = act(n, f"{p}.relu", y, "relu")
                inplanes = planes * expansion
        x = n.add("avgpool", "adaptive_avgpool2d", x, output_size=[1, 1])
        x = n.add("flatten", "flatten", x)
        n.add("fc", "linear", x, out_features=1000)
        return n.model()

    return build


# ---------------------------------------------------------------------------------------------
# googlenet.py (published weights: no aux heads; transform_input has no params and no MACs)
# ---------------------------------------------------------------------------------------------


def _basic_conv(n, name, x, out, k, stride=1, padding=0):
    """googlenet/inception BasicConv2d: conv (no bias) -> BatchNorm2d(eps=0.001) -> relu."""
    y = conv(n, f"{name}.conv", x, out, k, stride=stride, padding=padding, bias=False)
    y = bn(n, f"{name}.bn", y, eps=0.001)
    return act(n, f"{name}.relu", y, "relu")


def googlenet(res: int) -> dict:
    n = Net("googlenet", res)

    def inception(name, x, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        b1 = _basic_conv(n, f"{name}.branch1", x, ch1x1, 1)
        b2 = _basic_conv(n, f"{name}.branch2.0", x, ch3x3red, 1)
        b2 = _basic_conv(n, f"{name}.branch2.1", b2, ch3x3, 3, padding=1)
        b3 = _basic_conv(n, f"{name}.branch3.0", x, ch5x5red, 1)
        # torchvision's known bug (pytorch/vision#906): kernel_size=3, not 5.
        b3 = _basic_conv(n, f"{name}.branch3.1", b3, ch5x5, 3, padding=1)
        b4 = n.add(f"{name}.branch4.0", "maxpool2d", x, kernel_size=3, stride=1, padding=1, ceil_mode=True)
        b4 = _basic_conv(n, f"{name}.branch4.1", b4, pool_proj, 1)
        return n.add(f"{name}.cat", "concat", [b1, b2, b3, b4], dim=1)

    x = _basic_conv(n, "conv1", "x", 64, 7, stride=2, padding=3)
    x = n.add("maxpool1", "maxpool2d", x, kernel_size=3, stride=2, ceil_mode=True)
    x = _basic_conv(n, "conv2", x, 64, 1)
    x = _basic_conv(n, "conv3", x, 192, 3, padding=1)
    x = n.add("maxpool2", "maxpool2d", x, kernel_size=3, stride=2, ceil_mode=True)
    x = inception("inception3a", x, 64, 96, 128, 16, 32, 32)
    x = inception("inception3b", x, 128, 128, 192, 32, 96, 64)
    x = n.add("maxpool3", "maxpool2d", x, kernel_size=3, stride=2, ceil_mode=True)
    x = inception("inception4a", x, 192, 96, 208, 16, 48, 64)
    x = inception("inception4b", x, 160, 112, 224, 24, 64, 64)
    x = inception("inception4c", x, 128, 128, 256, 24, 64, 64)
    x = inception("inception4d", x, 112, 144, 288, 32, 64, 64)
    x = inception("inception4e", x, 256, 160, 320, 32, 128, 128)
    x = n.add("maxpool4", "maxpool2d", x, kernel_size=2, stride=2, ceil_mode=True)
    x = inception("inception5a", x, 256, 160, 320, 32, 128, 128)
    x = inception("inception5b", x, 384, 192, 384, 48, 128, 128)
    x = n.add("avgpool", "adaptive_avgpool2d", x, output_size=[1, 1])
    x = n.add("flatten", "flatten", x)
    x = n.add("dropout", "dropout", x, p=0.2)
    n.add("fc", "linear", x, out_features=1000)
    return n.model()


# ---------------------------------------------------------------------------------------------
# inception.py (Inception3). The published weights keep AuxLogits (inception_v3's default
# aux_logits=True), so its parameters count; in eval mode it does not run, so no MACs.
# ---------------------------------------------------------------------------------------------


def inception_v3(res: int, aux_logits: bool = True) -> dict:
    n = Net("inception_v3", res)
    bc = lambda name, x, out, k, stride=1, padding=0: _basic_conv(n, name, x, out, k, stride, padding)  # noqa: E731

    def avg3(name, x):
        return n.add(name, "avgpool2d", x, kernel_size=3, stride=1, padding=1)

    def block_a(name, x, pool_features):
        b1 = bc(f"{name}.branch1x1", x, 64, 1)
        b5 = bc(f"{name}.branch5x5_1", x, 48, 1)
        b5 = bc(f"{name}.branch5x5_2", b5, 64, 5, padding=2)
        b3 = bc(f"{name}.branch3x3dbl_1", x, 64, 1)
        b3 = bc(f"{name}.branch3x3dbl_2", b3, 96, 3, padding=1)
        b3 = bc(f"{name}.branch3x3dbl_3", b3, 96, 3, padding=1)
        bp = avg3(f"{name}.avg_pool", x)
        bp = bc(f"{name}.branch_pool", bp, pool_features, 1)
        return n.add(f"{name}.cat", "concat", [b1, b5, b3, bp])

    def block_b(name, x):
        b3 = bc(f"{name}.branch3x3", x, 384, 3, stride=2)
        bd = bc(f"{name}.branch3x3dbl_1", x, 64, 1)
        bd = bc(f"{name}.branch3x3dbl_2", bd, 96, 3, padding=1)
        bd = bc(f"{name}.branch3x3dbl_3", bd, 96, 3, stride=2)
        bp = n.add(f"{name}.max_pool", "maxpool2d", x, kernel_size=3, stride=2)
        return n.add(f"{name}.cat", "concat", [b3, bd, bp])

    def block_c(name, x, c7):
        b1 = bc(f"{name}.branch1x1", x, 192, 1)
        b7 = bc(f"{name}.branch7x7_1", x, c7, 1)
        b7 = bc(f"{name}.branch7x7_2", b7, c7, [1, 7], padding=[0, 3])
        b7 = bc(f"{name}.branch7x7_3", b7, 192, [7, 1], padding=[3, 0])
        bd = bc(f"{name}.branch7x7dbl_1", x, c7, 1)
        bd = bc(f"{name}.branch7x7dbl_2", bd, c7, [7, 1], padding=[3, 0])
        bd = bc(f"{name}.branch7x7dbl_3", bd, c7, [1, 7], padding=[0, 3])
        bd = bc(f"{name}.branch7x7dbl_4", bd, c7, [7, 1], padding=[3, 0])
        bd = bc(f"{name}.branch7x7dbl_5", bd, 192, [1, 7], padding=[0, 3])
        bp = avg3(f"{name}.avg_pool", x)
        bp = bc(f"{name}.branch_pool", bp, 192, 1)
        return n.add(f"{name}.cat", "concat", [b1, b7, bd, bp])

    def block_d(name, x):
        b3 = bc(f"{name}.branch3x3_1", x, 192, 1)
        b3 = bc(f"{name}.branch3x3_2", b3, 320, 3, stride=2)
        b7 = bc(f"{name}.branch7x7x3_1", x, 192, 1)
        b7 = bc(f"{name}.branch7x7x3_2", b7, 192, [1, 7], padding=[0, 3])
        b7 = bc(f"{name}.branch7x7x3_3", b7, 192, [7, 1], padding=[3, 0])
        b7 = bc(f"{name}.branch7x7x3_4", b7, 192, 3, stride=2)
        bp = n.add(f"{name}.max_pool", "maxpool2d", x, kernel_size=3, stride=2)
        return n.add(f"{name}.cat", "concat", [b3, b7, bp])

    def block_e(name, x):
        b1 = bc(f"{name}.branch1x1", x, 320, 1)
        b3 = bc(f"{name}.branch3x3_1", x, 384, 1)
        b3a = bc(f"{name}.branch3x3_2a", b3, 384, [1, 3], padding=[0, 1])
        b3b = bc(f"{name}.branch3x3_2b", b3, 384, [3, 1], padding=[1, 0])
        b3 = n.add(f"{name}.branch3x3_cat", "concat", [b3a, b3b])
        bd = bc(f"{name}.branch3x3dbl_1", x, 448, 1)
        bd = bc(f"{name}.branch3x3dbl_2", bd, 384, 3, padding=1)
        bda = bc(f"{name}.branch3x3dbl_3a", bd, 384, [1, 3], padding=[0, 1])
        bdb = bc(f"{name}.branch3x3dbl_3b", bd, 384, [3, 1], padding=[1, 0])
        bd = n.add(f"{name}.branch3x3dbl_cat", "concat", [bda, bdb])
        bp = avg3(f"{name}.avg_pool", x)
        bp = bc(f"{name}.branch_pool", bp, 192, 1)
        return n.add(f"{name}.cat", "concat", [b1, b3, bd, bp])

    x = bc("Conv2d_1a_3x3", "x", 32, 3, stride=2)
    x = bc("Conv2d_2a_3x3", x, 32, 3)
    x = bc("Conv2d_2b_3x3", x, 64, 3, padding=1)
    x = n.add("maxpool1", "maxpool2d", x, kernel_size=3, stride=2)
    x = bc("Conv2d_3b_1x1", x, 80, 1)
    x = bc("Conv2d_4a_3x3", x, 192, 3)
    x = n.add("maxpool2", "maxpool2d", x, kernel_size=3, stride=2)
    x = block_a("Mixed_5b", x, 32)
    x = block_a("Mixed_5c", x, 64)
    x = block_a("Mixed_5d", x, 64)
    x = block_b("Mixed_6a", x)
    x = block_c("Mixed_6b", x, 128)
    x = block_c("Mixed_6c", x, 160)
    x = block_c("Mixed_6d", x, 160)
    x = block_c("Mixed_6e", x, 192)
    if aux_logits:
        a = n.add("AuxLogits.avg_pool", "avgpool2d", x, kernel_size=5, stride=3)
        a = bc("AuxLogits.conv0", a, 128, 1)
        a = bc("AuxLogits.conv1", a, 768, 5)
        a = n.add("AuxLogits.adaptive_avg_pool", "adaptive_avgpool2d", a, output_size=[1, 1])
        a = n.add("AuxLogits.flatten", "flatten", a)
        n.add("AuxLogits.fc", "linear", a, out_features=1000)
    x = block_d("Mixed_7a", x)
    x = block_e("Mixed_7b", x)
    x = block_e("Mixed_7c", x)
    x = n.add("avgpool", "adaptive_avgpool2d", x, output_size=[1, 1])
    x = n.add("dropout", "dropout", x, p=0.5)
    x = n.add("flatten", "flatten", x)
    n.add("fc", "linear", x, out_features=1000)
    return n.model()


# ---------------------------------------------------------------------------------------------
# vision_transformer.py
# ---------------------------------------------------------------------------------------------


def vit(patch: int, num_layers: int, num_heads: int, hidden: int, mlp_dim: int) -> Callable[[int], dict]:
    def build(res: int) -> dict:
        n = Net(f"vit_{hidden}_{patch}", res)
        x = conv(n, "conv_proj", "x", hidden, patch, stride=patch)
        x = n.add("reshape", "reshape", x, shape=[hidden, (res // patch) ** 2])
        x = n.add("permute", "permute", x, dims=[0, 2, 1])
        x = n.add("class_token", "class_token", x)
        x = n.add("encoder.pos_embedding", "positional_embedding", x)
        x = n.add("encoder.dropout", "dropout", x, p=0.0)
        for i in range(num_layers):
            p = f"encoder.layers.encoder_layer_{i}"
            y = n.add(f"{p}.ln_1", "layernorm", x, normalized_shape=hidden, eps=1e-6)
            y = n.add(f"{p}.self_attention", "multihead_attention", y, embed_dim=hidden, num_heads=num_heads, dropout=0.0)
            y = n.add(f"{p}.dropout", "dropout", y, p=0.0)
            x = n.add(f"{p}.add_1", "add", [y, x])
            y = n.add(f"{p}.ln_2", "layernorm", x, normalized_shape=hidden, eps=1e-6)
            y = n.add(f"{p}.mlp.0", "linear", y, out_features=mlp_dim)
            y = n.add(f"{p}.mlp.1", "gelu", y)
            y = n.add(f"{p}.mlp.2", "dropout", y, p=0.0)
            y = n.add(f"{p}.mlp.3", "linear", y, out_features=hidden)
            y = n.add(f"{p}.mlp.4", "dropout", y, p=0.0)
            x = n.add(f"{p}.add_2", "add", [x, y])
        x = n.add("encoder.ln", "layernorm", x, normalized_shape=hidden, eps=1e-6)
        x = n.add("class_select", "select", x, dim=1, index=0)
        n.add("heads.head", "linear", x, out_features=1000)
        return n.model()

    return build


# ---------------------------------------------------------------------------------------------
# mobilenetv2.py
# ---------------------------------------------------------------------------------------------


def mobilenet_v2(res: int) -> dict:
    n = Net("mobilenet_v2", res)
    setting = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]
    input_channel = make_divisible(32 * 1.0, 8)
    last_channel = make_divisible(1280 * max(1.0, 1.0), 8)
    x = conv_norm_act(n, "features.0", "x", input_channel, 3, stride=2, activation="relu6")
    idx = 1
    for t, c, reps, s in setting:
        out = make_divisible(c * 1.0, 8)
        for i in range(reps):
            stride = s if i == 0 else 1
            p = f"features.{idx}"
            hidden = int(round(input_channel * t))
            y = x
            if t != 1:
                y = conv_norm_act(n, f"{p}.conv.expand", y, hidden, 1, activation="relu6")
            y = conv_norm_act(n, f"{p}.conv.dw", y, hidden, 3, stride=stride, groups="depthwise", activation="relu6")
            y = conv(n, f"{p}.conv.project", y, out, 1, bias=False)
            y = bn(n, f"{p}.conv.project_bn", y)
            if stride == 1 and input_channel == out:
                y = n.add(f"{p}.add", "add", [x, y])
            x = y
            input_channel = out
            idx += 1
    x = conv_norm_act(n, f"features.{idx}", x, last_channel, 1, activation="relu6")
    x = n.add("avgpool", "adaptive_avgpool2d", x, output_size=[1, 1])
    x = n.add("flatten", "flatten", x)
    x = n.add("classifier.0", "dropout", x, p=0.2)
    n.add("classifier.1", "linear", x, out_features=1000)
    return n.model()


# ---------------------------------------------------------------------------------------------
# mobilenetv3.py
# ---------------------------------------------------------------------------------------------

_MBV3 = {
    # input, kernel, expanded, out, use_se, activation, stride, dilation
    "large": (
        [
            (16, 3, 16, 16, False, "RE", 1, 1),
            (16, 3, 64, 24, False, "RE", 2, 1),
            (24, 3, 72, 24, False, "RE", 1, 1),
            (24, 5, 72, 40, True, "RE", 2, 1),
            (40, 5, 120, 40, True, "RE", 1, 1),
            (40, 5, 120, 40, True, "RE", 1, 1),
            (40, 3, 240, 80, False, "HS", 2, 1),
            (80, 3, 200, 80, False, "HS", 1, 1),
            (80, 3, 184, 80, False, "HS", 1, 1),
            (80, 3, 184, 80, False, "HS", 1, 1),
            (80, 3, 480, 112, True, "HS", 1, 1),
            (112, 3, 672, 112, True, "HS", 1, 1),
            (112, 5, 672, 160, True, "HS", 2, 1),
            (160, 5, 960, 160, True, "HS", 1, 1),
            (160, 5, 960, 160, True, "HS", 1, 1),
        ],
        1280,
    ),
    "small": (
        [
            (16, 3, 16, 16, True, "RE", 2, 1),
            (16, 3, 72, 24, False, "RE", 2, 1),
            (24, 3, 88, 24, False, "RE", 1, 1),
            (24, 5, 96, 40, True, "HS", 2, 1),
            (40, 5, 240, 40, True, "HS", 1, 1),
            (40, 5, 240, 40, True, "HS", 1, 1),
            (40, 5, 120, 48, True, "HS", 1, 1),
            (48, 5, 144, 48, True, "HS", 1, 1),
            (48, 5, 288, 96, True, "HS", 2, 1),
            (96, 5, 576, 96, True, "HS", 1, 1),
            (96, 5, 576, 96, True, "HS", 1, 1),
        ],
        1024,
    ),
}


def mobilenet_v3(arch: str) -> Callable[[int], dict]:
    def build(res: int) -> dict:
        n = Net(f"mobilenet_v3_{arch}", res)
        setting, last = _MBV3[arch]
        adj = lambda c: make_divisible(c * 1.0, 8)  # noqa: E731  (width_mult = 1.0)
        eps = 0.001  # BatchNorm2d(eps=0.001, momentum=0.01)
        x = conv_norm_act(n, "features.0", "x", adj(setting[0][0]), 3, stride=2, activation="hardswish", eps=eps)
        for i, (cin, k, cexp, cout, use_se, a, stride, dil) in enumerate(setting, start=1):
            cin, cexp, cout = adj(cin), adj(cexp), adj(cout)
            activation = "hardswish" if a == "HS" else "relu"
            p = f"features.{i}.block"
            y = x
            if cexp != cin:
                y = conv_norm_act(n, f"{p}.expand", y, cexp, 1, activation=activation, eps=eps)
            y = conv_norm_act(n, f"{p}.dw", y, cexp, k, stride=1 if dil > 1 else stride, groups=cexp,
                              activation=activation, eps=eps, dilation=dil)
            if use_se:
                y = squeeze_excitation(n, f"{p}.se", y, cexp, make_divisible(cexp // 4, 8), "relu", "hardsigmoid")
            y = conv_norm_act(n, f"{p}.project", y, cout, 1, activation=None, eps=eps)
            if stride == 1 and cin == cout:
                y = n.add(f"features.{i}.add", "add", [y, x])
            x = y
        lastconv_in = adj(setting[-1][3])
        x = conv_norm_act(n, f"features.{len(setting) + 1}", x, 6 * lastconv_in, 1, activation="hardswish", eps=eps)
        x = n.add("avgpool", "adaptive_avgpool2d", x, output_size=1)
        x = n.add("flatten", "flatten", x)
        x = n.add("classifier.0", "linear", x, out_features=adj(last))
        x = act(n, "classifier.1", x, "hardswish")
        x = n.add("classifier.2", "dropout", x, p=0.2, inplace=True)
        n.add("classifier.3", "linear", x, out_features=1000)
        return n.model()

    return build


# ---------------------------------------------------------------------------------------------
# efficientnet.py (v1 and v2)
# ---------------------------------------------------------------------------------------------


def efficientnet(arch: str) -> Callable[[int], dict]:
    # (block, expand_ratio, kernel, stride, input_channels, out_channels, num_layers)
    if arch.startswith("b"):
        width, depth = {
            "b0": (1.0, 1.0), "b1": (1.0, 1.1), "b2": (1.1, 1.2), "b3": (1.2, 1.4),
            "b4": (1.4, 1.8), "b5": (1.6, 2.2), "b6": (1.8, 2.6), "b7": (2.0, 3.1),
        }[arch]
        base = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
                (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]
        setting = [("mb", e, k, s, make_divisible(i * width, 8), make_divisible(o * width, 8), int(math.ceil(nl * depth)))
                   for e, k, s, i, o, nl in base]
        last_channel = None
        eps = 0.001 if arch in ("b5", "b6", "b7") else None
    else:
        f, m = "fused", "mb"
        setting = {
            "v2_s": [(f, 1, 3, 1, 24, 24, 2), (f, 4, 3, 2, 24, 48, 4), (f, 4, 3, 2, 48, 64, 4),
                     (m, 4, 3, 2, 64, 128, 6), (m, 6, 3, 1, 128, 160, 9), (m, 6, 3, 2, 160, 256, 15)],
            "v2_m": [(f, 1, 3, 1, 24, 24, 3), (f, 4, 3, 2, 24, 48, 5), (f, 4, 3, 2, 48, 80, 5),
                     (m, 4, 3, 2, 80, 160, 7), (m, 6, 3, 1, 160, 176, 14), (m, 6, 3, 2, 176, 304, 18),
                     (m, 6, 3, 1, 304, 512, 5)],
            "v2_l": [(f, 1, 3, 1, 32, 32, 4), (f, 4, 3, 2, 32, 64, 7), (f, 4, 3, 2, 64, 96, 7),
                     (m, 4, 3, 2, 96, 192, 10), (m, 6, 3, 1, 192, 224, 19), (m, 6, 3, 2, 224, 384, 25),
                     (m, 6, 3, 1, 384, 640, 7)],
        }[arch]
        last_channel = 1280
        eps = 0.001
    dropout = {"b0": 0.2, "b1": 0.2, "b2": 0.3, "b3": 0.3, "b4": 0.4, "b5": 0.4, "b6": 0.5, "b7": 0.5,
               "v2_s": 0.2, "v2_m": 0.3, "v2_l": 0.4}[arch]

    def build(res: int) -> dict:
        n = Net(f"efficientnet_{arch}", res)
        x = conv_norm_act(n, "features.0", "x", setting[0][4], 3, stride=2, activation="silu", eps=eps)
        for si, (kind, e, k, s, cin, cout, layers) in enumerate(setting, start=1):
            for bi in range(layers):
                if bi > 0:
                    cin, s = cout, 1
                p = f"features.{si}.{bi}"
                expanded = make_divisible(cin * e, 8)
                y = x
                if kind == "mb":
                    if expanded != cin:
                        y = conv_norm_act(n, f"{p}.expand", y, expanded, 1, activation="silu", eps=eps)
                    y = conv_norm_act(n, f"{p}.dw", y, expanded, k, stride=s, groups=expanded, activation="silu", eps=eps)
                    y = squeeze_excitation(n, f"{p}.se", y, expanded, max(1, cin // 4), "silu", "sigmoid")
                    y = conv_norm_act(n, f"{p}.project", y, cout, 1, activation=None, eps=eps)
                elif expanded != cin:
                    y = conv_norm_act(n, f"{p}.expand", y, expanded, k, stride=s, activation="silu", eps=eps)
                    y = conv_norm_act(n, f"{p}.project", y, cout, 1, activation=None, eps=eps)
                else:
                    y = conv_norm_act(n, f"{p}.fused", y, cout, k, stride=s, activation="silu", eps=eps)
                if s == 1 and cin == cout:
                    y = n.add(f"{p}.stochastic_depth", "identity", y)  # StochasticDepth: identity in eval
                    y = n.add(f"{p}.add", "add", [y, x])
                x = y
        last_in = setting[-1][5]
        last_out = last_channel if last_channel is not None else 4 * last_in
        x = conv_norm_act(n, f"features.{len(setting) + 1}", x, last_out, 1, activation="silu", eps=eps)
        x = n.add("avgpool", "adaptive_avgpool2d", x, output_size=1)
        x = n.add("flatten", "flatten", x)
        x = n.add("classifier.0", "dropout", x, p=dropout, inplace=True)
        n.add("classifier.1", "linear", x, out_features=1000)
        return n.model()

    return build


# ---------------------------------------------------------------------------------------------
# mnasnet.py
# ---------------------------------------------------------------------------------------------


def mnasnet(alpha: float) -> Callable[[int], dict]:
    def round_to_multiple_of(val, divisor, round_up_bias=0.9):
        new_val = max(divisor, int(val + divisor / 2) // divisor * divisor)
        return new_val if new_val >= round_up_bias * val else new_val + divisor

    depths = [round_to_multiple_of(d * alpha, 8) for d in [32, 16, 24, 40, 80, 96, 192, 320]]

    def build(res: int) -> dict:
        n = Net(f"mnasnet{alpha}", res)
        x = conv(n, "layers.0", "x", depths[0], 3, stride=2, padding=1, bias=False)
        x = bn(n, "layers.1", x)
        x = act(n, "layers.2", x, "relu")
        x = conv(n, "layers.3", x, depths[0], 3, padding=1, groups=depths[0], bias=False)
        x = bn(n, "layers.4", x)
        x = act(n, "layers.5", x, "relu")
        x = conv(n, "layers.6", x, depths[1], 1, bias=False)
        x = bn(n, "layers.7", x)
        stacks = [(depths[1], depths[2], 3, 2, 3, 3), (depths[2], depths[3], 5, 2, 3, 3),
                  (depths[3], depths[4], 5, 2, 6, 3), (depths[4], depths[5], 3, 1, 6, 2),
                  (depths[5], depths[6], 5, 2, 6, 4), (depths[6], depths[7], 3, 1, 6, 1)]
        for si, (cin, cout, k, stride, exp, repeats) in enumerate(stacks, start=8):
            for r in range(repeats):
                i, s = (cin, stride) if r == 0 else (cout, 1)
                p = f"layers.{si}.{r}"
                mid = i * exp
                y = conv(n, f"{p}.0", x, mid, 1, bias=False)
                y = bn(n, f"{p}.1", y)
                y = act(n, f"{p}.2", y, "relu")
                y = conv(n, f"{p}.3", y, mid, k, stride=s, padding=k // 2, groups=mid, bias=False)
                y = bn(n, f"{p}.4", y)
                y = act(n, f"{p}.5", y, "relu")
                y = conv(n, f"{p}.6", y, cout, 1, bias=False)
                y = bn(n, f"{p}.7", y)
                if i == cout and s == 1:
                    y = n.add(f"{p}.add", "add", [y, x])
                x = y
        x = conv(n, "layers.14", x, 1280, 1, bias=False)
        x = bn(n, "layers.15", x)
        x = act(n, "layers.16", x, "relu")
        x = n.add("mean", "adaptive_avgpool2d", x, output_size=1)  # x.mean([2, 3])
        x = n.add("mean_flatten", "flatten", x)
        x = n.add("classifier.0", "dropout", x, p=0.2, inplace=True)
        n.add("classifier.1", "linear", x, out_features=1000)
        return n.model()

    return build


# ---------------------------------------------------------------------------------------------
# squeezenet.py
# ---------------------------------------------------------------------------------------------


def squeezenet(version: str) -> Callable[[int], dict]:
    def build(res: int) -> dict:
        n = Net(f"squeezenet{version}", res)

        def fire(name, x, squeeze, e1, e3):
            s = conv(n, f"{name}.squeeze", x, squeeze, 1)
            s = act(n, f"{name}.squeeze_activation", s, "relu")
            a = conv(n, f"{name}.expand1x1", s, e1, 1)
            a = act(n, f"{name}.expand1x1_activation", a, "relu")
            b = conv(n, f"{name}.expand3x3", s, e3, 3, padding=1)
            b = act(n, f"{name}.expand3x3_activation", b, "relu")
            return n.add(f"{name}.cat", "concat", [a, b])

        def pool(name, x):
            return n.add(name, "maxpool2d", x, kernel_size=3, stride=2, ceil_mode=True)

        if version == "1_0":
            x = conv(n, "features.0", "x", 96, 7, stride=2)
            x = act(n, "features.1", x, "relu")
            x = pool("features.2", x)
            x = fire("features.3", x, 16, 64, 64)
            x = fire("features.4", x, 16, 64, 64)
            x = fire("features.5", x, 32, 128, 128)
            x = pool("features.6", x)
            x = fire("features.7", x, 32, 128, 128)
            x = fire("features.8", x, 48, 192, 192)
            x = fire("features.9", x, 48, 192, 192)
            x = fire("features.10", x, 64, 256, 256)
            x = pool("features.11", x)
            x = fire("features.12", x, 64, 256, 256)
        else:
            x = conv(n, "features.0", "x", 64, 3, stride=2)
            x = act(n, "features.1", x, "relu")
            x = pool("features.2", x)
            x = fire("features.3", x, 16, 64, 64)
            x = fire("features.4", x, 16, 64, 64)
            x = pool("features.5", x)
            x = fire("features.6", x, 32, 128, 128)
            x = fire("features.7", x, 32, 128, 128)
            x = pool("features.8", x)
            x = fire("features.9", x, 48, 192, 192)
            x = fire("features.10", x, 48, 192, 192)
            x = fire("features.11", x, 64, 256, 256)
            x = fire("features.12", x, 64, 256, 256)
        x = n.add("classifier.0", "dropout", x, p=0.5)
        x = conv(n, "classifier.1", x, 1000, 1)
        x = act(n, "classifier.2", x, "relu")
        x = n.add("classifier.3", "adaptive_avgpool2d", x, output_size=[1, 1])
        n.add("flatten", "flatten", x)
        return n.model()

    return build


# ---------------------------------------------------------------------------------------------
# densenet.py
# ---------------------------------------------------------------------------------------------


def densenet(growth: int, block_config: tuple[int, ...], num_init: int, bn_size: int = 4) -> Callable[[int], dict]:
    def build(res: int) -> dict:
        n = Net(f"densenet_{growth}_{num_init}", res)
        x = conv(n, "features.conv0", "x", num_init, 7, stride=2, padding=3, bias=False)
        x = bn(n, "features.norm0", x)
        x = act(n, "features.relu0", x, "relu")
        x = n.add("features.pool0", "maxpool2d", x, kernel_size=3, stride=2, padding=1)
        features = num_init
        for bi, num_layers in enumerate(block_config, start=1):
            feats = [x]
            for li in range(1, num_layers + 1):
                p = f"features.denseblock{bi}.denselayer{li}"
                y = n.add(f"{p}.cat", "concat", list(feats), dim=1)
                y = bn(n, f"{p}.norm1", y)
                y = act(n, f"{p}.relu1", y, "relu")
                y = conv(n, f"{p}.conv1", y, bn_size * growth, 1, bias=False)
                y = bn(n, f"{p}.norm2", y)
                y = act(n, f"{p}.relu2", y, "relu")
                y = conv(n, f"{p}.conv2", y, growth, 3, padding=1, bias=False)
                feats.append(y)
            x = n.add(f"features.denseblock{bi}.cat", "concat", feats, dim=1)
            features += num_layers * growth
            if bi != len(block_config):
                p = f"features.transition{bi}"
                x = bn(n, f"{p}.norm", x)
                x = act(n, f"{p}.relu", x, "relu")
                x = conv(n, f"{p}.conv", x, features // 2, 1, bias=False)
                x = n.add(f"{p}.pool", "avgpool2d", x, kernel_size=2, stride=2)
                features //= 2
        x = bn(n, "features.norm5", x)
        x = act(n, "relu", x, "relu")
        x = n.add("avgpool", "adaptive_avgpool2d", x, output_size=[1, 1])
        x = n.add("flatten", "flatten", x)
        n.add("classifier", "linear", x, out_features=1000)
        return n.model()

    return build


# ---------------------------------------------------------------------------------------------
# shufflenetv2.py. x.chunk(2, dim=1) is a view: reshape (N, C, H, W) -> (N, 2, C/2, H, W) and
# select index 0 / 1 of dim 1 gives exactly the two halves.
# ---------------------------------------------------------------------------------------------


def shufflenet_v2(repeats: list[int], channels: list[int]) -> Callable[[int], dict]:
    def build(res: int) -> dict:
        n = Net(f"shufflenet_v2_{channels[1]}", res)
        size = lambda s, k, st, p: (s + 2 * p - k) // st + 1  # noqa: E731
        x = conv(n, "conv1.0", "x", channels[0], 3, stride=2, padding=1, bias=False)
        x = bn(n, "conv1.1", x)
        x = act(n, "conv1.2", x, "relu")
        x = n.add("maxpool", "maxpool2d", x, kernel_size=3, stride=2, padding=1)
        hw = size(size(res, 3, 2, 1), 3, 2, 1)
        cin = channels[0]
        for si, (reps, cout) in enumerate(zip(repeats, channels[1:4]), start=2):
            bf = cout // 2
            for bi in range(reps):
                p = f"stage{si}.{bi}"
                if bi == 0:  # stride 2: both branches see x
                    hw2 = size(hw, 3, 2, 1)
                    b1 = conv(n, f"{p}.branch1.0", x, cin, 3, stride=2, padding=1, groups=cin, bias=False)
                    b1 = bn(n, f"{p}.branch1.1", b1)
                    b1 = conv(n, f"{p}.branch1.2", b1, bf, 1, bias=False)
                    b1 = bn(n, f"{p}.branch1.3", b1)
                    b1 = act(n, f"{p}.branch1.4", b1, "relu")
                    b2_in, stride = x, 2
                else:  # stride 1: x1, x2 = x.chunk(2, dim=1)
                    hw2 = hw
                    halves = n.add(f"{p}.chunk", "reshape", x, shape=[2, cout // 2, hw, hw])
                    b1 = n.add(f"{p}.x1", "select", halves, dim=1, index=0)
                    b2_in = n.add(f"{p}.x2", "select", halves, dim=1, index=1)
                    stride = 1
                b2 = conv(n, f"{p}.branch2.0", b2_in, bf, 1, bias=False)
                b2 = bn(n, f"{p}.branch2.1", b2)
                b2 = act(n, f"{p}.branch2.2", b2, "relu")
                b2 = conv(n, f"{p}.branch2.3", b2, bf, 3, stride=stride, padding=1, groups=bf, bias=False)
                b2 = bn(n, f"{p}.branch2.4", b2)
                b2 = conv(n, f"{p}.branch2.5", b2, bf, 1, bias=False)
                b2 = bn(n, f"{p}.branch2.6", b2)
                b2 = act(n, f"{p}.branch2.7", b2, "relu")
                y = n.add(f"{p}.cat", "concat", [b1, b2], dim=1)
                x = n.add(f"{p}.shuffle", "channel_shuffle", y, groups=2)
                cin, hw = cout, hw2
        x = conv(n, "conv5.0", x, channels[4], 1, bias=False)
        x = bn(n, "conv5.1", x)
        x = act(n, "conv5.2", x, "relu")
        x = n.add("globalpool", "adaptive_avgpool2d", x, output_size=1)  # x.mean([2, 3])
        x = n.add("globalpool_flatten", "flatten", x)
        n.add("fc", "linear", x, out_features=1000)
        return n.model()

    return build


# ---------------------------------------------------------------------------------------------
# regnet.py
# ---------------------------------------------------------------------------------------------


def regnet_block_params(depth, w_0, w_a, w_m, group_width, bottleneck_multiplier=1.0, se_ratio=None):
    """BlockParams.from_init_params (torchvision computes it in float32 tensors; float64 here
    gives the same integers for every published configuration)."""
    QUANT = 8
    widths_cont = [i * w_a + w_0 for i in range(depth)]
    block_capacity = [round(math.log(w / w_0) / math.log(w_m)) for w in widths_cont]
    block_widths = [int(round(w_0 * math.pow(w_m, c) / QUANT) * QUANT) for c in block_capacity]
    num_stages = len(set(block_widths))
    split_helper = zip(block_widths + [0], [0] + block_widths, block_widths + [0], [0] + block_widths)
    splits = [w != wp or r != rp for w, wp, r, rp in split_helper]
    stage_widths = [w for w, t in zip(block_widths, splits[:-1]) if t]
    cuts = [d for d, t in enumerate(splits) if t]
    stage_depths = [b - a for a, b in zip(cuts, cuts[1:])]
    strides = [2] * num_stages
    bottleneck_multipliers = [bottleneck_multiplier] * num_stages
    group_widths = [group_width] * num_stages
    # _adjust_widths_groups_compatibilty
    widths = [int(w * b) for w, b in zip(stage_widths, bottleneck_multipliers)]
    group_widths_min = [min(g, w_bot) for g, w_bot in zip(group_widths, widths)]
    ws_bot = [make_divisible(w_bot, g) for w_bot, g in zip(widths, group_widths_min)]
    stage_widths = [int(w_bot / b) for w_bot, b in zip(ws_bot, bottleneck_multipliers)]
    return list(zip(stage_widths, strides, stage_depths, group_widths_min, bottleneck_multipliers)), se_ratio


def regnet(**init) -> Callable[[int], dict]:
    stages, se_ratio = regnet_block_params(**init)

    def build(res: int) -> dict:
        n = Net("regnet", res)
        x = conv_norm_act(n, "stem", "x", 32, 3, stride=2)
        width_in = 32
        for si, (width_out, stride, depth, group_width, bm) in enumerate(stages, start=1):
            for bi in range(depth):
                p = f"trunk_output.block{si}.block{si}-{bi}"
                w_in = width_in if bi == 0 else width_out
                s = stride if bi == 0 else 1
                w_b = int(round(width_out * bm))
                g = w_b // group_width
                y = conv_norm_act(n, f"{p}.f.a", x, w_b, 1)
                y = conv_norm_act(n, f"{p}.f.b", y, w_b, 3, stride=s, groups=g)
                if se_ratio:
                    y = squeeze_excitation(n, f"{p}.f.se", y, w_b, int(round(se_ratio * w_in)), "relu", "sigmoid")
                y = conv_norm_act(n, f"{p}.f.c", y, width_out, 1, activation=None)
                if w_in != width_out or s != 1:
                    sc = conv_norm_act(n, f"{p}.proj", x, width_out, 1, stride=s, activation=None)
                    y = n.add(f"{p}.add", "add", [sc, y])
                else:
                    y = n.add(f"{p}.add", "add", [x, y])
                x = act(n, f"{p}.activation", y, "relu")
            width_in = width_out
        x = n.add("avgpool", "adaptive_avgpool2d", x, output_size=[1, 1])
        x = n.add("flatten", "flatten", x)
        n.add("fc", "linear", x, out_features=1000)
        return n.model()

    return build


# ---------------------------------------------------------------------------------------------
# The table: torchvision model name -> builder(resolution) -> archsweep model dict
# ---------------------------------------------------------------------------------------------

MODELS: dict[str, Callable[[int], dict]] = {
    "alexnet": alexnet,
    "vgg11": vgg("A", False),
    "vgg11_bn": vgg("A", True),
    "vgg13": vgg("B", False),
    "vgg13_bn": vgg("B", True),
    "vgg16": vgg("D", False),
    "vgg16_bn": vgg("D", True),
    "vgg19": vgg("E", False),
    "vgg19_bn": vgg("E", True),
    "resnet18": resnet("basic", [2, 2, 2, 2]),
    "resnet34": resnet("basic", [3, 4, 6, 3]),
    "resnet50": resnet("bottleneck", [3, 4, 6, 3]),
    "resnet101": resnet("bottleneck", [3, 4, 23, 3]),
    "resnet152": resnet("bottleneck", [3, 8, 36, 3]),
    "resnext50_32x4d": resnet("bottleneck", [3, 4, 6, 3], groups=32, width_per_group=4),
    "resnext101_32x8d": resnet("bottleneck", [3, 4, 23, 3], groups=32, width_per_group=8),
    "resnext101_64x4d": resnet("bottleneck", [3, 4, 23, 3], groups=64, width_per_group=4),
    "wide_resnet50_2": resnet("bottleneck", [3, 4, 6, 3], width_per_group=128),
    "wide_resnet101_2": resnet("bottleneck", [3, 4, 23, 3], width_per_group=128),
    "googlenet": googlenet,
    "inception_v3": inception_v3,
    "vit_b_16": vit(16, 12, 12, 768, 3072),
    "vit_b_32": vit(32, 12, 12, 768, 3072),
    "vit_l_16": vit(16, 24, 16, 1024, 4096),
    "vit_l_32": vit(32, 24, 16, 1024, 4096),
    "vit_h_14": vit(14, 32, 16, 1280, 5120),
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v3_large": mobilenet_v3("large"),
    "mobilenet_v3_small": mobilenet_v3("small"),
    **{f"efficientnet_{a}": efficientnet(a) for a in ["b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "v2_s", "v2_m", "v2_l"]},
    "mnasnet0_5": mnasnet(0.5),
    "mnasnet0_75": mnasnet(0.75),
    "mnasnet1_0": mnasnet(1.0),
    "mnasnet1_3": mnasnet(1.3),
    "squeezenet1_0": squeezenet("1_0"),
    "squeezenet1_1": squeezenet("1_1"),
    "densenet121": densenet(32, (6, 12, 24, 16), 64),
    "densenet161": densenet(48, (6, 12, 36, 24), 96),
    "densenet169": densenet(32, (6, 12, 32, 32), 64),
    "densenet201": densenet(32, (6, 12, 48, 32), 64),
    "shufflenet_v2_x0_5": shufflenet_v2([4, 8, 4], [24, 48, 96, 192, 1024]),
    "shufflenet_v2_x1_0": shufflenet_v2([4, 8, 4], [24, 116, 232, 464, 1024]),
    "shufflenet_v2_x1_5": shufflenet_v2([4, 8, 4], [24, 176, 352, 704, 1024]),
    "shufflenet_v2_x2_0": shufflenet_v2([4, 8, 4], [24, 244, 488, 976, 2048]),
    "regnet_y_400mf": regnet(depth=16, w_0=48, w_a=27.89, w_m=2.09, group_width=8, se_ratio=0.25),
    "regnet_y_800mf": regnet(depth=14, w_0=56, w_a=38.84, w_m=2.4, group_width=16, se_ratio=0.25),
    "regnet_y_1_6gf": regnet(depth=27, w_0=48, w_a=20.71, w_m=2.65, group_width=24, se_ratio=0.25),
    "regnet_y_3_2gf": regnet(depth=21, w_0=80, w_a=42.63, w_m=2.66, group_width=24, se_ratio=0.25),
    "regnet_y_8gf": regnet(depth=17, w_0=192, w_a=76.82, w_m=2.19, group_width=56, se_ratio=0.25),
    "regnet_y_16gf": regnet(depth=18, w_0=200, w_a=106.23, w_m=2.48, group_width=112, se_ratio=0.25),
    "regnet_y_32gf": regnet(depth=20, w_0=232, w_a=115.89, w_m=2.53, group_width=232, se_ratio=0.25),
    "regnet_y_128gf": regnet(depth=27, w_0=456, w_a=160.83, w_m=2.52, group_width=264, se_ratio=0.25),
    "regnet_x_400mf": regnet(depth=22, w_0=24, w_a=24.48, w_m=2.54, group_width=16),
    "regnet_x_800mf": regnet(depth=16, w_0=56, w_a=35.73, w_m=2.28, group_width=16),
    "regnet_x_1_6gf": regnet(depth=18, w_0=80, w_a=34.01, w_m=2.25, group_width=24),
    "regnet_x_3_2gf": regnet(depth=25, w_0=88, w_a=26.31, w_m=2.25, group_width=48),
    "regnet_x_8gf": regnet(depth=23, w_0=80, w_a=49.56, w_m=2.88, group_width=120),
    "regnet_x_16gf": regnet(depth=22, w_0=216, w_a=55.59, w_m=2.1, group_width=128),
    "regnet_x_32gf": regnet(depth=23, w_0=320, w_a=69.86, w_m=2.0, group_width=168),
}

#: Models whose published MACs exclude part of the published parameters: the model keeps a
#: head that does not run in eval mode. name -> builder without that head (for MACs).
EVAL_GRAPH: dict[str, Callable[[int], dict]] = {
    "inception_v3": lambda res: inception_v3(res, aux_logits=False),
}

#: Rows of the reference file not described here, and why.
NOT_DESCRIBED = {
    "convnext_tiny": "CNBlock's layer_scale (a learned per-channel (C,1,1) multiplier) has no archsweep op",
    "convnext_small": "CNBlock's layer_scale has no archsweep op",
    "convnext_base": "CNBlock's layer_scale has no archsweep op",
    "convnext_large": "CNBlock's layer_scale has no archsweep op",
    "swin_t": "shifted-window attention (roll, window partition, relative-position bias table) has no archsweep op",
    "swin_s": "shifted-window attention has no archsweep op",
    "swin_b": "shifted-window attention has no archsweep op",
    "swin_v2_t": "shifted-window attention with continuous position bias MLP has no archsweep op",
    "swin_v2_s": "shifted-window attention with continuous position bias MLP has no archsweep op",
    "swin_v2_b": "shifted-window attention with continuous position bias MLP has no archsweep op",
    "maxvit_t": "block/grid attention with relative-position bias tables has no archsweep op",
}

#: Figures measured once on torchvision's own models (torch 2.15, torchvision 0.29, CPU):
#: `m = torchvision.models.<name>(...)` built on the meta device (regnets built on CPU, then
#: `.to("meta")`), eval mode, batch 1 at the reference resolution; googlenet with
#: aux_logits=False (as published), inception_v3 with aux_logits=True (as published; AuxLogits
#: does not run in eval), vit_* with image_size=<resolution>.
#:
#: TORCHVISION_BUFFERS: `sum(b.numel() for b in m.buffers())`. Every BatchNorm2d holds
#: running_mean C + running_var C + num_batches_tracked 1.
TORCHVISION_BUFFERS = {
    "alexnet": 0,
    "vgg11": 0,
    "vgg11_bn": 5512,
    "vgg13": 0,
    "vgg13_bn": 5898,
    "vgg16": 0,
    "vgg16_bn": 8461,
    "vgg19": 0,
    "vgg19_bn": 11024,
    "resnet18": 9620,
    "resnet34": 17060,
    "resnet50": 53173,
    "resnet101": 105448,
    "resnet152": 151579,
    "resnext50_32x4d": 68277,
    "resnext101_32x8d": 202984,
    "resnext101_64x4d": 202984,
    "wide_resnet50_2": 68277,
    "wide_resnet101_2": 137960,
    "googlenet": 14617,
    "inception_v3": 36320,
    "vit_b_16": 0,
    "vit_b_32": 0,
    "vit_l_16": 0,
    "vit_l_32": 0,
    "vit_h_14": 0,
    "mobilenet_v2": 34164,
    "mobilenet_v3_large": 24446,
    "mobilenet_v3_small": 12146,
    "efficientnet_b0": 42065,
    "efficientnet_b1": 62117,
    "efficientnet_b2": 67637,
    "efficientnet_b3": 87374,
    "efficientnet_b4": 125296,
    "efficientnet_b5": 172852,
    "efficientnet_b6": 224566,
    "efficientnet_b7": 310883,
    "efficientnet_v2_s": 153982,
    "efficientnet_v2_m": 292189,
    "efficientnet_v2_l": 512793,
    "mnasnet0_5": 20676,
    "mnasnet0_75": 29860,
    "mnasnet1_0": 37972,
    "mnasnet1_3": 48868,
    "squeezenet1_0": 0,
    "squeezenet1_1": 0,
    "densenet121": 83769,
    "densenet161": 220097,
    "densenet169": 158569,
    "densenet201": 229257,
    "shufflenet_v2_x0_5": 8008,
    "shufflenet_v2_x1_0": 16236,
    "shufflenet_v2_x1_5": 23496,
    "shufflenet_v2_x2_0": 33772,
    "regnet_y_400mf": 27205,
    "regnet_y_800mf": 30479,
    "regnet_y_1_6gf": 52758,
    "regnet_y_3_2gf": 66228,
    "regnet_y_8gf": 86584,
    "regnet_y_16gf": 122875,
    "regnet_y_32gf": 158353,
    "regnet_y_128gf": 415158,
    "regnet_x_400mf": 37927,
    "regnet_x_800mf": 37365,
    "regnet_x_1_6gf": 43563,
    "regnet_x_3_2gf": 62640,
    "regnet_x_8gf": 90538,
    "regnet_x_16gf": 111239,
    "regnet_x_32gf": 162090,
}

#: TORCHVISION_FLOPS: `FlopCounterMode(display=False)` around `m(torch.zeros(1, 3, res, res))`,
#: `get_total_flops()` — 2 x the MACs of convolutions, linear layers and attention matmuls,
#: bias excluded; the exact number behind the published (rounded) gmacs.
TORCHVISION_FLOPS = {
    "alexnet": 1428376960,
    "vgg11": 15218180096,
    "vgg11_bn": 15218180096,
    "vgg13": 22616932352,
    "vgg13_bn": 22616932352,
    "vgg16": 30940528640,
    "vgg16_bn": 30940528640,
    "vgg19": 39264124928,
    "vgg19_bn": 39264124928,
    "resnet18": 3628146688,
    "resnet34": 7327522816,
    "resnet50": 8178368512,
    "resnet101": 15602810880,
    "resnet152": 23027253248,
    "resnext50_32x4d": 8460959744,
    "resnext101_32x8d": 32828030976,
    "resnext101_64x4d": 30920540160,
    "wide_resnet50_2": 22796042240,
    "wide_resnet101_2": 45506101248,
    "googlenet": 2996752384,
    "inception_v3": 11426432192,
    "vit_b_16": 35127656448,
    "vit_b_32": 8818372608,
    "vit_l_16": 123109425152,
    "vit_l_32": 30755078144,
    "vit_h_14": 2033433528320,
    "mobilenet_v2": 601548544,
    "mobilenet_v3_large": 433179520,
    "mobilenet_v3_small": 113020800,
    "efficientnet_b0": 771629504,
    "efficientnet_b1": 1373605664,
    "efficientnet_b2": 2175058912,
    "efficientnet_b3": 3654282784,
    "efficientnet_b4": 8787542048,
    "efficientnet_b5": 20532769504,
    "efficientnet_b6": 38135187072,
    "efficientnet_b7": 75491768384,
    "efficientnet_v2_s": 16731234304,
    "efficientnet_v2_m": 49164920768,
    "efficientnet_v2_l": 112159398016,
    "mnasnet0_5": 208911936,
    "mnasnet0_75": 430986208,
    "mnasnet1_0": 628831744,
    "mnasnet1_3": 1052724864,
    "squeezenet1_0": 1637849152,
    "squeezenet1_1": 698303872,
    "densenet121": 5668323328,
    "densenet161": 15455814144,
    "densenet169": 6719686656,
    "densenet201": 8582731776,
    "shufflenet_v2_x0_5": 80952896,
    "shufflenet_v2_x1_0": 289815984,
    "shufflenet_v2_x1_5": 591518784,
    "shufflenet_v2_x2_0": 1166506928,
    "regnet_y_400mf": 803685696,
    "regnet_y_800mf": 1667712512,
    "regnet_y_1_6gf": 3224152320,
    "regnet_y_3_2gf": 6352965504,
    "regnet_y_8gf": 16946141184,
    "regnet_y_16gf": 31823020544,
    "regnet_y_32gf": 64559105664,
    "regnet_y_128gf": 749140012800,
    "regnet_x_400mf": 827625216,
    "regnet_x_800mf": 1599399424,
    "regnet_x_1_6gf": 3205699584,
    "regnet_x_3_2gf": 6353243904,
    "regnet_x_8gf": 15990264832,
    "regnet_x_16gf": 31881510912,
    "regnet_x_32gf": 63471859584,
}


#: Eval resolution of the published weights where it is not 224 (the reference file's
#: `resolution` column; `test_resolutions_match_reference` keeps the two in step). Known here so
#: that the torch-measured checks run without the reference file.
RESOLUTION = {
    "inception_v3": 299,
    "vit_h_14": 518,
    "efficientnet_b1": 240,
    "efficientnet_b2": 288,
    "efficientnet_b3": 300,
    "efficientnet_b4": 380,
    "efficientnet_b5": 456,
    "efficientnet_b6": 528,
    "efficientnet_b7": 600,
    "efficientnet_v2_s": 384,
    "efficientnet_v2_m": 480,
    "efficientnet_v2_l": 480,
    "regnet_y_128gf": 384,
}


def resolution(name: str) -> int:
    return RESOLUTION.get(name, 224)


def analyze(name: str, graph: Callable[[int], dict] | None = None):
    res = resolution(name)
    return archsweep.analyze((graph or MODELS[name])(res), input_shape=(3, res, res))


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------

XFAIL: dict[str, str] = {}


def _marks(name):
    if name in XFAIL:
        return [pytest.mark.xfail(strict=True, reason=XFAIL[name])]
    return []


@pytest.mark.parametrize("name", [pytest.param(m, marks=_marks(m)) for m in MODELS])
def test_params_exact(name):
    ref = reference()
    assert name in ref, f"{name} is described here but not in the reference file"
    r = analyze(name)
    assert r.totals["params"] == ref[name]["num_params"]
    assert r.totals["trainable_params"] == ref[name]["num_params"]


@pytest.mark.parametrize("name", [pytest.param(m, marks=_marks(m)) for m in MODELS])
def test_gmacs_published(name):
    ref = reference()
    assert name in ref, f"{name} is described here but not in the reference file"
    r = analyze(name, EVAL_GRAPH.get(name))
    macs = r.totals["macs"]
    assert round(macs / 1e9, 3) == ref[name]["gmacs"], f"{name}: {macs:,} MACs"
    assert r.totals["flops"] == 2 * macs


@pytest.mark.parametrize("name", [pytest.param(m, marks=_marks(m)) for m in TORCHVISION_FLOPS])
def test_flops_exact_vs_torch_flop_counter(name):
    """Stronger than the rounded gmacs: the exact count torch's flop counter gives."""
    r = analyze(name, EVAL_GRAPH.get(name))
    assert r.totals["flops"] == TORCHVISION_FLOPS[name]


@pytest.mark.parametrize("name", [pytest.param(m, marks=_marks(m)) for m in TORCHVISION_BUFFERS])
def test_batchnorm_buffers(name):
    r = analyze(name)
    # independently of torch: every BatchNorm2d holds 2C + 1 buffer elements
    bn_layers = r.layers.filter(r.layers["op"] == "batchnorm2d")
    expected = sum(2 * shape[1] + 1 for shape in bn_layers["output_shape"].to_list())
    assert r.totals["buffers"] == expected == TORCHVISION_BUFFERS[name]
    # running stats are fp32, num_batches_tracked int64
    assert r.totals["buffer_bytes"] == 4 * (expected - len(bn_layers)) + 8 * len(bn_layers)
    # buffers are not parameters
    assert r.totals["params"] == r.totals["weight_params"] + r.totals["bias_params"]


def test_resolutions_match_reference():
    ref = reference()
    assert {m: resolution(m) for m in MODELS if m in ref} == {m: ref[m]["resolution"] for m in MODELS if m in ref}


def test_every_reference_row_is_described_or_explained():
    ref = reference()
    missing = sorted(set(ref) - set(MODELS) - set(NOT_DESCRIBED))
    assert not missing, f"reference models neither described nor listed in NOT_DESCRIBED: {missing}"


def _shape(r, layer):
    row = r.layers.filter(r.layers["name"] == layer)
    assert row.height == 1, layer
    return tuple(row["output_shape"][0])


def test_structure_spot_checks():
    """A few intermediate shapes torchvision's source comments state."""
    r = archsweep.analyze(MODELS["resnet50"](224))
    assert _shape(r, "maxpool") == (1, 64, 56, 56)
    assert _shape(r, "layer2.0.conv1") == (1, 128, 56, 56)  # v1.5: the 1x1 keeps stride 1 ...
    assert _shape(r, "layer2.0.conv2") == (1, 128, 28, 28)  # ... and the 3x3 strides
    assert _shape(r, "layer4.2.relu") == (1, 2048, 7, 7)
    r = archsweep.analyze(MODELS["googlenet"](224))
    assert _shape(r, "maxpool1") == (1, 64, 56, 56)  # ceil_mode: 112 -> 56, not 55
    assert _shape(r, "maxpool2") == (1, 192, 28, 28)
    assert _shape(r, "inception3b.cat") == (1, 480, 28, 28)
    assert _shape(r, "maxpool4") == (1, 832, 7, 7)
    assert _shape(r, "inception5b.cat") == (1, 1024, 7, 7)
    r = archsweep.analyze(MODELS["vit_b_16"](224))
    assert _shape(r, "permute") == (1, 196, 768)
    assert _shape(r, "class_token") == (1, 197, 768)
    assert _shape(r, "class_select") == (1, 768)
    r = archsweep.analyze(MODELS["vit_h_14"](518))
    assert _shape(r, "encoder.pos_embedding") == (1, 1370, 1280)
    r = archsweep.analyze(inception_v3(299))
    assert _shape(r, "Mixed_6e.cat") == (1, 768, 17, 17)
    assert _shape(r, "Mixed_7c.cat") == (1, 2048, 8, 8)
    r = archsweep.analyze(MODELS["densenet121"](224))
    assert _shape(r, "features.denseblock4.cat") == (1, 1024, 7, 7)
