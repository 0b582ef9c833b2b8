//! Dense segment tables: variants in random order (samples, explicit ids) at table speed.
//!
//! When a program's liveness is a chain of segments (`memo.rs`; each segment reads no value
//! made before its cut but the one at the cut), a variant's summed totals are a sum over its
//! segments and its peak is a maximum over them. Each term is a function of the segment's own
//! digits and of the *state* at its cut:
//! - the shape of the value at the cut,
//! - the shape of the last executed value (the output, should no later layer run),
//! - the bytes of the storage holding the value at the cut.
//!
//! States are numbered per cut as they are met. Segment `j`'s table is indexed by
//! (state at cut `j`, combination of its digits) and holds what the segment adds to the totals,
//! its layers, its own peak and the state at cut `j + 1`; the input's table maps the digits the
//! input shape reads to the state at cut 0. A variant is then one read per segment: no shape
//! rule, no memo key compared, nothing hashed.
//!
//! Entries are recorded from the traces of full evaluations (`sweep.rs`'s evaluator), so a table
//! holds nothing the evaluator did not compute. A variant that meets an empty entry, or whose
//! sums overflow, is evaluated in full (its message then names the layer) and recorded. Invalid
//! variants are never recorded. Tables are bounded ([`MAX_ENTRIES`]): beyond, new states are not
//! numbered and their variants are evaluated in full.

use super::compile::Program;
use super::memo::Segments;
use crate::graph::{KEPT, SUMMED};
use crate::shape::Shape;
use std::collections::HashMap;

/// Bound on the combinations of one segment's digits (or the input's) for a dense table.
const MAX_COMBOS: u64 = 1 << 16;
/// Bound on the entries of a program's tables (72 bytes each: 18 MiB).
pub const MAX_ENTRIES: usize = 1 << 18;
const EMPTY: u32 = u32::MAX;

/// Which digits index each table (fixed per program).
pub struct Layout {
    /// (variable, stride) per segment, and the number of combinations
    seg_vars: Vec<Vec<(usize, u32)>>,
    seg_size: Vec<usize>,
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
    pub fn new(prog: &Program, segs: &Segments, eager_exprs: bool) -> Option<Layout> {
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
    pub fn with_max_entries(self, max_entries: usize) -> Layout {
        Layout { max_entries, ..self }
    }
}

/// The combination index of `vars`' digits for variant `b` (digits laid out variable by variable).
#[inline(always)]
fn local(vars: &[(usize, u32)], digits: &[u64], stride: usize, b: usize) -> usize {
    vars.iter().map(|&(v, s)| digits[v * stride + b] as usize * s as usize).sum()
}

/// What a full evaluation of a valid variant says per cut and per segment (`sweep.rs`).
pub struct Trace {
    /// per cut 0..=m: the state's key (shape words of the cut value and of the last executed
    /// value, then the bytes at the cut)
    pub keys: Vec<Vec<u64>>,
    /// per segment: what it adds to the summed totals, its layers, its own peak
    pub segs: Vec<([u64; SUMMED], u64, u64)>,
    pub input_bytes: u64,
    pub out_shape: Shape,
}

/// Variants a batch holds at most.
pub const BATCH: usize = 64;

/// A batch of variants read by [`Tables::lookup`], column by column (row `b` at index `b`).
#[derive(Default)]
pub struct Batch {
    /// row `b` was read (every entry recorded, no sum overflowed); `all`: every row was
    pub ok: Vec<bool>,
    pub all: bool,
    /// the summed totals rows need (params, trainable_params, buffers, buffer_bytes, macs,
    /// other_ops, activation_bytes), the peak, layers and input bytes
    pub sums: [Vec<u64>; 7],
    pub peak: Vec<u64>,
    pub layers: Vec<u64>,
    pub input_bytes: Vec<u64>,
    first: Vec<u32>,
    /// the state at the last cut (the output shape)
    state: Vec<u32>,
    idx: Vec<usize>,
}

impl Batch {
    /// Row `b`'s summed totals (`Totals::summed` order), if it was read.
    pub fn summed(&self, b: usize) -> Option<[u64; SUMMED]> {
        self.ok[b].then(|| self.spread(|col| col[b]))
    }

    /// The batch's largest summed totals, column by column (`Totals::summed` order).
    pub fn max_summed(&self) -> [u64; SUMMED] {
        self.spread(|col| col.iter().copied().max().unwrap_or(0))
    }

