//! Segment memo for grid sweeps.
//!
//! The instances of a program are split at the checkpoints (the first instance that reads each
//! variable) into segments. A segment's outcome — the shapes it makes, what it adds to the
//! totals, its liveness steps — is a function of the digits of the variables its own instances
//! read and of the shapes of the values made before it that it reads. In grid order the same
//! (digits, shapes) keys come back again and again: changing ResNet's `depth[2]` leaves the
//! input of `layer4` as it was, so `layer4` for every `width[3]` is already known. A hit replays
//! the segment (one checked addition per total, a copy of its shapes and steps) instead of
//! running its shape rules; a miss runs them and remembers the result. Failed segments are not
//! remembered (their messages are re-made by running them).
//!
//! The memo is a set-associative table per segment (4 ways a set; a full set overwrites one of
//! them), so its memory is bounded; tables outlive one evaluator through a pool in the [`Program`].

use super::compile::Program;
use crate::graph::SUMMED;
use crate::memory::{Step, StepKind, Tail};
use crate::shape::Shape;

/// Entries per segment: 64 × the combinations of its variables (the earlier shapes it reads
/// multiply that; a set-associative table overwrites one way of a full set), bounded. Empty
/// entries are a null pointer, so a large table costs little until it fills.
const WAYS: usize = 4;
const MIN_ENTRIES: u64 = 64;
const MAX_ENTRIES: u64 = 16384;

/// The instances split into segments, and what each segment's outcome depends on.
pub struct Segments {
    /// 0 = bounds[0] < bounds[1] < … < bounds[m] = number of instances
    pub bounds: Vec<usize>,
    /// the segment of each instance
    pub seg_of: Vec<usize>,
    /// digit positions read by each segment's instances (attributes, `when`, repeat counts)
    pub vars: Vec<Vec<usize>>,
    /// values made before each segment that its instances read
    pub ext: Vec<Vec<usize>>,
    /// sets per segment (a power of two) of WAYS entries each
    pub sets: Vec<usize>,
    /// values of each segment that a replay must restore: those read by later segments (the
    /// segment's last executed value, which may be the model's output, is restored as well)
    pub keep: Vec<Vec<usize>>,
}

impl Segments {
    /// Segments split at `cuts` (instance indices in 1..n, ascending, distinct).
    pub fn new(prog: &Program, cuts: &[usize]) -> Segments {
        let n = prog.instances.len();
        let mut bounds = vec![0];
        bounds.extend(cuts.iter().copied().filter(|&c| c > 0 && c < n));
        bounds.push(n);
        let m = bounds.len() - 1;
        let mut seg_of = vec![0; n];
        let (mut vars, mut ext, mut sets) = (Vec::with_capacity(m), Vec::with_capacity(m), Vec::with_capacity(m));
        for j in 0..m {
            let (a, b) = (bounds[j], bounds[j + 1]);
            let mut v: Vec<usize> = Vec::new();
            let mut e: Vec<usize> = Vec::new();
            for (k, inst) in prog.instances.iter().enumerate().take(b).skip(a) {
                seg_of[k] = j;
                v.extend(&inst.own_vars);
                e.extend(inst.inputs.iter().copied().filter(|&i| i <= a));
            }
            v.sort_unstable();
            v.dedup();
            e.sort_unstable();
            e.dedup();
            let combos = v.iter().fold(1u64, |acc, &x| acc.saturating_mul(prog.vars[x].choices.len() as u64));
            sets.push((combos.saturating_mul(64).clamp(MIN_ENTRIES, MAX_ENTRIES).next_power_of_two() as usize) / WAYS);
            vars.push(v);
            ext.push(e);
        }
        let keep = (0..m)
            .map(|j| {
                let (a, b) = (bounds[j], bounds[j + 1]);
                let mut k: Vec<usize> = ext[j + 1..].iter().flatten().copied().filter(|&x| x > a && x <= b).collect();
                k.sort_unstable();
                k.dedup();
                k
            })
            .collect();
        Segments { bounds, seg_of, vars, ext, sets, keep }
    }
}

/// One remembered segment outcome.
#[derive(Default)]
pub struct Entry {
    digits: Vec<u64>,
    ext: Vec<Shape>,
    /// what the segment adds to [`crate::Totals::summed`]
    pub delta: [u64; SUMMED],
    /// layers executed
    pub layers: u64,
    /// shapes of the segment's `keep` values
    pub shapes: Vec<Shape>,
    /// (kind, bytes) of instances bounds[j] .. bounds[j + 1]
    pub steps: Vec<(StepKind, u64)>,
    /// the segment's liveness summary (replays need no liveness walk)
    pub tail: Option<Tail>,
    /// the segment's last executed value and its shape
    pub last_active: Option<(usize, Shape)>,
}

