//! batchnorm1d / 2d / 3d — `torch.nn.BatchNormNd`.
//!
//! Params (affine): weight C + bias C; with `bias=false` (keyword-only in torch 2.15's
//! `BatchNormNd(C, bias=False)`) only the weight C. Buffers (track_running_stats): running_mean C and
//! running_var C (fp32) and num_batches_tracked (one int64) — buffers, not parameters.
//! One other-op per element (inference folds the statistics into a scale and shift).

use super::common::{affine_explain, channel_norm_cost, check_declared};
use super::{Eval, Op, Parse, Saved};
use crate::attrs::Attrs;
use crate::error::Error;
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("batchnorm1d", |a| parse(a, 1)),
    ("batchnorm2d", |a| parse(a, 2)),
    ("batchnorm3d", |a| parse(a, 3)),
];


struct BatchNorm {
    d: usize,
    affine: bool,
    bias: bool,
    track_running_stats: bool,
    num_features: Option<u64>,
}

pub fn parse(a: &Attrs, d: usize) -> Result<Box<dyn Op>, Error> {
    a.float("eps")?;
    a.float("momentum")?;
    Ok(Box::new(BatchNorm {
        d,
        affine: a.bool("affine", true)?,
        bias: a.bool("bias", true)?,
        track_running_stats: a.bool("track_running_stats", true)?,
        num_features: a.positive("num_features")?,
    }))
}


impl Op for BatchNorm {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        let ok = match self.d {
            1 => x.rank() == 2 || x.rank() == 3,
            d => x.rank() == d + 2,
        };
        if !ok {
            let want = match self.d {
                1 => "a 2-d (N, C) or 3-d (N, C, L)",
                2 => "a 4-d (N, C, H, W)",
                _ => "a 5-d (N, C, D, H, W)",
            };
            return Err(Error::shape(format!("expects {want} input, got {}-d {x}", x.rank())));
        }
        let c = x.channels();
        check_declared(self.num_features, c, "features (channels)")?;
        Ok(Eval { shape: *x, cost: channel_norm_cost(x, c, self.affine, self.bias, self.track_running_stats)? })
    }

    /// Without running statistics it normalises by the batch's also at inference, and
    /// `native_batch_norm` returns them (float32 mean and inverse std per channel, 2 × C × 4
    /// bytes), dropped on return; with them it returns none.
    fn scratch_bytes(&self, inputs: &[Shape], _out: &Shape, _dtype_bytes: u64) -> Result<u64, Error> {
        if self.track_running_stats {
            return Ok(0);
        }
        crate::num::mul(inputs[0].channels(), 8)
    }

    /// Training batch norm keeps its input and the batch's per-channel mean and inverse
    /// standard deviation (float32: 2 × C × 4 bytes).
    fn saved(&self, inputs: &[Shape], _out: &Shape) -> Result<Saved, Error> {
        Ok(Saved::INPUT.with_bytes(crate::num::mul(inputs[0].channels(), 8)?))
    }

    fn explain(&self, inputs: &[Shape], out: &Eval) -> String {
        let c = inputs[0].channels();
        let p = affine_explain(c, self.affine, self.bias);
        let b = if self.track_running_stats {
            format!("; buffers running_mean {c} + running_var {c} + num_batches_tracked 1 = {}", out.cost.buffers)
        } else {
            String::new()
        };
        format!("{p}{b}")
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn params_and_buffers() {
        let e = ok("batchnorm2d", json!({}), &[&[1, 64, 56, 56]]);
        assert_eq!(e.cost.params().unwrap(), 128);
        assert_eq!(e.cost.buffers, 129);
        assert_eq!(e.cost.buffer_bytes, 64 * 4 * 2 + 8);
        assert_eq!(e.cost.macs, 0);
        assert_eq!(e.cost.other_ops, 64 * 56 * 56);
        let e = ok("batchnorm2d", json!({"affine": false, "track_running_stats": false}), &[&[1, 64, 56, 56]]);
        assert_eq!(e.cost.params().unwrap(), 0);
        assert_eq!(e.cost.buffers, 0);
    }

    #[test]
    fn bias_false_keeps_only_the_weight() {
        // torch 2.15: BatchNorm{1,2,3}d(64, bias=False) has parameters [weight (64,)] and the
        // same buffers running_mean 64 + running_var 64 + num_batches_tracked 1 = 129.
        for (op, dims) in [("batchnorm1d", &[2u64, 64][..]), ("batchnorm2d", &[1, 64, 8, 8]), ("batchnorm3d", &[1, 64, 2, 2, 2])] {
            let e = ok(op, json!({"bias": false}), &[dims]);
            assert_eq!((e.cost.weight_params, e.cost.bias_params), (64, 0), "{op}");
            assert_eq!(e.cost.buffers, 129, "{op}");
        }
        // affine=False, bias=False: no parameters at all (bias has nothing to remove).
        let e = ok("batchnorm2d", json!({"affine": false, "bias": false}), &[&[1, 64, 8, 8]]);
        assert_eq!(e.cost.params().unwrap(), 0);
        // bias=true is the default: weight 64 + bias 64.
        let e = ok("batchnorm2d", json!({"bias": true}), &[&[1, 64, 8, 8]]);
        assert_eq!((e.cost.weight_params, e.cost.bias_params), (64, 64));
        assert!(err("batchnorm2d", json!({"bias": 0}), &[&[1, 64, 8, 8]]).contains("true or false"));
    }

    #[test]
    fn ranks() {
        ok("batchnorm1d", json!({}), &[&[4, 10]]);
        ok("batchnorm1d", json!({}), &[&[4, 10, 7]]);
        let m = err("batchnorm2d", json!({}), &[&[4, 10]]);
        assert!(m.contains("4-d"), "{m}");
    }

    /// torch 2.15, nn.BatchNorm2d(6) on (2, 6, 3, 3) in eval: without running statistics
    /// `native_batch_norm` returns the batch's (2·6·4 = 48 B of float32); with them, nothing.
    #[test]
    fn scratch_as_torch() {
        use super::super::testing::{op, s};
        let x = s(&[2, 6, 3, 3]);
        assert_eq!(op("batchnorm2d", json!({"track_running_stats": false})).scratch_bytes(&[x], &x, 4).unwrap(), 48);
        assert_eq!(op("batchnorm2d", json!({})).scratch_bytes(&[x], &x, 4).unwrap(), 0);
    }
}
