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
    shift: [u64; 2],
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
    let mut shift = [0, 0];
    if let Some(s) = a.ntuple("shift_size", 2, 0)? {
        if s[0] >= window[0] || s[1] >= window[1] {
            return Err(Error::attribute_rule(format!("shift_size {}x{} must be smaller than window_size {}x{}", s[0], s[1], window[0], window[1])));
        }
        shift = [s[0], s[1]];
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
        shift,
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

/// Live bytes inside one call, for [`WindowAttention::scratch_bytes`]: allocations add, frees
/// subtract, the peak is kept.
#[derive(Default)]
struct Timeline {
    live: u64,
    peak: u64,
}

impl Timeline {
    fn alloc(&mut self, bytes: u64) -> Result<(), Error> {
        self.live = crate::num::add(self.live, bytes)?;
        self.peak = self.peak.max(self.live);
        Ok(())
    }

    /// Frees what an earlier `alloc` added (never more than is live).
    fn free(&mut self, bytes: u64) {
        self.live -= bytes;
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

    /// What torchvision's `shifted_window_attention` allocates at inference besides its output
    /// and frees before returning, followed statement by statement (the reshapes copy where
    /// torch's `reshape` cannot make a view; a variable holds its tensor until it is rebound or
    /// the function returns; a temporary dies with its expression). In the model's dtype unless
    /// said; X = N·P·C (the padded tokens), S = N·heads·P·T (the scores), B = heads·T² (the bias):
    ///
    /// * the relative position bias (the module's forward): the gathered table B, its
    ///   `permute(2, 0, 1).contiguous()` copy B (none with one head or one token per window:
    ///   already contiguous), the gather freed; version 2 first runs the position-bias MLP on the R = (2wh−1)(2ww−1)
    ///   offsets (hidden R·`cpb_hidden`, freed when its output R·heads is made, itself freed
    ///   after the gather and copy), then `16 * sigmoid(·)`: B and B, keeping the last (B held);
    /// * `F.pad` (a new X even without padding), the cyclic `roll` when shifted (X; the pad
    ///   freed), the window partition's copy X unless the permute keeps memory order (one window
    ///   per row, or windows one row high), the previous one freed; version 2 clones the qkv
    ///   bias (3C);
    /// * the qkv projection 3X (held: `qkv`); version 1: `q * scale` X (held: `q`);
    ///   version 2: for Q and K each a norm N·heads·P, its `clamp_min` copy (the norm freed),
    ///   the division X (the clamped norm freed);
    /// * the scores: contiguous copies of Q and Kᵀ (2X) unless (windows, heads) fold into one
    ///   batch dim as a view (one window in the batch, or one head), the batched matmul S, the
    ///   copies freed (version 2: the normalised Q and K too); version 2: the clamped and
    ///   exponentiated logit scale (heads each, the latter held) and `attn * scale` S (the
    ///   matmul's freed); `+ bias` S (the previous freed);
    /// * shifted: the mask: zeros P, its window copy P (zeros freed), the pairwise difference
    ///   P·T (the copy freed), `!= 0` P·T bools (1 byte), `masked_fill` P·T, `== 0` P·T bools,
    ///   `masked_fill` P·T (the first fill, the bools and the difference freed; the mask held),
    ///   `attn + mask` S (the previous freed);
    /// * softmax S (held: `attn`; the previous freed); dropout does not run at inference;
    /// * attn·V: V's contiguous copy X (same condition as Q and K), the matmul X (the copy
    ///   freed), the heads merged back: a copy X unless one head, one token per window or one
    ///   channel per head (the matmul freed); the windows (or the pad/roll storage they view)
    ///   freed as `x` is rebound;
    /// * the out projection X (the previous freed), the window reversal's copy X (same
    ///   condition as the partition), the reverse `roll` X when shifted, the unpadding copy
    ///   N·H·W·C when padded, each freeing the previous.
    ///
    /// The scratch is the highest total of these minus the output, which is the last tensor
    /// made: held besides it at the end are qkv, `q` (version 1), the softmax, the mask, the bias.
    /// Checked against torch's dispatch-mode live storages on torchvision's modules for windows
    /// of at least 2×2 (tests/test_memory_torch.py::test_window_attention_scratch_equals_torch).
    /// MaxViT's attention (`RelativePositionalMultiHeadAttention`), also written as this op, runs
    /// other code: its scratch here is Swin's. A window one token high or wide is not followed: there the partition can be a
    /// non-contiguous view, which `F.linear` copies and then adds its bias apart, and Q and K
    /// fold without copies while V does not.
    fn scratch_bytes(&self, inputs: &[Shape], out: &Shape, dtype_bytes: u64) -> Result<u64, Error> {
        let x = &inputs[0];
        let d = x.dims();
        let (n, h, w, c) = (d[0], d[1], d[2], d[3]);
        let [wh, ww] = self.window;
        let (ph, pw) = (h.div_ceil(wh) * wh, w.div_ceil(ww) * ww);
        let (p, t, rel) = self.sizes(x)?;
        let heads = self.num_heads;
        let windows = mul(n, p / t)?;
        // torchvision drops the shift along a dim one window covers
        let shifted = (ph > wh && self.shift[0] > 0) || (pw > ww && self.shift[1] > 0);
        let el = |e: u64| mul(e, dtype_bytes);
        let xb = el(mul(mul(n, p)?, c)?)?;
        let sb = el(mul(mul(mul(n, heads)?, p)?, t)?)?;
        let bias = el(mul(heads, mul(t, t)?)?)?;
        let mut m = Timeline::default();
        if self.version == 2 {
            let hidden = el(mul(rel, self.cpb_hidden)?)?;
            let table = el(mul(rel, heads)?)?;
            m.alloc(hidden)?;
            m.alloc(table)?;
            m.free(hidden);
            m.alloc(bias)?;
            if heads > 1 && t > 1 {
                m.alloc(bias)?;
                m.free(bias);
            }
            m.free(table);
            m.alloc(bias)?;
            m.alloc(bias)?;
            m.free(bias);
            m.free(bias);
        } else {
            m.alloc(bias)?;
            if heads > 1 && t > 1 {
                m.alloc(bias)?;
                m.free(bias);
            }
        }
        m.alloc(xb)?; // pad
        if shifted {
            m.alloc(xb)?;
            m.free(xb);
        }
        let partition_view = pw == ww || wh == 1;
        if !partition_view {
            m.alloc(xb)?;
            m.free(xb);
        }
        if self.version == 2 && self.qkv_bias {
            m.alloc(el(3 * c)?)?;
        }
        m.alloc(mul(3, xb)?)?;
        let fold = windows == 1 || heads == 1;
        let copy = if fold { 0 } else { xb };
        if self.version == 2 {
            let norm = el(mul(mul(n, heads)?, p)?)?;
            for _ in 0..2 {
                m.alloc(norm)?;
                m.alloc(norm)?;
                m.free(norm);
                m.alloc(xb)?;
                m.free(norm);
            }
            m.alloc(copy)?;
            m.alloc(copy)?;
            m.alloc(sb)?;
            m.free(2 * copy + 2 * xb);
            m.alloc(el(heads)?)?;
            m.alloc(el(heads)?)?;
            m.free(el(heads)?);
            m.alloc(sb)?;
            m.free(sb);
        } else {
            m.alloc(xb)?;
            m.alloc(copy)?;
            m.alloc(copy)?;
            m.alloc(sb)?;
            m.free(2 * copy);
        }
        m.alloc(sb)?;
        m.free(sb);
        if shifted {
            let (zeros, diff, bools) = (el(mul(ph, pw)?)?, el(mul(p, t)?)?, mul(p, t)?);
            m.alloc(zeros)?;
            m.alloc(zeros)?;
            m.free(zeros);
            m.alloc(diff)?;
            m.free(zeros);
            m.alloc(bools)?;
            m.alloc(diff)?;
            m.free(bools);
            m.alloc(bools)?;
            m.alloc(diff)?;
            m.free(diff + bools + diff);
            m.alloc(sb)?;
            m.free(sb);
        }
        m.alloc(sb)?; // softmax
        m.free(sb);
        m.alloc(copy)?;
        m.alloc(xb)?;
        m.free(copy);
        if !(heads == 1 || t == 1 || c == heads) {
            m.alloc(xb)?;
            m.free(xb);
        }
        m.free(xb); // the windows
        m.alloc(xb)?; // the out projection
        m.free(xb);
        if !partition_view {
            m.alloc(xb)?;
            m.free(xb);
        }
        if shifted {
            m.alloc(xb)?;
            m.free(xb);
        }
        if ph != h || pw != w {
            m.alloc(el(out.elements()?)?)?;
            m.free(xb);
        }
        Ok(m.peak.saturating_sub(el(out.elements()?)?))
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

    /// The live-storage peak inside torchvision's modules at inference, minus the output, as
    /// torch's dispatch mode measured it (fp32, tests/memory_truth.py's counting): window 7,
    /// C 96, 3 heads on 1×14×14 (4 windows): peak 670,908 B unshifted, 709,324 B with shift 3
    /// (the mask); output 75,264 B. Version 2, window 8, C 32, 2 heads, shift 4 on 1×16×16:
    /// 508,296 B, output 32,768 B (reached while the shift mask is built).
    #[test]
    fn scratch_matches_torch() {
        use super::super::testing::{op, s};
        let scratch = |attrs, dims: &[u64]| {
            let x = s(dims);
            op("window_attention", attrs).scratch_bytes(&[x], &x, 4).unwrap()
        };
        assert_eq!(scratch(json!({"num_heads": 3, "window_size": 7}), &[1, 14, 14, 96]), 670_908 - 75_264);
        assert_eq!(scratch(json!({"num_heads": 3, "window_size": 7, "shift_size": 3}), &[1, 14, 14, 96]), 709_324 - 75_264);
        let v2 = json!({"num_heads": 2, "window_size": 8, "shift_size": 4, "version": 2});
        assert_eq!(scratch(v2, &[1, 16, 16, 32]), 508_296 - 32_768);
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
