//! Dense segment tables: variants in random order (samples, explicit ids) at table speed.
//!
//! When a program's liveness is a chain of segments (`memo.rs`; each segment reads no value
//! made before its cut but the one at the cut), a variant's summed totals are a sum over its
//! segments and its peak is a maximum over them. Each term is a function of the segment's own
//! digits and of the *state* at its cut:
//! - the shape of the value at the cut,
//! - the shape of the last executed value (the output, should no later layer run),
//! - the bytes of the storage holding the value at the cut;
//! - for the saved bytes: whether the value at the cut requires a gradient, whether an earlier
//!   layer kept its storage for the backward, and that storage's bytes.
//!
//! States are numbered per cut as they are met. Segment `j`'s table is indexed by
//! (state at cut `j`, combination of its digits) and holds what the segment adds to the totals,
//! its layers, its own peak and the state at cut `j + 1`; the input's table maps the digits the
//! input shape reads to the state at cut 0. A variant is then one read per segment: no shape
//! rule, no memo key compared, nothing hashed.
//!
//! Entries are recorded from the traces of full evaluations (`engine/evaluator/`), so a table
//! holds nothing the evaluator did not compute. A variant that meets an empty entry, or whose
//! sums overflow, is evaluated in full (its message then names the layer) and recorded. Invalid
//! variants are never recorded. Tables are bounded ([`MAX_ENTRIES`]): beyond, new states are not
//! numbered and their variants are evaluated in full.

use crate::graph::{KEPT, SUMMED};
use crate::shape::Shape;
use crate::space::compile::Program;
use crate::space::engine::memo::Segments;
use crate::space::simd;
pub(crate) use crate::space::simd::{prefetch, Link, Payload, EMPTY};
use std::collections::HashMap;

/// Bound on the combinations of one segment's digits (or the input's) for a dense table.
const MAX_COMBOS: u64 = 1 << 16;
/// Bound on the entries of a program's tables (72 bytes each: 18 MiB).
pub(crate) const MAX_ENTRIES: usize = 1 << 18;

/// Which digits index each table (fixed per program).
pub(crate) struct Layout {
    /// (variable, stride) per segment, and the number of combinations
    pub(crate) seg_vars: Vec<Vec<(usize, u32)>>,
    pub(crate) seg_size: Vec<usize>,
    input_vars: Vec<(usize, u32)>,
    input_size: usize,
    /// bound on the tables' entries
    max_entries: usize,
}

fn strides(prog: &Program, vars: &[usize]) -> Option<(Vec<(usize, u32)>, usize)> {
    let mut out = Vec::with_capacity(vars.len());
    let mut size = 1u64;
    for &v in vars.iter().rev() {
        out.push((v, size as u32));
        size = size.checked_mul(prog.vars[v].choices.len() as u64).filter(|&s| s <= MAX_COMBOS)?;
    }
    out.reverse();
    Some((out, size as usize))
}

impl Layout {
    /// The layout for these segments; None when they are no chain (a segment reads a value made
    /// before its cut), when an expression belongs to no layer (it must be evaluated per
    /// variant), or when a segment has too many digit combinations.
    pub(crate) fn new(prog: &Program, segs: &Segments, eager_exprs: bool) -> Option<Layout> {
        let m = segs.bounds.len() - 1;
        if eager_exprs || m == 0 {
            return None;
        }
        let mut seg_vars = Vec::with_capacity(m);
        let mut seg_size = Vec::with_capacity(m);
        for j in 0..m {
            if !segs.ext[j].iter().all(|&x| x == segs.bounds[j]) {
                return None;
            }
            let (v, s) = strides(prog, &segs.vars[j])?;
            seg_vars.push(v);
            seg_size.push(s);
        }
        let (input_vars, input_size) = strides(prog, &prog.input_vars)?;
        Some(Layout { seg_vars, seg_size, input_vars, input_size, max_entries: MAX_ENTRIES })
    }

    /// This layout with another bound on the tables' entries (tests).
    #[cfg(test)]
    pub(crate) fn with_max_entries(self, max_entries: usize) -> Layout {
        Layout { max_entries, ..self }
    }
}

/// The combination index of `vars`' digits for variant `b` (digits laid out variable by variable).
#[inline(always)]
fn local(vars: &[(usize, u32)], digits: &[u64], stride: usize, b: usize) -> usize {
    vars.iter().map(|&(v, s)| digits[v * stride + b] as usize * s as usize).sum()
}

