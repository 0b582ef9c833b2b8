//! reshape — the per-sample shape: `shape` lists every dim after the batch, which is kept
//! (model files do not know the batch size); one entry may be -1 and is inferred. A view.

use super::{Eval, Op, Parse};
use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::{Error, ErrorKind};
use crate::num::{join_x, prod};
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("reshape", parse),
];

struct Reshape {
    shape: Vec<i64>,
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    let shape = a.int_list("shape")?.ok_or_else(|| {
        Error::new(ErrorKind::MissingAttribute { names: vec!["shape".into()], note: Some("the per-sample shape, batch excluded".into()), unknown: Vec::new() })
    })?;
    if shape.iter().filter(|&&d| d == -1).count() > 1 {
        return Err(Error::attribute_rule("only one dim of shape may be -1"));
    }
    if let Some(d) = shape.iter().find(|&&d| d == 0 || d < -1) {
        return Err(Error::attribute_rule(format!("shape entries must be positive or -1, got {d}")));
    }
    Ok(Box::new(Reshape { shape }))
}

impl Op for Reshape {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        let have = prod(&x.dims()[1..])?;
        let mut known: u64 = 1;
        for &d in self.shape.iter().filter(|&&d| d > 0) {
            known = crate::num::mul(known, d as u64)?;
        }
        let fail = || {
            let shown = self.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×");
            Err(Error::shape(format!("cannot reshape {} ({have} elements per sample) into {shown}", join_x(&x.dims()[1..]))))
        };
        let mut out = Shape::new(&[x.batch()])?;
        for &d in &self.shape {
            if d == -1 {
                if have % known != 0 {
                    return fail();
                }
                out.push(have / known)?;
            } else {
                out.push(d as u64)?;
            }
        }
        if prod(&out.dims()[1..])? != have {
            return fail();
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
    fn reshape() {
        let e = ok("reshape", json!({"shape": [768, -1]}), &[&[2, 768, 14, 14]]);
        assert_eq!(e.shape.dims(), &[2, 768, 196]);
        let m = err("reshape", json!({"shape": [7, 7]}), &[&[1, 50]]);
        assert!(m.contains("cannot reshape 50"), "{m}");
        assert!(err("reshape", json!({"shape": [-1, -1]}), &[&[1, 50]]).contains("only one"));
    }
}
