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
//! `and` / `or` short-circuit (they return a bool). There are no strings, no attribute access,
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

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

// ------------------------------------------------------------------------------------------------
// Values
// ------------------------------------------------------------------------------------------------

/// A value: an integer, a float or a bool. In arithmetic a bool counts as 0 or 1 (as in Python).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Value {
    /// The value as an integer. A float must be integral (and fit in 64 bits); a bool is 0 or 1.
    pub fn as_i64(&self) -> Result<i64, String> {
        match *self {
            Value::Int(i) => Ok(i),
            Value::Bool(b) => Ok(b as i64),
            Value::Float(f) => {
                if f.fract() == 0.0 && (-TWO_63..TWO_63).contains(&f) {
                    Ok(f as i64)
                } else {
                    Err(format!("expected an integer, got {self}"))
                }
            }
        }
    }

    /// The value as a float (a bool is 0.0 or 1.0).
    pub fn as_f64(&self) -> f64 {
        match *self {
            Value::Int(i) => i as f64,
            Value::Float(f) => f,
            Value::Bool(b) => b as i64 as f64,
        }
    }

    /// Python truthiness: false, 0 and 0.0 are false; everything else (NaN too) is true.
    pub fn truthy(&self) -> bool {
        match *self {
            Value::Int(i) => i != 0,
            Value::Float(f) => f != 0.0,
            Value::Bool(b) => b,
        }
    }

    /// `"int"`, `"float"` or `"bool"`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Bool(_) => "bool",
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

/// `3`, `3.0`, `0.1`, `1e16`, `inf`, `nan`, `true`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Float(x) if x.is_nan() => write!(f, "nan"),
            Value::Float(x) if x.is_infinite() => write!(f, "{}", if x > 0.0 { "inf" } else { "-inf" }),
            Value::Float(x) => write!(f, "{x:?}"),
        }
    }
}

const TWO_63: f64 = 9_223_372_036_854_775_808.0;

// ------------------------------------------------------------------------------------------------
// Bindings
// ------------------------------------------------------------------------------------------------

/// What a name in an expression stands for, as told to [`Expr::compile`].
#[derive(Clone, Debug, PartialEq)]
pub enum Binding {
    /// A value known at compile time (folded into the program).
    Const(Value),
    /// `slots[i]` at evaluation time.
    Slot(usize),
    /// A list of constants; the name may only be indexed (`name[i]`) or passed to `min`/`max`.
    ConstList(Vec<Value>),
    /// A list whose elements are `slots[i]` for each `i`; indexed like a `ConstList`.
    SlotList(Vec<usize>),
}

// ------------------------------------------------------------------------------------------------
// Syntax tree
// ------------------------------------------------------------------------------------------------

/// Byte offsets `start..end` into the source.
type Span = (u32, u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
}

impl BinOp {
    fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::FloorDiv => "//",
            BinOp::Mod => "%",
            BinOp::Pow => "**",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl CmpOp {
    /// The operator with its operands swapped: `a < b` is `b > a`.
    fn swapped(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            CmpOp::Eq => CmpOp::Eq,
            CmpOp::Ne => CmpOp::Ne,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Func {
    Min,
    Max,
    Abs,
    Round,
    Ceil,
    Floor,
    Int,
    Float,
    MakeDivisible,
}

/// (name, function, fewest arguments, most arguments)
const FUNCS: &[(&str, Func, usize, usize)] = &[
    ("min", Func::Min, 1, usize::MAX),
    ("max", Func::Max, 1, usize::MAX),
    ("abs", Func::Abs, 1, 1),
    ("round", Func::Round, 1, 2),
    ("ceil", Func::Ceil, 1, 1),
    ("floor", Func::Floor, 1, 1),
    ("int", Func::Int, 1, 1),
    ("float", Func::Float, 1, 1),
    ("make_divisible", Func::MakeDivisible, 2, 3),
];

fn func_name(f: Func) -> &'static str {
    FUNCS.iter().find(|e| e.1 == f).map(|e| e.0).unwrap_or("?")
}

fn func_list() -> String {
    FUNCS.iter().map(|e| e.0).collect::<Vec<_>>().join(", ")
}

/// Unit suffixes for number literals.
const UNITS: &[(&str, u64)] = &[
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
    ("kB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
    ("K", 1_000),
    ("M", 1_000_000),
    ("G", 1_000_000_000),
    ("T", 1_000_000_000_000),
];

/// Python keywords that are not part of the language; using one gets a clear error.
const RESERVED: &[&str] = &[
    "None", "lambda", "in", "is", "import", "def", "return", "for", "while", "class", "del", "global",
    "nonlocal", "yield", "await", "async", "with", "as", "from", "pass", "break", "continue", "try",
    "except", "finally", "raise", "assert", "elif",
];

/// Deepest nesting of parentheses / brackets / unary operators the parser recurses into.
const MAX_NESTING: u32 = 64;
/// Deepest syntax tree accepted (compilation and evaluation recurse over it).
const MAX_DEPTH: u32 = 256;

#[derive(Clone, Debug)]
struct Ast {
    kind: AstKind,
    span: Span,
    depth: u32,
}

#[derive(Clone, Debug)]
enum AstKind {
    Lit(Value),
    Name(String),
    List(Vec<Ast>),
    Index(Box<Ast>, Box<Ast>),
    Call(Func, Vec<Ast>),
    Neg(Box<Ast>),
    Pos(Box<Ast>),
    Not(Box<Ast>),
    Bin(BinOp, Box<Ast>, Box<Ast>),
    /// `a < b <= c`: the first operand, then (operator, operand) pairs.
    Cmp(Box<Ast>, Vec<(CmpOp, Ast)>),
    And(Box<Ast>, Box<Ast>),
    Or(Box<Ast>, Box<Ast>),
    /// `then if cond else els`
    Cond {
        then: Box<Ast>,
        cond: Box<Ast>,
        els: Box<Ast>,
    },
}

impl AstKind {
    /// Children in source order.
    fn children(&self) -> Vec<&Ast> {
        match self {
            AstKind::Lit(_) | AstKind::Name(_) => vec![],
            AstKind::List(xs) | AstKind::Call(_, xs) => xs.iter().collect(),
            AstKind::Index(a, b) | AstKind::Bin(_, a, b) | AstKind::And(a, b) | AstKind::Or(a, b) => {
                vec![a, b]
            }
            AstKind::Neg(a) | AstKind::Pos(a) | AstKind::Not(a) => vec![a],
            AstKind::Cmp(first, rest) => {
                let mut v = vec![&**first];
                v.extend(rest.iter().map(|(_, x)| x));
                v
            }
            AstKind::Cond { then, cond, els } => vec![then, cond, els],
        }
    }
}

/// A parsed expression: the syntax tree and the source text.
#[derive(Clone, Debug)]
pub struct Expr {
    src: String,
    ast: Ast,
}

// ------------------------------------------------------------------------------------------------
// Lexer
// ------------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(NumLit),
    Ident,
    If,
    Else,
    And,
    Or,
    Not,
    True,
    False,
    Plus,
    Minus,
    Star,
    Slash,
    DSlash,
    Percent,
    DStar,
    Lt,
    Le,
    Gt,
    Ge,
    EqEq,
    Ne,
    LParen,
    RParen,
    LBrack,
    RBrack,
    Comma,
    Eof,
}

/// A number literal, kept as decimal digits so unit products can be computed exactly.
#[derive(Clone, Debug, PartialEq)]
struct NumLit {
    /// All mantissa digits, integer and fraction part, no underscores (`"15"` for `1.5e3`).
    digits: String,
    /// The value is `digits × 10^exp10` (`2` for `1.5e3`).
    exp10: i64,
    /// Written with a `.` or an exponent.
    is_float: bool,
    /// The literal in a form `f64::from_str` accepts.
    text: String,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

/// `in 'src': msg at column N` (columns count characters from 1).
fn syntax_error(src: &str, pos: usize, msg: &str) -> String {
    let col = src[..pos.min(src.len())].chars().count() + 1;
    format!("in '{src}': {msg} at column {col}")
}

fn lex(src: &str) -> Result<Vec<Token>, String> {
    let b = src.as_bytes();
    let n = b.len();
    let err = |pos: usize, msg: &str| syntax_error(src, pos, msg);
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c.is_ascii_digit() || (c == b'.' && i + 1 < n && b[i + 1].is_ascii_digit()) {
            let (lit, end) = lex_number(src, i)?;
            out.push(Token { tok: Tok::Num(lit), start, end });
            i = end;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < n && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let word = &src[start..i];
            let tok = match word {
                "if" => Tok::If,
                "else" => Tok::Else,
                "and" => Tok::And,
                "or" => Tok::Or,
                "not" => Tok::Not,
                "true" | "True" => Tok::True,
                "false" | "False" => Tok::False,
                w if RESERVED.contains(&w) => {
                    return Err(err(start, &format!("'{w}' is not supported in expressions")))
                }
                _ => Tok::Ident,
            };
            out.push(Token { tok, start, end: i });
            continue;
        }
        let next = if i + 1 < n { b[i + 1] } else { 0 };
        let (tok, len) = match (c, next) {
            (b'/', b'/') => (Tok::DSlash, 2),
            (b'*', b'*') => (Tok::DStar, 2),
            (b'<', b'=') => (Tok::Le, 2),
            (b'>', b'=') => (Tok::Ge, 2),
            (b'=', b'=') => (Tok::EqEq, 2),
            (b'!', b'=') => (Tok::Ne, 2),
            (b'+', _) => (Tok::Plus, 1),
            (b'-', _) => (Tok::Minus, 1),
            (b'*', _) => (Tok::Star, 1),
            (b'/', _) => (Tok::Slash, 1),
            (b'%', _) => (Tok::Percent, 1),
            (b'<', _) => (Tok::Lt, 1),
            (b'>', _) => (Tok::Gt, 1),
            (b'(', _) => (Tok::LParen, 1),
            (b')', _) => (Tok::RParen, 1),
            (b'[', _) => (Tok::LBrack, 1),
            (b']', _) => (Tok::RBrack, 1),
            (b',', _) => (Tok::Comma, 1),
            (b'=', _) => return Err(err(i, "'=' is not a comparison; use '=='")),
            (b'!', _) => return Err(err(i, "use 'not' instead of '!'")),
            (b'&', _) => return Err(err(i, "use 'and' instead of '&'")),
            (b'|', _) => return Err(err(i, "use 'or' instead of '|'")),
            (b'^', _) => return Err(err(i, "use '**' for powers ('^' is not supported)")),
            (b'\'', _) | (b'"', _) => return Err(err(i, "strings are not supported")),
            (b'.', _) => return Err(err(i, "attribute access is not supported")),
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(err(i, &format!("unexpected character '{ch}'")));
            }
        };
        out.push(Token { tok, start, end: i + len });
        i += len;
    }
    // End of input sits just after the last non-blank character.
    let end = src.trim_end().len();
    out.push(Token { tok: Tok::Eof, start: end, end });
    Ok(out)
}

/// Lex `123`, `1_000`, `1.5`, `.5`, `1.`, `5e6`, `2.5E-3` starting at byte `i`.
fn lex_number(src: &str, mut i: usize) -> Result<(NumLit, usize), String> {
    let b = src.as_bytes();
    let n = b.len();
    let start = i;
    let err = |pos: usize, msg: &str| syntax_error(src, pos, msg);
    // Digits with single underscores between them.
    let run = |mut i: usize, into: &mut String| -> Result<usize, String> {
        let first = i;
        while i < n && (b[i].is_ascii_digit() || b[i] == b'_') {
            if b[i] == b'_' {
                let ok = i > first && b[i - 1].is_ascii_digit() && i + 1 < n && b[i + 1].is_ascii_digit();
                if !ok {
                    return Err(err(i, "'_' in a number must sit between two digits"));
                }
            } else {
                into.push(b[i] as char);
            }
            i += 1;
        }
        Ok(i)
    };
    let mut int_part = String::new();
    let mut frac_part = String::new();
    let mut is_float = false;
    i = run(i, &mut int_part)?;
    if i < n && b[i] == b'.' {
        is_float = true;
        i = run(i + 1, &mut frac_part)?;
    }
    let mut exp: i64 = 0;
    if i < n && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        let negative = j < n && b[j] == b'-';
        if j < n && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        if j < n && b[j].is_ascii_digit() {
            let mut e = String::new();
            i = run(j, &mut e)?;
            is_float = true;
            // Saturate absurd exponents; the float parse below gives 0 or inf for them.
            let mag: i64 = e.parse().unwrap_or(1_000_000).min(1_000_000);
            exp = if negative { -mag } else { mag };
        }
    }
    if !is_float && int_part.len() > 1 && int_part.starts_with('0') && int_part.bytes().any(|d| d != b'0') {
        return Err(err(start, "leading zeros are not allowed in an integer"));
    }
    let text = format!(
        "{}.{}e{}",
        if int_part.is_empty() { "0" } else { &int_part },
        if frac_part.is_empty() { "0" } else { &frac_part },
        exp
    );
    let exp10 = exp - frac_part.len() as i64;
    let digits = int_part + &frac_part;
    Ok((NumLit { digits, exp10, is_float, text }, i))
}

