"""Each archsweep op as PyTorch source: the module its layer builds in ``__init__`` and the
expression its forward evaluates. Pure text: nothing here imports torch.

An emitter gets the layer's attributes (nulls dropped: a null attribute is not given, as in the
core) and its input shapes (batch included) and returns an :class:`Emitted`. Emitters pass the
attributes on as written, never checking them: torch's constructors and functions refuse what
torch refuses (the cross-check relies on it), and a model archsweep accepts is one torch runs.

``COUNTERPARTS`` names each op's torch counterpart (what ``tests/torch_counterparts.py`` and the
cross-check read); ``tests/test_op_coverage.py`` asks for an emitter for every op of
``archsweep.ops()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from archsweep._core import ArchsweepError

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Emitted:
    """One layer as source.

    ``init``: the expression that builds the layer's module or parameter in ``__init__`` (None:
    the layer holds nothing, its forward is a plain expression). ``call``: the forward expression,
    a ``str.format`` template where ``{m}`` is the module (``self.stage1.conv1``) and ``{0}``,
    ``{1}``, ... the input tensors (``{xs}``: all of them, comma-separated). ``helpers``: names of
    the classes of :mod:`archsweep.pytorch.helpers` the source needs; ``functional``: whether it
    uses ``F`` (torch.nn.functional); ``parameter``: ``init`` builds an ``nn.Parameter``, not a
    module."""

    init: str | None
    call: str
    helpers: tuple[str, ...] = ()
    functional: bool = False
    parameter: bool = False


class Attrs:
    """A layer's attributes; like the core's, every read marks its key, and :meth:`finish`
    refuses keys no emitter read (an attribute the export would silently drop)."""

    def __init__(self, op: str, attrs: dict[str, Any]):
        self.op = op
        self.values = {k: v for k, v in attrs.items() if v is not None}
        self.used: set[str] = set()

    def has(self, key: str) -> bool:
        self.used.add(key)
        return key in self.values

    def get(self, key: str, default: Any = None) -> Any:
        self.used.add(key)
        return self.values.get(key, default)

    def require(self, key: str) -> Any:
        self.used.add(key)
        if key not in self.values:
            raise ArchsweepError(f"{self.op}: missing attribute '{key}'")
        return self.values[key]

    def finish(self) -> None:
        unknown = sorted(set(self.values) - self.used)
        if unknown:
            raise ArchsweepError(f"the PyTorch export does not know attribute(s) {', '.join(unknown)} of op {self.op}")


def integral(v: Any) -> Any:
    """Integers as the core reads them: 3.0 is 3 (lists element-wise)."""
    if isinstance(v, list):
        return [integral(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def lit(v: Any) -> str:
    """A Python literal for an attribute value; lists become tuples."""
    if isinstance(v, (list, tuple)):
        items = [lit(x) for x in v]
        return f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    if isinstance(v, float):
        return repr(v) if v == v and v not in (float("inf"), float("-inf")) else f'float("{v}")'
    if isinstance(v, str):
        return quoted(v)
    return repr(v)


def quoted(text: str) -> str:
    """A string literal in double quotes."""
    r = repr(text)
    if r.startswith('"'):
        return r
    return '"' + r[1:-1].replace('"', '\\"').replace("\\'", "'") + '"'


def call(fn: str, *args: Any, **kwargs: Any) -> str:
    """``fn(args, key=value)``: args as literals, keyword arguments in the order given."""
    parts = [lit(a) for a in args] + [f"{k}={lit(v)}" for k, v in kwargs.items()]
    return f"{fn}({', '.join(parts)})"


def given(a: Attrs, *keys: str, ints: Sequence[str] = ()) -> dict[str, Any]:
    """The keyword arguments among ``keys`` the layer gives (integral ones as ints)."""
    out = {}
    for k in keys:
        if a.has(k):
            out[k] = integral(a.get(k)) if k in ints else a.get(k)
    return out


MODULE = "{m}({0})"

Emitter = Callable[[Attrs, Sequence[Shape]], Emitted]


def conv(d: int, transposed: bool) -> Emitter:
    cls = f"nn.ConvTranspose{d}d" if transposed else f"nn.Conv{d}d"

    def emit(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
        c_in = shapes[0][1]
        a.get("in_channels")  # a check of the core's, the input's channels are the truth
        groups = a.get("groups", 1)
        kw: dict[str, Any] = {}
        keys = ("stride", "padding", "output_padding", "dilation") if transposed else ("stride", "padding", "dilation")
        kw.update(given(a, *keys, ints=keys))
        if groups != 1:
            kw["groups"] = c_in if groups == "depthwise" else integral(groups)
        kw.update(given(a, "bias", "padding_mode"))
        k = integral(a.require("kernel_size"))
        return Emitted(call(cls, c_in, integral(a.require("out_channels")), kernel_size=k, **kw), MODULE)

    return emit


def linear(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    a.get("in_features")
    return Emitted(call("nn.Linear", shapes[0][-1], integral(a.require("out_features")), **given(a, "bias")), MODULE)


def batchnorm(d: int) -> Emitter:
    def emit(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
        a.get("num_features")
        kw = given(a, "eps", "momentum", "affine", "track_running_stats", "bias")
        return Emitted(call(f"nn.BatchNorm{d}d", shapes[0][1], **kw), MODULE)

    return emit


def instancenorm(d: int | None) -> Emitter:
    def emit(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
        a.get("num_features")
        dims = d if d is not None else len(shapes[0]) - 2  # `instancenorm`: by the input's rank
        kw = given(a, "eps", "momentum", "affine", "track_running_stats", "bias")
        return Emitted(call(f"nn.InstanceNorm{dims}d", shapes[0][1], **kw), MODULE)

    return emit


def layernorm(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    ns = integral(a.get("normalized_shape", shapes[0][-1]))
    return Emitted(call("nn.LayerNorm", ns, **given(a, "eps", "elementwise_affine", "bias")), MODULE)


def groupnorm(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    a.get("num_channels")
    kw = given(a, "eps", "affine", "bias")
    return Emitted(call("nn.GroupNorm", integral(a.require("num_groups")), shapes[0][1], **kw), MODULE)


def layer_scale(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    # a learned per-channel scale along `dim` (ConvNeXt's (C, 1, 1) `layer_scale`, a (C,) gamma
    # channels-last), initialised to `init` (1.0 when not given)
    rank = len(shapes[0])
    dim = integral(a.get("dim", -1))
    d = dim + rank if dim < 0 else dim
    shape = (shapes[0][d],) + (1,) * (rank - 1 - d)
    init = float(a.get("init", 1.0))
    return Emitted(f"nn.Parameter(torch.full({lit(shape)}, {lit(init)}))", "{0} * {m}", parameter=True)


ACTIVATIONS = {
    "relu": ("nn.ReLU", ("inplace",)),
    "relu6": ("nn.ReLU6", ("inplace",)),
    "leaky_relu": ("nn.LeakyReLU", ("negative_slope", "inplace")),
    "elu": ("nn.ELU", ("alpha", "inplace")),
    "gelu": ("nn.GELU", ("approximate",)),
    "silu": ("nn.SiLU", ("inplace",)),
    "mish": ("nn.Mish", ("inplace",)),
    "hardswish": ("nn.Hardswish", ("inplace",)),
    "hardsigmoid": ("nn.Hardsigmoid", ("inplace",)),
    "sigmoid": ("nn.Sigmoid", ()),
    "tanh": ("nn.Tanh", ()),
}


def activation(op: str) -> Emitter:
    cls, keys = ACTIVATIONS[op]

    def emit(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
        return Emitted(call(cls, **given(a, *keys)), MODULE)

    return emit


def softmax(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    return Emitted(call("nn.Softmax", dim=integral(a.get("dim", -1))), MODULE)


def dropout(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    return Emitted(call("nn.Dropout", **given(a, "p", "inplace")), MODULE)


def identity(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    return Emitted("nn.Identity()", MODULE)


def stochastic_depth(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    return Emitted(call("StochasticDepth", a.require("p"), **given(a, "mode")), MODULE, helpers=("StochasticDepth",))


def zeros(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    return Emitted(None, "torch.zeros_like({0})")


def maxpool(d: int) -> Emitter:
    def emit(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
        a.get("return_indices")  # the core refuses true
        keys = ("stride", "padding", "dilation")
        kw = {**given(a, *keys, ints=keys), **given(a, "ceil_mode")}
        return Emitted(call(f"nn.MaxPool{d}d", kernel_size=integral(a.require("kernel_size")), **kw), MODULE)

    return emit


def avgpool(d: int) -> Emitter:
    def emit(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
        keys = ("stride", "padding")
        kw = {**given(a, *keys, ints=keys), **given(a, "ceil_mode", "count_include_pad"),
              **given(a, "divisor_override", ints=("divisor_override",))}
        k = integral(a.require("kernel_size"))
        if d == 1 and "divisor_override" in kw:
            # AvgPool1d has no divisor_override: the same pool in 2-d over a height of 1
            def one(v: Any) -> Any:
                return v[0] if isinstance(v, list) else v

            kw2 = {key: (0 if key == "padding" else 1, one(v)) if key in keys else v for key, v in kw.items()}
            kw2 = {"stride": (1, one(k)), **kw2}  # torch's default stride is the kernel: (1, k)
            fn = call("F.avg_pool2d", (1, one(k)), **kw2).replace("F.avg_pool2d(", "F.avg_pool2d({0}.unsqueeze(-2), ", 1)
            return Emitted(None, fn + ".squeeze(-2)", functional=True)
        return Emitted(call(f"nn.AvgPool{d}d", kernel_size=k, **kw), MODULE)

    return emit


def adaptive(kind: str, d: int) -> Emitter:
    cls = f"nn.Adaptive{'Avg' if kind == 'avg' else 'Max'}Pool{d}d"

    def emit(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
        a.get("return_indices")
        return Emitted(call(cls, integral(a.require("output_size"))), MODULE)

    return emit


def flatten(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    start, end = integral(a.get("start_dim", 1)), integral(a.get("end_dim", -1))
    return Emitted(None, f"{{0}}.flatten({start})" if end == -1 else f"{{0}}.flatten({start}, {end})")


def reshape(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    dims = ", ".join(str(v) for v in integral(a.require("shape")))
    return Emitted(None, f"{{0}}.reshape({{0}}.shape[0], {dims})")


def permute(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    return Emitted(None, f"{{0}}.permute({', '.join(str(v) for v in integral(a.require('dims')))})")


def transpose(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    return Emitted(None, f"{{0}}.transpose({integral(a.require('dim0'))}, {integral(a.require('dim1'))})")


def select(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    return Emitted(None, f"{{0}}.select({integral(a.require('dim'))}, {integral(a.get('index', 0))})")


def chunk(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    chunks, dim, index = integral(a.require("chunks")), integral(a.get("dim", 1)), integral(a.get("index", 0))
    return Emitted(None, f"{{0}}.chunk({chunks}, dim={dim})[{index}]")


def split(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    size, dim, index = integral(a.require("split_size")), integral(a.get("dim", 1)), integral(a.get("index", 0))
    return Emitted(None, f"{{0}}.split({size!r}, dim={dim})[{index}]")


def slice_(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    """``x[:, start:end:step]``: Python's slice of the dim, whose clamping torch follows."""
    dim = integral(a.get("dim", 1))
    start, end, step = integral(a.get("start", 0)), integral(a.get("end")), integral(a.get("step", 1))
    piece = f"{start or ''}:{'' if end is None else end}" + ("" if step == 1 else f":{step}")
    index = ", ".join([":"] * dim + [piece]) if dim >= 0 else ", ".join(["...", piece] + [":"] * (-dim - 1))
    return Emitted(None, f"{{0}}[{index}]")


