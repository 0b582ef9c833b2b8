//! concat — `torch.cat(inputs, dim)` (dim counts the batch as 0; default 1, the channels).
//! All other dims must agree. No params; a copy, so it allocates its output.

use super::{Eval, Op, Parse};
use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::Error;
use crate::num::add;
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("concat", parse),
];

struct Concat {
    dim: i64,
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    Ok(Box::new(Concat { dim: a.int("dim")?.unwrap_or(1) }))
}

impl Op for Concat {
    fn arity(&self) -> (usize, usize) {
        (1, usize::MAX)
    }

    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let first = inputs[0];
        let d = first.resolve_dim(self.dim)?;
        let mut out = first;
        for (k, x) in inputs.iter().enumerate().skip(1) {
            if x.rank() != first.rank() {
                return Err(Error::shape(format!("input {k} {x} has rank {} but input 0 {first} has rank {}", x.rank(), first.rank())));
            }
            for i in 0..first.rank() {
                if i != d && x.dims()[i] != first.dims()[i] {
                    return Err(Error::shape(format!("input {k} {x} differs from input 0 {first} in dim {i} (only dim {d} may differ)")));
                }
            }
            out.dims_mut()[d] = add(out.dims()[d], x.dims()[d])?;
        }
        Ok(Eval { shape: out, cost: Cost::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn densenet_style() {
        let e = ok("concat", json!({}), &[&[1, 64, 56, 56], &[1, 32, 56, 56], &[1, 32, 56, 56]]);
        assert_eq!(e.shape.dims(), &[1, 128, 56, 56]);
        let e = ok("concat", json!({"dim": -1}), &[&[1, 2, 3], &[1, 2, 5]]);
        assert_eq!(e.shape.dims(), &[1, 2, 8]);
        let m = err("concat", json!({}), &[&[1, 64, 56, 56], &[1, 32, 28, 28]]);
        assert!(m.contains("dim 2"), "{m}");
    }
}
