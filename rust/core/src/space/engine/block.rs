//! Block emission for grid sweeps.
//!
//! In grid order the last variables change fastest. Split the variables at a position `q`: the
//! suffix variables `q..` run through all their L = Π radix[q..] combinations over L
//! consecutive ids (a *block*, starting at a multiple of L), while the prefix digits stay
//! fixed. Every instance before `cut` (the first instance that reads a suffix variable) is the
//! same for the whole block. What the instances from `cut` on add to the totals, their output
//! shape and their liveness peak depend only on the suffix digits and on a *key*: the prefix
//! digits the suffix reads (directly or through derived variables and constraints), the values
//! made before the cut that it reads (their shapes, and for the saved bytes whether each
//! requires a gradient, its storage and whether that is kept), and the bytes of the storage live
//! at the cut.
//!
//! The first block with a key is evaluated row by row and each row's suffix outcome recorded in
//! a [`Table`]; a later block with the same key is written column by column from the table and
//! the prefix's totals — no shape rule, memo lookup or liveness step per row. For VGG's space
//! (q = `depth[4]`, L = 704) the key is stage 4's output shape; for ResNet-50's (q = `depth[2]`,
//! L = 1,600) `width_per_group` and layer2's output shape.
//!
//! Exactness: a table is used only when every row of its recorded block was valid with its peak
//! from the chain summaries (any other row poisons the key, whose blocks then run row by row),
//! and a block only when no sum or product of it can overflow, checked once per block from the
//! table's column maxima; otherwise its rows are evaluated one by one, so every error and
//! message is that of a fresh evaluation. The peak composes as max(prefix peak, suffix peak):
//! a chain state's peak only ever grows by `max`, so the suffix's own peak, walked from the
//! storage at the cut with a zero peak, is the same for every prefix with that key.

use super::columns::{raw, Columns};
use crate::graph::{Options, Totals, KEPT, SUMMED};
use crate::memory::Keeper;
use crate::metric::{col, KEPT_COLUMNS};
use crate::shape::Shape;
use crate::space::compile::Program;
use crate::space::expr::Value;
use std::collections::HashMap;

/// Largest block: its table must stay cache-sized.
const MAX_ROWS: u64 = 4096;
/// Smallest block worth a table (a block costs one full evaluation and a lookup).
const MIN_ROWS: u64 = 8;
/// Bound on one cache's tables (u64 words); a full cache is emptied.
const BUDGET_WORDS: usize = 4 << 20;

/// How a program's grid splits into blocks (None: it does not).
pub(crate) struct Plan {
    /// first suffix variable position
    pub(crate) q: usize,
    /// the first instance that reads a suffix variable; a segment boundary
    pub(crate) cut: usize,
    /// the segment starting at `cut`
    pub(crate) seg0: usize,
    /// rows per block
    pub(crate) len: u64,
    /// prefix digit positions the suffix outcome depends on
    key_digits: Vec<usize>,
    /// values made at or before the cut that the suffix reads
    key_values: Vec<usize>,
    /// per suffix variable (positions q..), its column over one block (raw 64-bit values)
    pub(crate) pattern: Vec<Vec<i64>>,
    /// per suffix variable, the rows a digit of it lasts (Π radix of the later ones)
    pub(crate) strides: Vec<u64>,
}

