//! The folded tree a compiled expression is made of, and its direct evaluator: the reference
//! the tree of closures is tested against, what constant folding runs, and the nullable
//! (three-valued) evaluation.

use super::error::{at, fault, missing_slot, ExprErrorKind, Fault, ValueOrFault};
use super::numeric::{arith, call1, compare, make_divisible, neg, round_n};
use super::parse::{BinOp, CmpOp, Func, Span};
use super::value::Value;

/// The source text of an indexed list, for error messages.
#[derive(Clone, Debug)]
pub(super) struct IndexedList {
    pub(super) list: Box<str>,
}

/// The folded tree. `...Const` / `Const...` variants hold a constant operand inline. `Compiled::eval`
/// runs closures generated from it; `Node::eval` evaluates it directly, for constant folding and as
/// the reference the tests hold the closures to.
#[derive(Clone, Debug)]
pub(super) enum Node {
    Const(Value),
    Slot(u32),
    Bin(BinOp, Box<Node>, Box<Node>, Span),
    /// `a op k`
    BinConst(BinOp, Box<Node>, Value, Span),
    /// `k op b`
    ConstBin(BinOp, Value, Box<Node>, Span),
    Neg(Box<Node>, Span),
    Pos(Box<Node>),
    Not(Box<Node>),
    /// The truth value of the operand, as a bool (what `true and x` folds to).
    Truth(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Cmp(CmpOp, Box<Node>, Box<Node>),
    /// `a op k`
    CmpConst(CmpOp, Box<Node>, Value),
    /// `a < b < c ...`
    Chain(Box<Node>, Box<[(CmpOp, Node)]>),
    Cond(Box<Node>, Box<Node>, Box<Node>),
    /// A constant list indexed by the operand.
    IndexConsts(Box<[Value]>, Box<Node>, Box<IndexedList>),
    /// A list of slots indexed by the operand.
    IndexSlots(Box<[u32]>, Box<Node>, Box<IndexedList>),
    /// A list literal with computed elements; only the selected element is evaluated.
    IndexNodes(Box<[Node]>, Box<Node>, Box<IndexedList>),
    /// `abs round ceil floor int float` of one argument.
    Call1(Func, Box<Node>, Span),
    Round2(Box<Node>, Box<Node>, Span),
    /// `min` (false) or `max` (true).
    MinMax(bool, Box<[Node]>),
    MakeDiv(Box<Node>, Box<Node>, Option<Box<Node>>, Span),
}

impl Node {
    pub(super) fn children(&self) -> Vec<&Node> {
        match self {
            Node::Const(_) | Node::Slot(_) => vec![],
            Node::Bin(_, a, b, _) | Node::And(a, b) | Node::Or(a, b) | Node::Cmp(_, a, b) => vec![a, b],
            Node::Round2(a, b, _) => vec![a, b],
            Node::BinConst(_, a, _, _) | Node::ConstBin(_, _, a, _) | Node::Neg(a, _) | Node::Pos(a) => vec![a],
            Node::Not(a) | Node::Truth(a) | Node::CmpConst(_, a, _) | Node::Call1(_, a, _) => vec![a],
            Node::IndexConsts(_, i, _) | Node::IndexSlots(_, i, _) => vec![i],
            Node::IndexNodes(items, i, _) => items.iter().chain(std::iter::once(&**i)).collect(),
            Node::Chain(first, rest) => std::iter::once(&**first).chain(rest.iter().map(|r| &r.1)).collect(),
            Node::Cond(c, t, e) => vec![c, t, e],
            Node::MinMax(_, xs) => xs.iter().collect(),
            Node::MakeDiv(v, d, m, _) => {
                let mut out: Vec<&Node> = vec![v, d];
                if let Some(m) = m {
                    out.push(m);
                }
                out
            }
        }
    }

    pub(super) fn as_const(&self) -> Option<Value> {
        match self {
            Node::Const(v) => Some(*v),
            _ => None,
        }
    }
}

impl Node {
    /// Whether the node reads a slot that `null` says is null.
    fn reads_null(&self, null: &dyn Fn(u32) -> bool) -> bool {
        match self {
            Node::Slot(i) => null(*i),
            Node::IndexSlots(ss, i, _) => ss.iter().any(|&x| null(x)) || i.reads_null(null),
            n => n.children().iter().any(|c| c.reads_null(null)),
        }
    }

    /// [`Compiled::eval_nullable`]: `and`/`or`/`not` as Kleene's logic, anything else null as
    /// soon as it reads a null slot (`null(slot)`), else the ordinary evaluation.
    pub(super) fn eval_nullable(&self, s: &[Value], null: &dyn Fn(u32) -> bool) -> Result<Option<Value>, Fault> {
        let truth = |n: &Node| -> Result<Option<bool>, Fault> { Ok(n.eval_nullable(s, null)?.map(|v| v.truthy())) };
        Ok(match self {
            Node::And(a, b) | Node::Or(a, b) => {
                // the value that decides alone: false for `and`, true for `or`
                let decides = matches!(self, Node::Or(..));
                match truth(a)? {
                    Some(x) if x == decides => Some(Value::Bool(decides)),
                    x => match (x, truth(b)?) {
                        (_, Some(y)) if y == decides => Some(Value::Bool(decides)),
                        (Some(_), Some(_)) => Some(Value::Bool(!decides)),
                        _ => None,
                    },
                }
            }
            Node::Not(a) => truth(a)?.map(|t| Value::Bool(!t)),
            Node::Truth(a) => truth(a)?.map(Value::Bool),
            n if n.reads_null(null) => None,
            n => Some(n.eval(s)?),
        })
    }

