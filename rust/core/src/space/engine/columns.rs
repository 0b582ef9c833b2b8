//! Result columns of evaluated variants: variable values as raw 64-bit words, one column per
//! metric of [`crate::metric::METRICS`], and the counts of what a run evaluated, kept and dropped.

use crate::metric::{METRICS, NUM_METRICS};
use crate::space::compile::Program;
use crate::space::expr::Value;
use crate::space::ids::Id;

/// A string's raw column word: `STR_RAW_BASE + symbol id` (no int choice is that negative).
pub const STR_RAW_BASE: i64 = i64::MIN;

/// A value as raw 64 bits for a variable column.
#[inline]
pub fn raw(v: Value) -> i64 {
    match v {
        Value::Int(i) => i,
        Value::Float(f) => f.to_bits() as i64,
        Value::Bool(b) => b as i64,
        Value::Str(s) => STR_RAW_BASE + s.id() as i64,
    }
}

/// The error of a row whose metric values (in [`METRICS`] order) hold one beyond `i64::MAX`
/// (the metric columns are Int64), naming the first such metric; None if all fit.
pub(crate) fn beyond_int64(values: impl Iterator<Item = u64>) -> Option<String> {
    const LIMIT: u64 = i64::MAX as u64;
    let (m, v) = METRICS.iter().zip(values).find(|&(_, v)| v > LIMIT)?;
    Some(format!("{} = {v} is beyond 2^63 - 1 = {LIMIT}, the largest value of the Int64 metric columns", m.name))
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
    /// per primary variable: whether it exists in each row (a conditional variable, see
    /// `networks.rs`); empty where it exists in every row (always, without conditions)
    pub present: Vec<Vec<bool>>,
    pub valid: Vec<bool>,
    /// (row, message) of the invalid rows, in row order
    pub errors: Vec<(usize, String)>,
    /// one column per entry of `metric::METRICS`; 0 where the row is invalid (null in Arrow).
    /// Arrow gets them as Int64: a valid row's values are at most `i64::MAX`
    /// ([`Columns::invalidate_beyond_int64`])
    pub metrics: Vec<Vec<u64>>,
    /// output shapes as Arrow large-list offsets/values (batch included); empty for invalid rows
    pub shape_offsets: Vec<i64>,
    pub shape_values: Vec<u64>,
    /// rows were written in bulk (grid blocks, dense batches) whose metrics may pass 2^63 - 1:
    /// [`Columns::invalidate_beyond_int64`] must look at them (rows written one by one are
    /// checked as they are written; a dense batch checks its maxima)
    pub unchecked_int64: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub evaluated: u64,
    pub kept: u64,
    pub invalid: u64,
    pub rejected_by_constraints: u64,
    pub filtered_out: u64,
    /// rows on which the `where` filter failed (an index out of range, an overflow in that
    /// row): not kept, and not counted in `filtered_out`
    pub filter_errors: u64,
}

impl Counts {
    pub(crate) fn add(&mut self, o: &Counts) {
        self.evaluated += o.evaluated;
        self.kept += o.kept;
        self.invalid += o.invalid;
        self.rejected_by_constraints += o.rejected_by_constraints;
        self.filtered_out += o.filtered_out;
        self.filter_errors += o.filter_errors;
    }
}

