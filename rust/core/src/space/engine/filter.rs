//! The `where` filter, compiled once over metric columns and variables, and the writing of
//! evaluated rows it decides on.

use super::columns::{beyond_int64, raw, Columns, Counts};
use crate::error::{Error, ErrorKind};
use crate::metric::{self, METRICS, NUM_METRICS};
use crate::shape::Shape;
use crate::space::compile::Program;
use crate::space::expr::{self, Binding, Compiled, Value};
use crate::space::ids::Id;

/// A `where` filter over metric columns and variables, compiled once.
pub struct Filter {
    pub source: String,
    compiled: Compiled,
    /// true when the filter reads a metric (null for invalid rows: three-valued logic then)
    reads_metrics: bool,
}

impl Filter {
    pub fn new(src: &str, prog: &Program) -> Result<Filter, Error> {
        let e =
            expr::try_parse(src.strip_prefix('=').unwrap_or(src)).map_err(|error| Error::new(ErrorKind::Filter { error, names: None }))?;
        let base = prog.num_slots();
        let resolve = |n: &str| -> Option<Binding> {
            if let Some(i) = metric::index(n) {
                return Some(Binding::Slot(base + i));
            }
            if let Some(i) = prog.vars.iter().position(|v| v.name == n) {
                return Some(Binding::Slot(i));
            }
            prog.derived.iter().position(|(d, _)| d == n).map(|j| Binding::Slot(prog.vars.len() + j))
        };
        let compiled = e.try_compile_strict(&resolve).map_err(|error| {
            // the names it may read, when it named something else
            let names = names_matter(&error).then(|| {
                let columns = METRICS.iter().map(|m| m.name.to_string()).collect();
                (columns, prog.vars.iter().map(|v| v.name.clone()).collect())
            });
            Error::new(ErrorKind::Filter { error, names })
        })?;
        if let Some(v) = compiled.slots().into_iter().find(|&s| s < prog.vars.len() && prog.is_conditional(s)) {
            return Err(Error::invalid_argument(format!(
                "--where: '{}' exists only in some variants (it has a condition); filter on it after the sweep, where it is null in the others",
                prog.vars[v].name
            )));
        }
        let reads_metrics = compiled.slots().iter().any(|&s| s >= base);
        Ok(Filter { source: src.to_string(), compiled, reads_metrics })
    }

    /// The slots the filter reads.
    pub fn slots(&self) -> Vec<usize> {
        self.compiled.slots()
    }
}

/// Whether a compile error is about a name (then the message lists the names there are).
fn names_matter(e: &expr::ExprError) -> bool {
    matches!(e.kind, expr::ExprErrorKind::UnknownVariable { .. } | expr::ExprErrorKind::SlotOutOfRange { .. })
}

