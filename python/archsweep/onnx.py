"""ONNX in: ``from_onnx(path)`` -> an archsweep :class:`Model`.

The file is read with the ``onnx`` package (``pip install 'archsweep[onnx]'``; ``import
archsweep`` never imports it) and its shapes inferred by ``onnx.shape_inference``. Each node of
the standard operator set becomes an archsweep layer: Conv, ConvTranspose, Gemm, MatMul (with
the Add of its bias), BatchNormalization, LayerNormalization, MaxPool, AveragePool,
GlobalAveragePool, GlobalMaxPool, the activations (Relu, Clip as ReLU6, Sigmoid, Tanh,
HardSigmoid, HardSwish, LeakyRelu, Elu, Softmax), Add, Mul, Concat, Flatten, Reshape,
Transpose, Dropout and Identity. Weights are the file's initializers (their shapes give the
layers' attributes); a node it cannot map is a :class:`FromOnnxError` naming the node and its op.

Beyond one node = one layer: shape arithmetic that ONNX's shape inference does not evaluate is
folded into constants (``_infer_and_fold``: ShuffleNetV2's chunk, Swin's padding); ViT's class
token (Expand + Concat) and position embedding (Add of a weight) are their ops; and the nodes
``torch.onnx.export`` writes for one ``nn.MultiheadAttention`` or one torchvision
``ShiftedWindowAttention`` are one ``multihead_attention`` / ``window_attention`` layer when the
module's scope has exactly their structure and weights (``_attention_scopes``).

Layer names follow the node names; nodes exported by ``torch.onnx.export``
(``/layer1/layer1.0/conv1/Conv``) are named after their module (``layer1.0.conv1``), so rows
line up with the PyTorch model's ``state_dict`` keys.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from archsweep._core import ArchsweepError
from archsweep.model import Model


class FromOnnxError(ArchsweepError):
    """An ONNX file ``from_onnx`` cannot express exactly (the message names the node)."""


def _require_onnx() -> Any:
    from archsweep.pytorch import TorchMissingError

    try:
        return importlib.import_module("onnx")
    except ImportError as e:
        raise TorchMissingError(f"this needs the onnx package, which cannot be imported ({e}): pip install 'archsweep[onnx]'") from None


#: ops that compute shapes when none of their inputs comes from the model's input
_SHAPE_ARITHMETIC = frozenset({"Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Slice", "Mul", "Div", "Add", "Sub",
                               "Floor", "Ceil", "Range", "Equal", "Where", "ConstantOfShape", "Reshape", "Mod", "Sqrt", "Pow",
                               "Transpose", "Neg"})

_ACTIVATIONS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hardswish"}


class _Reader:
    def __init__(self, onnx: Any, model: Any, where: str):
        import numpy as np  # onnx's own dependency
        from onnx import numpy_helper

        self.onnx, self.where = onnx, where
        g = model.graph
        self.consts: dict[str, Any] = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        for i in _weight_inputs(g):  # weights given as inputs (export_params=False): only their shapes
            dims = [int(d.dim_value) for d in i.type.tensor_type.shape.dim]
            self.consts[i.name] = np.broadcast_to(np.zeros((), onnx.helper.tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type)), dims)
        #: the model's weights (initializers, weights given as inputs), as opposed to constants
        self.weights = set(self.consts)
        #: a transposed weight -> the weight it is
        self.origin: dict[str, str] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        for v in [*g.input, *g.value_info, *g.output]:
            dims = v.type.tensor_type.shape.dim
            if v.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in dims):
                self.shapes[v.name] = tuple(int(d.dim_value) for d in dims)
        self.where_is: dict[str, str] = {}
        inputs = [i.name for i in g.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise FromOnnxError(f"{where}: a model has one input, this file has {len(inputs)} ({', '.join(inputs)})")
        self.where_is[inputs[0]] = "x"
        self.layers: list[dict[str, Any]] = []
        self.names: set[str] = {"x"}
        self.graph = g
        #: how many nodes read each value (the graph's outputs count as readers)
        self.readers: dict[str, int] = {o.name: 1 for o in g.output}
        for n in g.node:
            for i in n.input:
                self.readers[i] = self.readers.get(i, 0) + 1
        #: a weight Expanded to the batch (ViT's class token), by the Expand's output
        self.expanded: dict[str, str] = {}
        #: the nodes of an nn.MultiheadAttention or a ShiftedWindowAttention (``_attention_scopes``):
        #: skipped, and the layer emitted for the one whose output leaves the scope
        self.skip: set[str] = set()
        self.attention: dict[str, tuple[list[tuple[str, str, dict[str, Any]]], str]] = {}

    def name_of(self, node: Any) -> str:
        raw = node.name or node.output[0]
        if raw.startswith("/"):
            parts = [p for p in raw.split("/") if p]
            raw = parts[-2] if len(parts) >= 2 else parts[0]
        base, k, name = raw, 2, raw
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        return name

    def attrs(self, node: Any) -> dict[str, Any]:
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}

    def tensor(self, name: str, node: Any) -> str:
        if name not in self.where_is:
            raise FromOnnxError(f"{self.where}: node {node.name} ({node.op_type}): input {name} is not a tensor computed from the input")
        return self.where_is[name]

    def emit(self, node: Any, op: str, attrs: dict[str, Any], inputs: list[str], output: int = 0) -> None:
        name = self.name_of(node)
        self.layers.append({"name": name, "op": op, "inputs": inputs, **attrs})
        self.where_is[node.output[output]] = name

    def emit_named(self, name: str, op: str, attrs: dict[str, Any], inputs: list[str], output: str) -> None:
        """A layer named after the weight it holds (``class_token``, ``encoder.pos_embedding``)."""
        base, k = name, 2
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        self.layers.append({"name": name, "op": op, "inputs": inputs, **attrs})
        self.where_is[output] = name

    def weight_name(self, name: str) -> str:
        """A weight's name as a layer name: the state_dict key torch.onnx.export gives it."""
        return self.origin.get(name, name)

    def chain(self, node: Any, steps: list[tuple[str, dict[str, Any]]], inputs: list[str]) -> None:
        """Layers one after the other for one node (a Slice of several axes)."""
        name = self.name_of(node)
        for k, (op, attrs) in enumerate(steps):
            layer = name if k == 0 else f"{name}.{op}_{attrs.get('dim', k)}"
            self.names.add(layer)
            self.layers.append({"name": layer, "op": op, "inputs": inputs, **attrs})
            inputs = [layer]
        self.where_is[node.output[0]] = inputs[0]

    def ints(self, name: str) -> list[int]:
        """A constant input (Slice's starts, Pad's pads) as ints."""
        import numpy as np

        return [int(v) for v in np.asarray(self.consts[name]).reshape(-1)]

    def fail(self, node: Any, why: str) -> FromOnnxError:
        return FromOnnxError(f"{self.where}: node {node.name or node.output[0]} ({node.op_type}): {why}")

    def run(self) -> list[dict[str, Any]]:
        data_input = next(k for k, v in self.where_is.items() if v == "x")
        self.skip, self.attention = _attention_scopes(self, data_input)
        for node in self.graph.node:
            if node.output[0] in self.skip:
                for out in node.output:
                    if out in self.attention:
                        steps, src = self.attention[out]
                        inputs = [self.tensor(src, node)]
                        for name, op, attrs in steps:
                            self.names.add(name)
                            self.layers.append({"name": name, "op": op, "inputs": inputs, **attrs})
                            inputs = [name]
                        self.where_is[out] = inputs[0]
                continue
            try:
                self.node(node)
            except FromOnnxError:
                raise
            except KeyError as e:
                key = e.args[0] if e.args else None
                if key in self.where_is or key in node.output:  # a tensor's shape was looked up
                    raise self.fail(node, f"ONNX shape inference leaves the shape of {key} unknown") from None
                if key in node.input:  # a constant input (bounds, a shape) was looked up
                    raise self.fail(node, f"its input {key} is not a constant the reader can evaluate") from None
                raise FromOnnxError(f"{self.where}: node {node.name} ({node.op_type}): cannot read it (KeyError: {e})") from None
            except (IndexError, ValueError) as e:
                raise FromOnnxError(f"{self.where}: node {node.name} ({node.op_type}): cannot read it ({type(e).__name__}: {e})") from None
        out = self.graph.output[0].name
        final = self.where_is.get(out)
        if final is None:
            raise FromOnnxError(f"{self.where}: the output {out} is not computed from the input")
        if self.layers[-1]["name"] != final:
            self.layers.append({"name": "output", "op": "identity", "inputs": [final]})
        return self.layers

    def pads(self, node: Any, a: dict[str, Any], rank: int) -> list[int]:
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise FromOnnxError(f"{self.where}: node {node.name} ({node.op_type}): auto_pad {a['auto_pad']!r} is not supported")
        pads = list(a.get("pads", [0] * (2 * rank)))
        if pads[:rank] != pads[rank:]:
            raise FromOnnxError(f"{self.where}: node {node.name} ({node.op_type}): asymmetric pads {pads} have no PyTorch padding")
        return pads[:rank]

    def node(self, node: Any) -> None:  # noqa: C901 - one branch per op type
        op, a, ins = node.op_type, self.attrs(node), list(node.input)
        tensors = [i for i in ins if i in self.where_is]
        if op == "Constant":
            from onnx import numpy_helper

            self.consts[node.output[0]] = numpy_helper.to_array(a["value"])
            return
        if op in ("Identity", "Dropout") and ins[0] in self.consts:
            self.consts[node.output[0]] = self.consts[ins[0]]  # an initializer passed on
            if ins[0] in self.weights:
                self.weights.add(node.output[0])
            return
        if op in ("Identity", "Dropout"):
            self.where_is[node.output[0]] = self.tensor(ins[0], node)
            return
        if op == "Transpose" and ins[0] in self.consts:  # a weight transposed (Linear's W^T, without constant folding)
            self.consts[node.output[0]] = self.consts[ins[0]].transpose(list(a["perm"]))
            if ins[0] in self.weights:
                self.weights.add(node.output[0])
                self.origin[node.output[0]] = self.origin.get(ins[0], ins[0])
            return
        if op == "Shape" or (not tensors and op in _SHAPE_ARITHMETIC and not any(i in self.weights for i in ins)):
            # shape arithmetic (ShuffleNet's view shapes, its chunk's slice bounds): evaluated
            # where it can be, for the Slice or Reshape it feeds
            value = self.shape_arithmetic(op, a, ins)
            if value is not None:
                self.consts[node.output[0]] = value
            return
        if op in ("Conv", "ConvTranspose"):
            w = self.consts[ins[1]].shape
            rank = len(w) - 2
            group = int(a.get("group", 1))
            attrs: dict[str, Any] = {"out_channels": int(w[0] if op == "Conv" else w[1] * group), "kernel_size": [int(k) for k in w[2:]],
                                     "stride": list(a.get("strides", [1] * rank)), "padding": self.pads(node, a, rank),
                                     "dilation": list(a.get("dilations", [1] * rank)), "groups": group, "bias": len(ins) > 2 and ins[2] != ""}
            if op == "ConvTranspose" and any(a.get("output_padding", [])):
                attrs["output_padding"] = list(a["output_padding"])
            if op == "ConvTranspose" and "output_shape" in a:
                raise FromOnnxError(f"{self.where}: node {node.name} (ConvTranspose): output_shape is not supported (use pads)")
            self.emit(node, f"conv{rank}d" if op == "Conv" else f"conv_transpose{rank}d", attrs, [self.tensor(ins[0], node)])
            return
        if op == "Gemm":
            if a.get("transA", 0) or float(a.get("alpha", 1.0)) != 1.0 or float(a.get("beta", 1.0)) != 1.0 or ins[1] not in self.consts:
                raise FromOnnxError(f"{self.where}: node {node.name} (Gemm): only x @ W(^T) + b with a weight initializer is a linear layer")
            w = self.consts[ins[1]].shape
            out = int(w[0] if a.get("transB", 0) else w[1])
            self.emit(node, "linear", {"out_features": out, "bias": len(ins) > 2 and ins[2] != ""}, [self.tensor(ins[0], node)])
            return
        if op == "MatMul" and ins[1] in self.consts and len(self.consts[ins[1]].shape) == 2:
            self.emit(node, "linear", {"out_features": int(self.consts[ins[1]].shape[1]), "bias": False}, [self.tensor(ins[0], node)])
            return
        if op == "BatchNormalization":
            rank = len(self.shapes.get(ins[0]) or self.shapes[node.output[0]]) - 2
            self.emit(node, f"batchnorm{max(rank, 1)}d", {"eps": float(a.get("epsilon", 1e-5)), "momentum": round(1 - float(a.get("momentum", 0.9)), 6)},
                      [self.tensor(ins[0], node)])
            return
        if op == "LayerNormalization":
            shape = self.shapes[ins[0]]
            axis = int(a.get("axis", -1)) % len(shape)
            attrs = {"normalized_shape": list(shape[axis:]), "eps": float(a.get("epsilon", 1e-5)), "bias": len(ins) > 2 and ins[2] != ""}
            self.emit(node, "layernorm", attrs, [self.tensor(ins[0], node)])
            return
        if op in ("MaxPool", "AveragePool"):
            k = list(a["kernel_shape"])
            attrs = {"kernel_size": k, "stride": list(a.get("strides", [1] * len(k))), "padding": self.pads(node, a, len(k)),
                     "ceil_mode": bool(a.get("ceil_mode", 0))}
            if op == "MaxPool":
                attrs["dilation"] = list(a.get("dilations", [1] * len(k)))
            else:
                attrs["count_include_pad"] = bool(a.get("count_include_pad", 0))
            self.emit(node, f"{'max' if op == 'MaxPool' else 'avg'}pool{len(k)}d", attrs, [self.tensor(ins[0], node)])
            return
        if op in ("GlobalAveragePool", "GlobalMaxPool"):
            rank = len(self.shapes[ins[0]]) - 2
            self.emit(node, f"adaptive_{'avg' if 'Average' in op else 'max'}pool{rank}d", {"output_size": 1}, [self.tensor(ins[0], node)])
            return
        if op in _ACTIVATIONS:
            self.emit(node, _ACTIVATIONS[op], {}, [self.tensor(ins[0], node)])
            return
        if op == "HardSigmoid" and abs(float(a.get("alpha", 0.2)) - 1 / 6) < 1e-6 and float(a.get("beta", 0.5)) == 0.5:
            self.emit(node, "hardsigmoid", {}, [self.tensor(ins[0], node)])
            return
        if op == "LeakyRelu":
            self.emit(node, "leaky_relu", {"negative_slope": float(a.get("alpha", 0.01))}, [self.tensor(ins[0], node)])
            return
        if op == "Elu":
            self.emit(node, "elu", {"alpha": float(a.get("alpha", 1.0))}, [self.tensor(ins[0], node)])
            return
        if op == "Clip":
            lo = float(self.consts[ins[1]]) if len(ins) > 1 and ins[1] else float(a.get("min", float("-inf")))
            hi = float(self.consts[ins[2]]) if len(ins) > 2 and ins[2] else float(a.get("max", float("inf")))
            if (lo, hi) not in ((0.0, 6.0), (0.0, float("inf"))):
                raise FromOnnxError(f"{self.where}: node {node.name} (Clip): only clip(0, 6) (ReLU6) and clip(0) (ReLU) are mapped, not ({lo}, {hi})")
            self.emit(node, "relu6" if hi == 6.0 else "relu", {}, [self.tensor(ins[0], node)])
            return
        if op == "Softmax":
            self.emit(node, "softmax", {"dim": int(a.get("axis", -1))}, [self.tensor(ins[0], node)])
            return
        if op == "Mul" and len(tensors) == 2 and self.silu(node, ins):
            return
        if op in ("Add", "Mul") and len(tensors) == 2:
            self.emit(node, op.lower(), {}, [self.tensor(i, node) for i in ins])
            return
        if op == "Add" and len(tensors) == 1 and (ins[1] in self.consts or ins[0] in self.consts):
            data, bias = (ins[0], ins[1]) if ins[1] in self.consts else (ins[1], ins[0])
            src = self.tensor(data, node)
            last = self.layers[-1] if self.layers else {}
            b = self.consts[bias].shape
            if last.get("name") == src and last["op"] == "linear" and not last["bias"] and tuple(b) == (last["out_features"],):
                last["bias"] = True  # MatMul + Add: one linear layer with its bias
                self.where_is[node.output[0]] = src
                return
        if op == "Add" and len(tensors) == 1:
            data, weight = (ins[0], ins[1]) if ins[1] in self.consts else (ins[1], ins[0])
            result = self.shapes.get(node.output[0])
            if weight in self.weights and result is not None and tuple(self.consts[weight].shape) == (1, *result[1:]):
                # x + pos, a learned tensor of the per-sample shape (ViT's encoder.pos_embedding)
                self.emit_named(self.weight_name(weight), "positional_embedding", {}, [self.tensor(data, node)], node.output[0])
                return
            raise self.fail(node, f"an addition of {'weight' if weight in self.weights else 'constant'} {weight} of shape "
                                  f"{tuple(self.consts[weight].shape)} (only a linear layer's bias and a positional embedding "
                                  "of the per-sample shape are mapped)")
        if op == "Expand" and ins[0] in self.weights and tuple(self.consts[ins[0]].shape)[:2] == (1, 1) \
                and len(self.consts[ins[0]].shape) == 3:
            self.expanded[node.output[0]] = ins[0]  # ViT's class token, expanded to the batch: the Concat after it reads it
            return
        if op == "Concat" and len(ins) == 2 and ins[0] in self.expanded and int(a["axis"]) == 1:
            # torch.cat([class_token.expand(N, -1, -1), x], dim=1)
            self.emit_named(self.weight_name(self.expanded[ins[0]]), "class_token", {}, [self.tensor(ins[1], node)], node.output[0])
            return
        if op == "Gather" and len(tensors) == 1 and ins[0] in self.where_is and ins[1] in self.consts \
                and len(self.consts[ins[1]].shape) == 0:
            axis = int(a.get("axis", 0)) % len(self.shapes[ins[0]])
            if axis == 0:
                raise self.fail(node, "a Gather on the batch dim")
            self.emit(node, "select", {"dim": axis, "index": self.ints(ins[1])[0]}, [self.tensor(ins[0], node)])
            return
        if op == "Mul" and len(tensors) == 1 and ins[1] in self.consts:
            self.scale(node, self.tensor(ins[0], node), ins[1])
            return
        if op == "Mul" and len(tensors) == 1 and ins[0] in self.consts:
            self.scale(node, self.tensor(ins[1], node), ins[0])
            return
        if op == "Gelu":
            approximate = a.get("approximate", b"none")
            approximate = approximate.decode() if isinstance(approximate, bytes) else approximate
            self.emit(node, "gelu", {} if approximate == "none" else {"approximate": approximate}, [self.tensor(ins[0], node)])
            return
        if op == "ReduceMean":  # x.mean([2, 3]): a global average over the spatial dims
            rank = len(self.shapes[ins[0]])
            axes = sorted(v % rank for v in (self.ints(ins[1]) if len(ins) > 1 and ins[1] else a.get("axes", [])))
            if axes != list(range(2, rank)) or not 3 <= rank <= 5:
                raise self.fail(node, f"a mean over axes {axes} (only a global average over the spatial dims is mapped)")
            steps: list[tuple[str, dict[str, Any]]] = [(f"adaptive_avgpool{rank - 2}d", {"output_size": 1})]
            if not int(a.get("keepdims", 1)):
                steps.append(("flatten", {"start_dim": 1}))
            self.chain(node, steps, [self.tensor(ins[0], node)])
            return
        if op == "Slice":
            self.slice(node, ins)
            return
        if op == "Split":
            self.split(node, a, ins)
            return
        if op == "Pad":
            self.pad(node, a, ins)
            return
        if op == "Concat":
            self.emit(node, "concat", {"dim": int(a["axis"])}, [self.tensor(i, node) for i in ins])
            return
        if op == "Flatten":
            if int(a.get("axis", 1)) != 1:
                raise FromOnnxError(f"{self.where}: node {node.name} (Flatten): only axis=1 keeps the batch dim")
            self.emit(node, "flatten", {"start_dim": 1}, [self.tensor(ins[0], node)])
            return
        if op == "Reshape":
            before, after = self.shapes[ins[0]], self.shapes[node.output[0]]
            if after[0] != before[0]:
                raise FromOnnxError(f"{self.where}: node {node.name} (Reshape): the reshape to {after} changes the batch dim")
            self.emit(node, "reshape", {"shape": list(after[1:])}, [self.tensor(ins[0], node)])
            return
        if op == "Transpose":
            self.emit(node, "permute", {"dims": list(a["perm"])}, [self.tensor(ins[0], node)])
            return
        raise FromOnnxError(f"{self.where}: node {node.name or node.output[0]} ({op}): no archsweep counterpart for ONNX op {op}"
                            + (f" on inputs {', '.join(ins)}" if ins else ""))


    def silu(self, node: Any, ins: list[str]) -> bool:
        """``x * sigmoid(x)``, as torch.onnx.export writes SiLU, is one ``silu`` layer (the
        sigmoid's layer becomes it) when the sigmoid is the layer just before and this Mul is its
        only reader."""
        last = self.layers[-1] if self.layers else {}
        for a, b in ((ins[0], ins[1]), (ins[1], ins[0])):
            if (last.get("op") == "sigmoid" and self.where_is.get(b) == last["name"] and last["inputs"] == [self.where_is.get(a)]
                    and self.readers.get(b, 0) == 1):
                last["op"] = "silu"
                self.where_is[node.output[0]] = last["name"]
                return True
        return False

    def shape_arithmetic(self, op: str, a: dict[str, Any], ins: list[str]) -> Any:
        """The value of a node computing a shape from the input's static shape and constants
        (numpy), or None where it is not known."""
        import numpy as np

        if op == "Shape":
            shape = self.shapes.get(ins[0])
            return None if shape is None else np.array(shape[int(a.get("start", 0)):a.get("end")], dtype=np.int64)
        if any(i and i not in self.consts for i in ins):
            return None
        v: list[Any] = [np.asarray(self.consts[i]) if i else None for i in ins]
        axes = [int(x) for x in (v[1].reshape(-1) if len(v) > 1 and v[1] is not None else a.get("axes", []))]
        if op == "Gather":
            return np.take(v[0], v[1], axis=int(a.get("axis", 0)))
        if op == "Unsqueeze":
            return np.expand_dims(v[0], tuple(axes))
        if op == "Squeeze":
            return np.squeeze(v[0], axis=tuple(axes)) if axes else np.squeeze(v[0])
        if op == "Concat":
            return np.concatenate([np.atleast_1d(x) for x in v], axis=int(a["axis"]))
        if op == "Cast":
            return v[0].astype(self.onnx.helper.tensor_dtype_to_np_dtype(int(a["to"])))
        if op in ("Mul", "Add", "Sub"):
            return {"Mul": np.multiply, "Add": np.add, "Sub": np.subtract}[op](v[0], v[1])
        if op == "Div":
            ints = np.issubdtype(v[0].dtype, np.integer) and np.issubdtype(v[1].dtype, np.integer)
            return np.trunc(v[0] / v[1]).astype(v[0].dtype) if ints else v[0] / v[1]
        if op == "ConstantOfShape":  # torch's F.pad writes its pads through these (Swin's padding to whole windows)
            from onnx import numpy_helper

            fill = numpy_helper.to_array(a["value"]).reshape(-1) if "value" in a else np.zeros(1, dtype=np.float32)
            return np.full([int(d) for d in v[0].reshape(-1)], fill[0], dtype=fill.dtype)
        if op == "Reshape":
            target = [int(d) for d in v[1].reshape(-1)]
            if not int(a.get("allowzero", 0)):
                target = [v[0].shape[k] if d == 0 else d for k, d in enumerate(target)]
            return v[0].reshape(target)
        if op == "Slice":
            data = v[0]
            starts, ends = v[1].reshape(-1), v[2].reshape(-1)
            slice_axes = [int(d) for d in v[3].reshape(-1)] if len(v) > 3 and v[3] is not None else list(range(len(starts)))
            steps = [int(d) for d in v[4].reshape(-1)] if len(v) > 4 and v[4] is not None else [1] * len(starts)
            index = [slice(None)] * data.ndim
            for axis, lo, hi, st in zip(slice_axes, starts, ends, steps):
                index[int(axis)] = slice(int(lo), int(hi), int(st))
            return data[tuple(index)]
        if op == "Transpose":
            return np.transpose(v[0], list(a["perm"]) if "perm" in a else None)
        if op == "Range":
            return np.arange(v[0], v[1], v[2])
        if op == "Neg":
            return np.negative(v[0])
        if op == "Mod":  # fmod=0: the sign of the divisor, as Python's % (Swin's padding to whole windows)
            return np.fmod(v[0], v[1]) if int(a.get("fmod", 0)) else np.mod(v[0], v[1])
        if op == "Pow":
            return np.power(v[0], v[1])
        if op == "Sqrt":
            return np.sqrt(v[0])
        return None

    def scale(self, node: Any, x: str, const: str) -> None:
        """A tensor times a constant number (``mul_scalar``) or times a weight of one value per
        element of one dim (``layer_scale``: ConvNeXt's (C, 1, 1) gamma)."""
        import numpy as np

        v = self.consts[const]
        xs = self.shapes[node.input[0] if node.input[0] not in self.consts else node.input[1]]
        if const not in self.weights and v.size == 1:
            self.emit(node, "mul_scalar", {"other": float(np.asarray(v).reshape(-1)[0])}, [x])
            return
        ps = tuple(int(d) for d in v.shape)
        while ps and len(ps) >= len(xs) and ps[0] == 1:
            ps = ps[1:]
        big = [i for i, d in enumerate(ps) if d != 1]
        if const in self.weights and len(big) == 1 and len(ps) < len(xs) and ps[big[0]] == xs[big[0] - len(ps)]:
            self.emit(node, "layer_scale", {"dim": big[0] - len(ps) + len(xs)}, [x])
            return
        raise self.fail(node, f"a multiplication by {'weight' if const in self.weights else 'constant'} {const} of shape {tuple(v.shape)}")

    def slice(self, node: Any, ins: list[str]) -> None:
        rank = len(self.shapes[ins[0]])
        starts, ends = self.ints(ins[1]), self.ints(ins[2])
        axes = self.ints(ins[3]) if len(ins) > 3 and ins[3] else list(range(len(starts)))
        steps = self.ints(ins[4]) if len(ins) > 4 and ins[4] else [1] * len(starts)
        layers = []
        for axis, start, end, step in sorted(zip(axes, starts, ends, steps), key=lambda t: -(t[0] % rank)):
            if step <= 0:
                raise self.fail(node, f"step {step} (only positive steps are an archsweep slice)")
            attrs: dict[str, Any] = {"dim": axis % rank, "start": start}
            if end < 2**62:
                attrs["end"] = end
            if step != 1:
                attrs["step"] = step
            layers.append(("slice", attrs))
        self.chain(node, layers, [self.tensor(ins[0], node)])

    def split(self, node: Any, a: dict[str, Any], ins: list[str]) -> None:
        shape = self.shapes[ins[0]]
        axis = int(a.get("axis", 0)) % len(shape)
        if len(ins) > 1 and ins[1]:
            sizes = self.ints(ins[1])
        elif "split" in a:
            sizes = [int(v) for v in a["split"]]
        else:  # equal pieces (num_outputs, or one per output), the last one smaller: torch.chunk's rule
            n = len(node.output)
            each = -(-shape[axis] // n)
            sizes = [min(each, shape[axis] - k * each) for k in range(n)]
        x = self.tensor(ins[0], node)
        for k, out in enumerate(node.output):
            if out:
                self.emit(node, "split", {"split_size": sizes, "dim": axis, "index": k}, [x], output=k)

    def pad(self, node: Any, a: dict[str, Any], ins: list[str]) -> None:
        mode = a.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode != "constant":
            raise self.fail(node, f"mode {mode!r} (only 'constant' is an archsweep pad)")
        rank = len(self.shapes[ins[0]])
        pads = self.ints(ins[1]) if len(ins) > 1 and ins[1] else [int(v) for v in a.get("pads", [])]
        axes = self.ints(ins[3]) if len(ins) > 3 and ins[3] else list(range(rank))
        before = dict.fromkeys(range(rank), 0)
        after = dict.fromkeys(range(rank), 0)
        for k, axis in enumerate(axes):
            before[axis % rank], after[axis % rank] = pads[k], pads[k + len(axes)]
        if before[0] or after[0]:
            raise self.fail(node, f"pads {pads} pad the batch dim")
        first = next((d for d in range(1, rank) if before[d] or after[d]), rank)
        attrs: dict[str, Any] = {"pad": [v for d in range(rank - 1, first - 1, -1) for v in (before[d], after[d])]}
        if len(ins) > 2 and ins[2]:
            import numpy as np

            value = float(np.asarray(self.consts[ins[2]]).reshape(-1)[0])
            if value:
                attrs["value"] = value
        self.emit(node, "pad", attrs, [self.tensor(ins[0], node)])


#: the ops torch.onnx.export writes for ``F.multi_head_attention_forward`` (projections, head
#: split and merge, the scaled dot product); a scope with any other op on its data is not read as one
_ATTENTION_OPS = frozenset({"Transpose", "MatMul", "Gemm", "Add", "Mul", "Div", "Reshape", "Unsqueeze", "Squeeze", "Gather",
                            "Softmax", "Split", "Slice", "Identity", "Dropout", "Cast", "Sqrt"})


def _attention_scopes(r: _Reader, data_input: str) -> tuple[set[str], dict[str, tuple[list[tuple[str, str, dict[str, Any]]], str]]]:
    """torch's ``nn.MultiheadAttention`` (batch_first, self-attention, as torchvision's ViT calls
    it) exported by ``torch.onnx.export``: its forward is written out node by node, under one
    scope (``/encoder/layers/encoder_layer_0/self_attention/...``) and partly with shapes that
    shape inference leaves unknown. A scope is read as one ``multihead_attention`` layer when it
    holds a Softmax of a MatMul of two computed tensors and: one tensor of the model enters it,
    through a Transpose (1, 0, 2) (batch first), and one leaves it, of the same shape (N, L, E),
    through a Transpose (1, 0, 2); its data nodes use only the ops of ``_ATTENTION_OPS`` with
    exactly two MatMuls of computed tensors (Q·Kᵀ and attention·V) and one Softmax over the last
    axis of (N, heads, L, L); its weights hold 4·E² (+ 4·E with biases) numbers, in-projection
    (3E, E) and out-projection (E, E), as torch's have. Returns the nodes to skip and, by the
    tensor leaving each scope, (its layers as (name, op, attributes), the tensor entering it). Anything else is
    left to the node-by-node reading (which names the node it cannot map). Nodes are named by their
    first output."""
    g = r.graph
    nodes = list(g.node)
    data = {data_input}
    for n in nodes:  # tensors computed from the input (a Shape of one is shape arithmetic)
        if n.op_type != "Shape" and any(i in data for i in n.input):
            data.update(o for o in n.output if o)
    producer = {o: k for k, n in enumerate(nodes) for o in n.output}
    consumers: dict[str, list[int]] = {}
    for k, n in enumerate(nodes):
        for i in n.input:
            consumers.setdefault(i, []).append(k)
    outputs = {o.name for o in g.output}

    def weight_chain(name: str) -> list[str]:
        """The names a weight goes by, from ``name`` back through Transposes and Identities to
        the weight itself; [] when ``name`` is not a weight."""
        chain = [name]
        while chain[-1] not in r.weights:
            k = producer.get(chain[-1])
            if k is None or nodes[k].op_type not in ("Transpose", "Identity") or not nodes[k].input:
                return []
            chain.append(nodes[k].input[0])
        return chain

    def scope(n: Any) -> str:
        """The module scope torch.onnx.export names a node with ("/" for the root module's own)."""
        return (n.name.rsplit("/", 1)[0] or "/") if n.name.startswith("/") else ""

    skip: set[str] = set()
    found: dict[str, tuple[list[tuple[str, str, dict[str, Any]]], str]] = {}
    for sm in nodes:
        prefix = scope(sm)
        if sm.op_type != "Softmax" or not prefix:
            continue
        inside = [k for k, n in enumerate(nodes) if scope(n) == prefix or scope(n).startswith(prefix.rstrip("/") + "/")]
        computed = [k for k in inside if any(o in data for o in nodes[k].output)]
        ops = [nodes[k].op_type for k in computed]
        enter = sorted({i for k in computed for i in nodes[k].input if i in data and producer.get(i, -1) not in inside})
        leave = sorted({o for k in computed for o in nodes[k].output if o in data
                        and (o in outputs or any(c not in inside for c in consumers.get(o, [])))})
        pairs = [k for k in computed if nodes[k].op_type in ("MatMul", "Einsum") and all(i in data for i in nodes[k].input)]
        if len(enter) != 1 or len(leave) != 1 or ops.count("Softmax") != 1 or len(pairs) != 2:
            continue
        x, y = r.shapes.get(enter[0]), r.shapes.get(leave[0])
        first = [nodes[c] for c in consumers.get(enter[0], []) if c in inside]
        last = nodes[producer[leave[0]]]
        att = r.shapes.get(sm.input[0])
        if x is not None and len(x) == 4 and att is not None and len(att) == 5 and set(ops) <= _ATTENTION_OPS | {"Einsum"}:
            group = _group_attention(r, inside, computed, nodes, consumers, x, y, att, sm, weight_chain, prefix)
            if group is not None:
                steps, skipped = group
                skip.update(skipped)
                found[leave[0]] = (steps, enter[0])
            continue
        if x is not None and len(x) == 4 and set(ops) <= _WINDOW_OPS:
            window = _window_attention(r, nodes, inside, computed, consumers, x, y, att, sm, weight_chain, prefix)
            if window is not None:
                name, attrs, skipped = window
                skip.update(skipped)
                found[leave[0]] = ([(name, "window_attention", attrs)], enter[0])
            continue
        if (not set(ops) <= _ATTENTION_OPS or x is None or x != y or len(x) != 3 or att is None or len(att) != 4 or att[0] != x[0]
                or int(r.attrs(sm).get("axis", -1)) % 4 != 3
                or [f.op_type for f in first] != ["Transpose"] or list(r.attrs(first[0])["perm"]) != [1, 0, 2]
                or last.op_type != "Transpose" or list(r.attrs(last)["perm"]) != [1, 0, 2]):
            continue
        e, heads = x[2], att[1]
        chains = [c for c in (weight_chain(i) for k in computed for i in nodes[k].input if i not in data) if c]
        sizes = {c[0]: int(r.consts[c[-1]].size) for c in chains}  # by the name each is read under
        total = sum(sizes.values())
        if total not in (4 * e * e, 4 * e * e + 4 * e) or e % heads:
            continue
        in_proj = next((w for c in chains for w in c if w.endswith("in_proj_weight")), "")
        name = in_proj[: -len("in_proj_weight")].rstrip(".") or prefix.split("/")[-1] or "attn"
        skip.update(nodes[k].output[0] for k in computed)
        found[leave[0]] = ([(name, "multihead_attention", {"embed_dim": e, "num_heads": heads, "bias": total != 4 * e * e})], enter[0])
    return skip, found


#: torchvision's ``shifted_window_attention`` adds the padding to whole windows and the rolls of
#: the shifted windows (Slice + Concat); V2 the cosine attention's F.normalize (ReduceL2, Clip,
#: Expand, Div)
_WINDOW_OPS = _ATTENTION_OPS | {"Pad", "Concat", "ReduceL2", "Clip", "Max", "Expand"}


def _window_attention(r: _Reader, nodes: list[Any], inside: list[int], computed: list[int], consumers: dict[str, list[int]],
                      x: tuple[int, ...], y: tuple[int, ...] | None, att: tuple[int, ...] | None, softmax: Any,
                      weight_chain: Any, prefix: str) -> tuple[str, dict[str, Any], set[str]] | None:
    """torchvision's ``ShiftedWindowAttention`` (Swin V1) or ``ShiftedWindowAttentionV2`` exported
    node by node: pad to whole
    windows, roll by the shift, partition into windows, qkv, Q·Kᵀ + the relative position bias
    (a Gather of the bias table by the index buffer) + the shift mask, softmax, ·V, proj, merge,
    roll back, crop. Read as one ``window_attention`` when the map (N, H, W, C) enters and leaves
    with its shape; the partition is a Reshape to (N, H/wh, wh, W/ww, ww, C) (the window); the
    Softmax is over the last axis of (windows·N, heads, wh·ww, wh·ww) (the heads); the scope's
    weights are exactly qkv (3C, C), proj (C, C), their biases or not, an integer index of
    (wh·ww)² values and either (V1) a table of ((2wh − 1)(2ww − 1), heads) or (V2) the logit
    scale (heads, 1, 1), the position-bias MLP (hidden, 2), (hidden,), (heads, hidden) and its
    input table (1, 2wh − 1, 2ww − 1, 2); the shift is read from
    the roll: no Concat of the map (no shift: torchvision drops it where the window covers the
    map) or four (a roll of H and W there and back), the first two of which put the last
    ``shift`` rows and columns first. Anything else: None (read node by node)."""

    if x != y or att is None or len(att) != 4 or int(r.attrs(softmax).get("axis", -1)) % 4 != 3:
        return None
    c, heads, t = x[3], att[1], att[2]
    parts = [r.shapes.get(nodes[k].output[0]) for k in computed if nodes[k].op_type == "Reshape"]
    six = [p for p in parts if p is not None and len(p) == 6]
    if not six or att[3] != t or c % heads:
        return None
    wh, ww = six[0][2], six[0][4]
    if wh * ww != t:
        return None
    chains = [ch for ch in (weight_chain(i) for k in inside for i in nodes[k].input) if ch]
    # by the name each weight is read under: torch.onnx.export passes parameters of equal values
    # (zero biases) as one input through Identities, each still a parameter of its own
    named = _read_names(chains)
    have = Counter(_weight_kind(r.consts[w]) for w in named.values())
    both = [((3 * c, c), False), ((c, c), False), ((t * t,), True)]
    # V1: the bias table; V2: the logit scale, the position-bias MLP (2 -> hidden -> heads, its
    # last linear without bias) and its input, the relative coordinates table
    hidden = next((sh[0] for sh, integer in have if len(sh) == 2 and sh[1] == 2 and sh not in ((3 * c, c), (c, c)) and not integer), 0)
    v1 = Counter([*both, (((2 * wh - 1) * (2 * ww - 1), heads), False)])
    v2 = Counter([*both, ((heads, 1, 1), False), ((hidden, 2), False), ((hidden,), False), ((heads, hidden), False),
                  ((1, 2 * wh - 1, 2 * ww - 1, 2), False)])
    version = next((v for v, want in ((1, v1), (2, v2)) if not want - have), 0)
    biases = have - (v1 if version == 1 else v2)
    if not version or not set(biases) <= {((3 * c,), False), ((c,), False)} or max(biases.values(), default=1) > 1:
        return None
    rolls = [k for k in computed if nodes[k].op_type == "Concat"]
    if len(rolls) not in (0, 4):
        return None
    shift = [0, 0]
    for k, axis in zip(rolls[:2], (1, 2)):
        piece = r.shapes.get(nodes[k].input[1])
        if int(r.attrs(nodes[k])["axis"]) % 4 != axis or piece is None:
            return None
        shift[axis - 1] = piece[axis]
    # the scope's other nodes (the bias's Gather, the shift mask) must serve only the scope
    rest = [k for k in inside if nodes[k].op_type != "Constant"]
    if any(cn not in inside for k in rest if k not in computed for o in nodes[k].output for cn in consumers.get(o, [])):
        return None
    key = "relative_position_bias_table" if version == 1 else "logit_scale"
    table = next((w for ch in chains for w in ch if w.endswith(key)), "")
    name = table[: -len(key)].rstrip(".") or prefix.split("/")[-1] or "attn"
    attrs: dict[str, Any] = {"num_heads": heads, "window_size": [wh, ww], "shift_size": shift,
                             "qkv_bias": ((3 * c,), False) in biases, "proj_bias": ((c,), False) in biases}
    if version == 2:
        attrs.update(version=2, cpb_hidden=hidden)
    return name, attrs, {nodes[k].output[0] for k in rest}


def _read_names(chains: list[list[str]]) -> dict[str, str]:
    """Each weight by the name its reader reads it under -> the weight: a chain's first name,
    unless it is a later link of another chain (a weight transposed for a MatMul is one weight)."""
    inner = {w for ch in chains for w in ch[1:]}
    return {ch[0]: ch[-1] for ch in chains if ch[0] not in inner}


def _weight_kind(w: Any) -> tuple[tuple[int, ...], bool]:
    """A weight's shape and whether it is an integer buffer (an index: by its number of values,
    which torchvision keeps flat in Swin and square in MaxViT)."""
    import numpy as np

    integer = bool(np.issubdtype(w.dtype, np.integer))
    return ((int(w.size),) if integer else tuple(int(d) for d in w.shape)), integer


def _group_attention(r: _Reader, inside: list[int], computed: list[int], nodes: list[Any], consumers: dict[str, list[int]],
                     x: tuple[int, ...], y: tuple[int, ...] | None, att: tuple[int, ...], softmax: Any, weight_chain: Any,
                     prefix: str) -> tuple[list[tuple[str, str, dict[str, Any]]], set[str]] | None:
    """torchvision MaxViT's ``RelativePositionalMultiHeadAttention`` exported node by node: on
    (N, G, P, D), groups of P = p x p tokens, qkv linear, Q·Kᵀ and attention·V as Einsums, a
    relative position bias (a Gather of the table by the index buffer), merge linear. Read as
    ``from_torch`` reads the module: window_attention on G·p rows of p tokens (each window of p x p
    is one group: the same parameters, buffer and MACs), with a reshape on each side. Only when
    (N, G, P, D) enters and leaves; the Softmax is over the last axis of (N, G, heads, P, P); the
    weights are exactly qkv (3D, D) and (3D,), merge (D, D) and (D,), a ((2p − 1)², heads) table
    and an integer index of P² values; and the scope's other nodes serve only it. Else None."""
    import math


    if x != y or int(r.attrs(softmax).get("axis", -1)) % 5 != 4 or att[:2] != x[:2] or att[3] != x[2] or att[4] != x[2]:
        return None
    _, g, t, d = x
    heads, side = att[2], math.isqrt(x[2])
    if side * side != t or d % heads:
        return None
    chains = [ch for ch in (weight_chain(i) for k in inside for i in nodes[k].input) if ch]
    named = _read_names(chains)  # by the name each is read under (see _window_attention)
    shapes = sorted(_weight_kind(r.consts[w]) for w in named.values())
    want = sorted([((3 * d, d), False), ((3 * d,), False), ((d, d), False), ((d,), False), (((2 * side - 1) ** 2, heads), False),
                   ((t * t,), True)])
    rest = [k for k in inside if nodes[k].op_type != "Constant"]
    if shapes != want or any(cn not in inside for k in rest if k not in computed for o in nodes[k].output
                             for cn in consumers.get(o, [])):
        return None
    table = next((w for ch in chains for w in ch if w.endswith("relative_position_bias_table")), "")
    name = table[: -len("relative_position_bias_table")].rstrip(".") or prefix.split("/")[-1] or "attn"
    steps: list[tuple[str, str, dict[str, Any]]] = [
             (f"{name}.partition", "reshape", {"shape": [g * side, side, d]}),
             (name, "window_attention", {"num_heads": heads, "window_size": side}),
             (f"{name}.departition", "reshape", {"shape": [g, t, d]})]
    return steps, {nodes[k].output[0] for k in rest}


def _infer_and_fold(onnx: Any, model: Any, where: str) -> Any:
    """``model`` with its shapes inferred by ``onnx.shape_inference``, and its shape arithmetic
    folded where shape inference leaves values unknown: ONNX's data propagation does not go
    through every op (not through Div: ShuffleNetV2's ``x.chunk(2, dim=1)`` is a Slice whose
    bounds are ``(C + 1) // 2``, computed from the input's shape), so the shapes after such a
    Slice are unknown. Each node of shape arithmetic the reader can evaluate (``Shape`` of a
    tensor of known shape, Gather/Add/Div/... of constants) becomes a ``Constant`` of that value,
    in the dtype ONNX inferred for it, and the shapes are inferred again, until no node is left
    to fold (each round makes the shapes of the next chunk known)."""
    from onnx import numpy_helper

    def infer(m: Any) -> Any:
        try:
            return onnx.shape_inference.infer_shapes(m, strict_mode=True, data_prop=True)
        except Exception as e:  # noqa: BLE001
            raise FromOnnxError(f"{where}: ONNX shape inference failed: {type(e).__name__}: {str(e).strip().splitlines()[0]}") from None

    model = infer(model)
    r = _Reader(onnx, model, where)  # its weights, and the constants it evaluates, for every round
    data = {k for k, v in r.where_is.items() if v == "x"}
    for node in model.graph.node:  # computed from the input (not foldable; a Shape of one is)
        if node.op_type != "Shape" and any(i in data for i in node.input):
            data.update(o for o in node.output if o)
    while True:
        g = model.graph
        # what this round needs of the inferred shapes: the inputs of Shape nodes and the types of
        # the values that may be folded
        todo = [n for n in g.node if n.op_type != "Constant" and len(n.output) == 1 and n.output[0] not in data
                and (n.op_type == "Shape" or (n.op_type in _SHAPE_ARITHMETIC and not any(i in r.weights for i in n.input)))]
        wanted = {n.input[0] for n in todo if n.op_type == "Shape"}
        types: dict[str, int] = {}
        for v in [*g.input, *g.value_info, *g.output]:
            types[v.name] = v.type.tensor_type.elem_type
            dims = v.type.tensor_type.shape.dim
            if v.name in wanted and v.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in dims):
                r.shapes[v.name] = tuple(int(d.dim_value) for d in dims)
        for node in g.node:
            if node.op_type == "Constant" and node.output[0] not in r.consts:
                r.consts[node.output[0]] = numpy_helper.to_array(r.attrs(node)["value"])
        folded = 0
        for node in todo:
            value = r.shape_arithmetic(node.op_type, r.attrs(node), list(node.input))
            if value is None or types.get(node.output[0], 0) == 0:
                continue
            value = value.astype(onnx.helper.tensor_dtype_to_np_dtype(types[node.output[0]]))
            r.consts[node.output[0]] = value
            tensor = numpy_helper.from_array(value, node.output[0])
            node.op_type, node.domain = "Constant", ""
            del node.input[:]
            del node.attribute[:]
            node.attribute.append(onnx.helper.make_attribute("value", tensor))
            folded += 1
        if not folded:
            return model
        model = infer(model)


