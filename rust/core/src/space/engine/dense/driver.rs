//! Random order read from dense tables (`tables.rs`), a batch of [`BATCH`] variants at a time:
//! ids drawn and decoded to digits for the whole batch, the tables walked for all of its rows,
//! and a batch they answer whole written column by column; the rows they cannot answer yet are
//! evaluated in full by the evaluator, whose traces fill the tables.

use super::tables::{Batch, Layout, Tables, Trace, BATCH};
use super::DenseState;
use crate::graph::{Options, Totals};
use crate::metric::col;
use crate::space::compile::Program;
use crate::space::engine::columns::{raw, Columns, Counts};
use crate::space::engine::evaluator::Evaluator;
use crate::space::engine::filter::{filter_valid, Filter};
use crate::space::engine::memo::MemoPool;
use crate::space::engine::Given;
use crate::space::expr::Value;
use crate::space::ids::{decode, DigitDecoder, Id, Ids, Walk};
use crate::space::simd::{self, Store};

/// Variants read from dense tables at once (their cache misses overlap).
const DENSE_BATCH: usize = BATCH;
/// Batches a thread reads under one hold of the tables' read lock (a writer waits that long at
/// most: ~10^4 rows, well under a millisecond).
const HOLD_BATCHES: usize = 64;
/// Traces of full evaluations a thread keeps while another reads the tables, before it waits
/// to record them.
const PENDING_TRACES: usize = 1024;
/// Sample positions whose ids are drawn at once (a multiple of [`DENSE_BATCH`]).
const PERMUTE_AHEAD: u64 = 16 * DENSE_BATCH as u64;

/// The dense-table layout of `prog` (`tables.rs`), unless it is no chain of segments or dense
/// tables were turned off for it.
pub(crate) fn dense_layout<'a>(prog: &Program, state: &'a DenseState, pool: &MemoPool, opts: Options) -> Option<&'a Layout> {
    if state.off.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    state
        .layout
        .get_or_init(|| {
            let ev = Evaluator::new(prog, pool, opts, false, true);
            Layout::new(prog, ev.segments()?, ev.eager_exprs())
        })
        .as_ref()
}

