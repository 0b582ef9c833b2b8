"""PyTorch out: ``archsweep.to_torch``, ``torch_source`` / ``Space.export`` / ``archsweep export``.

Truth is torch's own measurement of the module archsweep builds, compared with archsweep's
analysis: parameters (the sum of ``numel`` over ``parameters()``, per layer and in total),
buffers and their bytes, the total that ``torch.utils.flop_counter.FlopCounterMode`` counts in a
forward pass, and the output shape; for every zoo preset and for 200 random valid variants of
every space in ``data/spaces/``. Modules are built on the meta device (no memory for weights;
FlopCounterMode counts there too) with batch 2. Exported files are imported with importlib and
measured the same way, and zoo models whose state_dict keys are torchvision's are run on CPU with
torchvision's weights and compared with torchvision's outputs.

The tests that need torch skip, saying so, without it (CI requires it: ARCHSWEEP_REQUIRE_TORCH=1);
the others (source, names, command line, packaging) run everywhere.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from doc_examples import run_blocks, tagged_blocks

import archsweep
from archsweep import ArchsweepError, zoo
from archsweep.cli import main
from archsweep.pytorch import TorchMissingError, generated
from archsweep.pytorch.ops import COUNTERPARTS, EMITTERS

try:
    import torch
    from torch.utils.flop_counter import FlopCounterMode
except ImportError:
    torch = None

ROOT = Path(__file__).resolve().parents[1]
SPACES = sorted((ROOT / "data" / "spaces").glob("*.toml"))
VARIANTS_PER_SPACE = 200
BATCH = 2

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed (scripts/torch-env installs it)")


# ---------------------------------------------------------------------------------------------
# Measuring a module with torch
# ---------------------------------------------------------------------------------------------


def input_for(model: archsweep.Model, shape, device="meta"):
    dtype = torch.long if any(layer["op"] == "embedding" for layer in model.layers) else torch.float32
    return torch.zeros((BATCH, *shape), dtype=dtype, device=device)


def measure(net, x) -> dict:
    """torch's numbers for ``net`` on ``x``: totals, per-layer params and buffers by state_dict
    path, output shape and FlopCounterMode's total."""
    counter = FlopCounterMode(display=False)
    # no_grad: no autograd graph (and no backward hooks of the counter's module tracker). On
    # the meta device nn.MultiheadAttention still takes its explicit path, whose matmuls count.
    with counter, torch.no_grad():
        out = net(x)
    return {
        "params": sum(p.numel() for p in net.parameters()),
        "buffers": sum(b.numel() for b in net.buffers()),
        "buffer_bytes": sum(b.numel() * b.element_size() for b in net.buffers()),
        "flops": counter.get_total_flops(),
        "output_shape": tuple(out.shape),
        "named": {**{n: p.numel() for n, p in net.named_parameters()}, **{n: -b.numel() for n, b in net.named_buffers()}},
    }


def compare(model: archsweep.Model, net, paths: dict[str, str], input_shape=None, device="meta") -> list[str]:
    """Differences between torch's numbers for ``net`` (on ``device``) and archsweep's analysis
    of ``model``."""
    rep = archsweep.analyze(model, input_shape=input_shape, batch=BATCH)
    got = measure(net, input_for(model, rep.input_shape[1:], device=device))
    problems = []
    want = {k: rep.totals[k] for k in ("params", "buffers", "buffer_bytes", "flops")}
    want["output_shape"] = tuple(rep.layers["output_shape"][-1])
    for key, value in want.items():
        if got[key] != value:
            problems.append(f"{key}: torch {got[key]} vs archsweep {value}")
    # per layer: the parameters and buffers under each layer's state_dict path
    layer_of = {path: name for name, path in paths.items()}
    per_layer: dict[str, list[int]] = {}
    for full, n in got["named"].items():
        parts = full.split(".")
        owner = next((".".join(parts[:i]) for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in layer_of), None)
        if owner is None:
            problems.append(f"{full}: a tensor of no layer")
            continue
        counts = per_layer.setdefault(layer_of[owner], [0, 0])
        counts[0 if n >= 0 else 1] += abs(n)
    for row in rep.layers.iter_rows(named=True):
        p, b = per_layer.get(row["name"], [0, 0])
        if (p, b) != (row["params"], row["buffers"]):
            problems.append(f"{row['name']} ({row['op']}): torch params {p} buffers {b}, archsweep {row['params']} {row['buffers']}")
    return problems


