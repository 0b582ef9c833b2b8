"""PyTorch in: ``from_torch(module, input_shape)`` -> an archsweep :class:`Model`.

The module is traced by ``torch.fx`` (in eval mode; its mode is restored) and run once on a fake
input (``FakeTensorMode``: no memory, no compute; the module's weights may live on the meta
device) to learn every value's shape. Each node then becomes archsweep layers: leaf modules
(``torch.nn`` layers, and torchvision's Swin and MaxViT attention) by their attributes, torch
functions and tensor methods by their arguments; shape arithmetic (``x.shape``, ``torch._assert``)
becomes nothing, and reshapes take the shape the fake run gave.

The result is checked before it is returned: archsweep's parameters and buffers of the model
must equal the numels of the tensors the traced forward uses, and its FLOPs the total torch's
``FlopCounterMode`` counted in the fake run; anything the conversion cannot express exactly is an
``ArchsweepError`` naming the node, never a silently different model.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from archsweep._core import ArchsweepError
from archsweep.model import Model

Layer = dict[str, Any]


class FromTorchError(ArchsweepError):
    """A module ``from_torch`` cannot express exactly (the message names the node)."""


def _tuple(v: Any) -> list[int] | int:
    return list(v) if isinstance(v, (tuple, list)) else v


# ---------------------------------------------------------------------------------------------
# Leaf modules: class name -> layers
# ---------------------------------------------------------------------------------------------


def _conv(m: Any, transposed: bool) -> dict[str, Any]:
    a: dict[str, Any] = {"out_channels": m.out_channels, "kernel_size": _tuple(m.kernel_size)}
    if tuple(m.stride) != (1,) * len(m.stride):
        a["stride"] = _tuple(m.stride)
    padding = m.padding if isinstance(m.padding, str) else _tuple(m.padding)
    if padding not in (0, [0] * len(m.kernel_size), "valid") or isinstance(padding, str):
        a["padding"] = padding
    if transposed and any(m.output_padding):
        a["output_padding"] = _tuple(m.output_padding)
    if any(d != 1 for d in m.dilation):
        a["dilation"] = _tuple(m.dilation)
    if m.groups != 1:
        a["groups"] = m.groups
    if m.bias is None:
        a["bias"] = False
    if m.padding_mode != "zeros":
        a["padding_mode"] = m.padding_mode
    return a


def _norm(m: Any, keys: Sequence[str]) -> dict[str, Any]:
    a: dict[str, Any] = {}
    for k in keys:
        v = getattr(m, k)
        if k == "momentum" and v is None:
            raise FromTorchError("momentum=None (a cumulative average) has no archsweep attribute")
        a[k] = v
    if getattr(m, "weight", None) is not None and getattr(m, "bias", None) is None:
        a["bias"] = False
    return a


_ACTIVATION_KEYS = {
    "ReLU": ("relu", ("inplace",)), "ReLU6": ("relu6", ("inplace",)), "LeakyReLU": ("leaky_relu", ("negative_slope", "inplace")),
    "ELU": ("elu", ("alpha", "inplace")), "GELU": ("gelu", ("approximate",)), "SiLU": ("silu", ("inplace",)),
    "Mish": ("mish", ("inplace",)), "Hardswish": ("hardswish", ("inplace",)), "Hardsigmoid": ("hardsigmoid", ("inplace",)),
    "Sigmoid": ("sigmoid", ()), "Tanh": ("tanh", ()),
}


def _module_layers(m: Any, shapes: list[tuple[int, ...]]) -> list[tuple[Any, ...]]:
    """The archsweep (op, attrs) list of a leaf module; the first reads the module's inputs,
    each next one the previous."""
    cls = type(m).__name__
    if cls in ("Conv1d", "Conv2d", "Conv3d"):
        return [(f"conv{cls[4]}d", _conv(m, False))]
    if cls in ("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"):
        return [(f"conv_transpose{cls[13]}d", _conv(m, True))]
    if cls == "Linear":
        return [("linear", {"out_features": m.out_features, **({"bias": False} if m.bias is None else {})})]
    if cls in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d"):
        return [(f"batchnorm{cls[9]}d", _norm(m, ("eps", "momentum", "affine", "track_running_stats")))]
    if cls in ("InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"):
        return [(f"instancenorm{cls[12]}d", _norm(m, ("eps", "momentum", "affine", "track_running_stats")))]
    if cls == "LayerNorm":
        return [("layernorm", {"normalized_shape": list(m.normalized_shape), **_norm(m, ("eps", "elementwise_affine"))})]
    if cls == "GroupNorm":
        return [("groupnorm", {"num_groups": m.num_groups, **_norm(m, ("eps", "affine"))})]
    if cls == "GELUTanh" and type(m).__module__.startswith("timm."):
        return [("gelu", {"approximate": "tanh"})]
    if cls in _ACTIVATION_KEYS:
        op, keys = _ACTIVATION_KEYS[cls]
        return [(op, {k: getattr(m, k) for k in keys})]
    if cls == "Softmax":
        return [("softmax", {"dim": m.dim if m.dim is not None else -1})]
    if cls == "Dropout":
        return [("dropout", {"p": m.p, "inplace": m.inplace})]
    if cls == "Identity":
        return [("identity", {})]
    if cls == "StochasticDepth":  # torchvision.ops.StochasticDepth (a leaf: LEAF_CLASSES)
        return [("stochastic_depth", {"p": m.p, "mode": m.mode})]
    if cls in ("MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d"):
        if getattr(m, "return_indices", False):
            raise FromTorchError("return_indices=True (a second output) is not supported")
        a = {"kernel_size": _tuple(m.kernel_size), "padding": _tuple(m.padding), "ceil_mode": m.ceil_mode}
        if m.stride is not None:
            a["stride"] = _tuple(m.stride)
        if cls.startswith("Max"):
            a["dilation"] = _tuple(m.dilation)
        else:
            a["count_include_pad"] = m.count_include_pad
            if getattr(m, "divisor_override", None) is not None:
                a["divisor_override"] = m.divisor_override
        return [(f"{cls[:3].lower()}pool{cls[-2]}d", a)]
    if cls.startswith("Adaptive") and cls[8:11] in ("Avg", "Max"):
        if getattr(m, "return_indices", False):
            raise FromTorchError("return_indices=True (a second output) is not supported")
        return [(f"adaptive_{cls[8:11].lower()}pool{cls[-2]}d", {"output_size": _tuple(m.output_size)})]
    if cls == "Flatten":
        return [("flatten", {"start_dim": m.start_dim, "end_dim": m.end_dim})]
    if cls == "ChannelShuffle":
        return [("channel_shuffle", {"groups": m.groups})]
    if cls == "Upsample":
        a = {"mode": m.mode}
        if m.size is not None:
            a["size"] = _tuple(m.size)
        if m.scale_factor is not None:
            a["scale_factor"] = _tuple(m.scale_factor)
        if m.align_corners is not None:
            a["align_corners"] = m.align_corners
        return [("upsample", a)]
    if cls == "Embedding":
        a = {"num_embeddings": m.num_embeddings, "embedding_dim": m.embedding_dim}
        if m.padding_idx is not None:
            a["padding_idx"] = m.padding_idx
        return [("embedding", a)]
    if cls == "MultiheadAttention":
        if not m.batch_first:
            raise FromTorchError("batch_first=False: archsweep's attention is batch-first (N, L, E)")
        a = {"embed_dim": m.embed_dim, "num_heads": m.num_heads, "bias": m.in_proj_bias is not None, "dropout": m.dropout}
        if not m._qkv_same_embed_dim:
            a["kdim"], a["vdim"] = m.kdim, m.vdim
        return [("multihead_attention", a)]
    if cls in ("ShiftedWindowAttention", "ShiftedWindowAttentionV2"):
        a = {"num_heads": m.num_heads, "window_size": list(m.window_size), "shift_size": list(m.shift_size),
             "qkv_bias": m.qkv.bias is not None, "proj_bias": m.proj.bias is not None}
        if cls.endswith("V2") or getattr(m, "version", 1) == 2:  # torchvision's V2, or the export's class
            a["version"] = 2
            a["cpb_hidden"] = m.cpb_mlp[0].out_features
        return [("window_attention", a)]
    if cls == "RelativePositionalMultiHeadAttention":
        # MaxViT's attention over groups: (B, G, P, D), each group of P = p x p tokens. As
        # window_attention on G*p rows of p tokens, each window of p x p is one group: the same
        # parameters (qkv, merge, the (2p - 1)^2 bias table), buffer and MACs.
        _, g, p, d = shapes[0]
        side = m.size
        if side * side != p or m.to_qkv.bias is None or m.merge.bias is None:
            raise FromTorchError(f"groups of {p} tokens are not {side} x {side}, or a linear has no bias")
        return [("reshape", {"shape": [g * side, side, d]}, ".partition"),
                ("window_attention", {"num_heads": m.n_heads, "window_size": side}, ""),
                ("reshape", {"shape": [g, p, d]}, ".departition")]
    if cls == "Attention" and type(m).__module__ == "timm.layers.attention":
        # timm's ViT attention: qkv linear, heads, scaled_dot_product_attention, proj linear: the
        # parameters and matmuls of nn.MultiheadAttention when both linears have biases
        plain = all(type(getattr(m, k, None)).__name__ in ("Identity", "NoneType") for k in ("q_norm", "k_norm", "norm"))
        if (not plain or getattr(m, "gate", None) is not None or m.qkv.in_features != m.proj.out_features
                or m.proj.in_features != m.qkv.in_features or (m.qkv.bias is None) != (m.proj.bias is None)):
            raise FromTorchError("timm Attention with q/k norms, a gate, another width or only some biases")
        return [("multihead_attention", {"embed_dim": m.qkv.in_features, "num_heads": m.num_heads, "bias": m.qkv.bias is not None})]
    if cls == "Conv2dSame":
        # timm's TensorFlow-like "SAME" convolution: F.pad by what the stride leaves over (the odd
        # pixel after), then the convolution unpadded (timm.layers.padding.pad_same)
        pads: list[int] = []
        for size, k, s, d in reversed(list(zip(shapes[0][-2:], m.kernel_size, m.stride, m.dilation))):
            total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        return [("pad", {"pad": pads}, ".pad"), ("conv2d", _conv(m, False), "")]
    if cls in ("BatchNormAct2d", "GroupNormAct"):
        # timm's norm + dropout + activation in one module (its forward calls F.batch_norm on
        # its own buffers): the norm, then the dropout and activation submodules it runs
        if cls == "BatchNormAct2d":
            steps: list[tuple[Any, ...]] = [("batchnorm2d", _norm(m, ("eps", "momentum", "affine", "track_running_stats")))]
        else:
            steps = [("groupnorm", {"num_groups": m.num_groups, **_norm(m, ("eps", "affine"))})]
        for child in ("drop", "act"):
            sub = getattr(m, child)
            if type(sub).__name__ != "Identity":
                steps += [(op, attrs, f".{child}") for op, attrs, *_ in _module_layers(sub, shapes)]
        return steps
    raise FromTorchError(f"no archsweep counterpart for module type {type(m).__module__}.{cls}")


#: Modules traced as one node (torchvision's attention, which fx would trace into its pieces, and
#: its StochasticDepth, which fx would see as a call of the function; ShiftedWindowAttention
#: and StochasticDepth are also classes archsweep's export writes).
LEAF_CLASSES = frozenset({"ShiftedWindowAttention", "ShiftedWindowAttentionV2", "RelativePositionalMultiHeadAttention",
                          "StochasticDepth"})

#: timm's modules traced as one node: its norm + activation layers (F.batch_norm on their own
#: buffers), its Linear (F.linear) and its ViT attention.
TIMM_LEAF_CLASSES = frozenset({"BatchNormAct2d", "GroupNormAct", "Linear", "Attention", "Conv2dSame"})


def _is_leaf(m: Any) -> bool:
    cls = type(m).__name__
    if cls == "Attention":  # timm's ViT attention only (LeViT's, say, has other parts)
        return type(m).__module__ == "timm.layers.attention"
    return cls in LEAF_CLASSES or (cls in TIMM_LEAF_CLASSES and type(m).__module__.startswith("timm."))


# ---------------------------------------------------------------------------------------------
# The conversion
# ---------------------------------------------------------------------------------------------


def _target(t: Any) -> str:
    """A node's target as its qualified name (``torch.nn.functional.pad``), never ``<function
    pad at 0x...>``."""
    if isinstance(t, str):
        return t
    name = getattr(t, "__name__", None)
    if name is None:
        return str(t)
    module = getattr(t, "__module__", None) or ("torch" if "of type object" in repr(t) else None)
    return f"{module}.{name}" if module and module != "builtins" and not module.startswith("_") else name


def _inside(node: Any) -> str:
    """`` in MODULE.PATH (Class)``: the module whose forward made a function call, from fx's record."""
    stack = node.meta.get("nn_module_stack") if node.op in ("call_function", "call_method") else None
    if not stack:
        return ""
    path, cls = list(stack.values())[-1]
    return f" in {path} ({getattr(cls, '__name__', cls)})"


