//! The search-space file: a model whose attribute values may be expressions over space
//! variables, with repeat blocks, conditions, derived variables and constraints.
//!
//! ```yaml
//! name: vgg
//! input: [3, "=res", "=res"]
//! variables:
//!   res: [160, 192, 224]                                  # a choice list
//!   width: {per_stage: 5, choices: [16, 32, 64, 128]}    # width[0] .. width[4]
//!   fc: {range: [256, 4096], step: 256}                   # 256, 512, ..., 4096
//!   depth: {per_stage: 5, choices: [2, 3, 4]}
//!   kernel: {per_stage: [5, 4], index: [s, j], choices: [3, 5], when: "j < depth[s]"}
//! derived:
//!   fc_half: "fc // 2"
//! constraints: ["width[4] >= width[0]"]
//! layers:
//!   - name: "stage{s+1}"          # a block: has `layers`
//!     repeat: 5
//!     index: s
//!     layers:
//!       - {op: conv2d, out_channels: "=width[s]", kernel_size: 3, padding: 1}
//!       - {op: maxpool2d, kernel_size: 2, when: "=res > 64"}
//! ```
//! A string starting with `=` is an expression; names and `inputs` may hold `{expr}` of loop
//! indices. Choices may be strings; `op` may be an expression naming an op or one of the
//! spec's `subgraphs` (named lists of layers), see docs/nas-spaces.md.
//!
//! `per_stage: [5, 4]` declares 20 variables `kernel_0` .. `kernel_19`, row-major (`kernel_{4s+j}`),
//! read as `kernel[4 * s + j]`; `index` names the positions for `when`. A variable with `when`
//! exists only in the variants where its condition holds (see `networks.rs`).

use super::expr::{self, Expr};
use crate::error::{Error, ErrorKind, Limited};
use serde_json::{Map, Value};

/// One primary variable as declared (per-stage variables expand to several primaries).
pub struct VarSpec {
    pub name: String,
    /// One choice list, or one per stage for per-stage variables.
    pub choices: Vec<Vec<expr::Value>>,
    pub per_stage: Option<usize>,
    /// The shape of a per-stage variable (`per_stage: [5, 4]`; `[n]` for `per_stage: n`).
    pub dims: Vec<usize>,
    /// Names of the positions along `dims`, visible to `when`.
    pub index: Vec<String>,
    /// The condition under which the variable (each of its stages) exists.
    pub when: Option<Expr>,
}

/// Most variables one per-stage declaration may expand to.
const MAX_STAGES: usize = 4096;

/// An attribute value: a JSON constant, an expression, or a list mixing both.
#[derive(Clone)]
pub enum AttrTpl {
    Const(Value),
    Expr(Expr),
    List(Vec<AttrTpl>),
}

pub struct LayerTpl {
    pub name: Option<String>,
    /// The op's name, or an expression's source (`=edge[k]`) when `op_expr` is set.
    pub op: String,
    /// `op = "=expr"`: the op (or sub-graph, see [`Spec::subgraphs`]) chosen per variant.
    pub op_expr: Option<Expr>,
    pub inputs: Option<Vec<String>>,
    pub when: Option<Expr>,
    pub trainable: Option<bool>,
    /// `drop_off_inputs = true`: an input that is a switched-off layer in a variant is not an
    /// input of this layer in that variant (see docs/nas-spaces.md).
    pub drop_off_inputs: bool,
    /// `holds`: earlier layers whose values the layer's eager forward keeps referenced until it
    /// returns (docs/memory.md, "Eager peak"); resolved like `inputs`.
    pub holds: Option<Vec<String>>,
    pub attrs: Vec<(String, AttrTpl)>,
}

pub enum Count {
    Fixed(u64),
    Expr(Expr),
}

pub struct BlockTpl {
    pub name: Option<String>,
    pub repeat: Count,
    pub index: Option<String>,
    pub when: Option<Expr>,
    /// `let = { mid = "=make_divisible(width[s] * e, 8)" }`: named expressions visible to the
    /// block's layers, in order (each sees the loop indices and the ones before it).
    pub lets: Vec<(String, Expr)>,
    pub items: Vec<Item>,
}

