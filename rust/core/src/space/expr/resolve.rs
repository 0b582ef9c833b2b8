//! From syntax tree to `Node` tree: names resolved to constants and slots, constant
//! sub-expressions folded, constant operands moved inline.

use super::error::{describe, ExprError, ExprErrorKind, Overflow};
use super::numeric::arith;
use super::parse::{func_name, Ast, AstKind, BinOp, Func, Span};
use super::tree::{index_of, IndexedList, Node};
use super::value::{Binding, Value, TWO_63};

/// Compiles one expression's syntax tree, resolving names with `resolve`.
pub(super) struct Compiler<'a> {
    pub(super) src: &'a str,
    pub(super) resolve: &'a dyn Fn(&str) -> Option<Binding>,
    /// Every constant sub-expression must fold (a filter: `1 // 0` is an error when it is
    /// compiled, not a failure on every row), and an integer one beyond 64 bits (`10**30`)
    /// folds to the nearest float, as Python's `float(10**30)`.
    pub(super) strict: bool,
}

/// What an indexable expression compiled to.
enum ListOf {
    Consts(Vec<Value>),
    Slots(Vec<u32>),
    Nodes(Vec<Node>),
}

impl<'a> Compiler<'a> {
    /// A name error: it concerns the whole expression, so it has no span.
    fn err(&self, kind: ExprErrorKind) -> Box<ExprError> {
        Box::new(ExprError { kind, expression: self.src.to_string(), span: None })
    }

    fn text(&self, a: &Ast) -> &str {
        &self.src[a.span.0 as usize..a.span.1 as usize]
    }

    fn slot(&self, name: &str, i: usize) -> Result<u32, Box<ExprError>> {
        u32::try_from(i).map_err(|_| self.err(ExprErrorKind::SlotOutOfRange { name: name.to_string(), slot: i }))
    }

    fn binding(&self, name: &str) -> Result<Binding, Box<ExprError>> {
        (self.resolve)(name).ok_or_else(|| self.err(ExprErrorKind::UnknownVariable { name: name.to_string() }))
    }

    /// Compile `a` as a list (a list-bound name or a list literal), or None if it is not one.
    fn list(&self, a: &Ast) -> Result<Option<ListOf>, Box<ExprError>> {
        match &a.kind {
            AstKind::Name(name) => match self.binding(name)? {
                Binding::ConstList(vs) => Ok(Some(ListOf::Consts(vs))),
                Binding::SlotList(ss) => {
                    let ss = ss.iter().map(|&s| self.slot(name, s)).collect::<Result<_, _>>()?;
                    Ok(Some(ListOf::Slots(ss)))
                }
                Binding::Const(_) | Binding::Slot(_) => Ok(None),
            },
            AstKind::List(items) => {
                let mut nodes = Vec::with_capacity(items.len());
                for it in items {
                    if matches!(it.kind, AstKind::List(_)) {
                        return Err(self.err(ExprErrorKind::NestedList));
                    }
                    nodes.push(self.compile(it)?);
                }
                if nodes.iter().all(|n| matches!(n, Node::Const(_))) {
                    Ok(Some(ListOf::Consts(nodes.iter().filter_map(Node::as_const).collect())))
                } else if nodes.iter().all(|n| matches!(n, Node::Slot(_))) {
                    let ss = nodes.iter().map(|n| if let Node::Slot(s) = n { *s } else { 0 }).collect();
                    Ok(Some(ListOf::Slots(ss)))
                } else {
                    Ok(Some(ListOf::Nodes(nodes)))
                }
            }
            _ => Ok(None),
        }
    }