/// What a full evaluation of a valid variant says per cut and per segment (`evaluator/`).
pub(crate) struct Trace {
    /// per cut 0..=m: the state's key (shape words of the cut value and of the last executed
    /// value, the bytes at the cut, then what autograd keeps of the cut value: whether it
    /// requires a gradient and its storage is kept, and its storage's bytes)
    pub(crate) keys: Vec<Vec<u64>>,
    /// per segment: what it adds to the summed totals, its layers, its own peak
    pub(crate) segs: Vec<([u64; SUMMED], u64, u64)>,
    pub(crate) input_bytes: u64,
    pub(crate) out_shape: Shape,
}

/// Variants a batch holds at most.
pub(crate) const BATCH: usize = 64;

/// A batch of variants read by [`Tables::lookup`], column by column (row `b` at index `b`).
#[derive(Default, Debug, PartialEq)]
pub(crate) struct Batch {
    /// row `b` was read (every entry recorded, no sum overflowed); `all`: every row was
    pub(crate) ok: Vec<bool>,
    pub(crate) all: bool,
    /// the summed totals rows need, in the payloads' lanes ([`LANES`]: params, trainable_params,
    /// buffers, macs, other_ops, activation_bytes, saved_bytes), the buffers' lane unpacked: its
    /// count here, its bytes in `buffer_bytes`; then each row's peak, layers and input bytes
    pub(crate) sums: [Vec<u64>; 7],
    pub(crate) buffer_bytes: Vec<u64>,
    pub(crate) peak: Vec<u64>,
    pub(crate) layers: Vec<u64>,
    pub(crate) input_bytes: Vec<u64>,
    /// the largest of each sum over the rows read (`sums`' order), then of their segments' peaks
    /// (the rows' own, the input's, left out)
    maxima: [u64; 8],
    max_buffer_bytes: u64,
    first: Vec<u32>,
    /// the state at the last cut (the output shape)
    pub(crate) state: Vec<u32>,
    pub(crate) idx: Vec<usize>,
}

impl Batch {
    /// Row `b`'s summed totals (`Totals::summed` order), if it was read.
    pub(crate) fn summed(&self, b: usize) -> Option<[u64; SUMMED]> {
        self.ok[b].then(|| spread(std::array::from_fn(|l| self.sums[l][b]), self.buffer_bytes[b]))
    }

    /// Rows `a` and `b` end in the same state (so have the same output shape).
    pub(crate) fn same_state(&self, a: usize, b: usize) -> bool {
        self.state[a] == self.state[b]
    }

    /// The largest summed totals of the batch's rows read, column by column (`Totals::summed`
    /// order).
    pub(crate) fn max_summed(&self) -> [u64; SUMMED] {
        spread(self.maxima[..7].try_into().unwrap(), self.max_buffer_bytes)
    }

    /// The largest peak of the batch's rows read, the input left out (as `peak`).
    pub(crate) fn max_peak(&self) -> u64 {
        self.maxima[7]
    }
}

/// What a payload's lanes 0..7 hold ([`KEPT`] positions of `Totals::summed`, but the buffers'
/// count and bytes share lane 2: bytes in the high half, count in the low half, each recorded
/// below [`PACKED_BOUND`] so that a variant's sum cannot carry from one half to the other), and
/// lane 7 the segment's own peak. Eight lanes are one cache line and one AVX-512 vector.
const LANES: [usize; 7] = [KEPT[0], KEPT[1], KEPT[2], KEPT[4], KEPT[5], KEPT[6], KEPT[7]];
const BUFFER_LANE: usize = 2;

/// The payload of a segment that adds `sum` (`Totals::summed`), with its own peak; None when its
/// buffers (count or bytes) are too many to share a lane over `segments` segments.
fn payload(sum: &[u64; SUMMED], peak: u64, segments: usize) -> Option<Payload> {
    let bound = PACKED_BOUND / (segments as u64 + 1);
    let (count, bytes) = (sum[KEPT[2]], sum[KEPT[3]]);
    if count >= bound || bytes >= bound {
        return None;
    }
    let mut p = Payload([0; 8]);
    for (w, &k) in p.0.iter_mut().zip(&LANES) {
        *w = sum[k];
    }
    p.0[BUFFER_LANE] = bytes << 32 | count;
    p.0[7] = peak;
    Some(p)
}

/// Bound on a variant's buffer count and bytes in a dense table (each half of a 64-bit lane).
const PACKED_BOUND: u64 = 1 << 32;

