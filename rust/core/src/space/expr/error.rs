//! Errors: [`ExprError`] says what went wrong ([`ExprErrorKind`], with the data the message is made
//! from) and where (the source text and the byte span of the failing part). Its `Display` is the
//! message the language has always given, e.g. `in 'width[s] * ': expected an operand at column 11`
//! or `division by zero at 'x / (a - b)' in 'x / (a - b) + 1'`.
//!
//! Inside evaluation an error is a [`Fault`]: boxed, so that `Result<PackedValue, Fault>` stays two
//! words on the hot path; it becomes an `ExprError` once the source is attached.

use std::fmt;

use super::parse::Span;
use super::value::Value;

/// An error of the expression language: what went wrong, in which expression, where in it.
#[derive(Clone, Debug, PartialEq)]
pub struct ExprError {
    pub kind: ExprErrorKind,
    /// The expression's source text, as given.
    pub expression: String,
    /// Byte offsets `start..end` into `expression`: for a syntax error the position it was found at
    /// (`start == end`), for an evaluation error the failing operation, else `None`.
    pub span: Option<(usize, usize)>,
}

/// What went wrong. Syntax errors (up to [`WrongArity`](ExprErrorKind::WrongArity)) come from
/// [`parse`](super::parse), name errors from [`Expr::compile`](super::Expr::compile), the rest
/// from evaluation.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprErrorKind {
    /// The source is blank.
    Empty,
    /// The source is too long for spans to address.
    TooLong,
    /// A Python keyword the language does not have (`lambda`, `is`, `import`, ...).
    UnsupportedKeyword {
        word: String,
    },
    /// `=` where `==` was meant.
    Assignment,
    /// `!`, `&`, `|` or `^`: an operator of another language.
    ForeignOperator {
        found: char,
    },
    /// A string literal without its closing quote.
    UnterminatedString {
        quote: char,
    },
    AttributeAccess,
    UnexpectedCharacter {
        found: char,
    },
    /// `1__0`, `1_`: an underscore not between two digits.
    MisplacedUnderscore,
    /// `007`
    LeadingZeros,
    /// An integer literal beyond 64 bits.
    IntegerLiteralTooLarge {
        digits: String,
    },
    /// `10000000 TiB`
    UnitProductTooLarge {
        value: i64,
        unit: u64,
    },
    InvalidNumber {
        text: String,
    },
    /// A word after a number that is not one of `units`.
    NotAUnit {
        word: String,
        units: Vec<&'static str>,
    },
    /// Parentheses, brackets, unary operators or the syntax tree nested deeper than `limit`.
    NestedTooDeep {
        limit: u32,
    },
    /// A `)` or `]` that closes nothing.
    Unmatched {
        close: char,
    },
    /// An operand where an operator (or the end) should be.
    ExpectedOperator {
        found: Found,
    },
    ExpectedElse {
        found: Found,
    },
    /// `(` or `[` still open at the end of the input.
    Unclosed {
        open: char,
    },
    /// Something else where `,` or the closing `close` of the `open` at `open_column` should be.
    ExpectedClose {
        open: char,
        close: char,
        open_column: usize,
        found: Found,
    },
    ExpectedOperand {
        found: Found,
    },
    /// A call of a function the language does not have; `functions` are the ones it has.
    UnknownFunction {
        name: String,
        functions: Vec<&'static str>,
    },
    /// A function called with `got` arguments; it takes `min` to `max` (`None`: no limit).
    WrongArity {
        function: String,
        min: usize,
        max: Option<usize>,
        got: usize,
    },
    /// A name the resolver does not know.
    UnknownVariable {
        name: String,
    },
    /// A list-bound name used as a value.
    ListNotIndexed {
        name: String,
    },
    /// An index applied to something that is not a list (`text` is its source).
    NotAList {
        text: String,
    },
    /// A list literal used as a value.
    UnindexedList,
    NestedList,
    /// `min(x)` / `max(x)` with one argument that is not a list.
    MinMaxNeedsValues {
        function: &'static str,
    },
    MinMaxOfEmptyList {
        function: &'static str,
    },
    /// A slot number beyond 32 bits.
    SlotOutOfRange {
        name: String,
        slot: usize,
    },
    /// A string where arithmetic or a numeric function needs a number.
    StringOperand {
        text: &'static str,
    },
    DivisionByZero,
    ModuloByZero,
    IntegerOverflow(Overflow),
    /// `0 ** -1`, `0.0 ** -1`
    ZeroToNegativePower {
        base: Value,
    },
    /// A negative number to a fractional power.
    ComplexPower {
        base: f64,
        exponent: f64,
    },
    FloatPowerTooLarge {
        base: f64,
        exponent: f64,
    },
    /// `nan` or an infinity where an int is needed.
    NotConvertibleToInt {
        value: f64,
    },
    RoundDigitsNotInteger {
        ndigits: Value,
    },
    NotOneArgumentFunction {
        function: &'static str,
    },
    /// A float used as an index into `list` (the list's source text).
    IndexNotInteger {
        list: String,
        index: f64,
    },
    IndexOutOfRange {
        list: String,
        index: Value,
        len: usize,
    },
    /// The program reads `slot` but only `given` slots were passed.
    MissingSlot {
        slot: u32,
        given: usize,
    },
}

