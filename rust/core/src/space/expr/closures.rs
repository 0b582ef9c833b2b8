//! `Compiled::eval` runs a tree of closures built once from the folded `Node` tree. Each closure
//! knows its operator at compile time (operators are const generic parameters) and its operand
//! kinds (constant, slot or call: type parameters), so `width * 2 + 1` is two small calls.
//! Comparisons, `and`, `or`, `not` and conditions compile to predicates returning
//! `Result<bool, _>`, which comes back in registers.

use super::error::{at, missing_slot, Fault};
use super::numeric::{
    arith_packed, call1, compare_packed, make_divisible_packed, neg_packed, round_n, PackedOrFault, PackedValue, TAG_BOOL,
};
use super::parse::{BinOp, CmpOp, Span};
use super::tree::{index_fault, index_of, Node};
use super::value::Value;

/// A compiled sub-expression.
type ValueClosure = Box<dyn Fn(&[Value]) -> PackedOrFault + Send + Sync>;
/// A compiled sub-expression in a boolean context.
type Predicate = Box<dyn Fn(&[Value]) -> Result<bool, Fault> + Send + Sync>;

/// The tree of closures `Compiled::eval` runs: a value, or a predicate when the root is a bool.
pub(super) enum Body {
    Value(ValueClosure),
    Bool(Predicate),
}

#[inline(always)]
fn slot(s: &[Value], i: u32) -> PackedOrFault {
    match s.get(i as usize) {
        Some(v) => Ok(PackedValue::from_value(*v)),
        None => Err(missing_slot(i, s.len())),
    }
}

const fn bin_op(o: u8) -> BinOp {
    match o {
        0 => BinOp::Add,
        1 => BinOp::Sub,
        2 => BinOp::Mul,
        3 => BinOp::Div,
        4 => BinOp::FloorDiv,
        5 => BinOp::Mod,
        _ => BinOp::Pow,
    }
}

const fn cmp_op(o: u8) -> CmpOp {
    match o {
        0 => CmpOp::Lt,
        1 => CmpOp::Le,
        2 => CmpOp::Gt,
        3 => CmpOp::Ge,
        4 => CmpOp::Eq,
        _ => CmpOp::Ne,
    }
}

/// Evaluate `$body` with the const `$o: u8` standing for the operator `$op`.
macro_rules! with_bin_op {
    ($op:expr, $o:ident => $body:expr) => {
        match $op {
            BinOp::Add => {
                const $o: u8 = 0;
                $body
            }
            BinOp::Sub => {
                const $o: u8 = 1;
                $body
            }
            BinOp::Mul => {
                const $o: u8 = 2;
                $body
            }
            BinOp::Div => {
                const $o: u8 = 3;
                $body
            }
            BinOp::FloorDiv => {
                const $o: u8 = 4;
                $body
            }
            BinOp::Mod => {
                const $o: u8 = 5;
                $body
            }
            BinOp::Pow => {
                const $o: u8 = 6;
                $body
            }
        }
    };
}

macro_rules! with_cmp_op {
    ($op:expr, $o:ident => $body:expr) => {
        match $op {
            CmpOp::Lt => {
                const $o: u8 = 0;
                $body
            }
            CmpOp::Le => {
                const $o: u8 = 1;
                $body
            }
            CmpOp::Gt => {
                const $o: u8 = 2;
                $body
            }
            CmpOp::Ge => {
                const $o: u8 = 3;
                $body
            }
            CmpOp::Eq => {
                const $o: u8 = 4;
                $body
            }
            CmpOp::Ne => {
                const $o: u8 = 5;
                $body
            }
        }
    };
}

/// Evaluate `$body` with `$x` bound to the operand `$arg` as a concrete [`Operand`] type, so
/// the closure built in `$body` is specialised for a constant, slot or computed operand.
macro_rules! with_operand {
    ($arg:expr, $x:ident => $body:expr) => {
        match $arg {
            AnyOperand::Const(v) => {
                let $x = ConstOperand(v);
                $body
            }
            AnyOperand::Slot(i) => {
                let $x = SlotOperand(i);
                $body
            }
            AnyOperand::Closure(f) => {
                let $x = ClosureOperand(f);
                $body
            }
        }
    };
}

/// An operand: constants and slots are read in place, anything else is a call.
enum AnyOperand {
    Const(PackedValue),
    Slot(u32),
    Closure(ValueClosure),
}

impl AnyOperand {
    #[inline(always)]
    fn get(&self, s: &[Value]) -> PackedOrFault {
        match self {
            AnyOperand::Const(v) => Ok(*v),
            AnyOperand::Slot(i) => slot(s, *i),
            AnyOperand::Closure(f) => f(s),
        }
    }
}

fn operand(n: &Node) -> AnyOperand {
    match n {
        Node::Const(v) => AnyOperand::Const(PackedValue::from_value(*v)),
        Node::Slot(i) => AnyOperand::Slot(*i),
        _ => AnyOperand::Closure(generate(n)),
    }
}

