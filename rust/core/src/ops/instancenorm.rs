//! instancenorm1d / 2d / 3d (and rank-agnostic `instancenorm`) — `torch.nn.InstanceNormNd`.
//!
//! Unlike BatchNorm, affine and track_running_stats default to false, as in PyTorch.
//! `num_features`, when given, must equal the input's channels (torch raises "expected input's
//! size at dim=1 to match num_features (8), but got: 16" with affine=True, and fails on the
//! running stats with track_running_stats=True; with neither it only warns that num_features
//! is unused — archsweep treats a declared count like BatchNorm's, as an assertion).
//! `bias=false` (keyword-only in torch 2.15) drops the bias: affine params are weight C only.

use super::common::{affine_explain, channel_norm_cost, check_declared, expect_rank, layout};
use super::{Eval, Op, Parse, Saved};
use crate::attrs::Attrs;
use crate::error::Error;
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("instancenorm1d", |a| parse(a, Some(1))),
    ("instancenorm2d", |a| parse(a, Some(2))),
    ("instancenorm3d", |a| parse(a, Some(3))),
    ("instancenorm", |a| parse(a, None)),
];

struct InstanceNorm {
    d: Option<usize>,
    num_features: Option<u64>,
    affine: bool,
    bias: bool,
    track_running_stats: bool,
}

pub fn parse(a: &Attrs, d: Option<usize>) -> Result<Box<dyn Op>, Error> {
    a.float("eps")?;
    a.float("momentum")?;
    Ok(Box::new(InstanceNorm {
        d,
        num_features: a.positive("num_features")?,
        affine: a.bool("affine", false)?,
        bias: a.bool("bias", true)?,
        track_running_stats: a.bool("track_running_stats", false)?,
    }))
}

impl Op for InstanceNorm {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        match self.d {
            Some(d) => expect_rank(x, &[d + 2], layout(d))?,
            None => expect_rank(x, &[3, 4, 5], "(N, C, *spatial)")?,
        }
        let c = x.channels();
        check_declared(self.num_features, c, "features (channels)")?;
        let cost = channel_norm_cost(x, c, self.affine, self.bias, self.track_running_stats)?;
        Ok(Eval { shape: *x, cost })
    }

    /// It runs as a batch norm of (1, N·C, *), dropping on return: that batch norm's float32
    /// statistics per sample and channel (two; it uses the input's also at inference), or with
    /// tracked running statistics their per-sample float32 copies (two, the statistics then
    /// being empty); when affine, the per-sample copies of the weight and of the bias (if any),
    /// in the model's dtype (N·C each). Measured with torch's dispatch mode
    /// (tests/test_torch_crosscheck.py's random graphs).
    fn scratch_bytes(&self, inputs: &[Shape], _out: &Shape, dtype_bytes: u64) -> Result<u64, Error> {
        let nc = crate::num::mul(inputs[0].batch(), inputs[0].channels())?;
        let affine = if self.affine { 1 + u64::from(self.bias) } else { 0 };
        crate::num::add(crate::num::mul(nc, 8)?, crate::num::mul(crate::num::mul(nc, dtype_bytes)?, affine)?)
    }

    /// Instance norm runs as a batch norm of the input seen as (1, N·C, *): it keeps the input,
    /// that batch norm's mean and inverse standard deviation per (sample, channel), the
    /// per-sample copy of the weight when affine and of the running statistics when tracked
    /// (float32, N × C × 4 bytes each).
    fn saved(&self, inputs: &[Shape], _out: &Shape) -> Result<Saved, Error> {
        let x = &inputs[0];
        let copies = 2 + u64::from(self.affine) + 2 * u64::from(self.track_running_stats);
        Ok(Saved::INPUT.with_bytes(crate::num::mul(crate::num::mul(x.batch(), x.channels())?, 4 * copies)?))
    }

    fn explain(&self, inputs: &[Shape], out: &Eval) -> String {
        let p = affine_explain(inputs[0].channels(), self.affine, self.bias);
        if self.track_running_stats {
            format!("{p}; buffers running_mean + running_var + num_batches_tracked = {}", out.cost.buffers)
        } else {
            p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn defaults_have_no_params() {
        let e = ok("instancenorm2d", json!({}), &[&[1, 16, 8, 8]]);
        assert_eq!(e.cost.params().unwrap(), 0);
        assert_eq!(e.cost.buffers, 0);
        let e = ok("instancenorm2d", json!({"affine": true, "track_running_stats": true}), &[&[1, 16, 8, 8]]);
        assert_eq!(e.cost.params().unwrap(), 32);
        assert_eq!(e.cost.buffers, 33);
    }

    #[test]
    fn num_features_must_match_channels() {
        // torch 2.15: InstanceNorm2d(8, affine=True) on (1, 16, 4, 4) raises "expected input's
        // size at dim=1 to match num_features (8), but got: 16."
        for (op, dims) in [("instancenorm1d", &[1u64, 16, 4][..]), ("instancenorm2d", &[1, 16, 4, 4]), ("instancenorm3d", &[1, 16, 2, 2, 2]), ("instancenorm", &[1, 16, 4, 4])] {
            let m = err(op, json!({"num_features": 8, "affine": true}), &[dims]);
            assert_eq!(m, "expects 8 input features (channels), got 16", "{op}");
        }
        let m = err("instancenorm2d", json!({"num_features": 8}), &[&[1, 16, 4, 4]]);
        assert_eq!(m, "expects 8 input features (channels), got 16");
        let e = ok("instancenorm2d", json!({"num_features": 16, "affine": true}), &[&[1, 16, 4, 4]]);
        assert_eq!(e.cost.params().unwrap(), 32);
    }

    #[test]
    fn bias_false_keeps_only_the_weight() {
        // torch 2.15: InstanceNorm2d(8, affine=True, bias=False) has parameters [weight (8,)];
        // with track_running_stats the buffers stay running_mean 8 + running_var 8 + 1 = 17.
        let e = ok("instancenorm2d", json!({"affine": true, "bias": false, "track_running_stats": true}), &[&[1, 8, 4, 4]]);
        assert_eq!((e.cost.weight_params, e.cost.bias_params, e.cost.buffers), (8, 0, 17));
        // affine=False (the default): nothing to drop.
        assert_eq!(ok("instancenorm1d", json!({"bias": false}), &[&[1, 8, 4]]).cost.params().unwrap(), 0);
    }

    /// torch 2.15's dispatch-mode live storages inside nn.InstanceNorm2d(7) on (2, 7, 5, 7), fp32,
    /// eval: 112 B (statistics or running-stat copies, 2·14·4) whether tracked or not; affine
    /// 224 B (+ weight and bias copies, 2·14·4); affine without bias 168 B.
    #[test]
    fn scratch_as_torch() {
        use super::super::testing::{op, s};
        let x = s(&[2, 7, 5, 7]);
        let scratch = |attrs| op("instancenorm2d", attrs).scratch_bytes(&[x], &x, 4).unwrap();
        assert_eq!(scratch(json!({})), 112);
        assert_eq!(scratch(json!({"track_running_stats": true})), 112);
        assert_eq!(scratch(json!({"affine": true})), 224);
        assert_eq!(scratch(json!({"affine": true, "track_running_stats": true})), 224);
        assert_eq!(scratch(json!({"affine": true, "bias": false})), 168);
    }
}
