//! Helpers shared by several op files: rank checks, channel groups, declared channel counts,
//! the per-channel norm cost.

use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::{Error, ErrorKind};
use crate::num::{add, mul};
use crate::shape::Shape;

/// Check an input's rank against what the op accepts, naming the layout.
#[inline]
pub(crate) fn expect_rank(x: &Shape, ranks: &[usize], layout: &'static str) -> Result<(), Error> {
    if ranks.contains(&x.rank()) {
        Ok(())
    } else {
        Err(rank_error(x, ranks, layout))
    }
}

#[cold]
#[inline(never)]
fn rank_error(x: &Shape, ranks: &[usize], layout: &'static str) -> Error {
    ErrorKind::Rank { expected: ranks.to_vec(), layout, got: *x }.into()
}

/// `dim` of `x` resolved (negative counts from the end), refused when it is the batch dim 0:
/// a view or piece along the batch would change the model's batch.
#[inline]
pub(crate) fn non_batch_dim(x: &Shape, dim: i64, verb: &str) -> Result<usize, Error> {
    let d = x.resolve_dim(dim)?;
    if d == 0 {
        return Err(Error::shape(format!("cannot {verb} along the batch dim 0")));
    }
    Ok(d)
}

/// `other_ops` of a pointwise op: one per output element.
#[inline]
pub(crate) fn per_element(shape: &Shape) -> Result<Cost, Error> {
    Ok(Cost { other_ops: shape.elements()?, ..Cost::default() })
}

/// A conv's `groups`, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Groups {
    Fixed(u64),
    /// `groups = "depthwise"`: one group per input channel, whatever that turns out to be.
    Depthwise,
}

pub(crate) fn parse_groups(a: &Attrs) -> Result<Groups, Error> {
    match a.raw("groups") {
        Some(serde_json::Value::String(s)) if s == "depthwise" => Ok(Groups::Depthwise),
        Some(serde_json::Value::String(s)) => {
            Err(Error::bad_value("groups", format!("'{s}'"), "must be a positive integer or 'depthwise'"))
        }
        _ => Ok(Groups::Fixed(a.positive("groups")?.unwrap_or(1))),
    }
}

/// Resolve groups against the inferred input channels and check both channel counts divide.
#[inline]
pub(crate) fn resolve_groups(groups: Groups, c_in: u64, c_out: u64) -> Result<u64, Error> {
    let g = match groups {
        Groups::Fixed(g) => g,
        Groups::Depthwise => c_in,
    };
    if !c_in.is_multiple_of(g) {
        return Err(Error::shape(format!("groups={g} does not divide in_channels={c_in}")));
    }
    if !c_out.is_multiple_of(g) {
        return Err(Error::shape(format!("groups={g} does not divide out_channels={c_out}")));
    }
    Ok(g)
}

/// Check an optional `in_channels`/`in_features` assertion against the inferred value.
#[inline]
pub(crate) fn check_declared(declared: Option<u64>, actual: u64, what: &str) -> Result<(), Error> {
    match declared {
        Some(d) if d != actual => Err(Error::shape(format!("expects {d} input {what}, got {actual}"))),
        _ => Ok(()),
    }
}

/// The input layout of a `d`-d conv, pool or norm, for messages.
#[inline]
pub(crate) fn layout(d: usize) -> &'static str {
    match d {
        1 => "(N, C, L)",
        2 => "(N, C, H, W)",
        _ => "(N, C, D, H, W)",
    }
}

pub(crate) const RUNNING_STAT_BYTES: u64 = 4; // fp32
pub(crate) const COUNTER_BYTES: u64 = 8; // int64 num_batches_tracked

/// Cost of a per-channel norm with optional affine params (the bias only if `bias`, as torch
/// 2.15 registers no bias parameter for `bias=False`) and running statistics.
#[inline]
pub(crate) fn channel_norm_cost(x: &Shape, c: u64, affine: bool, bias: bool, running: bool) -> Result<Cost, Error> {
    let mut cost = per_element(x)?;
    if affine {
        cost.weight_params = c;
        cost.bias_params = if bias { c } else { 0 };
    }
    if running {
        cost.buffers = add(mul(2, c)?, 1)?;
        cost.buffer_bytes = add(mul(2 * RUNNING_STAT_BYTES, c)?, COUNTER_BYTES)?;
    }
    Ok(cost)
}

/// `params weight C + bias C = 2C` / `params weight C = C` / `no params`.
pub(crate) fn affine_explain(c: u64, affine: bool, bias: bool) -> String {
    match (affine, bias) {
        (false, _) => "no params".into(),
        (true, true) => format!("params weight {c} + bias {c} = {}", crate::num::commas(2 * c)),
        (true, false) => format!("params weight {c} = {} (no bias)", crate::num::commas(c)),
    }
}