/// The lanes of a row (the buffers' lane unpacked) and its buffer bytes at their places in
/// `Totals::summed` order.
fn spread(lanes: [u64; 7], buffer_bytes: u64) -> [u64; SUMMED] {
    let mut sum = [0u64; SUMMED];
    for (k, x) in LANES.iter().zip(lanes) {
        sum[*k] = x;
    }
    sum[KEPT[3]] = buffer_bytes;
    sum
}

const NONE: Link = Link { next: EMPTY, layers: 0 };
const ZERO: Payload = Payload([0; 8]);

/// A program's tables, shared by its threads (read under a read lock, a batch at a time; the
/// traces of a batch's full evaluations recorded under the write lock).
pub(crate) struct Tables {
    /// (batch, dtype bytes) the entries were made with
    pub(crate) tag: (u64, u64),
    input: Vec<u32>,
    /// per segment, indexed by state × combinations + combination
    pub(crate) links: Vec<Vec<Link>>,
    pub(crate) payloads: Vec<Vec<Payload>>,
    /// per cut 0..=m: state keys to numbers
    states: Vec<HashMap<Vec<u64>, u32>>,
    /// per state at cut 0, per state at the last cut
    input_bytes: Vec<u64>,
    out_shape: Vec<Shape>,
    entries: usize,
    /// a state was refused: the bound is reached
    pub(crate) full: bool,
    /// variants recorded, variants read, and variants evaluated in full once the bound was
    /// reached
    pub(crate) records: u64,
    pub(crate) hits: std::sync::atomic::AtomicU64,
    pub(crate) misses_when_full: std::sync::atomic::AtomicU64,
}

/// Each read row's payloads summed (the sums in `sums`, column by column; its peak raised to
/// theirs in `peak`); a row whose sums overflow is no longer `ok`. Row `b`'s entry of segment
/// `j` is `payloads[j][idx[j * n + b]]`. Returns the largest of each lane over the rows summed
/// (lanes 0..7 the sums, lane 7 the segments' peaks, the rows' own peaks left out): the batch's
/// maxima, which rule overflow out of its finished totals.
fn sum_rows(payloads: &[Vec<Payload>], idx: &[usize], n: usize, ok: &mut [bool], sums: &mut [Vec<u64>; 7], peak: &mut [u64]) -> [u64; 8] {
    #[cfg(target_arch = "x86_64")]
    if simd::avx512() {
        // SAFETY: `avx512` is true
        return unsafe { simd::sum_rows(payloads, idx, n, ok, sums, peak) };
    }
    sum_rows_portable(payloads, idx, n, ok, sums, peak)
}

/// Row by row, lane by lane: every lane summed (overflow noted) and maximised, in registers;
/// then the sums of lanes 0..7 and the maximum of lane 7 are kept, each column written once.
#[inline(always)]
fn sum_rows_portable(
    payloads: &[Vec<Payload>],
    idx: &[usize],
    n: usize,
    ok: &mut [bool],
    sums: &mut [Vec<u64>; 7],
    peak: &mut [u64],
) -> [u64; 8] {
    let mut top = [0u64; 8];
    for b in 0..n {
        if !ok[b] {
            continue;
        }
        let (mut add, mut max, mut over) = ([0u64; 8], [0u64; 8], [false; 8]);
        for (j, pays) in payloads.iter().enumerate() {
            let p = &pays[idx[j * n + b]].0;
            for k in 0..8 {
                let s = add[k].wrapping_add(p[k]);
                over[k] |= s < p[k];
                add[k] = s;
                max[k] = max[k].max(p[k]);
            }
        }
        add[7] = max[7];
        for (col, x) in sums.iter_mut().zip(&add) {
            col[b] = *x;
        }
        for (t, x) in top.iter_mut().zip(&add) {
            *t = (*t).max(*x);
        }
        peak[b] = peak[b].max(max[7]);
        ok[b] = !over[..7].iter().any(|&o| o);
    }
    top
}

impl Tables {
    pub(crate) fn new(l: &Layout, tag: (u64, u64)) -> Tables {
        let m = l.seg_size.len();
        Tables {
            tag,
            input: vec![EMPTY; l.input_size],
            links: vec![Vec::new(); m],
            payloads: vec![Vec::new(); m],
            states: vec![HashMap::new(); m + 1],
            input_bytes: Vec::new(),
            out_shape: Vec::new(),
            entries: l.input_size,
            full: false,
            records: 0,
            hits: Default::default(),
            misses_when_full: Default::default(),
        }
    }

