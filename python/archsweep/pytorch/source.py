"""A model as PyTorch source: one ``nn.Module`` class whose submodules are named after the
layers and whose forward is written out in the model's (topological) order. Pure text: nothing
here imports torch, so ``archsweep export`` runs without it.

Names: a layer ``stage1.conv1`` is the submodule ``self.stage1.conv1`` (``stage1`` an empty
``nn.Module`` holding it); a part that is not an identifier becomes one (``mlp.0`` is
``self.mlp._0``, ``a-b`` is ``a_b``; a part that clashes with an ``nn.Module`` attribute or a
keyword gets a trailing ``_``). Forward values go in ``x`` while they are read once, by the next
layer; a value read later or more than once gets a variable named after its layer
(``stage1_conv1``). Layers that hold nothing (add, concat, views) are expressions in forward.
A layer whose output never reaches the last layer's (an auxiliary head) keeps its submodule but
is not run by forward, as archsweep counts it (docs/inference-only.md).
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archsweep._core import ArchsweepError
from archsweep.pytorch.ops import Emitted, emit, quoted

#: Keys of a layer that belong to the graph, not to its op (the core's GRAPH_KEYS).
GRAPH_KEYS = ("name", "op", "inputs", "holds", "trainable", "comment")

# attributes and methods of nn.Module (torch 2.x) a submodule must not shadow; a name of these
# gets a trailing underscore
_MODULE_ATTRS = frozenset("""
T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda double dump_patches eval
extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half ipu load_state_dict modules
mtia named_buffers named_children named_modules named_parameters parameters register_backward_hook
register_buffer register_forward_hook register_forward_pre_hook register_full_backward_hook
register_full_backward_pre_hook register_load_state_dict_post_hook register_load_state_dict_pre_hook
register_module register_parameter register_state_dict_post_hook register_state_dict_pre_hook requires_grad_
set_extra_state set_submodule share_memory smart_apply state_dict to to_empty train training type xpu zero_grad
""".split())

# and of nn.ModuleDict (its keys must not shadow them either)
_DICT_ATTRS = frozenset({"clear", "items", "keys", "pop", "update", "values"})

_RESERVED_LOCALS = frozenset({"self", "x", "torch", "nn", "F"})


def _attr_ok(part: str) -> bool:
    """A name that can be a submodule attribute as it is (``self.<part>``)."""
    return part.isidentifier() and not keyword.iskeyword(part) and part not in _MODULE_ATTRS and not part.startswith("_")


def _key_ok(part: str) -> bool:
    """A name that can be an ``nn.ModuleDict`` key as it is (``["<part>"]``)."""
    return bool(part) and part not in _MODULE_ATTRS and part not in _DICT_ATTRS and not part.startswith("_")


@dataclass
class Layer:
    """One layer as the generator sees it: ``inputs`` name values (``"x"`` is the model input,
    else a layer), ``shapes`` are their shapes (batch included)."""

    name: str
    op: str
    attrs: dict[str, Any]
    inputs: list[str]
    shapes: list[tuple[int, ...]]
    trainable: bool = True
    comment: str | None = None


@dataclass
class Generated:
    """The source of a module class and what the export knows about it."""

    source: str
    class_name: str
    #: layer name -> its submodule's (or parameter's) state_dict path, for layers that hold one
    paths: dict[str, str] = field(default_factory=dict)

    def load_class(self) -> Any:
        """The class this source defines, from running it (needs torch)."""
        from archsweep.pytorch import load_class

        return load_class(self.source, self.class_name)

    def module(self, device: Any = None) -> Any:
        """An instance of the class in eval mode, built on ``device`` (``"meta"``: no memory
        for the weights). Needs torch."""
        from archsweep.pytorch import instantiate

        return instantiate(self.load_class(), device)


def identifier(text: str) -> str:
    """``text`` as a Python identifier: other characters become ``_``, a leading digit gets a
    ``_`` in front, a keyword a ``_`` behind."""
    s = re.sub(r"\W", "_", text, flags=re.ASCII) or "_"
    if s[0].isdigit():
        s = "_" + s
    if keyword.iskeyword(s) or keyword.issoftkeyword(s):
        s += "_"
    return s


def class_name(name: str) -> str:
    """``resnet50`` -> ``Resnet50``, ``mobilenet_v3_large`` -> ``MobilenetV3Large``,
    ``nb201#123`` -> ``Nb201_123``."""
    parts = [p for p in re.split(r"[\W_]+", name, flags=re.ASCII) if p]
    if not parts:
        return "Net"
    out = ""
    for p in parts:
        piece = p[0].upper() + p[1:]
        out += ("_" if out and p[0].isdigit() else "") + piece
    return identifier(out)