    /// One value of each kept column, at its place in `Totals::summed` order.
    fn spread(&self, f: impl Fn(&[u64]) -> u64) -> [u64; SUMMED] {
        let mut sum = [0u64; SUMMED];
        for (k, col) in KEPT.iter().zip(&self.sums) {
            sum[*k] = f(col);
        }
        sum
    }
}

#[inline(always)]
fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it reads nothing and cannot fault (SSE is baseline on x86_64)
    unsafe {
        std::arch::x86_64::_mm_prefetch(x as *const T as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// What a segment adds: the kept sums ([`KEPT`]) and its own peak, one cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Payload {
    sum: [u64; 7],
    peak: u64,
}

/// Where a segment leads: the state at the next cut (EMPTY: not recorded) and its layers. The
/// links are small (8 bytes an entry) and stay in cache; a variant's chain of states only waits
/// on them, and its payloads' loads overlap.
#[derive(Clone, Copy)]
struct Link {
    next: u32,
    layers: u32,
}

const NONE: Link = Link { next: EMPTY, layers: 0 };
const ZERO: Payload = Payload { sum: [0; 7], peak: 0 };

/// A program's tables, shared by its threads (read under a read lock, a batch at a time; the
/// traces of a batch's full evaluations recorded under the write lock).
pub struct Tables {
    /// (batch, dtype bytes) the entries were made with
    pub tag: (u64, u64),
    input: Vec<u32>,
    /// per segment, indexed by state × combinations + combination
    links: Vec<Vec<Link>>,
    payloads: Vec<Vec<Payload>>,
    /// per cut 0..=m: state keys to numbers
    states: Vec<HashMap<Vec<u64>, u32>>,
    /// per state at cut 0, per state at the last cut
    input_bytes: Vec<u64>,
    out_shape: Vec<Shape>,
    entries: usize,
    /// a state was refused: the bound is reached
    pub full: bool,
    /// variants recorded, variants read, and variants evaluated in full once the bound was
    /// reached
    pub records: u64,
    pub hits: std::sync::atomic::AtomicU64,
    pub misses_when_full: std::sync::atomic::AtomicU64,
}

impl Tables {
    pub fn new(l: &Layout, tag: (u64, u64)) -> Tables {
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
    pub fn lookup(&self, l: &Layout, digits: &[u64], stride: usize, n: usize, out: &mut Batch) {
        let m = self.links.len();
        let Batch { ok, sums, peak, layers, input_bytes, first, state, idx, .. } = out;
        first.clear();
        first.extend((0..n).map(|b| self.input[local(&l.input_vars, digits, stride, b)]));
        state.clear();
        state.extend_from_slice(first);
        layers.clear();
        layers.resize(n, 0);
        idx.clear();
        idx.resize(m * n, 0);
        for j in 0..m {
            let (links, pays, size, vars) = (&self.links[j], &self.payloads[j], l.seg_size[j], &l.seg_vars[j]);
            // two passes: the links' addresses first, prefetched (a prefetch waits for nothing,
            // so all of the batch's misses are in flight together), then the links themselves
            let at = &mut idx[j * n..(j + 1) * n];
            for b in 0..n {
                if state[b] != EMPTY {
                    at[b] = state[b] as usize * size + local(vars, digits, stride, b);
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
        ok.clear();
        ok.extend(state.iter().map(|&s| s != EMPTY));
        input_bytes.clear();
        input_bytes.extend(first.iter().map(|&s| if s == EMPTY { 0 } else { self.input_bytes[s as usize] }));
        peak.clear();
        peak.extend_from_slice(input_bytes);
        for col in sums.iter_mut() {
            col.clear();
            col.resize(n, 0);
        }
        let mut over = [false; BATCH];
        for j in 0..m {
            let pays = &self.payloads[j];
            for b in 0..n {
                if !ok[b] {
                    continue;
                }
                let p = &pays[idx[j * n + b]];
                for (col, x) in sums.iter_mut().zip(&p.sum) {
                    let (y, o) = col[b].overflowing_add(*x);
                    col[b] = y;
                    over[b] |= o;
                }
                peak[b] = peak[b].max(p.peak);
            }
        }
        for b in 0..n {
            ok[b] &= !over[b];
        }
        out.all = out.ok.iter().all(|&x| x);
        let read = if out.all { n } else { out.ok.iter().filter(|&&x| x).count() };
        self.hits.fetch_add(read as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// The output shape of variant `b` of a batch read from the tables.
    pub fn shape(&self, batch: &Batch, b: usize) -> &Shape {
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
    pub fn record(&mut self, l: &Layout, digits: &[u64], t: &Trace) {
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
            let p = Payload { sum: KEPT.map(|k| sum[k]), peak };
            let i = s as usize * l.seg_size[j] + local(&l.seg_vars[j], digits, 1, 0);
            let (e, o) = (&mut self.links[j][i], &mut self.payloads[j][i]);
            debug_assert!(e.next == EMPTY || (o.sum == p.sum && o.peak == p.peak && e.layers == layers && e.next == next), "segment {j}'s outcome reads more than its digits and the state at its cut");
            *e = Link { next, layers };
            *o = p;
            s = next;
        }
        self.out_shape[s as usize] = t.out_shape;
        self.records += 1;
    }
}
