//! maxpool1d/2d/3d and avgpool1d/2d/3d — `torch.nn.MaxPoolNd` / `AvgPoolNd`.
//!
//! Shape (PyTorch's `pooling_output_shape`):
//!   out = ⌊(in + 2p − dilation·(k−1) − 1 + (ceil_mode ? stride−1 : 0)) / stride⌋ + 1,
//! and with ceil_mode the last window must start inside the input or the left padding:
//! if (out−1)·stride ≥ in + p then out −= 1. `stride` defaults to `kernel_size`. avgpool has
//! no dilation, as in PyTorch.
//!
//! Checks, as torch 2.15 (CPU) makes them:
//! * padding ≤ ⌊kernel_size / 2⌋ per dim, for max and avg pools alike — the plain kernel, not
//!   the dilated one (ATen's pool{1,2,3}d shape checks: "pad should be smaller than or equal to
//!   half of kernel size"; the later "half of effective kernel size" check can never be the
//!   stricter one).
//! * avgpool3d only: every *unpadded* input dim ≥ its kernel (ATen's avg_pool3d calls
//!   pool3d_shape_check with check_input_size: "input image (T: 5 H: 6 W: 3) smaller than
//!   kernel size (kT: 1 kH: 4 kW: 4)"). avgpool1d/2d and maxpool1d/2d/3d have no such check:
//!   there a padded input that fits the kernel is fine (e.g. AvgPool2d(4, 1, 1) on 3×3 → 2×2).
//! * every output size ≥ 1.
//!
//! Other ops: the window's elements for each output element.

use super::common::expect_rank;
use super::common::layout;
use super::{Eval, Op, Parse, Saved};
use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::Error;
use crate::num::{join_x, mul, prod};
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("maxpool1d", |a| parse(a, Kind::Max, 1)),
    ("maxpool2d", |a| parse(a, Kind::Max, 2)),
    ("maxpool3d", |a| parse(a, Kind::Max, 3)),
    ("avgpool1d", |a| parse(a, Kind::Avg, 1)),
    ("avgpool2d", |a| parse(a, Kind::Avg, 2)),
    ("avgpool3d", |a| parse(a, Kind::Avg, 3)),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Max,
    Avg,
}

struct Pool {
    kind: Kind,
    d: usize,
    kernel: Vec<u64>,
    stride: Vec<u64>,
    padding: Vec<u64>,
    dilation: Vec<u64>,
    ceil_mode: bool,
}

pub fn parse(a: &Attrs, kind: Kind, d: usize) -> Result<Box<dyn Op>, Error> {
    let kernel = a.ntuple("kernel_size", d, 1)?.ok_or_else(|| Error::missing("kernel_size"))?;
    let dilation = match kind {
        Kind::Max => {
            if a.bool("return_indices", false)? {
                return Err(Error::bad_value("return_indices", true, "is not supported (a second output)"));
            }
            a.ntuple("dilation", d, 1)?.unwrap_or(vec![1; d])
        }
        Kind::Avg => {
            a.bool("count_include_pad", true)?;
            a.positive("divisor_override")?;
            vec![1; d]
        }
    };
    Ok(Box::new(Pool {
        kind,
        d,
        stride: a.ntuple("stride", d, 1)?.unwrap_or_else(|| kernel.clone()),
        padding: a.ntuple("padding", d, 0)?.unwrap_or(vec![0; d]),
        kernel,
        dilation,
        ceil_mode: a.bool("ceil_mode", false)?,
    }))
}

/// PyTorch's pooling_output_shape for one dim (signed, so a collapse shows as < 1).
pub(crate) fn pooled_size(input: u64, k: u64, p: u64, s: u64, dil: u64, ceil_mode: bool) -> i128 {
    let (input, k, p, s, dil) = (input as i128, k as i128, p as i128, s as i128, dil as i128);
    let num = input + 2 * p - dil * (k - 1) - 1 + if ceil_mode { s - 1 } else { 0 };
    let mut out = num.div_euclid(s) + 1;
    if ceil_mode && (out - 1) * s >= input + p {
        out -= 1;
    }
    out
}