    pub(super) fn compile(&self, a: &Ast) -> Result<Node, Box<ExprError>> {
        let span = a.span;
        let b = |x: &Ast| -> Result<Box<Node>, Box<ExprError>> { Ok(Box::new(self.compile(x)?)) };
        let node = match &a.kind {
            AstKind::Lit(v) => return Ok(Node::Const(*v)),
            AstKind::Name(name) => {
                return match self.binding(name)? {
                    Binding::Const(v) => Ok(Node::Const(v)),
                    Binding::Slot(i) => Ok(Node::Slot(self.slot(name, i)?)),
                    Binding::ConstList(_) | Binding::SlotList(_) => Err(self.err(ExprErrorKind::ListNotIndexed { name: name.clone() })),
                }
            }
            AstKind::List(_) => return Err(self.err(ExprErrorKind::UnindexedList)),
            AstKind::Index(target, index) => {
                let list = self.list(target)?.ok_or_else(|| self.err(ExprErrorKind::NotAList { text: self.text(target).to_string() }))?;
                let i = b(index)?;
                let info = Box::new(IndexedList { list: self.text(target).into() });
                match (list, i.as_const()) {
                    // A constant index picks the element now (if it is in range).
                    (ListOf::Slots(ss), Some(k)) => match index_of(ss.len(), k) {
                        Some(j) => return Ok(Node::Slot(ss[j])),
                        None => Node::IndexSlots(ss.into(), i, info),
                    },
                    (ListOf::Nodes(mut ns), Some(k)) => match index_of(ns.len(), k) {
                        Some(j) => return Ok(ns.swap_remove(j)),
                        None => Node::IndexNodes(ns.into(), i, info),
                    },
                    (ListOf::Consts(vs), _) => Node::IndexConsts(vs.into(), i, info),
                    (ListOf::Slots(ss), None) => Node::IndexSlots(ss.into(), i, info),
                    (ListOf::Nodes(ns), None) => Node::IndexNodes(ns.into(), i, info),
                }
            }
            AstKind::Call(f, args) => self.call(*f, args, span)?,
            AstKind::Neg(x) => Node::Neg(b(x)?, span),
            AstKind::Pos(x) => Node::Pos(b(x)?),
            AstKind::Not(x) => Node::Not(b(x)?),
            AstKind::Bin(op, x, y) => Node::Bin(*op, b(x)?, b(y)?, span),
            AstKind::Cmp(first, rest) => {
                if rest.len() == 1 {
                    Node::Cmp(rest[0].0, b(first)?, b(&rest[0].1)?)
                } else {
                    let rest = rest.iter().map(|(op, x)| Ok((*op, self.compile(x)?))).collect::<Result<Vec<_>, Box<ExprError>>>()?;
                    Node::Chain(b(first)?, rest.into())
                }
            }
            AstKind::And(x, y) => {
                let (x, y) = (b(x)?, b(y)?);
                match x.as_const() {
                    Some(k) if !k.truthy() => return Ok(Node::Const(Value::Bool(false))),
                    Some(_) => Node::Truth(y),
                    None => Node::And(x, y),
                }
            }
            AstKind::Or(x, y) => {
                let (x, y) = (b(x)?, b(y)?);
                match x.as_const() {
                    Some(k) if k.truthy() => return Ok(Node::Const(Value::Bool(true))),
                    Some(_) => Node::Truth(y),
                    None => Node::Or(x, y),
                }
            }
            AstKind::Cond { then, cond, els } => {
                let (t, c, e) = (self.compile(then)?, self.compile(cond)?, self.compile(els)?);
                match c.as_const() {
                    Some(k) => return Ok(if k.truthy() { t } else { e }),
                    None => Node::Cond(Box::new(c), Box::new(t), Box::new(e)),
                }
            }
        };
        Ok(specialize(self.fold(node)?))
    }

