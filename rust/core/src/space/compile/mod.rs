//! Compile a space spec once into a flat program: repeat blocks expanded to their largest
//! count, every layer instance wired to value indices, each with the conditions that switch it
//! on. A switched-off instance passes its first input through (so "skip this projection"
//! leaves the identity shortcut), unless its reader has `drop_off_inputs = true`: then it is
//! no input of that reader (`drops.rs`). Ops whose attributes depend on few variables are built once
//! per combination of those variables' values and looked up by digit arithmetic per variant.

use super::expr::{self, Binding, Compiled, Value};
use super::ids;
use super::networks::Networks;
use super::spec::{AttrTpl, BlockTpl, Count, Item, LayerTpl, Spec, VarSpec, BLOCK_INPUT};
pub use super::var::Var;
use crate::attrs::Attrs;
use crate::error::{Error, ErrorKind, Limited};
use crate::graph::INPUT;
use crate::ops::{self, Op};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::sync::Arc;

mod attr;
mod drops;
mod expand;
mod reach;
mod replicas;

use attr::eval_attrs;
pub use attr::{build_op, value_to_json};
use expand::{Expander, Frame, Names, Presence};
pub use replicas::Replicas;

/// Largest table of prebuilt ops per layer instance; beyond it ops are built per variant.
const TABLE_LIMIT: u64 = 1 << 16;
/// Largest number of variable combinations examined to find a repeat count's maximum.
const COUNT_SCAN_LIMIT: u64 = 1 << 20;
/// Most layer instances one space may expand to.
const INSTANCE_LIMIT: usize = 100_000;
/// Largest repeat count of one block (a larger one could not fit in the layer limit unless its
/// block were empty, and an empty block repeated 2·10^9 times took over a minute).
const REPEAT_LIMIT: u64 = INSTANCE_LIMIT as u64;
/// Most block repetitions one space may expand, all blocks together (nested repeats multiply).
const REPETITION_LIMIT: u64 = 1_000_000;
/// Longest name of a layer or block, block prefixes included, in bytes.
const NAME_LIMIT: usize = 1024;

/// An attribute with its expressions compiled.
pub enum CompiledAttr {
    Const(Json),
    Expr(Compiled),
    List(Vec<CompiledAttr>),
}

/// A table of prebuilt ops (see [`OpSource::Table`]).
pub type OpTable = Arc<[Result<Arc<dyn Op>, Error>]>;

pub enum OpSource {
    Const(Box<dyn Op>),
    /// Prebuilt ops indexed by Σ digit[var] × stride over the variables the attributes read.
    /// Equal ops (the same op and attribute values) are one shared allocation, whichever
    /// instances and combinations they serve: a repeated block's layers read few distinct ops,
    /// which stay in cache. Equal tables (a repeated block's instances read the same
    /// attribute expressions of the same choices) are one shared table too.
    Table {
        vars: Vec<usize>,
        strides: Vec<u64>,
        ops: OpTable,
    },
    /// Built per variant from the evaluated attributes (too many combinations to tabulate).
    Dynamic,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Pred {
    /// expression `e` is true
    Truthy(usize),
    /// repeat count expression `e` is greater than `r`
    Greater(usize, i64),
}

impl Pred {
    /// Whether the condition holds, given the values of the count/`when` expressions.
    #[inline]
    pub fn holds(self, exprs: &[Value]) -> bool {
        match self {
            Pred::Truthy(e) => exprs[e].truthy(),
            Pred::Greater(e, r) => matches!(exprs[e], Value::Int(c) if c > r),
        }
    }
}

/// A layer with `drop_off_inputs = true`: an input that is a switched-off layer in a variant is
/// not an input of the layer in that variant (docs/nas-spaces.md). The sets of inputs that are
/// on in some variant are found when the spec is compiled, each with what the layer is then.
pub struct DropInputs {
    /// Per declared input, the conditions under which it is on (all of them; none: always on),
    /// or None if it is never on (a statically switched-off layer).
    pub present: Vec<Option<Vec<Pred>>>,
    /// One per set of inputs met in some variant.
    pub cases: Vec<DropCase>,
}

/// The layer for one set of its inputs that are on.
pub struct DropCase {
    /// Bit i: declared input i is on.
    pub mask: u64,
    /// The values the layer reads: the inputs that are on (with none on, the first declared one,
    /// whose shape the zeros take).
    pub reads: Vec<usize>,
    /// What runs instead of the layer's op: `identity` (one input left, below the op's arity) or
    /// `zeros` (an `add` with none left); None: the op, on `reads`.
    pub replaced: Option<(&'static str, Box<dyn Op>)>,
}

impl DropInputs {
    /// The mask of the declared inputs that are on, given the count/`when` expression values.
    #[inline]
    pub fn mask(&self, exprs: &[Value]) -> u64 {
        let mut mask = 0u64;
        for (i, p) in self.present.iter().enumerate() {
            if p.as_ref().is_some_and(|preds| preds.iter().all(|p| p.holds(exprs))) {
                mask |= 1 << i;
            }
        }
        mask
    }