/// The value of a number literal, optionally multiplied by a unit.
fn number_value(lit: &NumLit, unit: Option<u64>) -> Result<Value, String> {
    if !lit.is_float {
        let v: i64 =
            lit.digits.parse().map_err(|_| format!("integer {} does not fit in 64 bits", lit.digits))?;
        return match unit {
            None => Ok(Value::Int(v)),
            Some(u) => v
                .checked_mul(u as i64)
                .map(Value::Int)
                .ok_or_else(|| format!("{v} × {u} does not fit in a 64-bit integer")),
        };
    }
    let f: f64 = lit.text.parse().map_err(|_| format!("invalid number '{}'", lit.text))?;
    let Some(u) = unit else { return Ok(Value::Float(f)) };
    // Exact: digits × 10^exp10 × unit, an int when integral and within 64 bits.
    let exact = || -> Option<i64> {
        let digits = lit.digits.trim_start_matches('0');
        if digits.is_empty() {
            return Some(0);
        }
        let mant: u128 = digits.parse().ok()?;
        let num = mant.checked_mul(u as u128)?;
        let r = if lit.exp10 >= 0 {
            num.checked_mul(10u128.checked_pow(u32::try_from(lit.exp10).ok()?)?)?
        } else {
            let den = 10u128.checked_pow(u32::try_from(-lit.exp10).ok()?)?;
            if num % den != 0 {
                return None;
            }
            num / den
        };
        i64::try_from(r).ok()
    };
    Ok(match exact() {
        Some(i) => Value::Int(i),
        None => Value::Float(f * u as f64),
    })
}

// ------------------------------------------------------------------------------------------------
// Parser
// ------------------------------------------------------------------------------------------------

/// Parse an expression. Errors quote the source and give a column, e.g.
/// `in 'width[s] * ': expected an operand at column 11`.
pub fn parse(src: &str) -> Result<Expr, String> {
    if src.trim().is_empty() {
        return Err(format!("in '{src}': empty expression"));
    }
    if src.len() > u32::MAX as usize / 2 {
        return Err("expression too long".to_string());
    }
    let toks = lex(src)?;
    let mut p = Parser { src, toks, pos: 0, nesting: 0 };
    let ast = p.expr()?;
    let t = p.peek_token();
    match t.tok {
        Tok::Eof => Ok(Expr { src: src.to_string(), ast }),
        Tok::RParen => Err(p.err(t.start, "unmatched ')'")),
        Tok::RBrack => Err(p.err(t.start, "unmatched ']'")),
        _ => Err(p.err(t.start, &format!("expected an operator, found {}", p.describe(t)))),
    }
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    nesting: u32,
}

impl<'a> Parser<'a> {
    fn err(&self, pos: usize, msg: &str) -> String {
        syntax_error(self.src, pos, msg)
    }

