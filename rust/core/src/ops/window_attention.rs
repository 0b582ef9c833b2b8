//! window_attention — multi-head self-attention inside non-overlapping windows with a relative
//! position bias: torchvision's `ShiftedWindowAttention` (Swin, `version` 1) and
//! `ShiftedWindowAttentionV2` (Swin V2, `version` 2); also MaxViT's block and grid attention
//! (`RelativePositionalMultiHeadAttention` over p x p groups, shift 0).
//!
//! Input and output (N, H, W, C), channels last. As torchvision's `shifted_window_attention`,
//! the map is padded at the bottom/right to multiples of the window (wh, ww): pH x pW, and
//! every padded position is a token; `shift_size` (a cyclic roll and a mask) changes no count.
//! T = wh·ww tokens per window, P = pH·pW tokens in all.
//!
//! Params: qkv C·3C (+ 3C `qkv_bias`; in V2 the k third is zeroed, but it is a parameter),
//! proj C·C (+ C `proj_bias`); version 1: the relative position bias table
//! (2wh−1)(2ww−1)·heads; version 2 instead: logit_scale (heads) and the continuous position bias
//! MLP Linear(2, h) + bias h, Linear(h, heads) without bias, h = `cpb_hidden` (512).
//! Buffers: relative_position_index T·T (int64); version 2 also relative_coords_table
//! (2wh−1)(2ww−1)·2 (fp32).
//! MACs: N·P·(3C² [qkv] + T·C [Q·Kᵀ] + T·C [attn·V] + C² [proj]); version 2 adds the position
//! bias MLP, run once per forward whatever the batch: (2wh−1)(2ww−1)·(2h + h·heads) — what
//! torch's FlopCounterMode counts for torchvision's modules.
//! Other ops: the bias add and the softmax over the N·heads·P·T scores (2 per score).

use super::{Eval, Op, Parse, Saved};
use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::Error;
use crate::num::{commas, mul, sum};
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("window_attention", parse),
];

struct WindowAttention {
    num_heads: u64,
    window: [u64; 2],
    qkv_bias: bool,
    proj_bias: bool,
    version: u64,
    cpb_hidden: u64,
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    a.float("dropout")?;
    a.float("attention_dropout")?;
    let num_heads = a.require_positive("num_heads")?;
    let w = a.ntuple("window_size", 2, 1)?.ok_or_else(|| Error::missing("window_size"))?;
    let window = [w[0], w[1]];
    if let Some(s) = a.ntuple("shift_size", 2, 0)? {
        if s[0] >= window[0] || s[1] >= window[1] {
            return Err(Error::attribute_rule(format!("shift_size {}x{} must be smaller than window_size {}x{}", s[0], s[1], window[0], window[1])));
        }
    }
    let version = a.positive("version")?.unwrap_or(1);
    if version > 2 {
        return Err(Error::bad_value("version", version, "must be 1 (Swin) or 2 (Swin V2)"));
    }
    let cpb_hidden = a.positive("cpb_hidden")?;
    if cpb_hidden.is_some() && version != 2 {
        return Err(Error::attribute_rule("cpb_hidden is the width of Swin V2's position bias MLP: only with version=2"));
    }
    Ok(Box::new(WindowAttention {
        num_heads,
        window,
        qkv_bias: a.bool("qkv_bias", true)?,
        proj_bias: a.bool("proj_bias", true)?,
        version,
        cpb_hidden: cpb_hidden.unwrap_or(512),
    }))
}

impl WindowAttention {
    /// (padded tokens P, tokens per window T, relative offsets (2wh-1)(2ww-1)).
    fn sizes(&self, x: &Shape) -> Result<(u64, u64, u64), Error> {
        let [wh, ww] = self.window;
        let (h, w) = (x.dims()[1], x.dims()[2]);
        let ph = h.div_ceil(wh) * wh;
        let pw = w.div_ceil(ww) * ww;
        Ok((mul(ph, pw)?, mul(wh, ww)?, mul(2 * wh - 1, 2 * ww - 1)?))
    }
}