    /// The case (its index) of the inputs on in `mask`.
    #[inline]
    pub fn case(&self, mask: u64) -> Option<usize> {
        self.cases.iter().position(|c| c.mask == mask)
    }
}

pub struct Instance {
    pub name: String,
    pub op_name: String,
    /// Values read: 0 is the model input, k + 1 is instance k's output.
    pub inputs: Vec<usize>,
    pub preds: Vec<Pred>,
    pub trainable: bool,
    pub attrs: Vec<(String, CompiledAttr)>,
    pub op: OpSource,
    /// Highest variable index (digit position) this instance's result depends on, through its
    /// attributes, conditions and inputs; None if on none.
    pub max_var: Option<usize>,
    /// Variables read by this instance's own attributes and conditions (and, with
    /// `drop_off_inputs`, by the conditions of its inputs).
    pub own_vars: Vec<usize>,
    /// `drop_off_inputs = true`: the inputs that are on vary per variant.
    pub drop: Option<Box<DropInputs>>,
    /// The instance's output reaches the model's output in no variant: it counts its params and
    /// buffers, but no MACs, other ops or activations (inference-only counting, `reach.rs`).
    pub dead: bool,
}

impl Instance {
    /// The values read in case `case`: 0 is the declared inputs, c > 0 the inputs of
    /// [`DropInputs::cases`]`[c - 1]`.
    #[inline]
    pub fn reads(&self, case: usize) -> &[usize] {
        match (&self.drop, case) {
            (Some(d), c) if c > 0 => &d.cases[c - 1].reads,
            _ => &self.inputs,
        }
    }
}

pub struct Program {
    pub name: String,
    pub vars: Vec<Var>,
    pub derived: Vec<(String, Compiled)>,
    /// primaries each derived variable depends on
    pub derived_deps: Vec<Vec<usize>>,
    pub constraints: Vec<(String, Compiled)>,
    pub input: Vec<CompiledAttr>,
    /// Count and `when` expressions evaluated once per variant.
    pub exprs: Vec<Compiled>,
    /// highest variable each count/`when` expression depends on
    pub expr_max_var: Vec<Option<usize>>,
    pub instances: Vec<Instance>,
    /// Highest variable index the input shape depends on.
    pub input_max_var: Option<usize>,
    /// Primary variables the input shape reads (directly or through derived variables).
    pub input_vars: Vec<usize>,
    /// The network ids, if some variable has a condition (`networks.rs`); variant ids are then
    /// network ids, and the engine evaluates the full ids they map to.
    pub networks: Option<Networks>,
    /// Some instance reaches the model's output in some variants where it runs and not in
    /// others (`reach.rs`): the engine finds the layers off the output's path per variant.
    pub dynamic_dead: bool,
    /// Per instance, the repetitions starting there that repeat the one before them
    /// (`replicas.rs`): the evaluator copies their outcome when it may.
    pub replicas: Replicas,
    /// Every derived variable evaluates without error for every combination of the variables
    /// it reads (checked when compiled, where they have at most [`INFALLIBLE_SCAN_LIMIT`]
    /// combinations): rows then need no per-row evaluation of them to be valid.
    pub derived_infallible: bool,
}

impl Program {
    pub fn num_slots(&self) -> usize {
        self.vars.len() + self.derived.len()
    }

    /// The number of choices of each variable: the id digits' radixes.
    pub fn radix(&self) -> Vec<u64> {
        self.vars.iter().map(|v| v.choices.len() as u64).collect()
    }

    /// More than 2^64 full ids (one digit per variable): they need more than 64 bits.
    pub fn wide_ids(&self) -> bool {
        self.vars.iter().try_fold(1u64, |acc, v| acc.checked_mul(v.choices.len() as u64)).is_none()
    }

