//! The one list of ops. Each op lives in its own file with its attribute parsing, shape rule,
//! parameter/buffer count, MACs, extra ops and unit tests; adding an op is one file plus one
//! line in `REGISTRY`.

use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::shape::Shape;

mod activation;
mod adaptive_pool;
mod attention;
mod batchnorm;
mod channel_shuffle;
mod concat;
mod conv;
mod conv_transpose;
mod elementwise;
mod embedding;
mod flatten;
mod groupnorm;
mod identity;
mod instancenorm;
mod layernorm;
mod linear;
mod permute;
mod pool;
mod reshape;
mod select;
mod softmax;
mod upsample;

#[cfg(test)]
pub(crate) mod testing;

/// What a layer produces: its output shape and its cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eval {
    pub shape: Shape,
    pub cost: Cost,
}

/// One configured layer. `inputs` hold full shapes, batch first.
pub trait Op: Send + Sync {
    /// Minimum and maximum number of inputs.
    fn arity(&self) -> (usize, usize) {
        (1, 1)
    }

    fn eval(&self, inputs: &[Shape]) -> Result<Eval, String>;

    /// The layer's formula with its numbers, for `--explain`.
    fn explain(&self, inputs: &[Shape], out: &Eval) -> String {
        let _ = inputs;
        if out.cost.other_ops > 0 {
            format!("no parameters; {} other ops", crate::num::commas(out.cost.other_ops))
        } else {
            "no parameters, no compute".to_string()
        }
    }

    /// True when the output shares its input's storage (a view, or an in-place op): it adds no
    /// activation memory and keeps its input alive as long as it is used.
    fn aliases_input(&self) -> bool {
        false
    }
}

pub type Parse = fn(&Attrs) -> Result<Box<dyn Op>, String>;

/// Every op the core knows, by its model-file name.
pub const REGISTRY: &[(&str, Parse)] = &[
    ("conv1d", |a| conv::parse(a, 1)),
    ("conv2d", |a| conv::parse(a, 2)),
    ("conv3d", |a| conv::parse(a, 3)),
    ("conv_transpose1d", |a| conv_transpose::parse(a, 1)),
    ("conv_transpose2d", |a| conv_transpose::parse(a, 2)),
    ("conv_transpose3d", |a| conv_transpose::parse(a, 3)),
    ("linear", linear::parse),
    ("batchnorm1d", |a| batchnorm::parse(a, 1)),
    ("batchnorm2d", |a| batchnorm::parse(a, 2)),
    ("batchnorm3d", |a| batchnorm::parse(a, 3)),
    ("layernorm", layernorm::parse),
    ("groupnorm", groupnorm::parse),
    ("instancenorm1d", |a| instancenorm::parse(a, Some(1))),
    ("instancenorm2d", |a| instancenorm::parse(a, Some(2))),
    ("instancenorm3d", |a| instancenorm::parse(a, Some(3))),
    ("instancenorm", |a| instancenorm::parse(a, None)),
    ("relu", |a| activation::parse(a, activation::Kind::Relu)),
    ("relu6", |a| activation::parse(a, activation::Kind::Relu6)),
    ("leaky_relu", |a| activation::parse(a, activation::Kind::LeakyRelu)),
    ("elu", |a| activation::parse(a, activation::Kind::Elu)),
    ("gelu", |a| activation::parse(a, activation::Kind::Gelu)),
    ("silu", |a| activation::parse(a, activation::Kind::Silu)),
    ("mish", |a| activation::parse(a, activation::Kind::Mish)),
    ("hardswish", |a| activation::parse(a, activation::Kind::Hardswish)),
    ("hardsigmoid", |a| activation::parse(a, activation::Kind::Hardsigmoid)),
    ("sigmoid", |a| activation::parse(a, activation::Kind::Sigmoid)),
    ("tanh", |a| activation::parse(a, activation::Kind::Tanh)),
    ("softmax", softmax::parse),
    ("dropout", |a| identity::parse(a, identity::Kind::Dropout)),
    ("identity", |a| identity::parse(a, identity::Kind::Identity)),
    ("maxpool1d", |a| pool::parse(a, pool::Kind::Max, 1)),
    ("maxpool2d", |a| pool::parse(a, pool::Kind::Max, 2)),
    ("maxpool3d", |a| pool::parse(a, pool::Kind::Max, 3)),
    ("avgpool1d", |a| pool::parse(a, pool::Kind::Avg, 1)),
    ("avgpool2d", |a| pool::parse(a, pool::Kind::Avg, 2)),
    ("avgpool3d", |a| pool::parse(a, pool::Kind::Avg, 3)),
    ("adaptive_avgpool1d", |a| adaptive_pool::parse(a, 1)),
    ("adaptive_avgpool2d", |a| adaptive_pool::parse(a, 2)),
    ("adaptive_avgpool3d", |a| adaptive_pool::parse(a, 3)),
    ("adaptive_maxpool1d", |a| adaptive_pool::parse(a, 1)),
    ("adaptive_maxpool2d", |a| adaptive_pool::parse(a, 2)),
    ("adaptive_maxpool3d", |a| adaptive_pool::parse(a, 3)),
    ("flatten", flatten::parse),
    ("reshape", reshape::parse),
    ("permute", permute::parse_permute),
    ("transpose", permute::parse_transpose),
    ("select", select::parse),
    ("add", |a| elementwise::parse(a, elementwise::Kind::Add)),
    ("mul", |a| elementwise::parse(a, elementwise::Kind::Mul)),
    ("concat", concat::parse),
    ("channel_shuffle", channel_shuffle::parse),
    ("upsample", upsample::parse),
    ("multihead_attention", attention::parse),
    ("embedding", embedding::parse_embedding),
    ("positional_embedding", embedding::parse_positional),
    ("class_token", embedding::parse_class_token),
];

