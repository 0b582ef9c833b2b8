//! linear — `torch.nn.Linear`, acting on the last dim.
//!
//! Params: in·out (+ out bias). MACs: (numel of the input / in)·in·out, i.e. every row of every
//! sample goes through the matrix.

use super::common::check_declared;
use super::{Eval, Op, Parse, Saved};
use crate::attrs::Attrs;
use crate::cost::{macs_formula, params_formula, Cost};
use crate::error::Error;
use crate::num::mul;
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("linear", parse),
];

struct Linear {
    out_features: u64,
    in_features: Option<u64>,
    bias: bool,
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    Ok(Box::new(Linear {
        out_features: a.require_positive("out_features")?,
        in_features: a.positive("in_features")?,
        bias: a.bool("bias", true)?,
    }))
}

impl Op for Linear {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        if x.rank() < 2 {
            return Err(Error::shape(format!("expects an input with a feature dim, got {x}")));
        }
        let fin = x.last();
        check_declared(self.in_features, fin, "features")?;
        let mut out = *x;
        let r = out.rank();
        out.dims_mut()[r - 1] = self.out_features;
        let weight = mul(fin, self.out_features)?;
        let macs = mul(out.elements()?, fin)?;
        let bias = if self.bias { self.out_features } else { 0 };
        Ok(Eval { shape: out, cost: Cost { weight_params: weight, bias_params: bias, macs, ..Cost::default() } })
    }

    fn explain(&self, inputs: &[Shape], out: &Eval) -> String {
        let fin = inputs[0].last();
        format!(
            "{}; {}",
            params_formula(&[fin, self.out_features], out.cost.bias_params, out.cost.params().unwrap_or(u64::MAX)),
            macs_formula(out.shape.batch(), &out.shape.dims()[1..], &[fin], out.cost.macs)
        )
    }

    /// A linear layer keeps its input (and its weight, a parameter).
    fn saved(&self, _inputs: &[Shape], _out: &Shape) -> Result<Saved, Error> {
        Ok(Saved::INPUT)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn vgg_fc1() {
        // 25088×4096 + 4096 = 102,764,544 (the seed table).
        let e = ok("linear", json!({"out_features": 4096}), &[&[1, 25088]]);
        assert_eq!(e.cost.params().unwrap(), 102_764_544);
        assert_eq!(e.cost.macs, 25088 * 4096);
    }

    #[test]
    fn seed_small_example() {
        // a (1,4) vector to a (1,3) vector: 4 × 3 + 3 = 15.
        let e = ok("linear", json!({"out_features": 3}), &[&[1, 4]]);
        assert_eq!(e.cost.params().unwrap(), 15);
    }

    #[test]
    fn acts_on_last_dim() {
        // tokens: (2, 197, 768) -> (2, 197, 3072), 2·197 rows.
        let e = ok("linear", json!({"out_features": 3072, "bias": false}), &[&[2, 197, 768]]);
        assert_eq!(e.shape.dims(), &[2, 197, 3072]);
        assert_eq!(e.cost.macs, 2 * 197 * 768 * 3072);
        assert_eq!(e.cost.bias_params, 0);
    }

    #[test]
    fn declared_features_mismatch() {
        let m = err("linear", json!({"out_features": 4096, "in_features": 25088}), &[&[1, 4608]]);
        assert_eq!(m, "expects 25088 input features, got 4608");
    }
}