impl Columns {
    pub(crate) fn new(prog: &Program, rows: usize) -> Columns {
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
            present: vec![Vec::new(); nvars],
            valid: Vec::with_capacity(rows),
            errors: Vec::new(),
            metrics: (0..NUM_METRICS).map(|_| Vec::with_capacity(rows)).collect(),
            shape_offsets: offsets,
            shape_values: Vec::with_capacity(rows * 2),
            unchecked_int64: false,
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
    pub(crate) fn push_row(&mut self, src: &Columns, r: usize) {
        self.push_id(src.id(r));
        for (o, c) in self.vars.iter_mut().zip(&src.vars) {
            o.push(c[r]);
        }
        for (v, p) in src.present.iter().enumerate() {
            if !p.is_empty() {
                let rows = self.valid.len();
                self.present[v].resize(rows, true);
                self.present[v].push(p[r]);
            }
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
    pub(crate) fn push_id(&mut self, id: Id) {
        self.variant_id.push(id as u64);
        if self.wide {
            self.variant_id_hi.push((id >> 64) as u64);
        }
    }

    /// Make every valid row with a metric beyond `i64::MAX` (the metric columns are Int64)
    /// invalid, with an error naming the metric and the limit, as an overflow of the u64
    /// arithmetic is; returns how many. One scan of the metric columns; rows are rebuilt only
    /// when one is found (a count beyond 9.2·10^18).
    pub fn invalidate_beyond_int64(&mut self) -> u64 {
        const LIMIT: u64 = i64::MAX as u64;
        // (an OR of the words, which vectorises, where `any` stops per element: this runs on
        // every piece, so it costs a read of the columns and nothing more)
        if !self.unchecked_int64 || self.metrics.iter().all(|c| c.iter().fold(0u64, |a, &x| a | x) <= LIMIT) {
            self.unchecked_int64 = false;
            return 0;
        }
        self.unchecked_int64 = false;
        let mut found = 0;
        let mut errors = std::mem::take(&mut self.errors);
        let mut values = Vec::with_capacity(self.shape_values.len());
        let mut offsets = vec![0i64];
        for r in 0..self.len() {
            let (a, b) = (self.shape_offsets[r] as usize, self.shape_offsets[r + 1] as usize);
            if self.valid[r] {
                if let Some(e) = beyond_int64(self.metrics.iter().map(|c| c[r])) {
                    self.valid[r] = false;
                    errors.push((r, e));
                    found += 1;
                    offsets.push(values.len() as i64);
                    continue;
                }
            }
            values.extend_from_slice(&self.shape_values[a..b]);
            offsets.push(values.len() as i64);
        }
        errors.sort_by_key(|e| e.0);
        self.errors = errors;
        self.shape_values = values;
        self.shape_offsets = offsets;
        found
    }

    /// Make the last row invalid with `error` (its shape dropped, as invalid rows have none).
    pub(crate) fn invalidate_last(&mut self, error: String) {
        let r = self.valid.len() - 1;
        self.valid[r] = false;
        self.errors.push((r, error));
        let start = self.shape_offsets[r];
        self.shape_values.truncate(start as usize);
        self.shape_offsets[r + 1] = start;
    }

    pub(crate) fn clear(&mut self) {
        self.variant_id.clear();
        self.variant_id_hi.clear();
        self.vars.iter_mut().for_each(Vec::clear);
        self.present.iter_mut().for_each(Vec::clear);
        self.valid.clear();
        self.errors.clear();
        self.metrics.iter_mut().for_each(Vec::clear);
        self.shape_offsets.truncate(1);
        self.shape_values.clear();
        self.unchecked_int64 = false;
    }

    pub(crate) fn append(&mut self, mut o: Columns) {
        self.variant_id.append(&mut o.variant_id);
        self.variant_id_hi.append(&mut o.variant_id_hi);
        for (a, b) in self.vars.iter_mut().zip(o.vars.iter_mut()) {
            a.append(b);
        }
        let rows = self.valid.len();
        for (a, b) in self.present.iter_mut().zip(o.present.iter_mut()) {
            if !b.is_empty() {
                a.resize(rows, true);
                a.append(b);
            } else if !a.is_empty() {
                a.resize(rows + o.valid.len(), true);
            }
        }
        self.valid.append(&mut o.valid);
        self.errors.extend(o.errors.drain(..).map(|(r, e)| (r + rows, e)));
        for (a, b) in self.metrics.iter_mut().zip(o.metrics.iter_mut()) {
            a.append(b);
        }
        let base = *self.shape_offsets.last().unwrap();
        self.shape_offsets.extend(o.shape_offsets[1..].iter().map(|x| x + base));
        self.shape_values.append(&mut o.shape_values);
        self.unchecked_int64 |= o.unchecked_int64;
    }
}