    /// The variants whose digits are `digits` (digit `v` of variant `b` at `v * stride + b`),
    /// each read if every entry it needs is recorded and no sum overflows, into `out`, column
    /// by column. A batch walks each variant's chain of states through the links first,
    /// prefetching the payloads, then sums them: the batch's cache misses overlap instead of
    /// queueing.
    pub(crate) fn lookup(&self, l: &Layout, digits: &[u64], stride: usize, n: usize, out: &mut Batch) {
        #[cfg(target_arch = "x86_64")]
        if simd::avx512() {
            // SAFETY: `avx512` is true; `begin` checked that `digits` holds every digit the
            // segments read
            return unsafe {
                simd::compiled_for_avx512(
                    #[inline(always)]
                    || {
                        self.begin(l, digits, stride, n, out);
                        let Batch { layers, state, idx, .. } = &mut *out;
                        simd::walk(&self.links, &self.payloads, &l.seg_size, &l.seg_vars, digits, stride, n, state, layers, idx);
                        self.finish(n, out);
                    },
                )
            };
        }
        self.lookup_portable(l, digits, stride, n, out)
    }

    #[inline(always)]
    pub(crate) fn lookup_portable(&self, l: &Layout, digits: &[u64], stride: usize, n: usize, out: &mut Batch) {
        self.begin(l, digits, stride, n, out);
        self.walk_portable(l, digits, stride, n, out);
        self.finish(n, out);
    }

    /// Each row's state at cut 0, no layers yet.
    #[inline(always)]
    pub(crate) fn begin(&self, l: &Layout, digits: &[u64], stride: usize, n: usize, out: &mut Batch) {
        let m = self.links.len();
        let Batch { layers, first, state, idx, .. } = out;
        assert!(
            digits.len() >= l.seg_vars.iter().chain([&l.input_vars]).flatten().map(|&(v, _)| v * stride + n).max().unwrap_or(0),
            "digits for every row"
        );
        first.clear();
        first.extend((0..n).map(|b| self.input[local(&l.input_vars, digits, stride, b)]));
        state.clear();
        state.extend_from_slice(first);
        layers.clear();
        layers.resize(n, 0);
        // (not cleared: every index is written before it is read)
        idx.resize(m * n, 0);
    }

    /// Row by row, per segment: the links' addresses prefetched first (a prefetch waits for
    /// nothing, so all of the batch's misses are in flight together), then the links read.
    #[inline(always)]
    fn walk_portable(&self, l: &Layout, digits: &[u64], stride: usize, n: usize, out: &mut Batch) {
        let m = self.links.len();
        let Batch { layers, state, idx, .. } = out;
        for j in 0..m {
            let (links, pays, size, vars) = (&self.links[j], &self.payloads[j], l.seg_size[j], &l.seg_vars[j]);
            // two passes: the links' addresses first, prefetched (a prefetch waits for nothing,
            // so all of the batch's misses are in flight together), then the links themselves
            let at = &mut idx[j * n..(j + 1) * n];
            // the entries' indices a vector of rows at a time (a row whose chain ended gets an
            // index that is never read)
            for (a, &s) in at.iter_mut().zip(&state[..n]) {
                *a = (s as usize).wrapping_mul(size);
            }
            for &(v, s) in vars {
                for (a, &d) in at.iter_mut().zip(&digits[v * stride..v * stride + n]) {
                    *a = a.wrapping_add(d as usize * s as usize);
                }
            }
            for b in 0..n {
                if state[b] != EMPTY {
                    if let Some(e) = links.get(at[b]) {
                        prefetch(e);
                    }
                }
            }
            for b in 0..n {
                if state[b] == EMPTY {
                    continue;
                }
                let i = at[b];
                match links.get(i) {
                    Some(e) if e.next != EMPTY => {
                        prefetch(&pays[i]);
                        state[b] = e.next;
                        layers[b] += e.layers as u64;
                    }
                    _ => state[b] = EMPTY,
                }
            }
        }
    }