/// Build an op from its name and attributes; unknown names and unknown attributes are errors.
pub fn build(op: &str, attrs: &Attrs) -> Result<Box<dyn Op>, String> {
    let parse = REGISTRY.iter().find(|(name, _)| *name == op).map(|(_, p)| *p).ok_or_else(|| {
        let close: Vec<&str> = REGISTRY.iter().map(|(n, _)| *n).filter(|n| similar(n, op)).collect();
        if close.is_empty() {
            format!("unknown op '{op}' (see `archsweep ops` for the {} known ops)", REGISTRY.len())
        } else {
            format!("unknown op '{op}' (did you mean {}?)", close.join(" or "))
        }
    })?;
    let built = parse(attrs)?;
    attrs.finish(op)?;
    Ok(built)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().map(|(n, _)| *n)
}

fn similar(known: &str, asked: &str) -> bool {
    let norm = |s: &str| s.to_ascii_lowercase().replace(['_', '-', ' '], "");
    let (k, a) = (norm(known), norm(asked));
    k == a || (a.len() >= 4 && (k.starts_with(&a) || a.starts_with(&k)))
}

// ---- helpers shared by several ops -------------------------------------------------------

/// Check an input's rank against what the op accepts, naming the layout.
pub(crate) fn expect_rank(x: &Shape, ranks: &[usize], layout: &str) -> Result<(), String> {
    if ranks.contains(&x.rank()) {
        Ok(())
    } else {
        let want = ranks.iter().map(|r| format!("{r}-d")).collect::<Vec<_>>().join(" or ");
        Err(format!("expects a {want} input {layout}, got {}-d {x}", x.rank()))
    }
}

/// `other_ops` of a pointwise op: one per output element.
pub(crate) fn per_element(shape: &Shape) -> Result<Cost, String> {
    Ok(Cost { other_ops: shape.numel()?, ..Cost::default() })
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = super::names().collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
