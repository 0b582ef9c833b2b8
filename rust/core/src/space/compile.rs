//! Compile a space spec once into a flat program: repeat blocks expanded to their largest
//! count, every layer instance wired to value indices, each with the conditions that switch it
//! on. A switched-off instance passes its first input through (so "skip this projection"
//! leaves the identity shortcut). Ops whose attributes depend on few variables are built once
//! per combination of those variables' values and looked up by digit arithmetic per variant.

use super::expr::{self, Binding, Compiled, Value};
use super::ids;
use super::networks::Networks;
use super::spec::{AttrTpl, BlockTpl, Count, Item, LayerTpl, Spec, VarSpec, BLOCK_INPUT};
use crate::attrs::Attrs;
use crate::error::{Error, ErrorKind, Limited};
use crate::graph::INPUT;
use crate::ops::{self, Op};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;

/// Largest table of prebuilt ops per layer instance; beyond it ops are built per variant.
const TABLE_LIMIT: u64 = 1 << 16;
/// Largest number of variable combinations examined to find a repeat count's maximum.
const COUNT_SCAN_LIMIT: u64 = 1 << 20;
/// Most layer instances one space may expand to.
const INSTANCE_LIMIT: usize = 100_000;

/// One primary variable (a per-stage variable contributes one per stage: `width_0`, ...).
pub struct Var {
    pub name: String,
    pub choices: Vec<Value>,
    /// The condition under which the variable exists (`when`), over earlier unconditional
    /// variables; None: it always exists.
    pub condition: Option<Compiled>,
}

/// An attribute with its expressions compiled.
pub enum CompiledAttr {
    Const(Json),
    Expr(Compiled),
    List(Vec<CompiledAttr>),
}

pub enum OpSource {
    Const(Box<dyn Op>),
    /// Prebuilt ops indexed by Σ digit[var] × stride over the variables the attributes read.
    Table {
        vars: Vec<usize>,
        strides: Vec<u64>,
        ops: Vec<Result<Box<dyn Op>, Error>>,
    },
    /// Built per variant from the evaluated attributes (too many combinations to tabulate).
    Dynamic,
}

#[derive(Clone, Copy)]
pub enum Pred {
    /// expression `e` is true
    Truthy(usize),
    /// repeat count expression `e` is greater than `r`
    Greater(usize, i64),
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
    /// Variables read by this instance's own attributes and conditions.
    pub own_vars: Vec<usize>,
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

/// Names visible to expressions: variables, derived variables, loop indices.
struct Names {
    scalars: HashMap<String, usize>,
    lists: HashMap<String, Vec<usize>>,
}

impl Names {
    fn resolve(&self, loops: &[(String, i64)], name: &str) -> Option<Binding> {
        if let Some((_, v)) = loops.iter().rev().find(|(n, _)| n == name) {
            return Some(Binding::Const(Value::Int(*v)));
        }
        if let Some(&s) = self.scalars.get(name) {
            return Some(Binding::Slot(s));
        }
        self.lists.get(name).map(|l| Binding::SlotList(l.clone()))
    }
}

struct Frame {
    block_input: usize,
    locals: HashMap<String, usize>,
    auto: HashMap<String, usize>,
}

struct Expander<'a> {
    names: &'a Names,
    subgraphs: &'a [(String, Vec<Item>)],
    /// Sub-graphs being expanded (a sub-graph that names itself would never end).
    subgraph_stack: Vec<String>,
    /// primaries each slot depends on (a primary on itself; a derived on its closure)
    slot_deps: Vec<Vec<usize>>,
    radix: Vec<u64>,
    /// Derived variables: the spec's, then one per block-local `let` that reads a variable.
    derived: Vec<(String, Compiled)>,
    /// Block-local names in scope, innermost last.
    lets: Vec<(String, Binding)>,
    vars: &'a [Var],
    exprs: Vec<Compiled>,
    instances: Vec<Instance>,
    frames: Vec<Frame>,
    full_names: HashMap<String, usize>,
    prev: usize,
}

fn deps_of(c: &Compiled, slot_deps: &[Vec<usize>]) -> Vec<usize> {
    let mut out: Vec<usize> = c.slots().into_iter().flat_map(|s| slot_deps[s].iter().copied()).collect();
    out.sort_unstable();
    out.dedup();
    out
}

