//! add and mul — elementwise over two or more inputs with NumPy/PyTorch broadcasting
//! (residual connections, squeeze-excitation's channel scaling). One other-op per output
//! element per extra operand; no MACs (torchvision does not count them).

use super::{Eval, Op, Parse, Saved};
use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::Error;
use crate::num::mul;
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("add", |a| parse(a, Kind::Add)),
    ("mul", |a| parse(a, Kind::Mul)),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Add,
    Mul,
}

struct Elementwise {
    kind: Kind,
}

pub fn parse(_a: &Attrs, kind: Kind) -> Result<Box<dyn Op>, Error> {
    Ok(Box::new(Elementwise { kind }))
}

/// Broadcast two shapes by PyTorch's rules (align right; sizes equal or one of them 1).
pub(crate) fn broadcast(a: &Shape, b: &Shape) -> Result<Shape, Error> {
    let r = a.rank().max(b.rank());
    let mut dims = [0u64; crate::shape::MAX_RANK];
    for (i, dim) in dims.iter_mut().enumerate().take(r) {
        let da = if i < r - a.rank() { 1 } else { a.dims()[i - (r - a.rank())] };
        let db = if i < r - b.rank() { 1 } else { b.dims()[i - (r - b.rank())] };
        *dim = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(Error::shape(format!("shapes {a} and {b} do not broadcast: dim {i} is {da} vs {db}"))),
        };
    }
    Shape::new(&dims[..r])
}

impl Op for Elementwise {
    fn arity(&self) -> (usize, usize) {
        (2, usize::MAX)
    }

    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let mut out = inputs[0];
        for x in &inputs[1..] {
            out = broadcast(&out, x)?;
        }
        let other_ops = mul(out.elements()?, inputs.len() as u64 - 1)?;
        Ok(Eval { shape: out, cost: Cost { other_ops, ..Cost::default() } })
    }

    /// add keeps nothing. mul keeps each factor for the other's gradient, and runs left to
    /// right: a product of k > 2 inputs also keeps each partial product a·b, a·b·c, ….
    fn saved(&self, inputs: &[Shape], _out: &Shape) -> Result<Saved, Error> {
        if self.kind == Kind::Add {
            return Ok(Saved::NONE);
        }
        let mut extra = 0u64;
        let mut partial = inputs[0];
        for x in &inputs[1..inputs.len() - 1] {
            partial = broadcast(&partial, x)?;
            extra = crate::num::add(extra, partial.elements()?)?;
        }
        let all = if inputs.len() >= 32 { u32::MAX } else { (1u32 << inputs.len()) - 1 };
        Ok(Saved { inputs: all, extra_elements: extra, cross: true, ..Saved::NONE })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn residual_and_se() {
        let e = ok("add", json!({}), &[&[1, 64, 56, 56], &[1, 64, 56, 56]]);
        assert_eq!(e.shape.dims(), &[1, 64, 56, 56]);
        assert_eq!(e.cost.other_ops, 64 * 56 * 56);
        // squeeze-excitation: (N, C, H, W) × (N, C, 1, 1)
        let e = ok("mul", json!({}), &[&[1, 96, 28, 28], &[1, 96, 1, 1]]);
        assert_eq!(e.shape.dims(), &[1, 96, 28, 28]);
        let e = ok("add", json!({}), &[&[1, 3, 4], &[1, 3, 4], &[1, 3, 4]]);
        assert_eq!(e.cost.other_ops, 24);
        let m = err("add", json!({}), &[&[1, 64, 56, 56], &[1, 32, 56, 56]]);
        assert!(m.contains("do not broadcast"), "{m}");
    }
}
