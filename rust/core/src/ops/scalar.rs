//! mul_scalar — `x * other` with `other` a constant number (Inception-ResNet's residual scale
//! `x * 0.17`, attention's `q * scale`). `other` changes no count. Output: the input's shape, a
//! new tensor, or with `inplace = true` (`x *= 0.17`, `x.mul_(0.17)`) the input's storage
//! overwritten, which the memory counts honour as they do for an in-place ReLU; no params; 1
//! other op per element, as `mul`; no MACs.
//!
//! Nothing is kept for the backward: the gradient is `grad * other`, and the constant needs none
//! (PyTorch's MulBackward1 keeps the number, not a tensor).

use super::common::per_element;
use super::{Eval, Op, Parse};
use crate::attrs::Attrs;
use crate::error::Error;
use crate::num::commas;
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("mul_scalar", parse),
];

struct MulScalar {
    other: f64,
    inplace: bool,
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    let other = a.float("other")?.ok_or_else(|| Error::missing("other"))?;
    let inplace = a.bool("inplace", false)?;
    Ok(Box::new(MulScalar { other, inplace }))
}

impl Op for MulScalar {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        Ok(Eval { shape: inputs[0], cost: per_element(&inputs[0])? })
    }

    fn explain(&self, _inputs: &[Shape], out: &Eval) -> String {
        let how = if self.inplace { ", in place" } else { "" };
        format!("no parameters; {} other ops (one multiply by {} per element{how})", commas(out.cost.other_ops), self.other)
    }

    fn aliases_input(&self) -> bool {
        self.inplace
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok, op};
    use serde_json::json;

    #[test]
    fn inception_resnet_scale() {
        // Block35's `out * 0.17` on (1, 320, 35, 35): 320*35*35 = 392,000 multiplies, no params
        let e = ok("mul_scalar", json!({"other": 0.17}), &[&[1, 320, 35, 35]]);
        assert_eq!(e.shape.dims(), &[1, 320, 35, 35]);
        assert_eq!(e.cost.other_ops, 392_000);
        assert_eq!((e.cost.macs, e.cost.weight_params, e.cost.buffers), (0, 0, 0));
        // an integer constant is a number too; batch 4 multiplies 4 times as many
        assert_eq!(ok("mul_scalar", json!({"other": 2}), &[&[4, 8]]).cost.other_ops, 32);
    }

    #[test]
    fn in_place_shares_the_input() {
        // `x *= 0.5`: the same shape and count; the output is the input's storage
        assert!(op("mul_scalar", json!({"other": 0.5, "inplace": true})).aliases_input());
        assert!(!op("mul_scalar", json!({"other": 0.5})).aliases_input());
        let e = ok("mul_scalar", json!({"other": 0.5, "inplace": true}), &[&[2, 3, 4]]);
        assert_eq!((e.shape.dims(), e.cost.other_ops), (&[2, 3, 4][..], 24));
    }

    #[test]
    fn invalid() {
        assert!(err("mul_scalar", json!({}), &[&[1, 4]]).contains("missing required attribute 'other'"));
        assert!(err("mul_scalar", json!({"other": "half"}), &[&[1, 4]]).contains("must be a number"));
        assert!(err("mul_scalar", json!({"other": 2, "inplace": "yes"}), &[&[1, 4]]).contains("true or false"));
    }
}
