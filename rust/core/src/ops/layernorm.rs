//! layernorm — `torch.nn.LayerNorm`: normalises over the trailing `normalized_shape` dims.
//!
//! Params: weight ∏normalized_shape (elementwise_affine) + bias ∏normalized_shape (bias).

use super::common::per_element;
use super::{Eval, Op, Parse, Saved};
use crate::attrs::Attrs;
use crate::error::Error;
use crate::num::{join_x, mul, prod};
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("layernorm", parse),
];

struct LayerNorm {
    normalized_shape: Option<Vec<u64>>,
    elementwise_affine: bool,
    bias: bool,
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    a.float("eps")?;
    let normalized_shape = match a.int_list("normalized_shape")? {
        None => None,
        Some(v) => Some(
            v.into_iter()
                .map(|d| if d < 1 { Err(Error::attribute_rule(format!("normalized_shape entries must be positive, got {d}"))) } else { Ok(d as u64) })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    Ok(Box::new(LayerNorm {
        normalized_shape,
        elementwise_affine: a.bool("elementwise_affine", true)?,
        bias: a.bool("bias", true)?,
    }))
}

impl LayerNorm {
    /// The normalised trailing dims: as declared, or the last dim when not given.
    fn normalized<'a>(&'a self, x: &'a Shape) -> &'a [u64] {
        match &self.normalized_shape {
            Some(v) => v,
            None => x.tail(1),
        }
    }
}

impl Op for LayerNorm {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        let ns = self.normalized(x);
        if ns.len() >= x.rank() || x.tail(ns.len()) != ns {
            return Err(Error::shape(format!(
                "normalized_shape={} does not match the trailing dims of the input {x}",
                join_x(ns)
            )));
        }
        let n = prod(ns)?;
        let mut cost = per_element(x)?;
        if self.elementwise_affine {
            cost.weight_params = n;
            if self.bias {
                cost.bias_params = n;
            }
        }
        Ok(Eval { shape: *x, cost })
    }

    /// `native_layer_norm` returns its float32 mean and reciprocal standard deviation per row
    /// also at inference, dropped on return.
    fn scratch_bytes(&self, inputs: &[Shape], _out: &Shape, _dtype_bytes: u64) -> Result<u64, Error> {
        let x = &inputs[0];
        mul(prod(&x.dims()[..x.rank() - self.normalized(x).len()])?, 8)
    }

    /// Layer norm keeps its input and a mean and a reciprocal standard deviation per
    /// normalised row (float32: 2 × 4 bytes × the elements outside normalized_shape).
    fn saved(&self, inputs: &[Shape], _out: &Shape) -> Result<Saved, Error> {
        let x = &inputs[0];
        let rows = prod(&x.dims()[..x.rank() - self.normalized(x).len()])?;
        Ok(Saved::INPUT.with_bytes(mul(rows, 8)?))
    }

    fn explain(&self, inputs: &[Shape], out: &Eval) -> String {
        let ns = join_x(self.normalized(&inputs[0]));
        if out.cost.params().unwrap_or(0) == 0 {
            return format!("normalises over {ns}; no params");
        }
        format!("params weight {ns} + bias {} = {}", out.cost.bias_params, out.cost.params().unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn vit_layernorm() {
        let e = ok("layernorm", json!({"normalized_shape": 768}), &[&[1, 197, 768]]);
        assert_eq!(e.cost.params().unwrap(), 1536);
        let e = ok("layernorm", json!({"normalized_shape": 768, "bias": false}), &[&[1, 197, 768]]);
        assert_eq!(e.cost.params().unwrap(), 768);
        let e = ok("layernorm", json!({"normalized_shape": [7, 7], "elementwise_affine": false}), &[&[1, 3, 7, 7]]);
        assert_eq!(e.cost.params().unwrap(), 0);
        // not given: the last dim
        let e = ok("layernorm", json!({}), &[&[1, 10, 32]]);
        assert_eq!(e.cost.params().unwrap(), 64);
    }

    #[test]
    fn mismatch() {
        let m = err("layernorm", json!({"normalized_shape": 512}), &[&[1, 197, 768]]);
        assert!(m.contains("does not match"), "{m}");
    }
}
