//! softmax — `torch.nn.Softmax(dim)`. No params; one other-op per element.

use super::common::per_element;
use super::{Eval, Op, Parse, Saved};
use crate::attrs::Attrs;
use crate::error::Error;
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("softmax", parse),
];

struct Softmax {
    dim: i64,
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    Ok(Box::new(Softmax { dim: a.int("dim")?.unwrap_or(-1) }))
}

impl Op for Softmax {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        inputs[0].resolve_dim(self.dim)?;
        Ok(Eval { shape: inputs[0], cost: per_element(&inputs[0])? })
    }

    /// softmax keeps its output.
    fn saved(&self, _inputs: &[Shape], _out: &Shape) -> Result<Saved, Error> {
        Ok(Saved::OUTPUT)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn softmax() {
        assert_eq!(ok("softmax", json!({"dim": 1}), &[&[2, 10]]).cost.other_ops, 20);
        assert!(err("softmax", json!({"dim": 2}), &[&[2, 10]]).contains("out of range"));
    }
}
