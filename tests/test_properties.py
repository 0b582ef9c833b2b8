"""Property tests: archsweep's shape and count rules against closed forms written here, from
PyTorch's documentation (torch.nn.ConvNd / ConvTransposeNd / MaxPoolNd / AvgPoolNd /
AdaptiveAvgPoolNd shape formulas, ATen's pooling_output_shape for ceil_mode)."""

from __future__ import annotations

import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archsweep
from archsweep import ArchsweepError

# ARCHSWEEP_EXAMPLES=5000 for a deeper search; the default keeps the file at a few seconds.
SETTINGS = settings(max_examples=int(os.environ.get("ARCHSWEEP_EXAMPLES", "60")), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def run(layers, shape, batch=1):
    return archsweep.analyze({"name": "p", "layers": layers}, input_shape=shape, batch=batch)


def last(report):
    return report.layers.to_dicts()[-1]


def fails(layers, shape, batch=1, match=None) -> str:
    with pytest.raises(ArchsweepError) as info:
        run(layers, shape, batch)
    msg = str(info.value)
    assert "panicked" not in msg
    if match is not None:
        assert match in msg, msg
    return msg


# ---- closed forms (independent of the code under test) ---------------------------------------


def conv_out(n, k, s, p, d):
    """torch.nn.Conv: floor((n + 2p - d(k-1) - 1) / s) + 1, or None when the kernel does not fit."""
    num = n + 2 * p - d * (k - 1) - 1
    if num < 0:
        return None
    return num // s + 1


def pooling_output_shape(n, k, p, s, d, ceil_mode):
    """ATen's pooling_output_shape: (n + 2p - d(k-1) - 1 [+ (s-1) if ceil]) div_rtn s + 1, and in
    ceil mode the last window must start inside the input or the left padding."""
    eff = d * (k - 1) + 1
    span = n + 2 * p - eff
    if ceil_mode:
        out = -((-span) // s) + 1  # ceil(span / s) + 1
        if (out - 1) * s >= n + p:
            out -= 1
    else:
        out = span // s + 1  # floor, rounding toward -inf like div_rtn
    return out


def conv_transpose_out(n, k, s, p, op, d):
    """torch.nn.ConvTranspose: (n-1)s - 2p + d(k-1) + output_padding + 1."""
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


def adaptive_bins(n, o):
    """Sizes of AdaptiveAvgPool bins: [floor(i n / o), ceil((i+1) n / o))."""
    return [-(-((i + 1) * n) // o) - (i * n) // o for i in range(o)]


# ---- convolution -------------------------------------------------------------------------------

spatial = st.tuples(
    st.integers(1, 20),  # n
    st.integers(1, 7),  # k
    st.integers(1, 4),  # s
    st.integers(0, 4),  # p
    st.integers(1, 3),  # d
)


@SETTINGS
@given(
    d=st.integers(1, 3),
    dims=st.lists(spatial, min_size=3, max_size=3),
    g=st.integers(1, 4),
    cin_per_group=st.integers(1, 3),
    cout_per_group=st.integers(1, 3),
    bias=st.booleans(),
    batch=st.integers(1, 3),
)
def test_conv_shape_params_macs(d, dims, g, cin_per_group, cout_per_group, bias, batch):
    dims = dims[:d]
    cin, cout = g * cin_per_group, g * cout_per_group
    n, k, s, p, dil = (list(t) for t in zip(*dims))
    layer = {"op": f"conv{d}d", "out_channels": cout, "kernel_size": k, "stride": s, "padding": p, "dilation": dil,
             "groups": g, "bias": bias}
    outs = [conv_out(*t) for t in zip(n, k, s, p, dil)]
    if any(o is None for o in outs):
        fails([layer], [cin, *n], batch, match="is larger than the padded input")
        return
    row = last(run([layer], [cin, *n], batch))
    assert row["output_shape"] == [batch, cout, *outs]
    per_output = (cin // g) * math.prod(k)
    assert row["weight_params"] == cout * per_output
    assert row["bias_params"] == (cout if bias else 0)
    assert row["macs"] == batch * cout * math.prod(outs) * per_output
    assert row["flops"] == 2 * row["macs"]


@SETTINGS
@given(n=st.lists(st.integers(1, 16), min_size=2, max_size=2), k=st.lists(st.integers(1, 6), min_size=2, max_size=2),
       dil=st.lists(st.integers(1, 3), min_size=2, max_size=2), stride=st.integers(1, 3))
def test_conv_same_padding(n, k, dil, stride):
    layer = {"op": "conv2d", "out_channels": 2, "kernel_size": k, "dilation": dil, "stride": stride, "padding": "same"}
    if stride > 1:
        fails([layer], [1, *n], match="padding='same' is not supported for strided convolutions")
        return
    # 'same': the output has the input's size, whatever the kernel's parity (the input may be
    # smaller than the kernel: the padding d(k-1) always makes room)
    assert last(run([layer], [1, *n]))["output_shape"] == [1, 2, *n]


# ---- transposed convolution --------------------------------------------------------------------

@SETTINGS
@given(
    d=st.integers(1, 3),
    dims=st.lists(st.tuples(st.integers(1, 10), st.integers(1, 5), st.integers(1, 4), st.integers(0, 3),
                            st.integers(0, 3), st.integers(1, 3)), min_size=3, max_size=3),
    g=st.integers(1, 3),
    cin_per_group=st.integers(1, 3),
    cout_per_group=st.integers(1, 3),
    bias=st.booleans(),
)
def test_conv_transpose(d, dims, g, cin_per_group, cout_per_group, bias):
    dims = dims[:d]
    cin, cout = g * cin_per_group, g * cout_per_group
    n, k, s, p, op, dil = (list(t) for t in zip(*dims))
    layer = {"op": f"conv_transpose{d}d", "out_channels": cout, "kernel_size": k, "stride": s, "padding": p,
             "output_padding": op, "dilation": dil, "groups": g, "bias": bias}
    outs = [conv_transpose_out(*t) for t in zip(n, k, s, p, op, dil)]
    broken = []
    if any(o >= si and o >= di for o, si, di in zip(op, s, dil)):
        broken.append("must be smaller than either stride")  # torch: output padding < stride or dilation
    if any(o < 1 for o in outs):
        broken.append("not positive")
    if broken:
        # either broken rule may be the one reported (dims are checked in order)
        msg = fails([layer], [cin, *n])
        assert any(b in msg for b in broken), msg
        return
    row = last(run([layer], [cin, *n]))
    assert row["output_shape"] == [1, cout, *outs]
    assert row["weight_params"] == cin * (cout // g) * math.prod(k)
    assert row["bias_params"] == (cout if bias else 0)
    assert row["macs"] == cin * math.prod(n) * (cout // g) * math.prod(k)


# ---- pooling -------------------------------------------------------------------------------------

@SETTINGS
@given(
    kind=st.sampled_from(["max", "avg"]),
    d=st.integers(1, 3),
    dims=st.lists(st.tuples(st.integers(1, 20), st.integers(1, 6), st.integers(1, 4), st.integers(1, 3),
                            st.integers(0, 3)), min_size=3, max_size=3),
    ceil_mode=st.booleans(),
    channels=st.integers(1, 3),
)
def test_pool_output_shape(kind, d, dims, ceil_mode, channels):
    dims = dims[:d]
    n, k, s, dil, pad_frac = (list(t) for t in zip(*dims))
    if kind == "avg":
        dil = [1] * d
    # padding within PyTorch's documented bound p <= k/2 (which the dilated kernel also satisfies)
    p = [min(f, kk // 2) for f, kk in zip(pad_frac, k)]
    layer = {"op": f"{kind}pool{d}d", "kernel_size": k, "stride": s, "padding": p, "ceil_mode": ceil_mode}
    if kind == "max":
        layer["dilation"] = dil
    outs = [pooling_output_shape(*t, ceil_mode) for t in zip(n, k, p, s, dil)]
    if any(o < 1 for o in outs):
        fails([layer], [channels, *n], match="output size is too small")
        return
    if kind == "avg" and d == 3 and any(ni < ki for ni, ki in zip(n, k)):
        # torch's avg_pool3d (only) also needs every unpadded input dim >= its kernel
        fails([layer], [channels, *n], match="too small for the kernel")
        return
    row = last(run([layer], [channels, *n]))
    assert row["output_shape"] == [1, channels, *outs]
    assert row["other_ops"] == channels * math.prod(outs) * math.prod(k)
    assert row["params"] == 0 and row["macs"] == 0


@SETTINGS
@given(kind=st.sampled_from(["max", "avg"]), n=st.integers(4, 20), k=st.integers(1, 6), extra=st.integers(1, 3))
def test_pool_padding_more_than_half_the_kernel(kind, n, k, extra):
    p = k // 2 + extra
    layer = {"op": f"{kind}pool1d", "kernel_size": k, "padding": p}
    fails([layer], [1, n], match="should be at most half")


@SETTINGS
@given(n=st.integers(1, 30), k=st.integers(1, 6))
def test_pool_stride_defaults_to_kernel(n, k):
    explicit = last(run([{"op": "avgpool1d", "kernel_size": k, "stride": k}], [1, n + k]))
    default = last(run([{"op": "avgpool1d", "kernel_size": k}], [1, n + k]))
    assert default["output_shape"] == explicit["output_shape"] == [1, 1, (n + k - k) // k + 1]


@SETTINGS
@given(
    d=st.integers(1, 3),
    n=st.lists(st.integers(1, 12), min_size=3, max_size=3),
    o=st.lists(st.one_of(st.none(), st.integers(1, 12)), min_size=3, max_size=3),
    kind=st.sampled_from(["avg", "max"]),
    channels=st.integers(1, 3),
    batch=st.integers(1, 2),
)
def test_adaptive_pool(d, n, o, kind, channels, batch):
    n, o = n[:d], o[:d]
    if d == 1 and o[0] is None:
        # torch's adaptive pools take None entries only in 2d/3d
        fails([{"op": f"adaptive_{kind}pool1d", "output_size": o}], [channels, *n], batch, match="output_size")
        return
    row = last(run([{"op": f"adaptive_{kind}pool{d}d", "output_size": o}], [channels, *n], batch))
    want = [ni if oi is None else oi for ni, oi in zip(n, o)]
    assert row["output_shape"] == [batch, channels, *want]
    # exact window reads: the product over dims of the per-dim bin-size sums
    assert row["other_ops"] == batch * channels * math.prod(sum(adaptive_bins(ni, wi)) for ni, wi in zip(n, want))


# ---- views ------------------------------------------------------------------------------------------

@SETTINGS
@given(dims=st.lists(st.integers(1, 6), min_size=1, max_size=5), batch=st.integers(1, 3), data=st.data())
def test_flatten(dims, batch, data):
    full = [batch, *dims]
    r = len(full)
    start = data.draw(st.integers(-r, r - 1))
    end = data.draw(st.integers(-r, r - 1))
    s, e = start % r, end % r
    layer = {"op": "flatten", "start_dim": start, "end_dim": end}
    if s > e:
        fails([layer], dims, batch, match="comes after")
        return
    row = last(run([layer], dims, batch))
    assert row["output_shape"] == full[:s] + [math.prod(full[s:e + 1])] + full[e + 1:]
    assert math.prod(row["output_shape"]) == math.prod(full)
    assert row["is_view"] and row["activation_bytes"] == 0


@SETTINGS
@given(dims=st.lists(st.integers(1, 6), min_size=1, max_size=4), batch=st.integers(1, 3), data=st.data())
def test_reshape_conserves_numel(dims, batch, data):
    # a target built from the same numbers (shuffled, neighbours merged) always fits
    target = list(data.draw(st.permutations(dims)))
    while len(target) > 1 and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(target) - 2))
        target[i:i + 2] = [target[i] * target[i + 1]]
    shape = list(target)
    if data.draw(st.booleans()):
        shape[data.draw(st.integers(0, len(shape) - 1))] = -1
    row = last(run([{"op": "reshape", "shape": shape}], dims, batch))
    assert row["output_shape"] == [batch, *target]
    assert math.prod(row["output_shape"]) == batch * math.prod(dims)


@SETTINGS
@given(dims=st.lists(st.integers(1, 6), min_size=1, max_size=4),
       target=st.lists(st.integers(1, 8), min_size=1, max_size=4), infer=st.booleans(), data=st.data())
def test_reshape_any_target(dims, target, infer, data):
    numel = math.prod(dims)
    shape = list(target)
    if infer:
        i = data.draw(st.integers(0, len(shape) - 1))
        shape[i] = -1
        known = math.prod(x for x in shape if x != -1)
        ok = numel % known == 0
        expected = [numel // known if x == -1 else x for x in shape]
    else:
        ok = math.prod(shape) == numel
        expected = shape
    layer = {"op": "reshape", "shape": shape}
    if not ok:
        fails([layer], dims, match="cannot reshape")
        return
    assert last(run([layer], dims))["output_shape"] == [1, *expected]


@SETTINGS
@given(dims=st.lists(st.integers(1, 6), min_size=1, max_size=5), batch=st.integers(1, 2), data=st.data())
def test_permute(dims, batch, data):
    full = [batch, *dims]
    perm = [0] + data.draw(st.permutations(range(1, len(full))))
    row = last(run([{"op": "permute", "dims": perm}], dims, batch))
    assert row["output_shape"] == [full[i] for i in perm]


# ---- linear, concat, broadcast ------------------------------------------------------------------

@SETTINGS
@given(rows=st.lists(st.integers(1, 8), max_size=3), fin=st.integers(1, 64), fout=st.integers(1, 64),
       batch=st.integers(1, 4), bias=st.booleans())
def test_linear(rows, fin, fout, batch, bias):
    row = last(run([{"op": "linear", "out_features": fout, "bias": bias}], [*rows, fin], batch))
    assert row["output_shape"] == [batch, *rows, fout]
    assert row["weight_params"] == fin * fout
    assert row["bias_params"] == (fout if bias else 0)
    assert row["macs"] == batch * math.prod(rows) * fin * fout
    assert row["flops"] == 2 * row["macs"]


@SETTINGS
@given(channels=st.lists(st.integers(1, 16), min_size=1, max_size=5), c0=st.integers(1, 8),
       hw=st.tuples(st.integers(1, 6), st.integers(1, 6)), with_input=st.booleans())
def test_concat_channels(channels, c0, hw, with_input):
    layers = [{"name": f"b{i}", "op": "conv2d", "out_channels": c, "kernel_size": 1, "inputs": "x"}
              for i, c in enumerate(channels)]
    names = [f"b{i}" for i in range(len(channels))]
    if with_input:
        names = ["x", *names]
    layers.append({"name": "cat", "op": "concat", "inputs": names})
    row = last(run(layers, [c0, *hw]))
    assert row["output_shape"] == [1, sum(channels) + (c0 if with_input else 0), *hw]
    assert row["other_ops"] == 0 and row["params"] == 0


@SETTINGS
@given(features=st.lists(st.integers(1, 16), min_size=2, max_size=4), length=st.integers(1, 8), e=st.integers(1, 8),
       dim=st.sampled_from([-1, 2]))
def test_concat_last_dim(features, length, e, dim):
    layers = [{"name": f"l{i}", "op": "linear", "out_features": f, "inputs": "x"} for i, f in enumerate(features)]
    layers.append({"name": "cat", "op": "concat", "dim": dim, "inputs": [f"l{i}" for i in range(len(features))]})
    assert last(run(layers, [length, e]))["output_shape"] == [1, length, sum(features)]


@SETTINGS
@given(c=st.integers(1, 6), h=st.integers(1, 6), w=st.integers(1, 6), keep_h=st.booleans(), keep_w=st.booleans(),
       op=st.sampled_from(["add", "mul"]), swap=st.booleans())
def test_broadcast_against_pooled(c, h, w, keep_h, keep_w, op, swap):
    # pooled: (1, c, h or 1, w or 1) broadcasts against x (1, c, h, w) to x's shape
    layers = [{"name": "pooled", "op": "adaptive_avgpool2d", "output_size": [None if keep_h else 1, None if keep_w else 1]},
              {"name": "out", "op": op, "inputs": ["pooled", "x"] if swap else ["x", "pooled"]}]
    row = last(run(layers, [c, h, w]))
    assert row["output_shape"] == [1, c, h, w]
    assert row["other_ops"] == c * h * w  # one op per output element per extra operand
