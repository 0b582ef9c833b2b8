//! Typed access to a layer's attributes (the keys of its entry in a model file).
//!
//! Every getter marks its key as used; `finish` rejects keys no getter asked for, so a typo such
//! as `kernal_size` is an error that names the key instead of a silently ignored default.

use crate::error::{Error, ErrorKind};
use serde_json::{Map, Value};
use std::cell::RefCell;

/// Keys that belong to the graph, not to any op.
pub const GRAPH_KEYS: &[&str] = &["name", "op", "inputs", "holds", "trainable", "comment"];

pub struct Attrs<'a> {
    map: &'a Map<String, Value>,
    used: RefCell<Vec<&'a str>>,
}

/// An integer or a tuple of integers, or one of the padding words.
#[derive(Debug, Clone, PartialEq)]
pub enum Padding {
    Same,
    Valid,
    Explicit(Vec<u64>),
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a float",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table",
    }
}

impl<'a> Attrs<'a> {
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Attrs { map, used: RefCell::new(Vec::new()) }
    }

    /// The layer's entry as written (graph keys included).
    pub fn map(&self) -> &'a Map<String, Value> {
        self.map
    }

    fn get(&self, key: &'a str) -> Option<&'a Value> {
        self.used.borrow_mut().push(key);
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// The raw value (for attributes with their own grammar).
    pub fn raw(&self, key: &'a str) -> Option<&'a Value> {
        self.get(key)
    }

    pub fn has(&self, key: &'a str) -> bool {
        self.map.get(key).is_some_and(|v| !v.is_null())
    }

    pub fn int(&self, key: &'a str) -> Result<Option<i64>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => as_int(key, v).map(Some),
        }
    }

    pub fn uint(&self, key: &'a str) -> Result<Option<u64>, Error> {
        match self.int(key)? {
            None => Ok(None),
            Some(i) if i < 0 => Err(Error::bad_value(key, i, "must not be negative")),
            Some(i) => Ok(Some(i as u64)),
        }
    }

    /// A strictly positive integer.
    pub fn positive(&self, key: &'a str) -> Result<Option<u64>, Error> {
        match self.uint(key)? {
            Some(0) => Err(Error::bad_value(key, 0, "must be at least 1")),
            other => Ok(other),
        }
    }

    pub fn require_positive(&self, key: &'a str) -> Result<u64, Error> {
        self.positive(key)?.ok_or_else(|| Error::missing(key))
    }

    pub fn float(&self, key: &'a str) -> Result<Option<f64>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(v) => Err(Error::bad_kind(key, "must be a number", kind(v))),
        }
    }

    pub fn bool(&self, key: &'a str, default: bool) -> Result<bool, Error> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(Error::bad_kind(key, "must be true or false", kind(v))),
        }
    }

    pub fn string(&self, key: &'a str) -> Result<Option<&'a str>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(v) => Err(Error::bad_kind(key, "must be a string", kind(v))),
        }
    }

    /// A string restricted to `choices`.
    pub fn choice(&self, key: &'a str, choices: &[&str], default: &'a str) -> Result<&'a str, Error> {
        let s = self.string(key)?.unwrap_or(default);
        if choices.contains(&s) {
            Ok(s)
        } else {
            Err(Error::bad_value(key, format!("'{s}'"), format!("is not one of {}", choices.join(", "))))
        }
    }

    /// An int (repeated `n` times) or a list of exactly `n` ints, each >= `min`, like PyTorch's
    /// `_pair`/`_triple`.
    pub fn ntuple(&self, key: &'a str, n: usize, min: u64) -> Result<Option<Vec<u64>>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => ntuple(key, v, n, min).map(Some),
        }
    }

    /// Attribute `key` as a list of ints (a bare int is a one-element list).
    pub fn int_list(&self, key: &'a str) -> Result<Option<Vec<i64>>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items.iter().map(|v| as_int(key, v)).collect::<Result<Vec<_>, _>>().map(Some),
            Some(v) => Ok(Some(vec![as_int(key, v)?])),
        }
    }

    /// Conv-style padding: an int, a tuple, or 'same' / 'valid'.
    pub fn padding(&self, key: &'a str, n: usize, allow_words: bool) -> Result<Padding, Error> {
        match self.get(key) {
            None => Ok(Padding::Explicit(vec![0; n])),
            Some(Value::String(s)) if allow_words && s == "same" => Ok(Padding::Same),
            Some(Value::String(s)) if allow_words && s == "valid" => Ok(Padding::Valid),
            Some(Value::String(s)) => Err(Error::bad_value(
                key,
                format!("'{s}'"),
                if allow_words {
                    format!("must be an int, a list of {n} ints, 'same' or 'valid'")
                } else {
                    format!("must be an int or a list of {n} ints (this op has no 'same'/'valid')")
                },
            )),
            Some(v) => ntuple(key, v, n, 0).map(Padding::Explicit),
        }
    }

    /// Keys of the layer that no getter asked for (and that do not belong to the graph), in
    /// file order. After a complete parse these are the unknown attributes.
    pub fn unknown_keys(&self) -> Vec<&'a str> {
        let used = self.used.borrow();
        self.map.keys().map(String::as_str).filter(|key| !used.contains(key) && !GRAPH_KEYS.contains(key)).collect()
    }

    /// Reject attributes that no getter asked for.
    pub fn finish(&self, op: &str) -> Result<(), Error> {
        if let Some(key) = self.unknown_keys().first() {
            let used = self.used.borrow();
            let mut known: Vec<String> = used.iter().map(|k| k.to_string()).collect();
            known.sort_unstable();
            known.dedup();
            return Err(ErrorKind::UnknownAttribute { name: key.to_string(), op: op.to_string(), known }.into());
        }
        Ok(())
    }
}

