//! `drop_off_inputs = true`: a sum (or product, or concatenation) whose inputs that are switched
//! off in a variant are not its inputs there (docs/nas-spaces.md). The sets of inputs that are
//! on are found here, once, by evaluating the inputs' conditions over the combinations of the
//! variables they read; each set becomes a [`DropCase`]: the op on the inputs that are on, the
//! identity of the one left, or the zeros of an `add` with none left. A set that leaves the
//! layer undefined (a `concat` of no input) is an error of the spec, reported with the
//! variables' values.
//!
//! The expander (`expand.rs`) gathers each input's conditions and calls [`compile`]; this module
//! reads no expander state (what it needs comes in a [`Scan`]), so it depends on `mod.rs` only.

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

/// What the op of layer `full` takes, and whether it may be an `add` of none: an error if the
/// op takes no `drop_off_inputs` or not `declared` inputs.
pub(super) fn check(full: &str, op_name: &str, declared: usize) -> Result<(usize, bool), Error> {
    let Some(&(_, none_left)) = DROP_OPS.iter().find(|(n, _)| *n == op_name) else {
        return Err(Error::spec(format!(
            "drop_off_inputs = true is for add, mul and concat (ops of any number of interchangeable inputs), not {op_name}"
        ))
        .at(full, op_name));
    };
    let (lo, hi) = no_attrs_op(op_name).map_err(|e| e.at(full, op_name))?.arity();
    if declared > hi {
        return Err(Error::new(ErrorKind::Arity { min: lo, max: hi, got: declared }).at(full, op_name));
    }
    if declared > MAX_DROP_INPUTS {
        return Err(Error::spec(format!("drop_off_inputs = true takes at most {MAX_DROP_INPUTS} declared inputs, got {declared}"))
            .at(full, op_name));
    }
    Ok((lo, none_left.is_some()))
}

/// What [`compile`] evaluates the conditions with.
pub(super) struct Scan<'a> {
    /// the program's count/`when` expressions so far
    pub(super) exprs: &'a [Compiled],
    pub(super) derived: &'a [(String, Compiled)],
    pub(super) constraints: &'a [(String, Compiled)],
    /// primaries each slot depends on
    pub(super) slot_deps: &'a [Vec<usize>],
    pub(super) vars: &'a [Var],
    pub(super) radix: &'a [u64],
}

/// Whether `p` holds for these slot values; None if an expression fails there.
fn holds(exprs: &[Compiled], p: Pred, slots: &[Value]) -> Option<bool> {
    Some(match p {
        Pred::Truthy(e) => exprs[e].try_eval(slots).ok()?.truthy(),
        Pred::Greater(e, r) => matches!(exprs[e].try_eval(slots).ok()?, Value::Int(c) if c > r),
    })
}

/// The [`DropInputs`] of layer `full` (op `op_name`, checked by [`check`]) reading `inputs`,
/// which are on where `present` says; `own` are the layer's own conditions, `scan` the
/// variables all of them read, and `combos` every combination of their values (slot values,
/// derived ones computed, as `Expander::combos` makes them).
#[allow(clippy::too_many_arguments)]
pub(super) fn compile(
    full: &str,
    op_name: &str,
    inputs: &[usize],
    present: Vec<Option<Vec<Pred>>>,
    own: &[Pred],
    scan: &[usize],
    combos: impl Iterator<Item = Vec<Value>>,
    ctx: Scan,
) -> Result<DropInputs, Error> {
    let (lo, add_of_none) = check(full, op_name, inputs.len())?;
    let n_combos = scan.iter().try_fold(1u64, |acc, &v| acc.checked_mul(ctx.radix[v])).unwrap_or(u64::MAX);
    if n_combos > COUNT_SCAN_LIMIT {
        return Err(Error::new(ErrorKind::Limit {
            context: format!("{full} ({op_name})"),
            what: Limited::InputCombinations,
            limit: COUNT_SCAN_LIMIT,
            got: n_combos,
        }));
    }
    // combinations whose variants are all invalid (a derived variable or an expression fails),
    // rejected (by a constraint on these variables only) or where the layer is off are no
    // variant's
    let nvar = ctx.vars.len();
    let within = |d: &[usize]| d.iter().all(|v| scan.binary_search(v).is_ok());
    let derived: Vec<&Compiled> =
        ctx.derived.iter().enumerate().filter(|(j, _)| within(&ctx.slot_deps[nvar + j])).map(|(_, (_, c))| c).collect();
    let constraints: Vec<&Compiled> = ctx.constraints.iter().filter(|(_, c)| within(&deps_of(c, ctx.slot_deps))).map(|(_, c)| c).collect();
    let mut masks: Vec<(u64, Vec<Value>)> = Vec::new();
    'combos: for slots in combos {
        if derived.iter().any(|d| d.try_eval(&slots).is_err()) || !constraints.iter().all(|c| c.try_eval(&slots).is_ok_and(|v| v.truthy()))
        {
            continue;
        }
        if !own.iter().all(|&p| holds(ctx.exprs, p, &slots) == Some(true)) {
            continue;
        }
        let mut mask = 0u64;
        for (i, conds) in present.iter().enumerate() {
            let Some(conds) = conds else { continue };
            let mut all = true;
            for &p in conds {
                match holds(ctx.exprs, p, &slots) {
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
            0 if add_of_none => DropCase { mask, reads: vec![inputs[0]], replaced: Some(("zeros", no_attrs_op("zeros")?)) },
            k => {
                let shown: Vec<String> = scan.iter().map(|&v| format!("{}={}", ctx.vars[v].name, slots[v])).collect();
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