pub enum Item {
    Layer(LayerTpl),
    Block(BlockTpl),
}

pub struct Spec {
    pub name: String,
    pub input: Vec<AttrTpl>,
    pub variables: Vec<VarSpec>,
    pub derived: Vec<(String, Expr)>,
    pub constraints: Vec<Expr>,
    pub items: Vec<Item>,
    /// Named lists of layers that a layer's `op` may name instead of an op: the layer then
    /// stands for the whole sub-graph (NAS-Bench-201's `nor_conv_3x3` = ReLU → Conv → BN).
    pub subgraphs: Vec<(String, Vec<Item>)>,
}

pub const BLOCK_INPUT: &str = "block_input";
/// The most values a range variable may have.
const RANGE_LIMIT: u64 = 1_000_000;

fn is_expr_str(s: &str) -> bool {
    s.starts_with('=')
}

fn parse_expr(src: &str, what: &str) -> Result<Expr, Error> {
    let body = src.strip_prefix('=').unwrap_or(src);
    expr::try_parse(body).map_err(|e| Error::expression(what, e))
}

fn attr_tpl(v: &Value, what: &str) -> Result<AttrTpl, Error> {
    Ok(match v {
        Value::String(s) if is_expr_str(s) => AttrTpl::Expr(parse_expr(s, what)?),
        Value::Array(items) if items.iter().any(|x| matches!(x, Value::String(s) if is_expr_str(s))) => {
            AttrTpl::List(items.iter().map(|x| attr_tpl(x, what)).collect::<Result<_, _>>()?)
        }
        other => AttrTpl::Const(other.clone()),
    })
}