impl Op for WindowAttention {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        if x.rank() != 4 {
            return Err(Error::shape(format!("expects a channels-last (N, H, W, C) input, got {}-d {x}", x.rank())));
        }
        let c = x.last();
        if !c.is_multiple_of(self.num_heads) {
            return Err(Error::shape(format!("num_heads={} does not divide the {c} channels", self.num_heads)));
        }
        let (p, t, rel) = self.sizes(x)?;
        let heads = self.num_heads;
        let mut weight = sum(&[mul(3 * c, c)?, mul(c, c)?])?;
        let mut bias = (if self.qkv_bias { 3 * c } else { 0 }) + (if self.proj_bias { c } else { 0 });
        let tt = mul(t, t)?;
        let (buffers, buffer_bytes, bias_macs) = if self.version == 1 {
            weight = sum(&[weight, mul(rel, heads)?])?;
            (tt, mul(tt, 8)?, 0)
        } else {
            let h = self.cpb_hidden;
            weight = sum(&[weight, heads, mul(2, h)?, mul(h, heads)?])?;
            bias = sum(&[bias, h])?;
            let coords = mul(rel, 2)?;
            (sum(&[tt, coords])?, sum(&[mul(tt, 8)?, mul(coords, 4)?])?, mul(rel, sum(&[mul(2, h)?, mul(h, heads)?])?)?)
        };
        let per_token = sum(&[mul(4 * c, c)?, mul(2 * t, c)?])?;
        let macs = sum(&[mul(mul(x.batch(), p)?, per_token)?, bias_macs])?;
        let other_ops = mul(2, mul(mul(x.batch(), heads)?, mul(p, t)?)?)?;
        Ok(Eval { shape: *x, cost: Cost { weight_params: weight, bias_params: bias, buffers, buffer_bytes, macs, other_ops } })
    }

    fn explain(&self, inputs: &[Shape], out: &Eval) -> String {
        let x = &inputs[0];
        let c = x.last();
        let (p, t, rel) = self.sizes(x).unwrap_or((0, 0, 0));
        let table = if self.version == 1 {
            format!("bias table {rel}×{}", self.num_heads)
        } else {
            format!("logit scale {} + position MLP 2×{h} + {h} + {h}×{}", self.num_heads, self.num_heads, h = self.cpb_hidden)
        };
        format!(
            "params qkv {c}×{} + proj {c}×{c} + biases {} + {table} = {}; macs {}{p} tokens (padded to {}×{} windows) × (4×{c}×{c} + 2×{t}×{c}){} = {}",
            3 * c,
            out.cost.bias_params,
            commas(out.cost.params().unwrap_or(u64::MAX)),
            if x.batch() > 1 { format!("{} × ", x.batch()) } else { String::new() },
            self.window[0],
            self.window[1],
            if self.version == 2 { format!(" + position MLP {rel}×(2×{h} + {h}×{})", self.num_heads, h = self.cpb_hidden) } else { String::new() },
            commas(out.cost.macs)
        )
    }

    /// Training `shifted_window_attention` (version 1) keeps, of N·P tokens of C channels: the
    /// windows' contiguous copy the qkv projection reads, the scaled Q, contiguous copies of K
    /// and V for the batched matmuls, the attention probabilities (N·heads·P·T) and the copy of
    /// attn·V the out projection reads: 5·N·P·C + N·heads·P·T elements. With a single window
    /// in the whole batch (N·P = T) K and V are read in place as views of the projection, whose
    /// 3·N·P·C storage is kept instead of their copies (6·N·P·C).
    ///
    /// Version 2 (`ShiftedWindowAttentionV2`, measured with saved-tensors hooks) keeps, besides
    /// what does not grow with the batch — the position-bias MLP's hidden activations
    /// (R·`cpb_hidden`, R = (2wh−1)(2ww−1) offsets), the sigmoid of the bias table (heads·T²)
    /// and exp of the clamped logit scale (heads) —: the projection's 3·N·P·C output (Q and K
    /// are normalised views of it), normalised Q and Kᵀ (2·N·P·C), the copy of attn·V the out
    /// projection reads (N·P·C), a contiguous copy of V unless the batch holds one window
    /// (N·P·C), the windows' copy the projection reads (N·P·C) unless each sample is one
    /// unpadded window (then it reads the input in place: the input's storage), the norms of Q
    /// and K and their clamped copies (4·N·P·heads) and the scores before and after the
    /// softmax (2·N·heads·P·T).
    fn saved(&self, inputs: &[Shape], _out: &Shape) -> Result<Saved, Error> {
        let x = &inputs[0];
        let (p, t, rel) = self.sizes(x)?;
        let tokens = mul(x.batch(), p)?;
        if self.version == 2 {
            let in_place = p == t && mul(x.dims()[1], x.dims()[2])? == p;
            let copies = 6 + u64::from(tokens != t) + u64::from(!in_place);
            let heads = self.num_heads;
            let extra = sum(&[
                mul(rel, self.cpb_hidden)?,
                mul(heads, mul(t, t)?)?,
                heads,
                mul(mul(tokens, x.last())?, copies)?,
                mul(4, mul(tokens, heads)?)?,
                mul(2, mul(mul(tokens, heads)?, t)?)?,
            ])?;
            return Ok(Saved { inputs: u32::from(in_place), extra_elements: extra, ..Saved::NONE });
        }
        let copies = if tokens == t { 6 } else { 5 };
        let probs = mul(mul(tokens, self.num_heads)?, t)?;
        Ok(Saved { extra_elements: sum(&[mul(mul(tokens, x.last())?, copies)?, probs])?, ..Saved::NONE })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn swin_t_stage1_block() {
        // torchvision swin_t, features.1.0.attn: C = 96, 3 heads, window 7, on 56 x 56
        // params: qkv 96·288 + 288 = 27,936; proj 96·96 + 96 = 9,312; table 13·13·3 = 507
        let e = ok("window_attention", json!({"num_heads": 3, "window_size": 7}), &[&[1, 56, 56, 96]]);
        assert_eq!(e.shape.dims(), &[1, 56, 56, 96]);
        assert_eq!((e.cost.weight_params, e.cost.bias_params), (27_648 + 9_216 + 507, 288 + 96));
        assert_eq!(e.cost.params().unwrap(), 37_755);
        // relative_position_index: 49·49 int64
        assert_eq!((e.cost.buffers, e.cost.buffer_bytes), (2_401, 19_208));
        // 3136 tokens × (4·96² + 2·49·96) = 3136 × 46,272
        assert_eq!(e.cost.macs, 145_108_992);
        // bias add + softmax over 3 heads × 3136 × 49 scores
        assert_eq!(e.cost.other_ops, 2 * 3 * 3136 * 49);
        // the shifted block of the pair costs the same; batch 2 doubles MACs and other ops only
        let s = ok("window_attention", json!({"num_heads": 3, "window_size": [7, 7], "shift_size": [3, 3]}), &[&[2, 56, 56, 96]]);
        assert_eq!((s.cost.params().unwrap(), s.cost.buffers, s.cost.macs), (37_755, 2_401, 2 * 145_108_992));
    }

    #[test]
    fn padding_to_whole_windows() {
        // 10 x 9 with window 7: padded to 14 x 14 = 196 tokens (torchvision pads bottom/right)
        let e = ok("window_attention", json!({"num_heads": 2, "window_size": 7, "qkv_bias": false, "proj_bias": false}), &[&[1, 10, 9, 8]]);
        assert_eq!(e.shape.dims(), &[1, 10, 9, 8]);
        assert_eq!(e.cost.macs, 196 * (4 * 64 + 2 * 49 * 8));
        assert_eq!((e.cost.weight_params, e.cost.bias_params), (4 * 64 + 169 * 2, 0));
        // a non-square window: 3 x 5 on 6 x 10 (no padding), table 5·9 per head
        let e = ok("window_attention", json!({"num_heads": 1, "window_size": [3, 5]}), &[&[1, 6, 10, 4]]);
        assert_eq!(e.cost.macs, 60 * (4 * 16 + 2 * 15 * 4));
        assert_eq!(e.cost.weight_params, 4 * 16 + 45);
        assert_eq!(e.cost.buffers, 225);
    }

    #[test]
    fn swin_v2_t_stage1_block() {
        // torchvision swin_v2_t, features.1.0.attn: C = 96, 3 heads, window 8, on 64 x 64
        // params: qkv 27,936 + proj 9,312 + logit_scale 3 + cpb_mlp (2·512 + 512) + 512·3 = 40,323
        let e = ok("window_attention", json!({"num_heads": 3, "window_size": 8, "version": 2}), &[&[1, 64, 64, 96]]);
        assert_eq!(e.cost.params().unwrap(), 40_323);
        assert_eq!(e.cost.bias_params, 288 + 96 + 512);
        // buffers: index 64·64 int64 + coords table 15·15·2 fp32
        assert_eq!((e.cost.buffers, e.cost.buffer_bytes), (4_096 + 450, 32_768 + 1_800));
        // 4096 × (4·96² + 2·64·96) + the position MLP once: 225 × (2·512 + 512·3)
        assert_eq!(e.cost.macs, 201_326_592 + 576_000);
        // batch 4: the position MLP still runs once
        let b = ok("window_attention", json!({"num_heads": 3, "window_size": 8, "version": 2}), &[&[4, 64, 64, 96]]);
        assert_eq!(b.cost.macs, 4 * 201_326_592 + 576_000);
        let h = ok("window_attention", json!({"num_heads": 3, "window_size": 8, "version": 2, "cpb_hidden": 256}), &[&[1, 64, 64, 96]]);
        assert_eq!(h.cost.params().unwrap(), 37_248 + 3 + 768 + 768);
    }

    /// Bytes torch's saved-tensors hooks count for torchvision's ShiftedWindowAttentionV2 in a
    /// training forward (fp32, window 8, cpb_hidden 512, R = 15·15 offsets), the input
    /// included when it is kept in place: C 32, 2 heads on 16×16 (4 windows) 1,026,056 B; on
    /// 8×8 (one window, read in place) 618,504 B, of which the input 8,192; C 64, 4 heads,
    /// shift 4, batch 2 on 16×16: 2,656,272 B. By the rule: 4 windows, N·P·C = 8,192:
    /// 4·(115,200 + 8,192 + 2 + 8·8,192 + 4·512 + 2·32,768) = 1,026,056.
    #[test]
    fn swin_v2_saved_matches_torch() {
        use super::super::testing::{op, s};
        let bytes = |attrs, dims: &[u64]| {
            let x = s(dims);
            let saved = op("window_attention", attrs).saved(&[x], &x).unwrap();
            4 * saved.extra_elements + if saved.inputs == 1 { 4 * x.elements().unwrap() } else { 0 }
        };
        let v2 = |heads, shift| json!({"num_heads": heads, "window_size": 8, "shift_size": shift, "version": 2});
        assert_eq!(bytes(v2(2, 0), &[1, 16, 16, 32]), 1_026_056);
        assert_eq!(bytes(v2(2, 0), &[1, 8, 8, 32]), 618_504);
        assert_eq!(bytes(v2(2, 0), &[3, 8, 8, 32]), 892_936);
        assert_eq!(bytes(v2(2, 0), &[1, 12, 12, 32]), 1_026_056);
        assert_eq!(bytes(v2(4, 4), &[2, 16, 16, 64]), 2_656_272);
    }

    #[test]
    fn invalid() {
        assert!(err("window_attention", json!({"num_heads": 5, "window_size": 7}), &[&[1, 56, 56, 96]]).contains("does not divide"));
        assert!(err("window_attention", json!({"num_heads": 3, "window_size": 7}), &[&[1, 49, 96]]).contains("(N, H, W, C)"));
        assert!(err("window_attention", json!({"num_heads": 3, "window_size": 7, "shift_size": 7}), &[&[1, 56, 56, 96]]).contains("smaller"));
        assert!(err("window_attention", json!({"num_heads": 3}), &[&[1, 56, 56, 96]]).contains("window_size"));
        assert!(err("window_attention", json!({"num_heads": 3, "window_size": 7, "version": 3}), &[&[1, 56, 56, 96]]).contains("version"));
        assert!(err("window_attention", json!({"num_heads": 3, "window_size": 7, "cpb_hidden": 256}), &[&[1, 56, 56, 96]]).contains("version=2"));
    }
}
