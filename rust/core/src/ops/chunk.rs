//! chunk — one piece of `x.chunk(chunks, dim)` (ShuffleNetV2's `x1, x2 = x.chunk(2, dim=1)`):
//! `index` picks the piece. As in PyTorch, every piece has ⌈size / chunks⌉ elements along `dim`
//! except the last, which holds the rest, so there may be fewer than `chunks` pieces (size 5 in
//! 4 chunks gives 2, 2, 1). `dim` defaults to 1 (channels), as `concat`'s does. A view: no
//! params, no compute, no new memory.

use super::common::non_batch_dim;
use super::{Eval, Op, Parse};
use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::Error;
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("chunk", parse),
];

struct Chunk {
    chunks: u64,
    dim: i64,
    index: i64,
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    Ok(Box::new(Chunk {
        chunks: a.require_positive("chunks")?,
        dim: a.int("dim")?.unwrap_or(1),
        index: a.int("index")?.unwrap_or(0),
    }))
}

impl Chunk {
    /// Size along `dim` of each piece and the number of pieces, for a dim of `n` elements.
    fn pieces(&self, n: u64) -> (u64, u64) {
        let size = n.div_ceil(self.chunks);
        (size, if size == 0 { 0 } else { n.div_ceil(size) })
    }
}

impl Op for Chunk {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        let d = non_batch_dim(x, self.dim, "chunk")?;
        let n = x.dims()[d];
        let (size, count) = self.pieces(n);
        let count_i = count as i64;
        if self.index >= count_i || self.index < -count_i {
            return Err(Error::shape(format!(
                "index {} is out of range: dim {d} of size {n} in {} chunks gives {count} pieces of up to {size}",
                self.index, self.chunks
            )));
        }
        let k = if self.index < 0 { self.index + count_i } else { self.index } as u64;
        let mut out = *x;
        out.dims_mut()[d] = size.min(n - k * size);
        Ok(Eval { shape: out, cost: Cost::default() })
    }

    fn explain(&self, inputs: &[Shape], out: &Eval) -> String {
        let d = inputs[0].resolve_dim(self.dim).unwrap_or(1);
        format!("a view: piece {} of {} along dim {d} ({} of {}); no parameters, no compute", self.index, self.chunks, out.shape.dims()[d], inputs[0].dims()[d])
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
    fn shufflenet_halves() {
        // x.chunk(2, dim=1) of (1, 116, 28, 28): two (1, 58, 28, 28) views, nothing computed
        for index in [0, 1, -1] {
            let e = ok("chunk", json!({"chunks": 2, "index": index}), &[&[1, 116, 28, 28]]);
            assert_eq!(e.shape.dims(), &[1, 58, 28, 28]);
            assert_eq!(e.cost, Default::default());
        }
    }

    #[test]
    fn uneven_pieces_follow_torch() {
        // torch.arange(5).chunk(4): size ceil(5/4) = 2 -> pieces of 2, 2, 1 (only 3 pieces)
        let piece = |i: i64| ok("chunk", json!({"chunks": 4, "dim": -1, "index": i}), &[&[1, 5]]).shape.dims()[1];
        assert_eq!((piece(0), piece(1), piece(2), piece(-1)), (2, 2, 1, 1));
        let e = err("chunk", json!({"chunks": 4, "dim": -1, "index": 3}), &[&[1, 5]]);
        assert!(e.contains("index 3 is out of range") && e.contains("gives 3 pieces"), "{e}");
        // 7 in 3 chunks: size 3 -> 3, 3, 1; more chunks than elements: 2 in 4 -> 1, 1
        let e = ok("chunk", json!({"chunks": 3, "dim": 2, "index": 2}), &[&[2, 4, 7]]);
        assert_eq!(e.shape.dims(), &[2, 4, 1]);
        assert!(err("chunk", json!({"chunks": 4, "dim": 1, "index": 2}), &[&[1, 2, 8]]).contains("gives 2 pieces"));
    }

    #[test]
    fn invalid() {
        assert!(err("chunk", json!({"chunks": 2, "dim": 0}), &[&[4, 8]]).contains("batch dim"));
        assert!(err("chunk", json!({"chunks": 0}), &[&[1, 8]]).contains("chunks"));
        assert!(err("chunk", json!({"index": 0}), &[&[1, 8]]).contains("missing required attribute 'chunks'"));
        assert!(err("chunk", json!({"chunks": 2, "dim": 3}), &[&[1, 8, 4]]).contains("3"));
    }
}