fn scalar(v: &Value, what: &str) -> Result<expr::Value, Error> {
    match v {
        Value::Bool(b) => Ok(expr::Value::Bool(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(expr::Value::Int(i)),
            None => Ok(expr::Value::Float(n.as_f64().ok_or_else(|| Error::spec(format!("{what}: {n} is out of range")))?)),
        },
        Value::String(text) => Ok(expr::Value::str(text)),
        other => Err(Error::spec(format!("{what}: choices must be numbers, booleans or strings, got {other}"))),
    }
}

fn choice_list(v: &Value, what: &str) -> Result<Vec<expr::Value>, Error> {
    let items = v.as_array().ok_or_else(|| Error::spec(format!("{what}: choices must be a list")))?;
    if items.is_empty() {
        return Err(Error::spec(format!("{what}: the choice list is empty")));
    }
    items.iter().map(|x| scalar(x, what)).collect()
}

fn range_list(v: &Value, step: Option<&Value>, what: &str) -> Result<Vec<expr::Value>, Error> {
    let bounds =
        v.as_array().filter(|a| a.len() == 2).ok_or_else(|| Error::spec(format!("{what}: range must be [low, high] (inclusive)")))?;
    let lo = bounds[0].as_i64().ok_or_else(|| Error::spec(format!("{what}: range bounds must be integers")))?;
    let hi = bounds[1].as_i64().ok_or_else(|| Error::spec(format!("{what}: range bounds must be integers")))?;
    let step = match step {
        None => 1,
        Some(s) => s.as_i64().filter(|&s| s > 0).ok_or_else(|| Error::spec(format!("{what}: step must be a positive integer")))?,
    };
    if hi < lo {
        return Err(Error::spec(format!("{what}: range [{lo}, {hi}] is empty")));
    }
    let n = (hi - lo) / step + 1;
    if n > RANGE_LIMIT as i64 {
        let limited = Limited::RangeValues { low: lo, high: hi, step };
        return Err(Error::new(ErrorKind::Limit { context: what.to_string(), what: limited, limit: RANGE_LIMIT, got: n as u64 }));
    }
    Ok((0..n).map(|k| expr::Value::Int(lo + k * step)).collect())
}

fn parse_dims(p: &Value, what: &str) -> Result<Vec<usize>, Error> {
    let bad = || Error::spec(format!("{what}: per_stage must be an integer from 1 to 64, or a list of them (per_stage = [5, 4])"));
    let dim = |v: &Value| v.as_u64().filter(|p| (1..=64).contains(p)).map(|p| p as usize).ok_or_else(bad);
    let dims = match p {
        Value::Array(items) if !items.is_empty() => items.iter().map(dim).collect::<Result<Vec<_>, _>>()?,
        other => vec![dim(other)?],
    };
    let total: usize = dims.iter().product();
    if total > MAX_STAGES {
        return Err(Error::spec(format!("{what}: per_stage {dims:?} declares {total} variables; at most {MAX_STAGES}")));
    }
    Ok(dims)
}

fn parse_index(v: &Value, dims: usize, what: &str) -> Result<Vec<String>, Error> {
    let names: Vec<String> = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().map(|x| x.as_str().map(str::to_string)).collect::<Option<_>>().unwrap_or_default(),
        _ => Vec::new(),
    };
    let ident = |n: &String| {
        n.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if names.len() != dims || !names.iter().all(ident) {
        return Err(Error::spec(format!(
            "{what}: index must name each of the {dims} per_stage dimension(s), e.g. index = [\"s\", \"j\"] for per_stage = [5, 4]; got {v}"
        )));
    }
    Ok(names)
}

fn parse_variable(name: &str, v: &Value) -> Result<VarSpec, Error> {
    let what = format!("variable '{name}'");
    if !name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(Error::spec(format!("{what}: a variable name must be an identifier")));
    }
    let plain = |choices| VarSpec { name: name.into(), choices, per_stage: None, dims: Vec::new(), index: Vec::new(), when: None };
    match v {
        Value::Array(_) => Ok(plain(vec![choice_list(v, &what)?])),
        Value::Object(m) => {
            for k in m.keys() {
                if !["choices", "range", "step", "per_stage", "index", "when"].contains(&k.as_str()) {
                    return Err(Error::spec(format!("{what}: unknown key '{k}' (expected choices, range, step, per_stage, index, when)")));
                }
            }
            let dims = match m.get("per_stage") {
                None => Vec::new(),
                Some(p) => parse_dims(p, &what)?,
            };
            let per_stage = (!dims.is_empty()).then(|| dims.iter().product::<usize>());
            let index = match m.get("index") {
                None => Vec::new(),
                Some(_) if dims.is_empty() => {
                    return Err(Error::spec(format!(
                        "{what}: index names the positions of a per_stage variable; this one has no per_stage"
                    )))
                }
                Some(i) => parse_index(i, dims.len(), &what)?,
            };
            let when = match m.get("when") {
                None => None,
                Some(Value::String(s)) => Some(parse_expr(s, &format!("{what} when"))?),
                Some(other) => return Err(Error::spec(format!("{what}: when must be an expression string, got {other}"))),
            };
            let base: Vec<Vec<expr::Value>> = match (m.get("choices"), m.get("range")) {
                (Some(_), Some(_)) => return Err(Error::spec(format!("{what}: give choices or range, not both"))),
                (None, None) => return Err(Error::spec(format!("{what}: needs choices or range"))),
                (Some(Value::Array(items)), None) if per_stage.is_some() && !items.is_empty() && items.iter().all(Value::is_array) => {
                    // one choice list per stage
                    let lists: Vec<Vec<expr::Value>> =
                        items.iter().enumerate().map(|(i, l)| choice_list(l, &format!("{what}[{i}]"))).collect::<Result<_, _>>()?;
                    if lists.len() != per_stage.unwrap() {
                        return Err(Error::spec(format!(
                            "{what}: {} per-stage choice lists for per_stage = {}",
                            lists.len(),
                            per_stage.unwrap()
                        )));
                    }
                    lists
                }
                (Some(c), None) => vec![choice_list(c, &what)?],
                (None, Some(r)) => vec![range_list(r, m.get("step"), &what)?],
            };
            let choices = match per_stage {
                Some(n) if base.len() == 1 => vec![base[0].clone(); n],
                _ => base,
            };
            Ok(VarSpec { name: name.into(), choices, per_stage, dims, index, when })
        }
        other => Err(Error::spec(format!("{what}: expected a choice list or a table with choices/range, got {other}"))),
    }
}