/// Write one evaluated variant's row (its variables' values are in `slots`) unless the filter
/// drops it; true if a valid row was written.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_row(
    prog: &Program,
    id: Id,
    error: Option<String>,
    metrics: &[u64; NUM_METRICS],
    shape: &Shape,
    filter: Option<&Filter>,
    slots: &mut [Value],
    out: &mut Columns,
    counts: &mut Counts,
) -> bool {
    let base = prog.num_slots();
    // a count beyond the Int64 metric columns makes the row invalid before the filter sees it
    // (as Columns::invalidate_beyond_int64 does on the paths that write rows in bulk)
    let error = error.or_else(|| beyond_int64(metrics.iter().copied()));
    let valid = error.is_none();
    if let Some(f) = filter {
        let keep = if !valid && f.reads_metrics {
            // an invalid row's metrics are null: SQL/polars three-valued logic, so
            // `res == 8 or params > 4e4` keeps it when res == 8
            f.compiled.eval_nullable(slots, base).map(|v| v.is_some_and(|v| v.truthy())).map_err(|_| ())
        } else {
            set_metric_slots(&mut slots[base..], metrics.iter().copied());
            f.compiled.try_eval(slots).map(|v| v.truthy()).map_err(|_| ())
        };
        match keep {
            Ok(true) => {}
            Ok(false) => {
                counts.filtered_out += 1;
                return false;
            }
            Err(()) => {
                // a per-row failure (`[1, 2][params]`): not kept, and counted apart (docs/filters.md)
                counts.filter_errors += 1;
                return false;
            }
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
pub(crate) fn filter_valid(
    rows: &Columns,
    f: &Filter,
    prog: &Program,
    slots: &mut [Value],
    out: &mut Columns,
    counts: &mut Counts,
    mut vars: impl FnMut(usize, &mut [Value]),
) {
    let base = prog.num_slots();
    for r in 0..rows.len() {
        vars(r, slots);
        // a count beyond the Int64 metric columns: the row is invalid, its metrics null to the
        // filter, as write_row has it
        let beyond = beyond_int64(rows.metrics.iter().map(|col| col[r]));
        let verdict = if beyond.is_some() && f.reads_metrics {
            f.compiled.eval_nullable(slots, base).map(|v| v.is_some_and(|v| v.truthy())).map_err(|_| ())
        } else {
            set_metric_slots(&mut slots[base..], rows.metrics.iter().map(|col| col[r]));
            f.compiled.try_eval(slots).map(|v| v.truthy()).map_err(|_| ())
        };
        match verdict {
            Ok(true) => {
                counts.kept += 1;
                out.push_row(rows, r);
                if let Some(e) = beyond {
                    counts.invalid += 1;
                    out.invalidate_last(e);
                }
            }
            Ok(false) => counts.filtered_out += 1,
            Err(()) => counts.filter_errors += 1,
        }
    }
}

/// A `where` filter over the columns of a finished table (`archsweep top/pareto/plot/report
/// --where`, `archsweep.top_k(where=)`): the language, constant folding and per-row semantics
/// of [`Filter`], over any named columns. Nulls follow three-valued logic as in a sweep.
pub struct RowFilter {
    pub source: String,
    compiled: Compiled,
    /// the columns the filter reads, slot i being `read[i]`
    read: Vec<String>,
}

/// What a row filter made of a table: per row kept (`Some(true)`), not (`Some(false)`) or null
/// (`None`: not kept), and the rows it failed on.
pub struct RowVerdicts {
    pub keep: Vec<Option<bool>>,
    pub errors: u64,
    /// the first failing row and the message
    pub first_error: Option<(usize, String)>,
}

impl RowFilter {
    /// Compile `src` over a table with the given column names (strictly: constant parts are
    /// computed now, see [`expr::Expr::try_compile_strict`]). A blank `src` keeps every row.
    pub fn new(src: &str, columns: &[String]) -> Result<RowFilter, Error> {
        // as a sweep's: a blank filter keeps every row
        let e = expr::try_parse(if src.trim().is_empty() { "true" } else { src })
            .map_err(|error| Error::new(ErrorKind::Filter { error, names: None }))?;
        let read: Vec<String> = e.names().into_iter().filter(|n| columns.contains(n)).collect();
        let resolve = |n: &str| read.iter().position(|r| r == n).map(Binding::Slot);
        let compiled = e.try_compile_strict(&resolve).map_err(|error| {
            let names = names_matter(&error).then(|| (columns.to_vec(), Vec::new()));
            Error::new(ErrorKind::Filter { error, names })
        })?;
        Ok(RowFilter { source: src.to_string(), compiled, read })
    }

    /// The columns the filter reads, in slot order.
    pub fn columns(&self) -> &[String] {
        &self.read
    }

    /// Judge `rows` rows; `cols[i]` is column `columns()[i]`, None where null.
    pub fn eval(&self, cols: &[Vec<Option<Value>>], rows: usize) -> RowVerdicts {
        let mut out = RowVerdicts { keep: Vec::with_capacity(rows), errors: 0, first_error: None };
        let mut slots = vec![Value::Int(0); cols.len()];
        let mut nulls = vec![false; cols.len()];
        for r in 0..rows {
            let mut any_null = false;
            for (i, c) in cols.iter().enumerate() {
                match c[r] {
                    Some(v) => {
                        slots[i] = v;
                        nulls[i] = false;
                    }
                    None => {
                        nulls[i] = true;
                        any_null = true;
                    }
                }
            }
            let verdict = if any_null {
                self.compiled.try_eval_with_nulls(&slots, &|s| nulls[s]).map(|v| v.map(|v| v.truthy()))
            } else {
                self.compiled.try_eval(&slots).map(|v| Some(v.truthy()))
            };
            match verdict {
                Ok(k) => out.keep.push(k),
                Err(e) => {
                    out.errors += 1;
                    if out.first_error.is_none() {
                        out.first_error = Some((r, e.to_string()));
                    }
                    out.keep.push(None);
                }
            }
        }
        out
    }
}
