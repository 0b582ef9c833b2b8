//! A small, safe expression language for search-space attributes and result filters.
//!
//! ```text
//! width[s] * 2                      make_divisible(c * mult, 8)
//! 2 if i == 0 and s > 0 else 1      params < 5e6 and peak_activation_bytes < 64 MiB
//! ```
//!
//! Semantics follow Python: `int op int` stays an integer for `+ - * // % **` (with *checked*
//! overflow: an overflow is an error, never a wrap-around), `/` always gives a float, `//` and `%`
//! floor (the remainder takes the sign of the divisor), comparisons chain (`1 < x < 5`), and
//! `and` / `or` short-circuit (they return a bool). Strings (`'relu'`, `"nor_conv_3x3"`: no
//! escapes) are interned symbols: they compare (`==`, `!=`; two strings also order by their text)
//! and may be list elements, but arithmetic on them is an error. There is no attribute access,
//! no lambdas and no calls except the fixed set of pure numeric functions below, so an
//! expression cannot reach files, the environment or Python.
//!
//! Use: [`parse`] once, [`Expr::compile`] once (names are resolved to slots and constant
//! sub-expressions are folded), then [`Compiled::eval`] as often as needed: evaluation runs a
//! tree of specialised closures, does no hash lookups and allocates nothing unless it fails.
//!
//! ```
//! use archsweep_core::space::expr::{parse, Binding, Value};
//!
//! let e = parse("make_divisible(c * mult, 8)").unwrap();
//! assert_eq!(e.names(), ["c", "mult"]);
//! let c = e
//!     .compile(&|name| match name {
//!         "c" => Some(Binding::Slot(0)),
//!         "mult" => Some(Binding::Const(Value::Float(0.75))),
//!         _ => None,
//!     })
//!     .unwrap();
//! assert_eq!(c.eval(&[Value::Int(32)]), Ok(Value::Int(24)));
//! assert_eq!(c.slots(), [0]);
//! ```
//!
//! Differences from Python, all deliberate: `and` / `or` give `true` / `false` rather than an
//! operand; integers are 64-bit (an overflow is an error where Python would grow); a negative
//! number to a fractional power is an error (Python gives a complex number); indexing a list
//! literal evaluates only the selected element (`[c, c // 0][0]` is `c`; Python would fail on
//! the unused element). Names bound to lists (`Binding::ConstList` / `SlotList`) and list
//! literals can only be indexed or passed whole to `min` / `max`.
//!
//! Functions: `min max abs round ceil floor int float make_divisible`. `min`/`max` take two or
//! more values, or one list (`max(width)`). `round(x)` rounds half to even and gives an int;
//! `round(x, n)` gives a float for a float `x` (rounded exactly as Python does). `ceil`, `floor`
//! and `int` give ints. `make_divisible(v, divisor[, min_value])` is torchvision's
//! `_make_divisible`.
//!
//! Number literals: `1_000`, `1.5`, `5e6` (a float), and a unit may follow a number:
//! `KiB MiB GiB TiB` (2^10..2^40), `kB MB GB TB` and `K M G T` (10^3..10^12). `64 MiB` is the
//! int 67108864; `1.5 GB` is the int 1500000000 (a float literal with a unit is an int when the
//! product is exactly integral, computed from the decimal digits, so `1.1 K` is 1100, not
//! 1100.0000000000002).
//!
//! The modules follow the way from text to value: `value` (what an expression computes),
//! `lex` and `parse` (text to syntax tree), `resolve` (names to slots, constant folding,
//! specialisation: the `Node` tree of `tree`), `closures` (the tree of closures `eval` runs),
//! `tree` (the reference evaluator over `Node`s, also used for folding and nullable evaluation),
//! `numeric` (Python's number semantics), `error` ([`ExprError`]: what went wrong, where; its
//! `Display` is the message).
//!
//! [`parse`], [`Expr::compile`] and [`Compiled::eval`] give their errors as text; `try_parse`,
//! `Expr::try_compile` and `Compiled::try_eval` give the same errors as an [`ExprError`].

mod closures;
mod error;
mod lex;
mod numeric;
mod parse;
mod resolve;
mod tree;
mod value;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use closures::Body;
use error::describe;
use numeric::PackedValue;
use resolve::Compiler;
use tree::Node;

pub use error::{ExprError, ExprErrorKind, Found, Overflow};
pub use parse::{parse, try_parse, Expr};
pub use value::{Binding, Symbol, Value};

impl Expr {
    /// Resolve every name with `resolve` and produce an evaluable program; constant
    /// sub-expressions are folded (`[64, 128][1]` → 128, `s * 2` with `s` bound to `Const(3)` →
    /// 6). An unknown name is an error: `unknown variable 'foo' in 'foo * 2'`.
    ///
    /// A constant sub-expression that fails (`1 / 0`) is not folded: like a Python conditional,
    /// `x if ok else 1 / 0` only fails when the failing branch is taken.
    pub fn compile(&self, resolve: &dyn Fn(&str) -> Option<Binding>) -> Result<Compiled, String> {
        self.try_compile(resolve).map_err(|e| e.to_string())
    }

