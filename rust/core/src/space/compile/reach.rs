//! Inference-only counting in spaces: which instances never reach the model's output.
//!
//! A concrete model counts no MACs, other ops or activations for a layer whose output never
//! reaches the model's output (`graph::reaches_output`). The engine sums per instance, so it
//! needs that fact per instance, the same in every variant where the instance runs. Here it is
//! derived once from the program:
//!
//! * an instance that reaches the output in no variant is dead (its `dead` flag: the engine
//!   counts its params and buffers only);
//! * an instance that reaches the output in every variant where it runs is live;
//! * if some instance is neither (it reaches the output in some variants where it runs and not
//!   in others: a NAS cell whose node only a switched-off edge reads), the program is marked
//!   `dynamic_dead`: the engine then finds the layers off the path per variant, on the
//!   reference path (no segment replay, grid blocks or dense tables for that space).
//!
//! Both facts are decided conservatively (sufficient conditions, below): what is neither proven
//! dead nor proven live is left to the per-variant pass, never guessed. In a variant, a
//! switched-off instance passes its first declared input through, and the model's output is the
//! last instance that runs.

use super::expand::Expander;
use super::{deps_of, Instance, Pred};
use crate::error::Error;
use std::collections::HashMap;

/// Most variable combinations examined to decide that one set of conditions implies another.
const IMPLY_SCAN_LIMIT: u64 = 1 << 16;

/// Every value instance `inst` may read, in any variant.
fn any_reads(inst: &Instance) -> impl Iterator<Item = usize> + '_ {
    inst.inputs.iter().copied().chain(inst.drop.iter().flat_map(|d| d.cases.iter().flat_map(|c| c.reads.iter().copied())))
}

/// A set of conditions as a hashable key.
type Key = Vec<(bool, usize, i64)>;

fn key(p: &[Pred]) -> Key {
    p.iter()
        .map(|&x| match x {
            Pred::Truthy(e) => (true, e, 0),
            Pred::Greater(e, r) => (false, e, r),
        })
        .collect()
}

/// Whether the conditions `b` hold in every variant where the conditions `a` hold: at once when
/// each of `b`'s is one of `a`'s (or a smaller repeat index of the same count), else by
/// evaluating both over every combination of the variables they read (as `drops.rs` does); false
/// when that is more than [`IMPLY_SCAN_LIMIT`] combinations (not proven).
struct Implies<'e, 'a> {
    ctx: &'e Expander<'a>,
    memo: HashMap<(Key, Key), bool>,
}

impl Implies<'_, '_> {
    fn check(&mut self, a: &[Pred], b: &[Pred]) -> bool {
        let ka = key(a);
        b.iter().all(|pb| {
            let implied = a.iter().any(|pa| match (*pa, *pb) {
                (Pred::Truthy(x), Pred::Truthy(y)) => x == y,
                (Pred::Greater(x, r), Pred::Greater(y, s)) => x == y && r >= s,
                _ => false,
            });
            if implied {
                return true;
            }
            let k = (ka.clone(), key(std::slice::from_ref(pb)));
            if let Some(&v) = self.memo.get(&k) {
                return v;
            }
            let v = self.scan(a, *pb);
            self.memo.insert(k, v);
            v
        })
    }

    /// Whether `b` holds in every combination of the variables `a` and `b` read where `a` holds.
    fn scan(&self, a: &[Pred], b: Pred) -> bool {
        use crate::space::expr::Value;
        let ctx = self.ctx;
        let expr = |p: &Pred| match *p {
            Pred::Truthy(e) | Pred::Greater(e, _) => e,
        };
        let mut vars: Vec<usize> = a.iter().chain([&b]).flat_map(|p| deps_of(&ctx.exprs[expr(p)], &ctx.slot_deps)).collect();
        vars.sort_unstable();
        vars.dedup();
        let combos = vars.iter().try_fold(1u64, |acc, &v| acc.checked_mul(ctx.radix[v]));
        let Some(combos) = combos.filter(|&c| c <= IMPLY_SCAN_LIMIT) else { return false };
        let holds = |p: &Pred, slots: &[Value]| -> Option<bool> {
            Some(match *p {
                Pred::Truthy(e) => ctx.exprs[e].try_eval(slots).ok()?.truthy(),
                Pred::Greater(e, r) => matches!(ctx.exprs[e].try_eval(slots).ok()?, Value::Int(c) if c > r),
            })
        };
        // only the derived variables and constraints that read these variables alone matter (a
        // constraint rules its combinations out: they are no variant's)
        let nvar = ctx.vars.len();
        let within = |d: &[usize]| d.iter().all(|v| vars.binary_search(v).is_ok());
        let derived: Vec<usize> = (0..ctx.derived.len()).filter(|&j| within(&ctx.slot_deps[nvar + j])).collect();
        let constraints: Vec<_> = ctx.constraints.iter().filter(|(_, c)| within(&deps_of(c, &ctx.slot_deps))).map(|(_, c)| c).collect();
        let mut slots: Vec<Value> = ctx.vars.iter().map(|v| v.choices[0]).collect();
        slots.resize(nvar + ctx.derived.len(), Value::Int(0));
        'combos: for mut k in 0..combos {
            for &v in vars.iter().rev() {
                let r = ctx.radix[v];
                slots[v] = ctx.vars[v].choices[(k % r) as usize];
                k /= r;
            }
            for &j in &derived {
                match ctx.derived[j].1.try_eval(&slots) {
                    Ok(x) => slots[nvar + j] = x,
                    Err(_) => continue 'combos, // an invalid variant
                }
            }
            if !constraints.iter().all(|c| c.try_eval(&slots).is_ok_and(|v| v.truthy())) {
                continue;
            }
            if !a.iter().all(|p| holds(p, &slots) == Some(true)) {
                continue;
            }
            if holds(&b, &slots) != Some(true) {
                return false;
            }
        }
        true
    }
}

