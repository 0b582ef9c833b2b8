//! Evaluation of a compiled space's variants into column buffers, in parallel (rayon), with no
//! per-variant allocation on the common path.
//!
//! An [`Engine`] holds a [`Program`] (pure compiler output) and the run-time state evaluation
//! builds up and shares between threads and calls:
//! - the segment memos of finished evaluators (`memo.rs`), handed to the next ones;
//! - the number of ids a grid block spans (`block.rs`), once known;
//! - the dense tables for random order (`dense/`), their layout, and the switch that turns them
//!   off for a program whose variants they cannot record (sorted evaluation then serves it).
//!
//! Every evaluation entry point is a method of the engine; results never depend on this state
//! (it only decides how fast they come).
//!
//! The parts: `columns.rs` (result columns, metric list), `filter.rs` (the `where` filter and
//! row writing), `evaluator/` (one variant at a time: the reference path, with segment replay
//! and resumed liveness walks), `memo.rs` (segment memo), `block.rs` (grid blocks written from
//! suffix tables), `dense/` (random order from dense tables, 64 variants a batch, column by
//! column), `samples.rs` (a sample's chunk evaluated in ascending id order, for programs
//! without dense tables). `reuse = false` turns all of the fast paths off: the reference they
//! are tested against.

mod block;
mod columns;
pub(crate) mod dense;
mod evaluator;
mod filter;
mod memo;
mod samples;
#[cfg(test)]
mod tests;

pub use crate::space::ids::Ids;
pub use columns::{raw, Columns, Counts, STR_RAW_BASE};
pub use filter::{Filter, RowFilter, RowVerdicts};

use crate::error::{Error, ErrorKind};
use crate::graph::Options;
use crate::space::compile::{Pred, Program};
use crate::space::expr::Value;
use crate::space::ids::{decode, Id, Permutation};
use crate::space::networks::Networks;
use dense::driver::{dense_layout, run_dense};
use dense::DenseState;
use evaluator::Evaluator;
use memo::MemoPool;
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Positions evaluated by every engine of this process since it started (all calls, all
/// threads): a progress counter that callers poll while an evaluation runs (the command line's
/// progress within a chunk). Advanced once per finished piece, so it costs nothing per row.
static POSITIONS_DONE: AtomicU64 = AtomicU64::new(0);

/// The value of the progress counter (see [`POSITIONS_DONE`]).
pub fn positions_done() -> u64 {
    POSITIONS_DONE.load(Ordering::Relaxed)
}

/// A compiled space and the state its evaluations share (see the module documentation). Made
/// once per space; `&Engine` is shared by every thread and call (the bindings hold one per
/// compiled space).
pub struct Engine {
    program: Program,
    memo_pool: MemoPool,
    /// ids a grid block spans (1 without blocks), once known
    block_rows: OnceLock<u64>,
    dense: DenseState,
}

/// Each position's digits, made by the caller (`Engine::evaluate_networks`): row `k` is
/// `digits[k * nvar..(k + 1) * nvar]`, a byte a digit.
#[derive(Clone, Copy)]
pub(crate) struct Given<'a> {
    pub(crate) digits: &'a [u8],
    pub(crate) nvar: usize,
}

/// What the pooled segment memos have done (`examples/block_stats.rs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoStats {
    pub hits: u64,
    pub misses: u64,
    /// grid blocks written from suffix tables
    pub blocks: u64,
}

