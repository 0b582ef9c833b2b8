//! select — `x.select(dim, index)`, e.g. ViT's class token `x[:, 0]`: removes `dim`.
//! A view, no params, no compute.

use super::common::non_batch_dim;
use super::{Eval, Op, Parse};
use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::Error;
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("select", parse),
];

struct Select {
    dim: i64,
    index: i64,
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    Ok(Box::new(Select {
        dim: a.int("dim")?.ok_or_else(|| Error::missing("dim"))?,
        index: a.int("index")?.unwrap_or(0),
    }))
}

impl Op for Select {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        let d = non_batch_dim(x, self.dim, "select")?;
        let n = x.dims()[d] as i64;
        if self.index >= n || self.index < -n {
            return Err(Error::shape(format!("index {} is out of range for dim {d} of size {n}", self.index)));
        }
        let mut out = Shape::new(&x.dims()[..d])?;
        for &v in &x.dims()[d + 1..] {
            out.push(v)?;
        }
        Ok(Eval { shape: out, cost: Cost::default() })
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
    fn class_token() {
        let e = ok("select", json!({"dim": 1, "index": 0}), &[&[2, 197, 768]]);
        assert_eq!(e.shape.dims(), &[2, 768]);
        assert!(err("select", json!({"dim": 1, "index": 197}), &[&[2, 197, 768]]).contains("out of range"));
    }
}
