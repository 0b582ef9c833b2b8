use crate::shape::Shape;
use crate::space::expr::ExprError;
use std::fmt;

/// An error that names the layer (when there is one), its op and the broken rule with its
/// numbers, e.g. `conv5_3 (conv2d): kernel 3×3 is larger than the padded input 1×1`.
///
/// The message is derived from the kind, which carries the data; callers branch on the kind
/// (or on [`ErrorKind::code`]), never on the message text. An `Error` is one pointer, so that
/// the `Result`s of the shape rules, which run per sweep variant, fit in registers.
#[derive(Debug, Clone, PartialEq)]
pub struct Error(Box<Located>);

#[derive(Debug, Clone, PartialEq)]
struct Located {
    layer: Option<String>,
    op: Option<String>,
    kind: ErrorKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ErrorKind {
    /// A required attribute is absent. `names` holds the key, or the alternatives of which one
    /// is needed (`size or scale_factor`); `note` says what the attribute is; `unknown` names
    /// the layer's unknown keys, probably a typo of it.
    MissingAttribute {
        names: Vec<String>,
        note: Option<String>,
        unknown: Vec<String>,
    },
    /// A key no attribute getter of `op` asked for; `known` lists the ones it did ask for.
    UnknownAttribute {
        name: String,
        op: String,
        known: Vec<String>,
    },
    /// An attribute's value breaks `expected` (`kernel_size=0 must be at least 1`, `bias must
    /// be true or false, got a string`): `value` as written, when the message shows it, and
    /// what was found instead of the expected kind, `got`.
    BadAttribute {
        name: String,
        value: Option<String>,
        expected: String,
        got: Option<String>,
    },
    /// A rule that ties several attributes together, or that no single value breaks
    /// (`give either size or scale_factor, not both`).
    AttributeRule {
        detail: String,
    },
    UnknownOp {
        name: String,
        suggestions: Vec<String>,
        known: usize,
    },
    /// An option of the analysis (`dtype`, `optimizer`) has a value outside `choices`.
    UnknownOption {
        option: &'static str,
        value: String,
        choices: Vec<String>,
    },
    /// The layer reads `got` inputs; its op takes `min..=max` (`max` is `usize::MAX` when
    /// unbounded).
    Arity {
        min: usize,
        max: usize,
        got: usize,
    },
    /// The input `got` has a rank the op does not take: `expected` ranks, in the op's `layout`.
    Rank {
        expected: Vec<usize>,
        layout: &'static str,
        got: Shape,
    },
    /// A shape rule of the op is broken by its inputs, with the numbers.
    Shape {
        detail: String,
    },
    /// A count does not fit in 64 bits; `what` names the operation and its operands.
    Overflow {
        what: String,
    },
    /// The model file or graph is malformed (not a layer's attributes or shapes).
    InvalidModel {
        detail: String,
    },
    /// An expression of a space (a variable's, an attribute's, a constraint's, a repeat count's)
    /// does not parse, compile or evaluate. `context` says which one (`derived variable 'w'`,
    /// `constraint 'a < b'`); empty when the message needs none. `error` has the expression's
    /// text and the span of the failing part.
    Expression {
        context: String,
        error: ExprError,
    },
    /// The `--where` filter does not parse or compile. `names` are the columns and the variables
    /// it may read, given when it named something else.
    Filter {
        error: ExprError,
        names: Option<(Vec<String>, Vec<String>)>,
    },
    /// The space's spec is malformed: its keys, choices, names, wiring, a cycle of derived
    /// variables, a repeat count that is not a non-negative integer.
    Spec {
        detail: String,
    },
    /// The space is larger than the engine handles: `got` against `limit`, of `what`. `context`
    /// names the variable or block (empty when the message needs none).
    Limit {
        context: String,
        what: Limited,
        limit: u64,
        got: u64,
    },
    /// Variant `id` breaks the constraint `constraint` (a variant asked for by its id).
    ConstraintViolated {
        id: u128,
        constraint: String,
    },
    /// An argument of a call has a value it does not take (`batch must be at least 1`).
    InvalidArgument {
        detail: String,
    },
}

/// What an [`ErrorKind::Limit`] limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limited {
    /// The layers a space expands to.
    Layers,
    /// The values of a range variable `[low, high]` in steps of `step`.
    RangeValues { low: i64, high: i64, step: i64 },
    /// The variable combinations a repeat count `count` (its source) is evaluated for.
    RepeatCombinations { count: String },
    /// The combinations of the variables `read` that the conditions of the variables
    /// `conditional` read (each combination gets a table entry: space/networks.rs).
    ConditionCombinations { conditional: Vec<String>, read: Vec<String> },
    /// The variable combinations the conditions of a `drop_off_inputs` layer's inputs (and its
    /// own) read: each is evaluated when the spec is compiled.
    InputCombinations,
    /// One block's repeat count.
    Repeats,
    /// The repetitions of all blocks together (empty blocks included: each costs time).
    Repetitions,
    /// A layer's or block's name, block prefixes included, in bytes (`name` is its start).
    NameLength { name: String },
}