    /// The radixes of variant ids: the variables' radixes, or with conditional variables the
    /// sizes of the groups of network ids. Their product is the number of variants.
    pub fn id_radix(&self) -> Vec<u64> {
        match &self.networks {
            Some(n) => n.sizes().to_vec(),
            None => self.radix(),
        }
    }

    /// More than 2^64 variants: variant ids need more than 64 bits.
    pub fn wide_variant_ids(&self) -> bool {
        self.id_radix().iter().try_fold(1u64, |acc, &r| acc.checked_mul(r)).is_none()
    }

    /// Whether variable `v` has a condition (exists only in some variants).
    pub fn is_conditional(&self, v: usize) -> bool {
        self.vars[v].condition.is_some()
    }
}

/// Largest number of combinations of a derived variable's inputs tried by [`derived_infallible`].
const INFALLIBLE_SCAN_LIMIT: u64 = 1 << 12;

/// Whether every derived variable evaluates without error for every combination of the
/// primaries it depends on (false where one has more than [`INFALLIBLE_SCAN_LIMIT`]).
fn derived_infallible(ctx: &Expander) -> bool {
    let nvar = ctx.vars.len();
    ctx.derived.iter().enumerate().all(|(j, (_, d))| {
        let deps = &ctx.slot_deps[nvar + j];
        let combos = deps.iter().try_fold(1u64, |acc, &v| acc.checked_mul(ctx.radix[v]).filter(|&c| c <= INFALLIBLE_SCAN_LIMIT));
        // (`combos` evaluates the derived variables before this one, which it may read)
        combos.is_some() && ctx.combos(deps).all(|slots| d.try_eval(&slots).is_ok())
    })
}

/// The primaries an expression depends on, given those each slot depends on (`slot_deps`).
fn deps_of(c: &Compiled, slot_deps: &[Vec<usize>]) -> Vec<usize> {
    let mut out: Vec<usize> = c.slots().into_iter().flat_map(|s| slot_deps[s].iter().copied()).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Topological order of derived variables (by the names they read); a cycle is an error.
fn derived_order(spec: &Spec) -> Result<Vec<usize>, Error> {
    let names: Vec<&str> = spec.derived.iter().map(|(n, _)| n.as_str()).collect();
    let reads: Vec<Vec<usize>> =
        spec.derived.iter().map(|(_, e)| e.names().iter().filter_map(|n| names.iter().position(|d| d == n)).collect()).collect();
    let mut state = vec![0u8; names.len()]; // 0 new, 1 on stack, 2 done
    let mut order = Vec::new();
    fn visit(
        i: usize,
        reads: &[Vec<usize>],
        state: &mut [u8],
        order: &mut Vec<usize>,
        stack: &mut Vec<usize>,
        names: &[&str],
    ) -> Result<(), Error> {
        match state[i] {
            2 => return Ok(()),
            1 => {
                let start = stack.iter().position(|&s| s == i).unwrap_or(0);
                let cycle: Vec<&str> = stack[start..].iter().map(|&s| names[s]).chain(std::iter::once(names[i])).collect();
                return Err(Error::spec(format!("derived variables form a cycle: {}", cycle.join(" -> "))));
            }
            _ => {}
        }
        state[i] = 1;
        stack.push(i);
        for &j in &reads[i] {
            visit(j, reads, state, order, stack, names)?;
        }
        stack.pop();
        state[i] = 2;
        order.push(i);
        Ok(())
    }
    for i in 0..names.len() {
        visit(i, &reads, &mut state, &mut order, &mut Vec::new(), &names)?;
    }
    Ok(order)
}

/// Compile a spec. Variables become id digits in the order the network first uses them (the
/// input shape first, then layer by layer; unused variables last, in declaration order), so
/// that consecutive ids differ in the variables of the last layers and a grid sweep re-evaluates
/// only those.
pub fn compile(spec: &Spec) -> Result<Program, Error> {
    let first = compile_ordered(spec, None)?;
    let mut order: Vec<usize> = Vec::with_capacity(first.vars.len());
    let push = |v: usize, order: &mut Vec<usize>| {
        if !order.contains(&v) {
            order.push(v);
        }
    };
    let mut input_vars: Vec<usize> = Vec::new();
    first.input.iter().for_each(|a| a.collect_slots(&mut input_vars));
    let closure = |slots: Vec<usize>| -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for s in slots {
            if s < first.vars.len() {
                out.push(s);
            } else {
                out.extend(first.derived_deps[s - first.vars.len()].iter().copied());
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    };
    for v in closure(input_vars) {
        push(v, &mut order);
    }
    for inst in &first.instances {
        for &v in &inst.own_vars {
            push(v, &mut order);
        }
    }
    for v in 0..first.vars.len() {
        push(v, &mut order);
    }
    if order.iter().enumerate().all(|(i, &v)| i == v) {
        return Ok(first);
    }
    compile_ordered(spec, Some(&order))
}

/// `order[k]` = the declaration index of the variable that becomes digit k.
fn compile_ordered(spec: &Spec, order: Option<&[usize]>) -> Result<Program, Error> {
    // primaries
    let mut vars: Vec<Var> = Vec::new();
    // (declaration, stage) of each variable
    let mut origin: Vec<(usize, usize)> = Vec::new();
    let mut names = Names { scalars: HashMap::new(), lists: HashMap::new() };
    for (decl, v) in spec.variables.iter().enumerate() {
        if names.scalars.contains_key(&v.name) || names.lists.contains_key(&v.name) {
            return Err(Error::spec(format!("variable '{}' is declared twice", v.name)));
        }
        match v.per_stage {
            None => {
                names.scalars.insert(v.name.clone(), vars.len());
                vars.push(Var { name: v.name.clone(), choices: v.choices[0].clone(), condition: None });
                origin.push((decl, 0));
            }
            Some(_) => {
                let mut slots = Vec::new();
                for (s, ch) in v.choices.iter().enumerate() {
                    slots.push(vars.len());
                    vars.push(Var { name: format!("{}_{s}", v.name), choices: ch.clone(), condition: None });
                    origin.push((decl, s));
                }
                names.lists.insert(v.name.clone(), slots);
            }
        }
    }
    if let Some(order) = order {
        origin = order.iter().map(|&v| origin[v]).collect();
        let mut position = vec![0usize; order.len()];
        for (k, &v) in order.iter().enumerate() {
            position[v] = k;
        }
        let mut slots: Vec<Option<Var>> = vars.into_iter().map(Some).collect();
        vars = order.iter().map(|&v| slots[v].take().expect("order is a permutation")).collect();
        names.scalars.values_mut().for_each(|s| *s = position[*s]);
        names.lists.values_mut().for_each(|l| l.iter_mut().for_each(|s| *s = position[*s]));
    }
    let radix: Vec<u64> = vars.iter().map(|v| v.choices.len() as u64).collect();
    // derived variables get slots after the primaries, in dependency order, so evaluating
    // them in slot order is always valid
    let order = derived_order(spec)?;
    for (pos, &j) in order.iter().enumerate() {
        let n = &spec.derived[j].0;
        if names.scalars.contains_key(n) || names.lists.contains_key(n) {
            return Err(Error::spec(format!("derived variable '{n}' has the name of a variable")));
        }
        names.scalars.insert(n.clone(), vars.len() + pos);
    }
    let mut slot_deps: Vec<Vec<usize>> = (0..vars.len()).map(|i| vec![i]).collect();
    let mut derived: Vec<(String, Compiled)> = Vec::with_capacity(order.len());
    for &j in &order {
        let (n, e) = &spec.derived[j];
        let c =
            e.try_compile(&|name: &str| names.resolve(&[], name)).map_err(|m| Error::expression(format!("derived variable '{n}'"), m))?;
        slot_deps.push(deps_of(&c, &slot_deps));
        derived.push((n.clone(), c));
    }
    compile_conditions(spec, &names, &origin, &mut vars)?;
    let conditions: Vec<Option<Compiled>> = vars.iter().map(|v| v.condition.clone()).collect();
    let networks = Networks::new(&vars, &conditions)?;
    if networks.is_some() && ids::size_u128(&radix).is_none() {
        return Err(Error::spec(format!(
            "a space with conditional variables is evaluated through ids over all its variables, and this one has {} of them (at most 2^128)",
            ids::size_decimal(&radix)
        )));
    }
    let constraints: Vec<(String, Compiled)> = spec
        .constraints
        .iter()
        .map(|e| {
            e.try_compile(&|n: &str| names.resolve(&[], n))
                .map(|c| (e.source().to_string(), c))
                .map_err(|m| Error::expression(format!("constraint '{}'", e.source()), m))
        })
        .collect::<Result<_, _>>()?;
    let input: Vec<CompiledAttr> =
        spec.input.iter().map(|t| CompiledAttr::compile(t, &|n: &str| names.resolve(&[], n), "input")).collect::<Result<_, _>>()?;
    let mut input_slots = Vec::new();
    input.iter().for_each(|a| a.collect_slots(&mut input_slots));
    let mut input_vars: Vec<usize> = input_slots.iter().flat_map(|&s| slot_deps[s].iter().copied()).collect();
    input_vars.sort_unstable();
    input_vars.dedup();
    let input_max_var = input_vars.last().copied();

    let mut ctx = Expander {
        names: &names,
        subgraphs: &spec.subgraphs,
        subgraph_stack: Vec::new(),
        slot_deps,
        radix,
        derived,
        lets: Vec::new(),
        vars: &vars,
        exprs: Vec::new(),
        instances: Vec::new(),
        constraints: &constraints,
        frames: vec![Frame { block_input: 0, locals: HashMap::new(), auto: HashMap::new() }],
        full_names: HashMap::new(),
        repetitions: 0,
        spans: Vec::new(),
        prev: 0,
        prev_on: Presence::ALWAYS,
        interned: HashMap::new(),
        tables: HashMap::new(),
    };
    ctx.expand(&spec.items, "", &mut Vec::new(), &mut Vec::new())?;
    if ctx.instances.is_empty() {
        return Err(Error::spec("the space has no layers"));
    }
    // the input shape feeds every instance
    for inst in ctx.instances.iter_mut() {
        inst.max_var = inst.max_var.max(input_max_var);
    }
    let derived_deps: Vec<Vec<usize>> = ctx.slot_deps[vars.len()..].to_vec();
    let expr_max_var = ctx.exprs.iter().map(|e| deps_of(e, &ctx.slot_deps).into_iter().max()).collect();
    let (dead, dynamic_dead) = reach::dead_flags(&ctx)?;
    let derived_infallible = derived_infallible(&ctx);
    let Expander { exprs, mut instances, derived, spans, .. } = ctx;
    for (inst, d) in instances.iter_mut().zip(dead) {
        inst.dead = d;
    }
    let replicas = replicas::find(&instances, &spans, dynamic_dead);
    Ok(Program {
        name: spec.name.clone(),
        vars,
        derived,
        derived_deps,
        constraints,
        input,
        exprs,
        expr_max_var,
        instances,
        input_max_var,
        input_vars,
        networks,
        dynamic_dead,
        replicas,
        derived_infallible,
    })
}

/// The positions of stage `k` of `v` along its dimensions, named by its `index` (row-major).
fn stage_loops(v: &VarSpec, k: usize) -> Vec<(String, i64)> {
    let mut rest = k;
    let mut out: Vec<(String, i64)> = Vec::with_capacity(v.index.len());
    for (name, &d) in v.index.iter().zip(&v.dims).rev() {
        out.push((name.clone(), (rest % d) as i64));
        rest /= d;
    }
    out.reverse();
    out
}

/// Compile each variable's `when`: it may read unconditional primary variables declared before
/// it (and its own position names).
fn compile_conditions(spec: &Spec, names: &Names, origin: &[(usize, usize)], vars: &mut [Var]) -> Result<(), Error> {
    for pos in 0..vars.len() {
        let (decl, stage) = origin[pos];
        let declared = &spec.variables[decl];
        let Some(when) = &declared.when else { continue };
        let loops = stage_loops(declared, stage);
        let what = format!("variable '{}' when '{}'", vars[pos].name, when.source());
        let c = when.try_compile(&|n: &str| names.resolve(&loops, n)).map_err(|m| Error::expression(what.as_str(), m))?;
        for s in c.slots() {
            let Some(&(read_decl, _)) = origin.get(s) else {
                let derived = names.scalars.iter().find(|(_, &slot)| slot == s).map_or("?", |(n, _)| n.as_str());
                return Err(Error::spec(format!(
                    "{what}: reads the derived variable '{derived}'; a condition reads variables declared before it"
                )));
            };
            let read = &vars[s].name;
            if read_decl >= decl {
                return Err(Error::spec(format!(
                    "{what}: reads '{read}', which is declared after '{}' (or is it); a condition reads variables declared before it",
                    declared.name
                )));
            }
            if spec.variables[read_decl].when.is_some() {
                return Err(Error::spec(format!(
                    "{what}: reads '{read}', which has a condition itself; a condition reads unconditional variables"
                )));
            }
        }
        match c.as_const() {
            Some(v) if v.truthy() => {}
            _ => vars[pos].condition = Some(c),
        }
    }
    Ok(())
}
