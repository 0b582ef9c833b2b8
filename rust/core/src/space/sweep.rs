//! Evaluate variants of a compiled space into column buffers, in parallel (rayon), with no
//! per-variant allocation on the common path.
//!
//! Per variant: digits → variable values → derived values → constraints → per-layer shapes
//! and costs (ops come prebuilt from tables) → totals and peak liveness → the `where` filter.
//! Consecutive ids (grid order) re-evaluate only the layers whose variables changed: each
//! instance knows the highest variable it depends on, and totals are checkpointed where a
//! re-evaluation can start. The layers between two checkpoints form a segment whose outcome is
//! replayed from a memo when its key (digits it reads, earlier shapes it reads) was seen before
//! (`memo.rs`), in any order; the peak comes from the segments' liveness summaries for a chain
//! of stages, else from a walk resumed at the deepest unchanged checkpoint. In grid order, whole
//! blocks of ids that differ only in the last variables are written from suffix tables
//! (`block.rs`). Random order (samples, explicit ids in no order) reads a chain of segments'
//! outcomes from dense tables (`dense.rs`), 64 variants at a time, column by column; other
//! programs evaluate a sample's chunk in ascending id order (neighbours share leading digits)
//! and gather it back into position order. `reuse = false` turns all of this off: the
//! reference the fast paths are tested against.

use super::block::{self, Plan};
use super::compile::{build_op, OpSource, Pred, Program};
use super::dense;
use super::enumerate::{decode, decode_many, decode_many64, increment, Id, Permutation, Walk};
use super::memo::{Memo, Segments};
use super::expr::{Binding, Compiled, Value};
use crate::graph::{Options, Totals};
use crate::memory::{Chain, Liveness, Step, StepKind};
use crate::num::mul;
use crate::ops::Op;
use crate::shape::Shape;
use rayon::prelude::*;

/// Metric columns, in output order (stable names).
pub const METRICS: &[&str] = &[
    "params",
    "trainable_params",
    "buffers",
    "macs",
    "flops",
    "other_ops",
    "weight_bytes",
    "buffer_bytes",
    "activation_bytes",
    "peak_activation_bytes",
    "train_bytes",
    "num_layers",
];
const NM: usize = 12;

fn metric_values(t: &Totals, num_layers: u64) -> [u64; NM] {
    [
        t.params,
        t.trainable_params,
        t.buffers,
        t.macs,
        t.flops,
        t.other_ops,
        t.weight_bytes,
        t.buffer_bytes,
        t.activation_bytes,
        t.peak_activation_bytes,
        t.train_bytes,
        num_layers,
    ]
}

/// A value as raw 64 bits for a variable column.
#[inline]
pub(super) fn raw(v: Value) -> i64 {
    match v {
        Value::Int(i) => i,
        Value::Float(f) => f.to_bits() as i64,
        Value::Bool(b) => b as i64,
    }
}

/// Which variant ids a run covers: positions 0.. map to ids.
#[derive(Clone, Copy, Debug)]
pub enum Ids<'a> {
    /// position = id (full grid)
    Grid,
    /// position k = the k-th id of a seeded permutation (sampling without replacement)
    Sample(Permutation),
    /// position k = ids[k]
    Explicit(&'a [Id]),
}

impl Ids<'_> {
    #[inline]
    pub fn id(&self, pos: u64) -> Id {
        match self {
            Ids::Grid => pos as Id,
            Ids::Sample(p) => p.apply(pos),
            Ids::Explicit(ids) => ids[pos as usize],
        }
    }
}

/// A `where` filter over metric columns and variables, compiled once.
pub struct Filter {
    pub source: String,
    compiled: Compiled,
    /// true when the filter reads a metric (null for invalid rows: three-valued logic then)
    reads_metrics: bool,
}

impl Filter {
    pub fn new(src: &str, prog: &Program) -> Result<Filter, String> {
        let e = super::expr::parse(src.strip_prefix('=').unwrap_or(src)).map_err(|m| format!("--where: {m}"))?;
        let base = prog.num_slots();
        let resolve = |n: &str| -> Option<Binding> {
            if let Some(i) = METRICS.iter().position(|m| *m == n) {
                return Some(Binding::Slot(base + i));
            }
            if let Some(i) = prog.vars.iter().position(|v| v.name == n) {
                return Some(Binding::Slot(i));
            }
            prog.derived.iter().position(|(d, _)| d == n).map(|j| Binding::Slot(prog.vars.len() + j))
        };
        let compiled = e.compile(&resolve).map_err(|m| {
            format!("--where: {m} (columns: {}, and the variables {})", METRICS.join(", "), prog.vars.iter().map(|v| v.name.as_str()).collect::<Vec<_>>().join(", "))
        })?;
        let reads_metrics = compiled.slots().iter().any(|&s| s >= base);
        Ok(Filter { source: src.to_string(), compiled, reads_metrics })
    }

    /// The slots the filter reads.
    pub fn slots(&self) -> Vec<usize> {
        self.compiled.slots()
    }
}

#[derive(Clone, Copy, Debug)]
pub struct SweepOptions {
    pub model: Options,
}

/// Result columns of one evaluated range, in position order.
#[derive(Default)]
pub struct Columns {
    /// the low 64 bits of each row's id (the id itself in a space below 2^64)
    pub variant_id: Vec<u64>,
    /// the high 64 bits, for a space beyond 2^64 only (else empty)
    pub variant_id_hi: Vec<u64>,
    pub wide: bool,
    /// one column per primary variable: its value as raw 64 bits (ints as i64, floats as their
    /// IEEE bits, booleans as 0/1; the variable's choices say which) — 8 bytes a row
    pub vars: Vec<Vec<i64>>,
    pub valid: Vec<bool>,
    /// (row, message) of the invalid rows, in row order
    pub errors: Vec<(usize, String)>,
    /// one column per entry of METRICS; 0 where the row is invalid (null in Arrow)
    pub metrics: Vec<Vec<u64>>,
    /// output shapes as Arrow large-list offsets/values (batch included); empty for invalid rows
    pub shape_offsets: Vec<i64>,
    pub shape_values: Vec<u64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub evaluated: u64,
    pub kept: u64,
    pub invalid: u64,
    pub rejected_by_constraints: u64,
    pub filtered_out: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.evaluated += o.evaluated;
        self.kept += o.kept;
        self.invalid += o.invalid;
        self.rejected_by_constraints += o.rejected_by_constraints;
        self.filtered_out += o.filtered_out;
    }
}

impl Columns {
    fn new(prog: &Program, rows: usize) -> Columns {
        let nvars = prog.vars.len();
        let wide = prog.wide_ids();
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        // (not vec![v; n]: cloning a Vec does not keep its capacity)
        Columns {
            variant_id: Vec::with_capacity(rows),
            variant_id_hi: Vec::with_capacity(if wide { rows } else { 0 }),
            wide,
            vars: (0..nvars).map(|_| Vec::with_capacity(rows)).collect(),
            valid: Vec::with_capacity(rows),
            errors: Vec::new(),
            metrics: (0..NM).map(|_| Vec::with_capacity(rows)).collect(),
            shape_offsets: offsets,
            shape_values: Vec::with_capacity(rows * 2),
        }
    }

    pub fn len(&self) -> usize {
        self.variant_id.len()
    }

    /// The error message of row `r`, if it is invalid.
    pub fn error(&self, r: usize) -> Option<&str> {
        self.errors.binary_search_by_key(&r, |(row, _)| *row).ok().map(|i| self.errors[i].1.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.variant_id.is_empty()
    }

    /// The id of row `r`.
    pub fn id(&self, r: usize) -> Id {
        self.variant_id[r] as Id | (self.variant_id_hi.get(r).copied().unwrap_or(0) as Id) << 64
    }

    /// Append row `r` of `src`.
    fn push_row(&mut self, src: &Columns, r: usize) {
        self.push_id(src.id(r));
        for (o, c) in self.vars.iter_mut().zip(&src.vars) {
            o.push(c[r]);
        }
        if !src.valid[r] {
            self.errors.push((self.valid.len(), src.error(r).unwrap_or_default().to_string()));
        }
        self.valid.push(src.valid[r]);
        for (o, c) in self.metrics.iter_mut().zip(&src.metrics) {
            o.push(c[r]);
        }
        let (a, b) = (src.shape_offsets[r] as usize, src.shape_offsets[r + 1] as usize);
        self.shape_values.extend_from_slice(&src.shape_values[a..b]);
        self.shape_offsets.push(self.shape_values.len() as i64);
    }

    #[inline]
    fn push_id(&mut self, id: Id) {
        self.variant_id.push(id as u64);
        if self.wide {
            self.variant_id_hi.push((id >> 64) as u64);
        }
    }

    fn clear(&mut self) {
        self.variant_id.clear();
        self.variant_id_hi.clear();
        self.vars.iter_mut().for_each(Vec::clear);
        self.valid.clear();
        self.errors.clear();
        self.metrics.iter_mut().for_each(Vec::clear);
        self.shape_offsets.truncate(1);
        self.shape_values.clear();
    }

    fn append(&mut self, mut o: Columns) {
        self.variant_id.append(&mut o.variant_id);
        self.variant_id_hi.append(&mut o.variant_id_hi);
        for (a, b) in self.vars.iter_mut().zip(o.vars.iter_mut()) {
            a.append(b);
        }
        let rows = self.valid.len();
        self.valid.append(&mut o.valid);
        self.errors.extend(o.errors.drain(..).map(|(r, e)| (r + rows, e)));
        for (a, b) in self.metrics.iter_mut().zip(o.metrics.iter_mut()) {
            a.append(b);
        }
        let base = *self.shape_offsets.last().unwrap();
        self.shape_offsets.extend(o.shape_offsets[1..].iter().map(|x| x + base));
        self.shape_values.append(&mut o.shape_values);
    }
}

enum Outcome {
    Rejected,
    Invalid(String),
    Valid,
}

/// Per-thread evaluation state; reused across the variants of a range.
struct Evaluator<'p> {
    prog: &'p Program,
    opts: Options,
    radix: Vec<u64>,
    /// first instance whose result depends on variable position >= p, for p in 0..=P
    first_dirty: Vec<usize>,
    /// instances where a re-evaluation can start: totals are saved before them
    is_checkpoint: Vec<bool>,
    digits: Vec<u64>,
    /// the digits before a jump (`seek`)
    prev_digits: Vec<u64>,
    slots: Vec<Value>,
    exprs: Vec<Value>,
    values: Vec<Shape>,
    steps: Vec<Step<'p>>,
    saved: Vec<Totals>,
    saved_layers: Vec<u64>,
    running: Totals,
    num_layers: u64,
    /// instances [0, valid_upto) hold results for the current digits
    valid_upto: usize,
    have_digits: bool,
    /// derived values hold for the current digits
    exprs_valid: bool,
    /// count/`when` expression values: all stale, or those reading variable positions >= this
    exprs_all_stale: bool,
    expr_dirty: usize,
    /// some expression belongs to no instance (so no segment would bring it up to date)
    eager_exprs: bool,
    /// ids come in increasing runs (grid order), so checkpoints and digit increments pay off
    sequential: bool,
    last_id: Id,
    liveness: Liveness,
    /// liveness cuts (grid order only): the checkpoints, as value indices; values 0..=c are
    /// made by the instances before checkpoint c, which a change of later digits leaves alone
    cuts: Vec<usize>,
    /// values 0..=live_valid are unchanged since the last liveness walk
    live_valid: usize,
    /// grid order only: the instances split at the checkpoints, and remembered segment outcomes
    segs: Option<Segments>,
    memo: Option<Memo>,
    /// the memo entry (segment, place) this variant's last segment was replayed from
    replayed_last: Option<(usize, usize)>,
    /// per segment, the place of the memo entry holding its current outcome
    seg_way: Vec<usize>,
    /// liveness chain states before each segment (and after the last); those before segments
    /// [0, chain_valid] hold for the segments' current outcomes
    chain: Vec<Chain>,
    chain_valid: usize,
    inputs: Vec<Shape>,
    totals: Totals,
    out_shape: Shape,
    /// the last Valid outcome took its peak from the chain summaries
    peak_from_chain: bool,
    /// the last variant evaluated was valid (kept by a filter or not)
    last_valid: bool,
    /// block rows before a filter sees them
    scratch: Option<Columns>,
    /// grid order: how blocks of consecutive ids are written from suffix tables (`block.rs`)
    plan: Option<Plan>,
    key: Vec<u64>,
}

impl Drop for Evaluator<'_> {
    fn drop(&mut self) {
        // the next evaluator of this program starts with what this one learnt
        if let (Some(m), Ok(mut pool)) = (self.memo.take(), self.prog.memo_pool.lock()) {
            if pool.len() < rayon::current_num_threads().max(1) * 2 {
                pool.push(m);
            }
        }
    }
}

