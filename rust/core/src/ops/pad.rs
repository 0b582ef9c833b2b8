//! pad — `F.pad(x, pad, mode="constant", value)` (Swin's padding to whole windows, "same"
//! padding done by hand). `pad` lists (before, after) amounts from the LAST dim backwards, as in
//! PyTorch: `[left, right]` pads the last dim, `[left, right, top, bottom]` the last two. Amounts
//! may be negative (the dim is cut, as in PyTorch); the batch dim cannot be padded. `value`
//! (default 0) changes no count; only `mode = "constant"` is an op here.
//!
//! PyTorch's rules (constant_pad_nd): `pad` has an even length of at most twice the rank; each
//! padded dim becomes `size + before + after`, which must not be negative, and a negative amount
//! cuts the input before any padding, so `size + before` (when `before` < 0) and `size + after`
//! (when `after` < 0) must not be negative either. The output is a new tensor (a copy, even
//! when every amount is ≤ 0). No params, no compute (a copy, as `concat`); nothing kept for the
//! backward (the gradient is a slice of the output's).

use super::{Eval, Op, Parse};
use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::Error;
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("pad", parse),
];

struct Pad {
    /// (before, after) per padded dim, the last dim first
    pad: Vec<(i64, i64)>,
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    let pad = match a.raw("pad") {
        Some(serde_json::Value::Array(_)) => a.int_list("pad")?.unwrap_or_default(),
        Some(v) => return Err(Error::bad_kind("pad", "must be a list of ints (before, after per dim, the last dim first)", v)),
        None => return Err(Error::missing("pad")),
    };
    if pad.len() % 2 != 0 {
        return Err(Error::bad_value("pad", format!("{pad:?}"), format!("must have an even length (before and after per dim), not {}", pad.len())));
    }
    a.choice("mode", &["constant"], "constant")?;
    if let Some(v) = a.raw("value") {
        if !v.is_number() {
            return Err(Error::bad_kind("value", "must be a number", v));
        }
    }
    Ok(Box::new(Pad { pad: pad.chunks(2).map(|p| (p[0], p[1])).collect() }))
}

impl Op for Pad {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        let rank = x.rank();
        if self.pad.len() >= rank {
            return Err(Error::shape(format!(
                "pad of {} values pads {} dims, but a rank-{rank} input has only {} besides the batch dim",
                2 * self.pad.len(),
                self.pad.len(),
                rank - 1
            )));
        }
        let mut out = *x;
        for (i, &(before, after)) in self.pad.iter().enumerate() {
            let d = rank - 1 - i;
            let n = x.dims()[d] as i128;
            let (b, e) = (before as i128, after as i128);
            let size = n + b + e;
            if size < 0 || n + b.min(0) < 0 || n + e.min(0) < 0 {
                return Err(Error::shape(format!(
                    "padding dim {d} of size {n} by ({before}, {after}) cuts more than it holds (size {n} {before:+} {after:+} = {size})"
                )));
            }
            out.dims_mut()[d] = u64::try_from(size).map_err(|_| Error::overflow(format!("padded size of dim {d}")))?;
        }
        Ok(Eval { shape: out, cost: Cost::default() })
    }

    fn explain(&self, inputs: &[Shape], out: &Eval) -> String {
        format!("a padded copy: {} -> {}; no parameters, no compute", inputs[0].to_paren_string(), out.shape.to_paren_string())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn swin_pads_to_whole_windows() {
        // timm's Swin, a channels-last (1, 10, 10, 96) map in 7 x 7 windows:
        // F.pad(x, (0, 0, 0, 4, 0, 4)) pads C by 0, W by (0, 4), H by (0, 4): (1, 14, 14, 96)
        let e = ok("pad", json!({"pad": [0, 0, 0, 4, 0, 4]}), &[&[1, 10, 10, 96]]);
        assert_eq!(e.shape.dims(), &[1, 14, 14, 96]);
        assert_eq!(e.cost, Default::default());
        // only the last dim: (left 1, right 2) on (2, 3, 5) -> (2, 3, 8)
        assert_eq!(ok("pad", json!({"pad": [1, 2]}), &[&[2, 3, 5]]).shape.dims(), &[2, 3, 8]);
        // no amounts: a copy of the same shape; value changes nothing
        assert_eq!(ok("pad", json!({"pad": [], "value": -1.5}), &[&[1, 4]]).shape.dims(), &[1, 4]);
    }

    #[test]
    fn negative_amounts_cut() {
        // (1, 3, 6, 6) cut by one row on top and padded by 2 at the bottom: 6 - 1 + 2 = 7 rows;
        // columns cut by 2 on each side: 6 - 2 - 2 = 2
        assert_eq!(ok("pad", json!({"pad": [-2, -2, -1, 2]}), &[&[1, 3, 6, 6]]).shape.dims(), &[1, 3, 7, 2]);
        // everything cut: size 0 is allowed
        assert_eq!(ok("pad", json!({"pad": [-3, 0]}), &[&[1, 2, 3]]).shape.dims(), &[1, 2, 0]);
        assert_eq!(ok("pad", json!({"pad": [-1, -2]}), &[&[1, 2, 3]]).shape.dims(), &[1, 2, 0]);
        // a negative total, or a cut beyond the input before the padding: refused
        let e = err("pad", json!({"pad": [-2, -2]}), &[&[1, 2, 3]]);
        assert!(e.contains("dim 2 of size 3 by (-2, -2)") && e.contains("= -1"), "{e}");
        assert!(err("pad", json!({"pad": [-4, 1]}), &[&[1, 2, 3]]).contains("cuts more than it holds"));
        assert!(err("pad", json!({"pad": [2, -4]}), &[&[1, 2, 3]]).contains("cuts more than it holds"));
    }

    #[test]
    fn invalid() {
        assert!(err("pad", json!({"pad": [1, 1, 1]}), &[&[1, 4, 4]]).contains("even length"));
        assert!(err("pad", json!({"pad": [1, 1, 1, 1]}), &[&[1, 4]]).contains("only 1 besides the batch dim"));
        assert!(err("pad", json!({"pad": 1}), &[&[1, 4]]).contains("must be a list"));
        assert!(err("pad", json!({"pad": [1, 1], "mode": "reflect"}), &[&[1, 4]]).contains("constant"));
        assert!(err("pad", json!({"pad": [1, 1], "value": "zero"}), &[&[1, 4]]).contains("must be a number"));
        assert!(err("pad", json!({}), &[&[1, 4]]).contains("missing required attribute 'pad'"));
    }
}