class _Names:
    """Where each layer's module (or parameter) lives. Names are kept as written wherever torch
    allows, so that state_dict keys are the layer names (``features.0.0.weight``): a container
    whose parts are all identifiers is an ``nn.Module`` with attributes (``self.stage1.conv1``),
    one with other parts (``mlp.0``) an ``nn.ModuleDict`` (``self.mlp["0"]``). What torch refuses
    is renamed: top-level parts and parameters become identifiers (``0`` -> ``_0``), a part that
    is an ``nn.Module`` attribute (``eval``) or starts with ``_`` gets a trailing ``_``, and a
    layer whose name is also a prefix of other names (``a`` and ``a.b``) is ``a_``."""

    def __init__(self, leaves: dict[str, bool]):
        """``leaves``: layer name -> whether it holds a parameter (else a module)."""
        raw = {name: tuple(name.split(".")) for name in leaves}
        prefixes = {p[:i] for p in raw.values() for i in range(1, len(p))}
        for name, parts in raw.items():
            if parts in prefixes:
                raw[name] = parts[:-1] + (parts[-1] + "_",)
        kids: dict[tuple[str, ...], list[str]] = {}
        for parts in raw.values():
            for i in range(len(parts)):
                siblings = kids.setdefault(parts[:i], [])
                if parts[i] not in siblings:
                    siblings.append(parts[i])
        #: containers (raw paths) that are ModuleDicts; the root never is
        self.dicts = {c for c, ks in kids.items() if c and not all(_attr_ok(k) for k in ks)}
        params = {raw[name] for name, is_param in leaves.items() if is_param}
        self.code: dict[tuple[str, ...], str] = {(): "self"}  # raw path -> the code reaching it
        self.key: dict[tuple[str, ...], tuple[str, ...]] = {(): ()}  # raw path -> its state_dict path
        taken: dict[tuple[str, ...], set[str]] = {}
        for parts in raw.values():
            for i in range(1, len(parts) + 1):
                path = parts[:i]
                if path in self.code:
                    continue
                parent = path[:-1]
                as_key = parent in self.dicts and path not in params
                part = path[-1]
                if not (_key_ok(part) if as_key else _attr_ok(part)):
                    part = part if as_key else identifier(part)
                    if part in _MODULE_ATTRS or part in _DICT_ATTRS or (part.startswith("_") and not re.fullmatch(r"_\d\w*", part)):
                        part += "_"
                base, k = part, 2
                while part in taken.setdefault(parent, set()):
                    part, k = f"{base}_{k}", k + 1
                taken[parent].add(part)
                self.code[path] = self.code[parent] + (f"[{quoted(part)}]" if as_key else f".{part}")
                self.key[path] = self.key[parent] + (part,)
        self.raw = raw

    def containers(self, name: str) -> list[tuple[str, str]]:
        """(code, class) of the containers above layer ``name``, outermost first."""
        parts = self.raw[name]
        return [(self.code[parts[:i]], "nn.ModuleDict" if parts[:i] in self.dicts else "nn.Module") for i in range(1, len(parts))]

    def access(self, name: str) -> str:
        return self.code[self.raw[name]]

    def state_key(self, name: str) -> str:
        return ".".join(self.key[self.raw[name]])


def _locals(layers: list[Layer]) -> dict[str, str]:
    """A variable name per layer: its name with dots as underscores, unique."""
    used = set(_RESERVED_LOCALS)
    out = {}
    for layer in layers:
        base = identifier(layer.name.replace(".", "_"))
        name, k = base, 2
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        out[layer.name] = name
    return out


def helper_source(name: str) -> str:
    """The source of class ``name`` of :mod:`archsweep.pytorch.helpers`, read as text."""
    text = (Path(__file__).resolve().parent / "helpers.py").read_text(encoding="utf-8")
    for node in ast.parse(text).body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            segment = ast.get_source_segment(text, node)
            assert segment is not None
            return segment
    raise ArchsweepError(f"internal error: no helper class {name}")


def _comment(text: str, indent: str) -> list[str]:
    return [f"{indent}# {line}".rstrip() for line in str(text).splitlines()]


def _docstring(text: str) -> str:
    """``text`` as a docstring literal (backslashes kept, no early end)."""
    return '"""' + text.strip().replace("\\", "\\\\").replace('"""', "'''") + '\n"""'