/// The token found where something else was expected.
#[derive(Clone, Debug, PartialEq)]
pub enum Found {
    EndOfInput,
    /// The token's source text.
    Token(String),
}

/// The integer operation whose result does not fit in 64 bits.
#[derive(Clone, Debug, PartialEq)]
pub enum Overflow {
    Binary {
        lhs: i64,
        op: &'static str,
        rhs: i64,
    },
    Negation(i64),
    Abs(i64),
    Round {
        value: i64,
        ndigits: i64,
    },
    /// A float converted to an int.
    Float(f64),
}

impl ExprErrorKind {
    /// Found while parsing, so reported at a column of the source.
    fn is_syntax(&self) -> bool {
        use ExprErrorKind::*;
        matches!(
            self,
            UnsupportedKeyword { .. }
                | Assignment
                | ForeignOperator { .. }
                | UnterminatedString { .. }
                | AttributeAccess
                | UnexpectedCharacter { .. }
                | MisplacedUnderscore
                | LeadingZeros
                | IntegerLiteralTooLarge { .. }
                | UnitProductTooLarge { .. }
                | InvalidNumber { .. }
                | NotAUnit { .. }
                | NestedTooDeep { .. }
                | Unmatched { .. }
                | ExpectedOperator { .. }
                | ExpectedElse { .. }
                | Unclosed { .. }
                | ExpectedClose { .. }
                | ExpectedOperand { .. }
                | UnknownFunction { .. }
                | WrongArity { .. }
        )
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The message without its place: `division by zero`, `unknown variable 'foo'`.
impl fmt::Display for ExprErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ExprErrorKind::*;
        match self {
            Empty => write!(f, "empty expression"),
            TooLong => write!(f, "expression too long"),
            UnsupportedKeyword { word } => write!(f, "'{word}' is not supported in expressions"),
            Assignment => write!(f, "'=' is not a comparison; use '=='"),
            ForeignOperator { found: '!' } => write!(f, "use 'not' instead of '!'"),
            ForeignOperator { found: '&' } => write!(f, "use 'and' instead of '&'"),
            ForeignOperator { found: '|' } => write!(f, "use 'or' instead of '|'"),
            ForeignOperator { found: '^' } => write!(f, "use '**' for powers ('^' is not supported)"),
            ForeignOperator { found } => write!(f, "'{found}' is not supported"),
            UnterminatedString { quote } => write!(f, "unterminated string (no closing {quote})"),
            AttributeAccess => write!(f, "attribute access is not supported"),
            UnexpectedCharacter { found } => write!(f, "unexpected character '{found}'"),
            MisplacedUnderscore => write!(f, "'_' in a number must sit between two digits"),
            LeadingZeros => write!(f, "leading zeros are not allowed in an integer"),
            IntegerLiteralTooLarge { digits } => write!(f, "integer {digits} does not fit in 64 bits"),
            UnitProductTooLarge { value, unit } => write!(f, "{value} × {unit} does not fit in a 64-bit integer"),
            InvalidNumber { text } => write!(f, "invalid number '{text}'"),
            NotAUnit { word, units } => {
                write!(f, "'{word}' after a number is not a unit (units: {})", units.join(" "))
            }
            NestedTooDeep { limit } => write!(f, "expression nested more than {limit} levels deep"),
            Unmatched { close } => write!(f, "unmatched '{close}'"),
            ExpectedOperator { found } => write!(f, "expected an operator, found {found}"),
            ExpectedElse { found } => write!(f, "expected 'else', found {found}"),
            Unclosed { open } => write!(f, "unclosed '{open}'"),
            ExpectedClose { open, close, open_column, found } => {
                write!(f, "expected ',' or '{close}' to close the '{open}' at column {open_column}, found {found}")
            }
            ExpectedOperand { found: Found::EndOfInput } => write!(f, "expected an operand"),
            ExpectedOperand { found } => write!(f, "expected an operand, found {found}"),
            UnknownFunction { name, functions } => {
                write!(f, "unknown function '{name}' (functions: {})", functions.join(", "))
            }
            WrongArity { function, min, max, got } => {
                write!(f, "{function}() takes ")?;
                match max {
                    Some(max) if max == min => write!(f, "{min} argument{}", plural(*min))?,
                    None => write!(f, "at least {min} argument{}", plural(*min))?,
                    Some(max) => write!(f, "{min} to {max} arguments")?,
                }
                write!(f, ", got {got}")
            }
            UnknownVariable { name } => write!(f, "unknown variable '{name}'"),
            ListNotIndexed { name } => write!(f, "'{name}' is a list; index it, e.g. {name}[0]"),
            NotAList { text } => write!(f, "'{text}' is not a list and cannot be indexed"),
            UnindexedList => write!(f, "a list can only be indexed or passed to min()/max()"),
            NestedList => write!(f, "nested lists are not supported"),
            MinMaxNeedsValues { function } => write!(f, "{function}() needs two or more values or one list"),
            MinMaxOfEmptyList { function } => write!(f, "{function}() of an empty list"),
            SlotOutOfRange { name, slot } => write!(f, "slot {slot} of '{name}' is out of range"),
            StringOperand { text } => write!(f, "the string '{text}' is not a number"),
            DivisionByZero => write!(f, "division by zero"),
            ModuloByZero => write!(f, "modulo by zero"),
            IntegerOverflow(what) => write!(f, "integer overflow: {what} does not fit in 64 bits"),
            ZeroToNegativePower { base } => write!(f, "{base} cannot be raised to a negative power"),
            ComplexPower { base, exponent } => {
                write!(f, "{} ** {} is a complex number", Value::Float(*base), Value::Float(*exponent))
            }
            FloatPowerTooLarge { base, exponent } => {
                write!(f, "{} ** {} is too large for a float", Value::Float(*base), Value::Float(*exponent))
            }
            NotConvertibleToInt { value } => write!(f, "cannot convert {} to an integer", Value::Float(*value)),
            RoundDigitsNotInteger { ndigits } => write!(f, "round(): ndigits must be an integer, not {ndigits}"),
            NotOneArgumentFunction { function } => write!(f, "{function}() is not a one-argument function"),
            IndexNotInteger { list, index } => {
                write!(f, "index into '{list}' must be an integer, not the float {}", Value::Float(*index))
            }
            IndexOutOfRange { list, index, len } => {
                write!(f, "index {index} out of range for '{list}' of length {len}")
            }
            MissingSlot { slot, given } => write!(f, "slot {slot} was not given a value (only {given} slots)"),
        }
    }
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::EndOfInput => write!(f, "end of input"),
            Found::Token(text) => write!(f, "'{text}'"),
        }
    }
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Overflow::Binary { lhs, op, rhs } => write!(f, "{lhs} {op} {rhs}"),
            Overflow::Negation(i) => write!(f, "-({i})"),
            Overflow::Abs(i) => write!(f, "abs({i})"),
            Overflow::Round { value, ndigits } => write!(f, "round({value}, {ndigits})"),
            Overflow::Float(x) => write!(f, "{}", Value::Float(*x)),
        }
    }
}