pub fn value_to_json(v: Value) -> Json {
    match v {
        Value::Int(i) => Json::from(i),
        Value::Float(f) => serde_json::Number::from_f64(f).map(Json::Number).unwrap_or(Json::Null),
        Value::Bool(b) => Json::Bool(b),
        Value::Str(s) => Json::String(s.as_str().to_string()),
    }
}

impl CompiledAttr {
    fn compile(t: &AttrTpl, resolve: &dyn Fn(&str) -> Option<Binding>, what: &str) -> Result<CompiledAttr, Error> {
        Ok(match t {
            AttrTpl::Const(v) => CompiledAttr::Const(v.clone()),
            AttrTpl::Expr(e) => {
                let c = e.try_compile(resolve).map_err(|m| Error::expression(what, m))?;
                match c.as_const() {
                    Some(v) => CompiledAttr::Const(value_to_json(v)),
                    None => CompiledAttr::Expr(c),
                }
            }
            AttrTpl::List(items) => {
                let parts: Vec<CompiledAttr> = items.iter().map(|i| CompiledAttr::compile(i, resolve, what)).collect::<Result<_, _>>()?;
                if parts.iter().all(|p| matches!(p, CompiledAttr::Const(_))) {
                    CompiledAttr::Const(Json::Array(
                        parts.into_iter().map(|p| if let CompiledAttr::Const(v) = p { v } else { unreachable!() }).collect(),
                    ))
                } else {
                    CompiledAttr::List(parts)
                }
            }
        })
    }

    fn is_const(&self) -> bool {
        matches!(self, CompiledAttr::Const(_))
    }

    fn collect_slots(&self, out: &mut Vec<usize>) {
        match self {
            CompiledAttr::Const(_) => {}
            CompiledAttr::Expr(c) => out.extend(c.slots()),
            CompiledAttr::List(items) => items.iter().for_each(|i| i.collect_slots(out)),
        }
    }

    /// The value for one variant as a non-negative integer, if it is one (what
    /// `eval(..).as_u64()` gives, without building JSON: the input shape, every variant).
    pub fn eval_u64(&self, slots: &[Value]) -> Option<u64> {
        match self {
            CompiledAttr::Const(v) => v.as_u64(),
            CompiledAttr::Expr(c) => match c.try_eval(slots) {
                Ok(Value::Int(i)) => u64::try_from(i).ok(),
                _ => None,
            },
            CompiledAttr::List(_) => None,
        }
    }

    /// The concrete JSON value for one variant.
    pub fn eval(&self, slots: &[Value]) -> Result<Json, Error> {
        Ok(match self {
            CompiledAttr::Const(v) => v.clone(),
            CompiledAttr::Expr(c) => value_to_json(c.try_eval(slots).map_err(|e| Error::expression("", e))?),
            CompiledAttr::List(items) => Json::Array(items.iter().map(|i| i.eval(slots)).collect::<Result<_, _>>()?),
        })
    }
}

/// Build an op from evaluated attributes.
pub fn build_op(op: &str, attrs: &[(String, CompiledAttr)], slots: &[Value]) -> Result<Box<dyn Op>, Error> {
    let mut map = Map::new();
    for (k, a) in attrs {
        map.insert(k.clone(), a.eval(slots)?);
    }
    ops::from_attrs(op, &Attrs::new(&map))
}

