"""archsweep's memory columns against PyTorch's own accounting (tests/memory_truth.py): for every
zoo preset, torchvision's model of that name at batch 1 and 3, fp32.

* ``saved_bytes`` equals the bytes autograd saves in a training forward (saved-tensors hooks,
  unique storages, parameters and buffers left out). One exception, measured exactly here:
  torchvision's StochasticDepth (mode "row", training, p > 0) keeps a float32 keep-mask of one
  value per sample; the zoo's families write it as an identity at most (docs/memory.md says
  why), so such a model saves 4 · batch bytes per stochastic-depth call more. ``from_torch`` of
  torchvision's model has archsweep's stochastic_depth op there and saves exactly as autograd.
* ``peak_eager_bytes`` (module arguments held until the module returns, and the values a
  layer ``holds``, docs/memory.md) equals the live-storage peak of the eager forward under
  no_grad for every preset; ``peak_activation_bytes`` (the graph's peak, freeing each value
  after its last reader) is never above it. The same holds for ``from_torch`` of a few of
  torchvision's models, whose layer names it makes.

The torch side runs on fake CPU tensors (no data, CPU kernel choices): the whole zoo in minutes.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

import memory_truth  # noqa: E402

import archsweep  # noqa: E402
from archsweep import zoo  # noqa: E402

# torch cannot train inception_v3 at batch 1: the auxiliary classifier's batch norm sees one
# value per channel (its map is 1x1); its saved bytes are checked at batch 3 only
TRAIN_BATCHES = {"inception_v3": (3,)}

def _stochastic_depth_calls(name: str, shape: tuple[int, ...]) -> int:
    """How many StochasticDepth modules with p > 0 a training forward of torchvision's ``name``
    calls."""
    from torchvision.ops import StochasticDepth

    m = memory_truth.torchvision_model(name)
    calls = []
    handles = [mod.register_forward_pre_hook(lambda mod, args: calls.append(mod.p > 0 and mod.mode == "row"))
               for mod in m.modules() if isinstance(mod, StochasticDepth)]
    if not handles:
        return 0
    from torch._subclasses.fake_tensor import FakeTensorMode

    try:
        with FakeTensorMode(allow_non_fake_inputs=True), torch.no_grad():
            m.to_empty(device="cpu").train()(torch.empty(shape))
    finally:
        for h in handles:
            h.remove()
    return sum(calls)


@pytest.fixture(scope="module")
def measured():
    """name -> {batch: (saved, peak, stochastic-depth calls, archsweep totals)}"""
    cache: dict[str, dict[int, tuple]] = {}

    def get(name: str) -> dict[int, tuple]:
        if name not in cache:
            model = zoo.load(name)
            out = {}
            for b in (1, 3):
                a = archsweep.analyze(model, batch=b)
                shape = tuple(a.input_shape)
                trains = b in TRAIN_BATCHES.get(name, (1, 3))
                saved, peak = memory_truth.measure(memory_truth.torchvision_model(name), shape, train=trains)
                out[b] = (saved, peak, _stochastic_depth_calls(name, shape) if trains else 0, a.totals)
                # (pytest -s shows the measurements: docs/memory.md's table of presets)
                print(f"\n{name} fake {b} {saved} {peak} sd={out[b][2]}", end="")
            cache[name] = out
        return cache[name]

    return get


@pytest.mark.parametrize("name", zoo.names())
def test_saved_bytes_equal_autograd(name, measured):
    for b, (saved, _, sd_calls, totals) in measured(name).items():
        if saved is None:
            continue  # (TRAIN_BATCHES)
        assert totals["saved_bytes"] + 4 * b * sd_calls == saved, (name, b, totals["saved_bytes"], saved, sd_calls)


@pytest.mark.parametrize("name", ["convnext_tiny", "efficientnet_b0", "swin_t"])
def test_from_torch_saved_bytes_equal_autograd(name, measured):
    """from_torch of torchvision's model has its StochasticDepth modules as stochastic_depth
    layers (their rates included): its saved_bytes equals autograd's with no exception."""
    preset = zoo.load(name)
    model = archsweep.from_torch(memory_truth.torchvision_model(name), preset.input, name=name)
    for b, (saved, _, sd_calls, _) in measured(name).items():
        assert sd_calls > 0
        assert archsweep.analyze(model, batch=b).totals["saved_bytes"] == saved, (name, b)


@pytest.mark.parametrize("name", zoo.names())
def test_peak_equals_eager_live_peak(name, measured):
    got = {b: (t["peak_activation_bytes"], t["peak_eager_bytes"], peak) for b, (_, peak, _, t) in measured(name).items()}
    # the graph's peak frees values at the earliest: never above what eager PyTorch needs
    assert all(graph <= eager == theirs for graph, eager, theirs in got.values()), got


