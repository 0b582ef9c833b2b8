//! Tokens, the lexer, and number literals with their units.

use super::error::{ExprError, ExprErrorKind};
use super::value::Value;

/// Unit suffixes for number literals.
pub(super) const UNITS: &[(&str, u64)] = &[
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
    "None", "lambda", "in", "is", "import", "def", "return", "for", "while", "class", "del", "global", "nonlocal", "yield", "await",
    "async", "with", "as", "from", "pass", "break", "continue", "try", "except", "finally", "raise", "assert", "elif",
];

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
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
    /// A string literal's text, without the quotes.
    Str(String),
    Eof,
}

/// A number literal, kept as decimal digits so unit products can be computed exactly.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct NumLit {
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
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) start: usize,
    pub(super) end: usize,
}

pub(super) fn lex(src: &str) -> Result<Vec<Token>, Box<ExprError>> {
    let b = src.as_bytes();
    let n = b.len();
    let err = |pos: usize, kind: ExprErrorKind| ExprError::syntax(src, pos, kind);
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
                w if RESERVED.contains(&w) => return Err(err(start, ExprErrorKind::UnsupportedKeyword { word: w.to_string() })),
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
            (b'=', _) => return Err(err(i, ExprErrorKind::Assignment)),
            (b'!' | b'&' | b'|' | b'^', _) => return Err(err(i, ExprErrorKind::ForeignOperator { found: c as char })),
            (b'\'', _) | (b'"', _) => {
                // a string literal: no escapes; interned when parsed
                let close = src[i + 1..].find(c as char).ok_or_else(|| err(i, ExprErrorKind::UnterminatedString { quote: c as char }))?;
                let end = i + 1 + close + 1;
                out.push(Token { tok: Tok::Str(src[i + 1..end - 1].to_string()), start, end });
                i = end;
                continue;
            }
            (b'.', _) => return Err(err(i, ExprErrorKind::AttributeAccess)),
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(err(i, ExprErrorKind::UnexpectedCharacter { found: ch }));
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
fn lex_number(src: &str, mut i: usize) -> Result<(NumLit, usize), Box<ExprError>> {
    let b = src.as_bytes();
    let n = b.len();
    let start = i;
    let err = |pos: usize, kind: ExprErrorKind| ExprError::syntax(src, pos, kind);
    // Digits with single underscores between them.
    let run = |mut i: usize, into: &mut String| -> Result<usize, Box<ExprError>> {
        let first = i;
        while i < n && (b[i].is_ascii_digit() || b[i] == b'_') {
            if b[i] == b'_' {
                let ok = i > first && b[i - 1].is_ascii_digit() && i + 1 < n && b[i + 1].is_ascii_digit();
                if !ok {
                    return Err(err(i, ExprErrorKind::MisplacedUnderscore));
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
        return Err(err(start, ExprErrorKind::LeadingZeros));
    }
    let text =
        format!("{}.{}e{}", if int_part.is_empty() { "0" } else { &int_part }, if frac_part.is_empty() { "0" } else { &frac_part }, exp);
    let exp10 = exp - frac_part.len() as i64;
    let digits = int_part + &frac_part;
    Ok((NumLit { digits, exp10, is_float, text }, i))
}

/// The value of a number literal, optionally multiplied by a unit.
pub(super) fn number_value(lit: &NumLit, unit: Option<u64>) -> Result<Value, ExprErrorKind> {
    if !lit.is_float {
        let v: i64 = lit.digits.parse().map_err(|_| ExprErrorKind::IntegerLiteralTooLarge { digits: lit.digits.clone() })?;
        return match unit {
            None => Ok(Value::Int(v)),
            Some(u) => v.checked_mul(u as i64).map(Value::Int).ok_or(ExprErrorKind::UnitProductTooLarge { value: v, unit: u }),
        };
    }
    let f: f64 = lit.text.parse().map_err(|_| ExprErrorKind::InvalidNumber { text: lit.text.clone() })?;
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