impl ErrorKind {
    /// A stable, machine-readable name of the kind (the Python exception's `kind`).
    pub fn code(&self) -> &'static str {
        match self {
            ErrorKind::MissingAttribute { .. } => "missing_attribute",
            ErrorKind::UnknownAttribute { .. } => "unknown_attribute",
            ErrorKind::BadAttribute { .. } | ErrorKind::AttributeRule { .. } => "bad_attribute",
            ErrorKind::UnknownOp { .. } => "unknown_op",
            ErrorKind::UnknownOption { .. } => "unknown_option",
            ErrorKind::Arity { .. } => "arity",
            ErrorKind::Rank { .. } | ErrorKind::Shape { .. } => "shape",
            ErrorKind::Overflow { .. } => "overflow",
            ErrorKind::InvalidModel { .. } => "invalid_model",
            ErrorKind::Expression { .. } => "expression",
            ErrorKind::Filter { .. } => "filter",
            ErrorKind::Spec { .. } => "spec",
            ErrorKind::Limit { .. } => "limit",
            ErrorKind::ConstraintViolated { .. } => "constraint_violated",
            ErrorKind::InvalidArgument { .. } => "invalid_argument",
        }
    }

    /// The expression error inside, for the kinds that wrap one.
    pub fn expression(&self) -> Option<&ExprError> {
        match self {
            ErrorKind::Expression { error, .. } | ErrorKind::Filter { error, .. } => Some(error),
            _ => None,
        }
    }
}

// The constructors are cold and never inlined: the shape rules run per sweep variant, and an
// error built inline in them slows their valid path.
impl Error {
    #[cold]
    #[inline(never)]
    pub fn new(kind: ErrorKind) -> Error {
        Error(Box::new(Located { layer: None, op: None, kind }))
    }