@pytest.mark.parametrize("name", ["convnext_tiny", "efficientnet_b0", "resnet50", "swin_t"])
def test_from_torch_peak_equals_eager_live_peak(name, measured):
    """from_torch names a function call inside the module whose forward makes it
    (``layer1.0.add``, ``features.1.0.layer_scale``), so the eager peak's scope rule reads its
    layer names as module paths: its peak_eager_bytes is eager PyTorch's. (Named at the top
    level, a block's ``add`` was a value made outside its stage and read in it, held until the
    stage returned: convnext_tiny's peak was 31,911,936 B at batch 1 against torch's 12,644,352.)"""
    preset = zoo.load(name)
    model = archsweep.from_torch(memory_truth.torchvision_model(name), preset.input, name=name)
    for b, (_, peak, _, _) in measured(name).items():
        assert archsweep.analyze(model, batch=b).totals["peak_eager_bytes"] == peak, (name, b)


def _window_attention_configs():
    """(version, channels, heads, window, shift, (N, H, W)): one and many windows, padding,
    shifts (dropped where one window covers a dim), a non-square window, one head, one channel
    per head; windows of at least 2x2 (the op's rule, window_attention.rs)."""
    import itertools

    for v, (c, h), (w, s), (n, hh, ww) in itertools.product(
            (1, 2), ((32, 2), (16, 1), (4, 4)), (((2, 2), (0, 0)), ((4, 4), (0, 0)), ((4, 4), (2, 1)), ((2, 3), (1, 1))),
            ((1, 8, 8), (3, 5, 7), (1, 2, 2), (2, 9, 4), (1, 3, 12))):
        yield v, c, h, list(w), list(s), (n, hh, ww)


def test_window_attention_scratch_equals_torch():
    """window_attention's inference scratch (the transient tensors of torchvision's
    shifted_window_attention, rust/core/src/ops/window_attention.rs): a one-layer model's eager
    peak (the input held, the output, the scratch) equals the dispatch-mode live peak of
    torchvision's ShiftedWindowAttention / ShiftedWindowAttentionV2 module, fp32."""
    from torchvision.models.swin_transformer import ShiftedWindowAttention, ShiftedWindowAttentionV2

    wrong, n = [], 0
    for v, c, h, w, s, (batch, hh, ww) in _window_attention_configs():
        layer = {"name": "attn", "op": "window_attention", "num_heads": h, "window_size": w, "shift_size": s, "version": v}
        ours = archsweep.analyze({"layers": [layer]}, input_shape=(hh, ww, c), batch=batch).totals["peak_eager_bytes"]
        cls = ShiftedWindowAttentionV2 if v == 2 else ShiftedWindowAttention
        with torch.device("meta"):
            m = cls(c, w, s, h)
        _, theirs = memory_truth.measure(m, (batch, hh, ww, c), train=False)
        n += 1
        if ours != theirs:
            wrong.append((layer, (batch, hh, ww, c), ours, theirs))
    assert n >= 100 and not wrong, wrong


def _live_after(report) -> list[int]:
    """Live bytes after each layer by docs/memory.md's rule (the input held throughout; a
    storage freed after the last layer reading it or a view of it; the result kept)."""
    layers = report.layers.to_dicts()
    index = {"x": 0} | {row["name"]: i + 1 for i, row in enumerate(layers)}
    root = [0] * (len(layers) + 1)
    size = [report.totals["input_bytes"]] + [row["activation_bytes"] for row in layers]
    last = list(range(len(layers) + 1))
    for i, row in enumerate(layers, start=1):
        reads = [index[n] for n in row["inputs"]]
        root[i] = root[reads[0]] if row["is_view"] else i
        for r in reads:
            last[root[r]] = max(last[root[r]], i)
    last[0] = last[root[len(layers)]] = len(layers) + 1
    live, out = 0, []
    for i in range(len(layers) + 1):
        live += size[i] if root[i] == i else 0
        live -= sum(size[u] for u in range(i + 1) if root[u] == u and last[u] == i)
        out.append(live)
    return out[1:]


def doc_table(name: str, batch: int) -> str:
    """docs/memory.md's per-layer table: archsweep's and PyTorch's saved and live bytes."""
    report = archsweep.analyze(zoo.load(name), batch=batch)
    theirs = memory_truth.per_module(memory_truth.torchvision_model(name), tuple(report.input_shape))
    lines = ["layer          op                    saved  PyTorch   live after    PyTorch",
             "-------------  ------------------  -------  -------  -----------  ---------"]
    for row, live in zip(report.layers.to_dicts(), _live_after(report)):
        s, lv = theirs.get(row["name"], ("-", "-"))
        lines.append(f"{row['name']:<13}  {row['op']:<18}  {row['saved_bytes']:>7}  {s:>7}  {live:>11}  {lv:>9}")
    t = report.totals
    lines.append(f"total saved_bytes {t['saved_bytes']:,}; peak_activation_bytes {t['peak_activation_bytes']:,}")
    return "\n".join(lines) + "\n"


def test_docs_table_is_measured():
    """docs/memory.md shows alexnet's per-layer table as this test makes it."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "memory.md").read_text(encoding="utf-8")
    table = doc_table("alexnet", 1)
    assert table in doc, "docs/memory.md's alexnet table differs; it should read:\n" + table