    fn call(&self, f: Func, args: &[Ast], span: Span) -> Result<Node, Box<ExprError>> {
        let b = |x: &Ast| -> Result<Box<Node>, Box<ExprError>> { Ok(Box::new(self.compile(x)?)) };
        Ok(match f {
            Func::Min | Func::Max => {
                let nodes: Vec<Node> = if args.len() == 1 {
                    let list = self.list(&args[0])?.ok_or_else(|| self.err(ExprErrorKind::MinMaxNeedsValues { function: func_name(f) }))?;
                    match list {
                        ListOf::Consts(vs) => vs.into_iter().map(Node::Const).collect(),
                        ListOf::Slots(ss) => ss.into_iter().map(Node::Slot).collect(),
                        ListOf::Nodes(ns) => ns,
                    }
                } else {
                    args.iter().map(|x| self.compile(x)).collect::<Result<_, _>>()?
                };
                if nodes.is_empty() {
                    return Err(self.err(ExprErrorKind::MinMaxOfEmptyList { function: func_name(f) }));
                }
                if nodes.len() == 1 {
                    return Ok(nodes.into_iter().next().unwrap_or(Node::Const(Value::Int(0))));
                }
                Node::MinMax(f == Func::Max, nodes.into())
            }
            Func::Round if args.len() == 2 => Node::Round2(b(&args[0])?, b(&args[1])?, span),
            Func::MakeDivisible => {
                let m = match args.get(2) {
                    Some(m) => Some(b(m)?),
                    None => None,
                };
                Node::MakeDiv(b(&args[0])?, b(&args[1])?, m, span)
            }
            _ => Node::Call1(f, b(&args[0])?, span),
        })
    }
}

impl Compiler<'_> {
    /// Replace a node that reads no slots by its value, if it evaluates cleanly. (A child that
    /// failed to fold, like `1 / 0`, can still be skipped by a short-circuit above it.) In
    /// strict mode a constant that fails is an error, and an integer overflow of two int
    /// constants (`10**30`, `2**63 - 1 + 1`) folds to the result in floats (when it is finite).
    fn fold(&self, n: Node) -> Result<Node, Box<ExprError>> {
        fn reads_slots(n: &Node) -> bool {
            matches!(n, Node::Slot(_) | Node::IndexSlots(..)) || n.children().into_iter().any(reads_slots)
        }
        if matches!(n, Node::Const(_)) || reads_slots(&n) {
            return Ok(n);
        }
        match n.eval(&[]) {
            Ok(v) => Ok(Node::Const(v)),
            Err(f) if self.strict => {
                if let (ExprErrorKind::IntegerOverflow(Overflow::Binary { .. }), Node::Bin(op, a, b, _)) = (f.kind(), &n) {
                    if let (Some(Value::Int(x)), Some(Value::Int(y)), BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Pow) =
                        (a.as_const(), b.as_const(), op)
                    {
                        if let Ok(Value::Float(r)) = arith(*op, Value::Float(x as f64), Value::Float(y as f64)) {
                            if r.is_finite() {
                                return Ok(Node::Const(Value::Float(r)));
                            }
                        }
                    }
                }
                Err(Box::new(describe(self.src, *f)))
            }
            Err(_) => Ok(n),
        }
    }
}

/// An integral float as an int (for comparisons, where int and float compare exactly, so the
/// result is the same and the int is cheaper: `params < 5e6`).
fn int_if_integral(k: Value) -> Value {
    match k {
        Value::Float(f) if f.fract() == 0.0 && (-TWO_63..TWO_63).contains(&f) => Value::Int(f as i64),
        k => k,
    }
}

/// Move constant operands of binary operators and comparisons inline.
fn specialize(n: Node) -> Node {
    match n {
        Node::Bin(op, a, b, at) => match (a.as_const(), b.as_const()) {
            (_, Some(k)) => Node::BinConst(op, a, k, at),
            (Some(k), None) => Node::ConstBin(op, k, b, at),
            _ => Node::Bin(op, a, b, at),
        },
        Node::Cmp(op, a, b) => match (a.as_const(), b.as_const()) {
            (_, Some(k)) => Node::CmpConst(op, a, int_if_integral(k)),
            (Some(k), None) => Node::CmpConst(op.swapped(), b, int_if_integral(k)),
            _ => Node::Cmp(op, a, b),
        },
        n => n,
    }
}
