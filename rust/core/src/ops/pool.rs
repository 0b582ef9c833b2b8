//! maxpool1d/2d/3d and avgpool1d/2d/3d — `torch.nn.MaxPoolNd` / `AvgPoolNd`.
//!
//! Shape (PyTorch's `pooling_output_shape`):
//!   out = ⌊(in + 2p − dilation·(k−1) − 1 + (ceil_mode ? stride−1 : 0)) / stride⌋ + 1,
//! and with ceil_mode the last window must start inside the input or the left padding:
//! if (out−1)·stride ≥ in + p then out −= 1. Padding may be at most half the (effective)
//! kernel. `stride` defaults to `kernel_size`. avgpool has no dilation, as in PyTorch.
//! Other ops: the window's elements for each output element.

use super::conv::layout;
use super::{expect_rank, Eval, Op};
use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::num::{join_x, mul, prod};
use crate::shape::Shape;

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

pub fn parse(a: &Attrs, kind: Kind, d: usize) -> Result<Box<dyn Op>, String> {
    let kernel = a.ntuple("kernel_size", d, 1)?.ok_or("missing required attribute 'kernel_size'")?;
    let dilation = match kind {
        Kind::Max => {
            if a.bool("return_indices", false)? {
                return Err("return_indices=true is not supported (a second output)".into());
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
    fn eval(&self, inputs: &[Shape]) -> Result<Eval, String> {
        let x = &inputs[0];
        expect_rank(x, &[self.d + 2], layout(self.d))?;
        for i in 0..self.d {
            let (k, p, dil) = (self.kernel[i], self.padding[i], self.dilation[i]);
            match self.kind {
                Kind::Max if p > (dil * (k - 1) + 1) / 2 => {
                    return Err(format!(
                        "padding={p} should be at most half of the effective kernel size {} (kernel {k}, dilation {dil})",
                        dil * (k - 1) + 1
                    ))
                }
                Kind::Avg if p > k / 2 => {
                    return Err(format!("padding={p} should be at most half of the kernel size {k}"))
                }
                _ => {}
            }
        }
        let mut out = *x;
        let mut sizes = [0i128; 3];
        for i in 0..self.d {
            sizes[i] = pooled_size(x.tail(self.d)[i], self.kernel[i], self.padding[i], self.stride[i], self.dilation[i], self.ceil_mode);
        }
        let sizes = &sizes[..self.d];
        if sizes.iter().any(|&v| v < 1) {
            let shown: Vec<String> = sizes.iter().map(|v| v.to_string()).collect();
            return Err(format!(
                "kernel {} with stride {} and padding {} on input {} gives output size {}: output size is too small",
                join_x(&self.kernel),
                join_x(&self.stride),
                join_x(&self.padding),
                join_x(x.tail(self.d)),
                shown.join("×")
            ));
        }
        for (i, &v) in sizes.iter().enumerate() {
            out.dims_mut()[2 + i] = v as u64;
        }
        let other_ops = mul(out.numel()?, prod(&self.kernel)?)?;
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
        assert!(m.contains("at most half"), "{m}");
        let m = err("avgpool2d", json!({"kernel_size": 3, "dilation": 2}), &[&[1, 1, 10, 10]]);
        assert!(m.contains("unknown attribute 'dilation'"), "{m}");
    }

    #[test]
    fn too_small() {
        let m = err("maxpool2d", json!({"kernel_size": 2}), &[&[1, 1, 1, 1]]);
        assert!(m.contains("too small"), "{m}");
    }
}