def check_model(model: archsweep.Model, input_shape=None) -> list[str]:
    g = generated(model, input_shape)
    return compare(model, g.module(device="meta"), g.paths, input_shape)


@pytest.fixture(scope="module", autouse=True)
def _torch_setup():
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors or meta ones: threads only add overhead
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------
# Every zoo preset, 200 variants of every space
# ---------------------------------------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("name", zoo.names())
def test_zoo_preset_matches_torch(name):
    problems = check_model(zoo.load(name))
    assert not problems, f"{name}:\n  " + "\n  ".join(problems[:20])


def valid_ids(space: archsweep.Space, n: int, seed: int = 0) -> list[int]:
    """``n`` random ids of valid variants (the sweep says which are valid)."""
    rows = archsweep.sweep(space, sample=min(space.size, 4 * n), seed=seed)
    ids = rows.filter(rows["valid"])["variant_id"].to_list()
    assert len(ids) >= n, f"{space.name}: only {len(ids)} valid variants in the sample"
    return [int(i) for i in ids[:n]]


@needs_torch
@pytest.mark.parametrize("spec", SPACES, ids=lambda p: p.stem)
def test_space_variants_match_torch(spec):
    space = archsweep.Space.load(spec)
    failures = []
    for vid in valid_ids(space, VARIANTS_PER_SPACE):
        problems = check_model(space.model(vid))
        if problems:
            failures.append(f"variant {vid}: " + "; ".join(problems[:5]))
    assert not failures, f"{spec.name}: {len(failures)} of {VARIANTS_PER_SPACE} variants differ:\n  " + "\n  ".join(failures[:10])


# ---------------------------------------------------------------------------------------------
# Exported files: imported with importlib, measured the same way
# ---------------------------------------------------------------------------------------------


def import_file(path: Path):
    spec = importlib.util.spec_from_file_location(f"exported_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXPORTED = [(spec, k) for spec in SPACES for k in range(2)]


@needs_torch
@pytest.mark.parametrize("spec, k", EXPORTED, ids=[f"{s.stem}-{k}" for s, k in EXPORTED])
def test_exported_variant_imports_and_matches(spec, k, tmp_path):
    space = archsweep.Space.load(spec)
    vid = valid_ids(space, 2, seed=1)[k]
    g = space.export(vid, tmp_path / "net.py")
    module = import_file(tmp_path / "net.py")
    cls = getattr(module, g.class_name)
    with torch.device("meta"):
        net = cls().eval()
    model = space.model(vid)
    assert not compare(model, net, g.paths)
    assert cls.input_shape == tuple(model.input)
    assert f"Variant {vid} " in module.__doc__ and str(spec) in module.__doc__


@needs_torch
def test_exported_file_runs_on_cpu_and_trains(tmp_path):
    """A real forward and backward pass of an exported file (not the meta device)."""
    space = archsweep.Space.load(ROOT / "data" / "spaces" / "nb201.toml")
    vid = valid_ids(space, 1, seed=2)[0]
    g = space.export(vid, tmp_path / "cell.py")
    net = getattr(import_file(tmp_path / "cell.py"), g.class_name)().train()
    x = torch.randn(2, *net.input_shape)
    loss = net(x).square().mean()
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in net.parameters()]
    assert grads and all(gr is not None and torch.isfinite(gr).all() for gr in grads)
    counter = FlopCounterMode(display=False)
    with counter:
        net.eval()(x)
    assert counter.get_total_flops() == archsweep.analyze(space.model(vid), batch=2).totals["flops"]


