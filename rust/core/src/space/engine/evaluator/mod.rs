//! The evaluator: one thread's state for evaluating variants one by one, the reference path
//! (`reuse = false`) and the fast paths' fallback.
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
//! (`block.rs`).

use super::block::{self, Plan};
use super::columns::{Columns, Counts};
use super::dense::tables::{Batch, Trace};
use super::filter::{write_row, Filter};
use super::memo::{Memo, MemoPool, Segments};
use crate::error::Error;
use crate::graph::{Options, Totals, SUMMED};
use crate::memory::{Chain, Keeper, Liveness, Step, StepKind};
use crate::metric::{self, NUM_METRICS};
use crate::num::{add, mul};
use crate::ops::Op;
use crate::shape::Shape;
use crate::space::compile::{build_op, Instance, OpSource, Pred, Program, Replicas};
use crate::space::expr::Value;
use crate::space::ids::{decode, increment, Id, Ids};
use std::mem::take;
use std::sync::OnceLock;

mod grid;

enum Outcome {
    Rejected,
    Invalid(String),
    Valid,
}

/// Per-thread evaluation state; reused across the variants of a range.
pub(crate) struct Evaluator<'p> {
    prog: &'p Program,
    /// where the memo comes from and goes back to
    pool: &'p MemoPool,
    opts: Options,
    /// ids come in increasing runs (grid order), so checkpoints and digit increments pay off
    sequential: bool,
    /// some expression belongs to no instance (so no segment would bring it up to date)
    eager_exprs: bool,
    /// repetitions that repeat the one before them are copied (`run_range`; reuse only)
    copy_replicas: bool,
    variant: Variant,
    results: Results<'p>,
    peak: Peak,
    replay: Replay<'p>,
    /// the last Valid outcome took its peak from the chain summaries
    pub(crate) peak_from_chain: bool,
    /// the last variant evaluated was valid (kept by a filter or not)
    pub(crate) last_valid: bool,
}

/// The current variant: its digits, and the values of its variables and expressions.
struct Variant {
    radix: Vec<u64>,
    digits: Vec<u64>,
    /// the digits before a jump (`seek`)
    prev_digits: Vec<u64>,
    have_digits: bool,
    last_id: Id,
    /// variable values, derived values, then the metric values a filter reads
    slots: Vec<Value>,
    /// count/`when` expression values
    exprs: Vec<Value>,
    /// derived values hold for the current digits
    exprs_valid: bool,
    /// count/`when` expression values: all stale, or those reading variable positions >= this
    exprs_all_stale: bool,
    expr_dirty: usize,
}

/// What the instances made for the current variant, and the totals saved where a
/// re-evaluation can start.
struct Results<'p> {
    /// first instance whose result depends on variable position >= p, for p in 0..=P
    first_dirty: &'p [usize],
    /// instances where a re-evaluation can start: totals are saved before them
    is_checkpoint: Vec<bool>,
    /// instances [0, valid_upto) hold results for the current digits
    valid_upto: usize,
    values: Vec<Shape>,
    steps: Vec<Step<'p>>,
    /// per instance, the values its step reads ([`crate::space::compile::Instance::reads`]): which inputs of a
    /// `drop_off_inputs` layer are on (0 for every other layer)
    cases: Vec<u32>,
    /// some layer drops switched-off inputs: steps' reads vary per variant
    drops: bool,
    saved: Vec<Totals>,
    saved_layers: Vec<u64>,
    /// per instance, what it added to MACs, other ops and activation bytes (kept for a program
    /// whose layers off the output's path vary per variant, `Program::dynamic_dead`)
    added: Vec<[u64; 3]>,
    running: Totals,
    num_layers: u64,
    /// per first instance of a repetition that a replica repeats (`Replicas::source`): the call
    /// of `run_range` that met it, the layers and the summed totals before it
    rep_saved: Vec<(u32, u64, [u64; SUMMED])>,
    /// the current call of `run_range` (a repetition met by another call is not copied)
    rep_call: u32,
    /// an instance's input shapes (a buffer)
    inputs: Vec<Shape>,
    /// what autograd keeps for the backward: each value's storage and gradient, kept storages
    keeper: Keeper,
    totals: Totals,
    out_shape: Shape,
}

/// The peak activation: liveness walks, resumed at cuts in grid order, or the segments' chain
/// summaries.
struct Peak {
    liveness: Liveness,
    /// liveness cuts (grid order only): the checkpoints, as value indices; values 0..=c are
    /// made by the instances before checkpoint c, which a change of later digits leaves alone
    cuts: Vec<usize>,
    /// values 0..=live_valid are unchanged since the last liveness walk
    live_valid: usize,
    /// liveness chain states before each segment (and after the last); those before segments
    /// [0, chain_valid] hold for the segments' current outcomes
    chain: Vec<Chain>,
    chain_valid: usize,
}

/// Segment replay and grid blocks (reuse only).
struct Replay<'p> {
    /// the instances split at the checkpoints, and remembered segment outcomes
    segs: Option<&'p Segments>,
    memo: Option<Memo>,
    /// the memo entry (segment, place) this variant's last segment was replayed from
    replayed_last: Option<(usize, usize)>,
    /// per segment, the place of the memo entry holding its current outcome
    seg_way: Vec<usize>,
    /// grid order: how blocks of consecutive ids are written from suffix tables (`block.rs`)
    plan: Option<&'p Plan>,
    /// the current block's key (a buffer)
    key: Vec<u64>,
    /// block rows before a filter sees them
    scratch: Option<Columns>,
}