/// An operand whose kind the closure reading it knows statically.
trait Operand: Send + Sync + 'static {
    fn get(&self, s: &[Value]) -> PackedOrFault;
}

struct ConstOperand(PackedValue);
struct SlotOperand(u32);
struct ClosureOperand(ValueClosure);

impl Operand for ConstOperand {
    #[inline(always)]
    fn get(&self, _: &[Value]) -> PackedOrFault {
        Ok(self.0)
    }
}

impl Operand for SlotOperand {
    #[inline(always)]
    fn get(&self, s: &[Value]) -> PackedOrFault {
        slot(s, self.0)
    }
}

impl Operand for ClosureOperand {
    #[inline(always)]
    fn get(&self, s: &[Value]) -> PackedOrFault {
        (self.0)(s)
    }
}

fn arith_closure<const O: u8, A: Operand, B: Operand>(a: A, b: B, sp: Span) -> ValueClosure {
    Box::new(move |s| {
        let x = a.get(s)?;
        match arith_packed(bin_op(O), x, b.get(s)?) {
            Ok(v) => Ok(v),
            Err(f) => Err(at(f, sp)),
        }
    })
}

fn binary(op: BinOp, a: AnyOperand, b: AnyOperand, sp: Span) -> ValueClosure {
    with_bin_op!(op, O => with_operand!(a, x => with_operand!(b, y => arith_closure::<O, _, _>(x, y, sp))))
}

fn comparison_predicate<const O: u8, A: Operand, B: Operand>(a: A, b: B) -> Predicate {
    Box::new(move |s| {
        let x = a.get(s)?;
        Ok(compare_packed(cmp_op(O), x, b.get(s)?))
    })
}

fn comparison(op: CmpOp, a: AnyOperand, b: AnyOperand) -> Predicate {
    with_cmp_op!(op, O => with_operand!(a, x => with_operand!(b, y => comparison_predicate::<O, _, _>(x, y))))
}

fn cond_closure<T: Operand, E: Operand>(c: Predicate, t: T, e: E) -> ValueClosure {
    Box::new(move |s| if c(s)? { t.get(s) } else { e.get(s) })
}

/// `max(a, b)` / `min(a, b)`: the first argument unless the second is strictly greater / less.
fn min_max_of_two<const MAX: bool, A: Operand, B: Operand>(a: A, b: B) -> ValueClosure {
    Box::new(move |s| {
        let x = a.get(s)?;
        let y = b.get(s)?;
        Ok(if compare_packed(if MAX { CmpOp::Gt } else { CmpOp::Lt }, y, x) { y } else { x })
    })
}

fn make_divisible_closure<A: Operand, B: Operand>(v: A, d: B, sp: Span) -> ValueClosure {
    Box::new(move |s| {
        let x = v.get(s)?;
        make_divisible_packed(x, d.get(s)?, None).map_err(|e| at(e, sp))
    })
}

/// Nodes whose value is a bool computed from truth values and comparisons.
fn is_predicate(n: &Node) -> bool {
    matches!(n, Node::Cmp(..) | Node::CmpConst(..) | Node::Chain(..) | Node::And(..) | Node::Or(..) | Node::Not(_) | Node::Truth(_))
}

pub(super) fn body(root: &Node) -> Body {
    if is_predicate(root) {
        Body::Bool(predicate(root))
    } else {
        Body::Value(generate(root))
    }
}

/// Build the predicate computing the truth value of `n`.
fn predicate(n: &Node) -> Predicate {
    match n {
        Node::Const(v) => {
            let b = v.truthy();
            Box::new(move |_| Ok(b))
        }
        Node::CmpConst(op, a, k) => comparison(*op, operand(a), AnyOperand::Const(PackedValue::from_value(*k))),
        Node::Cmp(op, a, b) => comparison(*op, operand(a), operand(b)),
        Node::Chain(first, rest) => {
            let first = operand(first);
            let rest: Box<[(CmpOp, AnyOperand)]> = rest.iter().map(|(op, x)| (*op, operand(x))).collect();
            Box::new(move |s| {
                let mut x = first.get(s)?;
                for (op, a) in rest.iter() {
                    let y = a.get(s)?;
                    if !compare_packed(*op, x, y) {
                        return Ok(false);
                    }
                    x = y;
                }
                Ok(true)
            })
        }
        Node::And(a, b) => {
            let (a, b) = (predicate(a), predicate(b));
            Box::new(move |s| Ok(a(s)? && b(s)?))
        }
        Node::Or(a, b) => {
            let (a, b) = (predicate(a), predicate(b));
            Box::new(move |s| Ok(a(s)? || b(s)?))
        }
        Node::Not(a) => {
            let a = predicate(a);
            Box::new(move |s| Ok(!a(s)?))
        }
        Node::Truth(a) => predicate(a),
        Node::Slot(i) => {
            let i = *i;
            Box::new(move |s| Ok(slot(s, i)?.truthy()))
        }
        _ => {
            let f = generate(n);
            Box::new(move |s| Ok(f(s)?.truthy()))
        }
    }
}

