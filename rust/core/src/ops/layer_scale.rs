//! layer_scale — a learned per-channel scale, `gamma * x` (ConvNeXt's CNBlock `layer_scale`, a
//! (C, 1, 1) parameter on NCHW; CaiT/DeiT-III/Swin-style `gamma` of shape (C,) on channels-last
//! tensors). `dim` is the scaled dim, -1 (the last) by default; 1 for NCHW feature maps.
//!
//! Params: weight = the size of `dim`. Output: the input's shape (a new tensor, not a view).
//! MACs 0 (an elementwise multiply, outside the MACs convention); 1 other op per element.

use super::common::per_element;
use super::{Eval, Op, Parse, Saved};
use crate::attrs::Attrs;
use crate::error::Error;
use crate::num::commas;
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("layer_scale", parse),
];

struct LayerScale {
    dim: i64,
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    // the initial value (torchvision's `layer_scale=1e-6`) changes no count; accepted for clarity
    if let Some(v) = a.float("init")? {
        if !v.is_finite() {
            return Err(Error::bad_value("init", v, "must be a finite number"));
        }
    }
    Ok(Box::new(LayerScale { dim: a.int("dim")?.unwrap_or(-1) }))
}

impl Op for LayerScale {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        let d = x.resolve_dim(self.dim)?;
        if d == 0 {
            return Err(Error::shape("cannot scale along the batch dim 0 (use dim=1 for NCHW channels, -1 for channels-last)"));
        }
        let mut cost = per_element(x)?;
        cost.weight_params = x.dims()[d];
        Ok(Eval { shape: *x, cost })
    }

    fn explain(&self, inputs: &[Shape], out: &Eval) -> String {
        let d = inputs[0].resolve_dim(self.dim).unwrap_or(1);
        format!(
            "params weight {} (dim {d}) = {}; {} other ops (one multiply per element)",
            out.cost.weight_params,
            commas(out.cost.weight_params),
            commas(out.cost.other_ops)
        )
    }

    /// `x * gamma` keeps x for gamma's gradient (and gamma, a parameter, for x's).
    fn saved(&self, _inputs: &[Shape], _out: &Shape) -> Result<Saved, Error> {
        Ok(Saved { for_params: true, ..Saved::INPUT })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn convnext_block_scale_on_nchw() {
        // CNBlock(dim=96) at stage 1 of convnext_tiny: layer_scale (96, 1, 1) * (1, 96, 56, 56)
        let e = ok("layer_scale", json!({"dim": 1, "init": 1e-6}), &[&[1, 96, 56, 56]]);
        assert_eq!(e.shape.dims(), &[1, 96, 56, 56]);
        assert_eq!((e.cost.weight_params, e.cost.bias_params, e.cost.buffers), (96, 0, 0));
        assert_eq!(e.cost.macs, 0);
        assert_eq!(e.cost.other_ops, 96 * 56 * 56);
        // batch 8: params unchanged, other ops scale with the batch
        let e = ok("layer_scale", json!({"dim": 1}), &[&[8, 96, 56, 56]]);
        assert_eq!((e.cost.weight_params, e.cost.other_ops), (96, 8 * 96 * 56 * 56));
    }

    #[test]
    fn default_is_the_last_dim() {
        // channels-last (N, H, W, C) or tokens (N, L, C): gamma of shape (C,)
        let e = ok("layer_scale", json!({}), &[&[2, 7, 7, 768]]);
        assert_eq!((e.cost.weight_params, e.cost.other_ops), (768, 2 * 7 * 7 * 768));
        let e = ok("layer_scale", json!({"dim": -1}), &[&[1, 197, 384]]);
        assert_eq!(e.cost.weight_params, 384);
    }

    #[test]
    fn invalid() {
        assert!(err("layer_scale", json!({"dim": 0}), &[&[4, 8]]).contains("batch dim"));
        assert!(err("layer_scale", json!({"dim": 4}), &[&[1, 8, 2, 2]]).contains("4"));
        assert!(err("layer_scale", json!({"gamma": 1}), &[&[1, 8]]).contains("gamma"));
    }
}
