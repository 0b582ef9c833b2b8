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

impl CompiledAttr {
    pub(super) fn compile(t: &AttrTpl, resolve: &dyn Fn(&str) -> Option<Binding>, what: &str) -> Result<CompiledAttr, Error> {
        Ok(match t {
            AttrTpl::Const(v) => CompiledAttr::Const(v.clone()),
            AttrTpl::Expr(e) => {
                let c = e.try_compile(resolve).map_err(|m| Error::expression(what, m))?;
                match c.as_const() {
                    Some(v) => CompiledAttr::Const(value_to_json(v)),
                    None => CompiledAttr::Expr(c),
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

    /// The concrete JSON value for one variant.
    pub fn eval(&self, slots: &[Value]) -> Result<Json, Error> {
        Ok(match self {
            CompiledAttr::Const(v) => v.clone(),
            CompiledAttr::Expr(c) => value_to_json(c.try_eval(slots).map_err(|e| Error::expression("", e))?),
            CompiledAttr::List(items) => Json::Array(items.iter().map(|i| i.eval(slots)).collect::<Result<_, _>>()?),
        })
    }
}

/// Build an op from evaluated attributes.
pub fn build_op(op: &str, attrs: &[(String, CompiledAttr)], slots: &[Value]) -> Result<Box<dyn Op>, Error> {
    let mut map = Map::new();
    for (k, a) in attrs {
        map.insert(k.clone(), a.eval(slots)?);
    }
    ops::from_attrs(op, &Attrs::new(&map))
}
