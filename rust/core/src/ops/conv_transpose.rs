//! conv_transpose1d / 2d / 3d — `torch.nn.ConvTransposeNd`.
//!
//! Shape: out = (in − 1)·stride − 2·padding + dilation·(k − 1) + output_padding + 1, and
//! PyTorch's rule that output_padding must be smaller than either stride or dilation.
//! Params: C_in·(C_out/groups)·∏k (+ C_out bias). MACs (torchvision's convention: the input's
//! spatial size, since each input element is scattered through the kernel):
//! N·C_in·(C_out/groups)·∏k·∏in_spatial.

use super::common::{check_declared, expect_rank, layout, parse_groups, resolve_groups, Groups};
use super::{Eval, Op, Parse, Saved};
use crate::attrs::{Attrs, Padding};
use crate::cost::{macs_formula, params_formula, Cost};
use crate::error::Error;
use crate::num::{join_x, mul, prod};
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("conv_transpose1d", |a| parse(a, 1)),
    ("conv_transpose2d", |a| parse(a, 2)),
    ("conv_transpose3d", |a| parse(a, 3)),
];

struct ConvTranspose {
    d: usize,
    out_channels: u64,
    in_channels: Option<u64>,
    kernel: Vec<u64>,
    stride: Vec<u64>,
    padding: Vec<u64>,
    output_padding: Vec<u64>,
    dilation: Vec<u64>,
    groups: Groups,
    bias: bool,
}

pub fn parse(a: &Attrs, d: usize) -> Result<Box<dyn Op>, Error> {
    let padding = match a.padding("padding", d, false)? {
        Padding::Explicit(p) => p,
        _ => unreachable!("words are refused when allow_words is false"),
    };
    a.choice("padding_mode", &["zeros"], "zeros")?;
    Ok(Box::new(ConvTranspose {
        d,
        out_channels: a.require_positive("out_channels")?,
        in_channels: a.positive("in_channels")?,
        kernel: a.ntuple("kernel_size", d, 1)?.ok_or_else(|| Error::missing("kernel_size"))?,
        stride: a.ntuple("stride", d, 1)?.unwrap_or(vec![1; d]),
        padding,
        output_padding: a.ntuple("output_padding", d, 0)?.unwrap_or(vec![0; d]),
        dilation: a.ntuple("dilation", d, 1)?.unwrap_or(vec![1; d]),
        groups: parse_groups(a)?,
        bias: a.bool("bias", true)?,
    }))
}

impl Op for ConvTranspose {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        expect_rank(x, &[self.d + 2], layout(self.d))?;
        let c_in = x.channels();
        check_declared(self.in_channels, c_in, "channels")?;
        let g = resolve_groups(self.groups, c_in, self.out_channels)?;
        let mut out = *x;
        out.dims_mut()[1] = self.out_channels;
        for i in 0..self.d {
            let (s, p, op, dil, k) = (self.stride[i], self.padding[i], self.output_padding[i], self.dilation[i], self.kernel[i]);
            if op >= s && op >= dil {
                return Err(Error::shape(format!(
                    "output_padding={op} must be smaller than either stride={s} or dilation={dil}"
                )));
            }
            let n = x.tail(self.d)[i] as i128;
            let size = (n - 1) * s as i128 - 2 * p as i128 + (dil * (k - 1)) as i128 + op as i128 + 1;
            if size < 1 {
                return Err(Error::shape(format!(
                    "output size {size} along spatial dim {i} is not positive: ({n} − 1)×{s} − 2×{p} + {dil}×({k} − 1) + {op} + 1"
                )));
            }
            out.dims_mut()[2 + i] = u64::try_from(size).map_err(|_| Error::overflow("the output size"))?;
        }
        let per_input = mul(self.out_channels / g, prod(&self.kernel)?)?;
        let weight = mul(c_in, per_input)?;
        let macs = mul(x.elements()?, per_input)?;
        let bias = if self.bias { self.out_channels } else { 0 };
        Ok(Eval { shape: out, cost: Cost { weight_params: weight, bias_params: bias, macs, ..Cost::default() } })
    }

    fn explain(&self, inputs: &[Shape], out: &Eval) -> String {
        let c_in = inputs[0].channels();
        let g = resolve_groups(self.groups, c_in, self.out_channels).unwrap_or(1);
        let mut w = vec![c_in, self.out_channels / g];
        w.extend(&self.kernel);
        let mut per = vec![self.out_channels / g];
        per.extend(&self.kernel);
        format!(
            "{}; {} (transposed: counted per input element, {})",
            params_formula(&w, out.cost.bias_params, out.cost.params().unwrap_or(u64::MAX)),
            macs_formula(inputs[0].batch(), &inputs[0].dims()[1..], &per, out.cost.macs).replace("outputs", "inputs"),
            join_x(&inputs[0].dims()[1..])
        )
    }

    /// A transposed convolution keeps its input (and its weight, a parameter).
    fn saved(&self, _inputs: &[Shape], _out: &Shape) -> Result<Saved, Error> {
        Ok(Saved::INPUT)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn doubles_resolution() {
        // (16 − 1)·2 − 2·1 + (4 − 1) + 0 + 1 = 32.
        let e = ok("conv_transpose2d", json!({"out_channels": 8, "kernel_size": 4, "stride": 2, "padding": 1}), &[&[1, 16, 16, 16]]);
        assert_eq!(e.shape.dims(), &[1, 8, 32, 32]);
        assert_eq!(e.cost.weight_params, 16 * 8 * 16);
        assert_eq!(e.cost.bias_params, 8);
        assert_eq!(e.cost.macs, 16 * 16 * 16 * 8 * 16);
    }

    #[test]
    fn output_padding() {
        // (7 − 1)·2 − 2·1 + 2 + 1 + 1 = 14.
        let e = ok("conv_transpose2d", json!({"out_channels": 1, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1}), &[&[1, 1, 7, 7]]);
        assert_eq!(e.shape.dims(), &[1, 1, 14, 14]);
        let m = err("conv_transpose2d", json!({"out_channels": 1, "kernel_size": 3, "stride": 2, "output_padding": 2}), &[&[1, 1, 7, 7]]);
        assert!(m.contains("output_padding=2"), "{m}");
    }

    #[test]
    fn one_d_with_dilation_and_groups() {
        // (10 − 1)·1 − 0 + 2·(3 − 1) + 0 + 1 = 14; weight 4 × (6/2) × 3.
        let e = ok("conv_transpose1d", json!({"out_channels": 6, "kernel_size": 3, "dilation": 2, "groups": 2, "bias": false}), &[&[1, 4, 10]]);
        assert_eq!(e.shape.dims(), &[1, 6, 14]);
        assert_eq!(e.cost.weight_params, 4 * 3 * 3);
    }

    #[test]
    fn refuses_same() {
        let m = err("conv_transpose2d", json!({"out_channels": 1, "kernel_size": 3, "padding": "same"}), &[&[1, 1, 7, 7]]);
        assert!(m.contains("'same'"), "{m}");
    }
}
