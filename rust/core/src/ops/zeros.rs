//! zeros: a tensor of zeros of the input's shape — a NAS cell's `none` edge (NAS-Bench-201's
//! `Zero` is `x.mul(0.0)`). No params, no MACs; its output is a new tensor (not a view).

use super::{Eval, Op, Parse};
use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::Error;
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[("zeros", parse)];

struct Zeros;

fn parse(_a: &Attrs) -> Result<Box<dyn Op>, Error> {
    Ok(Box::new(Zeros))
}

impl Op for Zeros {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        Ok(Eval { shape: inputs[0], cost: Cost::default() })
    }

    fn explain(&self, _inputs: &[Shape], _out: &Eval) -> String {
        "no parameters, no compute: zeros of the input's shape".into()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn zeros_keeps_the_shape_and_costs_nothing() {
        let e = ok("zeros", json!({}), &[&[1, 16, 32, 32]]);
        assert_eq!(e.cost, Default::default());
        assert_eq!(e.shape.dims(), &[1, 16, 32, 32]);
        assert!(err("zeros", json!({"value": 1}), &[&[1, 4]]).contains("value"));
    }
}
