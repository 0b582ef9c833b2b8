//! Repetitions that repeat the one before them: the same ops (the same shared op tables, or the
//! same constant op), the same wiring shifted by the repetition's length, layer for layer.
//!
//! A family unrolls each stage to its largest depth, and from the second block of a stage on
//! the blocks are alike (ResNet's blocks 1.., a MobileNet stage's inverted residuals after its
//! first, NB201's cells of a stage). When such a repetition starts on an input of the same
//! shape as the one before it, with the same layers switched on, its outcome is the previous
//! one's: the same shapes, the same steps, the same amounts added to the totals. The evaluator
//! then copies it instead of running its shape rules (`engine/evaluator/`); what decides that
//! at run time (shapes, layers on, an overflow) is checked there, this module only finds the
//! candidates once per program.

use super::{CompiledAttr, Instance, OpSource};
use std::sync::Arc;

/// The replica candidates of a program.
#[derive(Default)]
pub struct Replicas {
    /// Per instance `k`: the lengths `L` of the repetitions `[k, k + L)` that repeat the one
    /// just before them, `[k - L, k)`, longest first (empty for most instances).
    pub lens: Vec<Vec<u32>>,
    /// Per instance: its number among the first instances of repetitions that some replica
    /// repeats (the evaluator keeps the totals it met there), or [`Replicas::NONE`].
    pub source: Vec<u32>,
    /// How many such instances there are.
    pub sources: usize,
}

impl Replicas {
    pub const NONE: u32 = u32::MAX;
}

/// The replica candidates of `instances`, given every block repetition expanded as
/// (first instance, number of instances).
pub(super) fn find(instances: &[Instance], spans: &[(usize, usize)], dynamic_dead: bool) -> Replicas {
    let n = instances.len();
    let mut r = Replicas { lens: vec![Vec::new(); n], source: vec![Replicas::NONE; n], sources: 0 };
    if dynamic_dead {
        // (the evaluator keeps per-layer amounts for such programs, which a copy would not)
        return r;
    }
    let starts: std::collections::HashSet<(usize, usize)> = spans.iter().copied().collect();
    for &(start, len) in spans {
        if len == 0 || start < len || !starts.contains(&(start - len, len)) || r.lens[start].contains(&(len as u32)) {
            continue;
        }
        let prev = start - len;
        if (0..len).all(|t| same_layer(&instances[prev + t], &instances[start + t], prev, len)) {
            r.lens[start].push(len as u32);
            if r.source[prev] == Replicas::NONE {
                r.source[prev] = r.sources as u32;
                r.sources += 1;
            }
        }
    }
    for l in &mut r.lens {
        l.sort_unstable_by(|a, b| b.cmp(a));
    }
    r
}

/// Instance `b` of a repetition does what `a` does one repetition (`len` instances) earlier:
/// the same op from the same source, the same flags, and inputs that are `a`'s shifted by `len`
/// where `a` reads its repetition's values or the value just before it (its input), and equal
/// where `a` reads from further back. Layers that drop switched-off inputs are left out.
fn same_layer<'a>(a: &'a Instance, b: &'a Instance, prev: usize, len: usize) -> bool {
    if a.op_name != b.op_name || a.trainable != b.trainable || a.dead != b.dead || a.drop.is_some() || b.drop.is_some() {
        return false;
    }
    if a.inputs.len() != b.inputs.len() {
        return false;
    }
    let shifted = a.inputs.iter().zip(&b.inputs).all(|(&x, &y)| if x >= prev && x <= prev + len { y == x + len } else { y == x });
    if !shifted {
        return false;
    }
    match (&a.op, &b.op) {
        (OpSource::Table { vars: va, strides: sa, ops: oa }, OpSource::Table { vars: vb, strides: sb, ops: ob }) => {
            Arc::ptr_eq(oa, ob) && va == vb && sa == sb
        }
        (OpSource::Const(_), OpSource::Const(_)) => {
            // `holds` names layers of the instance's own repetition; it makes no op and no step
            // (it counts in `analyze`'s eager peak only), so it takes no part in the comparison
            let op_attrs = |i: &'a Instance| i.attrs.iter().filter(|(k, _)| k != "holds");
            op_attrs(a).count() == op_attrs(b).count()
                && op_attrs(a).zip(op_attrs(b)).all(|((na, xa), (nb, xb))| na == nb && same_const(xa, xb))
        }
        _ => false,
    }
}

/// Two attributes are the same constant (an expression never counts as one).
fn same_const(a: &CompiledAttr, b: &CompiledAttr) -> bool {
    match (a, b) {
        (CompiledAttr::Const(x), CompiledAttr::Const(y)) => x == y,
        (CompiledAttr::List(x), CompiledAttr::List(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_const(p, q)),
        _ => false,
    }
}
