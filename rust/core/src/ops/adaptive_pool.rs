//! adaptive_avgpool1d/2d/3d and adaptive_maxpool1d/2d/3d — `torch.nn.AdaptiveAvgPoolNd`.
//!
//! `output_size` is an int or a list of ints; for the 2d/3d variants null entries keep the
//! input's size. The 1d variants take no null (torch 2.15's adaptive_avg_pool1d /
//! adaptive_max_pool1d want "tuple of ints" and raise TypeError for (None,)). Output bin i of
//! a dim of size `in` covers [⌊i·in/out⌋, ⌈(i+1)·in/out⌉), so other ops are the exact sum of
//! those window sizes (bins may overlap when `in` is not a multiple of `out`).

use super::common::expect_rank;
use super::common::layout;
use super::{Eval, Op, Parse, Saved};
use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::Error;
use crate::num::mul;
use crate::shape::Shape;
use serde_json::Value;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("adaptive_avgpool1d", |a| parse(a, 1, false)),
    ("adaptive_avgpool2d", |a| parse(a, 2, false)),
    ("adaptive_avgpool3d", |a| parse(a, 3, false)),
    ("adaptive_maxpool1d", |a| parse(a, 1, true)),
    ("adaptive_maxpool2d", |a| parse(a, 2, true)),
    ("adaptive_maxpool3d", |a| parse(a, 3, true)),
];

struct AdaptivePool {
    d: usize,
    output_size: Vec<Option<u64>>,
    max: bool,
}

pub fn parse(a: &Attrs, d: usize, max: bool) -> Result<Box<dyn Op>, Error> {
    let bad = || {
        if d == 1 {
            "output_size must be a positive int (or a list of 1 positive int; no null for the 1d pools)".to_string()
        } else {
            format!("output_size must be a positive int or a list of {d} positive ints or nulls")
        }
    };
    let one = |v: &Value| -> Result<Option<u64>, Error> {
        match v {
            Value::Null if d > 1 => Ok(None),
            Value::Number(n) => match n.as_u64() {
                Some(0) | None => Err(Error::attribute_rule(bad())),
                Some(x) => Ok(Some(x)),
            },
            _ => Err(Error::attribute_rule(bad())),
        }
    };
    let output_size = match a.raw("output_size") {
        None => return Err(Error::missing("output_size")),
        Some(Value::Array(items)) if items.len() == d => items.iter().map(one).collect::<Result<Vec<_>, _>>()?,
        Some(Value::Array(_)) => return Err(Error::attribute_rule(bad())),
        Some(v) => vec![one(v)?; d],
    };
    if a.bool("return_indices", false)? {
        return Err(Error::bad_value("return_indices", true, "is not supported (a second output)"));
    }
    Ok(Box::new(AdaptivePool { d, output_size, max }))
}