impl Plan {
    /// The split with the fewest prefix-digit combinations in its key per block row, among
    /// those with MIN_ROWS..=MAX_ROWS rows a block; None if none qualifies. The segments
    /// (`memo.rs`) are given by their bounds, the digit positions each reads and the values made
    /// before each that it reads.
    pub(crate) fn new(
        prog: &Program,
        seg_bounds: &[usize],
        seg_vars: &[Vec<usize>],
        seg_ext: &[Vec<usize>],
        first_dirty: &[usize],
        eager_exprs: bool,
    ) -> Option<Plan> {
        let nvar = prog.vars.len();
        let n = prog.instances.len();
        if eager_exprs || nvar == 0 {
            return None;
        }
        let radix = prog.radix();
        // slot -> primaries (derived slots through their dependencies)
        let deps_of = |s: usize| -> Vec<usize> {
            if s < nvar {
                vec![s]
            } else {
                prog.derived_deps[s - nvar].clone()
            }
        };
        let mut best: Option<(f64, Plan)> = None;
        let mut len = 1u64;
        for q in (1..nvar).rev() {
            len = match len.checked_mul(radix[q]) {
                Some(l) if l <= MAX_ROWS => l,
                _ => break,
            };
            let cut = first_dirty[q];
            if len < MIN_ROWS || cut == 0 || cut >= n || prog.input_max_var.is_some_and(|m| m >= q) {
                continue;
            }
            let Some(seg0) = seg_bounds.iter().position(|&b| b == cut) else { continue };
            let mut key_digits: Vec<usize> = seg_vars[seg0..].iter().flatten().copied().filter(|&v| v < q).collect();
            // derived variables and constraints that mix prefix and suffix digits decide a row's
            // outcome (an error, a rejection) from both
            let mixed = prog
                .derived_deps
                .iter()
                .cloned()
                .chain(prog.constraints.iter().map(|(_, c)| c.slots().into_iter().flat_map(deps_of).collect()));
            for d in mixed {
                if d.iter().any(|&v| v >= q) {
                    key_digits.extend(d.iter().copied().filter(|&v| v < q));
                }
            }
            key_digits.sort_unstable();
            key_digits.dedup();
            let mut key_values: Vec<usize> = seg_ext[seg0..].iter().flatten().copied().filter(|&x| x <= cut).collect();
            key_values.sort_unstable();
            key_values.dedup();
            let combos = key_digits.iter().fold(1f64, |acc, &v| acc * radix[v] as f64);
            let score = len as f64 / combos;
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                let pattern = (q..nvar)
                    .map(|v| {
                        let stride: u64 = radix[v + 1..].iter().product();
                        (0..len).map(|r| raw(prog.vars[v].choices[((r / stride) % radix[v]) as usize])).collect()
                    })
                    .collect();
                let strides = (q..nvar).map(|v| radix[v + 1..].iter().product()).collect();
                best = Some((score, Plan { q, cut, seg0, len, key_digits, key_values, pattern, strides }));
            }
        }
        best.map(|(_, p)| p)
    }

    /// The key of the current prefix: its digits, the shapes the suffix reads and their states
    /// for the saved bytes ([`Keeper::ext_words`] before the cut), the bytes at the cut.
    pub(crate) fn key(&self, digits: &[u64], values: &[Shape], keeper: &Keeper, cur: u64, out: &mut Vec<u64>) {
        out.clear();
        out.extend(self.key_digits.iter().map(|&v| digits[v]));
        let mut w = [0u64; Shape::WORDS];
        for (i, &x) in self.key_values.iter().enumerate() {
            values[x].write(&mut w);
            out.extend_from_slice(&w);
            out.extend_from_slice(&keeper.ext_words(&self.key_values, i, self.cut));
        }
        out.push(cur);
    }
}

/// Whether a `where` filter reading `slots` can judge block rows: it may read metrics and
/// primary variables, not derived variables (those are not evaluated for table rows).
pub(crate) fn filter_fits(slots: Vec<usize>, prog: &Program) -> bool {
    slots.iter().all(|&s| s < prog.vars.len() || s >= prog.num_slots())
}

/// The suffix outcomes of one key, row by row over a block.
pub(crate) struct Table {
    /// rows recorded so far (in order)
    rows: usize,
    /// a row could not be recorded: blocks with this key run row by row
    pub(crate) poisoned: bool,
    delta: [Vec<u64>; KEPT.len()],
    layers: Vec<u64>,
    peak: Vec<u64>,
    shapes: Vec<Shape>,
    max: [u64; KEPT.len()],
    max_layers: u64,
    max_peak: u64,
    /// every row has the same output shape
    same_shape: bool,
}

impl Table {
    fn new(len: usize) -> Table {
        Table {
            rows: 0,
            poisoned: false,
            delta: std::array::from_fn(|_| Vec::with_capacity(len)),
            layers: Vec::with_capacity(len),
            peak: Vec::with_capacity(len),
            shapes: Vec::with_capacity(len),
            max: [0; KEPT.len()],
            max_layers: 0,
            max_peak: 0,
            same_shape: true,
        }
    }

    fn words(len: usize) -> usize {
        len * (KEPT.len() + 2 + Shape::WORDS)
    }

    pub(crate) fn complete(&self, len: u64) -> bool {
        !self.poisoned && self.rows as u64 == len
    }

    /// Record block row `r`: what the suffix added to the summed totals, its layers, its own
    /// peak and the output shape. Rows must come in order; anything else poisons the table.
    pub(crate) fn record(&mut self, r: usize, delta: &[u64; SUMMED], layers: u64, peak: u64, shape: Shape) {
        if self.poisoned || r != self.rows {
            self.poisoned = true;
            return;
        }
        for (i, &f) in KEPT.iter().enumerate() {
            self.delta[i].push(delta[f]);
            self.max[i] = self.max[i].max(delta[f]);
        }
        self.layers.push(layers);
        self.max_layers = self.max_layers.max(layers);
        self.peak.push(peak);
        self.max_peak = self.max_peak.max(peak);
        self.same_shape &= self.shapes.first().is_none_or(|s| *s == shape);
        self.shapes.push(shape);
        self.rows += 1;
    }
}

/// Tables by key; bounded (a full cache is emptied). Lives in the pooled memo, so it outlasts
/// one evaluator.
#[derive(Default)]
pub(crate) struct Cache {
    tables: HashMap<Vec<u64>, Table>,
    words: usize,
    pub(crate) blocks: u64,
}

