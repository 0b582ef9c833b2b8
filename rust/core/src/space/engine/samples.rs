//! A sample's chunk evaluated in ascending id order, where neighbours share leading digits
//! (prefix reuse, segment replays of the later stages only: several times fewer instructions
//! than in position order), then put back in position order. Sampled ids are distinct, so a
//! row's id tells its position. Programs without dense tables take this path.

use super::columns::Columns;
use crate::space::compile::Program;
use crate::space::ids::{Id, Permutation};
use rayon::prelude::*;

/// A sample's positions sorted by id.
pub(crate) struct Sorted {
    /// (id, position - start), by id
    order: Vec<(Id, u32)>,
    /// the ids, ascending: what the engine evaluates
    pub(crate) ids: Vec<Id>,
}

impl Sorted {
    pub(crate) fn new(p: Permutation, range: std::ops::Range<u64>) -> Sorted {
        let n = (range.end - range.start) as usize;
        let mut order: Vec<(Id, u32)> = (0..n as u32).into_par_iter().map(|k| (p.apply(range.start + k as u64), k)).collect();
        order.par_sort_unstable();
        let ids: Vec<Id> = order.iter().map(|o| o.0).collect();
        Sorted { order, ids }
    }

    /// The rows of `parts` (the evaluation of [`Sorted::ids`]) in position order.
    pub(crate) fn gather(&self, prog: &Program, parts: &[Columns]) -> Vec<Columns> {
        let (order, ids) = (&self.order, &self.ids);
        // where each position's row is: (part, row), or none (rejected or filtered out)
        let mut at: Vec<(u32, u32)> = vec![(u32::MAX, 0); ids.len()];
        for (pi, part) in parts.iter().enumerate() {
            for r in 0..part.len() {
                let k = ids.binary_search(&part.id(r)).expect("a row's id is one of the sampled ids");
                at[order[k].1 as usize] = (pi as u32, r as u32);
            }
        }
        let rows: Vec<(u32, u32)> = at.into_iter().filter(|x| x.0 != u32::MAX).collect();
        let pieces = (rayon::current_num_threads() * 4).max(1);
        let step = rows.len().div_ceil(pieces).max(1);
        let out: Vec<Columns> = rows.par_chunks(step).map(|chunk| gather(prog, parts, chunk)).collect();
        if out.is_empty() {
            vec![Columns::new(prog, 0)]
        } else {
            out
        }
    }
}

/// The rows `rows` ((part, row) pairs) of `parts`, in that order.
fn gather(prog: &Program, parts: &[Columns], rows: &[(u32, u32)]) -> Columns {
    let mut out = Columns::new(prog, rows.len());
    for &(p, r) in rows {
        out.push_row(&parts[p as usize], r as usize);
    }
    out
}