impl<'p> Evaluator<'p> {
    fn new(prog: &'p Program, opts: Options, sequential: bool, memo: bool) -> Evaluator<'p> {
        let nvar = prog.vars.len();
        let n = prog.instances.len();
        let mut first_dirty = vec![n; nvar + 1];
        for p in 0..=nvar {
            first_dirty[p] = prog.instances.iter().position(|i| i.max_var.map_or(false, |m| m >= p)).unwrap_or(n);
        }
        // checkpoints only pay off when consecutive variants share leading digits (grid order)
        let mut is_checkpoint = vec![false; n + 1];
        if sequential {
            for &k in &first_dirty {
                is_checkpoint[k] = true;
            }
        }
        is_checkpoint[0] = true;
        let steps = prog.instances.iter().map(|i| Step { kind: StepKind::Skipped, bytes: 0, reads: &i.inputs }).collect();
        let mut cuts: Vec<usize> = first_dirty.iter().copied().filter(|&c| c >= 1 && c < n).collect();
        cuts.sort_unstable();
        cuts.dedup();
        // segments serve any order (a random sample revisits a stage's few (digits, input)
        // keys too); resumed liveness walks only grid order
        let segs = memo.then(|| Segments::new(prog, &cuts));
        if !sequential || !memo {
            cuts.clear();
        }
        let tag = (opts.batch, opts.dtype.bytes());
        let memo = segs.as_ref().map(|sg| {
            let pooled = prog.memo_pool.lock().ok().and_then(|mut pool| pool.pop());
            match pooled {
                Some(m) if m.fits(sg, tag) => m,
                _ => Memo::new(sg, tag),
            }
        });
        if let Some(sg) = &segs {
            // segments start at checkpoints: totals are saved there
            for &b in &sg.bounds {
                is_checkpoint[b] = true;
            }
        }
        let eager_exprs = {
            let mut used = vec![false; prog.exprs.len()];
            for p in prog.instances.iter().flat_map(|i| &i.preds) {
                match *p {
                    Pred::Truthy(e) | Pred::Greater(e, _) => used[e] = true,
                }
            }
            used.contains(&false)
        };
        let plan = match (&segs, sequential) {
            (Some(sg), true) => Plan::new(prog, sg, &first_dirty, eager_exprs, raw),
            _ => None,
        };
        Evaluator {
            prog,
            opts,
            radix: prog.radix(),
            first_dirty,
            is_checkpoint,
            digits: vec![0; nvar],
            prev_digits: vec![0; nvar],
            slots: vec![Value::Int(0); prog.num_slots() + NM],
            exprs: vec![Value::Int(0); prog.exprs.len()],
            values: vec![Shape::new(&[1]).unwrap(); n + 1],
            steps,
            saved: vec![Totals::default(); n + 1],
            saved_layers: vec![0; n + 1],
            running: Totals::default(),
            num_layers: 0,
            valid_upto: 0,
            have_digits: false,
            exprs_valid: false,
            exprs_all_stale: true,
            expr_dirty: 0,
            eager_exprs,
            sequential,
            last_id: 0,
            liveness: Liveness::default(),
            cuts,
            live_valid: 0,
            segs,
            memo,
            replayed_last: None,
            seg_way: vec![0; prog.instances.len() + 1],
            chain: vec![Chain::default(); prog.instances.len() + 2],
            chain_valid: 0,
            inputs: Vec::with_capacity(8),
            totals: Totals::default(),
            out_shape: Shape::new(&[1]).unwrap(),
            peak_from_chain: false,
            last_valid: false,
            scratch: None,
            plan,
            key: Vec::new(),
        }
    }

    /// Set the digits for `id`; returns the leftmost variable position that changed.
    fn seek(&mut self, id: Id) -> usize {
        let p = if !self.sequential {
            decode(id, &self.radix, &mut self.digits);
            0
        } else if self.have_digits && id == self.last_id.wrapping_add(1) {
            increment(&mut self.digits, &self.radix)
        } else if self.have_digits && id == self.last_id {
            self.radix.len()
        } else if self.have_digits {
            // a jump (the next block, the next sorted sample): only the digits that differ make
            // results stale
            std::mem::swap(&mut self.digits, &mut self.prev_digits);
            decode(id, &self.radix, &mut self.digits);
            self.prev_digits.iter().zip(&self.digits).position(|(a, b)| a != b).unwrap_or(self.radix.len())
        } else {
            decode(id, &self.radix, &mut self.digits);
            0
        };
        self.have_digits = true;
        self.last_id = id;
        for v in p..self.radix.len() {
            self.slots[v] = self.prog.vars[v].choices[self.digits[v] as usize];
        }
        p
    }

    fn eval(&mut self, id: Id) -> Outcome {
        let prog = self.prog;
        let nvar = prog.vars.len();
        let p = self.seek(id);
        // results of instances that read a changed variable are stale from here on
        self.valid_upto = self.valid_upto.min(self.first_dirty[p]);
        // derived and count/when values only change when a variable they read changed
        let fresh = |m: &Option<usize>| p == 0 || m.map_or(false, |m| m >= p);
        let all = !self.exprs_valid;
        self.exprs_valid = false;
        for (j, (name, d)) in prog.derived.iter().enumerate() {
            if !all && !fresh(&prog.derived_deps[j].last().copied()) {
                continue;
            }
            match d.eval(&self.slots) {
                Ok(v) => self.slots[nvar + j] = v,
                Err(e) => {
                    self.valid_upto = 0;
                    return Outcome::Invalid(format!("derived variable '{name}': {e}"));
                }
            }
        }
        self.exprs_valid = true;
        // count/`when` expressions are brought up to date lazily: a replayed segment needs none
        if all || p == 0 {
            self.exprs_all_stale = true;
        }
        self.expr_dirty = self.expr_dirty.min(p);
        for (src, c) in &prog.constraints {
            match c.eval(&self.slots) {
                Ok(v) if v.truthy() => {}
                Ok(_) => return Outcome::Rejected,
                Err(e) => return Outcome::Invalid(format!("constraint '{src}': {e}")),
            }
        }
        let n = prog.instances.len();
        self.replayed_last = None;
        let mut start = self.valid_upto;
        if let Some(sg) = &self.segs {
            // a segment is replayed or run whole: start at its beginning (a checkpoint)
            if start < n {
                start = sg.bounds[sg.seg_of[start]];
            }
        }
        self.live_valid = self.live_valid.min(start);
        // With segments, expressions wait for the first segment that runs: a replayed one
        // evaluated its own without error for these digits. A fresh evaluation reports an
        // expression's error before an input shape's, so a bad input shape checks them first.
        if self.segs.is_none() || self.eager_exprs {
            if let Err(m) = self.refresh_exprs() {
                self.valid_upto = 0;
                return Outcome::Invalid(m);
            }
        }
        if start == 0 {
            // the input shape
            let mut dims = [0u64; crate::shape::MAX_RANK];
            dims[0] = self.opts.batch;
            let mut bad = None;
            if prog.input.len() + 1 > crate::shape::MAX_RANK {
                bad = Some("input rank too large".to_string());
            } else {
                for (i, a) in prog.input.iter().enumerate() {
                    match a.eval_u64(&self.slots).filter(|&d| d > 0) {
                        Some(d) => dims[i + 1] = d,
                        None => {
                            bad = Some(format!("input dim {i} is not a positive integer"));
                            break;
                        }
                    }
                }
            }
            if let Some(m) = bad {
                self.valid_upto = 0;
                return Outcome::Invalid(self.refresh_exprs().err().unwrap_or(m));
            }
            self.values[0] = Shape::new(&dims[..prog.input.len() + 1]).unwrap();
            self.running = Totals::default();
            self.num_layers = 0;
        } else {
            self.running = self.saved[start].clone();
            self.num_layers = self.saved_layers[start];
        }
        let dt = self.opts.dtype.bytes();
        if self.segs.is_none() {
            for k in start..n {
                if self.is_checkpoint[k] {
                    self.saved[k] = self.running.clone();
                    self.saved_layers[k] = self.num_layers;
                }
                if let Err(e) = self.step(k, dt) {
                    self.valid_upto = k;
                    return Outcome::Invalid(e);
                }
            }
        } else {
            let segs = self.segs.take().unwrap();
            let outcome = self.run_segments(&segs, start, dt);
            self.segs = Some(segs);
            if let Some(o) = outcome {
                return o;
            }
        }
        if self.is_checkpoint[n] {
            self.saved[n] = self.running.clone();
            self.saved_layers[n] = self.num_layers;
        }
        self.valid_upto = n;
        if self.num_layers == 0 {
            return Outcome::Invalid("no layer is switched on in this variant".into());
        }
        let last = (0..n).rev().find(|&k| self.steps[k].kind != StepKind::Skipped).unwrap();
        self.out_shape = self.values[last + 1];
        let mut finish = || -> Result<Totals, String> {
            let input_bytes = mul(self.values[0].numel()?, dt)?;
            // a chain of stages: the segments' summaries give the peak without a walk; the
            // states before unchanged segments are kept from the previous variant
            let chain = match (&self.segs, &self.memo) {
                (Some(sg), Some(m)) => {
                    let nseg = sg.bounds.len() - 1;
                    self.chain[0] = Chain::start(input_bytes);
                    let mut ok = true;
                    for j in self.chain_valid..nseg {
                        match m.entry(sg, j, self.seg_way[j]).and_then(|e| e.tail()).and_then(|t| self.chain[j].then(t)) {
                            Some(next) => self.chain[j + 1] = next,
                            None => {
                                ok = false;
                                break;
                            }
                        }
                    }
                    self.chain_valid = if ok { nseg } else { 0 };
                    ok.then(|| self.chain[nseg].peak)
                }
                _ => None,
            };
            self.peak_from_chain = chain.is_some();
            let peak = if let Some(p) = chain {
                // (the walk's remembered cuts did not see this variant)
                self.live_valid = 0;
                p
            } else if !self.cuts.is_empty() {
                // resume from the deepest cut whose values are unchanged
                let resume = self.cuts.iter().rposition(|&c| c <= self.live_valid);
                // only the replayed last segment changed: its summary gives the peak unwalked
                let tail = match (resume, self.replayed_last, &self.memo, &self.segs) {
                    (Some(r), Some((j, way)), Some(m), Some(sg)) if r + 1 == self.cuts.len() => m.entry(sg, j, way).and_then(|e| e.tail()),
                    _ => None,
                };
                let walked = match tail.and_then(|t| self.liveness.peak_tail(input_bytes, &self.steps, t)) {
                    Some(p) => Ok(p),
                    None => self.liveness.peak_cuts(input_bytes, &self.steps, &self.cuts, resume),
                };
                // a walk that stopped half-way leaves its remembered cuts half-updated
                self.live_valid = if walked.is_ok() { n } else { 0 };
                walked?
            } else {
                self.liveness.peak(input_bytes, &self.steps)?
            };
            let mut t = self.running.clone();
            t.finish(input_bytes, peak, &self.opts)?;
            Ok(t)
        };
        match finish() {
            Ok(t) => {
                self.totals = t;
                Outcome::Valid
            }
            Err(e) => Outcome::Invalid(format!("totals: {e}")),
        }
    }

    /// Segments from the one holding `start` to the end: replayed from the memo when their
    /// digits and earlier shapes were seen before, run (and remembered) otherwise. Some(outcome)
    /// when an instance fails.
    fn run_segments(&mut self, segs: &Segments, start: usize, dt: u64) -> Option<Outcome> {
        let n = self.prog.instances.len();
        if start >= n {
            return None;
        }
        let last = segs.bounds.len() - 2;
        // the chain states after a segment that changes must be made again
        self.chain_valid = self.chain_valid.min(segs.seg_of[start]);
        for j in segs.seg_of[start]..=last {
            let (a, b) = (segs.bounds[j], segs.bounds[j + 1]);
            self.saved[a] = self.running.clone();
            self.saved_layers[a] = self.num_layers;
            let memo = self.memo.as_mut().unwrap();
            if let Some(way) = memo.lookup(segs, j, &self.digits, &self.values) {
                let e = memo.entry(segs, j, way).unwrap();
                let mut replayed = self.running.clone();
                // an overflow is left to the instances, whose message names the layer
                if replayed.add_summed(e.delta()) {
                    self.running = replayed;
                    self.num_layers += e.layers();
                    for (&v, shape) in segs.keep[j].iter().zip(e.keep()) {
                        self.values[v] = shape;
                    }
                    if let Some((v, shape)) = e.last_active() {
                        self.values[v] = shape;
                    }
                    for (st, (kind, bytes)) in self.steps[a..b].iter_mut().zip(e.steps()) {
                        st.kind = kind;
                        st.bytes = bytes;
                    }
                    if j == last {
                        self.replayed_last = Some((j, way));
                    }
                    self.seg_way[j] = way;
                    continue;
                }
            }
            // a replayed segment's expressions evaluated without error for these digits before;
            // the first segment run brings all of them up to date
            if let Err(m) = self.refresh_exprs() {
                self.valid_upto = a;
                return Some(Outcome::Invalid(m));
            }
            let before = self.running.summed();
            let layers_before = self.num_layers;
            for k in a..b {
                if let Err(e) = self.step(k, dt) {
                    self.valid_upto = k;
                    return Some(Outcome::Invalid(e));
                }
            }
            let after = self.running.summed();
            let delta = std::array::from_fn(|i| after[i] - before[i]);
            self.seg_way[j] = self.memo.as_mut().unwrap().store(segs, j, &self.digits, &self.values, delta, self.num_layers - layers_before, &self.steps);
        }
        None
    }

    /// Evaluate the count/`when` expressions that read a variable changed since they were last
    /// evaluated (errors come in expression order, as for a fresh evaluation).
    fn refresh_exprs(&mut self) -> Result<(), String> {
        let prog = self.prog;
        if !self.exprs_all_stale && self.expr_dirty >= prog.vars.len() {
            return Ok(());
        }
        for (i, e) in prog.exprs.iter().enumerate() {
            if !self.exprs_all_stale && !prog.expr_max_var[i].is_some_and(|m| m >= self.expr_dirty) {
                continue;
            }
            self.exprs[i] = e.eval(&self.slots)?;
        }
        self.exprs_all_stale = false;
        self.expr_dirty = prog.vars.len();
        Ok(())
    }

    /// Run instance `k`: its shape rule and costs into the running totals, its value and step.
    fn step(&mut self, k: usize, dt: u64) -> Result<(), String> {
        let inst = &self.prog.instances[k];
        let active = inst.preds.iter().all(|p| match *p {
            Pred::Truthy(e) => self.exprs[e].truthy(),
            Pred::Greater(e, r) => matches!(self.exprs[e], Value::Int(c) if c > r),
        });
        if !active {
            self.values[k + 1] = self.values[inst.inputs[0]];
            self.steps[k].kind = StepKind::Skipped;
            self.steps[k].bytes = 0;
            return Ok(());
        }
        let fail = |e: String| format!("{} ({}): {e}", inst.name, inst.op_name);
        let built: Box<dyn Op>;
        let op: &dyn Op = match &inst.op {
            OpSource::Const(op) => op.as_ref(),
            OpSource::Table { vars, strides, ops } => {
                let idx: u64 = vars.iter().zip(strides).map(|(&v, &s)| self.digits[v] * s).sum();
                ops[idx as usize].as_ref().map_err(|e| fail(e.clone()))?.as_ref()
            }
            OpSource::Dynamic => {
                built = build_op(&inst.op_name, &inst.attrs, &self.slots).map_err(fail)?;
                built.as_ref()
            }
        };
        let (lo, hi) = op.arity();
        if inst.inputs.len() < lo || inst.inputs.len() > hi {
            return Err(fail(format!("takes {lo} to {hi} inputs, got {}", inst.inputs.len())));
        }
        self.inputs.clear();
        for &i in &inst.inputs {
            self.inputs.push(self.values[i]);
        }
        let view = op.aliases_input();
        let ev = op.eval(&self.inputs).map_err(fail)?;
        let amounts = ev.shape.numel().and_then(|numel| self.running.add_layer(&ev.cost, inst.trainable, numel, view, dt)).map_err(fail)?;
        self.values[k + 1] = ev.shape;
        self.steps[k].kind = if view { StepKind::Alias } else { StepKind::Own };
        self.steps[k].bytes = amounts.activation_bytes;
        self.num_layers += 1;
        Ok(())
    }

    fn run(&mut self, ids: Ids, positions: std::ops::Range<u64>, filter: Option<&Filter>, out: &mut Columns, counts: &mut Counts) {
        let mut pos = positions.start;
        let filter_fits = filter.is_none_or(|f| block::filter_fits(f.slots(), self.prog));
        while pos < positions.end {
            // grid order: whole blocks at once
            let len = match (&self.plan, ids) {
                (Some(p), Ids::Grid) if filter_fits && pos % p.len == 0 && pos + p.len <= positions.end => p.len,
                _ => 0,
            };
            if len > 0 {
                self.run_block(pos, filter, out, counts);
                pos += len;
            } else {
                self.run_one(ids.id(pos), filter, out, counts);
                pos += 1;
            }
        }
    }

    /// One block of grid ids from `first` (`block.rs`): its first row evaluated, the others
    /// written from the suffix table of its key, or evaluated (and recorded) one by one.
    fn run_block(&mut self, first: u64, filter: Option<&Filter>, out: &mut Columns, counts: &mut Counts) {
        let plan = self.plan.take().unwrap();
        let len = plan.len as usize;
        let mut next = 1;
        self.run_one(first as Id, filter, out, counts);
        if self.last_valid && self.peak_from_chain {
            let chain = self.chain[plan.seg0];
            plan.key(&self.digits, &self.values, chain.cur(), &mut self.key);
            let memo = self.memo.as_mut().unwrap();
            let dt = self.opts.dtype.bytes();
            match memo.blocks.get(&self.key) {
                Some(t) if t.complete(plan.len) => {
                    let input_bytes = self.values[0].numel().ok().and_then(|n| n.checked_mul(dt));
                    if let Some(input_bytes) = input_bytes {
                        let prefix = block::Prefix { totals: &self.saved[plan.cut], layers: self.saved_layers[plan.cut], peak: chain.peak, input_bytes, opts: &self.opts };
                        if block::fits(t, &prefix) {
                            counts.evaluated += len as u64 - 1;
                            match filter {
                                None => {
                                    emit(t, &plan, &prefix, first, &self.slots, out);
                                    counts.kept += len as u64 - 1;
                                }
                                Some(f) => {
                                    let mut scratch = self.scratch.take().unwrap_or_else(|| Columns::new(self.prog, len));
                                    scratch.clear();
                                    emit(t, &plan, &prefix, first, &self.slots, &mut scratch);
                                    let prog = self.prog;
                                    filter_valid(&scratch, f, prog, &mut self.slots, out, counts, |r, slots| {
                                        // (the prefix variables' slots already hold this block's values)
                                        let k = scratch.variant_id[r] - first;
                                        for v in plan.q..prog.vars.len() {
                                            let radix = prog.vars[v].choices.len() as u64;
                                            slots[v] = prog.vars[v].choices[((k / plan.strides[v - plan.q]) % radix) as usize];
                                        }
                                    });
                                    // the suffix variables' slots back to the current digits
                                    for v in plan.q..self.prog.vars.len() {
                                        self.slots[v] = self.prog.vars[v].choices[self.digits[v] as usize];
                                    }
                                    self.scratch = Some(scratch);
                                }
                            }
                            memo.blocks.blocks += 1;
                            next = len;
                        }
                    }
                }
                Some(_) => {}
                None => {
                    // the first block with this key: evaluate it row by row and record it
                    memo.blocks.start(&self.key, len);
                    for r in 0..len {
                        if r > 0 && !({
                            self.run_one((first + r as u64) as Id, filter, out, counts);
                            self.last_valid && self.peak_from_chain
                        }) {
                            self.memo.as_mut().unwrap().blocks.get_mut(&self.key).unwrap().poisoned = true;
                            next = r + 1;
                            break;
                        }
                        let outcome = self.suffix_outcome(&plan);
                        let t = self.memo.as_mut().unwrap().blocks.get_mut(&self.key).unwrap();
                        match outcome {
                            Some((delta, layers, peak, shape)) => t.record(r, &delta, layers, peak, shape),
                            None => t.poisoned = true,
                        }
                        next = r + 1;
                    }
                }
            }
        }
        for r in next..len {
            self.run_one((first + r as u64) as Id, filter, out, counts);
        }
        self.plan = Some(plan);
    }

    /// What the instances from the plan's cut on did for the current (valid) variant: their
    /// summed totals, layers, own peak (walked from the storage at the cut) and the output
    /// shape; None if the output is made before the cut or a chain step fails.
    fn suffix_outcome(&self, plan: &Plan) -> Option<([u64; crate::graph::SUMMED], u64, u64, Shape)> {
        let (base, now) = (self.saved[plan.cut].summed(), self.running.summed());
        let delta = std::array::from_fn(|i| now[i] - base[i]);
        let layers = self.num_layers - self.saved_layers[plan.cut];
        if layers == 0 {
            return None;
        }
        let (segs, memo) = (self.segs.as_ref()?, self.memo.as_ref()?);
        let mut c = self.chain[plan.seg0].restarted();
        for j in plan.seg0..segs.bounds.len() - 1 {
            c = c.then(memo.entry(segs, j, self.seg_way[j])?.tail()?)?;
        }
        Some((delta, layers, c.peak, self.out_shape))
    }

    /// Evaluate `id` and write its row (unless rejected or filtered out); true if it is a
    /// valid row.
    fn run_one(&mut self, id: Id, filter: Option<&Filter>, out: &mut Columns, counts: &mut Counts) -> bool {
        counts.evaluated += 1;
        let outcome = self.eval(id);
        self.last_valid = matches!(outcome, Outcome::Valid);
        let error = match outcome {
            Outcome::Rejected => {
                counts.rejected_by_constraints += 1;
                return false;
            }
            Outcome::Invalid(e) => Some(e),
            Outcome::Valid => None,
        };
        let metrics = if error.is_none() { metric_values(&self.totals, self.num_layers) } else { [0; NM] };
        write_row(self.prog, id, error, &metrics, &self.out_shape, filter, &mut self.slots, out, counts)
    }

    /// The next evaluation runs every segment (so that [`Evaluator::trace`] can read them all).
    fn forget(&mut self) {
        self.valid_upto = 0;
    }

    /// What the last evaluation (a valid variant, every segment run or replayed in it, the peak
    /// from the chain) did per cut and per segment: what dense tables record (`dense.rs`).
    fn trace(&self) -> Option<dense::Trace> {
        let (segs, memo) = (self.segs.as_ref()?, self.memo.as_ref()?);
        let (m, n) = (segs.bounds.len() - 1, self.prog.instances.len());
        let input_bytes = self.values[0].numel().ok()?.checked_mul(self.opts.dtype.bytes())?;
        let (mut keys, mut seg) = (Vec::with_capacity(m + 1), Vec::with_capacity(m));
        let (mut last, mut k) = (0, 0);
        for j in 0..=m {
            let a = segs.bounds[j];
            while k < a {
                if self.steps[k].kind != StepKind::Skipped {
                    last = k + 1;
                }
                k += 1;
            }
            let mut key = vec![0u64; 2 * Shape::WORDS + 1];
            self.values[a].write(&mut key[..Shape::WORDS]);
            self.values[last].write(&mut key[Shape::WORDS..2 * Shape::WORDS]);
            key[2 * Shape::WORDS] = self.chain[j].cur();
            keys.push(key);
            if j < m {
                let b = segs.bounds[j + 1];
                let (after, layers_after) = if b == n { (self.running.summed(), self.num_layers) } else { (self.saved[b].summed(), self.saved_layers[b]) };
                let before = self.saved[a].summed();
                let own = self.chain[j].restarted().then(memo.entry(segs, j, self.seg_way[j])?.tail()?)?;
                seg.push((std::array::from_fn(|i| after[i] - before[i]), layers_after - self.saved_layers[a], own.peak));
            }
        }
        Some(dense::Trace { keys, segs: seg, input_bytes, out_shape: self.out_shape })
    }

    /// Write the row of a variant read from dense tables; false (nothing written or counted)
    /// when it needs a full evaluation: a derived variable's or constraint's error, or an
    /// overflow in the finished totals, whose messages the evaluator makes.
    #[allow(clippy::too_many_arguments)]
    fn write_hit(&mut self, id: Id, digits: &[u64], batch: &dense::Batch, b: usize, shape: &Shape, filter: Option<&Filter>, out: &mut Columns, counts: &mut Counts) -> bool {
        let Some(sum) = batch.summed(b) else { return false };
        let prog = self.prog;
        let nvar = prog.vars.len();
        for (v, (s, &d)) in self.slots[..nvar].iter_mut().zip(digits).enumerate() {
            *s = prog.vars[v].choices[d as usize];
        }
        for (j, (_, d)) in prog.derived.iter().enumerate() {
            match d.eval(&self.slots) {
                Ok(v) => self.slots[nvar + j] = v,
                Err(_) => return false,
            }
        }
        for (_, c) in &prog.constraints {
            match c.eval(&self.slots) {
                Ok(v) if v.truthy() => {}
                Ok(_) => {
                    counts.evaluated += 1;
                    counts.rejected_by_constraints += 1;
                    return true;
                }
                Err(_) => return false,
            }
        }
        let mut t = Totals::default();
        crate::graph::set_summed(&mut t, sum);
        if t.finish(batch.input_bytes[b], batch.peak[b], &self.opts).is_err() {
            return false;
        }
        counts.evaluated += 1;
        write_row(prog, id, None, &metric_values(&t, batch.layers[b]), shape, filter, &mut self.slots, out, counts);
        true
    }
}

/// Write one evaluated variant's row (its variables' values are in `slots`) unless the filter
/// drops it; true if a valid row was written.
#[allow(clippy::too_many_arguments)]
fn write_row(prog: &Program, id: Id, error: Option<String>, metrics: &[u64; NM], shape: &Shape, filter: Option<&Filter>, slots: &mut [Value], out: &mut Columns, counts: &mut Counts) -> bool {
    let base = prog.num_slots();
    let valid = error.is_none();
    if let Some(f) = filter {
        let keep = if !valid && f.reads_metrics {
            // an invalid row's metrics are null: SQL/polars three-valued logic, so
            // `res == 8 or params > 4e4` keeps it when res == 8
            matches!(f.compiled.eval_nullable(slots, base), Ok(Some(v)) if v.truthy())
        } else {
            set_metric_slots(&mut slots[base..], metrics.iter().copied());
            matches!(f.compiled.eval(slots), Ok(v) if v.truthy())
        };
        if !keep {
            counts.filtered_out += 1;
            return false;
        }
    }
    if !valid {
        counts.invalid += 1;
    }
    counts.kept += 1;
    if let Some(e) = error {
        out.errors.push((out.variant_id.len(), e));
    }
    out.push_id(id);
    for (v, col) in out.vars.iter_mut().enumerate() {
        col.push(raw(slots[v]));
    }
    out.valid.push(valid);
    for (i, col) in out.metrics.iter_mut().enumerate() {
        col.push(metrics[i]);
    }
    if valid {
        out.shape_values.extend_from_slice(shape.dims());
    }
    out.shape_offsets.push(out.shape_values.len() as i64);
    valid
}

/// Metric values into the filter's metric slots (integers, floats beyond i64).
fn set_metric_slots(slots: &mut [Value], metrics: impl Iterator<Item = u64>) {
    for (s, m) in slots.iter_mut().zip(metrics) {
        *s = if m <= i64::MAX as u64 { Value::Int(m as i64) } else { Value::Float(m as f64) };
    }
}

/// The rows of `rows` (all valid) that `f` keeps, appended to `out`. `vars(r, slots)` puts row
/// `r`'s variable values into the slots, and its metrics follow, as a row-by-row evaluation
/// would set them.
fn filter_valid(rows: &Columns, f: &Filter, prog: &Program, slots: &mut [Value], out: &mut Columns, counts: &mut Counts, mut vars: impl FnMut(usize, &mut [Value])) {
    let base = prog.num_slots();
    for r in 0..rows.len() {
        vars(r, slots);
        set_metric_slots(&mut slots[base..], rows.metrics.iter().map(|col| col[r]));
        if matches!(f.compiled.eval(slots), Ok(v) if v.truthy()) {
            counts.kept += 1;
            out.push_row(rows, r);
        } else {
            counts.filtered_out += 1;
        }
    }
}

/// Rows 1.. of a block from its suffix table, column by column (`block::fits` checked).
fn emit(t: &block::Table, plan: &Plan, prefix: &block::Prefix, first: u64, slots: &[Value], out: &mut Columns) {
    let len = plan.len;
    out.variant_id.extend(first + 1..first + len);
    if out.wide {
        // (grid positions are ids below 2^64)
        out.variant_id_hi.extend(std::iter::repeat_n(0, len as usize - 1));
    }
    for (v, col) in out.vars.iter_mut().enumerate() {
        match v.checked_sub(plan.q) {
            Some(s) => col.extend_from_slice(&plan.pattern[s][1..]),
            None => col.extend(std::iter::repeat_n(raw(slots[v]), len as usize - 1)),
        }
    }
    out.valid.extend(std::iter::repeat_n(true, len as usize - 1));
    block::emit_metrics(t, 1, prefix, &mut out.metrics, &mut out.shape_offsets, &mut out.shape_values);
}



/// Evaluate positions `range` of `ids` on the current rayon pool; rows come back in position
/// order, identical whatever the thread count.
pub fn evaluate(prog: &Program, ids: Ids, range: std::ops::Range<u64>, filter: Option<&Filter>, opts: Options) -> (Columns, Counts) {
    evaluate_with(prog, ids, range, filter, opts, true)
}

/// [`evaluate`]; `reuse = false` evaluates every variant from scratch (no segment memo, no
/// resumed liveness walks, no prefix reuse): the reference the fast paths are tested against.
pub fn evaluate_with(prog: &Program, ids: Ids, range: std::ops::Range<u64>, filter: Option<&Filter>, opts: Options, reuse: bool) -> (Columns, Counts) {
    let (parts, counts) = evaluate_parts_with(prog, ids, range, filter, opts, reuse);
    let mut out = Columns::new(prog, 0);
    for c in parts {
        out.append(c);
    }
    (out, counts)
}

/// Like [`evaluate`], but the columns of each contiguous piece are returned separately (in
/// order), so they can become Arrow record batches without being copied together.
pub fn evaluate_parts(prog: &Program, ids: Ids, range: std::ops::Range<u64>, filter: Option<&Filter>, opts: Options) -> (Vec<Columns>, Counts) {
    evaluate_parts_with(prog, ids, range, filter, opts, true)
}

/// [`evaluate_parts`], with or without reuse (see [`evaluate_with`]).
pub fn evaluate_parts_with(prog: &Program, ids: Ids, range: std::ops::Range<u64>, filter: Option<&Filter>, opts: Options, reuse: bool) -> (Vec<Columns>, Counts) {
    // random order: dense tables when the program is a chain of segments, else sorted ids
    let dense = match ids {
        Ids::Sample(_) => reuse,
        Ids::Explicit(list) => reuse && !list[range.start as usize..range.end as usize].is_sorted(),
        Ids::Grid => false,
    };
    let dense = if dense { dense_layout(prog, opts) } else { None };
    if let (true, None, Ids::Sample(p)) = (reuse, dense, ids) {
        if range.end > range.start + 1 {
            return evaluate_sample_sorted(prog, p, range, filter, opts);
        }
    }
    let len = range.end.saturating_sub(range.start);
    let pieces = (rayon::current_num_threads() as u64 * 8).min(len.max(1)).max(1);
    let step = len.div_ceil(pieces).max(1);
    // grid blocks must not straddle two pieces: inner piece bounds go to a multiple of the block
    let block = match (reuse, ids) {
        (true, Ids::Grid) => *prog.block_rows.get_or_init(|| Evaluator::new(prog, opts, true, true).plan.as_ref().map_or(1, |p| p.len)),
        _ => 1,
    };
    let bound = |i: u64| -> u64 {
        let b = range.start.saturating_add(i.saturating_mul(step)).min(range.end);
        if i == 0 || b == range.end {
            b
        } else {
            b.div_ceil(block).saturating_mul(block).min(range.end)
        }
    };
    let parts: Vec<(Columns, Counts)> = (0..pieces)
        .into_par_iter()
        .map(|i| {
            let (lo, hi) = (bound(i), bound(i + 1));
            let mut cols = Columns::new(prog, if filter.is_some() { 0 } else { (hi - lo.min(hi)) as usize });
            let mut counts = Counts::default();
            if let (true, Some(layout)) = (lo < hi, dense) {
                run_dense(prog, layout, ids, lo..hi, filter, opts, &mut cols, &mut counts);
            } else if lo < hi {
                // ascending explicit ids share leading digits like grid order does
                let ascending = match ids {
                    Ids::Grid => true,
                    Ids::Explicit(list) => list[lo as usize..hi as usize].windows(2).all(|w| w[0] <= w[1]),
                    Ids::Sample(_) => false,
                };
                let mut ev = Evaluator::new(prog, opts, reuse && ascending, reuse);
                ev.run(ids, lo..hi, filter, &mut cols, &mut counts);
            }
            (cols, counts)
        })
        .collect();
    let mut counts = Counts::default();
    let mut out = Vec::with_capacity(parts.len());
    for (c, k) in parts {
        counts.add(&k);
        if !c.is_empty() || out.is_empty() {
            out.push(c);
        }
    }
    (out, counts)
}

/// Variants read from dense tables at once (their cache misses overlap).
const DENSE_BATCH: usize = dense::BATCH;
/// Batches a thread reads under one hold of the tables' read lock (a writer waits that long at
/// most: ~10^4 rows, well under a millisecond).
const HOLD_BATCHES: usize = 64;
/// Sample positions whose ids are drawn at once (a multiple of [`DENSE_BATCH`]).
const PERMUTE_AHEAD: u64 = 16 * DENSE_BATCH as u64;

/// The dense-table layout of `prog` (`dense.rs`), unless it is no chain of segments.
fn dense_layout(prog: &Program, opts: Options) -> Option<&dense::Layout> {
    if prog.dense_off.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    prog.dense_layout
        .get_or_init(|| {
            let ev = Evaluator::new(prog, opts, false, true);
            dense::Layout::new(prog, ev.segs.as_ref()?, ev.eager_exprs)
        })
        .as_ref()
}

/// Positions of `ids` read from dense tables (`dense.rs`); a variant they cannot answer yet is
/// evaluated in full and its trace recorded.
#[allow(clippy::too_many_arguments)]
fn run_dense(prog: &Program, layout: &dense::Layout, ids: Ids, positions: std::ops::Range<u64>, filter: Option<&Filter>, opts: Options, out: &mut Columns, counts: &mut Counts) {
    use std::sync::{atomic::Ordering::Relaxed, PoisonError};
    let tag = (opts.batch, opts.dtype.bytes());
    // (the write lock only when the tables must be made: a piece starting while another
    // thread holds the read lock would wait for up to HOLD_BATCHES batches)
    if prog.dense_tables.read().unwrap_or_else(PoisonError::into_inner).as_ref().is_none_or(|t| t.tag != tag) {
        let mut shared = prog.dense_tables.write().unwrap_or_else(PoisonError::into_inner);
        if shared.as_ref().is_none_or(|t| t.tag != tag) {
            *shared = Some(dense::Tables::new(layout, tag));
        }
    }
    let mut ev = Evaluator::new(prog, opts, false, true);
    let radix = prog.radix();
    let nvar = radix.len();
    let inv: Vec<f64> = radix.iter().map(|&r| 1.0 / r as f64).collect();
    // each variable's values by digit (padded for `pick`), and its number of choices
    let raws: Vec<(Vec<i64>, usize)> = prog.vars.iter().map(|v| (pick_table(&v.choices), v.choices.len())).collect();
    // a batch goes column by column unless a row needs the evaluator's slots
    let columnar = prog.derived.is_empty() && prog.constraints.is_empty();
    let mut digits = vec![0u64; DENSE_BATCH * nvar];
    let mut row = vec![0u64; nvar];
    let (mut batch, mut walk, mut rest): (Vec<Id>, Walk, Vec<u64>) = Default::default();
    // the batch's ids as 64-bit words (`batch` is then filled only for rows evaluated in full),
    // unless the space goes beyond 2^64
    let mut batch64: Vec<u64> = Vec::with_capacity(DENSE_BATCH);
    let wide = prog.wide_ids();
    // a sample's ids are drawn PERMUTE_AHEAD positions at a time: the permutation's cycle walk
    // ends in a tail of few words, whose rounds wait on their multiplies; a longer run of
    // positions keeps more of them in flight (`Permutation::apply_many`)
    let (mut ahead, mut ahead64, mut ahead_at): (Vec<Id>, Vec<u64>, u64) = (Vec::new(), Vec::new(), positions.start);
    let mut read = dense::Batch::default();
    let mut shapes = Repeated::default();
    let mut rows = filter.map(|_| Columns::new(prog, DENSE_BATCH));
    let mut traces: Vec<(Vec<u64>, dense::Trace)> = Vec::new();
    let (mut valid, mut traced) = (0u64, 0u64);
    // the tables' read lock is held for HOLD_BATCHES batches at a time (taking it is an atomic
    // on a line every thread shares), and given up for a writer whenever traces wait; rows read
    // are counted here and added to the tables' count as it is given up
    let mut guard: Option<std::sync::RwLockReadGuard<Option<dense::Tables>>> = None;
    let (mut held, mut hits) = (0usize, 0u64);
    let release = |guard: &mut Option<std::sync::RwLockReadGuard<Option<dense::Tables>>>, hits: &mut u64| {
        if let Some(t) = guard.take().as_ref().and_then(|g| g.as_ref()).filter(|t| t.tag == tag) {
            t.hits.fetch_add(std::mem::take(hits), Relaxed);
        }
    };
    let mut pos = positions.start;
    while pos < positions.end {
        if held == HOLD_BATCHES {
            release(&mut guard, &mut hits);
            held = 0;
        }
        held += 1;
        let end = positions.end.min(pos + DENSE_BATCH as u64);
        batch.clear();
        batch64.clear();
        match ids {
            Ids::Sample(p) if p.narrow() && !wide => draw(pos..end, positions.end, &mut ahead64, &mut ahead_at, &mut batch64, |r, a| p.apply_many64(r, a, &mut walk)),
            Ids::Sample(p) => draw(pos..end, positions.end, &mut ahead, &mut ahead_at, &mut batch, |r, a| p.apply_many(r, a, &mut walk)),
            _ => batch.extend((pos..end).map(|p| ids.id(p))),
        }
        if !wide && batch64.is_empty() {
            batch64.extend(batch.iter().map(|&i| i as u64));
        }
        let n = (end - pos) as usize;
        pos = end;
        if !wide && batch64.iter().all(|&i| i < 1 << 53) {
            decode_many64(&batch64, &radix, &inv, &mut digits, DENSE_BATCH, &mut rest);
        } else if wide && batch.iter().all(|&i| i < 1 << 53) {
            decode_many(&batch, &radix, &inv, &mut digits, DENSE_BATCH, &mut rest);
        } else {
            widen(&mut batch, &batch64);
            for (b, &id) in batch.iter().enumerate() {
                decode(id, &radix, &mut row);
                for (v, &d) in row.iter().enumerate() {
                    digits[v * DENSE_BATCH + b] = d;
                }
            }
        }
        {
            let shared = guard.get_or_insert_with(|| prog.dense_tables.read().unwrap_or_else(PoisonError::into_inner));
            let tables = shared.as_ref().filter(|t| t.tag == tag);
            if let Some(t) = tables {
                t.lookup(layout, &digits, DENSE_BATCH, n, &mut read);
                hits += dense::Tables::read(&read);
            }
            if let (true, Some(t)) = (columnar, tables.filter(|_| read.all)) {
                // (rows to be filtered go to a small buffer read back at once: cached stores)
                let (target, store) = match rows.as_mut() {
                    Some(r) => (r, Store::Cached),
                    None => (&mut *out, Store::Streamed),
                };
                if emit_dense(t, &opts, &batch64, &batch, &digits, &raws, &read, target, store, &mut shapes) {
                    counts.evaluated += n as u64;
                    match (filter, &rows) {
                        (Some(f), Some(r)) => filter_valid(r, f, prog, &mut ev.slots, out, counts, |r, slots| {
                            for (v, var) in prog.vars.iter().enumerate() {
                                slots[v] = var.choices[digits[v * DENSE_BATCH + r] as usize];
                            }
                        }),
                        _ => counts.kept += n as u64,
                    }
                    if let Some(r) = &mut rows {
                        r.clear();
                    }
                    continue;
                }
            }
            widen(&mut batch, &batch64);
            for (b, &id) in batch.iter().enumerate() {
                for (v, d) in row.iter_mut().enumerate() {
                    *d = digits[v * DENSE_BATCH + b];
                }
                if let Some(t) = tables.filter(|_| read.ok[b]) {
                    if ev.write_hit(id, &row, &read, b, t.shape(&read, b), filter, out, counts) {
                        continue;
                    }
                }
                ev.forget();
                ev.run_one(id, filter, out, counts);
                if ev.last_valid {
                    valid += 1;
                    if let Some(t) = ev.peak_from_chain.then(|| ev.trace()).flatten() {
                        traces.push((row.clone(), t));
                        traced += 1;
                    }
                }
            }
        }
        if !traces.is_empty() {
            release(&mut guard, &mut hits);
            held = 0;
            let mut shared = prog.dense_tables.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(t) = shared.as_mut().filter(|t| t.tag == tag) {
                if t.full {
                    t.misses_when_full.fetch_add(traces.len() as u64, Relaxed);
                }
                for (d, trace) in &traces {
                    t.record(layout, d, trace);
                }
            }
            traces.clear();
        }
    }
    release(&mut guard, &mut hits);
    // streamed stores are weakly ordered: they must be visible before this piece's columns are
    // handed to another thread
    Store::fence();
    // Sorted evaluation serves this program better when its valid variants leave no traces
    // (its liveness is no chain after all), or when the tables are full and still miss for
    // most variants (too many states).
    let crowded = prog.dense_tables.read().unwrap_or_else(PoisonError::into_inner).as_ref().is_some_and(|t| {
        let misses = t.misses_when_full.load(Relaxed);
        misses >= 128 && misses > t.hits.load(Relaxed)
    });
    if (valid >= 256 && traced == 0) || crowded {
        prog.dense_off.store(true, Relaxed);
    }
}

/// A batch's sample ids (positions `batch`) into `out`, from `ahead`, which holds the ids of the
/// positions from `ahead_at` on; when it does not reach the batch's end, it is refilled with
/// the next PERMUTE_AHEAD positions (not beyond `stop`) by `fill`.
fn draw<T: Copy>(batch: std::ops::Range<u64>, stop: u64, ahead: &mut Vec<T>, ahead_at: &mut u64, out: &mut Vec<T>, fill: impl FnOnce(std::ops::Range<u64>, &mut Vec<T>)) {
    if batch.end > *ahead_at + ahead.len() as u64 {
        *ahead_at = batch.start;
        fill(batch.start..stop.min(batch.start + PERMUTE_AHEAD), ahead);
    }
    out.extend_from_slice(&ahead[(batch.start - *ahead_at) as usize..(batch.end - *ahead_at) as usize]);
}

/// The batch's ids as 128-bit ids, made from its 64-bit words unless they were drawn as such.
fn widen(batch: &mut Vec<Id>, batch64: &[u64]) {
    if batch.is_empty() {
        batch.extend(batch64.iter().map(|&i| i as Id));
    }
}

/// A batch the dense tables answered whole (every row valid), written column by column (the
/// 8-byte columns with `store`); false (nothing written) when a row's finished totals could
/// overflow: the rows then go one by one. The rows' ids are `ids64`, or `ids` in a space beyond
/// 2^64.
#[allow(clippy::too_many_arguments)]
fn emit_dense(tables: &dense::Tables, opts: &Options, ids64: &[u64], ids: &[Id], digits: &[u64], raws: &[(Vec<i64>, usize)], read: &dense::Batch, out: &mut Columns, store: Store, shapes: &mut Repeated) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512dq") && std::arch::is_x86_feature_detected!("avx512vl") {
        // SAFETY: the CPU has the features the function is compiled for (checked just now)
        return unsafe { emit_dense_avx512(tables, opts, ids64, ids, digits, raws, read, out, store, shapes) };
    }
    emit_dense_body(tables, opts, ids64, ids, digits, raws, read, out, store, shapes)
}

