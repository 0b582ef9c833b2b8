//! What an expression computes ([`Value`]) and what its names stand for ([`Binding`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::{OnceLock, RwLock};

/// A value: an integer, a float, a bool or a string. In arithmetic a bool counts as 0 or 1 (as
/// in Python); a string only compares (`==`, `!=`, and with another string `<`, `>`, ...).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    /// An interned string: evaluation compares symbols, never characters.
    Str(Symbol),
}

/// A string interned in the process-wide symbol table: a `u32`, so [`Value`] stays `Copy` and
/// evaluation never touches text. Equal strings are equal symbols. Symbol 0 is the empty string.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Symbol(u32);

#[derive(Default)]
struct SymbolTable {
    ids: HashMap<&'static str, u32>,
    texts: Vec<&'static str>,
}

fn symbol_table() -> &'static RwLock<SymbolTable> {
    static TABLE: OnceLock<RwLock<SymbolTable>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = SymbolTable::default();
        table.ids.insert("", 0);
        table.texts.push("");
        RwLock::new(table)
    })
}

impl Symbol {
    /// The symbol of `text`. Texts are kept for the life of the process: the strings of space
    /// specs and expressions, a bounded set.
    pub fn intern(text: &str) -> Symbol {
        if let Some(&id) = symbol_table().read().unwrap_or_else(|e| e.into_inner()).ids.get(text) {
            return Symbol(id);
        }
        let mut table = symbol_table().write().unwrap_or_else(|e| e.into_inner());
        if let Some(&id) = table.ids.get(text) {
            return Symbol(id);
        }
        let id = u32::try_from(table.texts.len()).expect("fewer than 2^32 distinct strings");
        let leaked: &'static str = Box::leak(text.to_owned().into_boxed_str());
        table.ids.insert(leaked, id);
        table.texts.push(leaked);
        Symbol(id)
    }

    /// The symbol with this number (as [`Symbol::id`] gave it).
    pub(crate) fn from_id(id: u32) -> Symbol {
        Symbol(id)
    }

    pub fn id(self) -> u32 {
        self.0
    }

    pub fn as_str(self) -> &'static str {
        symbol_table().read().unwrap_or_else(|e| e.into_inner()).texts.get(self.0 as usize).copied().unwrap_or("")
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl Value {
    /// The string value of `text` (interned).
    pub fn str(text: &str) -> Value {
        Value::Str(Symbol::intern(text))
    }
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
            Value::Str(s) => Err(format!("expected an integer, got the string '{}'", s.as_str())),
        }
    }

    /// The value as a float (a bool is 0.0 or 1.0; a string is NaN).
    pub fn as_f64(&self) -> f64 {
        match *self {
            Value::Int(i) => i as f64,
            Value::Float(f) => f,
            Value::Bool(b) => b as i64 as f64,
            Value::Str(_) => f64::NAN,
        }
    }

    /// Python truthiness: false, 0, 0.0 and "" are false; everything else (NaN too) is true.
    pub fn truthy(&self) -> bool {
        match *self {
            Value::Int(i) => i != 0,
            Value::Float(f) => f != 0.0,
            Value::Bool(b) => b,
            Value::Str(s) => s.0 != 0,
        }
    }

    /// `"int"`, `"float"`, `"bool"` or `"str"`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Bool(_) => "bool",
            Value::Str(_) => "str",
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

/// `3`, `3.0`, `0.1`, `1e16`, `inf`, `nan`, `true`; a string as its text (`nor_conv_3x3`).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Float(x) if x.is_nan() => write!(f, "nan"),
            Value::Float(x) if x.is_infinite() => write!(f, "{}", if x > 0.0 { "inf" } else { "-inf" }),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Str(s) => f.write_str(s.as_str()),
        }
    }
}

/// 2^63: floats in `-TWO_63..TWO_63` convert to an `i64` exactly (after truncation).
pub(super) const TWO_63: f64 = 9_223_372_036_854_775_808.0;

/// What a name in an expression stands for, as told to [`Expr::compile`](super::Expr::compile).
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