fn parse_items(v: &Value, path: &str) -> Result<Vec<Item>, Error> {
    let items = v.as_array().ok_or_else(|| Error::spec(format!("{path}: 'layers' must be a list")))?;
    items.iter().enumerate().map(|(i, it)| parse_item(it, &format!("{path}[{i}]"))).collect()
}

fn opt_expr(m: &Map<String, Value>, key: &str, what: &str) -> Result<Option<Expr>, Error> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(parse_expr(s, &format!("{what} {key}"))?)),
        Some(Value::Bool(b)) => Ok(Some(expr::try_parse(if *b { "true" } else { "false" }).map_err(|e| Error::expression(what, e))?)),
        Some(other) => Err(Error::spec(format!("{what}: {key} must be an expression string, got {other}"))),
    }
}

fn parse_item(v: &Value, path: &str) -> Result<Item, Error> {
    let m = v.as_object().ok_or_else(|| Error::spec(format!("{path}: a layer or block must be a table")))?;
    let name = match m.get("name") {
        None => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(other) => return Err(Error::spec(format!("{path}: name must be a non-empty string, got {other}"))),
    };
    let what = name.clone().unwrap_or_else(|| path.to_string());
    match (m.get("layers"), m.get("op")) {
        (Some(_), Some(_)) => Err(Error::spec(format!("{what}: an entry is either a layer (op) or a block (layers), not both"))),
        (None, None) => Err(Error::spec(format!("{what}: missing 'op' (a layer) or 'layers' (a block)"))),
        (Some(layers), None) => {
            for k in m.keys() {
                if !["name", "repeat", "index", "when", "let", "layers"].contains(&k.as_str()) {
                    return Err(Error::spec(format!("{what}: unknown block key '{k}' (expected name, repeat, index, when, let, layers)")));
                }
            }
            let repeat = match m.get("repeat") {
                None => Count::Fixed(1),
                Some(Value::Number(n)) => match n.as_i64() {
                    Some(c) if c >= 0 => Count::Fixed(c as u64),
                    _ => return Err(Error::spec(format!("{what}: repeat count {n} must be a non-negative integer"))),
                },
                Some(Value::String(s)) => Count::Expr(parse_expr(s, &format!("{what} repeat"))?),
                Some(other) => return Err(Error::spec(format!("{what}: repeat must be an integer or an expression, got {other}"))),
            };
            let index = match m.get("index") {
                None => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => return Err(Error::spec(format!("{what}: index must be a name, got {other}"))),
            };
            let lets = match m.get("let") {
                None => Vec::new(),
                Some(Value::Object(named)) => named
                    .iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => Ok((k.clone(), parse_expr(s, &format!("{what} let '{k}'"))?)),
                        Value::Number(n) => {
                            Ok((k.clone(), expr::try_parse(&n.to_string()).map_err(|e| Error::expression(format!("{what} let '{k}'"), e))?))
                        }
                        other => Err(Error::spec(format!("{what}: let '{k}' must be an expression string, got {other}"))),
                    })
                    .collect::<Result<_, Error>>()?,
                Some(other) => return Err(Error::spec(format!("{what}: let must be a table of name = expression, got {other}"))),
            };
            Ok(Item::Block(BlockTpl { name, repeat, index, when: opt_expr(m, "when", &what)?, lets, items: parse_items(layers, &what)? }))
        }
        (None, Some(op)) => {
            let op = op.as_str().ok_or_else(|| Error::spec(format!("{what}: op must be a string")))?.to_string();
            let op_expr = if is_expr_str(&op) { Some(parse_expr(&op, &format!("{what} op"))?) } else { None };
            let inputs = names_of(m, "inputs", &what)?;
            let trainable = match m.get("trainable") {
                None => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(_) => return Err(Error::spec(format!("{what}: trainable must be true or false"))),
            };
            let holds = names_of(m, "holds", &what)?;
            let drop_off_inputs = match m.get("drop_off_inputs") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(other) => return Err(Error::spec(format!("{what}: drop_off_inputs must be true or false, got {other}"))),
            };
            let mut attrs = Vec::new();
            for (k, val) in m {
                if ["name", "op", "inputs", "holds", "when", "trainable", "drop_off_inputs"].contains(&k.as_str()) {
                    continue;
                }
                attrs.push((k.clone(), attr_tpl(val, &format!("{what} {k}"))?));
            }
            let when = opt_expr(m, "when", &what)?;
            Ok(Item::Layer(LayerTpl { name, op, op_expr, inputs, when, trainable, drop_off_inputs, holds, attrs }))
        }
    }
}