impl Engine {
    /// The engine of `program`, which it owns from now on ([`Engine::program`] lends it), with
    /// no run-time state yet.
    pub fn new(program: Program) -> Engine {
        Engine { program, memo_pool: MemoPool::default(), block_rows: OnceLock::new(), dense: DenseState::default() }
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The pooled memos' statistics, one entry per memo.
    pub fn memo_stats(&self) -> Vec<MemoStats> {
        self.memo_pool.memos().iter().map(|m| MemoStats { hits: m.hits, misses: m.misses, blocks: m.blocks.blocks }).collect()
    }

    /// Evaluate positions `range` of `ids` on the current rayon pool; rows come back in position
    /// order, identical whatever the thread count.
    pub fn evaluate(&self, ids: Ids, range: std::ops::Range<u64>, filter: Option<&Filter>, opts: Options) -> (Columns, Counts) {
        self.evaluate_with(ids, range, filter, opts, true)
    }

    /// [`Engine::evaluate`]; `reuse = false` evaluates every variant from scratch (no segment memo, no
    /// resumed liveness walks, no prefix reuse): the reference the fast paths are tested against.
    pub fn evaluate_with(
        &self,
        ids: Ids,
        range: std::ops::Range<u64>,
        filter: Option<&Filter>,
        opts: Options,
        reuse: bool,
    ) -> (Columns, Counts) {
        let (parts, counts) = self.evaluate_parts_with(ids, range, filter, opts, reuse);
        (self.joined(parts), counts)
    }

    /// Like [`Engine::evaluate`], but the columns of each contiguous piece are returned separately (in
    /// order), so they can become Arrow record batches without being copied together.
    pub fn evaluate_parts(&self, ids: Ids, range: std::ops::Range<u64>, filter: Option<&Filter>, opts: Options) -> (Vec<Columns>, Counts) {
        self.evaluate_parts_with(ids, range, filter, opts, true)
    }

    /// [`Engine::evaluate_parts`], with or without reuse (see [`Engine::evaluate_with`]).
    pub fn evaluate_parts_with(
        &self,
        ids: Ids,
        range: std::ops::Range<u64>,
        filter: Option<&Filter>,
        opts: Options,
        reuse: bool,
    ) -> (Vec<Columns>, Counts) {
        self.evaluate_pieces(ids, range, filter, opts, reuse, false)
    }

    /// [`Engine::evaluate_with`] on the calling thread alone, in one piece: for calls of a few
    /// variants (a search loop's candidates), where handing pieces to rayon's threads, each
    /// with its own evaluator, costs more than evaluating them. The same rows. (A sample's
    /// positions are still sorted on rayon's threads: small calls give explicit ids.)
    pub fn evaluate_serial(
        &self,
        ids: Ids,
        range: std::ops::Range<u64>,
        filter: Option<&Filter>,
        opts: Options,
        reuse: bool,
    ) -> (Columns, Counts) {
        let (parts, counts) = self.evaluate_pieces(ids, range, filter, opts, reuse, true);
        (self.joined(parts), counts)
    }

    /// Network ids or full ids, on rayon's threads or (`serial`) the calling thread.
    fn evaluate_pieces(
        &self,
        ids: Ids,
        range: std::ops::Range<u64>,
        filter: Option<&Filter>,
        opts: Options,
        reuse: bool,
        serial: bool,
    ) -> (Vec<Columns>, Counts) {
        match &self.program.networks {
            Some(networks) => self.evaluate_networks(networks, ids, range, filter, opts, reuse, serial),
            None => self.evaluate_full(ids, range, None, filter, opts, reuse, serial),
        }
    }

    /// The pieces' columns as one (the first piece's buffers kept).
    fn joined(&self, parts: Vec<Columns>) -> Columns {
        let mut parts = parts.into_iter();
        let mut out = parts.next().unwrap_or_else(|| Columns::new(&self.program, 0));
        for c in parts {
            out.append(c);
        }
        out
    }

    /// Positions of network ids (a space with conditional variables): the engine evaluates the
    /// full ids they map to, then each row gets its network id back and its absent variables
    /// marked (null in Arrow). `serial`: on the calling thread (see [`Engine::evaluate_serial`]).
    #[allow(clippy::too_many_arguments)]
    fn evaluate_networks(
        &self,
        networks: &Networks,
        ids: Ids,
        range: std::ops::Range<u64>,
        filter: Option<&Filter>,
        opts: Options,
        reuse: bool,
        serial: bool,
    ) -> (Vec<Columns>, Counts) {
        let radix = self.program.radix();
        let nvar = radix.len();
        // per position: the full id, and which conditional variables exist (bit i: the i-th
        // conditional variable), made once here so that rows need no decoding again
        let cond: Vec<usize> = (0..nvar).filter(|&v| networks.is_conditional(v)).collect();
        let map = |(digits, active): &mut (Vec<u64>, Vec<bool>), pos: u64| -> (Id, u128) {
            networks.digits(ids.id(pos), digits, active);
            let full = crate::space::ids::encode(digits, &radix).expect("full ids fit in 128 bits (checked when compiled)");
            let bits = if cond.len() <= 128 { cond.iter().enumerate().fold(0u128, |m, (i, &v)| m | ((active[v] as u128) << i)) } else { 0 };
            (full, bits)
        };
        let init = || (vec![0u64; nvar], vec![false; nvar]);
        // and its digits, a byte each where every variable has at most 256 choices: the dense
        // tables read them as they are instead of decoding the full id again (a u128 id:
        // division by division)
        let width = if radix.iter().all(|&r| r <= 256) { nvar } else { 0 };
        let len = range.end.saturating_sub(range.start) as usize;
        // (without digit rows, `rows` holds one unused byte a position, so that the zipped
        // iterators below have one item a position either way)
        let (mut full, mut bits, mut rows) = (vec![0 as Id; len], vec![0u128; len], vec![0u8; len * width.max(1)]);
        let one = |buf: &mut (Vec<u64>, Vec<bool>), (k, ((f, b), row)): (usize, ((&mut Id, &mut u128), &mut [u8]))| {
            (*f, *b) = map(buf, range.start + k as u64);
            if width > 0 {
                for (o, &d) in row.iter_mut().zip(&buf.0) {
                    *o = d as u8;
                }
            }
        };
        if serial {
            let mut buf = init();
            full.iter_mut().zip(bits.iter_mut()).zip(rows.chunks_mut(width.max(1))).enumerate().for_each(|x| one(&mut buf, x));
        } else {
            full.par_iter_mut().zip(bits.par_iter_mut()).zip(rows.par_chunks_mut(width.max(1))).enumerate().for_each_init(init, one);
        }
        let given = (width > 0).then_some(Given { digits: &rows, nvar });
        let (mut parts, counts) = self.evaluate_full(Ids::Explicit(&full), 0..full.len() as u64, given, filter, opts, reuse, serial);
        let wide = self.program.wide_variant_ids();
        // each row's position: rows come in position order (a filter drops some), and a row's
        // full id is its position's, so a pointer moves along the positions once (a repeated
        // explicit id matches an equal position: the same full id, the same network)
        let mut at = 0usize;
        let positions: Vec<Vec<usize>> = parts
            .iter()
            .map(|cols| {
                (0..cols.len())
                    .map(|r| {
                        let id = cols.id(r);
                        while full[at] != id {
                            at += 1;
                        }
                        at += 1;
                        at - 1
                    })
                    .collect()
            })
            .collect();
        let mark = |(cols, rows): (&mut Columns, &Vec<usize>)| {
            let mut present: Vec<Vec<bool>> =
                (0..nvar).map(|v| if networks.is_conditional(v) { Vec::with_capacity(rows.len()) } else { Vec::new() }).collect();
            if cond.len() <= 128 {
                // variable by variable: one bit of each row's mask
                for (i, &v) in cond.iter().enumerate() {
                    present[v].extend(rows.iter().map(|&p| bits[p] >> i & 1 == 1));
                }
            } else {
                let (mut digits, mut active) = init();
                for &p in rows {
                    networks.digits(ids.id(range.start + p as u64), &mut digits, &mut active);
                    for &v in &cond {
                        present[v].push(active[v]);
                    }
                }
            }
            cols.wide = wide;
            cols.variant_id.clear();
            cols.variant_id_hi.clear();
            for &p in rows {
                cols.push_id(ids.id(range.start + p as u64));
            }
            cols.present = present;
        };
        if serial {
            parts.iter_mut().zip(&positions).for_each(mark);
        } else {
            parts.par_iter_mut().zip(&positions).for_each(mark);
        }
        (parts, counts)
    }

    /// [`Engine::evaluate_parts_with`] of full ids (one digit per variable); `serial`: one piece,
    /// on the calling thread.
    #[allow(clippy::too_many_arguments)]
    fn evaluate_full(
        &self,
        ids: Ids,
        range: std::ops::Range<u64>,
        given: Option<Given>,
        filter: Option<&Filter>,
        opts: Options,
        reuse: bool,
        serial: bool,
    ) -> (Vec<Columns>, Counts) {
        let prog = &self.program;
        // layers off the output's path in some variants only: the reference path finds them
        let reuse = reuse && !prog.dynamic_dead;
        // random order: dense tables when the program is a chain of segments, else sorted ids;
        // a few explicit ids (a search loop's candidates, a point query) read tables an earlier
        // call made for these options in any order: sorted, they share too few digits for
        // prefix reuse to pay (with no tables yet, they are evaluated as before: recording
        // their traces would cost more than it saves)
        let dense = match ids {
            Ids::Sample(_) => reuse,
            Ids::Explicit(list) => {
                reuse && {
                    let list = &list[range.start as usize..range.end as usize];
                    !list.is_sorted() || (list.len() <= dense::tables::BATCH && self.dense.has_tables(opts))
                }
            }
            Ids::Grid => false,
        };
        let dense = if dense { dense_layout(prog, &self.dense, &self.memo_pool, opts) } else { None };
        if let (true, None, Ids::Sample(p)) = (reuse, dense, ids) {
            if range.end > range.start + 1 {
                return self.evaluate_sample_sorted(p, range, filter, opts, serial);
            }
        }
        let len = range.end.saturating_sub(range.start);
        let pieces = if serial { 1 } else { (rayon::current_num_threads() as u64 * 8).min(len.max(1)).max(1) };
        let step = len.div_ceil(pieces).max(1);
        // grid blocks must not straddle two pieces: inner piece bounds go to a multiple of the block
        let block = match (reuse, ids) {
            (true, Ids::Grid) => {
                *self.block_rows.get_or_init(|| Evaluator::new(prog, &self.memo_pool, opts, true, true).plan().map_or(1, |p| p.len))
            }
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
        let piece = |i: u64| {
            let (lo, hi) = (bound(i), bound(i + 1));
            let mut cols = Columns::new(prog, if filter.is_some() { 0 } else { (hi - lo.min(hi)) as usize });
            let mut counts = Counts::default();
            if let (true, Some(layout)) = (lo < hi, dense) {
                run_dense(prog, &self.dense, &self.memo_pool, layout, ids, given, lo..hi, filter, opts, &mut cols, &mut counts);
            } else if lo < hi {
                // ascending explicit ids share leading digits like grid order does
                let ascending = match ids {
                    Ids::Grid => true,
                    Ids::Explicit(list) => list[lo as usize..hi as usize].windows(2).all(|w| w[0] <= w[1]),
                    Ids::Sample(_) => false,
                };
                let mut ev = Evaluator::new(prog, &self.memo_pool, opts, reuse && ascending, reuse);
                ev.run(ids, lo..hi, filter, &mut cols, &mut counts);
            }
            // the metric columns are Int64: a count beyond 2^63 - 1 makes its row invalid
            counts.invalid += cols.invalidate_beyond_int64();
            POSITIONS_DONE.fetch_add(hi.saturating_sub(lo), Ordering::Relaxed);
            (cols, counts)
        };
        let parts: Vec<(Columns, Counts)> =
            if serial { (0..pieces).map(piece).collect() } else { (0..pieces).into_par_iter().map(piece).collect() };
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

    /// A sample's positions evaluated in ascending id order (`samples.rs`), then put back in
    /// position order.
    fn evaluate_sample_sorted(
        &self,
        p: Permutation,
        range: std::ops::Range<u64>,
        filter: Option<&Filter>,
        opts: Options,
        serial: bool,
    ) -> (Vec<Columns>, Counts) {
        let sorted = samples::Sorted::new(p, range);
        let (parts, counts) = self.evaluate_full(Ids::Explicit(&sorted.ids), 0..sorted.ids.len() as u64, None, filter, opts, true, serial);
        (sorted.gather(&self.program, &parts), counts)
    }
}

/// One variant's values: primaries (those that exist in it) then derived, by name.
pub fn config(prog: &Program, id: Id) -> Result<Vec<(String, Value)>, Error> {
    let (slots, active) = variant_slots(prog, id)?;
    let names = prog.vars.iter().map(|v| v.name.as_str()).chain(prog.derived.iter().map(|(n, _)| n.as_str()));
    Ok(names.zip(slots).enumerate().filter(|(i, _)| active.get(*i).is_none_or(|&a| a)).map(|(_, (n, v))| (n.to_string(), v)).collect())
}

/// The slot values of variant `id` (primaries, an absent one at its first choice, then derived)
/// and which primaries exist in it.
fn variant_slots(prog: &Program, id: Id) -> Result<(Vec<Value>, Vec<bool>), Error> {
    let radix = prog.radix();
    let mut digits = vec![0; radix.len()];
    let mut active = vec![true; radix.len()];
    match &prog.networks {
        Some(n) => n.digits(id, &mut digits, &mut active),
        None => decode(id, &radix, &mut digits),
    }
    let mut slots: Vec<Value> = prog.vars.iter().zip(&digits).map(|(v, &d)| v.choices[d as usize]).collect();
    for (name, d) in &prog.derived {
        let v = d.try_eval(&slots).map_err(|e| Error::expression(format!("derived variable '{name}'"), e))?;
        slots.push(v);
    }
    Ok((slots, active))
}

/// Whether the constraints admit variant `id`: the error [`model_json`] gives for a variant they
/// reject (or cannot evaluate), without building the model.
pub fn check_constraints(prog: &Program, id: Id) -> Result<(), Error> {
    let (slots, _) = variant_slots(prog, id)?;
    constraints_hold(prog, &slots, id)
}

fn constraints_hold(prog: &Program, slots: &[Value], id: Id) -> Result<(), Error> {
    for (src, c) in &prog.constraints {
        if !c.try_eval(slots).map_err(|e| Error::expression("", e))?.truthy() {
            return Err(Error::new(ErrorKind::ConstraintViolated { id, constraint: src.clone() }));
        }
    }
    Ok(())
}

/// The concrete model of variant `id` as a model-file JSON value: switched-off layers are
/// dropped and their readers rewired to what they passed through.
pub fn model_json(prog: &Program, id: Id) -> Result<serde_json::Value, Error> {
    use serde_json::{json, Map, Value as Json};
    let (slots, _) = variant_slots(prog, id)?;
    constraints_hold(prog, &slots, id)?;
    let exprs: Vec<Value> =
        prog.exprs.iter().map(|e| e.try_eval(&slots).map_err(|e| Error::expression("", e))).collect::<Result<_, _>>()?;
    let input: Vec<Json> = prog.input.iter().enumerate().map(|(i, a)| a.eval(&format!("input[{i}]"), &slots)).collect::<Result<_, _>>()?;
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
        // `drop_off_inputs`: the inputs that are on, and an identity or zeros layer in the op's
        // place where it cannot take that many
        let (op, reads, replaced) = match &inst.drop {
            None => (inst.op_name.as_str(), &inst.inputs, false),
            Some(d) => {
                let mask = d.mask(&exprs);
                let case = d.case(mask).map(|c| &d.cases[c]).ok_or_else(|| {
                    Error::model(format!("internal error: the set of inputs on ({mask:#b}) was not found when compiling"))
                        .at(&inst.name, &inst.op_name)
                })?;
                match &case.replaced {
                    Some((name, _)) => (*name, &case.reads, true),
                    None => (inst.op_name.as_str(), &case.reads, false),
                }
            }
        };
        let mut m = Map::new();
        m.insert("name".into(), Json::String(inst.name.clone()));
        m.insert("op".into(), Json::String(op.to_string()));
        m.insert("inputs".into(), Json::Array(reads.iter().map(|&i| Json::String(provider[i].clone())).collect()));
        if !inst.trainable {
            m.insert("trainable".into(), Json::Bool(false));
        }
        // (the ops that may be replaced, add and mul, take no attributes)
        if !replaced {
            for (k, a) in &inst.attrs {
                m.insert(k.clone(), a.eval(k, &slots).map_err(|e| e.at(&inst.name, &inst.op_name))?);
            }
        }
        layers.push(Json::Object(m));
        provider.push(inst.name.clone());
    }
    Ok(json!({"name": format!("{}#{id}", prog.name), "input": input, "layers": layers}))
}
