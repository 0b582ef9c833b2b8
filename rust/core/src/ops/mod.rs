//! The one list of ops. Each op lives in its own file with its attribute parsing, shape rule,
//! parameter/buffer count, MACs, extra ops, unit tests and its `OPS` list (names and parse
//! functions); adding an op is one file plus one line in `op_files!` below.

use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::{Error, ErrorKind};
use crate::shape::Shape;

pub(crate) mod common;

/// Declares the op files, in the order of `REGISTRY`, and builds `REGISTRY` from their `OPS`
/// lists: each op file lists its names and parse functions once, in
/// `pub(super) const OPS: &[(&str, Parse)]`.
macro_rules! op_files {
    ($first:ident $(, $module:ident)* $(,)?) => {
        mod $first;
        $(mod $module;)*

        const REGISTRY_LEN: usize = $first::OPS.len() $(+ $module::OPS.len())*;

        /// Every op the core knows, by its model-file name (the order `archsweep ops` prints).
        pub const REGISTRY: &[(&str, Parse)] = &{
            // every slot is overwritten below; the first entry only gives the array a value
            let mut all = [$first::OPS[0]; REGISTRY_LEN];
            let files = [$first::OPS $(, $module::OPS)*];
            let (mut n, mut file) = (0, 0);
            while file < files.len() {
                let mut i = 0;
                while i < files[file].len() {
                    all[n] = files[file][i];
                    n += 1;
                    i += 1;
                }
                file += 1;
            }
            all
        };
    };
}

op_files!(
    conv,
    conv_transpose,
    linear,
    batchnorm,
    layernorm,
    layer_scale,
    groupnorm,
    instancenorm,
    activation,
    softmax,
    identity,
    stochastic_depth,
    pool,
    adaptive_pool,
    flatten,
    reshape,
    permute,
    select,
    elementwise,
    concat,
    channel_shuffle,
    chunk,
    split,
    slice,
    pad,
    scalar,
    upsample,
    attention,
    window_attention,
    embedding,
    zeros,
);

#[cfg(test)]
pub(crate) mod testing;

/// What a layer produces: its output shape and its cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eval {
    pub shape: Shape,
    pub cost: Cost,
}

/// What autograd keeps of one layer for its backward in training (PyTorch's derivative
/// formulas as its CPU kernels run them, parameters and buffers left out): the storages of some
/// inputs or of the output, and tensors made only for the backward. Which storage a value lives
/// in (views, in-place ops) is the graph's business: a storage several layers keep counts once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Saved {
    /// bit i: input i's storage is kept
    pub inputs: u32,
    /// the output's storage is kept
    pub output: bool,
    /// in training the output is a storage of its own, though it aliases the input at inference
    /// (dropout with 0 < p: `input * mask`)
    pub new_output: bool,
    /// tensors made for the backward, in elements of the model's dtype (dropout's mask)
    pub extra_elements: u64,
    /// and in bytes, for tensors of a fixed dtype (int64 indices, float32 statistics)
    pub extra_bytes: u64,
    /// `inputs` are kept only for the gradient of another input: an input is kept when some
    /// other input requires a gradient (`mul`)
    pub cross: bool,
    /// `inputs` are kept only for the gradient of the layer's own parameters: none when the
    /// layer is frozen (`layer_scale`: `x * gamma`)
    pub for_params: bool,
    /// `inputs` are kept only for their own gradient: an input is kept when it requires one
    /// (reflect/replicate padding before a convolution)
    pub for_input_grad: bool,
}

impl Saved {
    /// Input 0's storage.
    pub const INPUT: Saved = Saved { inputs: 1, ..Saved::NONE };
    /// The output's storage.
    pub const OUTPUT: Saved = Saved { output: true, ..Saved::NONE };
    /// Nothing.
    pub const NONE: Saved = Saved {
        inputs: 0,
        output: false,
        new_output: false,
        extra_elements: 0,
        extra_bytes: 0,
        cross: false,
        for_params: false,
        for_input_grad: false,
    };

    /// This plus `bytes` of tensors of a fixed dtype.
    pub const fn with_bytes(self, bytes: u64) -> Saved {
        Saved { extra_bytes: bytes, ..self }
    }
}

/// One configured layer. `inputs` hold full shapes, batch first.
pub trait Op: Send + Sync {
    /// Minimum and maximum number of inputs.
    fn arity(&self) -> (usize, usize) {
        (1, 1)
    }

    /// The output shape and cost for these inputs, or the rule they break.
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error>;

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

    /// Bytes the layer's eager PyTorch forward allocates at inference besides its output and
    /// frees before it returns (max pooling's int64 indices, layer norm's statistics): they
    /// count in the peak while the layer runs. None unless the op says so.
    fn scratch_bytes(&self, inputs: &[Shape], out: &Shape, dtype_bytes: u64) -> Result<u64, Error> {
        let _ = (inputs, out, dtype_bytes);
        Ok(0)
    }