def _weight_inputs(g: Any) -> list[Any]:
    """The weights of a file whose weights are inputs (``torch.onnx.export(...,
    export_params=False)``): no initializers, and every input after the first (the data) with a
    fully known shape. Any other file: none."""
    if len(g.initializer) or len(g.input) < 2:
        return []
    rest = list(g.input)[1:]
    static = all(all(d.HasField("dim_value") for d in i.type.tensor_type.shape.dim) for i in rest)
    return rest if static else []


def from_onnx(path: str | Path, input_shape: Sequence[int] | None = None, *, name: str | None = None) -> Model:
    """An archsweep model of the ONNX file ``path``. ``input_shape`` (per sample, batch
    excluded) replaces the file's input shape, whose batch dim is then 1; without it the file's
    own (a symbolic batch dim counts as 1). Raises :class:`FromOnnxError` naming the node it
    cannot map, and :class:`archsweep.TorchMissingError` (an ``ImportError``) without onnx."""
    onnx = _require_onnx()
    p = Path(path)
    if not p.is_file():
        raise FromOnnxError(f"{p}: no such ONNX file")
    try:
        model = onnx.load(str(p))
    except Exception as e:  # a file onnx cannot decode  # noqa: BLE001
        raise FromOnnxError(f"{p}: cannot read the ONNX file: {type(e).__name__}: {e}") from None
    inits = {i.name for i in model.graph.initializer} | {i.name for i in _weight_inputs(model.graph)}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise FromOnnxError(f"{p}: a model has one input, this file has {len(inputs)}")
    dims = inputs[0].type.tensor_type.shape.dim
    if input_shape is not None:
        want = [1, *[int(d) for d in input_shape]]
        if len(want) != len(dims):
            raise FromOnnxError(f"{p}: the input has {len(dims) - 1} dims per sample, --input gives {len(want) - 1}")
    else:
        want = [d.dim_value if d.HasField("dim_value") else 1 for d in dims]
        want[0] = 1
    for d, v in zip(dims, want):
        d.Clear()
        d.dim_value = v
    for out in model.graph.output:
        for d in out.type.tensor_type.shape.dim:
            d.Clear()  # inferred again for this input
    model = _infer_and_fold(onnx, model, str(p))
    layers = _Reader(onnx, model, str(p)).run()
    return Model(name=name or p.stem, layers=layers, input=want[1:], source=str(p))