/// Whether what provides value `v` reaches the output in every variant where `p` holds, given
/// that answer for the later values (`reach`).
fn step(instances: &[Instance], readers: &[Vec<usize>], v: usize, reach: &[bool], p: &[Pred], implies: &mut Implies) -> bool {
    // whether reader j reads v wherever it runs and P holds (a `drop_off_inputs` layer reads an
    // input only where that input is on)
    let reads = |j: usize, implies: &mut Implies| -> bool {
        let r = &instances[j];
        match &r.drop {
            None => r.inputs.contains(&v),
            Some(d) => r.inputs.iter().zip(&d.present).any(|(&x, on)| x == v && on.as_ref().is_some_and(|c| implies.check(p, c))),
        }
    };
    // a reader j whose first input is v passes it on as value j + 1 whether it runs (reading
    // it) or not
    for &j in &readers[v] {
        if reach[j + 1] && instances[j].inputs[0] == v && reads(j, implies) {
            return true;
        }
    }
    // or it reads v wherever it runs, and runs wherever P holds
    for &j in &readers[v] {
        if reach[j + 1] && reads(j, implies) && implies.check(p, &instances[j].preds) {
            return true;
        }
    }
    false
}

/// Each instance's `dead` flag (its output reaches the model's output in no variant), and
/// whether some instance reaches it in some variants where it runs and not in others (or that
/// cannot be decided): then the engine finds the layers off the path per variant.
pub(super) fn dead_flags(ctx: &Expander) -> Result<(Vec<bool>, bool), Error> {
    let instances = &ctx.instances;
    let n = instances.len();
    if n == 0 {
        return Ok((Vec::new(), false));
    }
    // readers of each value (0 is the model input, k + 1 instance k's output)
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); n + 1];
    for (j, inst) in instances.iter().enumerate() {
        for v in any_reads(inst) {
            if readers[v].last() != Some(&j) {
                readers[v].push(j);
            }
        }
    }
    // may reach, in some variant: any instance from the last unconditional one on may be the
    // last that runs (the output); what reads nothing that may reach reaches nothing
    let first_out = instances.iter().rposition(|i| i.preds.is_empty()).unwrap_or(0);
    let mut may = vec![false; n];
    for k in (0..n).rev() {
        may[k] = k >= first_out || readers[k + 1].iter().any(|&j| may[j]);
    }
    // out[k]: what provides value k + 1 (instance k, or what a switched-off k passes through)
    // is the last instance that runs among 0..=k
    let mut out = vec![false; n];
    for k in 0..n {
        let i = &instances[k];
        out[k] = i.preds.is_empty() || (i.inputs[0] == k && (k == 0 || out[k - 1]));
    }
    // every instance that may reach must reach wherever it runs. For a set of conditions P,
    // reach[v]: in every variant where P holds, what provides value v reaches the output. A
    // reader j of value v passes it on as value j + 1 whether it runs (reading it) or not; or it
    // reads v wherever it runs, and runs wherever P holds.
    let mut implies = Implies { ctx, memo: HashMap::new() };
    let always: Vec<Pred> = Vec::new();
    let mut reach0 = vec![false; n + 1]; // P = no condition: in every variant
    reach0[n] = out[n - 1] || implies.check(&always, &instances[n - 1].preds);
    for v in (1..n).rev() {
        reach0[v] = step(instances, &readers, v, &reach0, &always, &mut implies);
    }
    let mut groups: HashMap<Key, Vec<usize>> = HashMap::new();
    for k in (0..n).filter(|&k| may[k] && !reach0[k + 1]) {
        groups.entry(key(&instances[k].preds)).or_default().push(k);
    }
    let mut groups: Vec<Vec<usize>> = groups.into_values().collect();
    groups.sort_unstable();
    let mut reach = reach0.clone();
    let mut seen = vec![false; n + 1];
    let mut dynamic = false;
    for ks in groups {
        let p = &instances[ks[0]].preds;
        // the values P's instances may pass their outputs to, up to those that always reach
        let mut todo: Vec<usize> = ks.iter().map(|&k| k + 1).collect();
        let mut values = Vec::new();
        while let Some(v) = todo.pop() {
            if seen[v] || reach0[v] {
                continue;
            }
            seen[v] = true;
            values.push(v);
            todo.extend(readers[v].iter().map(|&j| j + 1));
        }
        values.sort_unstable();
        let base = reach[n];
        if seen[n] {
            reach[n] = out[n - 1] || implies.check(p, &instances[n - 1].preds);
        }
        for &v in values.iter().rev().filter(|&&v| v < n) {
            reach[v] = step(instances, &readers, v, &reach, p, &mut implies);
        }
        let failed = ks.iter().find(|&&k| !reach[k + 1]).copied();
        for &v in &values {
            seen[v] = false;
            reach[v] = reach0[v];
        }
        reach[n] = base;
        if failed.is_some() {
            dynamic = true;
            break;
        }
    }
    Ok((may.iter().map(|&m| !m).collect(), dynamic))
}
