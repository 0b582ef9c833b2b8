//! Learned tables for transformers:
//! * embedding — `torch.nn.Embedding(num_embeddings, embedding_dim)`: integer ids (N, *) to
//!   vectors (N, *, D); params num_embeddings·D. `padding_idx`, if given, must lie in
//!   [−num_embeddings, num_embeddings − 1] (torch 2.15 asserts "Padding_idx must be within
//!   num_embeddings").
//! * positional_embedding — a learned tensor with the per-sample shape of its input, added to it
//!   (ViT's `pos_embedding`); params ∏(input dims after the batch).
//! * class_token — a learned (1, 1, E) token prepended along the sequence dim (ViT's
//!   `class_token`): (N, L, E) → (N, L+1, E); params E.

use super::common::per_element;
use super::{Eval, Op, Parse};
use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::Error;
use crate::num::{add, join_x, mul, prod};
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("embedding", parse_embedding),
    ("positional_embedding", parse_positional),
    ("class_token", parse_class_token),
];

struct Embedding {
    num_embeddings: u64,
    embedding_dim: u64,
}

struct Positional;

struct ClassToken;

pub fn parse_embedding(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    let padding_idx = a.int("padding_idx")?;
    let num_embeddings = a.require_positive("num_embeddings")?;
    let embedding_dim = a.require_positive("embedding_dim")?;
    if let Some(p) = padding_idx {
        // i128: num_embeddings may exceed i64::MAX.
        let (p, n) = (p as i128, num_embeddings as i128);
        if p < -n || p >= n {
            return Err(Error::bad_value("padding_idx", p, format!("must be within num_embeddings={n} (between {} and {})", -n, n - 1)));
        }
    }
    Ok(Box::new(Embedding { num_embeddings, embedding_dim }))
}

pub fn parse_positional(_a: &Attrs) -> Result<Box<dyn Op>, Error> {
    Ok(Box::new(Positional))
}

pub fn parse_class_token(_a: &Attrs) -> Result<Box<dyn Op>, Error> {
    Ok(Box::new(ClassToken))
}

impl Op for Embedding {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let mut out = inputs[0];
        out.push(self.embedding_dim)?;
        let cost = Cost { weight_params: mul(self.num_embeddings, self.embedding_dim)?, ..per_element(&out)? };
        Ok(Eval { shape: out, cost })
    }

    fn explain(&self, _inputs: &[Shape], out: &Eval) -> String {
        format!("params {}×{} = {}", self.num_embeddings, self.embedding_dim, crate::num::commas(out.cost.weight_params))
    }
}

impl Op for Positional {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = inputs[0];
        let cost = Cost { weight_params: prod(&x.dims()[1..])?, ..per_element(&x)? };
        Ok(Eval { shape: x, cost })
    }

    fn explain(&self, inputs: &[Shape], out: &Eval) -> String {
        format!("params {} = {}", join_x(&inputs[0].dims()[1..]), crate::num::commas(out.cost.weight_params))
    }
}

impl Op for ClassToken {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = inputs[0];
        if x.rank() != 3 {
            return Err(Error::shape(format!("expects a 3-d (N, L, E) input, got {}-d {x}", x.rank())));
        }
        let mut out = x;
        out.dims_mut()[1] = add(x.dims()[1], 1)?;
        Ok(Eval { shape: out, cost: Cost { weight_params: x.last(), ..Cost::default() } })
    }

    fn explain(&self, inputs: &[Shape], _out: &Eval) -> String {
        format!("params 1×1×{} = {}", inputs[0].last(), inputs[0].last())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn vit_tokens() {
        let e = ok("class_token", json!({}), &[&[1, 196, 768]]);
        assert_eq!(e.shape.dims(), &[1, 197, 768]);
        assert_eq!(e.cost.params().unwrap(), 768);
        let e = ok("positional_embedding", json!({}), &[&[1, 197, 768]]);
        assert_eq!(e.cost.params().unwrap(), 197 * 768);
        assert!(err("class_token", json!({}), &[&[1, 768]]).contains("3-d"));
    }

    #[test]
    fn embedding() {
        let e = ok("embedding", json!({"num_embeddings": 30522, "embedding_dim": 768}), &[&[2, 128]]);
        assert_eq!(e.shape.dims(), &[2, 128, 768]);
        assert_eq!(e.cost.params().unwrap(), 30522 * 768);
    }

    #[test]
    fn padding_idx_range() {
        // torch 2.15: Embedding(10, 4, padding_idx=p) accepts −10..=9 (−1 becomes 9) and
        // asserts "Padding_idx must be within num_embeddings" for 10 and −11.
        for p in [-10, -1, 0, 9] {
            ok("embedding", json!({"num_embeddings": 10, "embedding_dim": 4, "padding_idx": p}), &[&[1, 3]]);
        }
        let m = err("embedding", json!({"num_embeddings": 10, "embedding_dim": 4, "padding_idx": 10}), &[&[1, 3]]);
        assert_eq!(m, "padding_idx=10 must be within num_embeddings=10 (between -10 and 9)");
        let m = err("embedding", json!({"num_embeddings": 10, "embedding_dim": 4, "padding_idx": -11}), &[&[1, 3]]);
        assert!(m.starts_with("padding_idx=-11 must be within"), "{m}");
        // padding_idx=null means none.
        ok("embedding", json!({"num_embeddings": 10, "embedding_dim": 4, "padding_idx": null}), &[&[1, 3]]);
    }
}