/// The tables of one evaluator (taken from and returned to the program's pool).
pub struct Memo {
    /// (batch, dtype bytes) the entries were made with
    tag: (u64, u64),
    tables: Vec<Vec<Option<Box<Entry>>>>,
    /// next way to overwrite, per segment
    victim: Vec<usize>,
    pub hits: u64,
    pub misses: u64,
}

impl Memo {
    pub fn new(segs: &Segments, tag: (u64, u64)) -> Memo {
        let tables = segs
            .sets
            .iter()
            .map(|&s| {
                (0..s * WAYS).map(|_| None).collect()
            })
            .collect();
        Memo { tag, tables, victim: vec![0; segs.sets.len()], hits: 0, misses: 0 }
    }

    /// Whether tables from the pool fit these segments and options.
    pub fn fits(&self, segs: &Segments, tag: (u64, u64)) -> bool {
        self.tag == tag && self.tables.len() == segs.sets.len() && self.tables.iter().zip(&segs.sets).all(|(t, &s)| t.len() == s * WAYS)
    }

    /// First entry of the set for this key.
    #[inline]
    fn set(segs: &Segments, j: usize, digits: &[u64], values: &[Shape]) -> usize {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut h = (j as u64 + 1).wrapping_mul(K);
        for &v in &segs.vars[j] {
            h = (h.rotate_left(5) ^ digits[v]).wrapping_mul(K);
        }
        for &e in &segs.ext[j] {
            for &d in values[e].dims() {
                h = (h.rotate_left(5) ^ d).wrapping_mul(K);
            }
        }
        ((h >> 32) as usize & (segs.sets[j] - 1)) * WAYS
    }

    #[inline]
    fn matches(e: &Option<Box<Entry>>, segs: &Segments, j: usize, digits: &[u64], values: &[Shape]) -> bool {
        let Some(e) = e else { return false };
        segs.vars[j].iter().zip(&e.digits).all(|(&v, &d)| digits[v] == d) && segs.ext[j].iter().zip(&e.ext).all(|(&x, shape)| values[x] == *shape)
    }

    /// The remembered outcome of segment `j` for these digits and earlier values, if any, and
    /// its place (for [`Memo::entry`]).
    #[inline]
    pub fn lookup(&mut self, segs: &Segments, j: usize, digits: &[u64], values: &[Shape]) -> Option<(usize, &Entry)> {
        let s = Self::set(segs, j, digits, values);
        match (s..s + WAYS).find(|&i| Self::matches(&self.tables[j][i], segs, j, digits, values)) {
            Some(i) => {
                self.hits += 1;
                self.tables[j][i].as_deref().map(|e| (i, e))
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    pub fn entry(&self, j: usize, i: usize) -> Option<&Entry> {
        self.tables[j][i].as_deref()
    }

    /// Remember segment `j`'s outcome (its values and steps are in `values` and `steps`).
    /// Returns its place.
    pub fn store(&mut self, segs: &Segments, j: usize, digits: &[u64], values: &[Shape], delta: [u64; SUMMED], layers: u64, steps: &[Step]) -> usize {
        let s = Self::set(segs, j, digits, values);
        let way = match (s..s + WAYS).find(|&i| self.tables[j][i].is_none()) {
            Some(i) => i,
            None => {
                self.victim[j] = (self.victim[j] + 1) % WAYS;
                s + self.victim[j]
            }
        };
        let e = self.tables[j][way].get_or_insert_with(Default::default);
        e.digits.clear();
        e.digits.extend(segs.vars[j].iter().map(|&v| digits[v]));
        e.ext.clear();
        e.ext.extend(segs.ext[j].iter().map(|&x| values[x]));
        e.delta = delta;
        e.layers = layers;
        e.shapes.clear();
        e.shapes.extend(segs.keep[j].iter().map(|&v| values[v]));
        let (a, b) = (segs.bounds[j], segs.bounds[j + 1]);
        e.steps.clear();
        e.steps.extend(steps[a..b].iter().map(|s| (s.kind, s.bytes)));
        e.last_active = (a..b).rev().find(|&k| steps[k].kind != StepKind::Skipped).map(|k| (k + 1, values[k + 1]));
        e.tail = Tail::span(steps, a, b);
        way
    }
}
