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
mod chunk;
mod concat;
mod conv;
mod conv_transpose;
mod elementwise;
mod embedding;
mod flatten;
mod groupnorm;
mod identity;
mod instancenorm;
mod layer_scale;
mod layernorm;
mod linear;
mod permute;
mod pool;
mod reshape;
mod select;
mod softmax;
mod upsample;
mod window_attention;

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
    ("layer_scale", layer_scale::parse),
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
    ("chunk", chunk::parse),
    ("upsample", upsample::parse),
    ("multihead_attention", attention::parse),
    ("window_attention", window_attention::parse),
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
    let built = parse(attrs).map_err(|e| with_unknown_keys(parse, attrs, e))?;
    attrs.finish(op)?;
    Ok(built)
}

const MISSING: &str = "missing required attribute";

/// The key a "missing required attribute 'k'" (or "...: k or j") message names.
fn missing_key(message: &str) -> Option<&str> {
    let rest = message.strip_prefix(MISSING)?;
    if let Some(quoted) = rest.strip_prefix(" '") {
        quoted.split('\'').next()
    } else {
        rest.strip_prefix(": ")?.split(' ').next()
    }
}

/// A required attribute is missing, often because of a typo (`kernal_size`): name the layer's
/// unknown keys too. The parse stopped at the missing key, so later getters never marked their
/// keys as used; to tell the op's real attributes from unknown ones, parse a copy with each
/// missing key filled in until the parse gets through, then apply the same rule as
/// `Attrs::finish`. A missing key is filled with the value of the most similar unknown key
/// (the typo's value is usually the intended one, and keeps parse-time checks such as
/// num_heads | embed_dim happy), else with 1; if that copy does not parse, all placeholders
/// are 1. If no copy parses, the message is left as it is.
fn with_unknown_keys(parse: Parse, attrs: &Attrs, message: String) -> String {
    let candidates = attrs.unknown_keys();
    if !message.starts_with(MISSING) || candidates.is_empty() {
        return message;
    }
    for use_similar in [true, false] {
        let mut map = attrs.map().clone();
        for _ in 0..8 {
            let probe = Attrs::new(&map);
            match parse(&probe) {
                Ok(_) => {
                    let unknown: Vec<String> = probe.unknown_keys().iter().map(|k| format!("'{k}'")).collect();
                    return match unknown.len() {
                        0 => message,
                        1 => format!("{message} (unknown attribute {} — a typo?)", unknown[0]),
                        _ => format!("{message} (unknown attributes {} — a typo?)", unknown.join(", ")),
                    };
                }
                Err(e) => match missing_key(&e) {
                    Some(key) if map.get(key).map_or(true, serde_json::Value::is_null) => {
                        let similar = candidates.iter().filter(|c| use_similar && typo_of(c, key)).min_by_key(|c| edit_distance(c, key));
                        let value = similar.map_or(serde_json::Value::from(1), |c| attrs.map()[*c].clone());
                        map.insert(key.to_string(), value);
                    }
                    _ => break,
                },
            }
        }
    }
    message
}

/// Levenshtein distance (attribute names are short).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != b[j])).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Could `written` be a misspelling of `key`?
fn typo_of(written: &str, key: &str) -> bool {
    let norm = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], "");
    let (w, k) = (norm(written), norm(key));
    w == k || edit_distance(&w, &k) <= 2.max(k.len() / 4) || w.starts_with(&k) || k.starts_with(&w)
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
    use super::testing::err;
    use serde_json::json;

    #[test]
    fn missing_required_names_unknown_keys() {
        // `kernal_size` hides kernel_size: the parse stops at the missing kernel_size before
        // Attrs::finish could report the typo, so build() names it.
        let m = err("conv2d", json!({"out_channels": 8, "kernal_size": 3}), &[&[1, 3, 8, 8]]);
        assert_eq!(m, "missing required attribute 'kernel_size' (unknown attribute 'kernal_size' — a typo?)");
        // Attributes read after the failing getter (stride, bias) are not mistaken for unknown ones.
        let m = err("conv2d", json!({"kernal_size": 3, "out_channels": 8, "stride": 2, "bias": false}), &[&[1, 3, 8, 8]]);
        assert_eq!(m, "missing required attribute 'kernel_size' (unknown attribute 'kernal_size' — a typo?)");
        // Several missing keys, several unknown keys (file order).
        let m = err("conv2d", json!({"out_chanels": 8, "kernal_size": 3, "stride": 2}), &[&[1, 3, 8, 8]]);
        assert_eq!(m, "missing required attribute 'out_channels' (unknown attributes 'out_chanels', 'kernal_size' — a typo?)");
        // The "size or scale_factor" form of upsample.
        let m = err("upsample", json!({"scale_facter": 2, "mode": "bilinear"}), &[&[1, 3, 8, 8]]);
        assert_eq!(m, "missing required attribute: size or scale_factor (unknown attribute 'scale_facter' — a typo?)");
        // The typo's value stands in for the missing key, so parse-time checks on it pass:
        // embed_dims=64 with num_heads=8 (a placeholder 1 would fail "8 does not divide 1").
        let m = err("multihead_attention", json!({"embed_dims": 64, "num_heads": 8}), &[&[1, 4, 64]]);
        assert_eq!(m, "missing required attribute 'embed_dim' (unknown attribute 'embed_dims' — a typo?)");
        let m = err("embedding", json!({"num_embedding": 10, "embedding_dim": 4, "padding_idx": 3}), &[&[1, 3]]);
        assert_eq!(m, "missing required attribute 'num_embeddings' (unknown attribute 'num_embedding' — a typo?)");
        // An unrelated unknown key is still named (placeholder 1 for the missing one).
        let m = err("linear", json!({"frobnicate": true}), &[&[1, 8]]);
        assert_eq!(m, "missing required attribute 'out_features' (unknown attribute 'frobnicate' — a typo?)");
        // No unknown keys: the message is unchanged.
        let m = err("maxpool2d", json!({"stride": 2}), &[&[1, 3, 8, 8]]);
        assert_eq!(m, "missing required attribute 'kernel_size'");
        let m = err("linear", json!({"bias": false}), &[&[1, 8]]);
        assert_eq!(m, "missing required attribute 'out_features'");
    }

    #[test]
    fn typo_similarity() {
        assert_eq!(super::edit_distance("kernal_size", "kernel_size"), 1);
        assert_eq!(super::edit_distance("", "abc"), 3);
        assert!(super::typo_of("kernal_size", "kernel_size"));
        assert!(super::typo_of("kernel", "kernel_size"));
        assert!(super::typo_of("outputsize", "output_size"));
        assert!(!super::typo_of("stride", "kernel_size"));
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = super::names().collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