    /// Rows whose chain is whole are read: their payloads summed.
    #[inline(always)]
    pub(crate) fn finish(&self, n: usize, out: &mut Batch) {
        let Batch { ok, sums, peak, input_bytes, first, state, idx, .. } = out;
        ok.clear();
        ok.extend(state.iter().map(|&s| s != EMPTY));
        input_bytes.clear();
        input_bytes.extend(first.iter().map(|&s| if s == EMPTY { 0 } else { self.input_bytes[s as usize] }));
        // the segments' peaks leave the input out (Totals::finish adds it)
        peak.clear();
        peak.resize(n, 0);
        for col in sums.iter_mut() {
            col.clear();
            col.resize(n, 0);
        }
        out.maxima = sum_rows(&self.payloads, idx, n, ok, sums, peak);
        // the buffers' lane unpacked (no half carries: `payload`)
        let (count, bytes) = (&mut out.sums[BUFFER_LANE], &mut out.buffer_bytes);
        bytes.clear();
        bytes.extend(count.iter().map(|&x| x >> 32));
        count.iter_mut().for_each(|x| *x &= u32::MAX as u64);
        out.max_buffer_bytes = out.maxima[BUFFER_LANE] >> 32;
        out.maxima[BUFFER_LANE] = out.sums[BUFFER_LANE].iter().copied().max().unwrap_or(0);
        out.all = out.ok.iter().all(|&x| x);
    }

    /// Rows of a batch read whole (for [`Tables::hits`], which callers add to now and then: an
    /// atomic every batch puts one cache line in the way of every thread).
    pub(crate) fn read(batch: &Batch) -> u64 {
        if batch.all {
            batch.ok.len() as u64
        } else {
            batch.ok.iter().filter(|&&x| x).count() as u64
        }
    }

    /// The output shape of variant `b` of a batch read from the tables.
    pub(crate) fn shape(&self, batch: &Batch, b: usize) -> &Shape {
        &self.out_shape[batch.state[b] as usize]
    }

    /// The number of the state `key` at cut `c`, numbered now if new (None beyond the bound).
    fn state(&mut self, l: &Layout, c: usize, key: &[u64]) -> Option<u32> {
        if let Some(&s) = self.states[c].get(key) {
            return Some(s);
        }
        let m = self.links.len();
        let grow = if c < m { l.seg_size[c] } else { 0 };
        if self.entries + grow > l.max_entries {
            self.full = true;
            return None;
        }
        let s = self.states[c].len() as u32;
        self.states[c].insert(key.to_vec(), s);
        if c < m {
            let n = self.links[c].len() + grow;
            self.links[c].resize(n, NONE);
            self.payloads[c].resize(n, ZERO);
            self.entries += grow;
        }
        if c == 0 {
            self.input_bytes.push(0);
        }
        if c == m {
            self.out_shape.push(Shape::new(&[1]).unwrap());
        }
        Some(s)
    }