/// [`emit_dense`] compiled for AVX-512: its loops over a batch's rows (the input bytes'
/// maximum, the derived formulas' 64-bit multiplies, the shapes' offsets) become 8-lane
/// vectors; compiled for the baseline they are scalar (SSE2 has no 64-bit multiply or maximum).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
#[allow(clippy::too_many_arguments)]
unsafe fn emit_dense_avx512(tables: &dense::Tables, opts: &Options, ids64: &[u64], ids: &[Id], digits: &[u64], raws: &[(Vec<i64>, usize)], read: &dense::Batch, out: &mut Columns, store: Store, shapes: &mut Repeated) -> bool {
    emit_dense_body(tables, opts, ids64, ids, digits, raws, read, out, store, shapes)
}

/// A batch's output shape repeated for every row of a batch, kept from batch to batch: most
/// batches repeat the shape the one before did.
#[derive(Default)]
struct Repeated {
    dims: Vec<u64>,
    words: Vec<u64>,
}

impl Repeated {
    /// `dims` repeated DENSE_BATCH times.
    #[inline(always)]
    fn of(&mut self, dims: &[u64]) -> &[u64] {
        if self.dims != dims || self.words.is_empty() {
            self.dims.clear();
            self.dims.extend_from_slice(dims);
            self.words.clear();
            for _ in 0..DENSE_BATCH {
                self.words.extend_from_slice(dims);
            }
        }
        &self.words
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn emit_dense_body(tables: &dense::Tables, opts: &Options, ids64: &[u64], ids: &[Id], digits: &[u64], raws: &[(Vec<i64>, usize)], read: &dense::Batch, out: &mut Columns, store: Store, shapes: &mut Repeated) -> bool {
    let n = if out.wide { ids.len() } else { ids64.len() };
    let [params, trainable, buffers, buffer_bytes, macs, other_ops, activation] = &read.sums;
    // every derived formula is monotone: finishing the columns' maxima rules overflow out
    let max = |c: &[u64]| c.iter().copied().max().unwrap_or(0);
    let mut t = Totals::default();
    crate::graph::set_summed(&mut t, read.max_summed());
    if t.finish(max(&read.input_bytes), read.max_peak(), opts).is_err() {
        return false;
    }
    // a column's values made in a small buffer (in cache), then stored with `store`
    fn fill<T>(buf: &mut [T], f: impl Fn(usize) -> T) -> &[T] {
        for (b, x) in buf.iter_mut().enumerate() {
            *x = f(b);
        }
        buf
    }
    if out.wide {
        for &id in ids {
            out.push_id(id);
        }
    } else {
        store.extend(&mut out.variant_id, ids64);
    }
    let mut words = [0i64; DENSE_BATCH];
    for (v, col) in out.vars.iter_mut().enumerate() {
        // (the batch's whole row of digits: those past n are left from earlier batches, and
        // their values are not stored)
        let d: &[u64; DENSE_BATCH] = digits[v * DENSE_BATCH..(v + 1) * DENSE_BATCH].try_into().expect("a batch's digits");
        pick(&raws[v].0, raws[v].1, d, &mut words);
        store.extend(col, &words[..n]);
    }
    out.valid.extend(std::iter::repeat_n(true, n));
    // METRICS order; flops, weight_bytes and train_bytes by Totals::finish's formulas
    let m = &mut out.metrics;
    for (k, col) in [(0, params), (1, trainable), (2, buffers), (3, macs), (5, other_ops), (7, buffer_bytes), (8, activation), (9, &read.peak), (11, &read.layers)] {
        store.extend(&mut m[k], col);
    }
    // (one pass over the rows, slices of n rows: no bounds checks, 8 rows a vector where the
    // CPU has AVX-512)
    let (mut flops, mut weight, mut train) = ([0u64; DENSE_BATCH], [0u64; DENSE_BATCH], [0u64; DENSE_BATCH]);
    let rows = (&params[..n], &trainable[..n], &buffer_bytes[..n], &macs[..n], &activation[..n], &read.input_bytes[..n]);
    for (b, (f, (w, t))) in flops[..n].iter_mut().zip(weight[..n].iter_mut().zip(&mut train[..n])).enumerate() {
        (*f, *w, *t) = Totals::derived_unchecked(rows.0[b], rows.1[b], rows.2[b], rows.3[b], rows.4[b], rows.5[b], opts);
    }
    store.extend(&mut m[4], &flops[..n]);
    store.extend(&mut m[6], &weight[..n]);
    store.extend(&mut m[10], &train[..n]);
    // output shapes: one state's shape for the whole batch (a chain's output is most often the
    // same), else row by row
    let (values, offsets) = (&mut out.shape_values, &mut out.shape_offsets);
    let first = tables.shape(read, 0).dims();
    let w = first.len();
    if (1..n).all(|b| read.same_state(0, b)) && w <= SHAPE_WORDS / DENSE_BATCH {
        let base = *offsets.last().unwrap();
        let mut ends = [0i64; DENSE_BATCH];
        store.extend(offsets, fill(&mut ends[..n], |b| base + (b + 1) as i64 * w as i64));
        store.extend(values, &shapes.of(first)[..n * w]);
    } else {
        for b in 0..n {
            values.extend_from_slice(tables.shape(read, b).dims());
            offsets.push(values.len() as i64);
        }
    }
    true
}

/// Words of a batch's output shapes made at once (rank 8 or less; a larger rank goes row by row).
const SHAPE_WORDS: usize = 8 * DENSE_BATCH;

/// A variable's values by digit, padded to [`PICK_TABLE`] words at least (for [`pick`]).
fn pick_table(choices: &[Value]) -> Vec<i64> {
    let mut t: Vec<i64> = choices.iter().map(|&c| raw(c)).collect();
    t.resize(t.len().max(PICK_TABLE), 0);
    t
}

/// Choices a vector permute picks from.
const PICK_TABLE: usize = 16;

/// `words[b]` = `table[d[b]]` for a batch's digits (each below `choices`); `table` from
/// [`pick_table`].
fn pick(table: &[i64], choices: usize, d: &[u64; DENSE_BATCH], words: &mut [i64; DENSE_BATCH]) {
    #[cfg(target_arch = "x86_64")]
    if choices <= PICK_TABLE && std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has the features the function is compiled for (checked just now)
        return unsafe { pick_avx512(table[..PICK_TABLE].try_into().expect("a padded table"), d, words) };
    }
    pick_portable(&table[..choices], d, words)
}

fn pick_portable(raw: &[i64], d: &[u64; DENSE_BATCH], words: &mut [i64; DENSE_BATCH]) {
    let last = raw.len() - 1;
    // (the min only spares a bounds check: garbage digits past the batch's rows give garbage)
    for (w, &d) in words.iter_mut().zip(d) {
        *w = raw[(d as usize).min(last)];
    }
}

/// [`pick`] for up to 16 choices: the choices are two vectors, and 8 rows are one two-table
/// permute (vpermt2q), which reads the low 4 bits of each digit.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pick_avx512(table: &[i64; PICK_TABLE], d: &[u64; DENSE_BATCH], words: &mut [i64; DENSE_BATCH]) {
    use std::arch::x86_64::*;
    // SAFETY: every load and store below is of 8 words within `table`, `d` or `words`
    unsafe {
        let (lo, hi) = (_mm512_loadu_si512(table.as_ptr().cast()), _mm512_loadu_si512(table.as_ptr().add(8).cast()));
        for k in (0..DENSE_BATCH).step_by(8) {
            let idx = _mm512_loadu_si512(d.as_ptr().add(k).cast());
            _mm512_storeu_si512(words.as_mut_ptr().add(k).cast(), _mm512_permutex2var_epi64(lo, idx, hi));
        }
    }
}

