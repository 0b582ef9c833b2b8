"""The fallback trace of ``from_torch`` for modules ``torch.fx`` cannot trace symbolically
(Python control flow on shapes or values: ``if x.shape[-1] < k``, loops over sizes).

The module runs once, eagerly, on a fake input (``FakeTensorMode``: no memory, no compute), so
its control flow takes the branch a real input of that shape takes. While it runs, a
``TorchFunctionMode`` records every torch function and tensor method called outside a leaf
module, and global module hooks record each leaf module's call (the modules fx would keep as
leaves: ``torch.nn``'s own and archsweep's leaf classes) with its qualified name, so layers are
named as with fx (``layer1.0.conv1``). The record is an ``fx.Graph`` of the same node kinds fx
makes (``placeholder``, ``get_attr`` for a parameter or buffer read in a forward, ``call_module``,
``call_function``, ``call_method``, and ``getitem`` for the pieces of a returned tuple), so the
one converter maps both traces; what it cannot map is refused the same way, naming the node and
the module whose forward made the call.
"""

from __future__ import annotations

import operator
from typing import Any

#: Tensor dunder methods -> the operator fx records for them (reflected ones swap their operands).
_OPERATORS = {
    "__add__": (operator.add, False), "__radd__": (operator.add, True), "__iadd__": (operator.iadd, False),
    "__mul__": (operator.mul, False), "__rmul__": (operator.mul, True), "__imul__": (operator.imul, False),
    "__sub__": (operator.sub, False), "__rsub__": (operator.sub, True), "__truediv__": (operator.truediv, False),
    "__matmul__": (operator.matmul, False), "__getitem__": (operator.getitem, False),
}


class Trace:
    """What the converter reads of a trace: its graph, and the module's submodules and
    parameters by qualified name (``fx.GraphModule``'s interface)."""

    def __init__(self, module: Any, graph: Any):
        self.module, self.graph = module, graph

    def get_submodule(self, target: str) -> Any:
        return self.module.get_submodule(target)

    def get_parameter(self, target: str) -> Any:
        return self.module.get_parameter(target)


def trace(torch: Any, module: Any, x: Any, is_leaf: Any) -> tuple[Trace, dict[str, Any]]:
    """Run ``module`` on ``x`` (a fake tensor), recording an ``fx.Graph``; returns the trace and
    every node's value by node name. ``is_leaf(m, qualname)`` says which modules are one node."""
    import torch.fx as fx
    from torch.overrides import TorchFunctionMode

    graph = fx.Graph()
    values: dict[str, Any] = {}
    node_of: dict[int, Any] = {}  # id of a tensor -> the node that made it (values keeps them alive)
    pieces: dict[int, tuple[Any, int, Any]] = {}  # id of a tensor in a returned tuple -> (node, index, tensor)
    names = {id(m): n for n, m in module.named_modules()}
    state = {id(t): n for n, t in (*module.named_parameters(), *module.named_buffers())}
    stack: list[tuple[str, type]] = []  # the modules running, outermost first
    leaf_depth = [0]

    def record(op: str, target: Any, args: tuple, kwargs: dict, value: Any, name: str | None = None) -> Any:
        node = graph.create_node(op, target, args, kwargs, name=name)
        node.meta["nn_module_stack"] = {path: (path, cls) for path, cls in stack}
        values[node.name] = value
        if isinstance(value, torch.Tensor):
            node_of[id(value)] = node
        elif isinstance(value, (tuple, list)):
            for i, v in enumerate(value):  # a piece of a tuple becomes fx's getitem node once it is read
                if isinstance(v, torch.Tensor) and id(v) not in node_of:
                    pieces[id(v)] = (node, i, v)
        return node

    def arg(a: Any) -> Any:
        """A call's argument in the graph: a tensor as its node (a parameter or buffer read in
        a forward: a get_attr node), lists and tuples item by item, anything else as it is."""
        if isinstance(a, torch.Tensor):
            if id(a) in node_of:
                return node_of[id(a)]
            if id(a) in pieces:
                src, i, v = pieces.pop(id(a))
                return record("call_function", operator.getitem, (src, i), {}, v)
            if id(a) in state:
                return record("get_attr", state[id(a)], (), {}, a)
            return record("call_function", torch.Tensor, (), {}, a, name="tensor_constant")
        if isinstance(a, (list, tuple)) and not hasattr(a, "_fields"):
            return type(a)(arg(v) for v in a)
        if isinstance(a, dict):
            return {k: arg(v) for k, v in a.items()}
        return a

    class Record(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if leaf_depth[0] or not _returns_tensors(torch, out):
                return out  # inside a leaf module, or shape arithmetic: nothing to record
            name = getattr(func, "__name__", "")
            if name in _OPERATORS:
                target, swap = _OPERATORS[name]
                a = (args[1], args[0], *args[2:]) if swap else args
                record("call_function", target, arg(a), arg(kwargs), out)
            elif _is_method(torch, func):
                record("call_method", name, arg(args), arg(kwargs), out)
            else:
                record("call_function", func, arg(args), arg(kwargs), out)
            return out

    def pre(m: Any, inputs: Any) -> None:
        path = names.get(id(m))
        if path is None:
            return
        if path:
            stack.append((path, type(m)))
        if leaf_depth[0] or (path and is_leaf(m, path)):
            leaf_depth[0] += 1

    def post(m: Any, inputs: Any, out: Any) -> None:
        path = names.get(id(m))
        if path is None:
            return
        if leaf_depth[0] or (path and is_leaf(m, path)):
            leaf_depth[0] -= 1
            if leaf_depth[0] == 0 and path and is_leaf(m, path):
                stack.pop()
                record("call_module", path, arg(tuple(inputs)), {}, out, name=path.replace(".", "_"))
                return
        if path:
            stack.pop()

    from torch.nn.modules import module as nn_module

    x_node = record("placeholder", "x", (), {}, x)
    node_of[id(x)] = x_node
    handles = [nn_module.register_module_forward_pre_hook(pre), nn_module.register_module_forward_hook(post)]
    try:
        with Record():
            out = module(x)
    finally:
        for h in handles:
            h.remove()
    graph.output(arg(out))
    return Trace(module, graph), values


def _returns_tensors(torch: Any, out: Any) -> bool:
    return isinstance(out, torch.Tensor) or (isinstance(out, (tuple, list)) and any(isinstance(v, torch.Tensor) for v in out))


def _is_method(torch: Any, func: Any) -> bool:
    """A tensor method (``x.view(...)``), recorded as fx's call_method by name."""
    name = getattr(func, "__name__", None)
    return name is not None and getattr(torch.Tensor, name, None) is func