    #[cold]
    #[inline(never)]
    pub fn model(detail: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidModel { detail: detail.into() })
    }

    #[cold]
    #[inline(never)]
    pub fn shape(detail: impl Into<String>) -> Error {
        Error::new(ErrorKind::Shape { detail: detail.into() })
    }

    #[cold]
    #[inline(never)]
    pub fn overflow(what: impl Into<String>) -> Error {
        Error::new(ErrorKind::Overflow { what: what.into() })
    }

    #[cold]
    #[inline(never)]
    pub fn missing(name: &str) -> Error {
        Error::new(ErrorKind::MissingAttribute { names: vec![name.to_string()], note: None, unknown: Vec::new() })
    }

    /// `name=value expected`, e.g. `groups=3 does not divide in_channels=64`.
    #[cold]
    #[inline(never)]
    pub fn bad_value(name: &str, value: impl fmt::Display, expected: impl Into<String>) -> Error {
        Error::new(ErrorKind::BadAttribute { name: name.to_string(), value: Some(value.to_string()), expected: expected.into(), got: None })
    }

    /// `name expected, got got`, e.g. `bias must be true or false, got a string`.
    #[cold]
    #[inline(never)]
    pub fn bad_kind(name: &str, expected: impl Into<String>, got: impl fmt::Display) -> Error {
        Error::new(ErrorKind::BadAttribute { name: name.to_string(), value: None, expected: expected.into(), got: Some(got.to_string()) })
    }

    #[cold]
    #[inline(never)]
    pub fn attribute_rule(detail: impl Into<String>) -> Error {
        Error::new(ErrorKind::AttributeRule { detail: detail.into() })
    }

    /// `context: error` (just `error` when `context` is empty).
    #[cold]
    #[inline(never)]
    pub fn expression(context: impl Into<String>, error: ExprError) -> Error {
        Error::new(ErrorKind::Expression { context: context.into(), error })
    }

    #[cold]
    #[inline(never)]
    pub fn spec(detail: impl Into<String>) -> Error {
        Error::new(ErrorKind::Spec { detail: detail.into() })
    }

    #[cold]
    #[inline(never)]
    pub fn invalid_argument(detail: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument { detail: detail.into() })
    }

    /// The same error, attributed to layer `layer` of op `op` (an empty `op` is not shown).
    pub fn at(mut self, layer: &str, op: &str) -> Error {
        self.0.layer = Some(layer.to_string());
        self.0.op = Some(op.to_string());
        self
    }

    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    pub fn kind_mut(&mut self) -> &mut ErrorKind {
        &mut self.0.kind
    }

    /// The layer the error is about, if any.
    pub fn layer(&self) -> Option<&str> {
        self.0.layer.as_deref()
    }

    /// The layer's op, if any (never empty).
    pub fn op(&self) -> Option<&str> {
        self.0.op.as_deref().filter(|o| !o.is_empty())
    }

    /// The message without the layer and op in front.
    pub fn message(&self) -> String {
        self.0.kind.to_string()
    }
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::MissingAttribute { names, note, unknown } => {
                match names.as_slice() {
                    [one] => write!(f, "missing required attribute '{one}'")?,
                    several => write!(f, "missing required attribute: {}", several.join(" or "))?,
                }
                if let Some(note) = note {
                    write!(f, " ({note})")?;
                }
                match unknown.len() {
                    0 => Ok(()),
                    1 => write!(f, " (unknown attribute {} — a typo?)", quoted(unknown)),
                    _ => write!(f, " (unknown attributes {} — a typo?)", quoted(unknown)),
                }
            }
            ErrorKind::UnknownAttribute { name, op, known } => {
                let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
                write!(f, "unknown attribute '{name}' for op {op} (its attributes: {known})")
            }
            ErrorKind::BadAttribute { name, value, expected, got } => {
                write!(f, "{name}")?;
                if let Some(value) = value {
                    write!(f, "={value}")?;
                }
                write!(f, " {expected}")?;
                if let Some(got) = got {
                    write!(f, ", got {got}")?;
                }
                Ok(())
            }
            ErrorKind::UnknownOp { name, suggestions, known } => {
                if suggestions.is_empty() {
                    write!(f, "unknown op '{name}' (see `archsweep ops` for the {known} known ops)")
                } else {
                    write!(f, "unknown op '{name}' (did you mean {}?)", suggestions.join(" or "))
                }
            }
            ErrorKind::UnknownOption { option, value, choices } => {
                write!(f, "unknown {option} '{value}' (one of {})", choices.join(", "))
            }
            ErrorKind::Arity { min, max, got } => {
                let want = if *max == usize::MAX {
                    format!("at least {min}")
                } else if min == max {
                    min.to_string()
                } else {
                    format!("{min} to {max}")
                };
                write!(f, "takes {want} input(s), got {got}")
            }
            ErrorKind::Rank { expected, layout, got } => {
                let want = expected.iter().map(|r| format!("{r}-d")).collect::<Vec<_>>().join(" or ");
                write!(f, "expects a {want} input {layout}, got {}-d {got}", got.rank())
            }
            ErrorKind::Overflow { what } => write!(f, "integer overflow: {what} does not fit in 64 bits"),
            ErrorKind::Expression { context, error } => {
                if !context.is_empty() {
                    write!(f, "{context}: ")?;
                }
                write!(f, "{error}")
            }
            ErrorKind::Filter { error, names } => {
                write!(f, "--where: {error}")?;
                match names {
                    Some((columns, variables)) if variables.is_empty() => write!(f, " (columns: {})", columns.join(", "))?,
                    Some((columns, variables)) => {
                        write!(f, " (columns: {}, and the variables {})", columns.join(", "), variables.join(", "))?
                    }
                    None => {}
                }
                Ok(())
            }
            ErrorKind::Limit { context, what, limit, got } => {
                if !context.is_empty() {
                    write!(f, "{context}: ")?;
                }
                match what {
                    Limited::Layers => write!(f, "the space expands to more than {limit} layers"),
                    Limited::Repeats => write!(f, "repeat count {got} is above the limit of {} repeats", crate::num::commas(*limit)),
                    Limited::Repetitions => write!(
                        f,
                        "the blocks repeat more than {} times in all (nested repeats multiply; empty blocks count too)",
                        crate::num::commas(*limit)
                    ),
                    Limited::NameLength { name } => {
                        write!(f, "the name '{name}…' is {got} bytes long, above the limit of {limit} bytes (block prefixes included)")
                    }
                    Limited::RangeValues { low, high, step } => {
                        write!(f, "range [{low}, {high}] step {step} has {got} values; at most {} per variable", crate::num::commas(*limit))
                    }
                    Limited::RepeatCombinations { count } => {
                        write!(f, "repeat count '{count}' depends on {got} variable combinations (at most {limit})")
                    }
                    Limited::InputCombinations => write!(
                        f,
                        "the conditions of its inputs (drop_off_inputs = true) depend on {got} variable combinations (at most {limit})"
                    ),
                    Limited::ConditionCombinations { conditional, read } => write!(
                        f,
                        "the conditions of {} read {} with {got} combinations of values (at most {limit})",
                        conditional.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", "),
                        read.join(", ")
                    ),
                }
            }
            ErrorKind::ConstraintViolated { id, constraint } => write!(f, "variant {id} violates the constraint '{constraint}'"),
            ErrorKind::AttributeRule { detail }
            | ErrorKind::Shape { detail }
            | ErrorKind::InvalidModel { detail }
            | ErrorKind::Spec { detail }
            | ErrorKind::InvalidArgument { detail } => f.write_str(detail),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.layer(), self.op()) {
            (Some(l), Some(o)) => write!(f, "{l} ({o}): {}", self.0.kind),
            (Some(l), None) => write!(f, "{l}: {}", self.0.kind),
            _ => write!(f, "{}", self.0.kind),
        }
    }
}

