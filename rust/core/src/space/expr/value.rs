//! What an expression computes ([`Value`]) and what its names stand for ([`Binding`]).

use std::fmt;

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