/// Evaluate `name{expr}` templates; the expressions may use loop indices only.
fn render_name(tpl: &str, loops: &[(String, i64)], what: &str) -> Result<String, Error> {
    let mut out = String::new();
    let mut rest = tpl;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').ok_or_else(|| Error::spec(format!("{what}: unclosed '{{' in name '{tpl}'")))? + open;
        let e = expr::try_parse(&rest[open + 1..close]).map_err(|m| Error::expression(format!("{what}: name '{tpl}'"), m))?;
        let resolve = |n: &str| loops.iter().rev().find(|(l, _)| l == n).map(|(_, v)| Binding::Const(Value::Int(*v)));
        let c = e.try_compile(&resolve).map_err(|m| Error::expression(format!("{what}: name '{tpl}' may only use loop indices"), m))?;
        let v = c.as_const().ok_or_else(|| Error::spec(format!("{what}: name '{tpl}' may only use loop indices")))?;
        out.push_str(&v.to_string());
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl<'a> Expander<'a> {
    fn resolve_fn<'b>(&'b self, loops: &'b [(String, i64)]) -> impl Fn(&str) -> Option<Binding> + 'b {
        move |n: &str| match self.lets.iter().rev().find(|(l, _)| l == n) {
            Some((_, b)) => Some(b.clone()),
            None => self.names.resolve(loops, n),
        }
    }

    /// Every combination of values of `vars` (digit vectors), with derived slots computed.
    fn combos(&self, vars: &[usize]) -> impl Iterator<Item = Vec<Value>> + '_ {
        let total: u64 = vars.iter().map(|&v| self.radix[v]).product();
        let vars = vars.to_vec();
        let n_slots = self.vars.len() + self.derived.len();
        (0..total).map(move |mut k| {
            let mut slots = vec![Value::Int(0); n_slots];
            for (i, v) in self.vars.iter().enumerate() {
                slots[i] = v.choices[0];
            }
            for &v in vars.iter().rev() {
                let r = self.radix[v];
                slots[v] = self.vars[v].choices[(k % r) as usize];
                k /= r;
            }
            for (j, (_, d)) in self.derived.iter().enumerate() {
                let idx = self.vars.len() + j;
                // derived variables outside `vars`' closure may fail on the default values; they
                // are not read by anything evaluated with this combination
                slots[idx] = d.try_eval(&slots).unwrap_or(Value::Int(0));
            }
            slots
        })
    }

    fn lookup(&self, name: &str, what: &str) -> Result<usize, Error> {
        if name == INPUT {
            return Ok(0);
        }
        if name == BLOCK_INPUT {
            return Ok(self.frames.last().map_or(0, |f| f.block_input));
        }
        for f in self.frames.iter().rev() {
            if let Some(&v) = f.locals.get(name) {
                return Ok(v);
            }
        }
        if let Some(&v) = self.full_names.get(name) {
            return Ok(v);
        }
        Err(Error::spec(format!("{what}: input '{name}' is not '{INPUT}', '{BLOCK_INPUT}' or a layer defined before this one")))
    }

    fn expand(
        &mut self,
        items: &[Item],
        prefix: &str,
        loops: &mut Vec<(String, i64)>,
        preds: &mut Vec<(Pred, Vec<usize>)>,
    ) -> Result<(), Error> {
        for item in items {
            match item {
                Item::Layer(l) => self.layer(l, prefix, loops, preds)?,
                Item::Block(b) => self.block(b, prefix, loops, preds)?,
            }
        }
        Ok(())
    }

    fn block(
        &mut self,
        b: &BlockTpl,
        prefix: &str,
        loops: &mut Vec<(String, i64)>,
        preds: &mut Vec<(Pred, Vec<usize>)>,
    ) -> Result<(), Error> {
        let what = b.name.clone().unwrap_or_else(|| format!("block in '{}'", if prefix.is_empty() { "layers" } else { prefix }));
        let (max_count, count_expr) = match &b.repeat {
            Count::Fixed(n) => (*n, None),
            Count::Expr(e) => {
                let c = e.try_compile(&self.resolve_fn(loops)).map_err(|m| Error::expression(format!("{what} repeat"), m))?;
                if let Some(v) = c.as_const() {
                    let n = v.as_i64().map_err(|m| Error::spec(format!("{what} repeat: {m}")))?;
                    if n < 0 {
                        return Err(Error::spec(format!("{what}: repeat count {} = {n} is negative", e.source())));
                    }
                    (n as u64, None)
                } else {
                    let deps = deps_of(&c, &self.slot_deps);
                    let n_combos: u64 = deps.iter().map(|&v| self.radix[v]).product();
                    if n_combos > COUNT_SCAN_LIMIT {
                        return Err(Error::new(ErrorKind::Limit {
                            context: what.clone(),
                            what: Limited::RepeatCombinations { count: e.source().to_string() },
                            limit: COUNT_SCAN_LIMIT,
                            got: n_combos,
                        }));
                    }
                    let mut max = 0i64;
                    for slots in self.combos(&deps) {
                        let context = || format!("{what} repeat '{}'", e.source());
                        let v = c.try_eval(&slots).map_err(|m| Error::expression(context(), m))?;
                        let n = v.as_i64().map_err(|m| Error::spec(format!("{}: {m}", context())))?;
                        if n < 0 {
                            let shown: Vec<String> = deps.iter().map(|&v| format!("{}={}", self.vars[v].name, slots[v])).collect();
                            return Err(Error::spec(format!(
                                "{what}: repeat count '{}' = {n} is negative for {}",
                                e.source(),
                                shown.join(", ")
                            )));
                        }
                        max = max.max(n);
                    }
                    self.exprs.push(c);
                    (max as u64, Some((self.exprs.len() - 1, deps)))
                }
            }
        };
        for r in 0..max_count {
            if let Some(idx) = &b.index {
                loops.push((idx.clone(), r as i64));
            }
            let mut pushed = 0;
            if let Some((e, deps)) = &count_expr {
                preds.push((Pred::Greater(*e, r as i64), deps.clone()));
                pushed += 1;
            }
            if let Some(w) = &b.when {
                let c = w.try_compile(&self.resolve_fn(loops)).map_err(|m| Error::expression(format!("{what} when"), m))?;
                match c.as_const() {
                    Some(v) if v.truthy() => {}
                    Some(_) => {
                        // statically off for this repeat: expand nothing
                        if b.index.is_some() {
                            loops.pop();
                        }
                        for _ in 0..pushed {
                            preds.pop();
                        }
                        continue;
                    }
                    None => {
                        let deps = deps_of(&c, &self.slot_deps);
                        self.exprs.push(c);
                        preds.push((Pred::Truthy(self.exprs.len() - 1), deps));
                        pushed += 1;
                    }
                }
            }
            let local = match &b.name {
                Some(n) => render_name(n, loops, &what)?,
                // an unnamed block adds no prefix: its layers' names (with {index}) must be unique
                None => String::new(),
            };
            let block_local = local.clone();
            let full = match (prefix.is_empty(), local.is_empty()) {
                (_, true) => prefix.to_string(),
                (true, false) => local,
                (false, false) => format!("{prefix}.{local}"),
            };
            let lets_before = self.lets.len();
            for (name, e) in &b.lets {
                if self.names.resolve(loops, name).is_some() || self.lets.iter().any(|(l, _)| l == name) {
                    return Err(Error::spec(format!("{what}: let '{name}' has the name of a variable, a loop index or an outer let")));
                }
                let c = e.try_compile(&self.resolve_fn(loops)).map_err(|m| Error::expression(format!("{what} let '{name}'"), m))?;
                let binding = match c.as_const() {
                    Some(v) => Binding::Const(v),
                    None => {
                        // reads variables: a derived variable of its own, named after the block
                        let slot = self.vars.len() + self.derived.len();
                        self.slot_deps.push(deps_of(&c, &self.slot_deps));
                        let label = if full.is_empty() { name.clone() } else { format!("{full}.{name}") };
                        let taken = |l: &str| self.derived.iter().any(|(d, _)| d == l);
                        let label = if taken(&label) {
                            let shown: Vec<String> = loops.iter().map(|(l, v)| format!("{l}={v}")).collect();
                            format!("{label}[{}]", shown.join(","))
                        } else {
                            label
                        };
                        self.derived.push((label, c));
                        Binding::Slot(slot)
                    }
                };
                self.lets.push((name.clone(), binding));
            }
            self.frames.push(Frame { block_input: self.prev, locals: HashMap::new(), auto: HashMap::new() });
            self.expand(&b.items, &full, loops, preds)?;
            self.lets.truncate(lets_before);
            // the block's layers stay visible to what follows as "<block>.<layer>" (or by their
            // own names for an unnamed block)
            let done = self.frames.pop().expect("pushed above");
            let parent = self.frames.last_mut().expect("the top frame stays");
            for (name, v) in done.locals {
                let key = if block_local.is_empty() { name } else { format!("{block_local}.{name}") };
                parent.locals.insert(key, v);
            }
            for _ in 0..pushed {
                preds.pop();
            }
            if b.index.is_some() {
                loops.pop();
            }
        }
        Ok(())
    }

    fn layer(&mut self, l: &LayerTpl, prefix: &str, loops: &[(String, i64)], preds: &[(Pred, Vec<usize>)]) -> Result<(), Error> {
        let frame = self.frames.last_mut().expect("a frame is always open");
        let local = match &l.name {
            Some(n) => render_name(n, loops, &format!("layer '{n}'"))?,
            None => {
                // an unnamed layer whose op is chosen per variant is numbered as a "choice"
                let base = if l.op_expr.is_some() { "choice" } else { l.op.as_str() };
                let k = frame.auto.entry(base.to_string()).or_insert(0);
                *k += 1;
                format!("{base}_{k}")
            }
        };
        let full = if prefix.is_empty() { local.clone() } else { format!("{prefix}.{local}") };
        let what = format!("{full} ({})", l.op);
        if full == INPUT || local == BLOCK_INPUT {
            return Err(Error::spec(format!("{what}: '{local}' is a reserved name")));
        }
        if self.full_names.contains_key(&full) {
            return Err(Error::spec(format!(
                "{what}: a layer of this name is already defined (use {{index}} in names inside repeat blocks)"
            )));
        }
        let inputs = match &l.inputs {
            None => vec![self.prev],
            // input names may hold `{expr}` of loop indices, like layer names
            Some(names) => {
                names.iter().map(|n| render_name(n, loops, &what).and_then(|n| self.lookup(&n, &what))).collect::<Result<_, _>>()?
            }
        };
        let out = match &l.op_expr {
            // `op = "<subgraph>"`: the sub-graph, always
            None if self.subgraphs.iter().any(|(n, _)| *n == l.op) => {
                let e = expr::try_parse(&format!("{:?}", l.op)).map_err(|m| Error::expression(format!("{what} op"), m))?;
                self.switch(l, &e, &full, &what, inputs, loops, preds)?
            }
            None => self.instance(l, &l.op, &full, &what, inputs, loops, preds)?,
            Some(e) => self.switch(l, e, &full, &what, inputs, loops, preds)?,
        };
        self.full_names.insert(full, out);
        self.frames.last_mut().unwrap().locals.insert(local, out);
        self.prev = out;
        Ok(())
    }

    /// A layer whose `op` is an expression: one alternative per value it can take (an op, or a
    /// sub-graph of [`Spec::subgraphs`]), each switched on when the expression has its value.
    /// The alternatives are chained by their first input: a switched-off one passes it through,
    /// so the last one's output is the chosen alternative's output. Returns that value index.
    #[allow(clippy::too_many_arguments)]
    fn switch(
        &mut self,
        l: &LayerTpl,
        e: &expr::Expr,
        full: &str,
        what: &str,
        inputs: Vec<usize>,
        loops: &[(String, i64)],
        preds: &[(Pred, Vec<usize>)],
    ) -> Result<usize, Error> {
        let c = e.try_compile(&self.resolve_fn(loops)).map_err(|m| Error::expression(format!("{what} op"), m))?;
        // the values the op takes where the layer is on (`op = "=act"`, `when = "=act != 'none'"`)
        let when = match &l.when {
            None => None,
            Some(w) => {
                let wc = w.try_compile(&self.resolve_fn(loops)).map_err(|m| Error::expression(format!("{what} when"), m))?;
                match wc.as_const() {
                    Some(x) if x.truthy() => None,
                    // statically off: its name stands for its first input
                    Some(_) => return Ok(inputs[0]),
                    None => Some(wc),
                }
            }
        };
        let op_deps = deps_of(&c, &self.slot_deps);
        let mut deps = op_deps.clone();
        if let Some(wc) = &when {
            deps.extend(deps_of(wc, &self.slot_deps));
            deps.sort_unstable();
            deps.dedup();
        }
        let n_combos: u64 = deps.iter().map(|&v| self.radix[v]).product();
        if n_combos > COUNT_SCAN_LIMIT {
            return Err(Error::spec(format!(
                "{what}: op '={}' depends on {n_combos} variable combinations (at most {COUNT_SCAN_LIMIT})",
                e.source()
            )));
        }
        let mut values: Vec<Value> = Vec::new();
        for slots in self.combos(&deps) {
            // (a `when` that fails here fails per variant, with its own message)
            if when.as_ref().is_some_and(|wc| wc.try_eval(&slots).is_ok_and(|x| !x.truthy())) {
                continue;
            }
            let v = c.try_eval(&slots).map_err(|m| Error::expression(format!("{what} op"), m))?;
            let shown = || -> String {
                let parts: Vec<String> = op_deps.iter().map(|&d| format!("{}={}", self.vars[d].name, slots[d])).collect();
                if parts.is_empty() {
                    String::new()
                } else {
                    format!(" for {}", parts.join(", "))
                }
            };
            let Value::Str(name) = v else {
                return Err(Error::spec(format!("{what}: op '={}' is {v}{}, not the name of an op or a subgraph", e.source(), shown())));
            };
            if !ops::names().any(|n| n == name.as_str()) && !self.subgraphs.iter().any(|(n, _)| n == name.as_str()) {
                return Err(Error::spec(format!(
                    "{what}: op '={}' is '{v}'{}, which is neither an op nor a subgraph",
                    e.source(),
                    shown()
                )));
            }
            if !values.contains(&v) {
                values.push(v);
            }
        }
        let single = values.len() == 1;
        let mut chain = inputs;
        for v in values {
            let name = v.to_string();
            let mut my_preds: Vec<(Pred, Vec<usize>)> = preds.to_vec();
            if !single {
                let test =
                    expr::try_parse(&format!("({}) == {:?}", e.source(), name)).map_err(|m| Error::expression(format!("{what} op"), m))?;
                let tc = test.try_compile(&self.resolve_fn(loops)).map_err(|m| Error::expression(format!("{what} op"), m))?;
                let test_deps = deps_of(&tc, &self.slot_deps);
                self.exprs.push(tc);
                my_preds.push((Pred::Truthy(self.exprs.len() - 1), test_deps));
            }
            let out = match self.subgraphs.iter().find(|(n, _)| *n == name) {
                Some((_, items)) => {
                    if let Some((key, _)) = l.attrs.first() {
                        return Err(Error::spec(format!(
                            "{what}: attribute '{key}' is for an op, but op '={}' can be the subgraph '{name}'",
                            e.source()
                        )));
                    }
                    if let Some(w) = &l.when {
                        let wc = w.try_compile(&self.resolve_fn(loops)).map_err(|m| Error::expression(format!("{what} when"), m))?;
                        match wc.as_const() {
                            Some(x) if x.truthy() => {}
                            Some(_) => continue,
                            None => {
                                let d = deps_of(&wc, &self.slot_deps);
                                self.exprs.push(wc);
                                my_preds.push((Pred::Truthy(self.exprs.len() - 1), d));
                            }
                        }
                    }
                    // the sub-graph's layers are "<layer>.<subgraph>.<name>", its input the chain
                    let prefix = format!("{full}.{name}");
                    if self.subgraph_stack.contains(&name) {
                        return Err(Error::spec(format!(
                            "{what}: subgraph '{name}' contains itself ({} -> {name})",
                            self.subgraph_stack.join(" -> ")
                        )));
                    }
                    self.subgraph_stack.push(name.clone());
                    self.frames.push(Frame { block_input: chain[0], locals: HashMap::new(), auto: HashMap::new() });
                    self.prev = chain[0];
                    let mut sub_loops = loops.to_vec();
                    self.expand(items, &prefix, &mut sub_loops, &mut my_preds)?;
                    self.frames.pop();
                    self.subgraph_stack.pop();
                    self.prev
                }
                None => self.instance(l, &name, full, what, chain.clone(), loops, &my_preds)?,
            };
            chain[0] = out;
        }
        Ok(chain[0])
    }

    /// One layer instance of op `op_name`; returns the value index that stands for its output
    /// (its first input when it is statically switched off).
    #[allow(clippy::too_many_arguments)]
    fn instance(
        &mut self,
        l: &LayerTpl,
        op_name: &str,
        full: &str,
        what: &str,
        inputs: Vec<usize>,
        loops: &[(String, i64)],
        preds: &[(Pred, Vec<usize>)],
    ) -> Result<usize, Error> {
        if self.instances.len() >= INSTANCE_LIMIT {
            return Err(Error::new(ErrorKind::Limit {
                context: String::new(),
                what: Limited::Layers,
                limit: INSTANCE_LIMIT as u64,
                got: self.instances.len() as u64,
            }));
        }
        let mut my_preds: Vec<Pred> = preds.iter().map(|(p, _)| *p).collect();
        let mut deps: Vec<usize> = preds.iter().flat_map(|(_, d)| d.iter().copied()).collect();
        if let Some(w) = &l.when {
            let c = w.try_compile(&self.resolve_fn(loops)).map_err(|m| Error::expression(format!("{what} when"), m))?;
            match c.as_const() {
                Some(v) if v.truthy() => {}
                Some(_) => {
                    // statically off: like a switched-off layer, its name stands for its first
                    // input, so readers fall back to what it would have passed through
                    return Ok(inputs[0]);
                }
                None => {
                    deps.extend(deps_of(&c, &self.slot_deps));
                    self.exprs.push(c);
                    my_preds.push(Pred::Truthy(self.exprs.len() - 1));
                }
            }
        }
        let attrs: Vec<(String, CompiledAttr)> = {
            let resolve = self.resolve_fn(loops);
            l.attrs
                .iter()
                .map(|(k, t)| CompiledAttr::compile(t, &resolve, &format!("{what} {k}")).map(|c| (k.clone(), c)))
                .collect::<Result<_, _>>()?
        };
        let mut slots = Vec::new();
        attrs.iter().for_each(|(_, a)| a.collect_slots(&mut slots));
        let mut attr_deps: Vec<usize> = slots.into_iter().flat_map(|s| self.slot_deps[s].iter().copied()).collect();
        attr_deps.sort_unstable();
        attr_deps.dedup();
        let op = if attrs.iter().all(|(_, a)| a.is_const()) {
            OpSource::Const(build_op(op_name, &attrs, &[]).map_err(|m| m.at(full, op_name))?)
        } else {
            // a typo'd op name or attribute is wrong for every variant: say so now
            if !ops::names().any(|n| n == op_name) {
                return Err(Error::spec(format!("{what}: unknown op '{op_name}'")));
            }
            let size: u64 = attr_deps.iter().try_fold(1u64, |acc, &v| acc.checked_mul(self.radix[v])).unwrap_or(u64::MAX);
            if size <= TABLE_LIMIT {
                let mut strides = vec![0u64; attr_deps.len()];
                let mut s = 1u64;
                for i in (0..attr_deps.len()).rev() {
                    strides[i] = s;
                    s *= self.radix[attr_deps[i]];
                }
                let table: Vec<Result<Box<dyn Op>, Error>> =
                    self.combos(&attr_deps).map(|slots| build_op(op_name, &attrs, &slots)).collect();
                if let Some(Err(e)) =
                    table.iter().find(|r| r.as_ref().is_err_and(|e| matches!(e.kind(), ErrorKind::UnknownAttribute { .. })))
                {
                    return Err(e.clone().at(full, op_name));
                }
                OpSource::Table { vars: attr_deps.clone(), strides, ops: table }
            } else {
                OpSource::Dynamic
            }
        };
        deps.extend(attr_deps);
        deps.sort_unstable();
        deps.dedup();
        let mut max_var = deps.iter().copied().max();
        for &i in &inputs {
            let m = if i == 0 { None } else { self.instances[i - 1].max_var };
            max_var = max_var.max(m);
        }
        // an arity that no variant can meet is the spec's error, found now rather than per variant
        let arity = match &op {
            OpSource::Const(built) => Some(built.arity()),
            OpSource::Table { ops, .. } => ops.iter().find_map(|o| o.as_ref().ok()).map(|built| built.arity()),
            OpSource::Dynamic => None,
        };
        if let Some((lo, hi)) = arity {
            if inputs.len() < lo || inputs.len() > hi {
                return Err(Error::new(ErrorKind::Arity { min: lo, max: hi, got: inputs.len() }).at(full, op_name));
            }
        }
        self.instances.push(Instance {
            name: full.to_string(),
            op_name: op_name.to_string(),
            inputs,
            preds: my_preds,
            trainable: l.trainable.unwrap_or(true),
            attrs,
            op,
            max_var,
            own_vars: deps,
        });
        Ok(self.instances.len())
    }
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
        frames: vec![Frame { block_input: 0, locals: HashMap::new(), auto: HashMap::new() }],
        full_names: HashMap::new(),
        prev: 0,
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
    let Expander { exprs, instances, derived, .. } = ctx;
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