    /// Record the trace of a full evaluation of the variant with these digits.
    pub(crate) fn record(&mut self, l: &Layout, digits: &[u64], t: &Trace) {
        let m = self.links.len();
        debug_assert!(t.keys.len() == m + 1 && t.segs.len() == m);
        let Some(mut s) = self.state(l, 0, &t.keys[0]) else { return };
        self.input_bytes[s as usize] = t.input_bytes;
        let i = local(&l.input_vars, digits, 1, 0);
        debug_assert!(self.input[i] == EMPTY || self.input[i] == s, "the input shape reads other digits than its own");
        self.input[i] = s;
        for j in 0..m {
            let Some(next) = self.state(l, j + 1, &t.keys[j + 1]) else { return };
            let (sum, layers, peak) = t.segs[j];
            let Ok(layers) = u32::try_from(layers) else { return };
            let Some(p) = payload(&sum, peak, m) else { return };
            let i = s as usize * l.seg_size[j] + local(&l.seg_vars[j], digits, 1, 0);
            let (e, o) = (&mut self.links[j][i], &mut self.payloads[j][i]);
            debug_assert!(
                e.next == EMPTY || (o.0 == p.0 && e.layers == layers && e.next == next),
                "segment {j}'s outcome reads more than its digits and the state at its cut"
            );
            *e = Link { next, layers };
            *o = p;
            s = next;
        }
        self.out_shape[s as usize] = t.out_shape;
        self.records += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batches long enough for the vector path's groups of 8 rows (transposed in registers),
    /// with rows not ok inside a group and past the last one: portable and dispatched sums, peaks,
    /// rows ok and maxima equal each other and a sum written out here, row by row.
    #[test]
    fn payload_sums_of_groups_of_rows() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let payloads: Vec<Vec<Payload>> =
            (0..5).map(|_| (0..37).map(|_| Payload(std::array::from_fn(|_| next() % 1_000_000))).collect()).collect();
        for n in [8, 16, 21, 64] {
            let idx: Vec<usize> = (0..5 * n).map(|_| (next() % 37) as usize).collect();
            let ok0: Vec<bool> = (0..n).map(|b| b != 3 && b != 17 && b != n - 1).collect();
            let peak0: Vec<u64> = (0..n).map(|_| next() % 2_000_000).collect();
            let mut results = Vec::new();
            for portable in [false, true] {
                let (mut ok, mut peak) = (ok0.clone(), peak0.clone());
                let mut sums: [Vec<u64>; 7] = Default::default();
                sums.iter_mut().for_each(|c| c.resize(n, 0));
                let maxima = if portable {
                    sum_rows_portable(&payloads, &idx, n, &mut ok, &mut sums, &mut peak)
                } else {
                    sum_rows(&payloads, &idx, n, &mut ok, &mut sums, &mut peak)
                };
                results.push((ok, peak, sums, maxima));
            }
            assert!(results[0] == results[1], "n {n}: dispatched and portable differ");
            let (ok, peak, sums, maxima) = &results[0];
            let mut want_max = [0u64; 8];
            for b in 0..n {
                assert_eq!(ok[b], ok0[b], "n {n} row {b}: no sum overflows here");
                if !ok0[b] {
                    assert!(sums.iter().all(|c| c[b] == 0) && peak[b] == peak0[b], "n {n} row {b}: not ok, left as it was");
                    continue;
                }
                let entries: Vec<&Payload> = (0..5).map(|j| &payloads[j][idx[j * n + b]]).collect();
                for k in 0..7 {
                    let sum: u64 = entries.iter().map(|p| p.0[k]).sum();
                    assert_eq!(sums[k][b], sum, "n {n} row {b} lane {k}");
                    want_max[k] = want_max[k].max(sum);
                }
                let seg_peak = entries.iter().map(|p| p.0[7]).max().unwrap();
                assert_eq!(peak[b], peak0[b].max(seg_peak), "n {n} row {b} peak");
                want_max[7] = want_max[7].max(seg_peak);
            }
            assert_eq!(*maxima, want_max, "n {n} maxima");
        }
    }

    /// Payload sums, portable and as dispatched on this CPU: sums lane by lane, the peak the
    /// largest of lane 7 and the row's own (the input's), a row whose sum overflows (in any of
    /// lanes 0..7) no longer ok, a row not ok left as it was.
    #[test]
    fn payload_sums_portable_and_dispatched() {
        let pay = |base: u64, peak: u64| Payload([base, base + 1, 0, 0, 10 * base, 1, base * base, peak]);
        let mut big = pay(1, 0);
        big.0[6] = u64::MAX - 5;
        let payloads = vec![vec![pay(1, 100), pay(2, 7)], vec![pay(3, 50), big], vec![pay(4, 1)]];
        // rows' entries per segment: (0, 0, 0), (1, 0, 0), (0, 1, 0) (lane 6: 1 + (2^64 - 6) + 16
        // overflows), (1, 1, 0) (not ok)
        let n = 4;
        let idx = [0, 1, 0, 1, /* segment 1 */ 0, 0, 1, 1, /* segment 2 */ 0, 0, 0, 0];
        for portable in [false, true] {
            let mut ok = vec![true, true, true, false];
            let mut sums: [Vec<u64>; 7] = Default::default();
            sums.iter_mut().for_each(|c| c.resize(n, 0));
            let mut peak = vec![60, 60, 60, 60];
            if portable {
                sum_rows_portable(&payloads, &idx, n, &mut ok, &mut sums, &mut peak);
            } else {
                sum_rows(&payloads, &idx, n, &mut ok, &mut sums, &mut peak);
            }
            let row = |b: usize| sums.iter().map(|c| c[b]).collect::<Vec<_>>();
            // 1 + 3 + 4; 2 + 4 + 5; 0; 0; 10 + 30 + 40; 3; 1 + 9 + 16
            assert_eq!(row(0), [8, 11, 0, 0, 80, 3, 26], "portable {portable}");
            assert_eq!(row(1), [9, 12, 0, 0, 90, 3, 29], "portable {portable}");
            assert_eq!((ok.clone(), peak.clone()), (vec![true, true, false, false], vec![100, 60, 100, 60]), "portable {portable}");
            assert_eq!(row(3), [0; 7], "a row not ok is not summed");
        }
    }
}