/// What every evaluator of a program derives from it alone, made once per engine
/// ([`MemoPool::prepared`]): an evaluator used to make it for itself, which for a call of a few
/// ids cost more than evaluating them (MobileNet's grid-block plan: ~70 % of a one-id call).
pub(crate) struct Prepared {
    /// first instance whose result depends on variable position >= p, for p in 0..=P
    first_dirty: Vec<usize>,
    /// the checkpoints inside the program (instance indices in 1..n, ascending): segment bounds
    /// and, in grid order, liveness cuts
    cuts: Vec<usize>,
    /// the segments in grid order (split at `cuts`) and in random order (split at those of
    /// `cuts` where one value is live: a chain)
    segs: Segments,
    random_segs: Segments,
    /// some count or `when` expression belongs to no instance
    eager_exprs: bool,
    /// the grid-block plan (`block.rs`), made when a grid first needs it
    plan: OnceLock<Option<Plan>>,
}

impl Prepared {
    pub(crate) fn new(prog: &Program) -> Prepared {
        let nvar = prog.vars.len();
        let n = prog.instances.len();
        let mut first_dirty = vec![n; nvar + 1];
        for (p, first) in first_dirty.iter_mut().enumerate() {
            *first = prog.instances.iter().position(|i| i.max_var.is_some_and(|m| m >= p)).unwrap_or(n);
        }
        let mut cuts: Vec<usize> = first_dirty.iter().copied().filter(|&c| c >= 1 && c < n).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let segs = Segments::new(prog, &cuts);
        // in random order, cut only where the value at the cut is the one value made before it
        // that later instances read (a residual's shortcut or a cell's input live across a cut
        // would join the segments either side): the segments then form a chain, which the dense
        // tables and the chain peaks need
        let mut low = usize::MAX;
        let mut chain_cut = vec![false; n + 1];
        for (k, inst) in prog.instances.iter().enumerate().rev() {
            low = low.min(inst.inputs.iter().copied().min().unwrap_or(usize::MAX));
            chain_cut[k] = low >= k;
        }
        let chain_cuts: Vec<usize> = cuts.iter().copied().filter(|&c| chain_cut[c]).collect();
        let random_segs = Segments::new(prog, &chain_cuts);
        let eager_exprs = {
            let mut used = vec![false; prog.exprs.len()];
            // (the conditions of a `drop_off_inputs` layer's inputs belong to it: the variables
            // they read are among its own)
            let drops = prog.instances.iter().filter_map(|i| i.drop.as_ref()).flat_map(|d| d.present.iter().flatten().flatten());
            for p in prog.instances.iter().flat_map(|i| &i.preds).chain(drops) {
                match *p {
                    Pred::Truthy(e) | Pred::Greater(e, _) => used[e] = true,
                }
            }
            used.contains(&false)
        };
        Prepared { first_dirty, cuts, segs, random_segs, eager_exprs, plan: OnceLock::new() }
    }

    fn plan(&self, prog: &Program) -> Option<&Plan> {
        self.plan
            .get_or_init(|| Plan::new(prog, &self.segs.bounds, &self.segs.vars, &self.segs.ext, &self.first_dirty, self.eager_exprs))
            .as_ref()
    }
}

impl Drop for Evaluator<'_> {
    fn drop(&mut self) {
        // the next evaluator of this program starts with what this one learnt
        if let Some(m) = self.replay.memo.take() {
            self.pool.give(m);
        }
        let (v, r) = (&mut self.variant, &mut self.results);
        self.pool.give_buffers(Buffers {
            digits: take(&mut v.digits),
            prev_digits: take(&mut v.prev_digits),
            slots: take(&mut v.slots),
            exprs: take(&mut v.exprs),
            is_checkpoint: take(&mut r.is_checkpoint),
            values: take(&mut r.values),
            cases: take(&mut r.cases),
            saved: take(&mut r.saved),
            saved_layers: take(&mut r.saved_layers),
            added: take(&mut r.added),
            rep_saved: take(&mut r.rep_saved),
            rep_call: r.rep_call,
            keeper: take(&mut r.keeper),
            liveness: take(&mut self.peak.liveness),
            chain: take(&mut self.peak.chain),
            seg_way: take(&mut self.replay.seg_way),
        });
    }
}

/// An evaluator's buffers sized by its program, kept by the pool ([`MemoPool::take_buffers`])
/// between the evaluators of that program: allocating them (zeroed, ~0.8 MB for the ResNet
/// family's 2,600 instances) cost a third of a call of one id. A taken buffer of the right
/// length keeps its old contents, which no evaluator reads before writing: every result is
/// read only below `valid_upto` (0 for a new evaluator), the liveness walk is not resumed below
/// `live_valid` (0), the chain states not beyond `chain_valid` (0), and a repetition's saved
/// totals only when they carry the current `rep_call`, which keeps counting from the last
/// evaluator's.
#[derive(Default)]
pub(crate) struct Buffers {
    digits: Vec<u64>,
    prev_digits: Vec<u64>,
    slots: Vec<Value>,
    exprs: Vec<Value>,
    is_checkpoint: Vec<bool>,
    values: Vec<Shape>,
    cases: Vec<u32>,
    saved: Vec<Totals>,
    saved_layers: Vec<u64>,
    added: Vec<[u64; 3]>,
    rep_saved: Vec<(u32, u64, [u64; SUMMED])>,
    rep_call: u32,
    keeper: Keeper,
    liveness: Liveness,
    chain: Vec<Chain>,
    seg_way: Vec<usize>,
}