def _scope(node: Any) -> str:
    """The path of the module whose forward made a function call (``layer1.0`` for a ResNet
    block's ``out += identity``), from fx's record; "" for the root module's own calls."""
    stack = node.meta.get("nn_module_stack") if node.op in ("call_function", "call_method") else None
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    return path if isinstance(path, str) else ""


class _Converter:
    def __init__(self, torch: Any, gm: Any, values: dict[str, Any]):
        self.torch = torch
        self.gm = gm
        self.values = values  # node name -> the fake run's value
        self.layers: list[Layer] = []
        self.where: dict[str, str] = {}  # tensor node -> the archsweep value holding it
        self.params: dict[str, Any] = {}  # get_attr node -> its parameter
        self.used_params: set[str] = set()  # get_attr nodes a layer consumed
        self.names: set[str] = {"x"}
        self.attention_nodes: set[str] = set()
        self.param_nodes: dict[str, Any] = {}  # a view of a parameter -> the get_attr node it views

    # -- helpers -------------------------------------------------------------------------------

    def is_tensor(self, v: Any) -> bool:
        return isinstance(v, self.torch.Tensor)

    def shape(self, node: Any) -> tuple[int, ...]:
        return tuple(int(d) for d in self.values[node.name].shape)

    def const(self, a: Any) -> Any:
        """An argument as a constant: a non-tensor node's value, nested in lists and tuples."""
        fx = self.torch.fx
        if isinstance(a, fx.Node):
            v = self.values[a.name]
            if self.is_tensor(v):
                raise FromTorchError(f"{a.name}: a tensor where a constant is expected")
            return v
        if isinstance(a, (list, tuple)):
            return type(a)(self.const(x) for x in a)
        return a

    def tensor_input(self, a: Any) -> str:
        fx = self.torch.fx
        if not isinstance(a, fx.Node) or self.where.get(a.name, "<tuple>") == "<tuple>":
            raise FromTorchError(f"{a}: not a tensor computed from the input")
        return self.where[a.name]

    def unique(self, name: str) -> str:
        base, k = name, 2
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        return name

    def emit(self, node: Any, name: str, steps: Sequence[tuple[Any, ...]], inputs: list[str]) -> None:
        """Layers for ``node``: steps ``(op, attrs[, suffix])``, the first reading ``inputs``, each
        next one the one before; a step is named ``name + suffix`` (the first: ``name``, the
        others: ``name.op`` unless they say).

        Names are module paths, as the eager peak reads them (docs/memory.md): a function call
        (``name`` its fx node's) is named inside the module whose forward makes it
        (``layer1.0.add``), and a call's ``name`` is made unique before the suffixes (a module
        called a second time is ``m_2``, ``m_2.gelu``: not inside the first call's scope ``m``)."""
        if node.op in ("call_function", "call_method") and name == node.name and _scope(node):
            name = f"{_scope(node)}.{name}"
        base, k = name, 2
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        for i, step in enumerate(steps):
            op, attrs = step[0], step[1]
            suffix = step[2] if len(step) > 2 else ("" if i == 0 else f".{op}")
            layer_name = self.unique(name + suffix)
            self.layers.append({"name": layer_name, "op": op, "inputs": inputs, **attrs})
            inputs = [layer_name]
        self.where[node.name] = inputs[0]

    def alias(self, node: Any, a: Any) -> None:
        self.where[node.name] = self.tensor_input(a)

    def param_of(self, a: Any) -> Any:
        """The parameter a get_attr node reads, or None."""
        fx = self.torch.fx
        if isinstance(a, fx.Node) and a.name in self.params:
            return self.params[a.name]
        return None

    # -- nodes ---------------------------------------------------------------------------------

    def run(self) -> list[Layer]:
        for node in self.gm.graph.nodes:
            try:
                self.node(node)
            except FromTorchError as e:
                raise FromTorchError(f"from_torch: {node.name} ({node.op} {_target(node.target)}{_inside(node)}): {e}") from None
        for node in self.gm.graph.nodes:
            if node.op == "get_attr" and node.name in self.params and node.name not in self.used_params and node.users:
                users = ", ".join(u.name for u in node.users)
                raise FromTorchError(f"from_torch: parameter {node.target} is read by {users} in a way that has no archsweep counterpart")
        return self.layers

    def node(self, node: Any) -> None:
        value = self.values.get(node.name)
        if node.op == "placeholder":
            if not self.is_tensor(value):
                return  # an optional argument left at its default (timm's attn_mask=None)
            if "x" in self.where.values():
                raise FromTorchError("a model has one input")
            self.where[node.name] = "x"
            return
        if node.op == "output":
            out = node.args[0]
            if not isinstance(out, self.torch.fx.Node) or out.name not in self.where:
                raise FromTorchError("the output must be one tensor")
            final = self.where[out.name]
            if not self.layers or self.layers[-1]["name"] != final:
                self.layers.append({"name": self.unique("output"), "op": "identity", "inputs": [final]})
            return
        if node.op == "get_attr":
            if self.is_tensor(value):
                self.params[node.name] = self.gm.get_parameter(node.target) if self._is_param(node.target) else None
                if self.params[node.name] is None:
                    raise FromTorchError("a buffer read outside a module is not supported")
            return
        if node.op == "call_module":
            if type(self.gm.get_submodule(node.target)).__name__ == "MultiheadAttention":
                self.attention(node)
            else:
                self.module(node)
            return
        if not self.is_tensor(value):
            if isinstance(value, (tuple, list)) and any(self.is_tensor(v) for v in value):
                self.where[node.name] = "<tuple>"  # chunk's pieces
            return  # shape arithmetic, asserts: nothing to count
        if node.op in ("call_function", "call_method"):
            self.function(node)
        else:
            raise FromTorchError(f"unsupported node kind {node.op}")

    def _is_param(self, target: str) -> bool:
        try:
            self.gm.get_parameter(target)
            return True
        except AttributeError:
            return False

    def attention(self, node: Any) -> None:
        """nn.MultiheadAttention returns (output, weights): its node stands for the output, which
        ``getitem 0`` reads."""
        m = self.gm.get_submodule(node.target)
        q, k, v = (list(node.args) + [node.kwargs.get(n) for n in ("query", "key", "value")][len(node.args):])[:3]
        inputs = [self.tensor_input(q)] if q is k is v else [self.tensor_input(a) for a in (q, k, v)]
        self.emit(node, node.target, _module_layers(m, []), inputs)
        self.attention_nodes.add(node.name)

    def module(self, node: Any) -> None:
        m = self.gm.get_submodule(node.target)
        tensor_args = [a for a in node.args if isinstance(a, self.torch.fx.Node) and a.name in self.where]
        shapes = [self.shape(a) for a in tensor_args]
        self.emit(node, node.target, _module_layers(m, shapes), [self.tensor_input(tensor_args[0])])

    def function(self, node: Any) -> None:
        F = self.torch.nn.functional
        t, args, kw = node.target, node.args, node.kwargs
        name = t if isinstance(t, str) else getattr(t, "__name__", str(t))
        out = self.shape(node)

        def arg(i: int, key: str, default: Any = None) -> Any:
            return args[i] if len(args) > i else kw.get(key, default)

        x = args[0] if args else None
        # views and no-ops
        if name == "stochastic_depth":  # torchvision.ops.stochastic_depth(x, p, mode, training)
            a = {"p": self.const(arg(1, "p")), "mode": self.const(arg(2, "mode"))}
            self.emit(node, node.name, [("stochastic_depth", a)], [self.tensor_input(x)])
            return
        if name in ("contiguous", "clone", "dropout", "expand_as") or t is F.dropout:
            self.alias(node, x)  # the same values (dropout counts nothing at inference)
            return
        if name == "getitem":
            src, index = args
            if self.where.get(src.name) == "<tuple>" or src.name in self.attention_nodes:
                self.tuple_item(node, src, index)
                return
            self.getitem(node, src, index)
            return
        if name in ("add", "iadd", "mul", "imul", "mul_"):
            self.arith(node, "add" if name in ("add", "iadd") else "mul", inplace=name in ("imul", "mul_"))
            return
        if name == "cat":
            self.cat(node)
            return
        if name in ("flatten",):
            a = {"start_dim": self.const(arg(1, "start_dim", 0)),
                 "end_dim": self.const(arg(2, "end_dim", -1))}
            self.emit(node, node.name, [("flatten", a)], [self.tensor_input(x)])
            return
        if name in ("view", "reshape") and x is not None and self.param_of(x) is not None:
            self.params[node.name] = self.params[x.name]  # a parameter reshaped (ConvNeXt's gamma): still that parameter
            self.param_nodes[node.name] = self.param_nodes.get(x.name, x)
            return
        if name in ("view", "reshape"):
            if out[0] != self.shape(x)[0]:
                raise FromTorchError(f"the reshape to {out} changes the batch dim")
            self.emit(node, node.name, [("reshape", {"shape": list(out[1:])})], [self.tensor_input(x)])
            return
        if name == "permute":
            dims = self.const(list(args[1:]) if node.op == "call_method" and not isinstance(args[1], (list, tuple)) else arg(1, "dims"))
            self.emit(node, node.name, [("permute", {"dims": list(dims)})], [self.tensor_input(x)])
            return
        if name in ("transpose", "swapaxes"):
            self.emit(node, node.name, [("transpose", {"dim0": self.const(arg(1, "dim0")), "dim1": self.const(arg(2, "dim1"))})],
                      [self.tensor_input(x)])
            return
        if name == "mean":
            dims = self.const(arg(1, "dim"))
            dims = [dims] if isinstance(dims, int) else list(dims)
            rank = len(self.shape(x))
            keep = self.const(arg(2, "keepdim", False))
            if rank == 3 and len(dims) == 1 and dims[0] % 3 in (1, 2):
                # a mean over the tokens (N, L, C) -> (N, C) (MLP-Mixer's head) or over the last
                # dim: that dim last, an adaptive average pool to 1, then the dim dropped or kept
                d = dims[0] % 3
                seq: list[tuple[str, dict[str, Any]]] = [("permute", {"dims": [0, 2, 1]})] if d == 1 else []
                seq.append(("adaptive_avgpool1d", {"output_size": 1}))
                seq.append(("reshape", {"shape": list(out[1:])}) if keep or d == 2 else ("flatten", {"start_dim": 1}))
                self.emit(node, node.name, seq, [self.tensor_input(x)])
                return
            if sorted(d % rank for d in dims) != list(range(2, rank)) or not 3 <= rank <= 5:
                raise FromTorchError(f"a mean over dims {dims} (only a global average over the spatial dims is)")
            steps: list[tuple[str, dict[str, Any]]] = [(f"adaptive_avgpool{rank - 2}d", {"output_size": 1})]
            if not self.const(arg(2, "keepdim", False)):
                steps.append(("flatten", {"start_dim": 1}))
            self.emit(node, node.name, steps, [self.tensor_input(x)])
            return
        if name == "layer_norm":
            weight, bias = arg(2, "weight"), arg(3, "bias")
            for p in (weight, bias):
                if p is not None:
                    if self.param_of(p) is None:
                        raise FromTorchError("layer_norm's weight and bias must be parameters")
                    self.used_params.add(p.name)
            a = {"normalized_shape": list(self.const(arg(1, "normalized_shape"))), "eps": self.const(arg(4, "eps", 1e-5)),
                 "elementwise_affine": weight is not None}
            if weight is not None and bias is None:
                a["bias"] = False
            # named after the module holding the weight (ConvNeXt's LayerNorm2d: features.0.1)
            owner = weight.target.rpartition(".")[0] if weight is not None and "." in weight.target else node.name
            self.emit(node, owner, [("layernorm", a)], [self.tensor_input(x)])
            return
        acts = {"relu": "relu", "relu6": "relu6", "gelu": "gelu", "silu": "silu", "sigmoid": "sigmoid", "tanh": "tanh",
                "hardswish": "hardswish", "hardsigmoid": "hardsigmoid", "mish": "mish", "leaky_relu": "leaky_relu", "elu": "elu"}
        if name in acts or name in ("relu_", "sigmoid_"):
            op = acts.get(name.rstrip("_"), name.rstrip("_"))
            a = {"inplace": True} if name.endswith("_") or kw.get("inplace") or (len(args) > 1 and args[-1] is True) else {}
            if op == "gelu" and kw.get("approximate", "none") != "none":
                a["approximate"] = kw["approximate"]
            if op in ("sigmoid", "tanh", "gelu"):
                a.pop("inplace", None)
            self.emit(node, node.name, [(op, a)], [self.tensor_input(x)])
            return
        if name == "softmax":
            self.emit(node, node.name, [("softmax", {"dim": self.const(arg(1, "dim"))})], [self.tensor_input(x)])
            return
        if name in ("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool2d"):
            kind = "avg" if "avg" in name else "max"
            a = {"output_size": _tuple(self.const(arg(1, "output_size")))}
            self.emit(node, node.name, [(f"adaptive_{kind}pool{name[-2]}d", a)], [self.tensor_input(x)])
            return
        if name in ("avg_pool2d", "max_pool2d", "avg_pool1d", "max_pool1d", "avg_pool3d", "max_pool3d"):
            kind = name[:3]
            k = self.const(arg(1, "kernel_size"))
            a = {"kernel_size": _tuple(k), "padding": _tuple(self.const(arg(3, "padding", 0))),
                 "ceil_mode": self.const(arg(5 if kind == "max" else 4, "ceil_mode", False))}
            stride = self.const(arg(2, "stride"))
            if stride not in (None, [], ()):
                a["stride"] = _tuple(stride)
            if kind == "max":
                a["dilation"] = _tuple(self.const(arg(4, "dilation", 1)))
            else:
                a["count_include_pad"] = self.const(arg(5, "count_include_pad", True))
            self.emit(node, node.name, [(f"{kind}pool{name[-2]}d", a)], [self.tensor_input(x)])
            return
        if name == "select":
            a = {"dim": self.const(arg(1, "dim")), "index": self.const(arg(2, "index"))}
            self.emit(node, node.name, [("select", a)], [self.tensor_input(x)])
            return
        if name == "narrow":
            dim, start, length = (self.const(arg(i, k)) for i, k in ((1, "dim"), (2, "start"), (3, "length")))
            size = self.shape(x)[dim]
            start = start + size if start < 0 else start
            self.emit(node, node.name, [("slice", {"dim": dim, "start": start, "end": start + length})], [self.tensor_input(x)])
            return
        if name == "pad":
            mode, value = self.const(arg(2, "mode", "constant")), self.const(arg(3, "value", None))
            if mode != "constant":
                raise FromTorchError(f"F.pad with mode {mode!r} (only 'constant' is an archsweep op)")
            a = {"pad": list(self.const(arg(1, "pad")))}
            if value:
                a["value"] = value
            self.emit(node, node.name, [("pad", a)], [self.tensor_input(x)])
            return
        if name == "zeros_like":
            self.emit(node, node.name, [("zeros", {})], [self.tensor_input(x)])
            return
        if name == "expand" and self.param_of(x) is not None:
            return  # a class token, taken by the cat that reads it
        if name == "_patch_merging_pad":
            # torchvision's Swin patch merging: the 2 x 2 neighbours side by side in channels,
            # (N, H, W, C) -> (N, H/2, W/2, 4C) in the order x[0::2, 0::2], x[1::2, 0::2], ...
            _, h, w, c = self.shape(x)
            if h % 2 or w % 2:
                raise FromTorchError(f"patch merging of an odd map {h} x {w} (torchvision pads it)")
            self.emit(node, node.name, [("reshape", {"shape": [h // 2, 2, w // 2, 2, c]}),
                                        ("permute", {"dims": [0, 1, 3, 4, 2, 5]}),
                                        ("reshape", {"shape": [h // 2, w // 2, 4 * c]})], [self.tensor_input(x)])
            return
        raise FromTorchError(f"no archsweep counterpart for {node.op} {name}")  # the caller names the node

    def tuple_item(self, node: Any, src: Any, index: Any) -> None:
        """A piece of chunk's tuple, or an attention module's output."""
        if src.name in self.attention_nodes:
            if index != 0:
                raise FromTorchError("the attention weights (output 1) are not supported")
            self.where[node.name] = self.where[src.name]
            return
        name = src.target if isinstance(src.target, str) else getattr(src.target, "__name__", "")
        if name not in ("chunk", "split", "split_with_sizes"):
            raise FromTorchError(f"an item of {name}'s tuple")
        key = {"chunk": "chunks", "split": "split_size", "split_with_sizes": "split_sizes"}[name]
        size = self.const(src.args[1] if len(src.args) > 1 else src.kwargs.get(key, src.kwargs.get("split_size_or_sections")))
        dim = self.const(src.args[2] if len(src.args) > 2 else src.kwargs.get("dim", 0))
        if name == "chunk":
            self.emit(node, node.name, [("chunk", {"chunks": size, "dim": dim, "index": index})], [self.tensor_input(src.args[0])])
            return
        size = list(size) if isinstance(size, (list, tuple)) else size
        self.emit(node, node.name, [("split", {"split_size": size, "dim": dim, "index": index})], [self.tensor_input(src.args[0])])

    def getitem(self, node: Any, src: Any, index: Any) -> None:
        """``x[:, 0]``, ``x[:, :k]``, ``x[..., 2:5]``: ints and slices (``...`` once), each on a
        dim other than the batch; a layer per dim, the last dim first (so an int removing a dim
        does not move the dims before it)."""
        index = index if isinstance(index, tuple) else (index,)
        rank = len(self.shape(src))
        if sum(i is Ellipsis for i in index) > 1 or any(i is None or not isinstance(i, (int, slice, type(Ellipsis))) for i in index):
            raise FromTorchError(f"indexing with {index} (only ints, slices and one ... are supported)")
        if Ellipsis in index:
            k = index.index(Ellipsis)
            index = index[:k] + (slice(None),) * (rank - len(index) + 1) + index[k + 1:]
        steps: list[tuple[str, dict[str, Any]]] = []
        for d in reversed(range(len(index))):
            i = index[d]
            if i == slice(None):
                continue
            if d == 0:
                raise FromTorchError(f"indexing with {index} indexes the batch dim")
            if isinstance(i, int):
                steps.append(("select", {"dim": d, "index": i}))
            else:
                a = {"dim": d, "start": self.const(i.start) or 0, "end": self.const(i.stop)}
                if i.step not in (None, 1):
                    a["step"] = self.const(i.step)
                steps.append(("slice", a))
        if not steps:
            self.alias(node, src)
            return
        self.emit(node, node.name, [(op, a, "" if k == 0 else f".{op}_{a['dim']}") for k, (op, a) in enumerate(steps)],
                  [self.tensor_input(src)])

    def arith(self, node: Any, op: str, inplace: bool = False) -> None:
        """``a + b``, ``a * b`` of two tensors, of a tensor and a parameter (position embedding,
        layer scale), or ``x * c`` of a tensor and a number; ``inplace``: ``x *= c`` or
        ``x.mul_(c)``, whose result is ``x``'s storage (``mul_scalar`` with ``inplace``)."""
        fx = self.torch.fx
        operands = list(node.args[:2])
        params = [a for a in operands if self.param_of(a) is not None]
        tensors = [a for a in operands if isinstance(a, fx.Node) and a.name in self.where]
        if len(tensors) == 2:
            self.emit(node, node.name, [(op, {})], [self.tensor_input(a) for a in tensors])
            return
        if len(tensors) == 1 and len(params) == 1:
            x = tensors[0]
            attr = self.param_nodes.get(params[0].name, params[0])  # the get_attr node (through views)
            xs = self.shape(x)
            ps = tuple(int(d) for d in self.values[params[0].name].shape)
            self.used_params.add(attr.name)
            if op == "add" and ps == (1, *xs[1:]):
                self.emit(node, attr.target, [("positional_embedding", {})], [self.tensor_input(x)])
                return
            while len(ps) >= len(xs) and ps and ps[0] == 1:
                ps = ps[1:]  # leading ones broadcast over the batch: (1, C, 1, 1) scales as (C, 1, 1)
            big = [i for i, d in enumerate(ps) if d != 1]
            if op == "mul" and len(big) == 1 and len(ps) < len(xs):
                dim = big[0] - len(ps)  # counted from the right
                if ps[big[0]] == xs[dim]:
                    self.emit(node, attr.target, [("layer_scale", {"dim": dim + len(xs)})], [self.tensor_input(x)])
                    return
            raise FromTorchError(f"{op} of a parameter of shape {ps} and a tensor of shape {xs}")
        numbers = [a for a in operands if isinstance(a, (int, float)) and not isinstance(a, bool)]
        if op == "mul" and len(tensors) == 1 and len(numbers) == 1:
            attrs: dict[str, Any] = {"other": numbers[0], **({"inplace": True} if inplace else {})}
            self.emit(node, node.name, [("mul_scalar", attrs)], [self.tensor_input(tensors[0])])
            if inplace:  # the tensor is overwritten: later readers of it (fx's ``y`` after ``y.mul_(c)``) read the result
                self.where[tensors[0].name] = self.where[node.name]
            return
        if params and numbers:
            raise FromTorchError(f"{op} of parameter {self.param_nodes.get(params[0].name, params[0]).target} and the number {numbers[0]}: "
                                 "a weight computed in forward (weight standardisation's gain) has no archsweep op")
        raise FromTorchError(f"{op} of {operands} (of constants, only a multiplication of a tensor by a number is supported)")

    def cat(self, node: Any) -> None:
        fx = self.torch.fx
        parts = node.args[0] if node.args else node.kwargs["tensors"]
        dim = self.const(node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0))
        first = parts[0]
        if (len(parts) == 2 and isinstance(first, fx.Node) and first.op == "call_method" and first.target == "expand"
                and self.param_of(first.args[0]) is not None and dim == 1):
            p = self.param_of(first.args[0])
            if tuple(p.shape)[:2] == (1, 1):
                self.used_params.add(first.args[0].name)
                self.emit(node, first.args[0].target, [("class_token", {})], [self.tensor_input(parts[1])])
                return
        self.emit(node, node.name, [("concat", {"dim": dim})], [self.tensor_input(p) for p in parts])


def from_torch(module: Any, input_shape: Sequence[int], *, name: str | None = None,
               input_dtype: Any = None, check: bool = True) -> Model:
    """An archsweep model of ``module`` on inputs of per-sample shape ``input_shape``.

    The module is traced with ``torch.fx`` in eval mode (its mode is restored afterwards) and run
    once on a fake input, so its weights may be on the meta device. With ``check`` (the default),
    archsweep's parameters, buffers and FLOPs of the result must equal those of the tensors the
    traced forward uses and torch's ``FlopCounterMode`` total, or :class:`FromTorchError` says
    so. Raises :class:`FromTorchError` for what has no archsweep counterpart, naming the node."""
    from archsweep.pytorch import require_torch

    torch = require_torch()
    import torch.fx as fx
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils.flop_counter import FlopCounterMode

    class InPlaceProxy(fx.Proxy):
        """fx's Proxy has no ``__imul__``, so ``x *= c`` would be traced as ``x = x * c`` (a new
        tensor); here it is recorded as ``operator.imul``, which the graph runs in place as the
        module does, and which becomes ``mul_scalar`` with ``inplace``."""

        def __imul__(self, other: Any) -> Any:
            return self.tracer.create_proxy("call_function", operator.imul, (self, other), {})

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m: Any, qualname: str) -> bool:
            return _is_leaf(m) or super().is_leaf_module(m, qualname)

        def proxy(self, node: Any) -> Any:
            return InPlaceProxy(node, self)

    was_training = module.training
    module.eval()
    try:
        device = next((p.device for p in module.parameters()), torch.device("cpu"))
        fake = FakeTensorMode(allow_non_fake_inputs=True)
        counter = FlopCounterMode(display=False)
        with fake:
            x = torch.zeros((1, *[int(d) for d in input_shape]), dtype=input_dtype or torch.float32, device=device)
        values: dict[str, Any] = {}
        gm: Any  # fx's GraphModule, or the eager trace (the same interface)
        try:
            graph = Tracer().trace(module)
        except Exception as e:  # torch.fx's TraceError and what the module's forward raises on proxies
            # control flow on shapes or values: run the module eagerly on the fake input, recording
            # its calls (archsweep.pytorch.dispatch); the same converter maps that record
            from archsweep.pytorch import dispatch

            fx_failure = f"torch.fx cannot trace {type(module).__name__} ({type(e).__name__}: {_first_line(e)})"
            try:
                with fake, counter:
                    gm, values = dispatch.trace(torch, module, x, Tracer().is_leaf_module)
            except Exception as e2:  # what the module's forward raises on a fake input
                raise FromTorchError(f"from_torch: {fx_failure}, and its eager run on a fake input fails: "
                                     f"{type(e2).__name__}: {_first_line(e2)}") from None
            try:
                layers = _Converter(torch, gm, values).run()
            except FromTorchError as e3:
                raise FromTorchError(f"{e3} [traced eagerly: {fx_failure}]") from None
        else:
            gm = fx.GraphModule(module, graph)

            class Record(fx.Interpreter):
                def run_node(self, n: Any) -> Any:
                    result = super().run_node(n)
                    values[n.name] = result
                    return result

            with fake, counter:
                Record(gm).run(x)
            layers = _Converter(torch, gm, values).run()
    finally:
        module.train(was_training)
    model = Model(name=name or type(module).__name__.lower(), layers=layers, input=[int(d) for d in input_shape])
    if check:
        _check(torch, model, gm, counter.get_total_flops(), layers)
    return model


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else ""


def _check(torch: Any, model: Model, gm: Any, flops: int, layers: list[Layer]) -> None:
    from archsweep.analysis import analyze

    tensors: dict[int, Any] = {}
    for node in gm.graph.nodes:
        if node.op == "call_module":
            sub = gm.get_submodule(node.target)
            tensors.update({id(t): t for t in (*sub.parameters(), *sub.buffers())})
        elif node.op == "get_attr":
            try:
                t = gm.get_parameter(node.target)
            except AttributeError:
                continue
            tensors[id(t)] = t
    params = sum(t.numel() for t in tensors.values() if isinstance(t, torch.nn.Parameter))
    buffers = sum(t.numel() for t in tensors.values() if not isinstance(t, torch.nn.Parameter))
    totals = analyze(model).totals
    problems = [f"{what}: archsweep {totals[what]:,}, torch {want:,}" for what, want in
                (("params", params), ("buffers", buffers), ("flops", flops)) if totals[what] != want]
    if problems:
        raise FromTorchError("from_torch: the converted model differs from the module: " + "; ".join(problems))