/// A syntax error: `in 'src': msg at column N` (columns count characters from 1). A name or
/// evaluation error: `msg in 'src'`, or `msg at 'part' in 'src'` when the failing part is not the
/// whole expression (the source trimmed).
impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let src = &self.expression;
        match &self.kind {
            ExprErrorKind::TooLong => return write!(f, "{}", self.kind),
            ExprErrorKind::Empty => return write!(f, "in '{src}': {}", self.kind),
            kind if kind.is_syntax() => {
                let pos = self.span.map_or(0, |s| s.0);
                let col = src[..pos.min(src.len())].chars().count() + 1;
                return write!(f, "in '{src}': {kind} at column {col}");
            }
            _ => {}
        }
        let whole = src.trim();
        let part = self.span.and_then(|(s, e)| src.get(s..e)).unwrap_or("").trim();
        if part.is_empty() || part == whole {
            write!(f, "{} in '{whole}'", self.kind)
        } else {
            write!(f, "{} at '{part}' in '{whole}'", self.kind)
        }
    }
}

impl std::error::Error for ExprError {}

impl ExprError {
    /// A syntax error found at byte `pos` of `src`. Boxed, as the parser and the compiler pass
    /// errors up through deep recursion: a small `Result` keeps their stack frames small.
    #[cold]
    pub(super) fn syntax(src: &str, pos: usize, kind: ExprErrorKind) -> Box<ExprError> {
        Box::new(ExprError { kind, expression: src.to_string(), span: Some((pos, pos)) })
    }
}