@needs_torch
def test_cli_export_then_import(tmp_path):
    """docs/pytorch.md's `archsweep export data/spaces/vgg.toml --id 12345 -o net.py && python -c "import net"`."""
    archsweep_cli = Path(sys.executable).parent / "archsweep"
    (tmp_path / "data").symlink_to(ROOT / "data")
    script = f'{archsweep_cli} export data/spaces/vgg.toml --id 12345 -o net.py && {sys.executable} -c "import net"'
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "wrote class Vgg" in proc.stderr
    check = (
        "import net, torch; m = net.Vgg().eval(); y = m(torch.zeros(2, *m.input_shape)); "
        "print(tuple(y.shape), sum(p.numel() for p in m.parameters()))"
    )
    proc = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rep = archsweep.analyze(archsweep.Space.load(ROOT / "data" / "spaces" / "vgg.toml").model(12345), batch=2)
    assert proc.stdout.split(" ", 2)[-1].strip() == str(rep.totals["params"])
    assert proc.stdout.startswith(str(tuple(rep.layers["output_shape"][-1])))
    # `python net.py` runs it on zeros
    proc = subprocess.run([sys.executable, "net.py"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0 and f"{rep.totals['params']:,} params" in proc.stdout, proc.stderr


# ---------------------------------------------------------------------------------------------
# Forward semantics: torchvision's weights in, torchvision's outputs out
# ---------------------------------------------------------------------------------------------

#: zoo presets whose layer names are torchvision's state_dict keys, at a small resolution of
#: their family (torchvision's models take any; ViT's position embedding fixes its 224); the
#: test checks the keys and shapes first
SAME_KEYS = {
    "alexnet": 96, "convnext_tiny": 128, "densenet121": 96, "regnet_y_400mf": 160, "shufflenet_v2_x1_0": 96,
    "swin_t": 128, "vit_b_32": 224,
}


def at_resolution(name: str, res: int) -> archsweep.Model:
    """Zoo model ``name`` at input resolution ``res`` (its family's ``res`` variable)."""
    space, vid = zoo.family(name)
    config = space.config(vid)
    config["res"] = res
    return space.model(space.variant_id(config))


@needs_torch
@pytest.mark.parametrize("name", sorted(SAME_KEYS))
def test_torchvision_weights_give_torchvision_outputs(name):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    tv = getattr(torchvision.models, name)().eval()
    net = archsweep.to_torch(at_resolution(name, SAME_KEYS[name]))
    theirs = tv.state_dict()
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == {k: tuple(v.shape) for k, v in theirs.items()}
    net.load_state_dict(theirs)
    x = torch.randn(2, 3, SAME_KEYS[name], SAME_KEYS[name])
    with torch.no_grad():
        want, got = tv(x), net(x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


@needs_torch
@pytest.mark.parametrize("version", [1, 2])
def test_window_attention_is_torchvisions(version):
    """Padding, shifts (cut back on small maps) and non-square windows, against torchvision's
    ShiftedWindowAttention / ShiftedWindowAttentionV2 with the same weights."""
    swin = pytest.importorskip("torchvision.models.swin_transformer")
    cls = swin.ShiftedWindowAttention if version == 1 else swin.ShiftedWindowAttentionV2
    torch.manual_seed(version)
    for h, w, window, shift in [(14, 14, 7, 3), (10, 9, 7, 3), (8, 8, 4, 0), (5, 12, [3, 4], [1, 2]), (3, 3, 7, 3)]:
        pair = lambda v: v if isinstance(v, list) else [v, v]  # noqa: E731
        theirs = cls(12, pair(window), pair(shift), 3).eval()
        attrs = {"num_heads": 3, "window_size": window, "shift_size": shift, "version": version}
        ours = archsweep.pytorch.layer_module("window_attention", attrs, [(2, h, w, 12)])
        ours.layer.load_state_dict(theirs.state_dict())  # same names and shapes, buffers included
        for key, value in theirs.state_dict().items():
            if "index" in key or "coords" in key:
                assert torch.equal(ours.layer.state_dict()[key], value), key
        x = torch.randn(2, h, w, 12)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# The source itself (no torch needed)
# ---------------------------------------------------------------------------------------------


def test_every_op_has_an_emitter_and_a_counterpart():
    assert set(EMITTERS) == set(archsweep.ops())
    assert set(COUNTERPARTS) == set(archsweep.ops())


def imported_modules(source: str) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.add(node.module)
    return out


def every_op_model() -> dict:
    """One model using every op (channels-last for window attention, ids for embedding aside)."""
    return {"name": "every op", "input": [4, 8, 8], "layers": [
        {"name": "c", "op": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": "same", "groups": "depthwise"},
        {"name": "t", "op": "conv_transpose2d", "out_channels": 8, "kernel_size": 2, "stride": 2},
        {"name": "p", "op": "avgpool2d", "kernel_size": 2},
        {"name": "bn", "op": "batchnorm2d", "trainable": False, "comment": "frozen\nstatistics"},
        {"name": "gn", "op": "groupnorm", "num_groups": 2},
        {"name": "ls", "op": "layer_scale", "dim": 1, "init": 1e-6},
        {"name": "up", "op": "upsample", "scale_factor": 2, "mode": "bilinear", "align_corners": False},
        {"name": "cs", "op": "channel_shuffle", "groups": 2},
        {"name": "half", "op": "chunk", "chunks": 2, "index": 1},
        {"name": "cat", "op": "concat", "inputs": ["half", "half"]},
        {"name": "padw", "op": "pad", "pad": [1, 1], "value": 0.5},  # W 16 + 1 + 1 = 18
        {"name": "cut", "op": "split", "split_size": 16, "dim": -1, "index": 0},  # W 18 in 16, 2: 16
        {"name": "padh", "op": "pad", "pad": [0, 0, 2, -1]},  # H 16 + 2 - 1 = 17
        {"name": "sl", "op": "slice", "dim": 2, "start": 1},  # H 17 - 1 = 16
        {"name": "sc", "op": "mul_scalar", "other": 0.5},
        {"name": "sd", "op": "stochastic_depth", "p": 0.1},
        {"name": "nhwc", "op": "permute", "dims": [0, 2, 3, 1]},
        {"name": "attn", "op": "window_attention", "num_heads": 2, "window_size": 4, "shift_size": 2, "version": 2},
        {"name": "seq", "op": "reshape", "shape": [-1, 8]},
        {"name": "cls", "op": "class_token"},
        {"name": "pos", "op": "positional_embedding"},
        {"name": "mha", "op": "multihead_attention", "embed_dim": 8, "num_heads": 2},
        {"name": "ln", "op": "layernorm"},
        {"name": "first", "op": "select", "dim": 1, "index": 0},
        {"name": "one", "op": "avgpool1d", "kernel_size": 2, "divisor_override": 3, "inputs": ["ln"]},
        {"name": "fc", "op": "linear", "out_features": 3, "inputs": ["first"]},
        {"name": "z", "op": "zeros"},
        {"name": "sum", "op": "add", "inputs": ["fc", "z"]},
    ]}


def test_source_imports_only_torch():
    for model in ("swin_v2_t", "vit_b_16", every_op_model()):
        source = archsweep.torch_source(model)
        assert {m.split(".")[0] for m in imported_modules(source)} == {"torch"}, imported_modules(source)
        compile(source, "<export>", "exec")


def test_names_become_modules_and_dicts():
    layers = [
        {"name": "stem.conv", "op": "conv2d", "out_channels": 4, "kernel_size": 1},
        {"name": "blocks.0.conv", "op": "conv2d", "out_channels": 4, "kernel_size": 1},
        {"name": "blocks.1", "op": "relu"},                       # a digit part: blocks is a ModuleDict
        {"name": "eval", "op": "relu"},                            # an nn.Module method
        {"name": "class", "op": "relu"},                           # a keyword
        {"name": "a-b", "op": "relu"},
        {"name": "a_b", "op": "relu"},                             # a-b's identifier is taken
        {"name": "0", "op": "relu"},                               # a top-level digit name
        {"name": "up", "op": "relu"},
        {"name": "up.inner", "op": "relu"},                        # `up` is a layer and a prefix
        {"name": "m.keys", "op": "relu"},
        {"name": "m.1", "op": "relu"},                             # a ModuleDict key that is a dict method
        {"name": "g.2", "op": "layer_scale", "dim": 1},            # a parameter in a ModuleDict
    ]
    g = generated({"name": "names", "input": [3, 8, 8], "layers": layers})
    assert g.paths == {
        "stem.conv": "stem.conv", "blocks.0.conv": "blocks.0.conv", "blocks.1": "blocks.1", "eval": "eval_",
        "class": "class_", "a-b": "a_b", "a_b": "a_b_2", "0": "_0", "up": "up_", "up.inner": "up.inner",
        "m.keys": "m.keys_", "m.1": "m.1", "g.2": "g._2",
    }
    assert 'self.blocks = nn.ModuleDict()' in g.source and 'self.blocks["0"].conv = nn.Conv2d(' in g.source
    assert "self.stem = nn.Module()" in g.source and "self.eval_ = nn.ReLU()" in g.source
    assert "self.g._2 = nn.Parameter(" in g.source and 'self.m["keys_"] = nn.ReLU()' in g.source
    compile(g.source, "<names>", "exec")


def test_forward_reuses_x_for_chains_and_names_branches():
    model = {"name": "tiny", "input": [3, 32, 32], "layers": [  # docs/models.md's example model
        {"name": "conv1", "op": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": "same"},
        {"op": "relu"},
        {"name": "skip", "op": "conv2d", "out_channels": 16, "kernel_size": 1, "inputs": ["x"]},
        {"op": "add", "inputs": ["relu_1", "skip"]},
    ]}
    g = generated(model)
    forward = g.source.split("def forward(self, x):\n")[1].split("\n\n")[0]
    assert forward == textwrap.indent(textwrap.dedent("""\
        conv1 = self.conv1(x)
        relu_1 = self.relu_1(conv1)
        x = self.skip(x)
        x = relu_1 + x
        return x"""), " " * 8)
    assert g.class_name == "Tiny"


def test_trainable_false_and_comments():
    g = generated(every_op_model())
    assert "        self.bn.requires_grad_(False)  # trainable = false" in g.source
    assert "        # frozen\n        # statistics\n        self.bn = nn.BatchNorm2d(8)" in g.source
    assert "import torch.nn.functional as F" in g.source  # window attention and avgpool1d's divisor
    assert "F.avg_pool2d(ln.unsqueeze(-2), (1, 2), stride=(1, 2), divisor_override=3).squeeze(-2)" in g.source


@needs_torch
def test_every_op_model_matches_torch():
    g = generated(every_op_model())
    problems = compare(archsweep.Model.from_dict(every_op_model()), g.module("meta"), g.paths)
    assert not problems, problems
    net = g.module()
    assert not any(p.requires_grad for p in net.bn.parameters())
    assert all(p.requires_grad for p in net.gn.parameters())
    assert net(torch.randn(1, 4, 8, 8)).shape == (1, 3)


@needs_torch
def test_embedding_models_take_ids():
    model = {"name": "ids", "input": [5], "layers": [
        {"op": "embedding", "num_embeddings": 10, "embedding_dim": 8}, {"op": "flatten"}, {"op": "linear", "out_features": 2}]}
    g = generated(model)
    assert "    input_dtype = torch.long" in g.source
    assert not compare(archsweep.Model.from_dict(model), g.module("meta"), g.paths)


def test_invalid_models_are_refused_before_any_source():
    with pytest.raises(ArchsweepError, match="kernel 5×5 is larger"):
        archsweep.torch_source({"input": [3, 4, 4], "layers": [{"name": "c", "op": "conv2d", "out_channels": 2, "kernel_size": 5}]})


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_export_forms(capsys, tmp_path):
    code, out, _ = run(capsys, "export", ROOT / "data" / "models" / "vgg16.toml")
    assert code == 0 and "class Vgg16(nn.Module):" in out
    code, out, err = run(capsys, "export", "resnet18", "--input", "3x64x64", "-o", tmp_path / "r.py")
    assert code == 0 and "wrote class Resnet18" in err
    assert "    input_shape = (3, 64, 64)" in (tmp_path / "r.py").read_text()
    code, out, _ = run(capsys, "export", ROOT / "data" / "families" / "resnet.toml", "--preset", "resnet18", "--class-name", "R18")
    assert code == 0 and "class R18(nn.Module):" in out and "(preset resnet18)" in out
    code, out, _ = run(capsys, "export", ROOT / "data" / "spaces" / "vgg.toml", "--id", "12345")
    assert out == archsweep.Space.load(ROOT / "data" / "spaces" / "vgg.toml").torch_source(12345)


@pytest.mark.parametrize("args, message", [
    (["data/spaces/vgg.toml"], r"is a search space of 4,728,477,974,528 variants: choose one with --id N"),
    (["data/spaces/vgg.toml", "--id", "5", "--preset", "x"], "give --id or --preset, not both"),
    (["data/spaces/vgg.toml", "--id", str(10**15)], "out of range"),
    (["data/models/vgg16.toml", "--id", "0"], None),  # a plain model is a space of one variant
    (["no/such.toml"], "no such model file"),
    (["resnet5O"], "unknown model 'resnet5O'"),
])
def test_cli_export_errors(capsys, monkeypatch, args, message):
    monkeypatch.chdir(ROOT)
    code, out, err = run(capsys, "export", *args)
    if message is None:
        assert code == 0 and "class Vgg16(nn.Module):" in out
    else:
        assert code == 2 and re.search(message, err), err


def test_cli_help_explains(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    out = capsys.readouterr().out
    for text in ("--id", "--preset", "state_dict keys", "imports only torch", "pip install 'archsweep[torch]'", "import net"):
        assert text in " ".join(out.split()), text


# ---------------------------------------------------------------------------------------------
# Packaging: torch is optional
# ---------------------------------------------------------------------------------------------


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


def test_import_archsweep_does_not_import_torch(tmp_path):
    proc = python(f"""
        import sys
        import archsweep
        assert "torch" not in sys.modules, "import archsweep imported torch"
        assert "onnx" not in sys.modules and "timm" not in sys.modules, "import archsweep imported onnx or timm"
        archsweep.torch_source("resnet18")
        archsweep.Space.load("data/spaces/vgg.toml").export(12345, {str(tmp_path / "net.py")!r})
        from archsweep.cli import main
        assert main(["export", "data/models/vgg16.toml", "-o", {str(tmp_path / "vgg16.py")!r}]) == 0
        assert "torch" not in sys.modules, "exporting imported torch"
    """)
    assert proc.returncode == 0, proc.stderr


def test_to_torch_without_torch_names_the_extra():
    proc = python("""
        import sys
        sys.modules["torch"] = None  # import torch raises ImportError
        import archsweep
        try:
            archsweep.to_torch("resnet18")
        except archsweep.TorchMissingError as e:
            assert isinstance(e, archsweep.ArchsweepError) and isinstance(e, ImportError)
            print(e)
        else:
            raise SystemExit("no error")
        try:
            archsweep.from_torch(object(), (3, 8, 8))
        except archsweep.TorchMissingError:
            pass
        else:
            raise SystemExit("no error from from_torch")
    """)
    assert proc.returncode == 0, proc.stderr
    assert "pip install 'archsweep[torch]'" in proc.stdout
    assert issubclass(TorchMissingError, ImportError) and issubclass(TorchMissingError, ArchsweepError)


def test_pyproject_declares_the_torch_extra():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(dep.startswith("torch") for dep in project["optional-dependencies"]["torch"])
    assert not any(dep.startswith("torch") for dep in project["dependencies"])


# ---------------------------------------------------------------------------------------------
# docs/pytorch.md's examples run as written
# ---------------------------------------------------------------------------------------------


@needs_torch
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.onnx.export(dynamo=False): the TorchScript exporter
def test_the_readme_pytorch_examples_run(tmp_path):
    """README.md's "PyTorch and ONNX in, PyTorch out" examples (tagged 'run by
    tests/test_torch_export.py': they need torch, torchvision, timm and onnx) run in order in a
    fresh directory, with their stated values (resnet50's MACs, resnet18's params from its ONNX
    file) checked; the issue's two commands are among them."""
    from optional_modules import require

    for module in ("torchvision", "timm", "onnx"):
        require(module)
    examples = tagged_blocks("README.md", "tests/test_torch_export.py")
    code = "".join(b.code for b in examples)
    assert "archsweep import timm:convnext_tiny -o c.toml && archsweep analyze c.toml" in code
    assert 'archsweep export data/spaces/vgg.toml --id 12345 -o net.py && python -c "import net"' in code
    assert run_blocks(examples, tmp_path, names_in_comments=True) >= 2
    assert {"c.toml", "net.py", "r18.onnx"} <= {p.name for p in tmp_path.iterdir()}


@needs_torch
def test_the_pytorch_doc_examples_run(tmp_path):
    """Every example of docs/pytorch.md (each tagged 'run by tests/test_torch_export.py': they
    need torch) runs in order in a fresh directory with data/ linked, and a Python line whose
    comment starts with a value (``# 633470440``, ``# torch.Size([2, 1000])``) evaluates to it."""
    examples = tagged_blocks("docs/pytorch.md", "tests/test_torch_export.py")
    assert [b.lang for b in examples].count("python") >= 2
    checked = run_blocks(examples, tmp_path, names_in_comments=True)
    assert checked >= 5, "docs/pytorch.md's values are no longer checked"
    assert (tmp_path / "net.py").exists()
