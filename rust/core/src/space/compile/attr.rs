//! Attributes whose values are expressions: compiled once, evaluated per variant into the JSON
//! attributes an op is built from.

use super::*;

pub fn value_to_json(v: Value) -> Json {
    match v {
        Value::Int(i) => Json::from(i),
        Value::Float(f) => serde_json::Number::from_f64(f).map(Json::Number).unwrap_or(Json::Null),
        Value::Bool(b) => Json::Bool(b),
        Value::Str(s) => Json::String(s.as_str().to_string()),
    }
}

/// Why an attribute has no JSON value for a variant: its expression failed, or gave a float
/// JSON cannot hold (NaN, ±infinity: `1e300 * 1e300`), which [`value_to_json`] would make null
/// and an op would read as a missing attribute. `path` locates it in a list attribute.
enum Failure<'a> {
    Error(Error),
    NotFinite { value: f64, source: &'a str, path: Vec<usize> },
}

impl Failure<'_> {
    fn within(mut self, index: usize) -> Self {
        if let Failure::NotFinite { path, .. } = &mut self {
            path.insert(0, index);
        }
        self
    }

    /// `name[1]=inf is not a finite number in 'w * 1e300 * 1e300'`.
    #[cold]
    #[inline(never)]
    fn into_error(self, name: &str) -> Error {
        match self {
            Failure::Error(e) => e,
            Failure::NotFinite { value, source, path } => {
                let at: String = path.iter().map(|i| format!("[{i}]")).collect();
                Error::bad_value(&format!("{name}{at}"), value, format!("is not a finite number in '{source}'"))
            }
        }
    }
}

fn finite(v: Value) -> bool {
    !matches!(v, Value::Float(f) if !f.is_finite())
}

impl CompiledAttr {
    pub(super) fn compile(t: &AttrTpl, resolve: &dyn Fn(&str) -> Option<Binding>, what: &str) -> Result<CompiledAttr, Error> {
        Ok(match t {
            AttrTpl::Const(v) => CompiledAttr::Const(v.clone()),
            AttrTpl::Expr(e) => {
                let c = e.try_compile(resolve).map_err(|m| Error::expression(what, m))?;
                match c.as_const() {
                    // (a constant that is not finite stays an expression: evaluating it names it)
                    Some(v) if finite(v) => CompiledAttr::Const(value_to_json(v)),
                    _ => CompiledAttr::Expr(c),
                }
            }
            AttrTpl::List(items) => {
                let parts: Vec<CompiledAttr> = items.iter().map(|i| CompiledAttr::compile(i, resolve, what)).collect::<Result<_, _>>()?;
                if parts.iter().all(|p| matches!(p, CompiledAttr::Const(_))) {
                    CompiledAttr::Const(Json::Array(
                        parts.into_iter().map(|p| if let CompiledAttr::Const(v) = p { v } else { unreachable!() }).collect(),
                    ))
                } else {
                    CompiledAttr::List(parts)
                }
            }
        })
    }

    pub(super) fn is_const(&self) -> bool {
        matches!(self, CompiledAttr::Const(_))
    }

    pub(super) fn collect_slots(&self, out: &mut Vec<usize>) {
        match self {
            CompiledAttr::Const(_) => {}
            CompiledAttr::Expr(c) => out.extend(c.slots()),
            CompiledAttr::List(items) => items.iter().for_each(|i| i.collect_slots(out)),
        }
    }

    /// The value for one variant as a non-negative integer, if it is one (what
    /// `eval(..).as_u64()` gives, without building JSON: the input shape, every variant).
    pub fn eval_u64(&self, slots: &[Value]) -> Option<u64> {
        match self {
            CompiledAttr::Const(v) => v.as_u64(),
            CompiledAttr::Expr(c) => match c.try_eval(slots) {
                Ok(Value::Int(i)) => u64::try_from(i).ok(),
                _ => None,
            },
            CompiledAttr::List(_) => None,
        }
    }

    /// The concrete JSON value for one variant of the attribute `name` (which the error of a
    /// value JSON cannot hold names).
    pub fn eval(&self, name: &str, slots: &[Value]) -> Result<Json, Error> {
        self.try_eval(slots).map_err(|f| f.into_error(name))
    }

    fn try_eval(&self, slots: &[Value]) -> Result<Json, Failure<'_>> {
        Ok(match self {
            CompiledAttr::Const(v) => v.clone(),
            CompiledAttr::Expr(c) => {
                let v = c.try_eval(slots).map_err(|e| Failure::Error(Error::expression("", e)))?;
                if let Value::Float(value) = v {
                    if !value.is_finite() {
                        return Err(Failure::NotFinite { value, source: c.source(), path: Vec::new() });
                    }
                }
                value_to_json(v)
            }
            CompiledAttr::List(items) => {
                Json::Array(items.iter().enumerate().map(|(i, a)| a.try_eval(slots).map_err(|f| f.within(i))).collect::<Result<_, _>>()?)
            }
        })
    }
}

/// Build an op from evaluated attributes.
pub fn build_op(op: &str, attrs: &[(String, CompiledAttr)], slots: &[Value]) -> Result<Box<dyn Op>, Error> {
    ops::from_attrs(op, &Attrs::new(&eval_attrs(attrs, slots)?))
}

/// The attributes' values for these slots, in the spec's order.
pub(crate) fn eval_attrs(attrs: &[(String, CompiledAttr)], slots: &[Value]) -> Result<Map<String, Json>, Error> {
    let mut map = Map::new();
    for (k, a) in attrs {
        map.insert(k.clone(), a.eval(k, slots)?);
    }
    Ok(map)
}