    /// What autograd keeps of this layer for the backward, in training ([`Saved`]); nothing
    /// unless the op says so.
    fn saved(&self, inputs: &[Shape], out: &Shape) -> Result<Saved, Error> {
        let _ = (inputs, out);
        Ok(Saved::NONE)
    }
}

pub type Parse = fn(&Attrs) -> Result<Box<dyn Op>, Error>;

/// Build an op from its name and attributes; unknown names and unknown attributes are errors.
pub fn from_attrs(op: &str, attrs: &Attrs) -> Result<Box<dyn Op>, Error> {
    let parse = REGISTRY.iter().find(|(name, _)| *name == op).map(|(_, p)| *p).ok_or_else(|| {
        let suggestions = REGISTRY.iter().map(|(n, _)| *n).filter(|n| similar(n, op)).map(str::to_string).collect();
        Error::new(ErrorKind::UnknownOp { name: op.to_string(), suggestions, known: REGISTRY.len() })
    })?;
    let built = parse(attrs).map_err(|e| with_unknown_keys(parse, attrs, e))?;
    attrs.finish(op)?;
    Ok(built)
}

/// The key a missing-attribute error names (the first of its alternatives).
fn missing_key(e: &Error) -> Option<&str> {
    match e.kind() {
        ErrorKind::MissingAttribute { names, .. } => names.first().map(String::as_str),
        _ => None,
    }
}

/// A required attribute is missing, often because of a typo (`kernal_size`): name the layer's
/// unknown keys too. The parse stopped at the missing key, so later getters never marked their
/// keys as used; to tell the op's real attributes from unknown ones, parse a copy with each
/// missing key filled in until the parse gets through, then apply the same rule as
/// `Attrs::finish`. A missing key is filled with the value of the most similar unknown key
/// (the typo's value is usually the intended one, and keeps parse-time checks such as
/// num_heads | embed_dim happy), else with 1; if that copy does not parse, all placeholders
/// are 1. If no copy parses, the error is left as it is.
fn with_unknown_keys(parse: Parse, attrs: &Attrs, mut error: Error) -> Error {
    let candidates = attrs.unknown_keys();
    if missing_key(&error).is_none() || candidates.is_empty() {
        return error;
    }
    for use_similar in [true, false] {
        let mut map = attrs.map().clone();
        for _ in 0..8 {
            let probe = Attrs::new(&map);
            match parse(&probe) {
                Ok(_) => {
                    if let ErrorKind::MissingAttribute { unknown, .. } = error.kind_mut() {
                        *unknown = probe.unknown_keys().iter().map(|k| k.to_string()).collect();
                    }
                    return error;
                }
                Err(e) => match missing_key(&e) {
                    Some(key) if map.get(key).is_none_or(serde_json::Value::is_null) => {
                        let similar = candidates.iter().filter(|c| use_similar && typo_of(c, key)).min_by_key(|c| edit_distance(c, key));
                        let value = similar.map_or(serde_json::Value::from(1), |c| attrs.map()[*c].clone());
                        map.insert(key.to_string(), value);
                    }
                    _ => break,
                },
            }
        }
    }
    error
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
    fn errors_carry_their_kind() {
        use super::testing::error;
        use crate::error::ErrorKind;
        let e = error("conv2d", json!({"out_channels": 8, "kernal_size": 3}), &[&[1, 3, 8, 8]]);
        let expected = ErrorKind::MissingAttribute { names: vec!["kernel_size".into()], note: None, unknown: vec!["kernal_size".into()] };
        assert_eq!(*e.kind(), expected);
        let e = error("conv2d", json!({"out_channels": 8, "kernel_size": 3, "stirde": 2}), &[&[1, 3, 8, 8]]);
        assert!(matches!(e.kind(), ErrorKind::UnknownAttribute { name, op, .. } if name == "stirde" && op == "conv2d"), "{e:?}");
        let e = error("conv2d", json!({"out_channels": 0, "kernel_size": 3}), &[&[1, 3, 8, 8]]);
        assert!(matches!(e.kind(), ErrorKind::BadAttribute { name, .. } if name == "out_channels"), "{e:?}");
        let e = error("conv2d", json!({"out_channels": 8, "kernel_size": 3}), &[&[1, 3, 1, 1]]);
        assert_eq!(e.kind().code(), "shape");
        let e = error("conv2d", json!({"out_channels": 8, "kernel_size": 3}), &[&[1, 3, 8]]);
        assert!(matches!(e.kind(), ErrorKind::Rank { expected, .. } if expected == &[4]), "{e:?}");
        let e = error("linear", json!({"out_features": 1u64 << 40}), &[&[1 << 30, 1 << 30]]);
        assert_eq!(e.kind().code(), "overflow");
        let e = error("conv2", json!({}), &[&[1, 3, 8, 8]]);
        assert!(matches!(e.kind(), ErrorKind::UnknownOp { suggestions, .. } if suggestions.iter().any(|s| s == "conv2d")), "{e:?}");
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
