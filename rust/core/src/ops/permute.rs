//! permute (`dims`, over all dims batch included, as `Tensor.permute`) and transpose
//! (`dim0`, `dim1`). Views: no params, no compute.

use super::{Eval, Op, Parse};
use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::Error;
use crate::shape::{resolve_dim, Shape};

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("permute", parse_permute),
    ("transpose", parse_transpose),
];

struct Permute {
    dims: Vec<i64>,
}

struct Transpose {
    dim0: i64,
    dim1: i64,
}

pub fn parse_permute(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    Ok(Box::new(Permute { dims: a.int_list("dims")?.ok_or_else(|| Error::missing("dims"))? }))
}

pub fn parse_transpose(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    Ok(Box::new(Transpose {
        dim0: a.int("dim0")?.ok_or_else(|| Error::missing("dim0"))?,
        dim1: a.int("dim1")?.ok_or_else(|| Error::missing("dim1"))?,
    }))
}

impl Op for Permute {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        if self.dims.len() != x.rank() {
            return Err(Error::shape(format!("dims has {} entries but the input {x} has {} dims (the batch dim included)", self.dims.len(), x.rank())));
        }
        let mut seen = vec![false; x.rank()];
        let mut out = *x;
        for (i, &d) in self.dims.iter().enumerate() {
            let d = resolve_dim(d, x.rank())?;
            if std::mem::replace(&mut seen[d], true) {
                return Err(Error::shape(format!("dim {d} appears twice in dims")));
            }
            out.dims_mut()[i] = x.dims()[d];
        }
        Ok(Eval { shape: out, cost: Cost::default() })
    }

    fn aliases_input(&self) -> bool {
        true
    }
}

impl Op for Transpose {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        let (a, b) = (x.resolve_dim(self.dim0)?, x.resolve_dim(self.dim1)?);
        let mut out = *x;
        out.dims_mut().swap(a, b);
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
    fn permute_and_transpose() {
        let e = ok("permute", json!({"dims": [0, 2, 1]}), &[&[2, 768, 196]]);
        assert_eq!(e.shape.dims(), &[2, 196, 768]);
        let e = ok("transpose", json!({"dim0": 1, "dim1": -1}), &[&[2, 768, 196]]);
        assert_eq!(e.shape.dims(), &[2, 196, 768]);
        assert!(err("permute", json!({"dims": [0, 1, 1]}), &[&[2, 3, 4]]).contains("twice"));
        assert!(err("permute", json!({"dims": [0, 1]}), &[&[2, 3, 4]]).contains("has 2 entries"));
    }
}