def pad(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    a.get("mode")  # the core accepts "constant" only
    amounts = ", ".join(str(v) for v in integral(a.require("pad")))
    value = a.get("value", 0)
    return Emitted(None, f"F.pad({{0}}, ({amounts}){'' if value == 0 else ', value=' + lit(float(value))})", functional=True)


def mul_scalar(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    """``x * c``; in place ``x.mul_(c)`` (the result is ``x``'s storage, as archsweep counts it)."""
    if a.get("inplace", False):
        return Emitted(None, f"{{0}}.mul_({lit(a.require('other'))})")
    return Emitted(None, f"{{0}} * {lit(a.require('other'))}")


def elementwise(sign: str) -> Emitter:
    def emit(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
        return Emitted(None, f" {sign} ".join(f"{{{i}}}" for i in range(len(shapes))))

    return emit


def concat(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    return Emitted(None, f"torch.cat([{{xs}}], dim={integral(a.get('dim', 1))})")


def channel_shuffle(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    return Emitted(call("nn.ChannelShuffle", integral(a.require("groups"))), MODULE)


def upsample(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    kw: dict[str, Any] = {}
    if a.has("size"):
        kw["size"] = integral(a.get("size"))
    if a.has("scale_factor"):
        s = a.get("scale_factor")
        kw["scale_factor"] = [float(v) for v in s] if isinstance(s, list) else float(s)
    kw.update(given(a, "mode", "align_corners"))
    return Emitted(call("nn.Upsample", **kw), MODULE)


def multihead_attention(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    a.get("batch_first")  # the core refuses false
    kw = {**given(a, "dropout", "bias"), **given(a, "kdim", "vdim", ints=("kdim", "vdim")), "batch_first": True}
    init = call("nn.MultiheadAttention", integral(a.require("embed_dim")), integral(a.require("num_heads")), **kw)
    # [0]: the attention output (need_weights' averaged weights are [1]); with weights asked
    # for, torch takes its explicit path, whose matmuls FlopCounterMode counts
    return Emitted(init, "{m}({0}, {0}, {0})[0]" if len(shapes) == 1 else "{m}({0}, {1}, {2})[0]")


def window_attention(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    keys = ("window_size", "shift_size", "cpb_hidden", "version")
    kw = {**given(a, *keys, ints=keys), **given(a, "qkv_bias", "proj_bias", "attention_dropout", "dropout")}
    for key in ("window_size", "shift_size"):
        if key in kw and not isinstance(kw[key], list):
            kw[key] = [kw[key], kw[key]]
    init = call("ShiftedWindowAttention", shapes[0][-1], integral(a.require("num_heads")), **kw)
    return Emitted(init, MODULE, helpers=("ShiftedWindowAttention",), functional=True)


def embedding(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    kw = given(a, "padding_idx", ints=("padding_idx",))
    return Emitted(call("nn.Embedding", integral(a.require("num_embeddings")), integral(a.require("embedding_dim")), **kw), MODULE)


def positional_embedding(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    # ViT's pos_embedding: a learned tensor of the sample's shape (torchvision: normal, std 0.02)
    return Emitted(f"nn.Parameter(torch.empty({lit((1, *shapes[0][1:]))}).normal_(std=0.02))", "{0} + {m}", parameter=True)


def class_token(a: Attrs, shapes: Sequence[Shape]) -> Emitted:
    # ViT's class_token: a learned (1, 1, E) token put in front of the sequence
    return Emitted(f"nn.Parameter(torch.zeros(1, 1, {shapes[0][-1]}))",
                   "torch.cat([{m}.expand({0}.shape[0], -1, -1), {0}], dim=1)", parameter=True)


EMITTERS: dict[str, Emitter] = {
    **{f"conv{d}d": conv(d, False) for d in (1, 2, 3)},
    **{f"conv_transpose{d}d": conv(d, True) for d in (1, 2, 3)},
    "linear": linear,
    **{f"batchnorm{d}d": batchnorm(d) for d in (1, 2, 3)},
    "layernorm": layernorm,
    "layer_scale": layer_scale,
    "groupnorm": groupnorm,
    **{f"instancenorm{d}d": instancenorm(d) for d in (1, 2, 3)},
    "instancenorm": instancenorm(None),
    **{op: activation(op) for op in ACTIVATIONS},
    "softmax": softmax,
    "dropout": dropout,
    "identity": identity,
    "stochastic_depth": stochastic_depth,
    "zeros": zeros,
    **{f"maxpool{d}d": maxpool(d) for d in (1, 2, 3)},
    **{f"avgpool{d}d": avgpool(d) for d in (1, 2, 3)},
    **{f"adaptive_{kind}pool{d}d": adaptive(kind, d) for kind in ("avg", "max") for d in (1, 2, 3)},
    "flatten": flatten,
    "reshape": reshape,
    "permute": permute,
    "transpose": transpose,
    "select": select,
    "chunk": chunk,
    "split": split,
    "slice": slice_,
    "pad": pad,
    "mul_scalar": mul_scalar,
    "add": elementwise("+"),
    "mul": elementwise("*"),
    "concat": concat,
    "channel_shuffle": channel_shuffle,
    "upsample": upsample,
    "multihead_attention": multihead_attention,
    "window_attention": window_attention,
    "embedding": embedding,
    "positional_embedding": positional_embedding,
    "class_token": class_token,
}


def _counterparts() -> dict[str, str]:
    out: dict[str, str] = {}
    for d in (1, 2, 3):
        out[f"conv{d}d"] = f"torch.nn.Conv{d}d"
        out[f"conv_transpose{d}d"] = f"torch.nn.ConvTranspose{d}d"
        out[f"batchnorm{d}d"] = f"torch.nn.BatchNorm{d}d"
        out[f"instancenorm{d}d"] = f"torch.nn.InstanceNorm{d}d"
        out[f"maxpool{d}d"] = f"torch.nn.MaxPool{d}d"
        out[f"avgpool{d}d"] = f"torch.nn.AvgPool{d}d"  # avgpool1d with divisor_override: F.avg_pool2d
        for kind in ("Avg", "Max"):
            out[f"adaptive_{kind.lower()}pool{d}d"] = f"torch.nn.Adaptive{kind}Pool{d}d"
    out.update({op: "torch." + cls for op, (cls, _) in ACTIVATIONS.items()})
    out.update({
        "linear": "torch.nn.Linear",
        "layernorm": "torch.nn.LayerNorm",
        "layer_scale": "torch.nn.Parameter",  # x * gamma, gamma a learned parameter
        "groupnorm": "torch.nn.GroupNorm",
        "instancenorm": "torch.nn.InstanceNorm2d",  # InstanceNorm{1,2,3}d by the input's rank
        "softmax": "torch.nn.Softmax",
        "dropout": "torch.nn.Dropout",
        "identity": "torch.nn.Identity",
        # torchvision's StochasticDepth written out (pytorch/helpers.py): its keep-mask draw
        "stochastic_depth": "torch.Tensor.bernoulli_",
        "zeros": "torch.zeros_like",  # NAS-Bench-201's `none` edge
        "flatten": "torch.Tensor.flatten",
        "reshape": "torch.Tensor.reshape",
        "permute": "torch.Tensor.permute",
        "transpose": "torch.Tensor.transpose",
        "select": "torch.Tensor.select",
        "chunk": "torch.Tensor.chunk",  # x.chunk(chunks, dim)[index]
        "split": "torch.Tensor.split",  # x.split(split_size, dim)[index]
        "slice": "torch.Tensor.__getitem__",  # x[:, start:end:step]
        "pad": "torch.nn.functional.pad",  # F.pad(x, pad, value=value)
        "mul_scalar": "torch.mul",  # x * other
        "add": "torch.add",
        "mul": "torch.mul",
        "concat": "torch.cat",
        "channel_shuffle": "torch.nn.ChannelShuffle",
        "upsample": "torch.nn.Upsample",
        "multihead_attention": "torch.nn.MultiheadAttention",
        # torchvision's ShiftedWindowAttention(V2) written out in the exported file (pytorch/helpers.py)
        "window_attention": "torch.nn.functional.linear",
        "embedding": "torch.nn.Embedding",
        "positional_embedding": "torch.nn.Parameter",  # added
        "class_token": "torch.nn.Parameter",  # concatenated in front
    })
    return out


#: op -> the torch module or function its export uses (a dotted name under ``torch``).
COUNTERPARTS: dict[str, str] = _counterparts()


def emit(op: str, attrs: dict[str, Any], shapes: Sequence[Shape]) -> Emitted:
    """The source of one layer of op ``op`` with ``attrs`` (graph keys excluded) on inputs of
    ``shapes`` (batch included)."""
    if op not in EMITTERS:
        raise ArchsweepError(f"the PyTorch export has no counterpart for op {op}")
    a = Attrs(op, attrs)
    out = EMITTERS[op](a, [tuple(s) for s in shapes])
    a.finish()
    return out


__all__ = ["COUNTERPARTS", "EMITTERS", "Emitted", "emit"]
