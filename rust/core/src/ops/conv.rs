//! conv1d / conv2d / conv3d — `torch.nn.ConvNd`.
//!
//! Shape: out = ⌊(in + pad_l + pad_r − dilation·(k−1) − 1) / stride⌋ + 1 per spatial dim.
//! `padding='same'` pads dilation·(k−1) in total, the extra element on the right for even
//! kernels (as PyTorch does), and is refused for strided convolutions, as in PyTorch.
//! Params: C_out·(C_in/groups)·∏k (+ C_out bias). MACs: N·C_out·(C_in/groups)·∏k·∏out.
//!
//! `padding_mode` other than zeros pads with `F.pad` before the convolution, which checks each
//! side's padding against the (unpadded) input size per dim, as torch 2.15 does:
//! * reflect: padding < input ("Padding size should be less than the corresponding input
//!   dimension"); e.g. padding 3 on 4 is fine, 4 on 4 is not;
//! * circular: padding ≤ input ("Padding value causes wrapping around more than once"); 4 on
//!   4 is fine, 5 on 4 is not;
//! * replicate: no limit (torch 2.15 pads 9 on an input of 4, or 2 on an input of 1).
//!
//! With 'same' the two sides differ for even kernels (left ⌊t/2⌋, right t − ⌊t/2⌋) and both
//! are checked.

use super::common::{check_declared, expect_rank, layout, parse_groups, resolve_groups, Groups};
use super::{Eval, Op, Parse, Saved};
use crate::attrs::{Attrs, Padding};
use crate::cost::{macs_formula, params_formula, Cost};
use crate::error::Error;
use crate::num::{join_x, mul, prod};
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("conv1d", |a| parse(a, 1)),
    ("conv2d", |a| parse(a, 2)),
    ("conv3d", |a| parse(a, 3)),
];


#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PaddingMode {
    Zeros,
    Reflect,
    Replicate,
    Circular,
}

struct Conv {
    d: usize,
    padding_mode: PaddingMode,
    out_channels: u64,
    in_channels: Option<u64>,
    kernel: Vec<u64>,
    stride: Vec<u64>,
    padding: Padding,
    dilation: Vec<u64>,
    groups: Groups,
    bias: bool,
}

pub fn parse(a: &Attrs, d: usize) -> Result<Box<dyn Op>, Error> {
    let padding = a.padding("padding", d, true)?;
    let padding_mode = match a.choice("padding_mode", &["zeros", "reflect", "replicate", "circular"], "zeros")? {
        "reflect" => PaddingMode::Reflect,
        "replicate" => PaddingMode::Replicate,
        "circular" => PaddingMode::Circular,
        _ => PaddingMode::Zeros,
    };
    Ok(Box::new(Conv {
        d,
        padding_mode,
        out_channels: a.require_positive("out_channels")?,
        in_channels: a.positive("in_channels")?,
        kernel: a.ntuple("kernel_size", d, 1)?.ok_or_else(|| Error::missing("kernel_size"))?,
        stride: a.ntuple("stride", d, 1)?.unwrap_or(vec![1; d]),
        padding,
        dilation: a.ntuple("dilation", d, 1)?.unwrap_or(vec![1; d]),
        groups: parse_groups(a)?,
        bias: a.bool("bias", true)?,
    }))
}

impl Conv {
    /// (left, right) padding per spatial dim (no allocation: this runs per sweep variant).
    fn pads(&self) -> Result<[(u64, u64); 3], Error> {
        let mut pads = [(0u64, 0u64); 3];
        match &self.padding {
            Padding::Valid => {}
            Padding::Explicit(p) => {
                for i in 0..self.d {
                    pads[i] = (p[i], p[i]);
                }
            }
            Padding::Same => {
                if self.stride.iter().any(|&s| s != 1) {
                    return Err(Error::shape(format!(
                        "padding='same' is not supported for strided convolutions (stride={})",
                        join_x(&self.stride)
                    )));
                }
                for (i, pad) in pads.iter_mut().enumerate().take(self.d) {
                    // PyTorch puts the odd element of an even kernel's padding on the right.
                    let total = self.dilation[i] * (self.kernel[i] - 1);
                    *pad = (total / 2, total - total / 2);
                }
            }
        }
        Ok(pads)
    }