/// How a batch's 8-byte column values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Store {
    /// ordinary stores: the values are read back soon (a small buffer)
    Cached,
    /// whole cache lines written past the caches where the CPU can (AVX-512): result columns
    /// are written once and not read back by this thread, and an ordinary store to a line not in
    /// cache first reads the line from memory (half the memory traffic saved). A 2*10^6 sample
    /// in memory, best of 5 alternating processes: VGG 7.5 -> 9.3 M/s, ResNet 10.3 -> 13.6.
    /// [`Store::fence`] must follow before the columns are shared.
    Streamed,
}

impl Store {
    /// Append `src` to `col`.
    fn extend<T: Copy>(self, col: &mut Vec<T>, src: &[T]) {
        const { assert!(std::mem::size_of::<T>() == 8) };
        #[cfg(target_arch = "x86_64")]
        if self == Store::Streamed && std::arch::is_x86_feature_detected!("avx512f") {
            col.reserve(src.len());
            let len = col.len();
            // SAFETY: the CPU has the features `stream` is compiled for (checked just now); the
            // reserve leaves room for src.len() more words after len, which `stream` initialises
            // (every one of them), so the new length covers initialised words only
            unsafe {
                stream(col.as_mut_ptr().add(len).cast(), src.as_ptr().cast(), src.len());
                col.set_len(len + src.len());
            }
            return;
        }
        col.extend_from_slice(src);
    }