/// Largest integer accepted from a float (2^53 and beyond are not all exact in an f64).
const MAX_EXACT_FLOAT_INT: f64 = 9.0e15;
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

fn as_int(key: &str, v: &Value) -> Result<i64, Error> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i)
            } else if let Some(u) = n.as_u64() {
                // serde_json keeps 2^63 ..= 2^64−1 as u64: name the number exactly as given.
                Err(Error::bad_value(key, u, format!("is too large (at most {})", i64::MAX)))
            } else if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && f.abs() < MAX_EXACT_FLOAT_INT {
                    Ok(f as i64)
                } else if f.fract() == 0.0 && f >= TWO_POW_63 {
                    // An integer beyond u64 arrives as an f64; `n` prints it as serde_json read
                    // it (e.g. 1e+20), not as the rounded i64 it would silently become.
                    Err(Error::bad_value(key, n, format!("is too large (at most {})", i64::MAX)))
                } else if f.fract() == 0.0 && f < -TWO_POW_63 {
                    Err(Error::bad_value(key, n, format!("is too small (at least {})", i64::MIN)))
                } else if f.fract() == 0.0 {
                    Err(Error::bad_value(key, n, "is a float too large to be an exact integer (write it as an integer)"))
                } else {
                    Err(Error::bad_kind(key, "must be an integer", n))
                }
            } else {
                Err(Error::new(ErrorKind::BadAttribute {
                    name: key.to_string(),
                    value: None,
                    expected: "is out of range".into(),
                    got: None,
                }))
            }
        }
        other => Err(Error::bad_kind(key, "must be an integer", kind(other))),
    }
}