/// Positions of `ids` read from dense tables (`tables.rs`); a variant they cannot answer yet is
/// evaluated in full and its trace recorded.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_dense(
    prog: &Program,
    state: &DenseState,
    pool: &MemoPool,
    layout: &Layout,
    ids: Ids,
    given: Option<Given>,
    positions: std::ops::Range<u64>,
    filter: Option<&Filter>,
    opts: Options,
    out: &mut Columns,
    counts: &mut Counts,
) {
    use std::sync::{atomic::Ordering::Relaxed, PoisonError};
    let tag = super::tag(opts);
    // (the write lock only when the tables must be made: a piece starting while another
    // thread holds the read lock would wait for up to HOLD_BATCHES batches)
    if state.tables.read().unwrap_or_else(PoisonError::into_inner).as_ref().is_none_or(|t| t.tag != tag) {
        let mut shared = state.tables.write().unwrap_or_else(PoisonError::into_inner);
        if shared.as_ref().is_none_or(|t| t.tag != tag) {
            *shared = Some(Tables::new(layout, tag));
        }
    }
    let mut ev = Evaluator::new(prog, pool, opts, false, true);
    let radix = prog.radix();
    let nvar = radix.len();
    let mut decoder = DigitDecoder::new(&radix);
    // each variable's values by digit (padded for `pick`), and its number of choices
    let raws: Vec<(Vec<i64>, usize)> = prog.vars.iter().map(|v| (pick_table(&v.choices), v.choices.len())).collect();
    // a batch goes column by column unless a row needs the evaluator's slots (a derived
    // variable that may fail makes its row invalid, a constraint may reject it)
    let columnar = prog.derived_infallible && prog.constraints.is_empty();
    let mut digits = vec![0u64; DENSE_BATCH * nvar];
    let mut row = vec![0u64; nvar];
    let (mut batch, mut walk): (Vec<Id>, Walk) = Default::default();
    // the batch's ids as 64-bit words (`batch` is then filled only for rows evaluated in full),
    // unless the space goes beyond 2^64
    let mut batch64: Vec<u64> = Vec::with_capacity(DENSE_BATCH);
    let wide = prog.wide_ids();
    // a sample's ids are drawn PERMUTE_AHEAD positions at a time: the permutation's cycle walk
    // ends in a tail of few words, whose rounds wait on their multiplies; a longer run of
    // positions keeps more of them in flight (`Permutation::apply_many`)
    let (mut ahead, mut ahead64, mut ahead_at): (Vec<Id>, Vec<u64>, u64) = (Vec::new(), Vec::new(), positions.start);
    let mut read = Batch::default();
    let mut shapes = Repeated::default();
    let mut rows = filter.map(|_| Columns::new(prog, DENSE_BATCH));
    let mut traces: Vec<(Vec<u64>, Trace)> = Vec::new();
    let (mut valid, mut traced) = (0u64, 0u64);
    // the tables' read lock is held for HOLD_BATCHES batches at a time (taking it is an atomic
    // on a line every thread shares), and given up for a writer whenever traces wait; rows read
    // are counted here and added to the tables' count as it is given up
    let mut guard: Option<std::sync::RwLockReadGuard<Option<Tables>>> = None;
    let (mut held, mut hits) = (0usize, 0u64);
    let release = |guard: &mut Option<std::sync::RwLockReadGuard<Option<Tables>>>, hits: &mut u64| {
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
            Ids::Sample(p) if p.narrow() && !wide => {
                draw(pos..end, positions.end, &mut ahead64, &mut ahead_at, &mut batch64, |r, a| p.apply_many64(r, a, &mut walk))
            }
            Ids::Sample(p) => draw(pos..end, positions.end, &mut ahead, &mut ahead_at, &mut batch, |r, a| p.apply_many(r, a, &mut walk)),
            _ => batch.extend((pos..end).map(|p| ids.id(p))),
        }
        if !wide && batch64.is_empty() {
            batch64.extend(batch.iter().map(|&i| i as u64));
        }
        let n = (end - pos) as usize;
        let first = pos as usize;
        pos = end;
        let decoded = if let Some(g) = given {
            // the caller's digits, row by row into the batch's columns
            for (b, row) in g.digits[first * g.nvar..(first + n) * g.nvar].chunks_exact(g.nvar).enumerate() {
                for (v, &d) in row.iter().enumerate() {
                    digits[v * DENSE_BATCH + b] = d as u64;
                }
            }
            true
        } else if wide {
            decoder.decode(&batch, &mut digits, DENSE_BATCH)
        } else {
            decoder.decode64(&batch64, &mut digits, DENSE_BATCH)
        };
        if !decoded {
            widen(&mut batch, &batch64);
            for (b, &id) in batch.iter().enumerate() {
                decode(id, &radix, &mut row);
                for (v, &d) in row.iter().enumerate() {
                    digits[v * DENSE_BATCH + b] = d;
                }
            }
        }
        {
            let shared = guard.get_or_insert_with(|| state.tables.read().unwrap_or_else(PoisonError::into_inner));
            let tables = shared.as_ref().filter(|t| t.tag == tag);
            if let Some(t) = tables {
                t.lookup(layout, &digits, DENSE_BATCH, n, &mut read);
                hits += Tables::read(&read);
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
                        (Some(f), Some(r)) => filter_valid(r, f, prog, ev.slots_mut(), out, counts, |r, slots| {
                            for (v, var) in prog.vars.iter().enumerate() {
                                slots[v] = var.choices[digits[v * DENSE_BATCH + r] as usize];
                            }
                            // (the filter may read them; they never fail)
                            let nvar = prog.vars.len();
                            for (j, (_, d)) in prog.derived.iter().enumerate() {
                                slots[nvar + j] = d.try_eval(slots).unwrap_or(Value::Int(0));
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
            // recorded when no other thread reads the tables; else kept for a later batch (a
            // thread in the middle of a batch of full evaluations holds its read lock for a
            // millisecond and more), unless many wait or the piece ends
            let shared = if traces.len() >= PENDING_TRACES || pos >= positions.end {
                Some(state.tables.write().unwrap_or_else(PoisonError::into_inner))
            } else {
                match state.tables.try_write() {
                    Ok(g) => Some(g),
                    Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
                    Err(std::sync::TryLockError::WouldBlock) => None,
                }
            };
            if let Some(mut shared) = shared {
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
    }
    release(&mut guard, &mut hits);
    // streamed stores are weakly ordered: they must be visible before this piece's columns are
    // handed to another thread
    Store::fence();
    // Sorted evaluation serves this program better when its valid variants leave no traces
    // (its liveness is no chain after all), or when the tables are full and still miss for
    // most variants (too many states).
    let crowded = state.tables.read().unwrap_or_else(PoisonError::into_inner).as_ref().is_some_and(|t| {
        let misses = t.misses_when_full.load(Relaxed);
        misses >= 128 && misses > t.hits.load(Relaxed)
    });
    if (valid >= 256 && traced == 0) || crowded {
        state.off.store(true, Relaxed);
    }
}

/// A batch's sample ids (positions `batch`) into `out`, from `ahead`, which holds the ids of the
/// positions from `ahead_at` on; when it does not reach the batch's end, it is refilled with
/// the next PERMUTE_AHEAD positions (not beyond `stop`) by `fill`.
fn draw<T: Copy>(
    batch: std::ops::Range<u64>,
    stop: u64,
    ahead: &mut Vec<T>,
    ahead_at: &mut u64,
    out: &mut Vec<T>,
    fill: impl FnOnce(std::ops::Range<u64>, &mut Vec<T>),
) {
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
fn emit_dense(
    tables: &Tables,
    opts: &Options,
    ids64: &[u64],
    ids: &[Id],
    digits: &[u64],
    raws: &[(Vec<i64>, usize)],
    read: &Batch,
    out: &mut Columns,
    store: Store,
    shapes: &mut Repeated,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if simd::avx512() {
        // SAFETY: `avx512` is true
        return unsafe { simd::compiled_for_avx512(|| emit_dense_body(tables, opts, ids64, ids, digits, raws, read, out, store, shapes)) };
    }
    emit_dense_body(tables, opts, ids64, ids, digits, raws, read, out, store, shapes)
}

/// A batch's output shape repeated for every row of a batch, kept from batch to batch: most
/// batches repeat the shape the one before did.
#[derive(Default)]
pub(crate) struct Repeated {
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

/// [`emit_dense`]'s code, for the baseline and (through `simd::compiled_for_avx512`) for AVX-512.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn emit_dense_body(
    tables: &Tables,
    opts: &Options,
    ids64: &[u64],
    ids: &[Id],
    digits: &[u64],
    raws: &[(Vec<i64>, usize)],
    read: &Batch,
    out: &mut Columns,
    store: Store,
    shapes: &mut Repeated,
) -> bool {
    let n = if out.wide { ids.len() } else { ids64.len() };
    let [params, trainable, buffers, macs, other_ops, activation, saved] = &read.sums;
    let buffer_bytes = &read.buffer_bytes;
    // every derived formula is monotone: finishing the columns' maxima rules overflow out
    let max = |c: &[u64]| c.iter().copied().max().unwrap_or(0);
    let mut t = Totals::default();
    crate::graph::set_summed(&mut t, read.max_summed());
    if t.finish(max(&read.input_bytes), read.max_peak(), opts).is_err() {
        return false;
    }
    // the same maxima say whether a row may pass the Int64 columns' 2^63 - 1
    if crate::metric::values(&t, max(&read.layers)).iter().any(|&v| v > i64::MAX as u64) {
        out.unchecked_int64 = true;
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
    // flops, weight_bytes and train_bytes by Totals::finish's formulas
    let m = &mut out.metrics;
    for (k, values) in [
        (col::PARAMS, params),
        (col::TRAINABLE_PARAMS, trainable),
        (col::BUFFERS, buffers),
        (col::MACS, macs),
        (col::OTHER_OPS, other_ops),
        (col::BUFFER_BYTES, buffer_bytes),
        (col::ACTIVATION_BYTES, activation),
        (col::SAVED_BYTES, saved),
        (col::NUM_LAYERS, &read.layers),
    ] {
        store.extend(&mut m[k], values);
    }
    // (one pass over the rows, slices of n rows: no bounds checks, 8 rows a vector where the
    // CPU has AVX-512)
    let (mut flops, mut weight, mut train) = ([0u64; DENSE_BATCH], [0u64; DENSE_BATCH], [0u64; DENSE_BATCH]);
    let rows = (&params[..n], &trainable[..n], &buffer_bytes[..n], &macs[..n], &saved[..n]);
    for (b, (f, (w, t))) in flops[..n].iter_mut().zip(weight[..n].iter_mut().zip(&mut train[..n])).enumerate() {
        (*f, *w, *t) = Totals::derived_unchecked(rows.0[b], rows.1[b], rows.2[b], rows.3[b], rows.4[b], opts);
    }
    store.extend(&mut m[col::FLOPS], &flops[..n]);
    store.extend(&mut m[col::WEIGHT_BYTES], &weight[..n]);
    store.extend(&mut m[col::TRAIN_BYTES], &train[..n]);
    // the peak with the input held throughout, as Totals::finish (no overflow: checked on the maxima)
    let peak = fill(&mut flops[..n], |b| read.peak[b] + read.input_bytes[b]);
    store.extend(&mut m[col::PEAK_ACTIVATION_BYTES], peak);
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
pub(crate) fn pick_table(choices: &[Value]) -> Vec<i64> {
    let mut t: Vec<i64> = choices.iter().map(|&c| raw(c)).collect();
    t.resize(t.len().max(PICK_TABLE), 0);
    t
}

pub(crate) use crate::space::simd::PICK_TABLE;

/// `words[b]` = `table[d[b]]` for a batch's digits (each below `choices`); `table` from
/// [`pick_table`].
pub(crate) fn pick(table: &[i64], choices: usize, d: &[u64; DENSE_BATCH], words: &mut [i64; DENSE_BATCH]) {
    #[cfg(target_arch = "x86_64")]
    if choices <= PICK_TABLE && simd::avx512() {
        // SAFETY: `avx512` is true
        return unsafe { simd::pick(table[..PICK_TABLE].try_into().expect("a padded table"), d, words) };
    }
    pick_portable(&table[..choices], d, words)
}

pub(crate) fn pick_portable(raw: &[i64], d: &[u64; DENSE_BATCH], words: &mut [i64; DENSE_BATCH]) {
    let last = raw.len() - 1;
    // (the min only spares a bounds check: garbage digits past the batch's rows give garbage)
    for (w, &d) in words.iter_mut().zip(d) {
        *w = raw[(d as usize).min(last)];
    }
}