impl Cache {
    pub(crate) fn get(&self, key: &[u64]) -> Option<&Table> {
        self.tables.get(key)
    }

    /// The table for `key`, started empty if new.
    pub(crate) fn start(&mut self, key: &[u64], len: usize) -> &mut Table {
        if !self.tables.contains_key(key) {
            if self.words + Table::words(len) > BUDGET_WORDS {
                self.tables.clear();
                self.words = 0;
            }
            self.words += Table::words(len);
            self.tables.insert(key.to_vec(), Table::new(len));
        }
        self.tables.get_mut(key).unwrap()
    }

    pub(crate) fn get_mut(&mut self, key: &[u64]) -> Option<&mut Table> {
        self.tables.get_mut(key)
    }
}

/// What the rows of a block share: the totals, layers and peak before the cut.
pub(crate) struct Prefix<'a> {
    pub(crate) totals: &'a Totals,
    pub(crate) layers: u64,
    pub(crate) peak: u64,
    pub(crate) input_bytes: u64,
    pub(crate) opts: &'a Options,
}

/// Whether no row of `t` overflows on top of `p`: every output is monotone in the table's
/// columns, so their maxima bound it. Checked with [`Totals::finish`] itself.
pub(crate) fn fits(t: &Table, p: &Prefix) -> bool {
    let mut s = p.totals.summed();
    for (i, &f) in KEPT.iter().enumerate() {
        match s[f].checked_add(t.max[i]) {
            Some(x) => s[f] = x,
            None => return false,
        }
    }
    let mut m = p.totals.clone();
    crate::graph::set_summed(&mut m, s);
    p.layers.checked_add(t.max_layers).is_some() && m.finish(p.input_bytes, t.max_peak.max(p.peak), p.opts).is_ok()
}

/// Rows `from..` of a block into the metric columns and the shape column, with `fits` already
/// checked.
pub(crate) fn emit_metrics(
    t: &Table,
    from: usize,
    p: &Prefix,
    metrics: &mut [Vec<u64>],
    shape_offsets: &mut Vec<i64>,
    shape_values: &mut Vec<u64>,
) {
    let s = p.totals.summed();
    for (k, (&field, &column)) in KEPT.iter().zip(&KEPT_COLUMNS).enumerate() {
        metrics[column].extend(t.delta[k][from..].iter().map(|&d| s[field] + d));
    }
    let [params, trainable, flops, weight_bytes, buffer_bytes, macs, saved_bytes, peak, train_bytes, layers] = metrics
        .get_disjoint_mut([
            col::PARAMS,
            col::TRAINABLE_PARAMS,
            col::FLOPS,
            col::WEIGHT_BYTES,
            col::BUFFER_BYTES,
            col::MACS,
            col::SAVED_BYTES,
            col::PEAK_ACTIVATION_BYTES,
            col::TRAIN_BYTES,
            col::NUM_LAYERS,
        ])
        .expect("one column per metric");
    let n = t.rows - from;
    let start = params.len() - n;
    let (pr, tr, bb, mc, sb) = (&params[start..], &trainable[start..], &buffer_bytes[start..], &macs[start..], &saved_bytes[start..]);
    flops.extend(mc.iter().map(|&m| Totals::derived_unchecked(0, 0, 0, m, 0, p.opts).0));
    weight_bytes.extend(pr.iter().map(|&x| Totals::derived_unchecked(x, 0, 0, 0, 0, p.opts).1));
    train_bytes.extend((0..n).map(|r| Totals::derived_unchecked(pr[r], tr[r], bb[r], 0, sb[r], p.opts).2));
    // the input held throughout, as Totals::finish adds it (no overflow: `fits` checked it)
    peak.extend(t.peak[from..].iter().map(|&x| x.max(p.peak) + p.input_bytes));
    layers.extend(t.layers[from..].iter().map(|&x| x + p.layers));
    match t.same_shape {
        true => {
            let dims = t.shapes[0].dims();
            let base = *shape_offsets.last().unwrap();
            let w = dims.len() as i64;
            shape_offsets.extend((1..=n as i64).map(|k| base + k * w));
            for _ in 0..n {
                shape_values.extend_from_slice(dims);
            }
        }
        false => {
            for sh in &t.shapes[from..] {
                shape_values.extend_from_slice(sh.dims());
                shape_offsets.push(shape_values.len() as i64);
            }
        }
    }
}

/// Rows 1.. of a block from its suffix table, column by column ([`fits`] checked).
pub(crate) fn emit(t: &Table, plan: &Plan, prefix: &Prefix, first: u64, slots: &[Value], out: &mut Columns) {
    let len = plan.len;
    // (`fits` ruled out u64 overflow, not values beyond 2^63 - 1)
    out.unchecked_int64 = true;
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
    emit_metrics(t, 1, prefix, &mut out.metrics, &mut out.shape_offsets, &mut out.shape_values);
}