    /// Elements of the padded copy of `x` eager PyTorch makes before convolving (0: none): with a
    /// `padding_mode` other than zeros, `F.pad` by the whole padding (a copy even with none);
    /// with zeros and
    /// `padding='same'` whose two sides differ (an even dilated kernel extent), `constant_pad_nd`
    /// by the extra element on the right of each such dim (the rest is the kernel's own padding).
    fn padded_copy(&self, x: &Shape) -> Result<u64, Error> {
        let pads = self.pads()?;
        let spatial = x.tail(self.d);
        let mut n = mul(x.batch(), x.channels())?;
        let (mut any, zeros) = (false, self.padding_mode == PaddingMode::Zeros);
        for i in 0..self.d {
            let extra = if zeros { pads[i].1 - pads[i].0 } else { pads[i].0 + pads[i].1 };
            any |= extra > 0;
            n = mul(n, spatial[i] + extra)?;
        }
        Ok(if any || !zeros { n } else { 0 })
    }

    /// F.pad's limits for the non-zero padding modes, per side and dim.
    fn check_padding_mode(&self, spatial: &[u64], pads: &[(u64, u64); 3]) -> Result<(), Error> {
        for i in 0..self.d {
            let n = spatial[i];
            let p = pads[i].0.max(pads[i].1);
            // messages are formatted only on failure: this runs per sweep variant
            let shown = || if pads[i].0 == pads[i].1 { p.to_string() } else { format!("{}+{}", pads[i].0, pads[i].1) };
            let which = || if self.d > 1 { format!(" of spatial dim {i}") } else { String::new() };
            match self.padding_mode {
                PaddingMode::Reflect if p >= n => {
                    return Err(Error::shape(format!(
                        "padding={} with padding_mode='reflect' must be less than the input size {n}{}",
                        shown(),
                        which()
                    )))
                }
                PaddingMode::Circular if p > n => {
                    return Err(Error::shape(format!(
                        "padding={} with padding_mode='circular' must be at most the input size {n}{} (it would wrap around more than once)",
                        shown(),
                        which()
                    )))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl Op for Conv {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        expect_rank(x, &[self.d + 2], layout(self.d))?;
        let c_in = x.channels();
        check_declared(self.in_channels, c_in, "channels")?;
        let g = resolve_groups(self.groups, c_in, self.out_channels)?;
        let pads = self.pads()?;
        let mut out = *x;
        out.dims_mut()[1] = self.out_channels;
        let spatial = x.tail(self.d);
        self.check_padding_mode(spatial, &pads)?;
        let (mut padded, mut effective) = ([0u64; 3], [0u64; 3]);
        for i in 0..self.d {
            padded[i] = spatial[i] + pads[i].0 + pads[i].1;
            effective[i] = self.dilation[i] * (self.kernel[i] - 1) + 1;
        }
        if (0..self.d).any(|i| padded[i] < effective[i]) {
            let dil = if self.dilation.iter().any(|&v| v != 1) {
                format!(" (dilation {}, effective {})", join_x(&self.dilation), join_x(&effective[..self.d]))
            } else {
                String::new()
            };
            return Err(Error::shape(format!(
                "kernel {}{dil} is larger than the padded input {}",
                join_x(&self.kernel),
                join_x(&padded[..self.d])
            )));
        }
        for i in 0..self.d {
            out.dims_mut()[2 + i] = (padded[i] - effective[i]) / self.stride[i] + 1;
        }
        let per_output = mul(c_in / g, prod(&self.kernel)?)?;
        let weight = mul(self.out_channels, per_output)?;
        let macs = mul(out.elements()?, per_output)?;
        let bias = if self.bias { self.out_channels } else { 0 };
        Ok(Eval { shape: out, cost: Cost { weight_params: weight, bias_params: bias, macs, ..Cost::default() } })
    }

    fn explain(&self, inputs: &[Shape], out: &Eval) -> String {
        let c_in = inputs[0].channels();
        let c_in_g = c_in / resolve_groups(self.groups, c_in, self.out_channels).unwrap_or(1);
        let mut w = vec![c_in_g];
        w.extend(&self.kernel);
        w.push(self.out_channels);
        let total = out.cost.params().unwrap_or(u64::MAX);
        let mut per = vec![c_in_g];
        per.extend(&self.kernel);
        format!(
            "{}; {}",
            params_formula(&w, out.cost.bias_params, total),
            macs_formula(out.shape.batch(), &out.shape.dims()[1..], &per, out.cost.macs)
        )
    }

    /// The padded copy of the input, when there is one: the convolution reads it and frees it
    /// before returning.
    fn scratch_bytes(&self, inputs: &[Shape], _out: &Shape, dtype_bytes: u64) -> Result<u64, Error> {
        mul(self.padded_copy(&inputs[0])?, dtype_bytes)
    }

    /// A convolution keeps what it convolves (and its weight, a parameter): its input, or the
    /// padded copy when it makes one; `reflect` and `replicate` padding also keep their input
    /// when it requires a gradient (their backward reads it), `circular` and constant padding
    /// do not. Measured with torch's
    /// saved-tensors hooks (tests/test_torch_crosscheck.py's random graphs).
    fn saved(&self, inputs: &[Shape], _out: &Shape) -> Result<Saved, Error> {
        let copy = self.padded_copy(&inputs[0])?;
        if copy == 0 {
            return Ok(Saved::INPUT);
        }
        let input = u32::from(matches!(self.padding_mode, PaddingMode::Reflect | PaddingMode::Replicate));
        Ok(Saved { inputs: input, for_input_grad: true, extra_elements: copy, ..Saved::NONE })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn vgg_conv1_1() {
        // 3×3×3×64 + 64 = 1,792 params; 64·224·224 outputs × 27 MACs each.
        let e = ok("conv2d", json!({"out_channels": 64, "kernel_size": 3, "padding": 1}), &[&[1, 3, 224, 224]]);
        assert_eq!(e.shape.dims(), &[1, 64, 224, 224]);
        assert_eq!(e.cost.params().unwrap(), 1792);
        assert_eq!(e.cost.macs, 64 * 224 * 224 * 27);
    }

    #[test]
    fn stride_and_floor() {
        // ResNet stem: (224 + 6 - 7) / 2 = 111.5 -> 111, + 1 = 112.
        let e = ok("conv2d", json!({"out_channels": 64, "kernel_size": 7, "stride": 2, "padding": 3, "bias": false}), &[&[1, 3, 224, 224]]);
        assert_eq!(e.shape.dims(), &[1, 64, 112, 112]);
        assert_eq!(e.cost.params().unwrap(), 64 * 3 * 49);
        assert_eq!(e.cost.bias_params, 0);
        assert_eq!(e.cost.macs, 64 * 112 * 112 * 3 * 49); // 118,013,952: torchvision's stem
    }

    #[test]
    fn dilation() {
        // effective kernel 1 + 2·(3−1) = 5: 32 − 5 + 1 = 28.
        let e = ok("conv2d", json!({"out_channels": 8, "kernel_size": 3, "dilation": 2}), &[&[1, 4, 32, 32]]);
        assert_eq!(e.shape.dims(), &[1, 8, 28, 28]);
    }

    #[test]
    fn same_padding_with_even_kernel() {
        // k=4: total pad 3 = 1 left + 2 right, output size equals input size.
        let e = ok("conv1d", json!({"out_channels": 2, "kernel_size": 4, "padding": "same"}), &[&[1, 1, 10]]);
        assert_eq!(e.shape.dims(), &[1, 2, 10]);
        let e = ok("conv2d", json!({"out_channels": 2, "kernel_size": [2, 5], "dilation": [3, 1], "padding": "same"}), &[&[1, 1, 9, 7]]);
        assert_eq!(e.shape.dims(), &[1, 2, 9, 7]);
    }

    #[test]
    fn same_padding_refuses_stride() {
        let m = err("conv2d", json!({"out_channels": 2, "kernel_size": 3, "stride": 2, "padding": "same"}), &[&[1, 1, 9, 9]]);
        assert!(m.contains("strided"), "{m}");
    }

    #[test]
    fn valid_padding() {
        let e = ok("conv2d", json!({"out_channels": 2, "kernel_size": 3, "padding": "valid"}), &[&[1, 1, 9, 9]]);
        assert_eq!(e.shape.dims(), &[1, 2, 7, 7]);
    }

    #[test]
    fn grouped_and_depthwise() {
        // groups=4: weight 64 × (32/4) × 3×3 = 4,608.
        let e = ok("conv2d", json!({"out_channels": 64, "kernel_size": 3, "groups": 4, "bias": false}), &[&[1, 32, 10, 10]]);
        assert_eq!(e.cost.weight_params, 4608);
        assert_eq!(e.cost.macs, 64 * 8 * 8 * 8 * 9);
        // depthwise: 32 × 1 × 3×3 + 32.
        let e = ok("conv2d", json!({"out_channels": 32, "kernel_size": 3, "padding": 1, "groups": "depthwise"}), &[&[1, 32, 10, 10]]);
        assert_eq!(e.cost.params().unwrap(), 32 * 9 + 32);
        assert_eq!(e.cost.macs, 32 * 10 * 10 * 9);
    }

    #[test]
    fn errors_name_the_numbers() {
        let m = err("conv2d", json!({"out_channels": 8, "kernel_size": 3, "groups": 3}), &[&[1, 64, 8, 8]]);
        assert_eq!(m, "groups=3 does not divide in_channels=64");
        let m = err("conv2d", json!({"out_channels": 8, "kernel_size": 3}), &[&[1, 64, 1, 1]]);
        assert_eq!(m, "kernel 3×3 is larger than the padded input 1×1");
        let m = err("conv2d", json!({"out_channels": 8, "kernel_size": 3}), &[&[1, 64, 8]]);
        assert!(m.contains("4-d"), "{m}");
        let m = err("conv2d", json!({"out_channels": 8, "kernel_size": 3, "in_channels": 3}), &[&[1, 64, 8, 8]]);
        assert_eq!(m, "expects 3 input channels, got 64");
    }

    #[test]
    fn reflect_padding_must_be_less_than_the_input() {
        // torch 2.15: Conv2d(1, 2, 3, padding=4, padding_mode='reflect') on 4×4 raises "Padding
        // size should be less than the corresponding input dimension"; padding 3 works:
        // (4 + 6 − 3) + 1 = 8.
        let m = err("conv2d", json!({"out_channels": 2, "kernel_size": 3, "padding": 4, "padding_mode": "reflect"}), &[&[1, 1, 4, 4]]);
        assert_eq!(m, "padding=4 with padding_mode='reflect' must be less than the input size 4 of spatial dim 0");
        let e = ok("conv2d", json!({"out_channels": 2, "kernel_size": 3, "padding": 3, "padding_mode": "reflect"}), &[&[1, 1, 4, 4]]);
        assert_eq!(e.shape.dims(), &[1, 2, 8, 8]);
        // Per dim: padding (1, 4) on 4×8 is fine (6×16 with k=1), (4, 1) is not.
        assert_eq!(ok("conv2d", json!({"out_channels": 1, "kernel_size": 1, "padding": [1, 4], "padding_mode": "reflect"}), &[&[1, 1, 4, 8]]).shape.dims(), &[1, 1, 6, 16]);
        assert!(err("conv2d", json!({"out_channels": 1, "kernel_size": 1, "padding": [4, 1], "padding_mode": "reflect"}), &[&[1, 1, 4, 8]]).contains("input size 4 of spatial dim 0"));
        // 1-d, 3-d: padding 1 on 1 fails, 1 on 2 works.
        let m = err("conv1d", json!({"out_channels": 1, "kernel_size": 1, "padding": 1, "padding_mode": "reflect"}), &[&[1, 1, 1]]);
        assert_eq!(m, "padding=1 with padding_mode='reflect' must be less than the input size 1");
        assert_eq!(ok("conv3d", json!({"out_channels": 1, "kernel_size": 1, "padding": 1, "padding_mode": "reflect"}), &[&[1, 1, 2, 2, 2]]).shape.dims(), &[1, 1, 4, 4, 4]);
        // 'same' with an even kernel pads 1 left + 2 right (k=4): on 2 the right side 2 ≥ 2 fails
        // (torch: "padding (1, 2) at dimension 2 of input [1, 1, 2]"), on 3 it works.
        let m = err("conv1d", json!({"out_channels": 1, "kernel_size": 4, "padding": "same", "padding_mode": "reflect"}), &[&[1, 1, 2]]);
        assert_eq!(m, "padding=1+2 with padding_mode='reflect' must be less than the input size 2");
        assert_eq!(ok("conv1d", json!({"out_channels": 1, "kernel_size": 4, "padding": "same", "padding_mode": "reflect"}), &[&[1, 1, 3]]).shape.dims(), &[1, 1, 3]);
        // zero padding is always fine, also with reflect ('valid' or padding 0 on 1×1).
        ok("conv2d", json!({"out_channels": 1, "kernel_size": 1, "padding": "valid", "padding_mode": "reflect"}), &[&[1, 1, 1, 1]]);
    }

    #[test]
    fn circular_padding_may_wrap_at_most_once() {
        // torch 2.15: Conv2d(1, 2, 3, padding=5, padding_mode='circular') on 4×4 raises "Padding
        // value causes wrapping around more than once"; padding 4 = the input size works:
        // (4 + 8 − 3) + 1 = 10.
        let m = err("conv2d", json!({"out_channels": 2, "kernel_size": 3, "padding": 5, "padding_mode": "circular"}), &[&[1, 1, 4, 4]]);
        assert_eq!(m, "padding=5 with padding_mode='circular' must be at most the input size 4 of spatial dim 0 (it would wrap around more than once)");
        assert_eq!(ok("conv2d", json!({"out_channels": 2, "kernel_size": 3, "padding": 4, "padding_mode": "circular"}), &[&[1, 1, 4, 4]]).shape.dims(), &[1, 2, 10, 10]);
        // 1 on 1 works ((1 + 2 − 1) + 1 = 3), 2 on 1 fails.
        assert_eq!(ok("conv1d", json!({"out_channels": 1, "kernel_size": 1, "padding": 1, "padding_mode": "circular"}), &[&[1, 1, 1]]).shape.dims(), &[1, 1, 3]);
        assert!(err("conv3d", json!({"out_channels": 1, "kernel_size": 1, "padding": 2, "padding_mode": "circular"}), &[&[1, 1, 1, 1, 1]]).contains("wrap around"));
        // 'same', k=4 on 1: right side 2 > 1 fails; on 2 it works.
        assert!(err("conv1d", json!({"out_channels": 1, "kernel_size": 4, "padding": "same", "padding_mode": "circular"}), &[&[1, 1, 1]]).contains("padding=1+2"));
        ok("conv1d", json!({"out_channels": 1, "kernel_size": 4, "padding": "same", "padding_mode": "circular"}), &[&[1, 1, 2]]);
    }

    #[test]
    fn replicate_padding_has_no_limit() {
        // torch 2.15: Conv1d(1, 2, 1, padding=9, padding_mode='replicate') on 4 gives 4 + 18 = 22;
        // padding 2 on 1 gives 5.
        assert_eq!(ok("conv1d", json!({"out_channels": 2, "kernel_size": 1, "padding": 9, "padding_mode": "replicate"}), &[&[1, 1, 4]]).shape.dims(), &[1, 2, 22]);
        assert_eq!(ok("conv2d", json!({"out_channels": 2, "kernel_size": 1, "padding": 2, "padding_mode": "replicate"}), &[&[1, 1, 1, 1]]).shape.dims(), &[1, 2, 5, 5]);
        // and zeros has none either: (1 + 10 − 1) + 1 = 11.
        assert_eq!(ok("conv2d", json!({"out_channels": 1, "kernel_size": 1, "padding": 5}), &[&[1, 1, 1, 1]]).shape.dims(), &[1, 1, 11, 11]);
    }

    #[test]
    fn conv3d() {
        let e = ok("conv3d", json!({"out_channels": 4, "kernel_size": [3, 3, 3], "stride": [1, 2, 2]}), &[&[2, 2, 8, 16, 16]]);
        assert_eq!(e.shape.dims(), &[2, 4, 6, 7, 7]);
        assert_eq!(e.cost.macs, 2 * 4 * 6 * 7 * 7 * 2 * 27);
    }

    /// What torch 2.15 measured on nn.Conv (fp32; tests/memory_truth.py's counting): at
    /// inference the padded copy lives while the convolution runs; in training (input requiring a
    /// gradient) autograd keeps it, and for reflect/replicate also the input.
    /// Conv2d(3, 4, 3, padding=1, mode) on (2, 3, 6, 5): scratch 1,344 B (2·3·8·7·4); saved
    /// 2,064 B reflect/replicate (+ the input, 720), 1,344 circular. Conv1d(3, 4, 4,
    /// padding='same') on (2, 3, 10): total padding 3 = 1 left + 2 right, the kernel pads 1 a
    /// side and constant_pad_nd the extra right one: 2·3·11·4 = 264 B, scratch and saved; k = 5
    /// pads 2 a side natively: no copy. replicate with padding 0 still copies.
    #[test]
    fn padded_copies_as_torch() {
        use super::super::testing::{op, s};
        use super::super::Saved;
        let run = |attrs, dims: &[u64]| {
            let c = op("conv2d", attrs);
            let x = s(dims);
            let out = c.apply(&[x]).unwrap().shape;
            (c.scratch_bytes(&[x], &out, 4).unwrap(), c.saved(&[x], &out).unwrap())
        };
        let copy = Saved { extra_elements: 336, for_input_grad: true, ..Saved::NONE };
        for mode in ["reflect", "replicate"] {
            let (scratch, saved) = run(json!({"out_channels": 4, "kernel_size": 3, "padding": 1, "padding_mode": mode}), &[2, 3, 6, 5]);
            assert_eq!((scratch, saved), (1344, Saved { inputs: 1, ..copy }));
        }
        assert_eq!(run(json!({"out_channels": 4, "kernel_size": 3, "padding": 1, "padding_mode": "circular"}), &[2, 3, 6, 5]), (1344, copy));
        assert_eq!(run(json!({"out_channels": 4, "kernel_size": 3, "padding_mode": "replicate"}), &[2, 3, 6, 5]).0, 720);
        assert_eq!(run(json!({"out_channels": 4, "kernel_size": 3, "padding": 1}), &[2, 3, 6, 5]), (0, Saved::INPUT));
        let c1 = |k| {
            let c = op("conv1d", json!({"out_channels": 4, "kernel_size": k, "padding": "same"}));
            let x = s(&[2, 3, 10]);
            (c.scratch_bytes(&[x], &x, 4).unwrap(), c.saved(&[x], &x).unwrap().extra_elements)
        };
        assert_eq!(c1(4), (264, 66));
        assert_eq!(c1(5), (0, 0));
    }
}