impl Op for Pool {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        expect_rank(x, &[self.d + 2], layout(self.d))?;
        for i in 0..self.d {
            let (k, p, dil) = (self.kernel[i], self.padding[i], self.dilation[i]);
            // PyTorch compares with the kernel itself, also when the pool is dilated.
            if p > k / 2 {
                return Err(Error::shape(match self.kind {
                    Kind::Avg => format!("padding={p} should be at most half of the kernel size {k}"),
                    // undilated, the effective kernel is the kernel
                    Kind::Max if dil == 1 => format!("padding={p} should be at most half of the effective kernel size {k}"),
                    Kind::Max => format!(
                        "padding={p} should be at most half of the kernel size {k} (PyTorch checks the kernel, not the dilated kernel {})",
                        dil * (k - 1) + 1
                    ),
                }));
            }
        }
        let mut out = *x;
        let mut sizes = [0i128; 3];
        for (i, size) in sizes.iter_mut().enumerate().take(self.d) {
            *size = pooled_size(x.tail(self.d)[i], self.kernel[i], self.padding[i], self.stride[i], self.dilation[i], self.ceil_mode);
        }
        let sizes = &sizes[..self.d];
        if sizes.iter().any(|&v| v < 1) {
            let shown: Vec<String> = sizes.iter().map(|v| v.to_string()).collect();
            return Err(Error::shape(format!(
                "kernel {} with stride {} and padding {} on input {} gives output size {}: output size is too small",
                join_x(&self.kernel),
                join_x(&self.stride),
                join_x(&self.padding),
                join_x(x.tail(self.d)),
                shown.join("×")
            )));
        }
        // (torch checks this before the output size; both are errors, only the message differs)
        let spatial = x.tail(self.d);
        if self.kind == Kind::Avg && self.d == 3 && (0..3).any(|i| spatial[i] < self.kernel[i]) {
            return Err(Error::shape(format!(
                "input {} is too small for the kernel {} (avgpool3d needs every unpadded input dim to be at least the kernel)",
                join_x(spatial),
                join_x(&self.kernel)
            )));
        }
        for (i, &v) in sizes.iter().enumerate() {
            out.dims_mut()[2 + i] = v as u64;
        }
        let other_ops = mul(out.elements()?, prod(&self.kernel)?)?;
        Ok(Eval { shape: out, cost: Cost { other_ops, ..Cost::default() } })
    }

    fn explain(&self, inputs: &[Shape], out: &Eval) -> String {
        let kind = if self.kind == Kind::Max { "max" } else { "average" };
        format!(
            "no parameters; {kind} over {} windows: {} → {} ({} window reads)",
            join_x(&self.kernel),
            join_x(inputs[0].tail(self.d)),
            join_x(out.shape.tail(self.d)),
            crate::num::commas(out.cost.other_ops)
        )
    }

    /// Both keep their input; max pooling also the int64 index of each output's maximum
    /// (`max_pool2d_with_indices`, 8 bytes per output element whatever the dtype).
    /// Max pooling computes int64 indices also at inference (`max_pool2d_with_indices`) and
    /// drops them when it returns.
    fn scratch_bytes(&self, _inputs: &[Shape], out: &Shape, _dtype_bytes: u64) -> Result<u64, Error> {
        match self.kind {
            Kind::Avg => Ok(0),
            Kind::Max => mul(out.elements()?, 8),
        }
    }

    fn saved(&self, _inputs: &[Shape], out: &Shape) -> Result<Saved, Error> {
        Ok(match self.kind {
            Kind::Avg => Saved::INPUT,
            Kind::Max => Saved::INPUT.with_bytes(mul(out.elements()?, 8)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use super::pooled_size;
    use serde_json::json;

    #[test]
    fn vgg_pool_halves() {
        let e = ok("maxpool2d", json!({"kernel_size": 2, "stride": 2}), &[&[1, 64, 224, 224]]);
        assert_eq!(e.shape.dims(), &[1, 64, 112, 112]);
        assert_eq!(e.cost.other_ops, 64 * 112 * 112 * 4);
    }

    #[test]
    fn stride_defaults_to_kernel() {
        let e = ok("avgpool2d", json!({"kernel_size": 3}), &[&[1, 1, 10, 10]]);
        assert_eq!(e.shape.dims(), &[1, 1, 3, 3]);
    }

    #[test]
    fn ceil_mode() {
        // GoogLeNet: 112 -> ceil((112 − 3)/2) + 1 = 56 (floor would give 55).
        assert_eq!(pooled_size(112, 3, 0, 2, 1, true), 56);
        assert_eq!(pooled_size(112, 3, 0, 2, 1, false), 55);
        // The last window must start inside the input or the left padding:
        // in=5, k=2, s=2, p=1: ceil((5 + 2 − 2 + 1)/2)+1 = 4, but (4−1)·2 = 6 ≥ 5 + 1, so 3.
        assert_eq!(pooled_size(5, 2, 1, 2, 1, true), 3);
        // in=6, k=2, s=2, p=1: ⌊(6+2−2+1)/2⌋+1 = 4 and (4−1)·2 = 6 < 7: stays 4.
        assert_eq!(pooled_size(6, 2, 1, 2, 1, true), 4);
        let e = ok("maxpool2d", json!({"kernel_size": 3, "stride": 2, "ceil_mode": true}), &[&[1, 64, 112, 112]]);
        assert_eq!(e.shape.dims(), &[1, 64, 56, 56]);
    }

    #[test]
    fn dilation_and_padding() {
        // effective kernel 5: (10 + 2 − 5)/1 + 1 = 8.
        let e = ok("maxpool1d", json!({"kernel_size": 3, "stride": 1, "padding": 1, "dilation": 2}), &[&[1, 1, 10]]);
        assert_eq!(e.shape.dims(), &[1, 1, 8]);
        let m = err("maxpool2d", json!({"kernel_size": 2, "padding": 2}), &[&[1, 1, 10, 10]]);
        assert_eq!(m, "padding=2 should be at most half of the effective kernel size 2");
        let m = err("avgpool2d", json!({"kernel_size": 3, "dilation": 2}), &[&[1, 1, 10, 10]]);
        assert!(m.contains("unknown attribute 'dilation'"), "{m}");
    }

    #[test]
    fn padding_is_checked_against_the_plain_kernel() {
        // torch 2.15: MaxPool2d(3, stride=1, padding=2, dilation=2) on 1×1×10×10 raises "pad
        // should be smaller than or equal to half of kernel size" — 2 > ⌊3/2⌋ = 1, although
        // the dilated kernel 2·(3−1)+1 = 5 would allow 2. Same for 1d and 3d.
        for (op, dims) in [("maxpool1d", &[1u64, 1, 10][..]), ("maxpool2d", &[1, 1, 10, 10]), ("maxpool3d", &[1, 1, 10, 10, 10])] {
            let m = err(op, json!({"kernel_size": 3, "stride": 1, "padding": 2, "dilation": 2}), &[dims]);
            assert_eq!(m, "padding=2 should be at most half of the kernel size 3 (PyTorch checks the kernel, not the dilated kernel 5)", "{op}");
        }
        // padding 1 = ⌊3/2⌋ is fine: (10 + 2 − 5)/1 + 1 = 8.
        let e = ok("maxpool2d", json!({"kernel_size": 3, "stride": 1, "padding": 1, "dilation": 2}), &[&[1, 1, 10, 10]]);
        assert_eq!(e.shape.dims(), &[1, 1, 8, 8]);
        // even kernels: k=2 allows p=1 ((10 + 2 − 2)/1 + 1 = 11), k=4 allows p=2 (11).
        assert_eq!(ok("maxpool2d", json!({"kernel_size": 2, "stride": 1, "padding": 1}), &[&[1, 1, 10, 10]]).shape.dims(), &[1, 1, 11, 11]);
        assert_eq!(ok("avgpool1d", json!({"kernel_size": 4, "stride": 1, "padding": 2}), &[&[1, 1, 10]]).shape.dims(), &[1, 1, 11]);
        // avg: AvgPool1d/3d(3, 1, 2) raise too.
        let m = err("avgpool3d", json!({"kernel_size": 3, "stride": 1, "padding": 2}), &[&[1, 1, 10, 10, 10]]);
        assert_eq!(m, "padding=2 should be at most half of the kernel size 3");
    }

    #[test]
    fn avgpool3d_needs_unpadded_input_at_least_kernel() {
        // torch 2.15: AvgPool3d([1,4,4], [1,2,2], [0,0,1]) on (1,2,5,6,3) raises "input image
        // (T: 5 H: 6 W: 3) smaller than kernel size (kT: 1 kH: 4 kW: 4)", although the padded
        // W = 3 + 2 = 5 ≥ 4 would give ⌊(5 − 4)/2⌋ + 1 = 1.
        let m = err("avgpool3d", json!({"kernel_size": [1, 4, 4], "stride": [1, 2, 2], "padding": [0, 0, 1]}), &[&[1, 2, 5, 6, 3]]);
        assert_eq!(m, "input 5×6×3 is too small for the kernel 1×4×4 (avgpool3d needs every unpadded input dim to be at least the kernel)");
        // ... and T < kT as well (k=2, p=1 on 1×8×8).
        assert!(err("avgpool3d", json!({"kernel_size": 2, "stride": 1, "padding": 1}), &[&[1, 2, 1, 8, 8]]).contains("too small for the kernel"));
        // When the output would be empty anyway, that is what is reported: (2 − 3)/1 + 1 = 0.
        let m = err("avgpool3d", json!({"kernel_size": [1, 3, 1]}), &[&[1, 1, 4, 2, 4]]);
        assert!(m.contains("output size is too small"), "{m}");
        // Input equal to the kernel is fine: (4 − 4)/1 + 1 = 1.
        assert_eq!(ok("avgpool3d", json!({"kernel_size": 4}), &[&[1, 2, 4, 4, 4]]).shape.dims(), &[1, 2, 1, 1, 1]);
        // No such check for avgpool1d/2d or any maxpool: torch gives, for k=4, p=1, s=1 on 3,
        // (3 + 2 − 4)/1 + 1 = 2.
        assert_eq!(ok("avgpool1d", json!({"kernel_size": 4, "stride": 1, "padding": 1}), &[&[1, 2, 3]]).shape.dims(), &[1, 2, 2]);
        assert_eq!(ok("avgpool2d", json!({"kernel_size": 4, "stride": 1, "padding": 1}), &[&[1, 2, 3, 3]]).shape.dims(), &[1, 2, 2, 2]);
        assert_eq!(ok("maxpool3d", json!({"kernel_size": 4, "stride": 1, "padding": 1}), &[&[1, 2, 3, 3, 3]]).shape.dims(), &[1, 2, 2, 2, 2]);
        // MaxPool3d(2, 2, 1) on 1×8×8: (1 + 2 − 2)/2 + 1 = 1, 5, 5.
        assert_eq!(ok("maxpool3d", json!({"kernel_size": 2, "stride": 2, "padding": 1}), &[&[1, 2, 1, 8, 8]]).shape.dims(), &[1, 2, 1, 5, 5]);
    }

    #[test]
    fn too_small() {
        let m = err("maxpool2d", json!({"kernel_size": 2}), &[&[1, 1, 1, 1]]);
        assert!(m.contains("too small"), "{m}");
    }
}