    pub(super) fn eval(&self, s: &[Value]) -> ValueOrFault {
        match self {
            Node::Const(v) => Ok(*v),
            Node::Slot(i) => match s.get(*i as usize) {
                Some(v) => Ok(*v),
                None => Err(missing_slot(*i, s.len())),
            },
            Node::BinConst(op, a, k, sp) => {
                let x = a.eval(s)?;
                arith(*op, x, *k).map_err(|f| at(f, *sp))
            }
            Node::Bin(op, a, b, sp) => {
                let x = a.eval(s)?;
                let y = b.eval(s)?;
                arith(*op, x, y).map_err(|f| at(f, *sp))
            }
            Node::ConstBin(op, k, b, sp) => {
                let y = b.eval(s)?;
                arith(*op, *k, y).map_err(|f| at(f, *sp))
            }
            Node::CmpConst(op, a, k) => Ok(Value::Bool(compare(*op, a.eval(s)?, *k))),
            Node::Cmp(op, a, b) => {
                let x = a.eval(s)?;
                Ok(Value::Bool(compare(*op, x, b.eval(s)?)))
            }
            Node::Chain(first, rest) => {
                let mut x = first.eval(s)?;
                for (op, n) in rest.iter() {
                    let y = n.eval(s)?;
                    if !compare(*op, x, y) {
                        return Ok(Value::Bool(false));
                    }
                    x = y;
                }
                Ok(Value::Bool(true))
            }
            Node::And(a, b) => Ok(Value::Bool(a.eval(s)?.truthy() && b.eval(s)?.truthy())),
            Node::Or(a, b) => Ok(Value::Bool(a.eval(s)?.truthy() || b.eval(s)?.truthy())),
            Node::Not(a) => Ok(Value::Bool(!a.eval(s)?.truthy())),
            Node::Truth(a) => Ok(Value::Bool(a.eval(s)?.truthy())),
            Node::Cond(c, t, e) => {
                if c.eval(s)?.truthy() {
                    t.eval(s)
                } else {
                    e.eval(s)
                }
            }
            Node::Neg(a, sp) => neg(a.eval(s)?).map_err(|f| at(f, *sp)),
            Node::Pos(a) => Ok(match a.eval(s)? {
                Value::Bool(b) => Value::Int(b as i64),
                v => v,
            }),
            Node::IndexConsts(vs, i, info) => {
                let i = i.eval(s)?;
                match index_of(vs.len(), i) {
                    Some(j) => Ok(vs[j]),
                    None => Err(index_fault(vs.len(), i, &info.list)),
                }
            }
            Node::IndexSlots(ss, i, info) => {
                let i = i.eval(s)?;
                let Some(j) = index_of(ss.len(), i) else { return Err(index_fault(ss.len(), i, &info.list)) };
                match s.get(ss[j] as usize) {
                    Some(v) => Ok(*v),
                    None => Err(missing_slot(ss[j], s.len())),
                }
            }
            Node::IndexNodes(ns, i, info) => {
                let i = i.eval(s)?;
                match index_of(ns.len(), i) {
                    Some(j) => ns[j].eval(s),
                    None => Err(index_fault(ns.len(), i, &info.list)),
                }
            }
            Node::Call1(f, a, sp) => call1(*f, a.eval(s)?).map_err(|e| at(e, *sp)),
            Node::Round2(a, n, sp) => {
                let x = a.eval(s)?;
                round_n(x, n.eval(s)?).map_err(|e| at(e, *sp))
            }
            Node::MinMax(is_max, xs) => {
                let mut best = xs[0].eval(s)?;
                let op = if *is_max { CmpOp::Gt } else { CmpOp::Lt };
                for n in xs[1..].iter() {
                    let v = n.eval(s)?;
                    if compare(op, v, best) {
                        best = v;
                    }
                }
                Ok(best)
            }
            Node::MakeDiv(v, d, m, sp) => {
                let v = v.eval(s)?;
                let d = d.eval(s)?;
                let m = match m {
                    Some(m) => Some(m.eval(s)?),
                    None => None,
                };
                make_divisible(v, d, m).map_err(|e| at(e, *sp))
            }
        }
    }
}

/// Python list index: negative counts from the end; must be an int (or bool).
#[inline]
pub(super) fn index_of(len: usize, i: Value) -> Option<usize> {
    let i = match i {
        Value::Int(i) => i,
        Value::Bool(b) => b as i64,
        Value::Float(_) | Value::Str(_) => return None,
    };
    let j = if i < 0 { i.wrapping_add(len as i64) } else { i };
    if j < 0 || j >= len as i64 {
        return None;
    }
    Some(j as usize)
}

/// `index 5 out of range for 'width' of length 5`
#[cold]
#[inline(never)]
pub(super) fn index_fault(len: usize, i: Value, list: &str) -> Fault {
    let list = list.to_string();
    fault(match i {
        Value::Float(index) => ExprErrorKind::IndexNotInteger { list, index },
        Value::Str(s) => ExprErrorKind::StringOperand { text: s.as_str() },
        index => ExprErrorKind::IndexOutOfRange { list, index, len },
    })
}