    /// Make this thread's streamed stores visible to every thread before its later stores.
    fn fence() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE is baseline on x86_64; a fence reads and writes no memory
        unsafe {
            std::arch::x86_64::_mm_sfence()
        };
    }
}

/// Copy `n` words from `src` to `dst`: the whole 64-byte lines of `dst` with non-temporal
/// stores, the words before the first and after the last with ordinary ones.
///
/// # Safety
/// `src` valid for reading and `dst` for writing `n` words, not overlapping; the CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn stream(dst: *mut u64, src: *const u64, n: usize) {
    use std::arch::x86_64::*;
    // words up to the first line boundary (dst is 8-byte aligned: a Vec<u64>'s buffer)
    let head = ((64 - dst as usize % 64) % 64 / 8).min(n);
    let lines = (n - head) / 8;
    // SAFETY: every offset below is under n (head + 8 * lines <= n), per the caller's contract
    unsafe {
        std::ptr::copy_nonoverlapping(src, dst, head);
        for k in 0..lines {
            let at = head + 8 * k;
            _mm512_stream_si512(dst.add(at).cast(), _mm512_loadu_si512(src.add(at).cast()));
        }
        let done = head + 8 * lines;
        std::ptr::copy_nonoverlapping(src.add(done), dst.add(done), n - done);
    }
}