/// `v` with length `len`: kept as it is when it has that length, else filled with `x`.
fn sized<T: Clone>(mut v: Vec<T>, len: usize, x: T) -> Vec<T> {
    if v.len() != len {
        v.clear();
        v.resize(len, x);
    }
    v
}

impl<'p> Evaluator<'p> {
    pub(crate) fn new(prog: &'p Program, pool: &'p MemoPool, opts: Options, sequential: bool, memo: bool) -> Evaluator<'p> {
        let copy_replicas = memo;
        // layers off the output's path in some variants only: every variant from scratch, then
        // the per-variant pass of `eval`
        let (sequential, memo) = if prog.dynamic_dead { (false, false) } else { (sequential, memo) };
        let nvar = prog.vars.len();
        let n = prog.instances.len();
        let prepared = pool.prepared(prog);
        let first_dirty = &prepared.first_dirty[..];
        // checkpoints only pay off when consecutive variants share leading digits (grid order)
        let b = pool.take_buffers();
        let mut is_checkpoint = b.is_checkpoint;
        is_checkpoint.clear();
        is_checkpoint.resize(n + 1, false);
        if sequential {
            for &k in first_dirty {
                is_checkpoint[k] = true;
            }
        }
        is_checkpoint[0] = true;
        let steps = prog.instances.iter().map(|i| Step { kind: StepKind::Skipped, bytes: 0, reads: &i.inputs, scratch: 0 }).collect();
        // segments serve any order (a random sample revisits a stage's few (digits, input)
        // keys too); resumed liveness walks only grid order
        let segs = memo.then_some(if sequential { &prepared.segs } else { &prepared.random_segs });
        let cuts = if sequential && memo { prepared.cuts.clone() } else { Vec::new() };
        let tag = (opts.batch, opts.dtype.bytes());
        let memo = segs.map(|segments| pool.take(segments, tag));
        if let Some(segments) = segs {
            // segments start at checkpoints: totals are saved there
            for &b in &segments.bounds {
                is_checkpoint[b] = true;
            }
        }
        let eager_exprs = prepared.eager_exprs;
        let plan = if memo.is_some() && sequential { prepared.plan(prog) } else { None };
        Evaluator {
            prog,
            pool,
            opts,
            sequential,
            eager_exprs,
            copy_replicas,
            variant: Variant {
                radix: prog.radix(),
                digits: sized(b.digits, nvar, 0),
                prev_digits: sized(b.prev_digits, nvar, 0),
                have_digits: false,
                last_id: 0,
                slots: sized(b.slots, prog.num_slots() + NUM_METRICS, Value::Int(0)),
                exprs: sized(b.exprs, prog.exprs.len(), Value::Int(0)),
                exprs_valid: false,
                exprs_all_stale: true,
                expr_dirty: 0,
            },
            results: Results {
                first_dirty,
                is_checkpoint,
                valid_upto: 0,
                values: sized(b.values, n + 1, Shape::new(&[1]).unwrap()),
                steps,
                cases: sized(b.cases, n, 0),
                drops: prog.instances.iter().any(|i| i.drop.is_some()),
                saved: sized(b.saved, n + 1, Totals::default()),
                saved_layers: sized(b.saved_layers, n + 1, 0),
                added: sized(b.added, if prog.dynamic_dead { n } else { 0 }, [0; 3]),
                running: Totals::default(),
                num_layers: 0,
                rep_saved: sized(b.rep_saved, prog.replicas.sources, (0, 0, [0; SUMMED])),
                rep_call: b.rep_call,
                inputs: Vec::with_capacity(8),
                keeper: {
                    let mut k = b.keeper;
                    k.resize(n + 1);
                    k
                },
                totals: Totals::default(),
                out_shape: Shape::new(&[1]).unwrap(),
            },
            peak: Peak { liveness: b.liveness, cuts, live_valid: 0, chain: sized(b.chain, n + 2, Chain::default()), chain_valid: 0 },
            replay: Replay { segs, memo, replayed_last: None, seg_way: sized(b.seg_way, n + 1, 0), plan, key: Vec::new(), scratch: None },
            peak_from_chain: false,
            last_valid: false,
        }
    }

    /// The slots: variable values, derived values, then the metric values a filter reads.
    pub(crate) fn slots_mut(&mut self) -> &mut [Value] {
        &mut self.variant.slots
    }

    /// The instances split into segments (None when the evaluator replays nothing).
    pub(crate) fn segments(&self) -> Option<&Segments> {
        self.replay.segs
    }

    /// Some count or `when` expression belongs to no instance.
    pub(crate) fn eager_exprs(&self) -> bool {
        self.eager_exprs
    }

    /// How grid blocks are written from suffix tables (grid order with reuse only).
    pub(crate) fn plan(&self) -> Option<&Plan> {
        self.replay.plan
    }

    /// Set the digits for `id`; returns the leftmost variable position that changed.
    fn seek(&mut self, id: Id) -> usize {
        let p = if !self.sequential {
            decode(id, &self.variant.radix, &mut self.variant.digits);
            0
        } else if self.variant.have_digits && id == self.variant.last_id.wrapping_add(1) {
            increment(&mut self.variant.digits, &self.variant.radix)
        } else if self.variant.have_digits && id == self.variant.last_id {
            self.variant.radix.len()
        } else if self.variant.have_digits {
            // a jump (the next block, the next sorted sample): only the digits that differ make
            // results stale
            std::mem::swap(&mut self.variant.digits, &mut self.variant.prev_digits);
            decode(id, &self.variant.radix, &mut self.variant.digits);
            self.variant.prev_digits.iter().zip(&self.variant.digits).position(|(a, b)| a != b).unwrap_or(self.variant.radix.len())
        } else {
            decode(id, &self.variant.radix, &mut self.variant.digits);
            0
        };
        self.variant.have_digits = true;
        self.variant.last_id = id;
        for v in p..self.variant.radix.len() {
            self.variant.slots[v] = self.prog.vars[v].choices[self.variant.digits[v] as usize];
        }
        p
    }

    fn eval(&mut self, id: Id) -> Outcome {
        let prog = self.prog;
        let nvar = prog.vars.len();
        let p = self.seek(id);
        // results of instances that read a changed variable are stale from here on
        self.results.valid_upto = self.results.valid_upto.min(self.results.first_dirty[p]);
        // derived and count/when values only change when a variable they read changed
        let fresh = |m: &Option<usize>| p == 0 || m.is_some_and(|m| m >= p);
        let all = !self.variant.exprs_valid;
        self.variant.exprs_valid = false;
        for (j, (name, d)) in prog.derived.iter().enumerate() {
            if !all && !fresh(&prog.derived_deps[j].last().copied()) {
                continue;
            }
            match d.try_eval(&self.variant.slots) {
                Ok(v) => self.variant.slots[nvar + j] = v,
                Err(e) => {
                    self.results.valid_upto = 0;
                    return Outcome::Invalid(format!("derived variable '{name}': {e}"));
                }
            }
        }
        self.variant.exprs_valid = true;
        // count/`when` expressions are brought up to date lazily: a replayed segment needs none
        if all || p == 0 {
            self.variant.exprs_all_stale = true;
        }
        self.variant.expr_dirty = self.variant.expr_dirty.min(p);
        for (src, c) in &prog.constraints {
            match c.try_eval(&self.variant.slots) {
                Ok(v) if v.truthy() => {}
                Ok(_) => return Outcome::Rejected,
                Err(e) => return Outcome::Invalid(format!("constraint '{src}': {e}")),
            }
        }
        let n = prog.instances.len();
        self.replay.replayed_last = None;
        let mut start = self.results.valid_upto;
        if !self.results.is_checkpoint[start] && self.replay.segs.is_none() {
            // no totals were saved there (checkpoints are kept in grid order only): a variable-free
            // prefix (a fixed input shape, then layers no variable reaches) is run again
            start = 0;
        }
        if let Some(segs) = self.replay.segs {
            // a segment is replayed or run whole: start at its beginning (a checkpoint)
            if start < n {
                start = segs.bounds[segs.seg_of[start]];
            }
        }
        self.peak.live_valid = self.peak.live_valid.min(start);
        // With segments, expressions wait for the first segment that runs: a replayed one
        // evaluated its own without error for these digits. A fresh evaluation reports an
        // expression's error before an input shape's, so a bad input shape checks them first.
        if self.replay.segs.is_none() || self.eager_exprs {
            if let Err(m) = self.refresh_exprs() {
                self.results.valid_upto = 0;
                return Outcome::Invalid(m.to_string());
            }
        }
        self.results.keeper.begin(start);
        if start == 0 {
            // the input shape
            let mut dims = [0u64; crate::shape::MAX_RANK];
            dims[0] = self.opts.batch;
            let mut bad = None;
            if prog.input.len() + 1 > crate::shape::MAX_RANK {
                bad = Some("input rank too large".to_string());
            } else {
                for (i, a) in prog.input.iter().enumerate() {
                    match a.eval_u64(&self.variant.slots).filter(|&d| d > 0) {
                        Some(d) => dims[i + 1] = d,
                        None => {
                            bad = Some(format!("input dim {i} is not a positive integer"));
                            break;
                        }
                    }
                }
            }
            if let Some(m) = bad {
                self.results.valid_upto = 0;
                return Outcome::Invalid(self.refresh_exprs().err().map_or(m, |e| e.to_string()));
            }
            self.results.values[0] = Shape::new(&dims[..prog.input.len() + 1]).unwrap();
            self.results.running = Totals::default();
            self.results.num_layers = 0;
            // (an input too large to count fails in `finish`, as `graph::analyze` fails)
            let dt = self.opts.dtype.bytes();
            self.results.keeper.input(self.results.values[0].elements().ok().and_then(|e| e.checked_mul(dt)).unwrap_or(0));
        } else {
            self.results.running = self.results.saved[start].clone();
            self.results.num_layers = self.results.saved_layers[start];
        }
        let dt = self.opts.dtype.bytes();
        if self.replay.segs.is_none() {
            if let Err((k, e)) = self.run_range(start, n, dt, true) {
                self.results.valid_upto = k;
                return Outcome::Invalid(e.to_string());
            }
        } else {
            let segs = self.replay.segs.unwrap();
            if let Some(o) = self.run_segments(segs, start, dt) {
                return o;
            }
        }
        if self.results.is_checkpoint[n] {
            self.results.saved[n] = self.results.running.clone();
            self.results.saved_layers[n] = self.results.num_layers;
        }
        self.results.valid_upto = n;
        if self.results.num_layers == 0 {
            return Outcome::Invalid("no layer is switched on in this variant".into());
        }
        let last = (0..n).rev().find(|&k| self.results.steps[k].kind != StepKind::Skipped).unwrap();
        self.results.out_shape = self.results.values[last + 1];
        if prog.dynamic_dead {
            self.drop_off_path(last);
        }
        let mut finish = || -> Result<Totals, Error> {
            // (the walks leave the input out: the caller holds it throughout, finish adds it)
            let input_bytes = mul(self.results.values[0].elements()?, dt)?;
            // a chain of stages: the segments' summaries give the peak without a walk; the
            // states before unchanged segments are kept from the previous variant
            let chain = match (self.replay.segs, &self.replay.memo) {
                (Some(segs), Some(m)) => {
                    let nseg = segs.bounds.len() - 1;
                    self.peak.chain[0] = Chain::start(0);
                    let mut ok = true;
                    for j in self.peak.chain_valid..nseg {
                        match m.entry(segs, j, self.replay.seg_way[j]).and_then(|e| e.tail()).and_then(|t| self.peak.chain[j].then(t)) {
                            Some(next) => self.peak.chain[j + 1] = next,
                            None => {
                                ok = false;
                                break;
                            }
                        }
                    }
                    self.peak.chain_valid = if ok { nseg } else { 0 };
                    ok.then(|| self.peak.chain[nseg].peak)
                }
                _ => None,
            };
            self.peak_from_chain = chain.is_some();
            let peak = if let Some(p) = chain {
                // (the walk's remembered cuts did not see this variant)
                self.peak.live_valid = 0;
                p
            } else if !self.peak.cuts.is_empty() {
                // resume from the deepest cut whose values are unchanged
                let resume = self.peak.cuts.iter().rposition(|&c| c <= self.peak.live_valid);
                // only the replayed last segment changed: its summary gives the peak unwalked
                let tail = match (resume, self.replay.replayed_last, &self.replay.memo, self.replay.segs) {
                    (Some(r), Some((j, way)), Some(m), Some(segs)) if r + 1 == self.peak.cuts.len() => {
                        m.entry(segs, j, way).and_then(|e| e.tail())
                    }
                    _ => None,
                };
                let walked = match tail.and_then(|t| self.peak.liveness.peak_tail(0, &self.results.steps, t)) {
                    Some(p) => Ok(p),
                    None => self.peak.liveness.peak_cuts(0, &self.results.steps, &self.peak.cuts, resume),
                };
                // a walk that stopped half-way leaves its remembered cuts half-updated
                self.peak.live_valid = if walked.is_ok() { n } else { 0 };
                walked?
            } else {
                self.peak.liveness.peak(0, &self.results.steps)?
            };
            let mut t = self.results.running.clone();
            t.finish(input_bytes, peak, &self.opts)?;
            Ok(t)
        };
        match finish() {
            Ok(t) => {
                self.results.totals = t;
                Outcome::Valid
            }
            Err(e) => Outcome::Invalid(format!("totals: {e}")),
        }
    }

    /// Inference-only counting for a program whose layers off the output's path vary per
    /// variant (`Program::dynamic_dead`, evaluated from scratch): the instances that ran but
    /// whose output does not reach the last one's (`last`) give back their MACs, other ops and
    /// activation bytes, and their steps allocate nothing (as `graph::analyze` counts the
    /// concrete model). The next variant runs every instance again.
    fn drop_off_path(&mut self, last: usize) {
        let prog = self.prog;
        let n = prog.instances.len();
        let steps = &mut self.results.steps;
        // what provides each value: a switched-off instance passes its first input through
        let mut provider = vec![0usize; n + 1];
        for k in 0..n {
            provider[k + 1] =
                if steps[k].kind == StepKind::Skipped && !prog.instances[k].dead { provider[prog.instances[k].inputs[0]] } else { k + 1 };
        }
        let mut live = vec![false; n];
        live[last] = true;
        for k in (0..=last).rev() {
            if live[k] && steps[k].kind != StepKind::Skipped {
                for &r in steps[k].reads {
                    if provider[r] > 0 {
                        live[provider[r] - 1] = true;
                    }
                }
            }
        }
        let t = &mut self.results.running;
        for k in 0..n {
            if !live[k] && steps[k].kind != StepKind::Skipped {
                let [macs, other, act] = self.results.added[k];
                t.macs -= macs;
                t.other_ops -= other;
                t.activation_bytes -= act;
                steps[k].kind = StepKind::Skipped;
                steps[k].bytes = 0;
            }
        }
        self.results.valid_upto = 0;
    }

    /// Segments from the one holding `start` to the end: replayed from the memo when their
    /// digits and earlier shapes were seen before, run (and remembered) otherwise. Some(outcome)
    /// when an instance fails.
    fn run_segments(&mut self, segs: &'p Segments, start: usize, dt: u64) -> Option<Outcome> {
        let n = self.prog.instances.len();
        if start >= n {
            return None;
        }
        let last = segs.bounds.len() - 2;
        // the chain states after a segment that changes must be made again
        self.peak.chain_valid = self.peak.chain_valid.min(segs.seg_of[start]);
        for j in segs.seg_of[start]..=last {
            let (a, b) = (segs.bounds[j], segs.bounds[j + 1]);
            self.results.saved[a] = self.results.running.clone();
            self.results.saved_layers[a] = self.results.num_layers;
            let memo = self.replay.memo.as_mut().unwrap();
            if let Some(way) = memo.lookup(segs, j, &self.variant.digits, &self.results.values, &self.results.keeper) {
                let e = memo.entry(segs, j, way).unwrap();
                let mut replayed = self.results.running.clone();
                // an overflow is left to the instances, whose message names the layer
                if replayed.add_summed(e.delta()) {
                    self.results.running = replayed;
                    self.results.num_layers += e.layers();
                    for (&v, shape) in segs.keep[j].iter().zip(e.keep()) {
                        self.results.values[v] = shape;
                    }
                    if let Some((v, shape)) = e.last_active() {
                        self.results.values[v] = shape;
                    }
                    // what the segment's layers keep, as its last layer had kept it
                    let keeper = &mut self.results.keeper;
                    for (&x, kept) in segs.ext[j].iter().zip(e.ext_kept()) {
                        if kept {
                            let r = keeper.state(x, a).root as usize;
                            keeper.mark(r, b - 1);
                        }
                    }
                    for (&v, st) in segs.keep[j].iter().zip(e.keep_states()) {
                        keeper.set_relative(v, st, &segs.ext[j], b - 1);
                    }
                    for (st, (kind, bytes, _, scratch)) in self.results.steps[a..b].iter_mut().zip(e.steps()) {
                        st.kind = kind;
                        st.bytes = bytes;
                        st.scratch = scratch;
                    }
                    if self.results.drops {
                        let prog = self.prog;
                        for (k, (_, _, case, _)) in (a..b).zip(e.steps()) {
                            self.results.steps[k].reads = prog.instances[k].reads(case);
                            self.results.cases[k] = case as u32;
                        }
                    }
                    if j == last {
                        self.replay.replayed_last = Some((j, way));
                    }
                    self.replay.seg_way[j] = way;
                    continue;
                }
            }
            // a replayed segment's expressions evaluated without error for these digits before;
            // the first segment run brings all of them up to date
            if let Err(m) = self.refresh_exprs() {
                self.results.valid_upto = a;
                return Some(Outcome::Invalid(m.to_string()));
            }
            let before = self.results.running.summed();
            let layers_before = self.results.num_layers;
            if let Err((k, e)) = self.run_range(a, b, dt, false) {
                self.results.valid_upto = k;
                return Some(Outcome::Invalid(e.to_string()));
            }
            let after = self.results.running.summed();
            let delta = std::array::from_fn(|i| after[i] - before[i]);
            self.replay.seg_way[j] = self.replay.memo.as_mut().unwrap().store(
                segs,
                j,
                &self.variant.digits,
                &self.results.values,
                delta,
                self.results.num_layers - layers_before,
                &self.results.steps,
                &self.results.cases,
                &self.results.keeper,
            );
        }
        None
    }

    /// Evaluate the count/`when` expressions that read a variable changed since they were last
    /// evaluated (errors come in expression order, as for a fresh evaluation).
    fn refresh_exprs(&mut self) -> Result<(), Error> {
        let prog = self.prog;
        if !self.variant.exprs_all_stale && self.variant.expr_dirty >= prog.vars.len() {
            return Ok(());
        }
        for (i, e) in prog.exprs.iter().enumerate() {
            if !self.variant.exprs_all_stale && prog.expr_max_var[i].is_none_or(|m| m < self.variant.expr_dirty) {
                continue;
            }
            self.variant.exprs[i] = e.try_eval(&self.variant.slots).map_err(|e| Error::expression("", e))?;
        }
        self.variant.exprs_all_stale = false;
        self.variant.expr_dirty = prog.vars.len();
        Ok(())
    }

    /// Run instances `a..b`, saving the totals before each checkpoint if `checkpoints`; a
    /// repetition that repeats the one just run is copied (`replica`). An error names the
    /// instance it happened at.
    fn run_range(&mut self, a: usize, b: usize, dt: u64, checkpoints: bool) -> Result<(), (usize, Error)> {
        let reps: &'p Replicas = &self.prog.replicas;
        self.results.rep_call = self.results.rep_call.wrapping_add(1);
        if self.results.rep_call == 0 {
            // (after 2^32 calls: no entry may look as if this call had made it)
            self.results.rep_saved.iter_mut().for_each(|e| e.0 = 0);
            self.results.rep_call = 1;
        }
        let mut k = a;
        while k < b {
            if checkpoints && self.results.is_checkpoint[k] {
                self.results.saved[k] = self.results.running.clone();
                self.results.saved_layers[k] = self.results.num_layers;
            }
            if self.copy_replicas && !reps.lens[k].is_empty() {
                if let Some(len) = self.replica(k, a, b, checkpoints) {
                    k += len;
                    continue;
                }
            }
            if let Some(s) = reps.source.get(k).filter(|&&s| s != Replicas::NONE) {
                self.results.rep_saved[*s as usize] = (self.results.rep_call, self.results.num_layers, self.results.running.summed());
            }
            self.step(k, dt).map_err(|e| (k, e))?;
            k += 1;
        }
        Ok(())
    }

    /// Copy the outcome of the repetition before `k` into a repetition starting at `k` that
    /// repeats it (`compile/replicas.rs`), if this call of `run_range` (from `a`, up to `b`) ran
    /// or copied that one, its input has the shape of this one's, the same layers are on, no
    /// checkpoint lies inside and the totals do not overflow; returns the length copied. Same
    /// ops on inputs of the same shapes make the same shapes and amounts, layer for layer.
    fn replica(&mut self, k: usize, a: usize, b: usize, checkpoints: bool) -> Option<usize> {
        let prog: &'p Program = self.prog;
        let reps = &prog.replicas;
        for &len in &reps.lens[k] {
            let len = len as usize;
            if k < a + len || k + len > b {
                continue;
            }
            let prev = k - len;
            let (call, layers_before, sum_before) = self.results.rep_saved[reps.source[prev] as usize];
            if call != self.results.rep_call || self.results.values[prev] != self.results.values[k] {
                continue;
            }
            let same = (0..len).all(|t| {
                self.active(&prog.instances[k + t]) == (self.results.steps[prev + t].kind != StepKind::Skipped)
                    && !(checkpoints && t > 0 && self.results.is_checkpoint[k + t])
            });
            // what autograd keeps: the same input state, the same earlier storages kept
            let further = (prev..k).flat_map(|i| prog.instances[i].inputs.iter().copied().filter(|&x| x < prev));
            if !same || !self.results.keeper.repeats(prev, k, further) {
                continue;
            }
            let now = self.results.running.summed();
            let layers_now = self.results.num_layers;
            let delta: [u64; SUMMED] = std::array::from_fn(|i| now[i] - sum_before[i]);
            if !self.results.running.add_summed(&delta) {
                // (the layers, run one by one, name the one that overflows)
                continue;
            }
            if let Some(&s) = reps.source.get(k).filter(|&&s| s != Replicas::NONE) {
                self.results.rep_saved[s as usize] = (self.results.rep_call, layers_now, now);
            }
            self.results.num_layers += layers_now - layers_before;
            self.results.values.copy_within(prev + 1..k + 1, k + 1);
            self.results.keeper.repeat(prev, k);
            for t in 0..len {
                let st = self.results.steps[prev + t];
                let to = &mut self.results.steps[k + t];
                to.kind = st.kind;
                to.bytes = st.bytes;
                to.scratch = st.scratch;
            }
            return Some(len);
        }
        None
    }

    /// Whether `inst` is switched on for the current variant (its count/`when` conditions).
    #[inline(always)]
    fn active(&self, inst: &Instance) -> bool {
        inst.preds.iter().all(|p| match *p {
            Pred::Truthy(e) => self.variant.exprs[e].truthy(),
            Pred::Greater(e, r) => matches!(self.variant.exprs[e], Value::Int(c) if c > r),
        })
    }

    /// Run instance `k`: its shape rule and costs into the running totals, its value and step.
    fn step(&mut self, k: usize, dt: u64) -> Result<(), Error> {
        let prog: &'p Program = self.prog;
        let inst = &prog.instances[k];
        let active = self.active(inst);
        if !active {
            if prog.dynamic_dead {
                self.results.added[k] = [0; 3];
            }
            self.results.values[k + 1] = self.results.values[inst.inputs[0]];
            self.results.keeper.pass(k, inst.inputs[0]);
            self.results.steps[k].kind = StepKind::Skipped;
            self.results.steps[k].bytes = 0;
            self.results.steps[k].scratch = 0;
            if inst.drop.is_some() {
                // (a skipped step passes its first declared input through)
                self.results.steps[k].reads = &inst.inputs;
                self.results.cases[k] = 0;
            }
            return Ok(());
        }
        let fail = |e: Error| e.at(&inst.name, &inst.op_name);
        let built: Box<dyn Op>;
        let op: &dyn Op = match &inst.op {
            OpSource::Const(op) => op.as_ref(),
            OpSource::Table { vars, strides, ops } => {
                let idx: u64 = vars.iter().zip(strides).map(|(&v, &s)| self.variant.digits[v] * s).sum();
                ops[idx as usize].as_ref().map_err(|e| fail(e.clone()))?.as_ref()
            }
            OpSource::Dynamic => {
                built = build_op(&inst.op_name, &inst.attrs, &self.variant.slots).map_err(fail)?;
                built.as_ref()
            }
        };
        // `drop_off_inputs`: the op (or what stands for it) on the inputs that are on
        let (op, reads): (&dyn Op, &'p [usize]) = match &inst.drop {
            None => (op, &inst.inputs),
            Some(d) => {
                let mask = d.mask(&self.variant.exprs);
                let Some(c) = d.case(mask) else {
                    return Err(fail(Error::model(format!(
                        "internal error: the set of inputs on ({mask:#b}) was not found when compiling"
                    ))));
                };
                let case = &d.cases[c];
                self.results.steps[k].reads = &case.reads;
                self.results.cases[k] = c as u32 + 1;
                (case.replaced.as_ref().map_or(op, |(_, r)| r.as_ref()), &case.reads)
            }
        };
        let (lo, hi) = op.arity();
        if reads.len() < lo || reads.len() > hi {
            return Err(fail(Error::model(format!("takes {lo} to {hi} inputs, got {}", reads.len()))));
        }
        self.results.inputs.clear();
        for &i in reads {
            self.results.inputs.push(self.results.values[i]);
        }
        let view = op.aliases_input();
        let ev = op.apply(&self.results.inputs).map_err(fail)?;
        // an instance off the output's path (inference-only counting, as `graph::analyze`):
        // params and buffers only, and a step that allocates and reads nothing
        let cost = crate::graph::inference_cost(&ev.cost, !inst.dead);
        let amounts = ev
            .shape
            .elements()
            .and_then(|numel| self.results.running.accumulate(&cost, inst.trainable, if inst.dead { 0 } else { numel }, view, dt))
            .map_err(fail)?;
        if prog.dynamic_dead {
            self.results.added[k] = [cost.macs, cost.other_ops, amounts.activation_bytes];
        }
        // what autograd keeps (a layer off the output's path too: training runs it)
        let kept = op.saved(&self.results.inputs, &ev.shape).and_then(|s| {
            let out_bytes = mul(ev.shape.elements()?, dt)?;
            let own_grad = inst.trainable && amounts.params > 0;
            self.results.keeper.step(k, reads, &s, own_grad, view, out_bytes, dt)
        });
        self.results.running.saved_bytes = kept.and_then(|b| add(self.results.running.saved_bytes, b)).map_err(fail)?;
        self.results.values[k + 1] = ev.shape;
        self.results.steps[k].kind = if inst.dead {
            StepKind::Skipped
        } else if view {
            StepKind::Alias
        } else {
            StepKind::Own
        };
        self.results.steps[k].bytes = amounts.activation_bytes;
        self.results.steps[k].scratch = if inst.dead { 0 } else { op.scratch_bytes(&self.results.inputs, &ev.shape, dt).map_err(fail)? };
        self.results.num_layers += 1;
        Ok(())
    }

    pub(crate) fn run(
        &mut self,
        ids: Ids,
        positions: std::ops::Range<u64>,
        filter: Option<&Filter>,
        out: &mut Columns,
        counts: &mut Counts,
    ) {
        let mut pos = positions.start;
        let filter_fits = filter.is_none_or(|f| block::filter_fits(f.slots(), self.prog));
        while pos < positions.end {
            // grid order: whole blocks at once
            let len = match (self.replay.plan, ids) {
                (Some(p), Ids::Grid) if filter_fits && pos.is_multiple_of(p.len) && pos + p.len <= positions.end => p.len,
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

    /// Evaluate `id` and write its row (unless rejected or filtered out); true if it is a
    /// valid row.
    pub(crate) fn run_one(&mut self, id: Id, filter: Option<&Filter>, out: &mut Columns, counts: &mut Counts) -> bool {
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
        let metrics = if error.is_none() { metric::values(&self.results.totals, self.results.num_layers) } else { [0; NUM_METRICS] };
        write_row(self.prog, id, error, &metrics, &self.results.out_shape, filter, &mut self.variant.slots, out, counts)
    }

    /// The next evaluation runs every segment (so that [`Evaluator::trace`] can read them all).
    pub(crate) fn forget(&mut self) {
        self.results.valid_upto = 0;
    }

    /// What the last evaluation (a valid variant, every segment run or replayed in it, the peak
    /// from the chain) did per cut and per segment: what dense tables record (`dense/tables.rs`).
    pub(crate) fn trace(&self) -> Option<Trace> {
        let (segs, memo) = (self.replay.segs?, self.replay.memo.as_ref()?);
        let (m, n) = (segs.bounds.len() - 1, self.prog.instances.len());
        let input_bytes = self.results.values[0].elements().ok()?.checked_mul(self.opts.dtype.bytes())?;
        let (mut keys, mut seg) = (Vec::with_capacity(m + 1), Vec::with_capacity(m));
        let (mut last, mut k) = (0, 0);
        for j in 0..=m {
            let a = segs.bounds[j];
            while k < a {
                if self.results.steps[k].kind != StepKind::Skipped {
                    last = k + 1;
                }
                k += 1;
            }
            let mut key = vec![0u64; 2 * Shape::WORDS + 3];
            self.results.values[a].write(&mut key[..Shape::WORDS]);
            self.results.values[last].write(&mut key[Shape::WORDS..2 * Shape::WORDS]);
            key[2 * Shape::WORDS] = self.peak.chain[j].cur();
            // what autograd keeps of the value at the cut (its storage stated apart from the
            // root's number, which no later segment reads); after the last segment nothing reads
            // it (and a replay of that segment leaves it as it was)
            if j < m {
                let st = self.results.keeper.state(a, a);
                key[2 * Shape::WORDS + 1..].copy_from_slice(&crate::memory::ValueState { root: 0, ..st }.words());
            }
            keys.push(key);
            if j < m {
                let b = segs.bounds[j + 1];
                let (after, layers_after) = if b == n {
                    (self.results.running.summed(), self.results.num_layers)
                } else {
                    (self.results.saved[b].summed(), self.results.saved_layers[b])
                };
                let before = self.results.saved[a].summed();
                let own = self.peak.chain[j].restarted().then(memo.entry(segs, j, self.replay.seg_way[j])?.tail()?)?;
                seg.push((std::array::from_fn(|i| after[i] - before[i]), layers_after - self.results.saved_layers[a], own.peak));
            }
        }
        Some(Trace { keys, segs: seg, input_bytes, out_shape: self.results.out_shape })
    }

    /// Write the row of a variant read from dense tables; false (nothing written or counted)
    /// when it needs a full evaluation: a derived variable's or constraint's error, or an
    /// overflow in the finished totals, whose messages the evaluator makes.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write_hit(
        &mut self,
        id: Id,
        digits: &[u64],
        batch: &Batch,
        b: usize,
        shape: &Shape,
        filter: Option<&Filter>,
        out: &mut Columns,
        counts: &mut Counts,
    ) -> bool {
        let Some(sum) = batch.summed(b) else { return false };
        let prog = self.prog;
        let nvar = prog.vars.len();
        for (v, (s, &d)) in self.variant.slots[..nvar].iter_mut().zip(digits).enumerate() {
            *s = prog.vars[v].choices[d as usize];
        }
        for (j, (_, d)) in prog.derived.iter().enumerate() {
            match d.try_eval(&self.variant.slots) {
                Ok(v) => self.variant.slots[nvar + j] = v,
                Err(_) => return false,
            }
        }
        for (_, c) in &prog.constraints {
            match c.try_eval(&self.variant.slots) {
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
        write_row(prog, id, None, &metric::values(&t, batch.layers[b]), shape, filter, &mut self.variant.slots, out, counts);
        true
    }
}
