//! The syntax tree and the recursive-descent parser that builds it from the tokens of `lex`.

use super::error::{ExprError, ExprErrorKind, Found};
use super::lex::{lex, number_value, Tok, Token, UNITS};
use super::value::Value;

/// Byte offsets `start..end` into the source.
pub(super) type Span = (u32, u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
}

impl BinOp {
    pub(super) fn symbol(self) -> &'static str {
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
pub(super) enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl CmpOp {
    /// The operator with its operands swapped: `a < b` is `b > a`.
    pub(super) fn swapped(self) -> CmpOp {
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
pub(super) enum Func {
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
pub(super) const FUNCS: &[(&str, Func, usize, usize)] = &[
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

pub(super) fn func_name(f: Func) -> &'static str {
    FUNCS.iter().find(|e| e.1 == f).map(|e| e.0).unwrap_or("?")
}

/// Deepest nesting of parentheses / brackets / unary operators the parser recurses into.
const MAX_NESTING: u32 = 64;
/// Deepest syntax tree accepted (compilation and evaluation recurse over it).
const MAX_DEPTH: u32 = 256;

#[derive(Clone, Debug)]
pub(super) struct Ast {
    pub(super) kind: AstKind,
    pub(super) span: Span,
    depth: u32,
}

#[derive(Clone, Debug)]
pub(super) enum AstKind {
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
    pub(super) fn children(&self) -> Vec<&Ast> {
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
    pub(super) src: String,
    pub(super) ast: Ast,
}

/// Parse an expression. Errors quote the source and give a column, e.g.
/// `in 'width[s] * ': expected an operand at column 11`.
pub fn parse(src: &str) -> Result<Expr, String> {
    try_parse(src).map_err(|e| e.to_string())
}

/// [`parse`] with the error as an [`ExprError`].
pub fn try_parse(src: &str) -> Result<Expr, ExprError> {
    parse_boxed(src).map_err(|e| *e)
}

fn parse_boxed(src: &str) -> Result<Expr, Box<ExprError>> {
    let whole = |kind| Box::new(ExprError { kind, expression: src.to_string(), span: None });
    if src.trim().is_empty() {
        return Err(whole(ExprErrorKind::Empty));
    }
    if src.len() > u32::MAX as usize / 2 {
        return Err(whole(ExprErrorKind::TooLong));
    }
    let toks = lex(src)?;
    let mut p = Parser { src, toks, pos: 0, nesting: 0 };
    let ast = p.expr()?;
    let t = p.peek_token();
    match t.tok {
        Tok::Eof => Ok(Expr { src: src.to_string(), ast }),
        Tok::RParen => Err(p.err(t.start, ExprErrorKind::Unmatched { close: ')' })),
        Tok::RBrack => Err(p.err(t.start, ExprErrorKind::Unmatched { close: ']' })),
        _ => Err(p.err(t.start, ExprErrorKind::ExpectedOperator { found: p.found(&t) })),
    }
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    nesting: u32,
}

impl<'a> Parser<'a> {
    fn err(&self, pos: usize, kind: ExprErrorKind) -> Box<ExprError> {
        ExprError::syntax(self.src, pos, kind)
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

    fn found(&self, t: &Token) -> Found {
        match t.tok {
            Tok::Eof => Found::EndOfInput,
            _ => Found::Token(self.src[t.start..t.end].to_string()),
        }
    }

    fn enter(&mut self) -> Result<(), Box<ExprError>> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            let at = self.peek_token().start;
            return Err(self.err(at, ExprErrorKind::NestedTooDeep { limit: MAX_NESTING }));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    fn node(&self, kind: AstKind, start: usize, end: usize) -> Result<Ast, Box<ExprError>> {
        let depth = 1 + kind.children().iter().map(|c| c.depth).max().unwrap_or(0);
        if depth > MAX_DEPTH {
            return Err(self.err(start, ExprErrorKind::NestedTooDeep { limit: MAX_DEPTH }));
        }
        Ok(Ast { kind, span: (start as u32, end as u32), depth })
    }

    fn bin(&self, kind: fn(Box<Ast>, Box<Ast>) -> AstKind, a: Ast, b: Ast) -> Result<Ast, Box<ExprError>> {
        let (s, e) = (a.span.0 as usize, b.span.1 as usize);
        self.node(kind(Box::new(a), Box::new(b)), s, e)
    }

    /// `then if cond else els` (lowest precedence, right-associative).
    fn expr(&mut self) -> Result<Ast, Box<ExprError>> {
        self.enter()?;
        let then = self.or()?;
        let r = if *self.peek() == Tok::If {
            self.bump();
            let cond = self.or()?;
            let t = self.peek_token();
            if t.tok != Tok::Else {
                return Err(self.err(t.start, ExprErrorKind::ExpectedElse { found: self.found(&t) }));
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

    fn or(&mut self) -> Result<Ast, Box<ExprError>> {
        let mut a = self.and()?;
        while *self.peek() == Tok::Or {
            self.bump();
            let b = self.and()?;
            a = self.bin(AstKind::Or, a, b)?;
        }
        Ok(a)
    }

    fn and(&mut self) -> Result<Ast, Box<ExprError>> {
        let mut a = self.not()?;
        while *self.peek() == Tok::And {
            self.bump();
            let b = self.not()?;
            a = self.bin(AstKind::And, a, b)?;
        }
        Ok(a)
    }

    fn not(&mut self) -> Result<Ast, Box<ExprError>> {
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

    fn comparison(&mut self) -> Result<Ast, Box<ExprError>> {
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

    fn arith(&mut self) -> Result<Ast, Box<ExprError>> {
        self.left_assoc(Self::term, |t| match t {
            Tok::Plus => Some(BinOp::Add),
            Tok::Minus => Some(BinOp::Sub),
            _ => None,
        })
    }

    fn term(&mut self) -> Result<Ast, Box<ExprError>> {
        self.left_assoc(Self::unary, |t| match t {
            Tok::Star => Some(BinOp::Mul),
            Tok::Slash => Some(BinOp::Div),
            Tok::DSlash => Some(BinOp::FloorDiv),
            Tok::Percent => Some(BinOp::Mod),
            _ => None,
        })
    }

    /// One left-associative level: `operand (op operand)*`, ops chosen by `op_of`.
    fn left_assoc(
        &mut self,
        operand: fn(&mut Self) -> Result<Ast, Box<ExprError>>,
        op_of: fn(&Tok) -> Option<BinOp>,
    ) -> Result<Ast, Box<ExprError>> {
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
    fn unary(&mut self) -> Result<Ast, Box<ExprError>> {
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
    fn power(&mut self) -> Result<Ast, Box<ExprError>> {
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

    fn postfix(&mut self) -> Result<Ast, Box<ExprError>> {
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
    fn close(&mut self, tok: Tok, ch: char, open: &Token) -> Result<Token, Box<ExprError>> {
        let t = self.peek_token();
        if t.tok == tok {
            return Ok(self.bump());
        }
        let open_char = self.src[open.start..].chars().next().unwrap_or('(');
        if t.tok == Tok::Eof {
            return Err(self.err(open.start, ExprErrorKind::Unclosed { open: open_char }));
        }
        let open_column = self.src[..open.start].chars().count() + 1;
        let found = self.found(&t);
        Err(self.err(t.start, ExprErrorKind::ExpectedClose { open: open_char, close: ch, open_column, found }))
    }

    /// Comma-separated expressions up to the closing token (a trailing comma is allowed).
    fn items(&mut self, close: Tok, ch: char, open: &Token) -> Result<(Vec<Ast>, Token), Box<ExprError>> {
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

    fn atom(&mut self) -> Result<Ast, Box<ExprError>> {
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
                            let units = UNITS.iter().map(|u| u.0).collect();
                            let word = word.to_string();
                            return Err(self.err(next.start, ExprErrorKind::NotAUnit { word, units }));
                        }
                    }
                }
                let v = number_value(&lit, unit).map_err(|kind| self.err(t.start, kind))?;
                self.node(AstKind::Lit(v), t.start, end)
            }
            Tok::Str(text) => {
                let v = Value::str(text);
                self.node(AstKind::Lit(v), t.start, t.end)
            }
            Tok::True => self.node(AstKind::Lit(Value::Bool(true)), t.start, t.end),
            Tok::False => self.node(AstKind::Lit(Value::Bool(false)), t.start, t.end),
            Tok::Ident => {
                let name = &self.src[t.start..t.end];
                if *self.peek() != Tok::LParen {
                    return self.node(AstKind::Name(name.to_string()), t.start, t.end);
                }
                let Some(&(_, f, lo, hi)) = FUNCS.iter().find(|e| e.0 == name) else {
                    let (name, functions) = (name.to_string(), FUNCS.iter().map(|e| e.0).collect());
                    return Err(self.err(t.start, ExprErrorKind::UnknownFunction { name, functions }));
                };
                let open = self.bump();
                self.enter()?;
                let (args, close) = self.items(Tok::RParen, ')', &open)?;
                self.leave();
                if args.len() < lo || args.len() > hi {
                    let max = if hi == usize::MAX { None } else { Some(hi) };
                    let kind = ExprErrorKind::WrongArity { function: name.to_string(), min: lo, max, got: args.len() };
                    return Err(self.err(t.start, kind));
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
            _ => Err(self.err(t.start, ExprErrorKind::ExpectedOperand { found: self.found(&t) })),
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
}
