//! groupnorm — `torch.nn.GroupNorm(num_groups, num_channels)`; channels are inferred.
//!
//! Params (affine): weight C + bias C. num_groups must divide C.

use super::{per_element, Eval, Op};
use crate::attrs::Attrs;
use crate::shape::Shape;

struct GroupNorm {
    num_groups: u64,
    num_channels: Option<u64>,
    affine: bool,
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, String> {
    a.float("eps")?;
    Ok(Box::new(GroupNorm {
        num_groups: a.require_positive("num_groups")?,
        num_channels: a.positive("num_channels")?,
        affine: a.bool("affine", true)?,
    }))
}

impl Op for GroupNorm {
    fn eval(&self, inputs: &[Shape]) -> Result<Eval, String> {
        let x = &inputs[0];
        if x.rank() < 2 {
            return Err(format!("expects an (N, C, *) input, got {x}"));
        }
        let c = x.channels();
        super::conv::check_declared(self.num_channels, c, "channels")?;
        if c % self.num_groups != 0 {
            return Err(format!("num_groups={} does not divide num_channels={c}", self.num_groups));
        }
        let mut cost = per_element(x)?;
        if self.affine {
            cost.weight_params = c;
            cost.bias_params = c;
        }
        Ok(Eval { shape: *x, cost })
    }

    fn explain(&self, inputs: &[Shape], out: &Eval) -> String {
        let c = inputs[0].channels();
        if self.affine {
            format!("params weight {c} + bias {c} = {}", out.cost.params().unwrap_or(u64::MAX))
        } else {
            "no params".into()
        }
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
}