impl std::error::Error for Error {}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error::new(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_follow_the_kind() {
        let e = Error::missing("kernel_size").at("conv1", "conv2d");
        assert_eq!(e.to_string(), "conv1 (conv2d): missing required attribute 'kernel_size'");
        assert_eq!(e.message(), "missing required attribute 'kernel_size'");
        assert_eq!(e.kind().code(), "missing_attribute");
        assert_eq!((e.layer(), e.op()), (Some("conv1"), Some("conv2d")));
        let e = Error::new(ErrorKind::MissingAttribute {
            names: vec!["size".into(), "scale_factor".into()],
            note: None,
            unknown: vec!["a".into(), "b".into()],
        });
        assert_eq!(e.to_string(), "missing required attribute: size or scale_factor (unknown attributes 'a', 'b' — a typo?)");
        assert_eq!(Error::bad_value("k", 0, "must be at least 1").to_string(), "k=0 must be at least 1");
        assert_eq!(Error::bad_kind("bias", "must be true or false", "a string").to_string(), "bias must be true or false, got a string");
        assert_eq!(Error::new(ErrorKind::Arity { min: 2, max: usize::MAX, got: 1 }).to_string(), "takes at least 2 input(s), got 1");
        assert_eq!(Error::new(ErrorKind::Arity { min: 1, max: 3, got: 4 }).to_string(), "takes 1 to 3 input(s), got 4");
        assert_eq!(Error::overflow("2 × 3").to_string(), "integer overflow: 2 × 3 does not fit in 64 bits");
        assert_eq!(Error::model("no layers").at("l", "").to_string(), "l: no layers");
    }

    #[test]
    fn space_messages_follow_the_kind() {
        let parse_error = crate::space::expr::try_parse("w *").unwrap_err();
        let e = Error::expression("layers[0] out_channels", parse_error.clone());
        assert_eq!(e.to_string(), "layers[0] out_channels: in 'w *': expected an operand at column 4");
        assert_eq!((e.kind().code(), e.kind().expression()), ("expression", Some(&parse_error)));
        assert_eq!(Error::expression("", parse_error.clone()).to_string(), "in 'w *': expected an operand at column 4");
        let e = Error::new(ErrorKind::Filter {
            error: parse_error.clone(),
            names: Some((vec!["params".into(), "macs".into()], vec!["w".into()])),
        });
        assert_eq!(e.to_string(), "--where: in 'w *': expected an operand at column 4 (columns: params, macs, and the variables w)");
        let e = Error::new(ErrorKind::Limit {
            context: "variable 'w'".into(),
            what: Limited::RangeValues { low: 0, high: 2_000_000, step: 1 },
            limit: 1_000_000,
            got: 2_000_001,
        });
        assert_eq!(e.to_string(), "variable 'w': range [0, 2000000] step 1 has 2000001 values; at most 1,000,000 per variable");
        let e = Error::new(ErrorKind::Limit { context: String::new(), what: Limited::Layers, limit: 100_000, got: 100_000 });
        assert_eq!(e.to_string(), "the space expands to more than 100000 layers");
        let e = Error::new(ErrorKind::Limit {
            context: "stage".into(),
            what: Limited::RepeatCombinations { count: "d[s]".into() },
            limit: 1 << 20,
            got: 1 << 21,
        });
        assert_eq!(e.to_string(), "stage: repeat count 'd[s]' depends on 2097152 variable combinations (at most 1048576)");
        let e = Error::new(ErrorKind::ConstraintViolated { id: 7, constraint: "a < b".into() });
        assert_eq!((e.to_string().as_str(), e.kind().code()), ("variant 7 violates the constraint 'a < b'", "constraint_violated"));
        assert_eq!(Error::spec("the space has no layers").kind().code(), "spec");
    }

    #[test]
    fn an_error_is_one_pointer() {
        // a Result<u64, Error> of the per-variant paths is returned in two registers
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
        assert_eq!(std::mem::size_of::<Result<u64, Error>>(), 2 * std::mem::size_of::<usize>());
    }
}