/// Build the closure computing the value of `n`.
fn generate(n: &Node) -> ValueClosure {
    if is_predicate(n) {
        let p = predicate(n);
        return Box::new(move |s| Ok(PackedValue::bool(p(s)?)));
    }
    match n {
        Node::Const(v) => {
            let v = PackedValue::from_value(*v);
            Box::new(move |_| Ok(v))
        }
        Node::Slot(i) => {
            let i = *i;
            Box::new(move |s| slot(s, i))
        }
        Node::BinConst(op, a, k, sp) => binary(*op, operand(a), AnyOperand::Const(PackedValue::from_value(*k)), *sp),
        Node::ConstBin(op, k, b, sp) => binary(*op, AnyOperand::Const(PackedValue::from_value(*k)), operand(b), *sp),
        Node::Bin(op, a, b, sp) => binary(*op, operand(a), operand(b), *sp),
        Node::Cmp(..) | Node::CmpConst(..) | Node::Chain(..) | Node::And(..) | Node::Or(..) | Node::Not(_) | Node::Truth(_) => {
            unreachable!("predicates are handled above")
        }
        Node::Neg(a, sp) => {
            let (a, sp) = (operand(a), *sp);
            Box::new(move |s| neg_packed(a.get(s)?).map_err(|f| at(f, sp)))
        }
        Node::Pos(a) => {
            let a = operand(a);
            Box::new(move |s| {
                let v = a.get(s)?;
                Ok(if v.tag == TAG_BOOL { PackedValue::int(v.bits as i64) } else { v })
            })
        }
        Node::Cond(c, t, e) => {
            let c = predicate(c);
            with_operand!(operand(t), t => with_operand!(operand(e), e => cond_closure(c, t, e)))
        }
        Node::IndexConsts(vs, i, info) => {
            let vs: Box<[PackedValue]> = vs.iter().map(|&v| PackedValue::from_value(v)).collect();
            let (i, name) = (operand(i), info.list.clone());
            Box::new(move |s| {
                let j = i.get(s)?.value();
                match index_of(vs.len(), j) {
                    Some(j) => Ok(vs[j]),
                    None => Err(index_fault(vs.len(), j, &name)),
                }
            })
        }
        Node::IndexSlots(ss, i, info) => {
            let (ss, i, name) = (ss.clone(), operand(i), info.list.clone());
            Box::new(move |s| {
                let j = i.get(s)?.value();
                match index_of(ss.len(), j) {
                    Some(j) => slot(s, ss[j]),
                    None => Err(index_fault(ss.len(), j, &name)),
                }
            })
        }
        Node::IndexNodes(items, i, info) => {
            let items: Box<[AnyOperand]> = items.iter().map(operand).collect();
            let (i, name) = (operand(i), info.list.clone());
            Box::new(move |s| {
                let j = i.get(s)?.value();
                match index_of(items.len(), j) {
                    Some(j) => items[j].get(s),
                    None => Err(index_fault(items.len(), j, &name)),
                }
            })
        }
        Node::Call1(f, a, sp) => {
            let (f, a, sp) = (*f, operand(a), *sp);
            Box::new(move |s| call1(f, a.get(s)?.value()).map(PackedValue::from_value).map_err(|e| at(e, sp)))
        }
        Node::Round2(a, b, sp) => {
            let (a, b, sp) = (operand(a), operand(b), *sp);
            Box::new(move |s| {
                let x = a.get(s)?.value();
                round_n(x, b.get(s)?.value()).map(PackedValue::from_value).map_err(|e| at(e, sp))
            })
        }
        Node::MinMax(is_max, xs) if xs.len() == 2 => {
            let (a, b) = (operand(&xs[0]), operand(&xs[1]));
            if *is_max {
                with_operand!(a, a => with_operand!(b, b => min_max_of_two::<true, _, _>(a, b)))
            } else {
                with_operand!(a, a => with_operand!(b, b => min_max_of_two::<false, _, _>(a, b)))
            }
        }
        Node::MinMax(is_max, xs) => {
            let op = if *is_max { CmpOp::Gt } else { CmpOp::Lt };
            let xs: Box<[AnyOperand]> = xs.iter().map(operand).collect();
            Box::new(move |s| {
                let mut best = xs[0].get(s)?;
                for a in xs[1..].iter() {
                    let v = a.get(s)?;
                    if compare_packed(op, v, best) {
                        best = v;
                    }
                }
                Ok(best)
            })
        }
        Node::MakeDiv(v, d, m, sp) => {
            let (v, d, sp) = (operand(v), operand(d), *sp);
            match m {
                None => with_operand!(v, v => with_operand!(d, d => make_divisible_closure(v, d, sp))),
                Some(m) => {
                    let m = operand(m);
                    Box::new(move |s| {
                        let x = v.get(s)?;
                        let y = d.get(s)?;
                        make_divisible_packed(x, y, Some(m.get(s)?)).map_err(|e| at(e, sp))
                    })
                }
            }
        }
    }
}