/// A sample's positions evaluated in ascending id order, where neighbours share leading digits
/// (prefix reuse, segment replays of the later stages only: 1.6x (VGG) to 3.5x (ResNet) fewer
/// instructions for a 2^18-position chunk), then put back in position order. Sampled ids are
/// distinct, so a row's id tells its position.
fn evaluate_sample_sorted(prog: &Program, p: Permutation, range: std::ops::Range<u64>, filter: Option<&Filter>, opts: Options) -> (Vec<Columns>, Counts) {
    let n = (range.end - range.start) as usize;
    let mut order: Vec<(Id, u32)> = (0..n as u32).into_par_iter().map(|k| (p.apply(range.start + k as u64), k)).collect();
    order.par_sort_unstable();
    let ids: Vec<Id> = order.iter().map(|o| o.0).collect();
    let (parts, counts) = evaluate_parts_with(prog, Ids::Explicit(&ids), 0..n as u64, filter, opts, true);
    // where each position's row is: (part, row), or none (rejected or filtered out)
    let mut at: Vec<(u32, u32)> = vec![(u32::MAX, 0); n];
    for (pi, part) in parts.iter().enumerate() {
        for r in 0..part.len() {
            let k = ids.binary_search(&part.id(r)).expect("a row's id is one of the sampled ids");
            at[order[k].1 as usize] = (pi as u32, r as u32);
        }
    }
    let rows: Vec<(u32, u32)> = at.into_iter().filter(|x| x.0 != u32::MAX).collect();
    let pieces = (rayon::current_num_threads() * 4).max(1);
    let step = rows.len().div_ceil(pieces).max(1);
    let out: Vec<Columns> = rows.par_chunks(step).map(|chunk| gather(prog, &parts, chunk)).collect();
    (if out.is_empty() { vec![Columns::new(prog, 0)] } else { out }, counts)
}

/// The rows `rows` ((part, row) pairs) of `parts`, in that order.
fn gather(prog: &Program, parts: &[Columns], rows: &[(u32, u32)]) -> Columns {
    let mut out = Columns::new(prog, rows.len());
    for &(p, r) in rows {
        out.push_row(&parts[p as usize], r as usize);
    }
    out
}

/// One variant's values: primaries then derived, by name.
pub fn config(prog: &Program, id: Id) -> Result<Vec<(String, Value)>, String> {
    let radix = prog.radix();
    let mut digits = vec![0; radix.len()];
    decode(id, &radix, &mut digits);
    let mut slots: Vec<Value> = prog.vars.iter().zip(&digits).map(|(v, &d)| v.choices[d as usize]).collect();
    let mut out: Vec<(String, Value)> = prog.vars.iter().map(|v| v.name.clone()).zip(slots.iter().copied()).collect();
    for (name, d) in &prog.derived {
        let v = d.eval(&slots).map_err(|e| format!("derived variable '{name}': {e}"))?;
        slots.push(v);
        out.push((name.clone(), v));
    }
    Ok(out)
}