impl Spec {
    pub fn from_value(v: &Value) -> Result<Spec, Error> {
        let m = v.as_object().ok_or_else(|| Error::spec("a space spec must be a table"))?;
        for k in m.keys() {
            if !["name", "input", "variables", "derived", "constraints", "layers", "subgraphs", "description"].contains(&k.as_str()) {
                return Err(Error::spec(format!(
                    "unknown spec key '{k}' (expected name, input, variables, derived, constraints, layers, subgraphs, description)"
                )));
            }
        }
        let name = m.get("name").and_then(Value::as_str).unwrap_or("space").to_string();
        let input = match m.get("input") {
            Some(Value::Array(dims)) if !dims.is_empty() => dims.iter().map(|d| attr_tpl(d, "input")).collect::<Result<_, _>>()?,
            _ => return Err(Error::spec("a space needs 'input': the per-sample input shape, e.g. [3, \"=res\", \"=res\"]")),
        };
        let variables = match m.get("variables") {
            None => Vec::new(),
            Some(Value::Object(vars)) => vars.iter().map(|(k, v)| parse_variable(k, v)).collect::<Result<_, _>>()?,
            Some(_) => return Err(Error::spec("'variables' must be a table of name = choices")),
        };
        let derived = match m.get("derived") {
            None => Vec::new(),
            Some(Value::Object(d)) => d
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), parse_expr(s, &format!("derived variable '{k}'"))?)),
                    Value::Number(n) => Ok((
                        k.clone(),
                        expr::try_parse(&n.to_string()).map_err(|e| Error::expression(format!("derived variable '{k}'"), e))?,
                    )),
                    other => Err(Error::spec(format!("derived variable '{k}' must be an expression string, got {other}"))),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(Error::spec("'derived' must be a table of name = expression")),
        };
        let constraints = match m.get("constraints") {
            None => Vec::new(),
            Some(Value::Array(c)) => c
                .iter()
                .map(|x| {
                    x.as_str()
                        .ok_or_else(|| Error::spec("constraints must be expression strings"))
                        .and_then(|s| parse_expr(s, "constraint"))
                })
                .collect::<Result<_, _>>()?,
            Some(Value::String(s)) => vec![parse_expr(s, "constraint")?],
            Some(_) => return Err(Error::spec("'constraints' must be a list of expressions")),
        };
        let items = parse_items(m.get("layers").ok_or_else(|| Error::spec("a space needs 'layers'"))?, "layers")?;
        if items.is_empty() {
            return Err(Error::spec("the space has no layers"));
        }
        let subgraphs = match m.get("subgraphs") {
            None => Vec::new(),
            Some(Value::Object(graphs)) => graphs
                .iter()
                .map(|(k, v)| {
                    let items = parse_items(v, &format!("subgraph '{k}'"))?;
                    if items.is_empty() {
                        return Err(Error::spec(format!("subgraph '{k}' has no layers")));
                    }
                    if crate::ops::names().any(|n| n == k) {
                        return Err(Error::spec(format!("subgraph '{k}' has the name of an op")));
                    }
                    Ok((k.clone(), items))
                })
                .collect::<Result<_, Error>>()?,
            Some(_) => return Err(Error::spec("'subgraphs' must be a table of name = list of layers")),
        };
        Ok(Spec { name, input, variables, derived, constraints, items, subgraphs })
    }
}

/// A layer's `key = "name"` or `["name", ...]` (None without the key).
fn names_of(m: &serde_json::Map<String, Value>, key: &str, what: &str) -> Result<Option<Vec<String>>, Error> {
    match m.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|x| x.as_str().map(str::to_string).ok_or_else(|| Error::spec(format!("{what}: {key} must be names"))))
            .collect::<Result<_, _>>()
            .map(Some),
        Some(other) => Err(Error::spec(format!("{what}: {key} must be a name or a non-empty list of names, got {other}"))),
    }
}
