//! Expansion of a spec's blocks, sub-graphs and repeat counts into flat layer instances: names
//! in scope (variables, loop indices, block-local lets), templated names and inputs, and each
//! instance's compiled attributes, conditions and wiring.

use super::*;

/// Names visible to expressions: variables, derived variables, loop indices.
pub(super) struct Names {
    pub(super) scalars: HashMap<String, usize>,
    pub(super) lists: HashMap<String, Vec<usize>>,
}

impl Names {
    pub(super) fn resolve(&self, loops: &[(String, i64)], name: &str) -> Option<Binding> {
        if let Some((_, v)) = loops.iter().rev().find(|(n, _)| n == name) {
            return Some(Binding::Const(Value::Int(*v)));
        }
        if let Some(&s) = self.scalars.get(name) {
            return Some(Binding::Slot(s));
        }
        self.lists.get(name).map(|l| Binding::SlotList(l.clone()))
    }
}

pub(super) struct Frame {
    pub(super) block_input: usize,
    pub(super) locals: HashMap<String, Bound>,
    pub(super) auto: HashMap<String, usize>,
}

/// When a named layer is on: the conditions it is expanded under (its blocks' `when` and
/// repeat counts, the alternative of a sub-graph it is in) and its own `when`, compiled but not
/// yet among the program's expressions (only a `drop_off_inputs` reader adds it).
#[derive(Clone)]
pub(super) enum Presence {
    /// statically switched off: its name stands for its first input
    Never,
    When {
        preds: Vec<(Pred, Vec<usize>)>,
        when: Option<Compiled>,
    },
}

impl Presence {
    pub(super) const ALWAYS: Presence = Presence::When { preds: Vec::new(), when: None };
}

/// What a name in `inputs` stands for: a value index, and when the layer of that name is on.
#[derive(Clone)]
pub(super) struct Bound {
    pub(super) value: usize,
    pub(super) on: Presence,
}

pub(super) struct Expander<'a> {
    pub(super) names: &'a Names,
    pub(super) subgraphs: &'a [(String, Vec<Item>)],
    /// Sub-graphs being expanded (a sub-graph that names itself would never end).
    pub(super) subgraph_stack: Vec<String>,
    /// primaries each slot depends on (a primary on itself; a derived on its closure)
    pub(super) slot_deps: Vec<Vec<usize>>,
    pub(super) radix: Vec<u64>,
    /// Derived variables: the spec's, then one per block-local `let` that reads a variable.
    pub(super) derived: Vec<(String, Compiled)>,
    /// Block-local names in scope, innermost last.
    pub(super) lets: Vec<(String, Binding)>,
    pub(super) vars: &'a [Var],
    pub(super) exprs: Vec<Compiled>,
    /// the spec's constraints (a `drop_off_inputs` layer's input sets they rule out are no variant's)
    pub(super) constraints: &'a [(String, Compiled)],
    pub(super) instances: Vec<Instance>,
    pub(super) frames: Vec<Frame>,
    pub(super) full_names: HashMap<String, Bound>,
    /// block repetitions expanded so far (at most `REPETITION_LIMIT`)
    pub(super) repetitions: u64,
    /// every repetition of a block repeated more than once: (first instance, number of
    /// instances), for `replicas.rs`
    pub(super) spans: Vec<(usize, usize)>,
    /// the value a layer without `inputs` reads, and when the layer that made it is on
    pub(super) prev: usize,
    pub(super) prev_on: Presence,
    /// the tables' ops by op name and attribute values (see [`OpSource::Table`])
    pub(super) interned: HashMap<String, Result<Arc<dyn Op>, Error>>,
    /// the tables, by their entries (an op's address, or an error's message)
    pub(super) tables: HashMap<Vec<Result<usize, String>>, OpTable>,
}

/// A name longer than `NAME_LIMIT` bytes is an error naming its start and its length.
fn check_name(name: &str, context: &str) -> Result<(), Error> {
    if name.len() <= NAME_LIMIT {
        return Ok(());
    }
    let mut end = 40;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let start: String = name[..end].chars().map(|c| if c.is_control() { '?' } else { c }).collect();
    Err(Error::new(ErrorKind::Limit {
        context: context.to_string(),
        what: Limited::NameLength { name: start },
        limit: NAME_LIMIT as u64,
        got: name.len() as u64,
    }))
}

