//! flatten — `torch.nn.Flatten(start_dim=1, end_dim=-1)`: a view, no params, no compute.

use super::{Eval, Op, Parse};
use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::Error;
use crate::num::prod;
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("flatten", parse),
];

struct Flatten {
    start_dim: i64,
    end_dim: i64,
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    Ok(Box::new(Flatten { start_dim: a.int("start_dim")?.unwrap_or(1), end_dim: a.int("end_dim")?.unwrap_or(-1) }))
}

impl Op for Flatten {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        let s = x.resolve_dim(self.start_dim)?;
        let e = x.resolve_dim(self.end_dim)?;
        if s > e {
            return Err(Error::shape(format!("start_dim={} comes after end_dim={} for a {}-d input", self.start_dim, self.end_dim, x.rank())));
        }
        let mut out = Shape::new(&x.dims()[..s])?;
        out.push(prod(&x.dims()[s..=e])?)?;
        for &d in &x.dims()[e + 1..] {
            out.push(d)?;
        }
        Ok(Eval { shape: out, cost: Cost::default() })
    }

    fn explain(&self, inputs: &[Shape], out: &Eval) -> String {
        format!("no parameters; view {} → {}", inputs[0], out.shape)
    }

    fn aliases_input(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn vgg_flatten() {
        let e = ok("flatten", json!({}), &[&[1, 512, 7, 7]]);
        assert_eq!(e.shape.dims(), &[1, 25088]);
        let e = ok("flatten", json!({"start_dim": 2}), &[&[1, 768, 14, 14]]);
        assert_eq!(e.shape.dims(), &[1, 768, 196]);
        let e = ok("flatten", json!({"start_dim": 0, "end_dim": 1}), &[&[2, 3, 4]]);
        assert_eq!(e.shape.dims(), &[6, 4]);
        assert!(err("flatten", json!({"start_dim": 3, "end_dim": 1}), &[&[2, 3, 4, 5]]).contains("after"));
    }
}
