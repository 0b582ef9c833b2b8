//! slice — `x[..., start:end:step]` along one dim (`x[:, :k]`, GhostNet's and DPN's channel
//! slicing; `x.narrow(dim, start, length)` is `start:start + length`). `dim` defaults to 1
//! (channels), as `chunk`'s and `concat`'s do; `start` 0, `end` the end (null or absent), `step` 1.
//!
//! PyTorch's rules (aten::slice): a negative `start`/`end` counts from the end (adds the size);
//! then both are clamped into 0..=size, and an `end` before `start` gives an empty slice; the
//! length is ⌈(end − start) / step⌉. `step` must be positive, as in PyTorch. A view: no params,
//! no compute, no new memory, nothing kept for the backward (the gradient is scattered back by
//! shape alone).

use super::common::non_batch_dim;
use super::{Eval, Op, Parse};
use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::Error;
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("slice", parse),
];

struct Slice {
    dim: i64,
    start: i64,
    end: Option<i64>,
    step: u64,
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    let step = match a.int("step")? {
        None => 1,
        Some(s) if s > 0 => s as u64,
        Some(s) => return Err(Error::bad_value("step", s, "must be positive (PyTorch's slice step must be positive)")),
    };
    Ok(Box::new(Slice { dim: a.int("dim")?.unwrap_or(1), start: a.int("start")?.unwrap_or(0), end: a.int("end")?, step }))
}

impl Slice {
    /// The first index taken and the number of elements, for a dim of `n` elements.
    fn range(&self, n: u64) -> (u64, u64) {
        let size = n as i128;
        let clamp = |v: i128| v.clamp(0, size);
        let resolve = |v: i128| if v < 0 { v + size } else { v };
        let start = clamp(resolve(self.start as i128));
        let end = clamp(resolve(self.end.map_or(size, i128::from))).max(start);
        let step = self.step as i128;
        (start as u64, ((end - start + step - 1) / step) as u64)
    }
}

impl Op for Slice {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        let d = non_batch_dim(x, self.dim, "slice")?;
        let mut out = *x;
        out.dims_mut()[d] = self.range(x.dims()[d]).1;
        Ok(Eval { shape: out, cost: Cost::default() })
    }

    fn explain(&self, inputs: &[Shape], _out: &Eval) -> String {
        let d = inputs[0].resolve_dim(self.dim).unwrap_or(1);
        let n = inputs[0].dims()[d];
        let (start, len) = self.range(n);
        format!("a view: {len} of {n} along dim {d} from index {start}, step {}; no parameters, no compute", self.step)
    }

    fn aliases_input(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    fn len(attrs: serde_json::Value, n: u64) -> u64 {
        ok("slice", attrs, &[&[1, n, 3]]).shape.dims()[1]
    }

    #[test]
    fn channel_slicing() {
        // GhostNet's x[:, :out_chs] of (1, 32, 56, 56) with out_chs = 16: (1, 16, 56, 56), a view
        let e = ok("slice", json!({"end": 16}), &[&[1, 32, 56, 56]]);
        assert_eq!(e.shape.dims(), &[1, 16, 56, 56]);
        assert_eq!(e.cost, Default::default());
        // DPN's x[:, 256:] of 296 channels: 40 left; along the last dim with dim = -1
        assert_eq!(ok("slice", json!({"start": 256}), &[&[1, 296, 7, 7]]).shape.dims(), &[1, 40, 7, 7]);
        assert_eq!(ok("slice", json!({"dim": -1, "start": 1, "end": 4}), &[&[2, 3, 5]]).shape.dims(), &[2, 3, 3]);
    }

    #[test]
    fn python_clamping_rules() {
        // Python's list(range(10))[a:b:c] lengths, which torch's slicing follows
        assert_eq!(len(json!({"start": -3}), 10), 3); // [7, 8, 9]
        assert_eq!(len(json!({"end": -1}), 10), 9); // 0..8
        assert_eq!(len(json!({"start": 2, "end": 100}), 10), 8); // end clamped to 10
        assert_eq!(len(json!({"start": -100, "end": 3}), 10), 3); // start clamped to 0
        assert_eq!(len(json!({"start": 7, "end": 3}), 10), 0); // end before start: empty
        assert_eq!(len(json!({"start": 12}), 10), 0); // start past the end: empty
        assert_eq!(len(json!({"start": 1, "step": 3}), 10), 3); // 1, 4, 7
        assert_eq!(len(json!({"start": 0, "end": 10, "step": 3}), 10), 4); // 0, 3, 6, 9
        assert_eq!(len(json!({"step": 4, "end": null}), 10), 3); // 0, 4, 8
        assert_eq!(len(json!({"start": -2, "end": -5}), 10), 0); // 8..5: empty
        assert_eq!(len(json!({"start": i64::MIN, "end": i64::MAX}), 10), 10); // no overflow
    }

    #[test]
    fn invalid() {
        assert!(err("slice", json!({"dim": 0, "end": 1}), &[&[4, 8]]).contains("batch dim"));
        assert!(err("slice", json!({"step": 0}), &[&[1, 8]]).contains("must be positive"));
        assert!(err("slice", json!({"step": -1}), &[&[1, 8]]).contains("must be positive"));
        assert!(err("slice", json!({"dim": 3}), &[&[1, 8, 4]]).contains("out of range"));
        assert!(err("slice", json!({"length": 3}), &[&[1, 8]]).contains("length"));
    }
}