/// An evaluation failure, not yet placed in its source. Boxed so that `Result<Value, Fault>` stays
/// two words.
#[derive(Debug)]
pub(super) struct FaultInner {
    kind: ExprErrorKind,
    at: Option<Span>,
}
pub(super) type Fault = Box<FaultInner>;

impl FaultInner {
    pub(super) fn kind(&self) -> &ExprErrorKind {
        &self.kind
    }
}
pub(super) type ValueOrFault = Result<Value, Fault>;

#[cold]
#[inline(never)]
pub(super) fn fault(kind: ExprErrorKind) -> Fault {
    Box::new(FaultInner { kind, at: None })
}

/// Attach the span of the failing operation, unless a deeper one is already attached.
#[cold]
#[inline(never)]
pub(super) fn at(mut f: Fault, span: Span) -> Fault {
    if f.at.is_none() {
        f.at = Some(span);
    }
    f
}

#[cold]
#[inline(never)]
pub(super) fn overflow(overflow: Overflow) -> Fault {
    fault(ExprErrorKind::IntegerOverflow(overflow))
}

#[cold]
#[inline(never)]
pub(super) fn missing_slot(slot: u32, given: usize) -> Fault {
    fault(ExprErrorKind::MissingSlot { slot, given })
}

/// The fault as an error of the expression `src`.
#[cold]
#[inline(never)]
pub(super) fn describe(src: &str, fault: FaultInner) -> ExprError {
    let FaultInner { kind, at } = fault;
    ExprError { kind, expression: src.to_string(), span: at.map(|(s, e)| (s as usize, e as usize)) }
}
