//! groupnorm — `torch.nn.GroupNorm(num_groups, num_channels)`; channels are inferred.
//!
//! Params (affine): weight C + bias C; with `bias=false` (keyword-only in torch 2.15's
//! `GroupNorm(G, C, bias=False)`: "the layer will not learn an additive bias") weight C only.
//! num_groups must divide C.

use super::common::{affine_explain, check_declared, per_element};
use super::{Eval, Op, Parse, Saved};
use crate::attrs::Attrs;
use crate::error::Error;
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("groupnorm", parse),
];

struct GroupNorm {
    num_groups: u64,
    num_channels: Option<u64>,
    affine: bool,
    bias: bool,
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    a.float("eps")?;
    Ok(Box::new(GroupNorm {
        num_groups: a.require_positive("num_groups")?,
        num_channels: a.positive("num_channels")?,
        affine: a.bool("affine", true)?,
        bias: a.bool("bias", true)?,
    }))
}

impl Op for GroupNorm {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        if x.rank() < 2 {
            return Err(Error::shape(format!("expects an (N, C, *) input, got {x}")));
        }
        let c = x.channels();
        check_declared(self.num_channels, c, "channels")?;
        if !c.is_multiple_of(self.num_groups) {
            return Err(Error::shape(format!("num_groups={} does not divide num_channels={c}", self.num_groups)));
        }
        let mut cost = per_element(x)?;
        if self.affine {
            cost.weight_params = c;
            cost.bias_params = if self.bias { c } else { 0 };
        }
        Ok(Eval { shape: *x, cost })
    }

    fn explain(&self, inputs: &[Shape], out: &Eval) -> String {
        let _ = out;
        affine_explain(inputs[0].channels(), self.affine, self.bias)
    }

    /// `native_group_norm` returns its float32 statistics per sample and group also at
    /// inference, dropped on return.
    fn scratch_bytes(&self, inputs: &[Shape], _out: &Shape, _dtype_bytes: u64) -> Result<u64, Error> {
        crate::num::mul(crate::num::mul(inputs[0].batch(), self.num_groups)?, 8)
    }

    /// Group norm keeps its input and a mean and a reciprocal standard deviation per sample
    /// and group (float32: 2 × N × G × 4 bytes).
    fn saved(&self, inputs: &[Shape], _out: &Shape) -> Result<Saved, Error> {
        Ok(Saved::INPUT.with_bytes(crate::num::mul(crate::num::mul(inputs[0].batch(), self.num_groups)?, 8)?))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn groupnorm() {
        let e = ok("groupnorm", json!({"num_groups": 32}), &[&[2, 64, 8, 8]]);
        assert_eq!(e.cost.params().unwrap(), 128);
        assert_eq!(e.cost.other_ops, 2 * 64 * 64);
        let m = err("groupnorm", json!({"num_groups": 3}), &[&[2, 64, 8, 8]]);
        assert_eq!(m, "num_groups=3 does not divide num_channels=64");
    }

    #[test]
    fn bias_false_keeps_only_the_weight() {
        // torch 2.15: GroupNorm(4, 8, bias=False) has parameters [weight (8,)].
        let e = ok("groupnorm", json!({"num_groups": 4, "bias": false}), &[&[1, 8, 3]]);
        assert_eq!((e.cost.weight_params, e.cost.bias_params), (8, 0));
        // GroupNorm(4, 8, affine=False, bias=False): none.
        assert_eq!(ok("groupnorm", json!({"num_groups": 4, "affine": false, "bias": false}), &[&[1, 8, 3]]).cost.params().unwrap(), 0);
    }
}