def generate(layers: list[Layer], inputs: list[str], name: str, *, cls: str | None = None, header: str = "",
             footer: str = "", input_shape: Sequence[int] | None = None, input_dtype: str = "torch.float32") -> Generated:
    """The source of a module class computing ``layers`` (in order) from ``inputs`` (the
    forward's arguments); the last layer's output is returned. ``header`` is the file's
    docstring, ``footer`` code after the class; ``input_shape`` and ``input_dtype`` become class
    attributes."""
    if not layers:
        raise ArchsweepError("a model needs at least one layer")
    cls = cls or class_name(name)
    if not cls.isidentifier() or keyword.iskeyword(cls) or cls in _RESERVED_LOCALS:
        raise ArchsweepError(f"class name {cls!r} is not a Python identifier free to use")
    emitted: list[Emitted] = []
    for layer in layers:
        try:
            emitted.append(emit(layer.op, layer.attrs, layer.shapes))
        except ArchsweepError as err:
            raise ArchsweepError(f"{layer.name} ({layer.op}): {err}") from None
    names = _Names({layer.name: e.parameter for layer, e in zip(layers, emitted) if e.init is not None})
    var = _locals(layers)

    # layers whose output reaches the last layer's: the others (an auxiliary head) hold their
    # modules but forward does not run them, as archsweep counts them (docs/inference-only.md)
    live = {layers[-1].name}
    for layer in reversed(layers):
        if layer.name in live:
            live.update(layer.inputs)
    # who reads each value (layer positions; the return reads the last layer, at len(layers))
    reads: dict[str, list[int]] = {v: [] for v in inputs}
    for i, layer in enumerate(layers):
        reads[layer.name] = []
        for v in layer.inputs:  # (a layer not run still names what it reads, in its comment)
            reads[v].append(i)
    reads[layers[-1].name].append(len(layers))

    init_lines: list[str] = []
    forward_lines: list[str] = []
    made: set[str] = set()
    paths: dict[str, str] = {}
    where: dict[str, str] = {}  # value -> the variable holding it
    in_x: str | None = None  # the value held by `x`
    for v in inputs:
        where[v] = v
        if v == "x":
            in_x = v
    for i, (layer, e) in enumerate(zip(layers, emitted)):
        m = ""
        if e.init is not None:
            for code, kind in names.containers(layer.name):
                if code not in made:
                    made.add(code)
                    init_lines.append(f"        {code} = {kind}()")
            m = names.access(layer.name)
            paths[layer.name] = names.state_key(layer.name)
            if layer.comment:
                init_lines.extend(_comment(layer.comment, "        "))
            init_lines.append(f"        {m} = {e.init}")
            if not layer.trainable:
                init_lines.append(f"        {m}.requires_grad_(False)  # trainable = false")
        if layer.name not in live:
            # shown, not run: what it would compute
            args = [where[v] for v in layer.inputs]
            where[layer.name] = var[layer.name]
            expr = e.call.format(*args, m=m, xs=", ".join(args))
            forward_lines.append(f"        # {var[layer.name]} = {expr}  (not run: its output never reaches the model's output)")
            continue
        args = [where[v] for v in layer.inputs]
        expr = e.call.format(*args, m=m, xs=", ".join(args))
        # `x` takes the output when the next layer is its one reader and what `x` holds is dead
        x_free = in_x is None or all(r <= i for r in reads[in_x])
        if reads[layer.name] == [i + 1] and x_free:
            target = "x"
            in_x = layer.name
        else:
            target = var[layer.name]
        where[layer.name] = target
        if e.init is None and layer.comment:
            forward_lines.extend(_comment(layer.comment, "        "))
        forward_lines.append(f"        {target} = {expr}")
    forward_lines.append(f"        return {where[layers[-1].name]}")

    helpers = sorted({h for e in emitted for h in e.helpers})
    functional = any(e.functional for e in emitted)
    imports = ["import torch", *(["import torch.nn.functional as F"] if functional else []), "from torch import nn"]
    out: list[str] = []
    if header:
        out += [_docstring(header), ""]
    out += imports + ["", ""]
    for h in helpers:
        out += [helper_source(h), "", ""]
    out.append(f"class {cls}(nn.Module):")
    if input_shape is not None:
        out.append(f"    input_shape = {tuple(input_shape)!r}  # per sample: the batch comes first")
        out.append(f"    input_dtype = {input_dtype}")
        out.append("")
    out.append("    def __init__(self):")
    out.append("        super().__init__()")
    out += init_lines
    out.append("")
    sig = ", ".join(inputs)
    out.append(f"    def forward(self, {sig}):")
    out += forward_lines
    if footer:
        out += ["", "", footer.rstrip()]
    return Generated("\n".join(out) + "\n", cls, paths)
