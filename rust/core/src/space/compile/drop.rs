//! `drop_off_inputs = true`: a sum (or product, or concatenation) whose inputs that are switched
//! off in a variant are not its inputs there (docs/nas-spaces.md). The sets of inputs that are
//! on are found here, once, by evaluating the inputs' conditions over the variables they read;
//! each set becomes a [`DropCase`]: the op on the inputs that are on, the identity of the one
//! left, or the zeros of an `add` with none left. A set that leaves the layer undefined (a
//! `concat` of no input) is an error of the spec, reported with the variables' values.

use super::expand::{deps_of, Expander, Presence};
use super::*;

/// The ops a layer may drop switched-off inputs of (any number of interchangeable inputs), and
/// what the layer is with none left: an `add` is the zeros of its first declared input's shape;
/// for the others no input left is an error.
const DROP_OPS: &[(&str, Option<&str>)] = &[("add", Some("zeros")), ("mul", None), ("concat", None)];
/// Most declared inputs of such a layer (one bit each of a mask).
const MAX_DROP_INPUTS: usize = 64;

fn no_attrs_op(name: &str) -> Result<Box<dyn Op>, Error> {
    ops::from_attrs(name, &Attrs::new(&Map::new()))
}

impl Expander<'_> {
    /// The [`DropInputs`] of layer `full` (op `op_name`) reading `inputs`, which are on as `on`
    /// says; `own` are the layer's own conditions, `deps` the variables they read, to which
    /// the variables the inputs' conditions read are added.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn drop_inputs(
        &mut self,
        full: &str,
        op_name: &str,
        inputs: &[usize],
        on: &[Presence],
        own: &[Pred],
        deps: &mut Vec<usize>,
    ) -> Result<DropInputs, Error> {
        let Some(&(_, none_left)) = DROP_OPS.iter().find(|(n, _)| *n == op_name) else {
            return Err(Error::spec(format!(
                "drop_off_inputs = true is for add, mul and concat (ops of any number of interchangeable inputs), not {op_name}"
            ))
            .at(full, op_name));
        };
        let (lo, hi) = no_attrs_op(op_name).map_err(|e| e.at(full, op_name))?.arity();
        if inputs.len() > hi {
            return Err(Error::new(ErrorKind::Arity { min: lo, max: hi, got: inputs.len() }).at(full, op_name));
        }
        if inputs.len() > MAX_DROP_INPUTS {
            return Err(Error::spec(format!(
                "drop_off_inputs = true takes at most {MAX_DROP_INPUTS} declared inputs, got {}",
                inputs.len()
            ))
            .at(full, op_name));
        }
        // each input's conditions; those the layer is under itself hold wherever it is on
        let mut scan: Vec<usize> = deps.clone();
        let mut present: Vec<Option<Vec<Pred>>> = Vec::with_capacity(on.len());
        for p in on {
            match p {
                Presence::Never => present.push(None),
                Presence::When { preds, when } => {
                    let mut conds: Vec<Pred> = Vec::new();
                    for (pred, d) in preds {
                        if !own.contains(pred) {
                            conds.push(*pred);
                            scan.extend(d);
                        }
                    }
                    if let Some(c) = when {
                        scan.extend(deps_of(c, &self.slot_deps));
                        self.exprs.push(c.clone());
                        conds.push(Pred::Truthy(self.exprs.len() - 1));
                    }
                    present.push(Some(conds));
                }
            }
        }
        scan.sort_unstable();
        scan.dedup();
        deps.extend(scan.iter().copied());
        let combos = scan.iter().try_fold(1u64, |acc, &v| acc.checked_mul(self.radix[v])).unwrap_or(u64::MAX);
        if combos > COUNT_SCAN_LIMIT {
            return Err(Error::new(ErrorKind::Limit {
                context: format!("{full} ({op_name})"),
                what: Limited::InputCombinations,
                limit: COUNT_SCAN_LIMIT,
                got: combos,
            }));
        }
        // the sets of inputs on, over the combinations of the variables read: combinations whose
        // variants are all invalid (a derived variable or an expression fails) or rejected (by a
        // constraint on these variables only) or where the layer is off are no variant's
        let nvar = self.vars.len();
        let within = |d: &[usize]| d.iter().all(|v| scan.binary_search(v).is_ok());
        let derived: Vec<usize> = (0..self.derived.len()).filter(|&j| within(&self.slot_deps[nvar + j])).collect();
        let constraints: Vec<&Compiled> =
            self.constraints.iter().filter(|(_, c)| within(&deps_of(c, &self.slot_deps))).map(|(_, c)| c).collect();
        let mut masks: Vec<(u64, Vec<Value>)> = Vec::new();
        let holds = |p: &Pred, slots: &[Value]| -> Option<bool> {
            Some(match *p {
                Pred::Truthy(e) => self.exprs[e].try_eval(slots).ok()?.truthy(),
                Pred::Greater(e, r) => matches!(self.exprs[e].try_eval(slots).ok()?, Value::Int(c) if c > r),
            })
        };
        'combos: for slots in self.combos(&scan) {
            if derived.iter().any(|&j| self.derived[j].1.try_eval(&slots).is_err())
                || !constraints.iter().all(|c| c.try_eval(&slots).is_ok_and(|v| v.truthy()))
            {
                continue;
            }
            for p in own {
                match holds(p, &slots) {
                    Some(true) => {}
                    _ => continue 'combos,
                }
            }
            let mut mask = 0u64;
            for (i, conds) in present.iter().enumerate() {
                let Some(conds) = conds else { continue };
                let mut all = true;
                for p in conds {
                    match holds(p, &slots) {
                        Some(h) => all &= h,
                        None => continue 'combos,
                    }
                }
                if all {
                    mask |= 1 << i;
                }
            }
            if !masks.iter().any(|(m, _)| *m == mask) {
                masks.push((mask, slots));
            }
        }
        let mut cases = Vec::with_capacity(masks.len());
        for (mask, slots) in masks {
            let reads: Vec<usize> = (0..inputs.len()).filter(|&i| mask >> i & 1 == 1).map(|i| inputs[i]).collect();
            let case = match reads.len() {
                k if k >= lo => DropCase { mask, reads, replaced: None },
                1 => DropCase { mask, reads, replaced: Some(("identity", no_attrs_op("identity")?)) },
                0 if none_left.is_some() => DropCase { mask, reads: vec![inputs[0]], replaced: Some(("zeros", no_attrs_op("zeros")?)) },
                k => {
                    let shown: Vec<String> = scan.iter().map(|&v| format!("{}={}", self.vars[v].name, slots[v])).collect();
                    let at = if shown.is_empty() { "in every variant".to_string() } else { format!("for {}", shown.join(", ")) };
                    let what = if k == 0 { "every input is switched off".to_string() } else { format!("{k} of its inputs are on") };
                    return Err(Error::spec(format!(
                        "{what} {at} (drop_off_inputs = true), and {op_name} of {k} input(s) is undefined (an add of none is zeros); \
                         switch an input on there, or rule those values out with a constraint"
                    ))
                    .at(full, op_name));
                }
            };
            cases.push(case);
        }
        Ok(DropInputs { present, cases })
    }
}
