//! identity and dropout: the output is the input (dropout is counted at inference, where it is
//! the identity). No params, no compute, no new memory: the output aliases the input.

use super::{Eval, Op, Parse, Saved};
use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::Error;
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("dropout", |a| parse(a, Kind::Dropout)),
    ("identity", |a| parse(a, Kind::Identity)),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Identity,
    Dropout,
}

struct Identity {
    /// dropout's probability (0 for identity)
    p: f64,
    inplace: bool,
}

pub fn parse(a: &Attrs, kind: Kind) -> Result<Box<dyn Op>, Error> {
    let (mut p, mut inplace) = (0.0, false);
    if kind == Kind::Dropout {
        p = a.float("p")?.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::attribute_rule(format!("dropout probability p={p} must be between 0 and 1")));
        }
        inplace = a.bool("inplace", false)?;
    }
    Ok(Box::new(Identity { p, inplace }))
}

impl Op for Identity {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        Ok(Eval { shape: inputs[0], cost: Cost::default() })
    }

    fn explain(&self, _inputs: &[Shape], _out: &Eval) -> String {
        "no parameters (dropout removes none: it is the identity at inference)".into()
    }

    fn aliases_input(&self) -> bool {
        true
    }

    /// Training dropout with p > 0 (on the CPU) draws a mask of the input's size in its dtype
    /// and keeps it; unless in place, its output `input * mask` is a storage of its own.
    fn saved(&self, inputs: &[Shape], _out: &Shape) -> Result<Saved, Error> {
        if self.p == 0.0 {
            return Ok(Saved::NONE);
        }
        Ok(Saved { new_output: !self.inplace, extra_elements: inputs[0].elements()?, ..Saved::NONE })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn dropout_has_no_params() {
        let e = ok("dropout", json!({"p": 0.5}), &[&[1, 4096]]);
        assert_eq!(e.cost, Default::default());
        assert_eq!(e.shape.dims(), &[1, 4096]);
        assert!(err("dropout", json!({"p": 1.5}), &[&[1, 4096]]).contains("p=1.5"));
        ok("identity", json!({}), &[&[1, 2, 3]]);
    }
}
