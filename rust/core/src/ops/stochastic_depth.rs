//! stochastic_depth — torchvision's `StochasticDepth(p, mode)` (`torchvision.ops.stochastic_depth`):
//! in training, with probability `p`, zero a whole sample (`mode` "row": one draw per sample)
//! or the whole batch ("batch": one draw), scaling the survivors by 1 / (1 − p); at inference
//! the identity.
//!
//! Shape: the input's. No params, no MACs, no new memory at inference: the output aliases the
//! input. In training (p > 0) the output `input * noise` is a storage of its own, and autograd
//! keeps the noise (the keep-mask, in the input's dtype: the mul's saved `other`): one value per
//! sample in mode "row", one value in mode "batch" (`Op::saved`).

use super::{Eval, Op, Parse, Saved};
use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::Error;
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[("stochastic_depth", parse)];

struct StochasticDepth {
    p: f64,
    /// one draw per sample (mode "row"), else one for the batch ("batch")
    row: bool,
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    let p = a.float("p")?.ok_or_else(|| Error::missing("p"))?;
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::attribute_rule(format!("stochastic depth probability p={p} must be between 0 and 1")));
    }
    let row = a.choice("mode", &["row", "batch"], "row")? == "row";
    Ok(Box::new(StochasticDepth { p, row }))
}

impl Op for StochasticDepth {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        Ok(Eval { shape: inputs[0], cost: Cost::default() })
    }

    fn explain(&self, _inputs: &[Shape], _out: &Eval) -> String {
        "no parameters, no compute (the identity at inference)".into()
    }

    fn aliases_input(&self) -> bool {
        true
    }

    /// Training with p > 0: torchvision draws `noise` of shape (N, 1, …) in mode "row" (one
    /// value per sample; (1, 1, …) in mode "batch") in the input's dtype and returns
    /// `input * noise`, a new storage; the mul keeps `noise` for the input's gradient. With
    /// p = 0 it returns the input and keeps nothing.
    fn saved(&self, inputs: &[Shape], _out: &Shape) -> Result<Saved, Error> {
        if self.p == 0.0 {
            return Ok(Saved::NONE);
        }
        let noise = if self.row { inputs[0].batch() } else { 1 };
        Ok(Saved { new_output: true, extra_elements: noise, ..Saved::NONE })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok, op, s};
    use super::super::Saved;
    use serde_json::json;

    #[test]
    fn identity_at_inference() {
        let e = ok("stochastic_depth", json!({"p": 0.2, "mode": "row"}), &[&[3, 96, 56, 56]]);
        assert_eq!(e.shape.dims(), &[3, 96, 56, 56]);
        assert_eq!(e.cost, Default::default());
        assert!(op("stochastic_depth", json!({"p": 0.2})).aliases_input());
    }

    /// torch's saved-tensors hooks on torchvision's StochasticDepth in training (fp32, input
    /// (3, 8, 5, 5) requiring a gradient): p 0.2 mode "row" packs a (3, 1, 1, 1) tensor, 12 B;
    /// mode "batch" a (1, 1, 1, 1) tensor, 4 B; p 0 packs nothing.
    #[test]
    fn saved_noise_as_torch() {
        let x = s(&[3, 8, 5, 5]);
        let saved = |attrs| op("stochastic_depth", attrs).saved(&[x], &x).unwrap();
        assert_eq!(saved(json!({"p": 0.2, "mode": "row"})), Saved { new_output: true, extra_elements: 3, ..Saved::NONE });
        assert_eq!(saved(json!({"p": 0.2, "mode": "batch"})).extra_elements, 1);
        assert_eq!(saved(json!({"p": 0.0, "mode": "row"})), Saved::NONE);
        assert_eq!(saved(json!({"p": 1.0})).extra_elements, 3);
    }

    #[test]
    fn invalid() {
        assert!(err("stochastic_depth", json!({"p": 1.5}), &[&[1, 4]]).contains("p=1.5"));
        assert!(err("stochastic_depth", json!({"p": 0.1, "mode": "col"}), &[&[1, 4]]).contains("mode"));
        assert!(err("stochastic_depth", json!({}), &[&[1, 4]]).contains("p"));
    }
}