/// Evaluate `name{expr}` templates; the expressions may use loop indices only.
pub(super) fn render_name(tpl: &str, loops: &[(String, i64)], what: &str) -> Result<String, Error> {
    let mut out = String::new();
    let mut rest = tpl;
    check_name(tpl, "")?;
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
    check_name(&out, "")?;
    Ok(out)
}

impl<'a> Expander<'a> {
    pub(super) fn resolve_fn<'b>(&'b self, loops: &'b [(String, i64)]) -> impl Fn(&str) -> Option<Binding> + 'b {
        move |n: &str| match self.lets.iter().rev().find(|(l, _)| l == n) {
            Some((_, b)) => Some(b.clone()),
            None => self.names.resolve(loops, n),
        }
    }

    /// Every combination of values of `vars` (digit vectors), with derived slots computed.
    pub(super) fn combos(&self, vars: &[usize]) -> impl Iterator<Item = Vec<Value>> + '_ {
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

    pub(super) fn lookup(&self, name: &str, what: &str) -> Result<Bound, Error> {
        if name == INPUT {
            return Ok(Bound { value: 0, on: Presence::ALWAYS });
        }
        if name == BLOCK_INPUT {
            return Ok(Bound { value: self.frames.last().map_or(0, |f| f.block_input), on: Presence::ALWAYS });
        }
        for f in self.frames.iter().rev() {
            if let Some(b) = f.locals.get(name) {
                return Ok(b.clone());
            }
        }
        if let Some(b) = self.full_names.get(name) {
            return Ok(b.clone());
        }
        Err(Error::spec(format!("{what}: input '{name}' is not '{INPUT}', '{BLOCK_INPUT}' or a layer defined before this one")))
    }

