//! split — one piece of `x.split(split_size, dim)` (MixNet's and SKNet's `torch.split` into
//! unequal groups of channels): `index` picks the piece (negative counts from the end, as in
//! Python). `split_size` is an int — pieces of that size, the last one holding the rest — or a
//! list of sizes that must sum to the dim's size (`split_with_sizes`). `dim` defaults to 1
//! (channels), as `chunk`'s does.
//!
//! PyTorch's rules: an int split gives ⌈size / split_size⌉ pieces (one, of size 0, for an empty
//! dim); split_size 0 is allowed only for an empty dim; sizes in a list must not be negative.
//! A view: no params, no compute, no new memory, nothing kept for the backward.

use super::common::non_batch_dim;
use super::{Eval, Op, Parse};
use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::Error;
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("split", parse),
];

enum Sizes {
    Each(u64),
    List(Vec<u64>),
}

struct Split {
    sizes: Sizes,
    dim: i64,
    index: i64,
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    let sizes = match a.raw("split_size") {
        None => return Err(Error::missing("split_size")),
        Some(serde_json::Value::Array(_)) => {
            let list = a.int_list("split_size")?.unwrap_or_default();
            if let Some(&bad) = list.iter().find(|&&s| s < 0) {
                return Err(Error::bad_value("split_size", bad, "sizes must not be negative"));
            }
            Sizes::List(list.into_iter().map(|s| s as u64).collect())
        }
        Some(_) => Sizes::Each(a.uint("split_size")?.unwrap_or(0)),
    };
    Ok(Box::new(Split { sizes, dim: a.int("dim")?.unwrap_or(1), index: a.int("index")?.unwrap_or(0) }))
}

impl Split {
    /// The number of pieces along a dim of `n` elements, or the rule `n` breaks.
    fn count(&self, n: u64) -> Result<u64, Error> {
        match &self.sizes {
            Sizes::Each(0) if n > 0 => Err(Error::shape(format!("split_size 0 splits only an empty dim, not one of size {n}"))),
            Sizes::Each(s) => Ok(if *s == 0 { 1 } else { n.div_ceil(*s).max(1) }),
            Sizes::List(list) => {
                let total = list.iter().try_fold(0u64, |t, &s| crate::num::add(t, s))?;
                if total != n {
                    return Err(Error::shape(format!("split sizes {list:?} sum to {total}, not to the dim's size {n}")));
                }
                Ok(list.len() as u64)
            }
        }
    }

    /// The size of piece `k` (< `count(n)`) of a dim of `n` elements.
    fn piece(&self, n: u64, k: u64) -> u64 {
        match &self.sizes {
            Sizes::Each(s) => (*s).min(n - k * s),
            Sizes::List(list) => list[k as usize],
        }
    }
}

impl Op for Split {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        let d = non_batch_dim(x, self.dim, "split")?;
        let n = x.dims()[d];
        let count = self.count(n)?;
        let count_i = count as i64;
        if self.index >= count_i || self.index < -count_i {
            let pieces: Vec<u64> = (0..count).map(|k| self.piece(n, k)).collect();
            return Err(Error::shape(format!("index {} is out of range: dim {d} of size {n} splits into {count} pieces {pieces:?}", self.index)));
        }
        let k = if self.index < 0 { self.index + count_i } else { self.index } as u64;
        let mut out = *x;
        out.dims_mut()[d] = self.piece(n, k);
        Ok(Eval { shape: out, cost: Cost::default() })
    }

    fn explain(&self, inputs: &[Shape], out: &Eval) -> String {
        let d = inputs[0].resolve_dim(self.dim).unwrap_or(1);
        format!("a view: piece {} along dim {d} ({} of {}); no parameters, no compute", self.index, out.shape.dims()[d], inputs[0].dims()[d])
    }

    fn aliases_input(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn unequal_groups() {
        // MixNet's split of 24 channels into groups [8, 8, 8] and 40 into [20, 20]; SK's [12, 4]
        let piece = |sizes: serde_json::Value, i: i64| ok("split", json!({"split_size": sizes, "index": i}), &[&[1, 16, 56, 56]]);
        assert_eq!(piece(json!([12, 4]), 0).shape.dims(), &[1, 12, 56, 56]);
        assert_eq!(piece(json!([12, 4]), 1).shape.dims(), &[1, 4, 56, 56]);
        assert_eq!(piece(json!([12, 4]), -1).shape.dims(), &[1, 4, 56, 56]);
        assert_eq!(piece(json!([0, 16]), 0).shape.dims(), &[1, 0, 56, 56]); // an empty piece is allowed
        assert_eq!(piece(json!([12, 4]), 0).cost, Default::default());
    }

    #[test]
    fn by_size_follows_torch() {
        // torch.arange(10).split(4): pieces of 4, 4, 2 (the last holds the rest)
        let piece = |i: i64| ok("split", json!({"split_size": 4, "dim": -1, "index": i}), &[&[1, 10]]).shape.dims()[1];
        assert_eq!((piece(0), piece(1), piece(2), piece(-1), piece(-3)), (4, 4, 2, 2, 4));
        let e = err("split", json!({"split_size": 4, "dim": -1, "index": 3}), &[&[1, 10]]);
        assert!(e.contains("index 3 is out of range") && e.contains("3 pieces [4, 4, 2]"), "{e}");
        // a split size beyond the dim: one piece of the whole dim
        assert_eq!(ok("split", json!({"split_size": 100}), &[&[1, 10, 3]]).shape.dims(), &[1, 10, 3]);
    }

    #[test]
    fn invalid() {
        assert!(err("split", json!({"split_size": [3, 4]}), &[&[1, 8]]).contains("sum to 7, not to the dim's size 8"));
        assert!(err("split", json!({"split_size": [9, -1]}), &[&[1, 8]]).contains("must not be negative"));
        assert!(err("split", json!({"split_size": -2}), &[&[1, 8]]).contains("must not be negative"));
        assert!(err("split", json!({"split_size": 0}), &[&[1, 8]]).contains("split_size 0 splits only an empty dim"));
        assert!(err("split", json!({"split_size": 2, "dim": 0}), &[&[4, 8]]).contains("batch dim"));
        assert!(err("split", json!({"index": 0}), &[&[1, 8]]).contains("missing required attribute 'split_size'"));
    }
}
