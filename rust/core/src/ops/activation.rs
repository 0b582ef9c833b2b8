//! Pointwise activations: relu, relu6, leaky_relu, elu, gelu, silu, mish, hardswish,
//! hardsigmoid, sigmoid, tanh. No params; one other-op per element; shape unchanged.
//! `inplace = true` (as in torchvision's ReLU(inplace=True)) makes the output share its
//! input's storage, which the peak-memory count honours.

use super::common::per_element;
use super::{Eval, Op, Parse, Saved};
use crate::attrs::Attrs;
use crate::error::Error;
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("relu", |a| parse(a, Kind::Relu)),
    ("relu6", |a| parse(a, Kind::Relu6)),
    ("leaky_relu", |a| parse(a, Kind::LeakyRelu)),
    ("elu", |a| parse(a, Kind::Elu)),
    ("gelu", |a| parse(a, Kind::Gelu)),
    ("silu", |a| parse(a, Kind::Silu)),
    ("mish", |a| parse(a, Kind::Mish)),
    ("hardswish", |a| parse(a, Kind::Hardswish)),
    ("hardsigmoid", |a| parse(a, Kind::Hardsigmoid)),
    ("sigmoid", |a| parse(a, Kind::Sigmoid)),
    ("tanh", |a| parse(a, Kind::Tanh)),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Relu,
    Relu6,
    LeakyRelu,
    Elu,
    Gelu,
    Silu,
    Mish,
    Hardswish,
    Hardsigmoid,
    Sigmoid,
    Tanh,
}

struct Activation {
    kind: Kind,
    inplace: bool,
}

pub fn parse(a: &Attrs, kind: Kind) -> Result<Box<dyn Op>, Error> {
    match kind {
        Kind::LeakyRelu => {
            a.float("negative_slope")?;
        }
        Kind::Elu => {
            a.float("alpha")?;
        }
        Kind::Gelu => {
            a.choice("approximate", &["none", "tanh"], "none")?;
        }
        _ => {}
    }
    // torch's Sigmoid, Tanh and GELU take no `inplace` argument.
    let inplace = match kind {
        Kind::Sigmoid | Kind::Tanh | Kind::Gelu => false,
        _ => a.bool("inplace", false)?,
    };
    Ok(Box::new(Activation { kind, inplace }))
}

impl Op for Activation {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        Ok(Eval { shape: inputs[0], cost: per_element(&inputs[0])? })
    }

    fn aliases_input(&self) -> bool {
        self.inplace
    }

    /// relu, sigmoid and tanh keep their output, the others their input; in place, relu,
    /// leaky_relu and elu keep the storage they overwrote (their result), while relu6, silu,
    /// mish, hardswish and hardsigmoid keep a copy of the input made before it is overwritten.
    fn saved(&self, inputs: &[Shape], _out: &Shape) -> Result<Saved, Error> {
        Ok(match (self.kind, self.inplace) {
            (Kind::Relu | Kind::Sigmoid | Kind::Tanh, _) => Saved::OUTPUT,
            (Kind::LeakyRelu | Kind::Elu, true) => Saved::OUTPUT,
            (Kind::Relu6 | Kind::Silu | Kind::Mish | Kind::Hardswish | Kind::Hardsigmoid, true) => {
                Saved { extra_elements: inputs[0].elements()?, ..Saved::NONE }
            }
            _ => Saved::INPUT,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn all_are_pointwise() {
        for op in ["relu", "relu6", "leaky_relu", "elu", "gelu", "silu", "mish", "hardswish", "hardsigmoid", "sigmoid", "tanh"] {
            let e = ok(op, json!({}), &[&[2, 3, 4, 5]]);
            assert_eq!(e.shape.dims(), &[2, 3, 4, 5]);
            assert_eq!(e.cost.params().unwrap(), 0);
            assert_eq!(e.cost.macs, 0);
            assert_eq!(e.cost.other_ops, 120);
        }
    }

    #[test]
    fn attributes() {
        ok("leaky_relu", json!({"negative_slope": 0.2, "inplace": true}), &[&[1, 3]]);
        ok("gelu", json!({"approximate": "tanh"}), &[&[1, 3]]);
        let m = err("gelu", json!({"approximate": "erf"}), &[&[1, 3]]);
        assert!(m.contains("approximate"), "{m}");
        let m = err("sigmoid", json!({"inplace": true}), &[&[1, 3]]);
        assert!(m.contains("unknown attribute 'inplace'"), "{m}");
    }
}