    pub(super) fn expand(
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

    pub(super) fn block(
        &mut self,
        b: &BlockTpl,
        prefix: &str,
        loops: &mut Vec<(String, i64)>,
        preds: &mut Vec<(Pred, Vec<usize>)>,
    ) -> Result<(), Error> {
        let what = match &b.name {
            Some(n) if n.len() > NAME_LIMIT => return check_name(n, ""),
            Some(n) => n.clone(),
            None => format!("block in '{}'", if prefix.is_empty() { "layers" } else { prefix }),
        };
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
        if max_count > REPEAT_LIMIT {
            return Err(Error::new(ErrorKind::Limit { context: what, what: Limited::Repeats, limit: REPEAT_LIMIT, got: max_count }));
        }
        for r in 0..max_count {
            self.repetitions += 1;
            if self.repetitions > REPETITION_LIMIT {
                return Err(Error::new(ErrorKind::Limit {
                    context: what,
                    what: Limited::Repetitions,
                    limit: REPETITION_LIMIT,
                    got: self.repetitions,
                }));
            }
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
            check_name(&full, &what)?;
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
            let first = self.instances.len();
            self.expand(&b.items, &full, loops, preds)?;
            if max_count > 1 {
                self.spans.push((first, self.instances.len() - first));
            }
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

    pub(super) fn layer(&mut self, l: &LayerTpl, prefix: &str, loops: &[(String, i64)], preds: &[(Pred, Vec<usize>)]) -> Result<(), Error> {
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
        check_name(&full, "")?;
        let what = format!("{full} ({})", l.op);
        if full == INPUT || local == BLOCK_INPUT {
            return Err(Error::spec(format!("{what}: '{local}' is a reserved name")));
        }
        if self.full_names.contains_key(&full) {
            return Err(Error::spec(format!(
                "{what}: a layer of this name is already defined (use {{index}} in names inside repeat blocks)"
            )));
        }
        let bound: Vec<Bound> = match &l.inputs {
            None => vec![Bound { value: self.prev, on: self.prev_on.clone() }],
            // input names may hold `{expr}` of loop indices, like layer names
            Some(names) => {
                names.iter().map(|n| render_name(n, loops, &what).and_then(|n| self.lookup(&n, &what))).collect::<Result<_, _>>()?
            }
        };
        let inputs: Vec<usize> = bound.iter().map(|b| b.value).collect();
        let is_subgraph = self.subgraphs.iter().any(|(n, _)| *n == l.op);
        if l.drop_off_inputs && (l.op_expr.is_some() || is_subgraph) {
            return Err(Error::spec(format!(
                "{what}: drop_off_inputs = true is for a layer of one op (add, mul or concat), not for one whose op is chosen per variant or is a subgraph"
            )));
        }
        let out = match &l.op_expr {
            // `op = "<subgraph>"`: the sub-graph, always
            None if is_subgraph => {
                let e = expr::try_parse(&format!("{:?}", l.op)).map_err(|m| Error::expression(format!("{what} op"), m))?;
                self.switch(l, &e, &full, &what, inputs, loops, preds)?
            }
            None => {
                let on: Option<Vec<Presence>> = l.drop_off_inputs.then(|| bound.into_iter().map(|b| b.on).collect());
                self.instance(l, &l.op, &full, &what, inputs, loops, preds, on.as_deref())?
            }
            Some(e) => self.switch(l, e, &full, &what, inputs, loops, preds)?,
        };
        if let Some(held) = &l.holds {
            if l.op_expr.is_some() || is_subgraph || l.drop_off_inputs {
                return Err(Error::spec(format!(
                    "{what}: holds is for a layer of one op without drop_off_inputs, not for one whose op is chosen per variant, is a subgraph or may be replaced"
                )));
            }
            // (a statically switched-off layer runs nowhere and holds nothing)
            if out > 0 && out == self.instances.len() && self.instances[out - 1].name == full {
                let names = self.held_names(held, loops, &what, out)?;
                self.instances[out - 1].attrs.push(("holds".to_string(), CompiledAttr::Const(Json::Array(names))));
            }
        }
        let on = self.presence(l, loops, preds, &what)?;
        self.full_names.insert(full, Bound { value: out, on: on.clone() });
        self.frames.last_mut().unwrap().locals.insert(local, Bound { value: out, on: on.clone() });
        self.prev = out;
        self.prev_on = on;
        Ok(())
    }

    /// The full names of the layers a `holds` names (like `inputs`: short names in the block,
    /// full names, `block_input`, `x`), for instance `holder`'s `holds` attribute, which concrete
    /// models carry (it makes no op: `GRAPH_KEYS`). A held layer must run wherever the holder
    /// runs (the concrete model names it): under no condition the holder is not under.
    fn held_names(&self, held: &[String], loops: &[(String, i64)], what: &str, holder: usize) -> Result<Vec<Json>, Error> {
        let preds = &self.instances[holder - 1].preds;
        held.iter()
            .map(|n| {
                let name = render_name(n, loops, what)?;
                let value = self
                    .lookup(&name, what)
                    .map_err(|_| {
                        Error::spec(format!("{what}: holds '{name}' is not '{INPUT}', '{BLOCK_INPUT}' or a layer defined before this one"))
                    })?
                    .value;
                if value == 0 {
                    return Ok(Json::String(INPUT.to_string()));
                }
                let inst = &self.instances[value - 1];
                if !inst.preds.iter().all(|p| preds.contains(p)) {
                    return Err(Error::spec(format!(
                        "{what}: holds '{name}' ({}), which is switched off in some variants where this layer runs: a held layer must run wherever its holder does",
                        inst.name
                    )));
                }
                Ok(Json::String(inst.name.clone()))
            })
            .collect()
    }

    /// When layer `l`, expanded under `preds`, is on (its `when` was compiled without error by
    /// [`Expander::instance`] or [`Expander::switch`] already).
    fn presence(&self, l: &LayerTpl, loops: &[(String, i64)], preds: &[(Pred, Vec<usize>)], what: &str) -> Result<Presence, Error> {
        let when = match &l.when {
            None => None,
            Some(w) => {
                let c = w.try_compile(&self.resolve_fn(loops)).map_err(|m| Error::expression(format!("{what} when"), m))?;
                match c.as_const() {
                    Some(v) if v.truthy() => None,
                    Some(_) => return Ok(Presence::Never),
                    None => Some(c),
                }
            }
        };
        Ok(Presence::When { preds: preds.to_vec(), when })
    }

    /// A layer whose `op` is an expression: one alternative per value it can take (an op, or a
    /// sub-graph of [`Spec::subgraphs`]), each switched on when the expression has its value.
    /// The alternatives are chained by their first input: a switched-off one passes it through,
    /// so the last one's output is the chosen alternative's output. Returns that value index.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn switch(
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
                    // (the sub-graph's input is no layer of its own: it is always there)
                    self.prev_on = Presence::ALWAYS;
                    let mut sub_loops = loops.to_vec();
                    self.expand(items, &prefix, &mut sub_loops, &mut my_preds)?;
                    self.frames.pop();
                    self.subgraph_stack.pop();
                    self.prev
                }
                None => self.instance(l, &name, full, what, chain.clone(), loops, &my_preds, None)?,
            };
            chain[0] = out;
        }
        Ok(chain[0])
    }

    /// One layer instance of op `op_name`; returns the value index that stands for its output
    /// (its first input when it is statically switched off).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn instance(
        &mut self,
        l: &LayerTpl,
        op_name: &str,
        full: &str,
        what: &str,
        inputs: Vec<usize>,
        loops: &[(String, i64)],
        preds: &[(Pred, Vec<usize>)],
        drop: Option<&[Presence]>,
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
        // `drop_off_inputs`: the sets of inputs that are on where this layer is
        let drop = match drop {
            None => None,
            Some(on) => {
                // each input's conditions; those the layer is under itself hold wherever it is on
                let mut scan: Vec<usize> = deps.clone();
                let mut present: Vec<Option<Vec<Pred>>> = Vec::with_capacity(on.len());
                for p in on {
                    match p {
                        Presence::Never => present.push(None),
                        Presence::When { preds, when } => {
                            let mut conds: Vec<Pred> = Vec::new();
                            for (pred, d) in preds {
                                if !my_preds.contains(pred) {
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
                let ctx = drops::Scan {
                    exprs: &self.exprs,
                    derived: &self.derived,
                    constraints: self.constraints,
                    slot_deps: &self.slot_deps,
                    vars: self.vars,
                    radix: &self.radix,
                };
                Some(Box::new(drops::compile(full, op_name, &inputs, present, &my_preds, &scan, self.combos(&scan), ctx)?))
            }
        };
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
                let mut table = Vec::with_capacity(size as usize);
                let mut interned = std::mem::take(&mut self.interned);
                for slots in self.combos(&attr_deps) {
                    table.push(match eval_attrs(&attrs, &slots) {
                        Err(e) => Err(e),
                        Ok(map) => {
                            let key = format!("{op_name}\0{}", Json::Object(map.clone()));
                            interned.entry(key).or_insert_with(|| ops::from_attrs(op_name, &Attrs::new(&map)).map(Arc::from)).clone()
                        }
                    });
                }
                self.interned = interned;
                if let Some(Err(e)) =
                    table.iter().find(|r| r.as_ref().is_err_and(|e| matches!(e.kind(), ErrorKind::UnknownAttribute { .. })))
                {
                    return Err(e.clone().at(full, op_name));
                }
                let key =
                    table.iter().map(|r| r.as_ref().map(|op| Arc::as_ptr(op) as *const () as usize).map_err(|e| e.to_string())).collect();
                let ops = self.tables.entry(key).or_insert_with(|| table.into()).clone();
                OpSource::Table { vars: attr_deps.clone(), strides, ops }
            } else {
                OpSource::Dynamic
            }
        };
        deps.extend(attr_deps);
        // an arity that no variant can meet is the spec's error, found now rather than per variant
        let arity = match &op {
            OpSource::Const(built) => Some(built.arity()),
            OpSource::Table { ops, .. } => ops.iter().find_map(|o| o.as_ref().ok()).map(|built| built.arity()),
            OpSource::Dynamic => None,
        };
        if let (Some((lo, hi)), None) = (arity, &drop) {
            if inputs.len() < lo || inputs.len() > hi {
                return Err(Error::new(ErrorKind::Arity { min: lo, max: hi, got: inputs.len() }).at(full, op_name));
            }
        }
        deps.sort_unstable();
        deps.dedup();
        let mut max_var = deps.iter().copied().max();
        for &i in &inputs {
            let m = if i == 0 { None } else { self.instances[i - 1].max_var };
            max_var = max_var.max(m);
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
            drop,
            dead: false,
        });
        Ok(self.instances.len())
    }
}