/// Σ over output bins of the bin's width, in O(1) of `output`: Σ_{i<o} (⌈(i+1)n/o⌉ − ⌊in/o⌋)
/// = n + o − gcd(n, o). (Σ_{j=1..o} ⌈jn/o⌉ exceeds Σ_{j=1..o} ⌊jn/o⌋ by the number of j that
/// o does not divide jn, o − gcd(n, o); the floors telescope to Σ_{j=1..o} ⌊jn/o⌋ − Σ_{j<o} ⌊jn/o⌋
/// = n.) Overflows beyond u64 are an error.
fn window_sum(input: u64, output: u64) -> Result<u64, Error> {
    // n + o − gcd ≥ max(n, o): the subtraction cannot wrap; only the sum can overflow
    crate::num::add(input, output - gcd(input, output))
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Op for AdaptivePool {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        expect_rank(x, &[self.d + 2], layout(self.d))?;
        let mut out = *x;
        let mut reads = mul(x.batch(), x.channels())?;
        for i in 0..self.d {
            let n = x.tail(self.d)[i];
            let o = self.output_size[i].unwrap_or(n);
            out.dims_mut()[2 + i] = o;
            reads = mul(reads, window_sum(n, o)?)?;
        }
        out.elements()?; // overflow check
        Ok(Eval { shape: out, cost: Cost { other_ops: reads, ..Cost::default() } })
    }

    /// The max pools make their int64 indices also at inference, and drop them on return.
    fn scratch_bytes(&self, _inputs: &[Shape], out: &Shape, _dtype_bytes: u64) -> Result<u64, Error> {
        if self.max {
            mul(out.elements()?, 8)
        } else {
            Ok(0)
        }
    }

    /// The max pools keep their input and int64 indices (8 bytes per output element); the
    /// average pools their input, except to an output of all 1s, which PyTorch computes as a
    /// mean over the spatial dims (that keeps only sizes).
    fn saved(&self, _inputs: &[Shape], out: &Shape) -> Result<Saved, Error> {
        Ok(if self.max {
            Saved::INPUT.with_bytes(mul(out.elements()?, 8)?)
        } else if out.tail(self.d).iter().all(|&o| o == 1) {
            Saved::NONE
        } else {
            Saved::INPUT
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use super::window_sum;
    use serde_json::json;

    #[test]
    fn vgg_adaptive_pool_is_identity_at_7() {
        let e = ok("adaptive_avgpool2d", json!({"output_size": [7, 7]}), &[&[1, 512, 7, 7]]);
        assert_eq!(e.shape.dims(), &[1, 512, 7, 7]);
        assert_eq!(e.cost.other_ops, 512 * 49);
    }

    #[test]
    fn global_pool() {
        let e = ok("adaptive_avgpool2d", json!({"output_size": 1}), &[&[2, 2048, 7, 7]]);
        assert_eq!(e.shape.dims(), &[2, 2048, 1, 1]);
        assert_eq!(e.cost.other_ops, 2 * 2048 * 49);
    }

    #[test]
    fn overlapping_bins_and_none() {
        // in 5 -> out 3: bins [0,2), [1,4), [3,5): 2 + 3 + 2 = 7.
        assert_eq!(window_sum(5, 3).unwrap(), 7);
        // upsampling: in 2 -> out 4: each bin is one element wide.
        assert_eq!(window_sum(2, 4).unwrap(), 4);
        let e = ok("adaptive_maxpool2d", json!({"output_size": [null, 3]}), &[&[1, 1, 6, 5]]);
        assert_eq!(e.shape.dims(), &[1, 1, 6, 3]);
        let e = ok("adaptive_avgpool3d", json!({"output_size": [null, null, 2]}), &[&[1, 2, 4, 4, 4]]);
        assert_eq!(e.shape.dims(), &[1, 2, 4, 4, 2]);
    }

    /// The bins summed one by one, as the formula in the file's header states them (the
    /// reference the closed form is held to).
    fn bins_one_by_one(input: u64, output: u64) -> u64 {
        (0..output).map(|i| ((i + 1) * input).div_ceil(output) - i * input / output).sum()
    }

    #[test]
    fn closed_form_matches_the_bins_one_by_one() {
        for n in 1..=60 {
            for o in 1..=60 {
                assert_eq!(window_sum(n, o).unwrap(), bins_one_by_one(n, o), "in {n} out {o}");
            }
        }
    }

    #[test]
    fn huge_output_size_is_computed_at_once() {
        // 2^32 + 1 bins over one input element: every bin is that element, so the reads are the
        // output size; the same when input = output (each bin is one element). Before the closed
        // form this took 24-65 s
        let o = (1u64 << 32) + 1;
        assert_eq!(window_sum(1, o).unwrap(), o);
        assert_eq!(window_sum(o, o).unwrap(), o);
        // n + o − gcd(n, o) beyond u64: an overflow error, not a wrap
        assert!(window_sum(u64::MAX, u64::MAX - 1).is_err());
        assert_eq!(window_sum(u64::MAX, u64::MAX).unwrap(), u64::MAX);
    }

    #[test]
    fn no_null_for_1d() {
        // torch 2.15: AdaptiveAvgPool1d((None,)) / AdaptiveMaxPool1d([None]) raise TypeError
        // "argument 'output_size' must be tuple of ints, but found element of type NoneType";
        // 5, (5,) and [5] all give (1, 2, 5).
        for op in ["adaptive_avgpool1d", "adaptive_maxpool1d"] {
            let m = err(op, json!({"output_size": [null]}), &[&[1, 2, 4]]);
            assert_eq!(m, "output_size must be a positive int (or a list of 1 positive int; no null for the 1d pools)", "{op}");
            assert_eq!(ok(op, json!({"output_size": [5]}), &[&[1, 2, 4]]).shape.dims(), &[1, 2, 5]);
            assert_eq!(ok(op, json!({"output_size": 5}), &[&[1, 2, 4]]).shape.dims(), &[1, 2, 5]);
        }
    }
}