/// The concrete model of variant `id` as a model-file JSON value: switched-off layers are
/// dropped and their readers rewired to what they passed through.
pub fn model_json(prog: &Program, id: Id) -> Result<serde_json::Value, String> {
    use serde_json::{json, Map, Value as Json};
    let cfg = config(prog, id)?;
    let slots: Vec<Value> = cfg.iter().map(|(_, v)| *v).collect();
    for (src, c) in &prog.constraints {
        if !c.eval(&slots)?.truthy() {
            return Err(format!("variant {id} violates the constraint '{src}'"));
        }
    }
    let exprs: Vec<Value> = prog.exprs.iter().map(|e| e.eval(&slots)).collect::<Result<_, _>>()?;
    let input: Vec<Json> = prog.input.iter().map(|a| a.eval(&slots)).collect::<Result<_, _>>()?;
    // value index -> the name that now provides it ("x" for the input)
    let mut provider: Vec<String> = vec![crate::graph::INPUT.to_string()];
    let mut layers = Vec::new();
    for inst in &prog.instances {
        let active = inst.preds.iter().all(|p| match *p {
            Pred::Truthy(e) => exprs[e].truthy(),
            Pred::Greater(e, r) => matches!(exprs[e], Value::Int(c) if c > r),
        });
        if !active {
            let through = provider[inst.inputs[0]].clone();
            provider.push(through);
            continue;
        }
        let mut m = Map::new();
        m.insert("name".into(), Json::String(inst.name.clone()));
        m.insert("op".into(), Json::String(inst.op_name.clone()));
        m.insert("inputs".into(), Json::Array(inst.inputs.iter().map(|&i| Json::String(provider[i].clone())).collect()));
        if !inst.trainable {
            m.insert("trainable".into(), Json::Bool(false));
        }
        for (k, a) in &inst.attrs {
            m.insert(k.clone(), a.eval(&slots)?);
        }
        layers.push(Json::Object(m));
        provider.push(inst.name.clone());
    }
    Ok(json!({"name": format!("{}#{id}", prog.name), "input": input, "layers": layers}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{analyze, Model};
    use crate::space::{compile, Spec};
    use serde_json::json;

    fn mini_spec() -> serde_json::Value {
        json!({
            "name": "mini",
            "input": [3, "=res", "=res"],
            "variables": {
                "res": [8, 16, 32],
                "depth": {"per_stage": 2, "choices": [1, 2, 3]},
                "width": {"per_stage": 2, "choices": [4, 8]},
                "k": [1, 3, 5],
                "proj": [true, false]
            },
            "derived": {"hidden": "width[1] * 4"},
            "layers": [
                {"name": "stage{s}", "repeat": 2, "index": "s", "layers": [
                    {"name": "b{i}", "repeat": "=depth[s]", "index": "i", "layers": [
                        {"name": "conv", "op": "conv2d", "out_channels": "=width[s]", "kernel_size": "=k", "padding": "=k // 2"},
                        {"name": "bn", "op": "batchnorm2d"},
                        {"name": "relu", "op": "relu", "inplace": true},
                        {"name": "short", "op": "conv2d", "out_channels": "=width[s]", "kernel_size": 1, "inputs": ["block_input"], "when": "=proj and i == 0"},
                        {"name": "sum", "op": "add", "inputs": ["relu", "short"]}
                    ]},
                    {"name": "pool", "op": "maxpool2d", "kernel_size": 2, "ceil_mode": true}
                ]},
                {"op": "flatten"},
                {"op": "linear", "out_features": "=hidden"},
                {"op": "linear", "out_features": 10}
            ]
        })
    }

    fn space() -> Program {
        compile(&Spec::from_value(&mini_spec()).unwrap()).unwrap()
    }

    fn check_against_analyze(prog: &Program, cols: &Columns) {
        for r in 0..cols.len() {
            let id = cols.id(r);
            let model = Model::from_value(&model_json(prog, id).unwrap()).unwrap();
            match analyze(&model, None, Options::default()) {
                Ok(a) => {
                    assert!(cols.valid[r], "variant {id}: sweep says {:?}", cols.error(r));
                    let want = metric_values(&a.totals, a.layers.len() as u64);
                    for (i, m) in METRICS.iter().enumerate() {
                        assert_eq!(cols.metrics[i][r], want[i], "variant {id} column {m}");
                    }
                }
                Err(e) => {
                    assert!(!cols.valid[r], "variant {id}: analyze fails with {e} but the sweep row is valid");
                    assert_eq!(cols.error(r), Some(e.to_string().as_str()));
                }
            }
        }
    }

    #[test]
    fn grid_rows_equal_analyze_of_the_concrete_model() {
        let prog = space();
        let size: u64 = prog.vars.iter().map(|v| v.choices.len() as u64).product();
        assert_eq!(size, 3 * 3 * 3 * 2 * 2 * 3 * 2);
        let (cols, counts) = evaluate(&prog, Ids::Grid, 0..size, None, Options::default());
        assert_eq!(cols.len() as u64, size);
        assert_eq!(counts.evaluated, size);
        assert!(counts.invalid > 0 && counts.invalid < size, "{counts:?}");
        check_against_analyze(&prog, &cols);
    }

    /// Grid order replays segments from the memo and resumes liveness walks at cuts; explicit
    /// ids do neither. Both must give the same rows, column for column.
    /// The mini space plus layers whose `when` divides by zero for k == 3 or width 4
    /// (expression errors, alongside the space's invalid shapes).
    fn space_with_expression_errors() -> Program {
        let mut spec = mini_spec();
        // and an input shape that is invalid (0 wide) for res 8
        spec["input"] = json!([3, "=res", "=res - 8"]);
        // wide enough that a later stage can hold the peak activation
        spec["variables"]["width"]["choices"] = json!([4, 8, 96]);
        let stage = &mut spec["layers"][0]["layers"];
        stage.as_array_mut().unwrap().push(json!({"name": "extra", "op": "relu", "when": "=s == 1 and 8 // (k - 3) > 1"}));
        stage.as_array_mut().unwrap().push(json!({"name": "more", "op": "relu", "when": "=16 // (width[s] - 4) > 1"}));
        compile(&Spec::from_value(&spec).unwrap()).unwrap()
    }

    /// A chain of stages (each reads only its input): the peak comes from segment summaries.
    /// The mini space as a chain of stages: the shortcut only in a stage's first block.
    fn chain_spec() -> serde_json::Value {
        let mut spec = mini_spec();
        spec["variables"].as_object_mut().unwrap().remove("proj");
        spec["variables"]["width"]["choices"] = json!([4, 8, 96]);
        spec["layers"][0]["layers"][0]["layers"][3]["when"] = json!("=i == 0");
        spec
    }

    fn chain_space() -> Program {
        compile(&Spec::from_value(&chain_spec()).unwrap()).unwrap()
    }

    /// e only changes the prefix's totals (the cut shape is [1, 16] for every e); at e = 58e15
    /// the prefix holds ~1.04e18 params (x16 bytes for fp32 + Adam: 1.67e19 of u64's 1.84e19),
    /// and c = 8, b = 2^54 adds 1.6e17 more: some digits overflow, others do not.
    fn overflow_spec() -> serde_json::Value {
        json!({
            "input": [1],
            "variables": {
                "e": [1, 2, 58_000_000_000_000_000u64],
                "c": [1, 2, 3, 4, 5, 6, 7, 8],
                "b": [1, 2, 3, 4, 5, 6, 7, 1u64 << 54]
            },
            "layers": [
                {"name": "fe", "op": "linear", "out_features": "=e"},
                {"name": "fz", "op": "linear", "out_features": 16},
                {"name": "f0", "op": "linear", "out_features": "=c"},
                {"name": "f2", "op": "linear", "out_features": "=b"}
            ]
        })
    }

    #[test]
    fn grid_replay_equals_fresh_evaluation() {
        for prog in [space(), space_with_expression_errors(), chain_space()] {
            check_grid_replay(&prog);
        }
        let prog = space_with_expression_errors();
        let size: u64 = prog.vars.iter().map(|v| v.choices.len() as u64).product();
        let (cols, _) = evaluate(&prog, Ids::Grid, 0..size, None, Options::default());
        let zero = cols.errors.iter().filter(|(_, e)| e.contains("zero")).count();
        let input = cols.errors.iter().filter(|(_, e)| e.starts_with("input dim")).count();
        assert!(zero > 0 && input > 0 && zero + input < cols.errors.len(), "{zero} expression and {input} input errors of {}", cols.errors.len());
    }

    /// Every column of `a` equals `b`'s.
    fn assert_same_rows(a: &Columns, b: &Columns) {
        assert_eq!((&a.variant_id, &a.variant_id_hi), (&b.variant_id, &b.variant_id_hi));
        assert_eq!(a.vars, b.vars);
        assert_eq!(a.valid, b.valid);
        assert_eq!(a.errors, b.errors);
        assert_eq!(a.metrics, b.metrics);
        assert_eq!((&a.shape_offsets, &a.shape_values), (&b.shape_offsets, &b.shape_values));
    }

    fn check_grid_replay(prog: &Program) {
        let size: u64 = prog.vars.iter().map(|v| v.choices.len() as u64).product();
        let ids: Vec<Id> = (0..size as Id).collect();
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            for opts in [Options::default(), Options { batch: 3, dtype: crate::memory::Dtype::Fp16, ..Options::default() }] {
                // twice: the second run starts with the pooled tables of the first
                for _ in 0..2 {
                    let (grid, _) = pool.install(|| evaluate(prog, Ids::Grid, 0..size, None, opts));
                    let (fresh, _) = pool.install(|| evaluate_with(prog, Ids::Explicit(&ids), 0..size, None, opts, false));
                    let (sampled, _) = pool.install(|| evaluate(prog, Ids::Explicit(&ids), 0..size, None, opts));
                    assert_same_rows(&sampled, &fresh);
                    assert_same_rows(&grid, &fresh);
                }
            }
        }
        let pooled = prog.memo_pool.lock().unwrap();
        assert!(pooled.iter().any(|m| m.hits > 0), "the grid runs never replayed a segment");
    }

    /// Blocks written from suffix tables equal row-by-row evaluation, also when a block's sums
    /// would overflow (then its rows run one by one and name the layer).
    #[test]
    fn grid_blocks_equal_fresh_evaluation() {
        // (the mini space's residual adds are no chain: its tables are poisoned, its blocks
        // run row by row, which grid_replay_equals_fresh_evaluation checks)
        let prog = chain_space();
        let plan = Evaluator::new(&prog, Options::default(), true, true).plan.as_ref().map(|p| (p.q, p.len));
        assert!(plan.is_some(), "no block plan");
        check_grid_replay(&prog);
        let size: u64 = prog.vars.iter().map(|v| v.choices.len() as u64).product();
        assert!(blocks_written(&chain_space(), size, None) > 0, "no block was written from a table ({plan:?})");
    }

    /// Blocks written from tables when a fresh `prog` sweeps `0..size` on one thread. One memo
    /// then serves every piece, so a table recorded in one piece serves the next; with more
    /// threads which memo a piece gets, hence whether it has the table, depends on scheduling.
    fn blocks_written(prog: &Program, size: u64, filter: Option<&Filter>) -> u64 {
        assert!(prog.memo_pool.lock().unwrap().is_empty(), "a fresh program");
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        one.install(|| evaluate(prog, Ids::Grid, 0..size, filter, Options::default()));
        let pooled = prog.memo_pool.lock().unwrap();
        pooled.iter().map(|m| m.blocks.blocks).sum()
    }

    /// A `where` filter over blocks written from tables keeps exactly the rows that filtering
    /// a fresh evaluation afterwards keeps (metrics and suffix variables both read).
    #[test]
    fn filtered_grid_blocks_equal_filtering_afterwards() {
        let prog = chain_space();
        let size: u64 = prog.vars.iter().map(|v| v.choices.len() as u64).product();
        let ids: Vec<Id> = (0..size as Id).collect();
        // a suffix variable: its slot is set row by row for the filter
        let k = Evaluator::new(&prog, Options::default(), true, true).plan.as_ref().unwrap().q;
        let Value::Int(pick) = prog.vars[k].choices[1] else { panic!() };
        let f = Filter::new(&format!("params < 3000 and macs > 1000 or {} == {pick}", prog.vars[k].name), &prog).unwrap();
        let (fresh, _) = evaluate_with(&prog, Ids::Explicit(&ids), 0..size, None, Options::default(), false);
        let want: Vec<u64> = (0..fresh.len())
            .filter(|&r| fresh.valid[r] && ((fresh.metrics[0][r] < 3000 && fresh.metrics[3][r] > 1000) || fresh.vars[k][r] == pick))
            .map(|r| fresh.variant_id[r])
            .collect();
        for _ in 0..2 {
            let (kept, counts) = evaluate(&prog, Ids::Grid, 0..size, Some(&f), Options::default());
            assert_eq!(kept.variant_id, want);
            assert_eq!(counts.kept + counts.filtered_out + counts.rejected_by_constraints, size);
            let rows: Vec<usize> = kept.variant_id.iter().map(|&id| id as usize).collect();
            for (i, col) in kept.metrics.iter().enumerate() {
                assert_eq!(*col, rows.iter().map(|&r| fresh.metrics[i][r]).collect::<Vec<_>>(), "{}", METRICS[i]);
            }
            for (v, col) in kept.vars.iter().enumerate() {
                assert_eq!(*col, rows.iter().map(|&r| fresh.vars[v][r]).collect::<Vec<_>>());
            }
        }
        let fresh_prog = chain_space();
        let f = Filter::new(&f.source, &fresh_prog).unwrap();
        assert!(blocks_written(&fresh_prog, size, Some(&f)) > 0, "no block was written from a table");
    }

    /// A block whose table was recorded under a small prefix, met again under a prefix so large
    /// that some of its rows overflow (the cut shape, hence the key, is the same): those rows
    /// must be the errors of a fresh evaluation, and the other blocks still come from the table.
    #[test]
    fn grid_blocks_that_would_overflow_run_row_by_row() {
        let spec = overflow_spec();
        let prog = compile(&Spec::from_value(&spec).unwrap()).unwrap();
        let plan = Evaluator::new(&prog, Options::default(), true, true).plan.as_ref().map(|p| (p.q, p.len));
        assert_eq!(plan, Some((1, 64)));
        check_grid_replay(&prog);
        let (cols, _) = evaluate(&prog, Ids::Grid, 0..192, None, Options::default());
        let big: Vec<usize> = (128..192).collect();
        assert!(big.iter().any(|&r| !cols.valid[r]) && big.iter().any(|&r| cols.valid[r]), "{:?}", cols.errors);
        assert!(cols.errors.iter().all(|(r, e)| *r >= 128 && e.contains("overflow")), "{:?}", cols.errors);
        let fresh = compile(&Spec::from_value(&spec).unwrap()).unwrap();
        assert!(blocks_written(&fresh, 192, None) > 0, "no block was written from a table");
    }

    /// A sample is evaluated in ascending id order and put back in position order: rows, errors
    /// (expression errors, invalid shapes, 0-wide inputs), filters and counts as from scratch.
    #[test]
    fn sorted_samples_equal_fresh_evaluation() {
        // (the sorted path serves programs without dense tables; here it is called directly)
        for prog in [space(), space_with_expression_errors(), chain_space()] {
            check_sample(&prog, 11, |p, range, filter| {
                let (parts, counts) = evaluate_sample_sorted(&prog, p, range, filter, Options::default());
                let mut out = Columns::new(&prog, 0);
                parts.into_iter().for_each(|c| out.append(c));
                (out, counts)
            });
        }
    }

    /// `fast` (positions of a sample) against fresh evaluation of the same ids, with and
    /// without a filter, over the whole space and part of it.
    fn check_sample(prog: &Program, seed: u64, fast: impl Fn(Permutation, std::ops::Range<u64>, Option<&Filter>) -> (Columns, Counts)) {
        let size: u64 = prog.vars.iter().map(|v| v.choices.len() as u64).product();
        let p = Permutation::new(size as Id, seed);
        let list: Vec<Id> = (0..size).map(|i| p.apply(i)).collect();
        let f = Filter::new("params > 2000 or res == 8", prog).or_else(|_| Filter::new("params > 2000 or c == 8", prog)).unwrap();
        for filter in [None, Some(&f)] {
            for range in [0..size, 7..size / 2 + 3] {
                let (rows, c1) = fast(p, range.clone(), filter);
                let (fresh, c2) = evaluate_with(prog, Ids::Explicit(&list), range.clone(), filter, Options::default(), false);
                assert_eq!(c1, c2);
                assert_same_rows(&rows, &fresh);
            }
        }
    }

    /// (variants recorded, variants read) by dense tables in a one-thread run on a fresh program
    fn dense_use(prog: &Program, ids: Ids, range: std::ops::Range<u64>, filter: Option<&Filter>) -> (u64, u64) {
        assert!(prog.dense_tables.read().unwrap().is_none(), "a fresh program");
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        one.install(|| evaluate(prog, ids, range, filter, Options::default()));
        let shared = prog.dense_tables.read().unwrap();
        let t = shared.as_ref().unwrap();
        (t.records, t.hits.load(std::sync::atomic::Ordering::Relaxed))
    }

    #[test]
    fn dense_tables_equal_fresh_evaluation() {
        // the chain space; the same without a derived variable (batches written column by
        // column); one with expression errors and an invalid input shape; one whose sums
        // overflow under some digits only; one whose output shape differs between variants
        // (the columnar spec's output is [1, 10] throughout: a batch's shapes are written at once)
        let mut columnar = chain_spec();
        columnar.as_object_mut().unwrap().remove("derived");
        columnar["layers"][2]["out_features"] = json!("=width[1] * 4");
        let mut shapes = columnar.clone();
        shapes["layers"][3]["out_features"] = json!("=width[0] + k");
        let mut errors = columnar.clone();
        errors["input"] = json!([3, "=res", "=res - 8"]);
        let stage = &mut errors["layers"][0]["layers"];
        stage.as_array_mut().unwrap().push(json!({"name": "extra", "op": "relu", "when": "=s == 1 and 8 // (k - 3) > 1"}));
        let overflow = overflow_spec();
        for spec in [chain_spec(), columnar, errors, overflow, shapes] {
            let prog = compile(&Spec::from_value(&spec).unwrap()).unwrap();
            assert!(dense_layout(&prog, Options::default()).is_some(), "a chain of segments");
            check_sample(&prog, 5, |p, range, filter| evaluate(&prog, Ids::Sample(p), range, filter, Options::default()));
            // explicit ids in no order take the same path
            let size: u64 = prog.vars.iter().map(|v| v.choices.len() as u64).product();
            let p = Permutation::new(size as Id, 5);
            let list: Vec<Id> = (0..size).map(|i| p.apply(i)).collect();
            check_sample(&prog, 5, |_, range, filter| evaluate(&prog, Ids::Explicit(&list), range, filter, Options::default()));
            let (records, hits) = dense_use(&compile(&Spec::from_value(&spec).unwrap()).unwrap(), Ids::Sample(p), 0..size, None);
            assert!(records > 0 && hits > records, "records {records}, hits {hits}");
            assert!(!prog.dense_off.load(std::sync::atomic::Ordering::Relaxed));
        }
    }

    #[test]
    fn full_dense_tables_give_the_same_rows_and_hand_over_to_sorted_evaluation() {
        let spec = chain_spec();
        let prog = compile(&Spec::from_value(&spec).unwrap()).unwrap();
        let size: u64 = prog.vars.iter().map(|v| v.choices.len() as u64).product();
        let p = Permutation::new(size as Id, 9);
        let list: Vec<Id> = (0..size).map(|i| p.apply(i)).collect();
        let (reference, _) = evaluate_with(&prog, Ids::Explicit(&list), 0..size, None, Options::default(), false);
        // room for the input's states and the first segments' tables only
        let small = compile(&Spec::from_value(&spec).unwrap()).unwrap();
        let layout = {
            let ev = Evaluator::new(&small, Options::default(), false, true);
            dense::Layout::new(&small, ev.segs.as_ref().unwrap(), ev.eager_exprs).unwrap().with_max_entries(64)
        };
        assert!(small.dense_layout.set(Some(layout)).is_ok());
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let (rows, _) = one.install(|| evaluate(&small, Ids::Sample(p), 0..size, None, Options::default()));
        assert_same_rows(&rows, &reference);
        assert!(small.dense_tables.read().unwrap().as_ref().unwrap().full);
        assert!(small.dense_off.load(std::sync::atomic::Ordering::Relaxed), "most variants missed: sorted evaluation takes over");
        // and it does
        let (rows, _) = evaluate(&small, Ids::Sample(p), 0..size, None, Options::default());
        assert_same_rows(&rows, &reference);
        // with room enough, the tables serve the whole sample
        let (rows, _) = evaluate(&prog, Ids::Sample(p), 0..size, None, Options::default());
        assert_same_rows(&rows, &reference);
        assert!(!prog.dense_off.load(std::sync::atomic::Ordering::Relaxed));
    }

    #[test]
    fn dense_lookups_portable_and_dispatched_agree() {
        // tables filled by a quarter of a sample of the whole space (chains of the rest end
        // early: entries not recorded), then by all of it; each time every batch of the space
        // read both ways (the overflow space: some rows' sums overflow)
        for (spec, part) in [chain_spec(), overflow_spec()].into_iter().flat_map(|s| [(s.clone(), 4), (s, 1)]) {
            let prog = compile(&Spec::from_value(&spec).unwrap()).unwrap();
            let size: u64 = prog.vars.iter().map(|v| v.choices.len() as u64).product();
            let p = Permutation::new(size as Id, 3);
            evaluate(&prog, Ids::Sample(p), 0..size / part, None, Options::default());
            let layout = dense_layout(&prog, Options::default()).unwrap();
            let shared = prog.dense_tables.read().unwrap();
            let t = shared.as_ref().unwrap();
            let radix = prog.radix();
            let (mut digits, mut row) = (vec![0u64; DENSE_BATCH * radix.len()], vec![0u64; radix.len()]);
            let (mut read, mut oks) = (0, 0);
            for start in (0..size).step_by(DENSE_BATCH) {
                let ids: Vec<Id> = (start..(start + DENSE_BATCH as u64).min(size)).map(|i| p.apply(i)).collect();
                for (b, &id) in ids.iter().enumerate() {
                    decode(id, &radix, &mut row);
                    for (v, &d) in row.iter().enumerate() {
                        digits[v * DENSE_BATCH + b] = d;
                    }
                }
                let (mut a, mut b) = (dense::Batch::default(), dense::Batch::default());
                t.lookup(layout, &digits, DENSE_BATCH, ids.len(), &mut a);
                t.lookup_portable(layout, &digits, DENSE_BATCH, ids.len(), &mut b);
                assert_eq!(a, b, "batch at {start}");
                read += ids.len();
                oks += a.ok.iter().filter(|&&x| x).count();
            }
            assert!(oks > 0 && read == size as usize && (part == 1 || oks < read), "{oks} of {read} rows read");
        }
    }

    /// A variable's values by digit, through the two-table permute (up to 16 choices) and
    /// portably, equal plain indexing for every row of a batch.
    #[test]
    fn picked_values_equal_indexing() {
        for len in [1usize, 2, 8, 9, 11, 16, 17, 40] {
            let raw: Vec<i64> = (0..len as i64).map(|k| k * 1_000_003 - 7 * (k % 3) - (1 << 40) * (k % 2)).collect();
            let d: [u64; DENSE_BATCH] = std::array::from_fn(|b| ((b * 7 + b / 3) % len) as u64);
            let want: Vec<i64> = d.iter().map(|&x| raw[x as usize]).collect();
            let (mut a, mut b) = ([0i64; DENSE_BATCH], [0i64; DENSE_BATCH]);
            let choices: Vec<Value> = raw.iter().map(|&x| Value::Int(x)).collect();
            pick(&pick_table(&choices), len, &d, &mut a);
            pick_portable(&raw, &d, &mut b);
            assert_eq!((a.to_vec(), b.to_vec()), (want.clone(), want), "{len} choices");
        }
    }

    #[test]
    fn streamed_and_cached_stores_append_the_same_words() {
        // columns starting at every offset within a cache line (the streamed stores' head and
        // tail go word by word), lengths below, at and past a line and a batch
        for store in [Store::Cached, Store::Streamed] {
            for start in 0..9u64 {
                for n in [0u64, 1, 7, 8, 9, 64, 67] {
                    let mut col: Vec<u64> = Vec::with_capacity(start as usize);
                    col.extend(0..start);
                    let src: Vec<u64> = (0..n).map(|k| 1000 + k).collect();
                    store.extend(&mut col, &src);
                    let mut signed: Vec<i64> = vec![-1; start as usize];
                    store.extend(&mut signed, &src.iter().map(|&x| -(x as i64)).collect::<Vec<_>>());
                    Store::fence();
                    assert_eq!(col, (0..start).chain(1000..1000 + n).collect::<Vec<_>>(), "{store:?} start {start} n {n}");
                    assert_eq!(signed.len() as u64, start + n);
                    assert!(signed[start as usize..].iter().zip(1000..).all(|(&x, k)| x == -k), "{store:?} start {start} n {n}");
                }
            }
        }
    }

    #[test]
    fn programs_that_are_no_chain_have_no_dense_tables() {
        // the projection shortcut reads the block input, made before the segment's cut
        assert!(dense_layout(&space(), Options::default()).is_none());
    }

    #[test]
    fn sampled_and_explicit_rows_equal_analyze() {
        let prog = space();
        let size: u64 = prog.vars.iter().map(|v| v.choices.len() as u64).product();
        let (cols, _) = evaluate(&prog, Ids::Sample(Permutation::new(size as Id, 7)), 0..200, None, Options::default());
        check_against_analyze(&prog, &cols);
        let ids = [5 as Id, 3, 900, 5, 1];
        let (cols, _) = evaluate(&prog, Ids::Explicit(&ids), 0..5, None, Options::default());
        assert_eq!(cols.variant_id, [5u64, 3, 900, 5, 1]);
        check_against_analyze(&prog, &cols);
    }

    /// A 10^30-variant space: sampled ids reach beyond 2^64 (their high words are kept), and
    /// each row is the analysis of its concrete model.
    #[test]
    fn sampling_beyond_2_64_ids() {
        let vars: serde_json::Map<String, serde_json::Value> = (0..30).map(|i| (format!("v{i}"), json!((1..=10).collect::<Vec<u64>>()))).collect();
        let layers: Vec<serde_json::Value> = (0..30).map(|i| json!({"op": "linear", "out_features": format!("=v{i}")})).collect();
        let prog = compile(&Spec::from_value(&json!({"name": "big", "input": [4], "variables": vars, "layers": layers})).unwrap()).unwrap();
        let size = 10u128.pow(30);
        let (cols, counts) = evaluate(&prog, Ids::Sample(Permutation::new(size, 1)), 0..300, None, Options::default());
        assert_eq!((cols.len(), counts.kept), (300, 300));
        assert!(cols.wide && cols.variant_id_hi.len() == 300);
        let ids: std::collections::HashSet<Id> = (0..300).map(|r| cols.id(r)).collect();
        assert_eq!(ids.len(), 300);
        assert!(ids.iter().all(|&id| id < size) && ids.iter().filter(|&&id| id > u64::MAX as Id).count() > 290);
        check_against_analyze(&prog, &cols);
        // the same ids given explicitly give the same rows
        let list: Vec<Id> = (0..300).map(|r| cols.id(r)).collect();
        let (again, _) = evaluate(&prog, Ids::Explicit(&list), 0..300, None, Options::default());
        assert_eq!((again.variant_id, again.variant_id_hi, again.metrics), (cols.variant_id.clone(), cols.variant_id_hi.clone(), cols.metrics.clone()));
    }

    #[test]
    fn statically_off_layers_and_finished_blocks_can_be_named() {
        let spec = json!({
            "input": [4, 8, 8],
            "variables": {"w": [4, 8]},
            "layers": [
                {"name": "blk{b}", "repeat": 2, "index": "b", "layers": [
                    {"name": "body", "layers": [
                        {"name": "conv", "op": "conv2d", "out_channels": "=w", "kernel_size": 3, "padding": 1}
                    ]},
                    {"name": "proj", "op": "conv2d", "out_channels": "=w", "kernel_size": 1, "inputs": ["block_input"], "when": "=b == 0"},
                    {"name": "sum", "op": "add", "inputs": ["body.conv", "proj"]}
                ]}
            ]
        });
        let prog = compile(&Spec::from_value(&spec).unwrap()).unwrap();
        // blk1.proj is statically off, so blk1.sum adds blk1.body.conv and blk1's input
        let model = model_json(&prog, 1).unwrap();
        let layers = model["layers"].as_array().unwrap();
        let sum1 = layers.iter().find(|l| l["name"] == "blk1.sum").unwrap();
        assert_eq!(sum1["inputs"], json!(["blk1.body.conv", "blk0.sum"]));
        let (cols, _) = evaluate(&prog, Ids::Grid, 0..2, None, Options::default());
        check_against_analyze(&prog, &cols);
    }

    #[test]
    fn thread_count_does_not_change_rows() {
        let prog = space();
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let three = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let p = Ids::Sample(Permutation::new(1944, 3));
        let (a, _) = one.install(|| evaluate(&prog, p, 0..1944, None, Options::default()));
        let (b, _) = three.install(|| evaluate(&prog, p, 0..1944, None, Options::default()));
        assert_eq!(a.variant_id, b.variant_id);
        assert_eq!(a.metrics, b.metrics);
        assert_eq!(a.errors, b.errors);
    }

    #[test]
    fn filter_pushdown_equals_filtering_afterwards() {
        let prog = space();
        let f = Filter::new("params < 3000 and macs > 1000", &prog).unwrap();
        let (all, _) = evaluate(&prog, Ids::Grid, 0..1944, None, Options::default());
        let (kept, counts) = evaluate(&prog, Ids::Grid, 0..1944, Some(&f), Options::default());
        let want: Vec<u64> = (0..all.len())
            .filter(|&r| all.valid[r] && all.metrics[0][r] < 3000 && all.metrics[3][r] > 1000)
            .map(|r| all.variant_id[r])
            .collect();
        assert_eq!(kept.variant_id, want);
        assert_eq!(counts.kept + counts.filtered_out, 1944);
    }
}