    fn peek_token(&self) -> Token {
        self.toks[self.pos.min(self.toks.len() - 1)].clone()
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].tok
    }

    fn bump(&mut self) -> Token {
        let t = self.peek_token();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn describe(&self, t: Token) -> String {
        match t.tok {
            Tok::Eof => "end of input".to_string(),
            _ => format!("'{}'", &self.src[t.start..t.end]),
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            let at = self.peek_token().start;
            return Err(self.err(at, &format!("expression nested more than {MAX_NESTING} levels deep")));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    fn node(&self, kind: AstKind, start: usize, end: usize) -> Result<Ast, String> {
        let depth = 1 + kind.children().iter().map(|c| c.depth).max().unwrap_or(0);
        if depth > MAX_DEPTH {
            return Err(self.err(start, &format!("expression nested more than {MAX_DEPTH} levels deep")));
        }
        Ok(Ast { kind, span: (start as u32, end as u32), depth })
    }

    fn bin(&self, kind: fn(Box<Ast>, Box<Ast>) -> AstKind, a: Ast, b: Ast) -> Result<Ast, String> {
        let (s, e) = (a.span.0 as usize, b.span.1 as usize);
        self.node(kind(Box::new(a), Box::new(b)), s, e)
    }

    /// `then if cond else els` (lowest precedence, right-associative).
    fn expr(&mut self) -> Result<Ast, String> {
        self.enter()?;
        let then = self.or()?;
        let r = if *self.peek() == Tok::If {
            self.bump();
            let cond = self.or()?;
            let t = self.peek_token();
            if t.tok != Tok::Else {
                return Err(
                    self.err(t.start, &format!("expected 'else', found {}", self.describe(t.clone())))
                );
            }
            self.bump();
            let els = self.expr()?;
            let (s, e) = (then.span.0 as usize, els.span.1 as usize);
            self.node(AstKind::Cond { then: Box::new(then), cond: Box::new(cond), els: Box::new(els) }, s, e)?
        } else {
            then
        };
        self.leave();
        Ok(r)
    }

    fn or(&mut self) -> Result<Ast, String> {
        let mut a = self.and()?;
        while *self.peek() == Tok::Or {
            self.bump();
            let b = self.and()?;
            a = self.bin(AstKind::Or, a, b)?;
        }
        Ok(a)
    }

    fn and(&mut self) -> Result<Ast, String> {
        let mut a = self.not()?;
        while *self.peek() == Tok::And {
            self.bump();
            let b = self.not()?;
            a = self.bin(AstKind::And, a, b)?;
        }
        Ok(a)
    }

    fn not(&mut self) -> Result<Ast, String> {
        if *self.peek() == Tok::Not {
            let t = self.bump();
            self.enter()?;
            let a = self.not()?;
            self.leave();
            let e = a.span.1 as usize;
            return self.node(AstKind::Not(Box::new(a)), t.start, e);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Ast, String> {
        let first = self.arith()?;
        let mut rest = Vec::new();
        loop {
            let op = match self.peek() {
                Tok::Lt => CmpOp::Lt,
                Tok::Le => CmpOp::Le,
                Tok::Gt => CmpOp::Gt,
                Tok::Ge => CmpOp::Ge,
                Tok::EqEq => CmpOp::Eq,
                Tok::Ne => CmpOp::Ne,
                _ => break,
            };
            self.bump();
            rest.push((op, self.arith()?));
        }
        if rest.is_empty() {
            return Ok(first);
        }
        let (s, e) = (first.span.0 as usize, rest.last().map(|r| r.1.span.1).unwrap_or(0) as usize);
        self.node(AstKind::Cmp(Box::new(first), rest), s, e)
    }

    fn arith(&mut self) -> Result<Ast, String> {
        self.left_assoc(Self::term, |t| match t {
            Tok::Plus => Some(BinOp::Add),
            Tok::Minus => Some(BinOp::Sub),
            _ => None,
        })
    }

    fn term(&mut self) -> Result<Ast, String> {
        self.left_assoc(Self::unary, |t| match t {
            Tok::Star => Some(BinOp::Mul),
            Tok::Slash => Some(BinOp::Div),
            Tok::DSlash => Some(BinOp::FloorDiv),
            Tok::Percent => Some(BinOp::Mod),
            _ => None,
        })
    }

    /// One left-associative level: `operand (op operand)*`, ops chosen by `op_of`.
    fn left_assoc(&mut self, operand: fn(&mut Self) -> Result<Ast, String>, op_of: fn(&Tok) -> Option<BinOp>) -> Result<Ast, String> {
        let mut a = operand(self)?;
        while let Some(op) = op_of(self.peek()) {
            self.bump();
            let b = operand(self)?;
            let (s, e) = (a.span.0 as usize, b.span.1 as usize);
            a = self.node(AstKind::Bin(op, Box::new(a), Box::new(b)), s, e)?;
        }
        Ok(a)
    }

    /// Unary `-` / `+`; binds looser than `**` on its right: `-2**2` is `-(2**2)`.
    fn unary(&mut self) -> Result<Ast, String> {
        let neg = match self.peek() {
            Tok::Minus => true,
            Tok::Plus => false,
            _ => return self.power(),
        };
        let t = self.bump();
        self.enter()?;
        let a = self.unary()?;
        self.leave();
        let e = a.span.1 as usize;
        let kind = if neg { AstKind::Neg(Box::new(a)) } else { AstKind::Pos(Box::new(a)) };
        self.node(kind, t.start, e)
    }

    /// `postfix ** unary` (right-associative: `2**3**2` is `2**9`).
    fn power(&mut self) -> Result<Ast, String> {
        let base = self.postfix()?;
        if *self.peek() != Tok::DStar {
            return Ok(base);
        }
        self.bump();
        self.enter()?;
        let exp = self.unary()?;
        self.leave();
        let (s, e) = (base.span.0 as usize, exp.span.1 as usize);
        self.node(AstKind::Bin(BinOp::Pow, Box::new(base), Box::new(exp)), s, e)
    }

    fn postfix(&mut self) -> Result<Ast, String> {
        let mut a = self.atom()?;
        while *self.peek() == Tok::LBrack {
            let open = self.bump();
            self.enter()?;
            let i = self.expr()?;
            self.leave();
            let close = self.close(Tok::RBrack, ']', &open)?;
            let s = a.span.0 as usize;
            a = self.node(AstKind::Index(Box::new(a), Box::new(i)), s, close.end)?;
        }
        Ok(a)
    }

    /// Expect the closing `)` / `]` of `open`.
    fn close(&mut self, tok: Tok, ch: char, open: &Token) -> Result<Token, String> {
        let t = self.peek_token();
        if t.tok == tok {
            return Ok(self.bump());
        }
        let o = &self.src[open.start..open.end];
        if t.tok == Tok::Eof {
            return Err(self.err(open.start, &format!("unclosed '{o}'")));
        }
        let col = self.src[..open.start].chars().count() + 1;
        Err(self.err(
            t.start,
            &format!(
                "expected ',' or '{ch}' to close the '{o}' at column {col}, found {}",
                self.describe(t.clone())
            ),
        ))
    }

    /// Comma-separated expressions up to the closing token (a trailing comma is allowed).
    fn items(&mut self, close: Tok, ch: char, open: &Token) -> Result<(Vec<Ast>, Token), String> {
        let mut items = Vec::new();
        if *self.peek() == close {
            return Ok((items, self.bump()));
        }
        loop {
            items.push(self.expr()?);
            if *self.peek() == Tok::Comma {
                self.bump();
                if *self.peek() == close {
                    break;
                }
                continue;
            }
            break;
        }
        let end = self.close(close, ch, open)?;
        Ok((items, end))
    }

    fn atom(&mut self) -> Result<Ast, String> {
        let t = self.bump();
        match &t.tok {
            Tok::Num(lit) => {
                let lit = lit.clone();
                let mut end = t.end;
                let mut unit = None;
                let next = self.peek_token();
                if next.tok == Tok::Ident {
                    let word = &self.src[next.start..next.end];
                    match UNITS.iter().find(|u| u.0 == word) {
                        Some(u) => {
                            unit = Some(u.1);
                            end = next.end;
                            self.bump();
                        }
                        None => {
                            let known = UNITS.iter().map(|u| u.0).collect::<Vec<_>>().join(" ");
                            return Err(self.err(
                                next.start,
                                &format!("'{word}' after a number is not a unit (units: {known})"),
                            ));
                        }
                    }
                }
                let v = number_value(&lit, unit).map_err(|m| self.err(t.start, &m))?;
                self.node(AstKind::Lit(v), t.start, end)
            }
            Tok::True => self.node(AstKind::Lit(Value::Bool(true)), t.start, t.end),
            Tok::False => self.node(AstKind::Lit(Value::Bool(false)), t.start, t.end),
            Tok::Ident => {
                let name = &self.src[t.start..t.end];
                if *self.peek() != Tok::LParen {
                    return self.node(AstKind::Name(name.to_string()), t.start, t.end);
                }
                let Some(&(_, f, lo, hi)) = FUNCS.iter().find(|e| e.0 == name) else {
                    return Err(
                        self.err(t.start, &format!("unknown function '{name}' (functions: {})", func_list()))
                    );
                };
                let open = self.bump();
                self.enter()?;
                let (args, close) = self.items(Tok::RParen, ')', &open)?;
                self.leave();
                if args.len() < lo || args.len() > hi {
                    let want = match (lo, hi) {
                        (l, h) if l == h => format!("{l} argument{}", if l == 1 { "" } else { "s" }),
                        (l, usize::MAX) => format!("at least {l} argument{}", if l == 1 { "" } else { "s" }),
                        (l, h) => format!("{l} to {h} arguments"),
                    };
                    return Err(self.err(t.start, &format!("{name}() takes {want}, got {}", args.len())));
                }
                self.node(AstKind::Call(f, args), t.start, close.end)
            }
            Tok::LParen => {
                self.enter()?;
                let mut a = self.expr()?;
                self.leave();
                let close = self.close(Tok::RParen, ')', &t)?;
                // The parentheses belong to the span, so errors quote `(a - b)` whole.
                a.span = (t.start as u32, close.end as u32);
                Ok(a)
            }
            Tok::LBrack => {
                self.enter()?;
                let (items, close) = self.items(Tok::RBrack, ']', &t)?;
                self.leave();
                self.node(AstKind::List(items), t.start, close.end)
            }
            Tok::Eof => Err(self.err(t.start, "expected an operand")),
            _ => Err(self.err(t.start, &format!("expected an operand, found {}", self.describe(t.clone())))),
        }
    }
}

impl Expr {
    /// The source text.
    pub fn source(&self) -> &str {
        &self.src
    }

    /// Free identifiers (variables, not functions), each once, in order of first appearance.
    pub fn names(&self) -> Vec<String> {
        fn walk(a: &Ast, out: &mut Vec<String>) {
            if let AstKind::Name(n) = &a.kind {
                if !out.iter().any(|o| o == n) {
                    out.push(n.clone());
                }
            }
            for c in a.kind.children() {
                walk(c, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.ast, &mut out);
        out
    }

    /// Resolve every name with `resolve` and produce an evaluable program; constant
    /// sub-expressions are folded (`[64, 128][1]` → 128, `s * 2` with `s` bound to `Const(3)` →
    /// 6). An unknown name is an error: `unknown variable 'foo' in 'foo * 2'`.
    ///
    /// A constant sub-expression that fails (`1 / 0`) is not folded: like a Python conditional,
    /// `x if ok else 1 / 0` only fails when the failing branch is taken.
    pub fn compile(&self, resolve: &dyn Fn(&str) -> Option<Binding>) -> Result<Compiled, String> {
        let c = Compiler { src: &self.src, resolve };
        let root = c.compile(&self.ast)?;
        let body = Arc::new(body(&root));
        Ok(Compiled { root, body, src: self.src.clone() })
    }
}

// ------------------------------------------------------------------------------------------------
// Compiled form
// ------------------------------------------------------------------------------------------------

/// The source text of an indexed list, for error messages.
#[derive(Clone, Debug)]
struct IndexedList {
    list: Box<str>,
}

/// The folded tree. `...Const` / `Const...` variants hold a constant operand inline. `Compiled::eval`
/// runs closures generated from it; `Node::eval` evaluates it directly, for constant folding and as
/// the reference the tests hold the closures to.
#[derive(Clone, Debug)]
enum Node {
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
    fn children(&self) -> Vec<&Node> {
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

    fn as_const(&self) -> Option<Value> {
        match self {
            Node::Const(v) => Some(*v),
            _ => None,
        }
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
        let r = match &*self.body {
            Body::Value(f) => f(slots).map(PackedValue::value),
            Body::Bool(p) => p(slots).map(Value::Bool),
        };
        match r {
            Ok(v) => Ok(v),
            Err(f) => Err(describe(&self.src, &f)),
        }
    }

    /// Evaluate with the slots from `null_from` on null (SQL/polars three-valued logic): `and`,
    /// `or`, `not` follow Kleene's logic (`false and null` is false, `true or null` is true);
    /// any other operation that reads a null slot is null. None is null.
    pub fn eval_nullable(&self, slots: &[Value], null_from: usize) -> Result<Option<Value>, String> {
        self.root.eval_nullable(slots, null_from as u32).map_err(|f| describe(&self.src, &f))
    }

    /// Evaluate by walking the tree (the reference the tree of closures is tested against).
    #[cfg(test)]
    fn eval_tree(&self, slots: &[Value]) -> Result<Value, String> {
        self.root.eval(slots).map_err(|f| describe(&self.src, &f))
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

#[cold]
#[inline(never)]
fn describe(src: &str, f: &Fault) -> String {
    let whole = src.trim();
    match f.at {
        Some((s, e)) => {
            let part = src.get(s as usize..e as usize).unwrap_or("").trim();
            if part.is_empty() || part == whole {
                format!("{} in '{whole}'", f.msg)
            } else {
                format!("{} at '{part}' in '{whole}'", f.msg)
            }
        }
        None => format!("{} in '{whole}'", f.msg),
    }
}

// ------------------------------------------------------------------------------------------------
// Closure compilation
// ------------------------------------------------------------------------------------------------
//
// `Compiled::eval` runs a tree of closures built once from the folded `Node` tree. Each closure
// knows its operator at compile time (operators are const generic parameters) and its operand
// kinds (constant, slot or call: type parameters), so `width * 2 + 1` is two small calls.
// Comparisons, `and`, `or`, `not` and conditions compile to predicates returning
// `Result<bool, _>`, which comes back in registers.

/// A compiled sub-expression.
type ValueClosure = Box<dyn Fn(&[Value]) -> PackedOrFault + Send + Sync>;
/// A compiled sub-expression in a boolean context.
type Predicate = Box<dyn Fn(&[Value]) -> Result<bool, Fault> + Send + Sync>;

/// The tree of closures `Compiled::eval` runs: a value, or a predicate when the root is a bool.
enum Body {
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

fn bin<const O: u8, A: Operand, B: Operand>(a: A, b: B, sp: Span) -> ValueClosure {
    Box::new(move |s| {
        let x = a.get(s)?;
        match arith_v(bin_op(O), x, b.get(s)?) {
            Ok(v) => Ok(v),
            Err(f) => Err(at(f, sp)),
        }
    })
}

fn binary(op: BinOp, a: AnyOperand, b: AnyOperand, sp: Span) -> ValueClosure {
    with_bin_op!(op, O => with_operand!(a, x => with_operand!(b, y => bin::<O, _, _>(x, y, sp))))
}

fn cmp<const O: u8, A: Operand, B: Operand>(a: A, b: B) -> Predicate {
    Box::new(move |s| {
        let x = a.get(s)?;
        Ok(compare_v(cmp_op(O), x, b.get(s)?))
    })
}

fn comparison(op: CmpOp, a: AnyOperand, b: AnyOperand) -> Predicate {
    with_cmp_op!(op, O => with_operand!(a, x => with_operand!(b, y => cmp::<O, _, _>(x, y))))
}

fn cond<T: Operand, E: Operand>(c: Predicate, t: T, e: E) -> ValueClosure {
    Box::new(move |s| if c(s)? { t.get(s) } else { e.get(s) })
}

/// `max(a, b)` / `min(a, b)`: the first argument unless the second is strictly greater / less.
fn min_max2<const MAX: bool, A: Operand, B: Operand>(a: A, b: B) -> ValueClosure {
    Box::new(move |s| {
        let x = a.get(s)?;
        let y = b.get(s)?;
        Ok(if compare_v(if MAX { CmpOp::Gt } else { CmpOp::Lt }, y, x) { y } else { x })
    })
}

fn make_div<A: Operand, B: Operand>(v: A, d: B, sp: Span) -> ValueClosure {
    Box::new(move |s| {
        let x = v.get(s)?;
        make_divisible_v(x, d.get(s)?, None).map_err(|e| at(e, sp))
    })
}

/// Nodes whose value is a bool computed from truth values and comparisons.
fn is_predicate(n: &Node) -> bool {
    matches!(
        n,
        Node::Cmp(..)
            | Node::CmpConst(..)
            | Node::Chain(..)
            | Node::And(..)
            | Node::Or(..)
            | Node::Not(_)
            | Node::Truth(_)
    )
}

fn body(root: &Node) -> Body {
    if is_predicate(root) {
        Body::Bool(pred(root))
    } else {
        Body::Value(generate(root))
    }
}

/// Build the predicate computing the truth value of `n`.
fn pred(n: &Node) -> Predicate {
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
                    if !compare_v(*op, x, y) {
                        return Ok(false);
                    }
                    x = y;
                }
                Ok(true)
            })
        }
        Node::And(a, b) => {
            let (a, b) = (pred(a), pred(b));
            Box::new(move |s| Ok(a(s)? && b(s)?))
        }
        Node::Or(a, b) => {
            let (a, b) = (pred(a), pred(b));
            Box::new(move |s| Ok(a(s)? || b(s)?))
        }
        Node::Not(a) => {
            let a = pred(a);
            Box::new(move |s| Ok(!a(s)?))
        }
        Node::Truth(a) => pred(a),
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
        let p = pred(n);
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
        Node::Cmp(..)
        | Node::CmpConst(..)
        | Node::Chain(..)
        | Node::And(..)
        | Node::Or(..)
        | Node::Not(_)
        | Node::Truth(_) => {
            unreachable!("predicates are handled above")
        }
        Node::Neg(a, sp) => {
            let (a, sp) = (operand(a), *sp);
            Box::new(move |s| neg_v(a.get(s)?).map_err(|f| at(f, sp)))
        }
        Node::Pos(a) => {
            let a = operand(a);
            Box::new(move |s| {
                let v = a.get(s)?;
                Ok(if v.tag == TAG_BOOL { PackedValue::int(v.bits as i64) } else { v })
            })
        }
        Node::Cond(c, t, e) => {
            let c = pred(c);
            with_operand!(operand(t), t => with_operand!(operand(e), e => cond(c, t, e)))
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
                with_operand!(a, a => with_operand!(b, b => min_max2::<true, _, _>(a, b)))
            } else {
                with_operand!(a, a => with_operand!(b, b => min_max2::<false, _, _>(a, b)))
            }
        }
        Node::MinMax(is_max, xs) => {
            let op = if *is_max { CmpOp::Gt } else { CmpOp::Lt };
            let xs: Box<[AnyOperand]> = xs.iter().map(operand).collect();
            Box::new(move |s| {
                let mut best = xs[0].get(s)?;
                for a in xs[1..].iter() {
                    let v = a.get(s)?;
                    if compare_v(op, v, best) {
                        best = v;
                    }
                }
                Ok(best)
            })
        }
        Node::MakeDiv(v, d, m, sp) => {
            let (v, d, sp) = (operand(v), operand(d), *sp);
            match m {
                None => with_operand!(v, v => with_operand!(d, d => make_div(v, d, sp))),
                Some(m) => {
                    let m = operand(m);
                    Box::new(move |s| {
                        let x = v.get(s)?;
                        let y = d.get(s)?;
                        make_divisible_v(x, y, Some(m.get(s)?)).map_err(|e| at(e, sp))
                    })
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Compiler
// ------------------------------------------------------------------------------------------------

struct Compiler<'a> {
    src: &'a str,
    resolve: &'a dyn Fn(&str) -> Option<Binding>,
}

/// What an indexable expression compiled to.
enum ListOf {
    Consts(Vec<Value>),
    Slots(Vec<u32>),
    Nodes(Vec<Node>),
}

impl<'a> Compiler<'a> {
    fn err(&self, msg: &str) -> String {
        format!("{msg} in '{}'", self.src.trim())
    }

    fn text(&self, a: &Ast) -> &str {
        &self.src[a.span.0 as usize..a.span.1 as usize]
    }

    fn slot(&self, name: &str, i: usize) -> Result<u32, String> {
        u32::try_from(i).map_err(|_| self.err(&format!("slot {i} of '{name}' is out of range")))
    }

    fn binding(&self, name: &str) -> Result<Binding, String> {
        (self.resolve)(name).ok_or_else(|| self.err(&format!("unknown variable '{name}'")))
    }

    /// Compile `a` as a list (a list-bound name or a list literal), or None if it is not one.
    fn list(&self, a: &Ast) -> Result<Option<ListOf>, String> {
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
                        return Err(self.err("nested lists are not supported"));
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

    fn compile(&self, a: &Ast) -> Result<Node, String> {
        let span = a.span;
        let b = |x: &Ast| -> Result<Box<Node>, String> { Ok(Box::new(self.compile(x)?)) };
        let node = match &a.kind {
            AstKind::Lit(v) => return Ok(Node::Const(*v)),
            AstKind::Name(name) => {
                return match self.binding(name)? {
                    Binding::Const(v) => Ok(Node::Const(v)),
                    Binding::Slot(i) => Ok(Node::Slot(self.slot(name, i)?)),
                    Binding::ConstList(_) | Binding::SlotList(_) => {
                        Err(self.err(&format!("'{name}' is a list; index it, e.g. {name}[0]")))
                    }
                }
            }
            AstKind::List(_) => return Err(self.err("a list can only be indexed or passed to min()/max()")),
            AstKind::Index(target, index) => {
                let list = self.list(target)?.ok_or_else(|| {
                    self.err(&format!("'{}' is not a list and cannot be indexed", self.text(target)))
                })?;
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
                    let rest =
                        rest.iter()
                            .map(|(op, x)| Ok((*op, self.compile(x)?)))
                            .collect::<Result<Vec<_>, String>>()?;
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
        Ok(specialize(fold(node)))
    }

    fn call(&self, f: Func, args: &[Ast], span: Span) -> Result<Node, String> {
        let b = |x: &Ast| -> Result<Box<Node>, String> { Ok(Box::new(self.compile(x)?)) };
        Ok(match f {
            Func::Min | Func::Max => {
                let nodes: Vec<Node> = if args.len() == 1 {
                    let list = self.list(&args[0])?.ok_or_else(|| {
                        self.err(&format!("{}() needs two or more values or one list", func_name(f)))
                    })?;
                    match list {
                        ListOf::Consts(vs) => vs.into_iter().map(Node::Const).collect(),
                        ListOf::Slots(ss) => ss.into_iter().map(Node::Slot).collect(),
                        ListOf::Nodes(ns) => ns,
                    }
                } else {
                    args.iter().map(|x| self.compile(x)).collect::<Result<_, _>>()?
                };
                if nodes.is_empty() {
                    return Err(self.err(&format!("{}() of an empty list", func_name(f))));
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

/// Replace a node that reads no slots by its value, if it evaluates cleanly. (A child that
/// failed to fold, like `1 / 0`, can still be skipped by a short-circuit above it.)
fn fold(n: Node) -> Node {
    fn reads_slots(n: &Node) -> bool {
        matches!(n, Node::Slot(_) | Node::IndexSlots(..)) || n.children().into_iter().any(reads_slots)
    }
    if !matches!(n, Node::Const(_)) && !reads_slots(&n) {
        if let Ok(v) = n.eval(&[]) {
            return Node::Const(v);
        }
    }
    n
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

// ------------------------------------------------------------------------------------------------
// Evaluation
// ------------------------------------------------------------------------------------------------

/// An evaluation failure. Boxed so that `Result<Value, Fault>` stays two words.
#[derive(Debug)]
struct FaultInner {
    msg: String,
    at: Option<Span>,
}
type Fault = Box<FaultInner>;
type ValueOrFault = Result<Value, Fault>;

#[cold]
#[inline(never)]
fn fault(msg: String) -> Fault {
    Box::new(FaultInner { msg, at: None })
}

/// Attach the span of the failing operation, unless a deeper one is already attached.
#[cold]
#[inline(never)]
fn at(mut f: Fault, span: Span) -> Fault {
    if f.at.is_none() {
        f.at = Some(span);
    }
    f
}

#[cold]
#[inline(never)]
fn overflow(a: impl fmt::Display, op: &str, b: impl fmt::Display) -> Fault {
    fault(format!("integer overflow: {a} {op} {b} does not fit in 64 bits"))
}

#[cold]
#[inline(never)]
fn missing_slot(i: u32, n: usize) -> Fault {
    fault(format!("slot {i} was not given a value (only {n} slots)"))
}

impl Node {
    /// Whether the node reads a slot at or after `null_from`.
    fn reads_from(&self, null_from: u32) -> bool {
        match self {
            Node::Slot(i) => *i >= null_from,
            Node::IndexSlots(ss, i, _) => ss.iter().any(|&x| x >= null_from) || i.reads_from(null_from),
            n => n.children().iter().any(|c| c.reads_from(null_from)),
        }
    }

    /// [`Compiled::eval_nullable`]: `and`/`or`/`not` as Kleene's logic, anything else null as
    /// soon as it reads a null slot, else the ordinary evaluation.
    fn eval_nullable(&self, s: &[Value], null_from: u32) -> Result<Option<Value>, Fault> {
        let truth = |n: &Node| -> Result<Option<bool>, Fault> { Ok(n.eval_nullable(s, null_from)?.map(|v| v.truthy())) };
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
            n if n.reads_from(null_from) => None,
            n => Some(n.eval(s)?),
        })
    }

    fn eval(&self, s: &[Value]) -> ValueOrFault {
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
fn index_of(len: usize, i: Value) -> Option<usize> {
    let i = match i {
        Value::Int(i) => i,
        Value::Bool(b) => b as i64,
        Value::Float(_) => return None,
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
fn index_fault(len: usize, i: Value, list: &str) -> Fault {
    fault(match i {
        Value::Float(_) => format!("index into '{list}' must be an integer, not the float {i}"),
        _ => format!("index {i} out of range for '{list}' of length {len}"),
    })
}

/// Numbers for arithmetic: bools count as ints.
#[derive(Clone, Copy)]
enum Number {
    Int(i64),
    Float(f64),
}

#[inline(always)]
fn number(v: Value) -> Number {
    match v {
        Value::Int(i) => Number::Int(i),
        Value::Float(f) => Number::Float(f),
        Value::Bool(b) => Number::Int(b as i64),
    }
}

/// The evaluator's value: a tag and 64 bits. Unlike [`Value`] it has no padding, so it moves
/// through registers and memory as two words (copying an enum with padding piecewise and
/// reading it back whole stalls store forwarding, which cost more than the arithmetic).
#[derive(Clone, Copy, Debug, PartialEq)]
struct PackedValue {
    tag: u64,
    bits: u64,
}

const TAG_INT: u64 = 0;
const TAG_FLOAT: u64 = 1;
const TAG_BOOL: u64 = 2;

impl PackedValue {
    #[inline(always)]
    fn int(i: i64) -> PackedValue {
        PackedValue { tag: TAG_INT, bits: i as u64 }
    }
    #[inline(always)]
    fn float(f: f64) -> PackedValue {
        PackedValue { tag: TAG_FLOAT, bits: f.to_bits() }
    }
    #[inline(always)]
    fn bool(b: bool) -> PackedValue {
        PackedValue { tag: TAG_BOOL, bits: b as u64 }
    }
    #[inline(always)]
    fn from_value(v: Value) -> PackedValue {
        match v {
            Value::Int(i) => PackedValue::int(i),
            Value::Float(f) => PackedValue::float(f),
            Value::Bool(b) => PackedValue::bool(b),
        }
    }
    #[inline(always)]
    fn value(self) -> Value {
        match self.tag {
            TAG_INT => Value::Int(self.bits as i64),
            TAG_FLOAT => Value::Float(f64::from_bits(self.bits)),
            _ => Value::Bool(self.bits != 0),
        }
    }
    /// An int or bool (as 0 / 1).
    #[inline(always)]
    fn is_int(self) -> bool {
        self.tag != TAG_FLOAT
    }
    #[inline(always)]
    fn as_f64(self) -> f64 {
        if self.tag == TAG_FLOAT {
            f64::from_bits(self.bits)
        } else {
            self.bits as i64 as f64
        }
    }
    #[inline(always)]
    fn truthy(self) -> bool {
        if self.tag == TAG_FLOAT {
            f64::from_bits(self.bits) != 0.0
        } else {
            self.bits != 0
        }
    }
}

type PackedOrFault = Result<PackedValue, Fault>;

#[inline(always)]
fn arith(op: BinOp, a: Value, b: Value) -> ValueOrFault {
    arith_v(op, PackedValue::from_value(a), PackedValue::from_value(b)).map(PackedValue::value)
}

#[inline(always)]
fn arith_v(op: BinOp, a: PackedValue, b: PackedValue) -> PackedOrFault {
    if a.is_int() && b.is_int() {
        int_arith(op, a.bits as i64, b.bits as i64)
    } else {
        float_arith(op, a.as_f64(), b.as_f64())
    }
}

#[inline(always)]
fn int_arith(op: BinOp, x: i64, y: i64) -> PackedOrFault {
    let r = match op {
        BinOp::Add => x.checked_add(y),
        BinOp::Sub => x.checked_sub(y),
        BinOp::Mul => x.checked_mul(y),
        BinOp::Div => {
            if y == 0 {
                return Err(fault("division by zero".to_string()));
            }
            return Ok(PackedValue::float(int_true_div(x, y)));
        }
        BinOp::FloorDiv => {
            if y == 0 {
                return Err(fault("division by zero".to_string()));
            }
            // None only for i64::MIN // -1.
            x.checked_div(y).map(|q| if x % y != 0 && ((x < 0) != (y < 0)) { q - 1 } else { q })
        }
        BinOp::Mod => {
            if y == 0 {
                return Err(fault("modulo by zero".to_string()));
            }
            if y == -1 {
                return Ok(PackedValue::int(0));
            }
            let r = x % y;
            Some(if r != 0 && ((r < 0) != (y < 0)) { r + y } else { r })
        }
        BinOp::Pow => return int_pow(x, y).map(PackedValue::from_value),
    };
    match r {
        Some(v) => Ok(PackedValue::int(v)),
        None => Err(overflow(x, op.symbol(), y)),
    }
}

/// `x / y` correctly rounded, as Python's int true division (`y != 0`). Converting both to
/// f64 first would round twice when an operand exceeds 2^53.
#[inline(always)]
fn int_true_div(x: i64, y: i64) -> f64 {
    const EXACT: u64 = 1 << 53;
    if x.unsigned_abs() <= EXACT && y.unsigned_abs() <= EXACT {
        return x as f64 / y as f64;
    }
    int_true_div_slow(x, y)
}

#[inline(never)]
fn int_true_div_slow(x: i64, y: i64) -> f64 {
    let (a, b) = (x.unsigned_abs() as u128, y.unsigned_abs() as u128);
    if a == 0 {
        return if (x < 0) != (y < 0) { -0.0 } else { 0.0 };
    }
    let bits = |v: u128| 128 - v.leading_zeros() as i32;
    // Scale so the quotient has at least 56 bits: 53 kept, a guard bit, and room for a sticky
    // bit below it; the u128 → f64 conversion then rounds once, to nearest even.
    let shift = (56 + bits(b) - bits(a)).max(0);
    let n = a << shift;
    let q = (n / b) | (n % b != 0) as u128;
    let r = q as f64 * 2f64.powi(-shift);
    if (x < 0) != (y < 0) {
        -r
    } else {
        r
    }
}

#[inline(never)]
fn int_pow(x: i64, y: i64) -> ValueOrFault {
    if y < 0 {
        if x == 0 {
            return Err(fault("0 cannot be raised to a negative power".to_string()));
        }
        return float_pow(x as f64, y as f64);
    }
    let r = match x {
        0 => Some(if y == 0 { 1 } else { 0 }),
        1 => Some(1),
        -1 => Some(if y % 2 == 0 { 1 } else { -1 }),
        _ => u32::try_from(y).ok().and_then(|e| x.checked_pow(e)),
    };
    r.map(Value::Int).ok_or_else(|| overflow(x, "**", y))
}

#[inline(always)]
fn float_arith(op: BinOp, x: f64, y: f64) -> PackedOrFault {
    Ok(PackedValue::float(match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => {
            if y == 0.0 {
                return Err(fault("division by zero".to_string()));
            }
            x / y
        }
        BinOp::FloorDiv => {
            if y == 0.0 {
                return Err(fault("division by zero".to_string()));
            }
            py_divmod(x, y).0
        }
        BinOp::Mod => {
            if y == 0.0 {
                return Err(fault("modulo by zero".to_string()));
            }
            py_divmod(x, y).1
        }
        BinOp::Pow => return float_pow(x, y).map(PackedValue::from_value),
    }))
}

/// CPython's `float_divmod`: floor quotient and remainder with the divisor's sign.
fn py_divmod(vx: f64, wx: f64) -> (f64, f64) {
    let mut m = vx % wx;
    let mut div = (vx - m) / wx;
    if m != 0.0 {
        if (wx < 0.0) != (m < 0.0) {
            m += wx;
            div -= 1.0;
        }
    } else {
        m = 0.0f64.copysign(wx);
    }
    let q = if div != 0.0 {
        let mut f = div.floor();
        if div - f > 0.5 {
            f += 1.0;
        }
        f
    } else {
        0.0f64.copysign(vx / wx)
    };
    (q, m)
}

#[inline(never)]
fn float_pow(x: f64, y: f64) -> ValueOrFault {
    if y == 0.0 {
        return Ok(Value::Float(1.0));
    }
    if x == 0.0 && y < 0.0 {
        return Err(fault("0.0 cannot be raised to a negative power".to_string()));
    }
    if x < 0.0 && y.is_finite() && y.fract() != 0.0 {
        return Err(fault(format!("{} ** {} is a complex number", Value::Float(x), Value::Float(y))));
    }
    let r = x.powf(y);
    if r.is_infinite() && x.is_finite() && y.is_finite() {
        return Err(fault(format!("{} ** {} is too large for a float", Value::Float(x), Value::Float(y))));
    }
    Ok(Value::Float(r))
}

#[inline(always)]
fn neg(v: Value) -> ValueOrFault {
    neg_v(PackedValue::from_value(v)).map(PackedValue::value)
}

#[inline(always)]
fn neg_v(v: PackedValue) -> PackedOrFault {
    if v.is_int() {
        let i = v.bits as i64;
        match i.checked_neg() {
            Some(n) => Ok(PackedValue::int(n)),
            None => Err(fault(format!("integer overflow: -({i}) does not fit in 64 bits"))),
        }
    } else {
        Ok(PackedValue::float(-v.as_f64()))
    }
}

/// `i64` vs `f64`, exactly (as Python compares int and float), `None` if `f` is NaN.
#[inline(always)]
fn cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    if f >= TWO_63 {
        return Some(Ordering::Less);
    }
    if f < -TWO_63 {
        return Some(Ordering::Greater);
    }
    // |f| < 2^63, so `f as i64` truncates exactly (and avoids a libm call for trunc()).
    let ti = f as i64;
    let t = ti as f64;
    Some(match i.cmp(&ti) {
        Ordering::Equal => {
            if f > t {
                Ordering::Less
            } else if f < t {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        o => o,
    })
}

#[inline(always)]
fn compare(op: CmpOp, a: Value, b: Value) -> bool {
    compare_v(op, PackedValue::from_value(a), PackedValue::from_value(b))
}

#[inline(always)]
fn compare_v(op: CmpOp, a: PackedValue, b: PackedValue) -> bool {
    let ord = match (a.is_int(), b.is_int()) {
        (true, true) => Some((a.bits as i64).cmp(&(b.bits as i64))),
        (false, false) => a.as_f64().partial_cmp(&b.as_f64()),
        (true, false) => cmp_int_float(a.bits as i64, b.as_f64()),
        (false, true) => cmp_int_float(b.bits as i64, a.as_f64()).map(Ordering::reverse),
    };
    match op {
        CmpOp::Lt => ord == Some(Ordering::Less),
        CmpOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => ord == Some(Ordering::Greater),
        CmpOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        CmpOp::Eq => ord == Some(Ordering::Equal),
        CmpOp::Ne => ord != Some(Ordering::Equal),
    }
}

/// A float that must become an int (`round`, `ceil`, `floor`, `int`).
#[inline]
fn float_to_int(f: f64) -> ValueOrFault {
    if (-TWO_63..TWO_63).contains(&f) {
        return Ok(Value::Int(f as i64));
    }
    Err(fault(if f.is_nan() {
        "cannot convert nan to an integer".to_string()
    } else if f.is_infinite() {
        format!("cannot convert {} to an integer", Value::Float(f))
    } else {
        format!("integer overflow: {} does not fit in 64 bits", Value::Float(f))
    }))
}

#[inline(never)]
fn call1(f: Func, v: Value) -> ValueOrFault {
    match (f, number(v)) {
        (Func::Abs, Number::Int(i)) => i
            .checked_abs()
            .map(Value::Int)
            .ok_or_else(|| fault(format!("integer overflow: abs({i}) does not fit in 64 bits"))),
        (Func::Abs, Number::Float(x)) => Ok(Value::Float(x.abs())),
        (Func::Round | Func::Ceil | Func::Floor | Func::Int, Number::Int(i)) => Ok(Value::Int(i)),
        (Func::Round, Number::Float(x)) => float_to_int(x.round_ties_even()),
        (Func::Ceil, Number::Float(x)) => float_to_int(x.ceil()),
        (Func::Floor, Number::Float(x)) => float_to_int(x.floor()),
        (Func::Int, Number::Float(x)) => float_to_int(x.trunc()),
        (Func::Float, _) => Ok(Value::Float(v.as_f64())),
        _ => Err(fault(format!("{}() is not a one-argument function", func_name(f)))),
    }
}

/// A fixed buffer for formatting without allocating.
struct StackBuf {
    buf: [u8; 720],
    len: usize,
}

impl fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// `round(x, n)` as Python: an int stays an int (rounded to 10^-n for negative n, half to
/// even); a float is rounded exactly (on its binary value, ties to even) and stays a float.
#[inline(never)]
fn round_n(x: Value, n: Value) -> ValueOrFault {
    let n = match number(n) {
        Number::Int(n) => n,
        Number::Float(_) => return Err(fault(format!("round(): ndigits must be an integer, not {n}"))),
    };
    match number(x) {
        Number::Int(i) => {
            if n >= 0 {
                return Ok(Value::Int(i));
            }
            if n < -38 {
                return Ok(Value::Int(0));
            }
            let q = 10i128.pow((-n) as u32);
            let i = i as i128;
            let r = i.rem_euclid(q);
            let lower = i - r;
            let up = 2 * r > q || (2 * r == q && (lower / q) % 2 != 0);
            let v = if up { lower + q } else { lower };
            i64::try_from(v)
                .map(Value::Int)
                .map_err(|_| fault(format!("integer overflow: round({i}, {n}) does not fit in 64 bits")))
        }
        Number::Float(x) => Ok(Value::Float(round_float(x, n))),
    }
}

fn round_float(x: f64, n: i64) -> f64 {
    if !x.is_finite() || n > 323 {
        return x;
    }
    if n < -308 {
        return 0.0 * x;
    }
    if n >= 0 {
        // Rust's fixed-precision formatting is exact and rounds ties to even, like CPython's
        // dtoa-based float.__round__.
        let mut b = StackBuf { buf: [0; 720], len: 0 };
        if fmt::write(&mut b, format_args!("{:.*}", n as usize, x)).is_ok() {
            if let Some(v) = std::str::from_utf8(&b.buf[..b.len]).ok().and_then(|t| t.parse::<f64>().ok()) {
                return v;
            }
        }
        let p = 10f64.powi(n as i32);
        return (x * p).round_ties_even() / p;
    }
    let k = (-n) as u32;
    if k <= 38 && x.abs() < 1.7e38 {
        // Exact: a tie needs x itself integral; a non-integral x rounds like floor(x) except
        // that floor(x)'s ties go up.
        let fl = x.floor();
        let frac = x - fl;
        let i = fl as i128;
        let q = 10i128.pow(k);
        let r = i.rem_euclid(q);
        let lower = i - r;
        let up = 2 * r > q || (2 * r == q && (frac > 0.0 || (lower / q) % 2 != 0));
        let v = if up { lower + q } else { lower };
        if v == 0 {
            return 0.0f64.copysign(x);
        }
        return v as f64;
    }
    let p = 10f64.powi(k as i32);
    (x / p).round_ties_even() * p
}

/// `make_divisible` with a fast path for an int divisor > 0 and an int (or no) minimum; the
/// same results as the general [`make_divisible`] (the tests check both).
#[inline(always)]
fn make_divisible_v(v: PackedValue, d: PackedValue, min_value: Option<PackedValue>) -> PackedOrFault {
    let int_min = match min_value {
        None => true,
        Some(m) => m.tag == TAG_INT,
    };
    let di = d.bits as i64;
    if d.tag == TAG_INT && di > 0 && int_min {
        let vf = v.as_f64();
        let t = vf + di as f64 / 2.0;
        if (-TWO_63..TWO_63).contains(&t) {
            // `t as i64` truncates like int(); di > 0, so div_euclid is Python's `//`.
            if let Some(p) = (t as i64).div_euclid(di).checked_mul(di) {
                let m = match min_value {
                    Some(m) => m.bits as i64,
                    None => di,
                };
                let nv = if p > m { p } else { m };
                if !compare_v(CmpOp::Lt, PackedValue::int(nv), PackedValue::float(0.9 * vf)) {
                    return Ok(PackedValue::int(nv));
                }
                if let Some(r) = nv.checked_add(di) {
                    return Ok(PackedValue::int(r));
                }
            }
        }
    }
    make_divisible(v.value(), d.value(), min_value.map(PackedValue::value)).map(PackedValue::from_value)
}

/// torchvision's `_make_divisible`, with Python's types:
/// ```python
/// if min_value is None: min_value = divisor
/// new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
/// if new_v < 0.9 * v: new_v += divisor
/// return new_v
/// ```
#[inline(never)]
fn make_divisible(v: Value, d: Value, min_value: Option<Value>) -> ValueOrFault {
    let half = arith(BinOp::Div, d, Value::Int(2))?;
    let t = match number(arith(BinOp::Add, v, half)?) {
        Number::Int(i) => Value::Int(i),
        Number::Float(f) => float_to_int(f.trunc())?,
    };
    let p = arith(BinOp::Mul, arith(BinOp::FloorDiv, t, d)?, d)?;
    let m = min_value.unwrap_or(d);
    let mut nv = if compare(CmpOp::Gt, p, m) { p } else { m };
    if compare(CmpOp::Lt, nv, arith(BinOp::Mul, Value::Float(0.9), v)?) {
        nv = arith(BinOp::Add, nv, d)?;
    }
    Ok(nv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Value::{Bool, Float, Int};

    fn no_names(_: &str) -> Option<Binding> {
        None
    }

    /// Evaluate with the tree of closures and check the tree walk agrees.
    fn run(c: &Compiled, slots: &[Value]) -> Result<Value, String> {
        let r = c.eval(slots);
        assert_eq!(r, c.eval_tree(slots), "{}: closures vs tree", c.source());
        r
    }

    /// Parse, compile with no names, evaluate.
    fn ev(src: &str) -> Result<Value, String> {
        run(&parse(src)?.compile(&no_names)?, &[])
    }

    fn ok(src: &str) -> Value {
        ev(src).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    /// Kleene's logic over a null slot `m` (slot 1) next to a known slot `x` (slot 0), as SQL
    /// and polars have it: written out by hand, case by case.
    #[test]
    fn nullable_evaluation_is_three_valued() {
        let names = |n: &str| match n {
            "x" => Some(Binding::Slot(0)),
            "m" => Some(Binding::Slot(1)),
            _ => None,
        };
        let slots = [Int(3), Int(0)];
        let case = |src: &str| parse(src).unwrap().compile(&names).unwrap().eval_nullable(&slots, 1).unwrap();
        let (t, f, null) = (Some(Bool(true)), Some(Bool(false)), None);
        for (src, want) in [
            ("m > 1", null),
            ("x == 3 or m > 1", t),
            ("m > 1 or x == 3", t),
            ("x == 4 or m > 1", null),
            ("x == 3 and m > 1", null),
            ("x == 4 and m > 1", f),
            ("m > 1 and x == 4", f),
            ("not (m > 1)", null),
            ("not (x == 4 and m > 1)", t),
            ("(m > 1 or x == 3) and x < 5", t),
            ("m + x > 1 or x == 4", null),
            ("x * 2", Some(Int(6))),
            ("max(x, m)", null),
        ] {
            assert_eq!(case(src), want, "{src}");
        }
        // without null slots it is the ordinary evaluation
        let c = parse("x == 4 or m > 1").unwrap().compile(&names).unwrap();
        assert_eq!(c.eval_nullable(&slots, 2).unwrap(), Some(c.eval(&slots).unwrap()));
        // an error in a known part is still an error
        let c = parse("x // (x - 3) > 1 or m > 1").unwrap().compile(&names).unwrap();
        assert!(c.eval_nullable(&slots, 1).unwrap_err().contains("division by zero"));
    }

    fn err(src: &str) -> String {
        match ev(src) {
            Ok(v) => panic!("{src}: expected an error, got {v}"),
            Err(e) => e,
        }
    }

    /// Compile with `names` bound to slots 0, 1, 2, ... and evaluate with `vals`; also check the
    /// result equals the one computed with the names bound to constants (folded).
    fn ev_slots(src: &str, names: &[&str], vals: &[Value]) -> Result<Value, String> {
        let e = parse(src)?;
        let slot = |n: &str| names.iter().position(|m| *m == n).map(Binding::Slot);
        let c = e.compile(&slot)?;
        let r = run(&c, vals);
        let konst = |n: &str| names.iter().position(|m| *m == n).map(|i| Binding::Const(vals[i]));
        let folded = e.compile(&konst)?;
        let r2 = folded.eval(&[]);
        assert_eq!(r, r2, "{src}: slots vs constants");
        if r.is_ok() {
            assert_eq!(folded.as_const().map(Ok), Some(r.clone()), "{src}: not folded");
        }
        r
    }

    #[test]
    fn literals() {
        assert_eq!(ok("42"), Int(42));
        assert_eq!(ok("1_000"), Int(1000));
        assert_eq!(ok("1_000_000"), Int(1_000_000));
        assert_eq!(ok("1.5"), Float(1.5));
        assert_eq!(ok(".5"), Float(0.5));
        assert_eq!(ok("2."), Float(2.0));
        assert_eq!(ok("5e6"), Float(5e6));
        assert_eq!(ok("3E8"), Float(3e8));
        assert_eq!(ok("2.5e-3"), Float(2.5e-3));
        assert_eq!(ok("true"), Bool(true));
        assert_eq!(ok("True"), Bool(true));
        assert_eq!(ok("false"), Bool(false));
        assert_eq!(ok("False"), Bool(false));
        assert_eq!(ok("9223372036854775807"), Int(i64::MAX));
        assert!(err("9223372036854775808").contains("does not fit in 64 bits"));
        assert!(err("1__0").contains("'_' in a number must sit between two digits"));
        assert!(err("1_").contains("'_'"));
        assert!(err("007").contains("leading zeros"));
        assert_eq!(ok("0"), Int(0));
        assert_eq!(ok("0.07"), Float(0.07));
    }

    #[test]
    fn units() {
        assert_eq!(ok("64 MiB"), Int(67_108_864));
        assert_eq!(ok("64MiB"), Int(67_108_864));
        assert_eq!(ok("1 KiB"), Int(1024));
        assert_eq!(ok("2 GiB"), Int(2 << 30));
        assert_eq!(ok("1 TiB"), Int(1 << 40));
        assert_eq!(ok("5 M"), Int(5_000_000));
        assert_eq!(ok("3 K"), Int(3000));
        assert_eq!(ok("2 G"), Int(2_000_000_000));
        assert_eq!(ok("1 T"), Int(1_000_000_000_000));
        assert_eq!(ok("4 kB"), Int(4000));
        assert_eq!(ok("4 MB"), Int(4_000_000));
        assert_eq!(ok("1.5 GB"), Int(1_500_000_000));
        assert_eq!(ok("2 TB"), Int(2_000_000_000_000));
        assert_eq!(ok("1.5 KiB"), Int(1536));
        // Exact from the decimal digits: 1.1 × 1000 is 1100, not 1100.0000000000002.
        assert_eq!(ok("1.1 K"), Int(1100));
        assert_eq!(ok("0.3 K"), Int(300));
        // 1.1 × 1024 = 1126.4 is not integral: stays a float.
        assert_eq!(ok("1.1 KiB"), Float(1.1 * 1024.0));
        assert_eq!(ok("2.5e-3 M"), Int(2500));
        assert_eq!(ok("1e3 K"), Int(1_000_000));
        // A unit binds to its literal only: 2 * 3 MiB = 2 * 3145728.
        assert_eq!(ok("2 * 3 MiB"), Int(6_291_456));
        assert_eq!(ok("64 MiB == 67108864"), Bool(true));
        assert!(err("10000000 TiB").contains("does not fit"));
        let e = err("3 KB");
        assert!(e.contains("'KB' after a number is not a unit"), "{e}");
        assert!(e.contains("at column 3"), "{e}");
        // A filter over a column.
        let r = ev_slots("peak_activation_bytes < 64 MiB", &["peak_activation_bytes"], &[Int(50 << 20)]);
        assert_eq!(r, Ok(Bool(true)));
        let r =
            ev_slots("params < 5e6 and macs < 3e8", &["params", "macs"], &[Int(4_000_000), Int(300_000_000)]);
        assert_eq!(r, Ok(Bool(false)));
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(ok("1 + 2 * 3"), Int(7));
        assert_eq!(ok("(1 + 2) * 3"), Int(9));
        assert_eq!(ok("10 - 3 - 2"), Int(5));
        assert_eq!(ok("100 / 10 / 2"), Float(5.0));
        assert_eq!(ok("100 // 10 // 3"), Int(3));
        assert_eq!(ok("2 * 3 % 4"), Int(2)); // (2*3)%4
        assert_eq!(ok("2 ** 3 ** 2"), Int(512)); // right-assoc: 2 ** 9
        assert_eq!(ok("(2 ** 3) ** 2"), Int(64));
        assert_eq!(ok("-2 ** 2"), Int(-4)); // -(2**2)
        assert_eq!(ok("(-2) ** 2"), Int(4));
        assert_eq!(ok("2 ** -1"), Float(0.5));
        assert_eq!(ok("2 ** -2 ** 2"), Float(0.0625)); // 2 ** (-(2**2))
        assert_eq!(ok("- -3"), Int(3));
        assert_eq!(ok("+3"), Int(3));
        assert_eq!(ok("+true"), Int(1));
        assert_eq!(ok("2 * -3"), Int(-6));
        assert_eq!(ok("1 + 2 < 4"), Bool(true));
        assert_eq!(ok("not 1 < 2"), Bool(false)); // not (1 < 2)
        assert_eq!(ok("not not 3"), Bool(true));
        assert_eq!(ok("true or false and false"), Bool(true)); // and binds tighter
        assert_eq!(ok("(true or false) and false"), Bool(false));
        assert_eq!(ok("not true or true"), Bool(true)); // (not true) or true
        assert_eq!(ok("1 if false else 2 if false else 3"), Int(3)); // right-assoc
        assert_eq!(ok("1 + 1 if 2 > 1 else 0"), Int(2)); // conditional binds loosest
        assert_eq!(ok("[10, 20, 30][1 + 1] * 2"), Int(60));
        assert_eq!(ok("-[10, 20][0] ** 2"), Int(-100));
        assert_eq!(ok("true + true"), Int(2)); // bools count as ints
    }

    #[test]
    fn python_floor_division_and_modulo() {
        assert_eq!(ok("-7 // 2"), Int(-4));
        assert_eq!(ok("-7 % 2"), Int(1));
        assert_eq!(ok("7 % -2"), Int(-1));
        assert_eq!(ok("7 // -2"), Int(-4));
        assert_eq!(ok("-7 // -2"), Int(3));
        assert_eq!(ok("-7 % -2"), Int(-1));
        assert_eq!(ok("7 // 2"), Int(3));
        assert_eq!(ok("6 % 3"), Int(0));
        assert_eq!(ok("-7.5 // 2"), Float(-4.0));
        assert_eq!(ok("-7.5 % 2"), Float(0.5));
        assert_eq!(ok("7.5 % -2"), Float(-0.5));
        assert_eq!(ok("7 / 2"), Float(3.5));
        assert_eq!(ok("6 / 3"), Float(2.0)); // `/` always gives a float
                                             // Correctly rounded like Python, also beyond 2^53: 3**36 / 36 is 4169295424916642.25
                                             // exactly, so 4169295424916642.0, not 4169295424916642.5 (which rounding 3**36 to a
                                             // float first gives).
        assert_eq!(ok("3 ** 36 / 36"), Float(4169295424916642.0));
        assert_eq!(ok("9007199254740993 / 1"), Float(9007199254740992.0));
        assert_eq!(ok("-9223372036854775807 / 3"), Float(-3074457345618258602.3333333333333333));
        assert_eq!(ok("1 / 9223372036854775807"), Float(1.0 / 9223372036854775807.0));
        assert_eq!(ok("1 + 2.0"), Float(3.0));
        assert_eq!(ok("-9223372036854775807 - 1"), Int(i64::MIN));
        assert_eq!(ok("(-9223372036854775807 - 1) % -1"), Int(0));
        assert!(err("(-9223372036854775807 - 1) // -1").contains("integer overflow"));
        // Same through slots.
        assert_eq!(ev_slots("a // b", &["a", "b"], &[Int(-7), Int(2)]), Ok(Int(-4)));
        assert_eq!(ev_slots("a % b", &["a", "b"], &[Int(7), Int(-2)]), Ok(Int(-1)));
    }

    #[test]
    fn integer_overflow_is_an_error() {
        assert_eq!(ok("2 ** 62"), Int(1 << 62));
        let e = err("2 ** 63");
        assert_eq!(e, "integer overflow: 2 ** 63 does not fit in 64 bits in '2 ** 63'");
        let e = err("9223372036854775807 + 1");
        assert!(e.starts_with("integer overflow: 9223372036854775807 + 1"), "{e}");
        assert!(err("-9223372036854775807 - 2").contains("integer overflow"));
        assert!(err("4611686018427387904 * 2").contains("integer overflow"));
        assert!(err("-(-9223372036854775807 - 1)").contains("integer overflow"));
        assert!(err("abs(-9223372036854775807 - 1)").contains("integer overflow"));
        assert_eq!(ok("1 ** 100000000000"), Int(1));
        assert_eq!(ok("(-1) ** 100000000001"), Int(-1));
        assert_eq!(ok("0 ** 0"), Int(1));
        let e = ev_slots("x * 2 + 1", &["x"], &[Int(i64::MAX / 2 + 1)]).unwrap_err();
        assert_eq!(
            e,
            "integer overflow: 4611686018427387904 * 2 does not fit in 64 bits at 'x * 2' in 'x * 2 + 1'"
        );
        assert!(err("10.0 ** 400").contains("too large"));
        assert!(err("int(1e19)").contains("does not fit"));
        assert!(err("round(1e300)").contains("does not fit"));
    }

    #[test]
    fn division_by_zero_is_an_error() {
        assert_eq!(err("1 / 0"), "division by zero in '1 / 0'");
        assert_eq!(err("1 // 0"), "division by zero in '1 // 0'");
        assert_eq!(err("1 % 0"), "modulo by zero in '1 % 0'");
        assert_eq!(err("1.0 / 0.0"), "division by zero in '1.0 / 0.0'");
        assert_eq!(err("2.5 % 0"), "modulo by zero in '2.5 % 0'");
        assert!(err("0 ** -1").contains("negative power"));
        let e = ev_slots("x / (a - b) + 1", &["x", "a", "b"], &[Int(1), Int(3), Int(3)]).unwrap_err();
        assert_eq!(e, "division by zero at 'x / (a - b)' in 'x / (a - b) + 1'");
        // A failing branch that is not taken does no harm.
        assert_eq!(ev_slots("1 if a > 0 else 1 / 0", &["a"], &[Int(1)]), Ok(Int(1)));
        assert_eq!(ok("1 if true else 1 / 0"), Int(1));
        assert_eq!(ok("false and 1 / 0"), Bool(false));
        assert_eq!(ok("true or 1 / 0"), Bool(true));
    }

    #[test]
    fn functions() {
        assert_eq!(ok("round(2.5)"), Int(2));
        assert_eq!(ok("round(3.5)"), Int(4));
        assert_eq!(ok("round(-2.5)"), Int(-2));
        assert_eq!(ok("round(0.5)"), Int(0));
        assert_eq!(ok("round(1.5)"), Int(2));
        assert_eq!(ok("round(2.6)"), Int(3));
        assert_eq!(ok("round(7)"), Int(7));
        // round(x, n): exact on the binary value (2.675 is 2.67499999...), ties to even.
        assert_eq!(ok("round(2.675, 2)"), Float(2.67));
        assert_eq!(ok("round(0.125, 2)"), Float(0.12));
        assert_eq!(ok("round(0.375, 2)"), Float(0.38));
        assert_eq!(ok("round(2.5, 0)"), Float(2.0));
        assert_eq!(ok("round(1234, -2)"), Int(1200));
        assert_eq!(ok("round(1250, -2)"), Int(1200));
        assert_eq!(ok("round(1350, -2)"), Int(1400));
        assert_eq!(ok("round(-1250, -2)"), Int(-1200));
        assert_eq!(ok("round(1234.5, -2)"), Float(1200.0));
        assert_eq!(ok("round(1250.0, -2)"), Float(1200.0));
        assert_eq!(ok("round(1250.5, -2)"), Float(1300.0));
        assert_eq!(ok("round(7, 2)"), Int(7));
        assert_eq!(ok("ceil(2.1)"), Int(3));
        assert_eq!(ok("ceil(-2.1)"), Int(-2));
        assert_eq!(ok("floor(2.9)"), Int(2));
        assert_eq!(ok("floor(-2.1)"), Int(-3));
        assert_eq!(ok("ceil(4)"), Int(4));
        assert_eq!(ok("int(2.9)"), Int(2));
        assert_eq!(ok("int(-2.9)"), Int(-2));
        assert_eq!(ok("int(true)"), Int(1));
        assert_eq!(ok("float(3)"), Float(3.0));
        assert_eq!(ok("abs(-3)"), Int(3));
        assert_eq!(ok("abs(-3.5)"), Float(3.5));
        assert_eq!(ok("min(3, 1, 2)"), Int(1));
        assert_eq!(ok("max(3, 1, 2)"), Int(3));
        assert_eq!(ok("min(1, 1.0)"), Int(1)); // the first of equals, as in Python
        assert_eq!(ok("max(2, 2.5)"), Float(2.5));
        assert_eq!(ok("max([4, 9, 2])"), Int(9));
        assert!(err("min(3)").contains("min() needs two or more values or one list"));
        assert!(err("int(nan_is_not_a_literal)").contains("unknown variable"));
        assert!(err("round(1.5, 0.5)").contains("ndigits must be an integer"));
        let e = parse("round(1, 2, 3)").unwrap_err();
        assert_eq!(e, "in 'round(1, 2, 3)': round() takes 1 to 2 arguments, got 3 at column 1");
        let e = parse("abs()").unwrap_err();
        assert!(e.contains("abs() takes 1 argument, got 0"), "{e}");
        assert!(parse("make_divisible(8)").unwrap_err().contains("make_divisible() takes 2 to 3 arguments"));
    }

    #[test]
    fn make_divisible_matches_torchvision() {
        // _make_divisible(v, d, m=d): new_v = max(m, int(v + d/2) // d * d);
        //                             if new_v < 0.9 * v: new_v += d
        // v = 32*0.75 = 24.0: int(24.0 + 4.0) = 28; 28 // 8 * 8 = 24; max(8, 24) = 24;
        //   24 < 21.6? no -> 24
        assert_eq!(ok("make_divisible(32 * 0.75, 8)"), Int(24));
        // v = 3: int(3 + 4.0) = 7; 7 // 8 * 8 = 0; max(8, 0) = 8; 8 < 2.7? no -> 8
        assert_eq!(ok("make_divisible(3, 8)"), Int(8));
        // v = 67.2: int(71.2) = 71; 71 // 8 * 8 = 64; max(8, 64) = 64; 64 < 60.48? no -> 64
        assert_eq!(ok("make_divisible(67.2, 8)"), Int(64));
        // v = 10: int(14.0) = 14; 14 // 8 * 8 = 8; max(8, 8) = 8; 8 < 9.0? yes -> 16
        assert_eq!(ok("make_divisible(10, 8)"), Int(16));
        // v = 36, d = 16: int(44.0) = 44; 44 // 16 * 16 = 32; max(16, 32) = 32;
        //   32 < 32.4? yes -> 48
        assert_eq!(ok("make_divisible(36, 16)"), Int(48));
        // v = 12: int(16.0) = 16; 16 // 8 * 8 = 16; 16 < 10.8? no -> 16 (halves round up)
        assert_eq!(ok("make_divisible(12, 8)"), Int(16));
        // v = 3, m = 4: int(7.0) = 7; 7 // 8 * 8 = 0; max(4, 0) = 4; 4 < 2.7? no -> 4
        assert_eq!(ok("make_divisible(3, 8, 4)"), Int(4));
        // v = 3, m = 4.0 (float): max(4.0, 0) = 4.0 (Python's max keeps the first of equals)
        assert_eq!(ok("make_divisible(3, 8, 4.0)"), Float(4.0));
        // v = 100, d = 8.0 (float divisor): int(104.0) = 104; 104 // 8.0 * 8.0 = 104.0;
        //   max(8.0, 104.0) = 104.0; 104.0 < 90.0? no -> 104.0
        assert_eq!(ok("make_divisible(100, 8.0)"), Float(104.0));
        // v = -20: int(-16.0) = -16; -16 // 8 * 8 = -16; max(8, -16) = 8; 8 < -18.0? no -> 8
        assert_eq!(ok("make_divisible(-20, 8)"), Int(8));
        // MobileNetV2 width 1.4: 1280 * 1.4 = 1792.0: int(1796.0) = 1796; 1796 // 8 * 8 = 1792
        assert_eq!(ok("make_divisible(1280 * 1.4, 8)"), Int(1792));
        // v = 0.5 * 24 = 12.0 with d = 8 -> 16 (as v = 12 above)
        assert_eq!(
            ev_slots("make_divisible(c * mult, 8)", &["c", "mult"], &[Int(24), Float(0.5)]),
            Ok(Int(16))
        );
        assert!(err("make_divisible(10, 0)").contains("division by zero"));
        // The fast path and the general path agree.
        for v in [0.0, 1.0, 3.0, 7.5, 10.0, 15.9, 24.0, 36.0, 67.2, 100.0, 1e6, -5.0, -1e19, 1e300] {
            for d in [1i64, 3, 8, 16] {
                for m in [None, Some(Int(1)), Some(Int(32))] {
                    let fast = make_divisible_v(PackedValue::float(v), PackedValue::int(d), m.map(PackedValue::from_value)).map(PackedValue::value);
                    let general = make_divisible(Float(v), Int(d), m);
                    assert_eq!(fast.ok(), general.ok(), "v={v} d={d} m={m:?}");
                }
            }
        }
    }

    #[test]
    fn comparisons() {
        assert_eq!(ok("1 < 2 < 3"), Bool(true));
        assert_eq!(ok("1 < 3 < 2"), Bool(false));
        assert_eq!(ok("3 > 2 == 2"), Bool(true));
        assert_eq!(ok("1 <= 1 < 2 != 3"), Bool(true));
        assert_eq!(ok("1 == 1.0"), Bool(true));
        assert_eq!(ok("true == 1"), Bool(true));
        assert_eq!(ok("2 != 2"), Bool(false));
        // int vs float compares exactly: 2**53 + 1 is not 2.0**53.
        assert_eq!(ok("9007199254740993 > 9007199254740992.0"), Bool(true));
        assert_eq!(ok("9007199254740993 == 9007199254740992.0"), Bool(false));
        let r = |x: i64| ev_slots("1 < x < 5", &["x"], &[Int(x)]);
        assert_eq!(r(0), Ok(Bool(false)));
        assert_eq!(r(3), Ok(Bool(true)));
        assert_eq!(r(5), Ok(Bool(false)));
        assert_eq!(ev_slots("0 < x <= y < 10", &["x", "y"], &[Int(2), Int(2)]), Ok(Bool(true)));
        assert_eq!(ev_slots("0 < x <= y < 10", &["x", "y"], &[Int(3), Int(2)]), Ok(Bool(false)));
        assert_eq!(ev_slots("2 < x", &["x"], &[Float(2.5)]), Ok(Bool(true)));
    }

    #[test]
    fn conditionals_and_logic() {
        let src = "2 if i == 0 and s > 0 else 1";
        let r = |i: i64, s: i64| ev_slots(src, &["i", "s"], &[Int(i), Int(s)]);
        assert_eq!(r(0, 1), Ok(Int(2)));
        assert_eq!(r(0, 0), Ok(Int(1)));
        assert_eq!(r(1, 1), Ok(Int(1)));
        assert_eq!(ok("3 and 0"), Bool(false)); // and/or give bools
        assert_eq!(ok("0 or 2.5"), Bool(true));
        assert_eq!(ok("0.0 or 0"), Bool(false));
        assert_eq!(ev_slots("a or b", &["a", "b"], &[Int(0), Int(7)]), Ok(Bool(true)));
        assert_eq!(ev_slots("a and b", &["a", "b"], &[Int(1), Float(0.0)]), Ok(Bool(false)));
        assert_eq!(ev_slots("not a", &["a"], &[Int(0)]), Ok(Bool(true)));
        // Short-circuit: the right side is not evaluated.
        assert_eq!(ev_slots("a == 0 or 10 // a > 1", &["a"], &[Int(0)]), Ok(Bool(true)));
        assert_eq!(ev_slots("a != 0 and 10 // a > 1", &["a"], &[Int(0)]), Ok(Bool(false)));
    }

    #[test]
    fn booleans_in_value_and_predicate_positions() {
        let names = ["a", "b", "f"];
        let r = |src: &str, a: i64, b: i64| ev_slots(src, &names, &[Int(a), Int(b), Float(0.5)]);
        assert_eq!(r("(a < b) + 1", 1, 2), Ok(Int(2)));
        assert_eq!(r("(a < b) * 10", 3, 2), Ok(Int(0)));
        assert_eq!(r("not a", 0, 0), Ok(Bool(true)));
        assert_eq!(r("not a", 5, 0), Ok(Bool(false)));
        assert_eq!(r("a and b", 5, 0), Ok(Bool(false)));
        assert_eq!(r("a or b", 0, 3), Ok(Bool(true)));
        assert_eq!(r("a or f", 0, 0), Ok(Bool(true)));
        assert_eq!(r("a if b else f", 1, 0), Ok(Float(0.5)));
        assert_eq!(r("a if b else f", 1, 2), Ok(Int(1)));
        assert_eq!(r("10 if 0 < a < b else 20", 1, 2), Ok(Int(10)));
        assert_eq!(r("10 if 0 < a < b else 20", 2, 2), Ok(Int(20)));
        assert_eq!(r("10 if not (a > 1 or b > 1) else 20", 1, 1), Ok(Int(10)));
        assert_eq!(r("[10, 20][a < b]", 1, 2), Ok(Int(20)));
        assert_eq!(r("max(a, b) - min(a, b)", 7, 3), Ok(Int(4)));
        assert_eq!(r("max(a, f, b)", 0, 0), Ok(Float(0.5)));
        assert_eq!(r("min(a, f, b)", 0, 0), Ok(Int(0)));
        assert_eq!(r("-a + +b", 3, 5), Ok(Int(2)));
        assert_eq!(r("a ** b", 3, 4), Ok(Int(81)));
        assert_eq!(r("round(a / b, 2)", 2, 3), Ok(Float(0.67)));
        assert_eq!(r("make_divisible(a * f, 8, b)", 100, 4), Ok(Int(48)));
        // Errors inside predicates name the failing part too.
        assert_eq!(
            r("a // b > 1 and b > 0", 1, 0),
            Err("division by zero at 'a // b' in 'a // b > 1 and b > 0'".to_string())
        );
    }

    fn bind<'a>(pairs: &'a [(&'a str, Binding)]) -> impl Fn(&str) -> Option<Binding> + 'a {
        move |n| pairs.iter().find(|p| p.0 == n).map(|p| p.1.clone())
    }

    #[test]
    fn constant_folding() {
        let c = parse("[64, 128][1]").unwrap().compile(&no_names).unwrap();
        assert_eq!(c.as_const(), Some(Int(128)));
        let env = [("s", Binding::Const(Int(3))), ("x", Binding::Slot(0))];
        let c = parse("s * 2").unwrap().compile(&bind(&env)).unwrap();
        assert_eq!(c.as_const(), Some(Int(6)));
        assert!(c.slots().is_empty());
        let c = parse("x * (s + 1)").unwrap().compile(&bind(&env)).unwrap();
        assert_eq!(c.as_const(), None);
        assert_eq!(c.slots(), vec![0]);
        assert_eq!(run(&c, &[Int(5)]), Ok(Int(20)));
        assert!(matches!(c.root, Node::BinConst(BinOp::Mul, _, Int(4), _)), "{:?}", c.root);
        // A constant condition picks its branch; a constant false `and` drops the right side.
        let c = parse("x if s > 2 else 1 / 0").unwrap().compile(&bind(&env)).unwrap();
        assert!(matches!(c.root, Node::Slot(0)), "{:?}", c.root);
        let c = parse("s < 2 and x > 1").unwrap().compile(&bind(&env)).unwrap();
        assert_eq!(c.as_const(), Some(Bool(false)));
        let c = parse("min(s, 10) + max(1, 2)").unwrap().compile(&bind(&env)).unwrap();
        assert_eq!(c.as_const(), Some(Int(5)));
        let c = parse("make_divisible(s * 10, 8)").unwrap().compile(&bind(&env)).unwrap();
        assert_eq!(c.as_const(), Some(Int(32))); // int(34.0) // 8 * 8 = 32; 32 < 27? no
                                                 // A failing constant is not folded: the error comes at evaluation, naming the part.
        let c = parse("1 / 0").unwrap().compile(&no_names).unwrap();
        assert_eq!(c.as_const(), None);
        assert_eq!(run(&c, &[]), Err("division by zero in '1 / 0'".to_string()));
    }

    #[test]
    fn list_indexing() {
        let env = [
            ("width", Binding::ConstList(vec![Int(16), Int(24), Int(32), Int(64), Int(96)])),
            ("depth", Binding::SlotList(vec![3, 4, 5])),
            ("s", Binding::Slot(0)),
            ("k", Binding::Const(Int(2))),
            ("c", Binding::Slot(1)),
        ];
        let compile = |src: &str| parse(src).and_then(|e| e.compile(&bind(&env)));
        let slots = [Int(1), Int(7), Int(0), Int(10), Int(20), Int(30)];
        let c = compile("width[s] * 2").unwrap();
        assert_eq!(run(&c, &slots), Ok(Int(48)));
        assert_eq!(c.slots(), vec![0]);
        assert_eq!(run(&c, &[Int(-1)]), Ok(Int(192)));
        assert_eq!(run(&c, &[Int(-5)]), Ok(Int(32)));
        assert_eq!(
            run(&c, &[Int(5)]),
            Err("index 5 out of range for 'width' of length 5 in 'width[s] * 2'".to_string())
        );
        assert_eq!(
            run(&c, &[Int(-6)]),
            Err("index -6 out of range for 'width' of length 5 in 'width[s] * 2'".to_string())
        );
        assert!(run(&c, &[Float(1.0)]).unwrap_err().contains("must be an integer"));
        assert_eq!(compile("width[k]").unwrap().as_const(), Some(Int(32)));
        assert_eq!(compile("width[-1]").unwrap().as_const(), Some(Int(96)));
        let c = compile("depth[s]").unwrap();
        assert_eq!(run(&c, &slots), Ok(Int(20)));
        assert_eq!(c.slots(), vec![0, 3, 4, 5]);
        let c = compile("depth[k] + 1").unwrap();
        assert_eq!(c.slots(), vec![5]);
        assert_eq!(run(&c, &slots), Ok(Int(31)));
        assert_eq!(
            run(&compile("depth[3]").unwrap(), &slots).unwrap_err(),
            "index 3 out of range for 'depth' of length 3 in 'depth[3]'"
        );
        assert_eq!(run(&compile("max(depth)").unwrap(), &slots), Ok(Int(30)));
        assert_eq!(compile("min(width)").unwrap().as_const(), Some(Int(16)));
        // List literals: constant, slots, or computed elements.
        assert_eq!(run(&compile("[1, 2, 3][s]").unwrap(), &slots), Ok(Int(2)));
        assert_eq!(run(&compile("[s, c][1]").unwrap(), &slots), Ok(Int(7)));
        let c = compile("[c, 2 * c, 3 * c][s]").unwrap();
        assert_eq!(run(&c, &slots), Ok(Int(14)));
        assert_eq!(
            run(&c, &[Int(3), Int(7)]).unwrap_err(),
            "index 3 out of range for '[c, 2 * c, 3 * c]' of length 3 in '[c, 2 * c, 3 * c][s]'"
        );
        // Misuse.
        assert_eq!(
            compile("width * 2").unwrap_err(),
            "'width' is a list; index it, e.g. width[0] in 'width * 2'"
        );
        assert_eq!(compile("s[0]").unwrap_err(), "'s' is not a list and cannot be indexed in 's[0]'");
        assert!(compile("(1 + 2)[0]").unwrap_err().contains("'(1 + 2)' is not a list"));
        assert!(compile("[1, 2]").unwrap_err().contains("a list can only be indexed"));
        assert!(compile("[[1], [2]][0]").unwrap_err().contains("nested lists are not supported"));
        assert!(compile("[[1], [2]][0][0]").unwrap_err().contains("'[[1], [2]][0]' is not a list"));
        assert!(compile("min([])").unwrap_err().contains("min() of an empty list"));
    }

    #[test]
    fn unknown_names_and_functions() {
        assert_eq!(
            parse("foo * 2").unwrap().compile(&no_names).unwrap_err(),
            "unknown variable 'foo' in 'foo * 2'"
        );
        let e = parse("1 + foo(2)").unwrap_err();
        assert!(e.starts_with("in '1 + foo(2)': unknown function 'foo' (functions: min, max,"), "{e}");
        assert!(e.ends_with("at column 5"), "{e}");
        assert!(parse("exec(1)").unwrap_err().contains("unknown function 'exec'"));
        assert!(parse("__import__(1)").unwrap_err().contains("unknown function '__import__'"));
    }

    #[test]
    fn malformed_input() {
        assert_eq!(parse("width[s] * ").unwrap_err(), "in 'width[s] * ': expected an operand at column 11");
        assert_eq!(parse("width[s] *").unwrap_err(), "in 'width[s] *': expected an operand at column 11");
        assert_eq!(parse("").unwrap_err(), "in '': empty expression");
        assert_eq!(parse("   ").unwrap_err(), "in '   ': empty expression");
        assert_eq!(parse("(1 + 2").unwrap_err(), "in '(1 + 2': unclosed '(' at column 1");
        assert_eq!(parse("1 + 2)").unwrap_err(), "in '1 + 2)': unmatched ')' at column 6");
        assert_eq!(parse("a[1").unwrap_err(), "in 'a[1': unclosed '[' at column 2");
        assert_eq!(
            parse("(1 + 2 3)").unwrap_err(),
            "in '(1 + 2 3)': expected ',' or ')' to close the '(' at column 1, found '3' at column 8"
        );
        assert_eq!(parse("1 2").unwrap_err(), "in '1 2': expected an operator, found '2' at column 3");
        assert_eq!(parse("* 2").unwrap_err(), "in '* 2': expected an operand, found '*' at column 1");
        assert_eq!(parse("()").unwrap_err(), "in '()': expected an operand, found ')' at column 2");
        assert_eq!(
            parse("1 if x").unwrap_err(),
            "in '1 if x': expected 'else', found end of input at column 7"
        );
        assert_eq!(parse("a = 1").unwrap_err(), "in 'a = 1': '=' is not a comparison; use '==' at column 3");
        assert!(parse("a.b").unwrap_err().contains("attribute access is not supported at column 2"));
        assert!(parse("'x'").unwrap_err().contains("strings are not supported"));
        assert!(parse("lambda: 1").unwrap_err().contains("'lambda' is not supported"));
        assert!(parse("x is None").unwrap_err().contains("'is' is not supported"));
        assert!(parse("a && b").unwrap_err().contains("use 'and'"));
        assert!(parse("2 ^ 3").unwrap_err().contains("use '**'"));
        assert!(parse("x = é").unwrap_err().contains("'='"));
        assert_eq!(parse("é + 1").unwrap_err(), "in 'é + 1': unexpected character 'é' at column 1");
        assert_eq!(parse("1 + é").unwrap_err(), "in '1 + é': unexpected character 'é' at column 5");
        // Deep nesting is refused, not a stack overflow.
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep).unwrap_err().contains("nested more than"));
        let long = format!("{}1", "1 + ".repeat(10_000));
        assert!(parse(&long).unwrap_err().contains("nested more than"));
        let negs = format!("{}1", "-".repeat(10_000));
        assert!(parse(&negs).unwrap_err().contains("nested more than"));
        assert_eq!(ok(&format!("{}1", "1 + ".repeat(200))), Int(201));
        // Trailing commas are fine.
        assert_eq!(ok("max(1, 2,)"), Int(2));
        assert_eq!(ok("[1, 2,][1]"), Int(2));
    }

    #[test]
    fn names_lists_free_identifiers() {
        let e = parse("make_divisible(c * mult, 8) + width[s] + c if s > 0 else round(c)").unwrap();
        assert_eq!(e.names(), vec!["c", "mult", "width", "s"]);
        assert_eq!(e.source(), "make_divisible(c * mult, 8) + width[s] + c if s > 0 else round(c)");
        assert!(parse("1 + 2").unwrap().names().is_empty());
        assert_eq!(parse("a if b else a").unwrap().names(), vec!["a", "b"]);
    }

    #[test]
    fn values() {
        assert_eq!(Int(3).to_string(), "3");
        assert_eq!(Float(3.0).to_string(), "3.0");
        assert_eq!(Float(0.1).to_string(), "0.1");
        assert_eq!(Float(f64::INFINITY).to_string(), "inf");
        assert_eq!(Float(f64::NAN).to_string(), "nan");
        assert_eq!(Bool(true).to_string(), "true");
        assert_eq!(Float(24.0).as_i64(), Ok(24));
        assert!(Float(2.5).as_i64().unwrap_err().contains("expected an integer, got 2.5"));
        assert!(Float(1e19).as_i64().is_err());
        assert_eq!(Bool(true).as_i64(), Ok(1));
        assert_eq!(Int(3).as_f64(), 3.0);
        assert!(Float(f64::NAN).truthy());
        assert!(!Float(0.0).truthy());
        assert!(!Int(0).truthy());
        // Missing slots are an error, not a panic.
        let c = parse("x + 1").unwrap().compile(&|_| Some(Binding::Slot(3))).unwrap();
        assert!(run(&c, &[Int(1)]).unwrap_err().contains("slot 3 was not given a value"));
    }

    /// A tiny deterministic generator (no crate dependencies).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
            xs[self.next() as usize % xs.len()]
        }
    }

    fn random_expr(g: &mut Lcg, depth: u32) -> String {
        if depth == 0 || g.next().is_multiple_of(4) {
            return g
                .pick(&[
                    "a", "b", "f", "t", "0", "1", "2", "7", "-3", "0.5", "2.5", "1e3", "true", "w[a]",
                    "w[-1]", "4 KiB",
                ])
                .to_string();
        }
        let x = random_expr(g, depth - 1);
        let y = random_expr(g, depth - 1);
        match g.next() % 12 {
            0..=3 => format!("({x} {} {y})", g.pick(&["+", "-", "*", "/", "//", "%", "**"])),
            4 => format!("({x} {} {y})", g.pick(&["<", "<=", ">", ">=", "==", "!="])),
            5 => format!("({x} < {y} <= {})", random_expr(g, depth - 1)),
            6 => format!("({x} {} {y})", g.pick(&["and", "or"])),
            7 => format!("({x} if {y} else {})", random_expr(g, depth - 1)),
            8 if g.next().is_multiple_of(7) => format!("(not {x})"),
            8 => format!("{}({x})", g.pick(&["abs", "round", "ceil", "floor", "int", "float"])),
            9 => format!("{}({x}, {y})", g.pick(&["min", "max", "round", "make_divisible"])),
            10 => format!("[{x}, {y}, 3][{}]", g.pick(&["a", "b", "1", "-1"])),
            _ => format!("-({x})"),
        }
    }

    #[test]
    fn random_expressions_agree_and_never_panic() {
        let mut g = Lcg(42);
        let names = ["a", "b", "f", "t"];
        let mut evaluated = 0;
        for _ in 0..4000 {
            let src = random_expr(&mut g, 4);
            let vals = [
                Int(g.next() as i64 % 5 - 2),
                Int(g.next() as i64 % 9),
                Float(g.next() as f64 / 7e8),
                Bool(g.next().is_multiple_of(2)),
            ];
            let w = Binding::ConstList(vec![Int(16), Int(32), Float(1.5)]);
            let e = parse(&src).unwrap_or_else(|m| panic!("{src}: {m}"));
            let by_slot = |n: &str| {
                if n == "w" {
                    Some(w.clone())
                } else {
                    names.iter().position(|m| *m == n).map(Binding::Slot)
                }
            };
            let by_const = |n: &str| {
                if n == "w" {
                    Some(w.clone())
                } else {
                    names.iter().position(|m| *m == n).map(|i| Binding::Const(vals[i]))
                }
            };
            let (c, k) = (e.compile(&by_slot).unwrap(), e.compile(&by_const).unwrap());
            let r = c.eval(&vals);
            // The tree of closures, the tree walk and constant folding all agree (NaN aside).
            let same = |x: &Result<Value, String>, y: &Result<Value, String>| match (x, y) {
                (Ok(Float(p)), Ok(Float(q))) => p == q || (p.is_nan() && q.is_nan()),
                _ => x == y,
            };
            assert!(same(&r, &c.eval_tree(&vals)), "{src}: {r:?} vs tree {:?}", c.eval_tree(&vals));
            assert!(same(&r, &k.eval(&[])), "{src}: {r:?} vs folded {:?}", k.eval(&[]));
            if r.is_ok() {
                evaluated += 1;
                assert!(k.as_const().is_some(), "{src}: not folded");
            }
        }
        assert!(evaluated > 1000, "only {evaluated} evaluated cleanly");
        // Random junk never panics the parser.
        let alphabet = [
            "a", "1", "2.5", "e", "_", " ", "(", ")", "[", "]", ",", "+", "-", "*", "/", "%", "<", "=", "!",
            "if", "else", "and", "not", "MiB", "min(", ".", "'", "é", "1e", "0x",
        ];
        for _ in 0..20000 {
            let n = 1 + g.next() % 12;
            let src: String = (0..n).map(|_| g.pick(&alphabet)).collect();
            if let Ok(e) = parse(&src) {
                let _ = e.compile(&|_| Some(Binding::Slot(0))).map(|c| c.eval(&[Int(3)]));
            }
        }
    }

    #[test]
    fn compiled_is_send_and_sync() {
        fn check<T: Send + Sync + Clone>() {}
        check::<Compiled>();
        check::<Expr>();
    }

    /// `cargo test --release -p archsweep-core expr -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn bench_eval() {
        use std::hint::black_box;
        use std::time::Instant;
        let names = ["width", "c", "mult", "i", "s", "params", "macs", "peak"];
        let resolve = |n: &str| -> Option<Binding> {
            if n == "widths" {
                return Some(Binding::SlotList(vec![0, 1, 2, 3]));
            }
            names.iter().position(|m| *m == n).map(Binding::Slot)
        };
        let slots =
            [Int(64), Int(96), Float(0.75), Int(0), Int(2), Int(3_400_000), Int(300_000_000), Int(40 << 20)];
        let n = 10_000_000u32;
        // Best of 5 runs: the minimum is the least disturbed by other load on the machine.
        let time = |f: &dyn Fn() -> u64| {
            (0..5)
                .map(|_| {
                    let t = Instant::now();
                    black_box(f());
                    t.elapsed().as_nanos() as f64 / n as f64
                })
                .fold(f64::MAX, f64::min)
        };
        let base = time(&|| {
            let mut acc = 0i64;
            for _ in 0..n {
                let x = black_box(&slots)[0].as_i64().unwrap();
                acc = acc.wrapping_add(x.checked_mul(2).and_then(|y| y.checked_add(1)).unwrap());
            }
            acc as u64
        });
        println!("{base:>6.2} ns/eval  (native Rust `width * 2 + 1`, for scale)");
        for src in [
            "width * 2 + 1",
            "make_divisible(c * mult, 8)",
            "2 if i == 0 and s > 0 else 1",
            "params < 5e6 and macs < 3e8",
            "peak < 64 MiB and params < 5 M",
            "widths[s] * 2",
            "max(16, min(width * 2, 512)) // 8 * 8",
        ] {
            let c = parse(src).unwrap().compile(&resolve).unwrap();
            let expect = c.eval(&slots).unwrap();
            let ns = time(&|| {
                let mut acc = 0u64;
                for _ in 0..n {
                    let v = black_box(&c).eval(black_box(&slots)).unwrap();
                    acc = acc.wrapping_add(matches!(v, Int(_)) as u64);
                }
                acc
            });
            println!("{ns:>6.2} ns/eval  {src}  = {expect}");
        }
    }
}