    /// [`Expr::compile`] with the error as an [`ExprError`].
    pub fn try_compile(&self, resolve: &dyn Fn(&str) -> Option<Binding>) -> Result<Compiled, ExprError> {
        self.compile_with(resolve, false)
    }

    /// [`Expr::try_compile`] for a filter: every constant sub-expression is computed now, and
    /// one that fails is an error (`params < 1 // 0`: division by zero before any row is
    /// read), even where a short-circuit would skip it; an integer constant beyond 64 bits
    /// (`10**30`) is the nearest float, which compares with every 64-bit integer exactly as the
    /// integer would; one beyond the floats (`2**10**10`) is an error.
    pub fn try_compile_strict(&self, resolve: &dyn Fn(&str) -> Option<Binding>) -> Result<Compiled, ExprError> {
        self.compile_with(resolve, true)
    }

    fn compile_with(&self, resolve: &dyn Fn(&str) -> Option<Binding>, strict: bool) -> Result<Compiled, ExprError> {
        let c = Compiler { src: &self.src, resolve, strict };
        let root = c.compile(&self.ast).map_err(|e| *e)?;
        let body = Arc::new(closures::body(&root));
        Ok(Compiled { root, body, src: self.src.clone() })
    }
}

/// A compiled expression: evaluate it with [`Compiled::eval`]. `Send + Sync`; cloning is cheap.
#[derive(Clone)]
pub struct Compiled {
    /// The folded tree (for `as_const`, `slots`, and as the reference evaluator in tests).
    root: Node,
    /// The same program as a tree of closures, which `eval` runs.
    body: Arc<Body>,
    src: String,
}

impl fmt::Debug for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compiled").field("src", &self.src).field("root", &self.root).finish_non_exhaustive()
    }
}

impl Compiled {
    /// Evaluate with the given slot values. Allocates nothing unless it fails. Errors name the
    /// failing part: `division by zero at 'x / (a - b)' in 'x / (a - b) + 1'`.
    #[inline]
    pub fn eval(&self, slots: &[Value]) -> Result<Value, String> {
        match self.try_eval(slots) {
            Ok(v) => Ok(v),
            Err(e) => Err(e.to_string()),
        }
    }

    /// [`Compiled::eval`] with the error as an [`ExprError`].
    #[inline]
    pub fn try_eval(&self, slots: &[Value]) -> Result<Value, ExprError> {
        let r = match &*self.body {
            Body::Value(f) => f(slots).map(PackedValue::value),
            Body::Bool(p) => p(slots).map(Value::Bool),
        };
        match r {
            Ok(v) => Ok(v),
            Err(f) => Err(describe(&self.src, *f)),
        }
    }

    /// Evaluate with the slots from `null_from` on null (SQL/polars three-valued logic): `and`,
    /// `or`, `not` follow Kleene's logic (`false and null` is false, `true or null` is true);
    /// any other operation that reads a null slot is null. None is null.
    pub fn eval_nullable(&self, slots: &[Value], null_from: usize) -> Result<Option<Value>, String> {
        self.try_eval_nullable(slots, null_from).map_err(|e| e.to_string())
    }

    /// [`Compiled::eval_nullable`] with the error as an [`ExprError`].
    pub fn try_eval_nullable(&self, slots: &[Value], null_from: usize) -> Result<Option<Value>, ExprError> {
        let null_from = null_from as u32;
        self.root.eval_nullable(slots, &|s| s >= null_from).map_err(|f| describe(&self.src, *f))
    }

    /// [`Compiled::try_eval_nullable`] with the slots for which `null(slot)` is true null.
    pub fn try_eval_with_nulls(&self, slots: &[Value], null: &dyn Fn(usize) -> bool) -> Result<Option<Value>, ExprError> {
        self.root.eval_nullable(slots, &|s| null(s as usize)).map_err(|f| describe(&self.src, *f))
    }

    /// Evaluate by walking the tree (the reference the tree of closures is tested against).
    #[cfg(test)]
    fn eval_tree(&self, slots: &[Value]) -> Result<Value, String> {
        self.root.eval(slots).map_err(|f| describe(&self.src, *f).to_string())
    }

    /// `Some(v)` if the program is a constant.
    pub fn as_const(&self) -> Option<Value> {
        self.root.as_const()
    }

    /// The slots the program reads, ascending, each once.
    pub fn slots(&self) -> Vec<usize> {
        fn walk(n: &Node, out: &mut Vec<usize>) {
            match n {
                Node::Slot(i) => out.push(*i as usize),
                Node::IndexSlots(ss, _, _) => out.extend(ss.iter().map(|&s| s as usize)),
                _ => {}
            }
            for c in n.children() {
                walk(c, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.src
    }
}
