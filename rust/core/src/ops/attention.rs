//! multihead_attention — `torch.nn.MultiheadAttention(embed_dim, num_heads, bias, kdim, vdim)`
//! with batch_first layout (N, L, E): one input (self-attention) or three (query, key, value).
//!
//! Params: Q/K/V projections E·E + E·kdim + E·vdim (+ 3E in_proj_bias), out_proj E·E (+ E).
//! MACs, per sample: projections L_q·E·E + L_k·kdim·E + L_k·vdim·E, scores Q·Kᵀ L_q·L_k·E,
//! attn·V L_q·L_k·E, out_proj L_q·E·E — torchvision's count for ViT/Swin. Other ops: the
//! softmax over N·heads·L_q·L_k scores.

use super::{Eval, Op, Parse, Saved};
use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::Error;
use crate::num::{commas, mul, sum};
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("multihead_attention", parse),
];

struct Attention {
    embed_dim: u64,
    num_heads: u64,
    bias: bool,
    kdim: Option<u64>,
    vdim: Option<u64>,
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    a.float("dropout")?;
    if !a.bool("batch_first", true)? {
        return Err(Error::bad_value("batch_first", false, "is not supported: model files put the batch first, (N, L, E)"));
    }
    let embed_dim = a.require_positive("embed_dim")?;
    let num_heads = a.require_positive("num_heads")?;
    if embed_dim % num_heads != 0 {
        return Err(Error::bad_value("num_heads", num_heads, format!("does not divide embed_dim={embed_dim}")));
    }
    Ok(Box::new(Attention { embed_dim, num_heads, bias: a.bool("bias", true)?, kdim: a.positive("kdim")?, vdim: a.positive("vdim")? }))
}

