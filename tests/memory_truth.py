"""PyTorch's own accounting of activation memory, for tests/test_memory_torch.py (and
docs/memory.md): what autograd saves for the backward, and the live-storage peak of an eager
forward under ``no_grad``. Imports torch: only torch tests import this module.

What counts, what does not:

* **saved** — every tensor autograd packs for the backward during one training-mode forward
  (``torch.autograd.graph.saved_tensors_hooks``), counted once per *storage* (views and in-place
  results share one; a storage kept by several ops counts once), by the storage's bytes.
  Parameters and buffers are left out (they are weights, not activations); the model input
  counts when an op saves it.
* **live peak** — a ``TorchDispatchMode`` under ``no_grad`` in eval mode sees every ATen op's
  outputs: each output storage not seen before (not a parameter's or buffer's) adds its bytes,
  and a weak-reference finaliser on the storage subtracts them when it dies. The caller's input
  is counted from the start to the end (the caller holds it). Work buffers a kernel allocates
  inside itself without returning them (a CPU convolution's re-laid-out copy of its weight, a
  GEMM's packing buffer) are not ATen outputs and are not counted.
* Models run on *fake* CPU tensors (``FakeTensorMode``): the same autograd formulas, the same
  composite decompositions and the same kernel choices as on the CPU (attention picks the CPU's
  flash kernel), with shapes and storages but no data — checked against real CPU runs of
  resnet18, vit_b_16 and swin_t (equal at batch 1 and 3). (The ``meta``
  device is not the CPU: its multi-head attention takes another kernel, and its eval-mode
  ``native_batch_norm`` returns (C,) statistics where the CPU's returns empty ones, which is why
  those two outputs are never counted.)
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

#: torchvision constructor arguments that make its model the zoo preset of that name (the
#: googlenet preset is the published one, without auxiliary classifiers; vit_h_14 is published
#: at 518 px)
TORCHVISION_KWARGS: dict[str, dict[str, Any]] = {"googlenet": {"aux_logits": False}, "vit_h_14": {"image_size": 518}}


def torchvision_model(name: str) -> torch.nn.Module:
    """torchvision's ``name`` (no weights), built on the meta device; :func:`measure` gives it
    fake CPU storage."""
    import torchvision

    kwargs = TORCHVISION_KWARGS.get(name, {})
    try:
        with torch.device("meta"):
            return torchvision.models.get_model(name, weights=None, **kwargs)
    except NotImplementedError:
        # RegNet's constructor reads tensor values (its block widths): build it on the CPU, with
        # the weight initialisers turned off (untouched storage costs no time and no memory)
        import unittest.mock

        inits = [n for n in dir(torch.nn.init) if n.endswith("_") and not n.startswith("_")]
        with unittest.mock.patch.multiple(torch.nn.init, **{n: lambda t, *a, **k: t for n in inits}):
            return torchvision.models.get_model(name, weights=None, **kwargs)


def measure(m: torch.nn.Module, input_shape: tuple[int, ...], train: bool = True) -> tuple[int | None, int]:
    """(saved bytes, live peak) of ``m`` on an fp32 input of ``input_shape`` (batch first), run
    on fake CPU tensors. ``m`` is a fresh model on the meta device: it is given fake CPU storage
    (once: build another for the next call). ``train=False``: no training forward (saved None)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode(allow_non_fake_inputs=True):
        fake = m.to_empty(device="cpu")
        x = torch.empty(input_shape)
        return (saved_bytes(fake, x) if train else None), live_peak(fake, x)


def _key(t: torch.Tensor) -> int:
    """The identity of a tensor's storage (views share it)."""
    return t.untyped_storage()._cdata


def _state(m: torch.nn.Module) -> set[int]:
    return {_key(p) for p in m.parameters()} | {_key(b) for b in m.buffers()}


def saved_bytes(m: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes of the distinct non-parameter storages autograd keeps in one training forward."""
    m.train()
    state = _state(m)
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        k = _key(t)
        if k not in state and k not in seen:
            seen[k] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = m(x)
    del out
    return sum(seen.values())


class _Live(TorchDispatchMode):
    def __init__(self, known: set[int]):
        super().__init__()
        self.known = known
        self.live = 0
        self.peak = 0

    def _dead(self, k: int, n: int) -> None:
        self.known.discard(k)
        self.live -= n

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        leaves = tree_leaves(out)
        if func is torch.ops.aten.native_batch_norm.default and not args[5]:
            leaves = leaves[:1]  # eval: the CPU kernel's statistics are empty (see above)
        for t in leaves:
            if isinstance(t, torch.Tensor):
                st = t.untyped_storage()
                k = st._cdata
                if k in self.known:
                    continue
                n = st.nbytes()
                self.known.add(k)
                self.live += n
                self.peak = max(self.peak, self.live)
                weakref.finalize(st, self._dead, k, n)
        return out


def live_peak(m: torch.nn.Module, x: torch.Tensor) -> int:
    """The live-storage peak of ``m(x)`` in eval mode under ``no_grad``, the input included."""
    m.eval()
    mode = _Live(_state(m) | {_key(x)})
    with torch.no_grad(), mode:
        out = m(x)
    del out
    return x.untyped_storage().nbytes() + mode.peak


def per_module(m: torch.nn.Module, input_shape: tuple[int, ...]) -> dict[str, tuple[int, int]]:
    """Per leaf module of ``m`` (by qualified name): (bytes autograd saves first while it runs, as
    in :func:`saved_bytes`; live bytes just after it returns, as in :func:`live_peak`, the
    input included). On fake CPU tensors, as :func:`measure` (``m`` fresh on the meta device)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    leaves = [(n, mod) for n, mod in m.named_modules() if n and not list(mod.children())]
    current: list[str] = [""]
    saved: dict[str, int] = {n: 0 for n, _ in leaves}
    live: dict[str, int] = {}
    with FakeTensorMode(allow_non_fake_inputs=True):
        fake = m.to_empty(device="cpu")
        x = torch.empty(input_shape)
        state = _state(fake)
        seen: set[int] = set()

        def pack(t: torch.Tensor) -> torch.Tensor:
            k = _key(t)
            if k not in state and k not in seen:
                seen.add(k)
                saved[current[0]] = saved.get(current[0], 0) + t.untyped_storage().nbytes()
            return t

        def enter(name: str):
            return lambda mod, args: current.__setitem__(0, name)

        handles = [mod.register_forward_pre_hook(enter(n)) for n, mod in leaves]
        fake.train()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = fake(x)
        del out
        for h in handles:
            h.remove()
        fake.eval()
        mode = _Live(_state(fake) | {_key(x)})
        base = x.untyped_storage().nbytes()

        def leave(name: str):
            return lambda mod, args, out: live.__setitem__(name, base + mode.live)

        handles = [mod.register_forward_hook(leave(n)) for n, mod in leaves]
        with torch.no_grad(), mode:
            out = fake(x)
        del out
        for h in handles:
            h.remove()
    return {n: (saved[n], live[n]) for n, _ in leaves if n in live}