fn ntuple(key: &str, v: &Value, n: usize, min: u64) -> Result<Vec<u64>, Error> {
    let vals: Vec<i64> = match v {
        Value::Array(items) => {
            if items.len() != n {
                return Err(Error::bad_kind(key, format!("needs 1 or {n} values"), items.len()));
            }
            items.iter().map(|x| as_int(key, x)).collect::<Result<_, _>>()?
        }
        other => vec![as_int(key, other)?; n],
    };
    vals.into_iter()
        .map(|x| if x < min as i64 { Err(Error::bad_value(key, x, format!("must be at least {min}"))) } else { Ok(x as u64) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with<T>(v: Value, f: impl FnOnce(&Attrs) -> T) -> T {
        let m = v.as_object().unwrap().clone();
        let a = Attrs::new(&m);
        f(&a)
    }

    #[test]
    fn ntuple_broadcasts_ints() {
        with(json!({"k": 3}), |a| assert_eq!(a.ntuple("k", 2, 1).unwrap(), Some(vec![3, 3])));
        with(json!({"k": [3, 5]}), |a| assert_eq!(a.ntuple("k", 2, 1).unwrap(), Some(vec![3, 5])));
        with(json!({"k": [3, 5, 7]}), |a| assert!(a.ntuple("k", 2, 1).is_err()));
        with(json!({"k": 0}), |a| assert!(a.ntuple("k", 2, 1).is_err()));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        with(json!({"op": "conv2d", "kernal_size": 3}), |a| {
            let _ = a.int("kernel_size");
            let e = a.finish("conv2d").unwrap_err();
            assert!(e.to_string().contains("kernal_size"), "{e}");
        });
    }

    #[test]
    fn integers_beyond_i64_name_the_number() {
        // 2^63 = 9223372036854775808 does not fit an i64; serde_json keeps it as a u64, so the
        // message can show it exactly (an f64 rendering would read 9223372036854776000).
        let v: Value = serde_json::from_str(r#"{"out_features": 9223372036854775808}"#).unwrap();
        with(v, |a| {
            let e = a.int("out_features").unwrap_err();
            assert_eq!(e.to_string(), "out_features=9223372036854775808 is too large (at most 9223372036854775807)");
        });
        // u64::MAX too.
        let v: Value = serde_json::from_str(r#"{"k": 18446744073709551615}"#).unwrap();
        with(v, |a| {
            let e = a.positive("k").unwrap_err();
            assert!(e.to_string().contains("k=18446744073709551615 is too large"), "{e}");
        });
        // Beyond u64 serde_json reads an f64: still "too large", never "must be an integer".
        let v: Value = serde_json::from_str(r#"{"k": 18446744073709551616}"#).unwrap();
        with(v, |a| {
            let e = a.int("k").unwrap_err();
            assert!(e.to_string().starts_with("k=1.8446744073709552e+19 is too large"), "{e}");
        });
        let v: Value = serde_json::from_str(r#"{"k": -1e20}"#).unwrap();
        with(v, |a| {
            let e = a.int("k").unwrap_err();
            assert!(e.to_string().starts_with("k=-1e+20 is too small"), "{e}");
        });
        // i64::MAX itself is fine; a fractional float is still "must be an integer".
        with(json!({"k": i64::MAX}), |a| assert_eq!(a.int("k").unwrap(), Some(i64::MAX)));
        with(json!({"k": 2.5}), |a| assert_eq!(a.int("k").unwrap_err().to_string(), "k must be an integer, got 2.5"));
        with(json!({"k": 3.0}), |a| assert_eq!(a.int("k").unwrap(), Some(3)));
    }

    #[test]
    fn unknown_keys_in_file_order() {
        with(json!({"name": "c", "op": "conv2d", "kernal_size": 3, "out_channels": 8, "stirde": 2}), |a| {
            let _ = a.int("out_channels");
            assert_eq!(a.unknown_keys(), vec!["kernal_size", "stirde"]);
        });
    }

    #[test]
    fn padding_words() {
        with(json!({"padding": "same"}), |a| assert_eq!(a.padding("padding", 2, true).unwrap(), Padding::Same));
        with(json!({"padding": "same"}), |a| assert!(a.padding("padding", 2, false).is_err()));
        with(json!({"padding": [1, 2]}), |a| assert_eq!(a.padding("padding", 2, true).unwrap(), Padding::Explicit(vec![1, 2])));
    }
}