impl Op for Attention {
    fn arity(&self) -> (usize, usize) {
        (1, 3)
    }

    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        if inputs.len() == 2 {
            return Err(Error::shape("takes one input (self-attention) or three (query, key, value), got 2"));
        }
        let q = inputs[0];
        let (k, v) = if inputs.len() == 3 { (inputs[1], inputs[2]) } else { (q, q) };
        for (name, x) in [("query", &q), ("key", &k), ("value", &v)] {
            if x.rank() != 3 {
                return Err(Error::shape(format!("expects a 3-d (N, L, E) {name}, got {}-d {x}", x.rank())));
            }
        }
        let e = self.embed_dim;
        if q.last() != e {
            return Err(Error::shape(format!("query has {} features but embed_dim={e}", q.last())));
        }
        let kdim = self.kdim.unwrap_or(e);
        let vdim = self.vdim.unwrap_or(e);
        if k.last() != kdim {
            return Err(Error::shape(format!("key has {} features but kdim={kdim}", k.last())));
        }
        if v.last() != vdim {
            return Err(Error::shape(format!("value has {} features but vdim={vdim}", v.last())));
        }
        if k.batch() != q.batch() || v.batch() != q.batch() || k.dims()[1] != v.dims()[1] {
            return Err(Error::shape(format!("query {q}, key {k} and value {v} do not agree in batch or key/value length")));
        }
        let (n, lq, lk) = (q.batch(), q.dims()[1], k.dims()[1]);
        let weight = sum(&[mul(e, e)?, mul(e, kdim)?, mul(e, vdim)?, mul(e, e)?])?;
        let bias = if self.bias { mul(4, e)? } else { 0 };
        let per_sample = sum(&[
            mul(mul(lq, e)?, e)?,       // q projection
            mul(mul(lk, kdim)?, e)?,    // k projection
            mul(mul(lk, vdim)?, e)?,    // v projection
            mul(mul(lq, lk)?, e)?,      // Q·Kᵀ over all heads
            mul(mul(lq, lk)?, e)?,      // attn·V
            mul(mul(lq, e)?, e)?,       // out projection
        ])?;
        let macs = mul(n, per_sample)?;
        let other_ops = mul(mul(n, self.num_heads)?, mul(lq, lk)?)?;
        Ok(Eval { shape: q, cost: Cost { weight_params: weight, bias_params: bias, macs, other_ops, ..Cost::default() } })
    }

    fn explain(&self, inputs: &[Shape], out: &Eval) -> String {
        let e = self.embed_dim;
        let (lq, lk) = (inputs[0].dims()[1], inputs.get(1).unwrap_or(&inputs[0]).dims()[1]);
        let b = if self.bias { format!(" + {}", 4 * e) } else { String::new() };
        format!(
            "params 4×{e}×{e}{b} = {}; macs {}projections 4×{lq}×{e}×{e} + scores and mix 2×{lq}×{lk}×{e} = {} ({} heads)",
            commas(out.cost.params().unwrap_or(u64::MAX)),
            if inputs[0].batch() > 1 { format!("{} × ", inputs[0].batch()) } else { String::new() },
            commas(out.cost.macs),
            self.num_heads
        )
    }

    /// Training self-attention (`F.multi_head_attention_forward` with one input, CPU flash
    /// attention) keeps what its packed Q/K/V projection reads, the contiguous copy of that
    /// projection which Q, K and V view (3·N·L·E), the attention's output (N·L·E; the out
    /// projection reads it in place) and its float32 log-sum-exp (N·heads·L·4 bytes). The
    /// projection reads the input transposed to (L, N, E): in place for N = 1 (the input's
    /// storage is kept), else through a contiguous copy (N·L·E more). Three inputs (query, key,
    /// value) are counted alike, each projection reading its own input: not checked against
    /// PyTorch.
    fn saved(&self, inputs: &[Shape], _out: &Shape) -> Result<Saved, Error> {
        let q = &inputs[0];
        let (n, lq, e) = (q.batch(), q.dims()[1], self.embed_dim);
        let lk = inputs.get(1).map_or(lq, |k| k.dims()[1]);
        let nle = mul(mul(n, lq)?, e)?;
        let nlk = mul(mul(n, lk)?, e)?;
        let qkv = if inputs.len() == 1 { mul(nle, 3)? } else { sum(&[nle, nlk, nlk])? };
        let lse = mul(mul(mul(n, self.num_heads)?, lq)?, 4)?;
        let (all, copies) = match (inputs.len(), n) {
            (1, 1) => (1, 0),
            (1, _) => (0, nle),
            (_, 1) => (0b111, 0),
            _ => (0, sum(&[nle, nlk, nlk])?),
        };
        Ok(Saved { inputs: all, extra_elements: sum(&[qkv, nle, copies])?, extra_bytes: lse, ..Saved::NONE })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn vit_b_16_block_attention() {
        // E=768, L=197: params 4·768² + 4·768 = 2,362,368 (torch's in_proj + out_proj).
        let e = ok("multihead_attention", json!({"embed_dim": 768, "num_heads": 12}), &[&[1, 197, 768]]);
        assert_eq!(e.cost.params().unwrap(), 2_362_368);
        assert_eq!(e.cost.macs, 4 * 197 * 768 * 768 + 2 * 197 * 197 * 768);
        assert_eq!(e.shape.dims(), &[1, 197, 768]);
    }

    #[test]
    fn cross_attention_with_kdim() {
        let e = ok("multihead_attention", json!({"embed_dim": 8, "num_heads": 2, "kdim": 4, "vdim": 6, "bias": false}),
            &[&[2, 5, 8], &[2, 3, 4], &[2, 3, 6]]);
        assert_eq!(e.cost.weight_params, 64 + 32 + 48 + 64);
        assert_eq!(e.cost.macs, 2 * (5 * 64 + 3 * 32 + 3 * 48 + 2 * 5 * 3 * 8 + 5 * 64));
        assert_eq!(e.shape.dims(), &[2, 5, 8]);
    }

    #[test]
    fn errors() {
        assert!(err("multihead_attention", json!({"embed_dim": 10, "num_heads": 3}), &[&[1, 4, 10]]).contains("does not divide"));
        assert!(err("multihead_attention", json!({"embed_dim": 8, "num_heads": 2}), &[&[1, 4, 10]]).contains("embed_dim=8"));
    }
}
