//! Search spaces: a model template whose attributes are expressions over space variables,
//! compiled once into a flat program and evaluated for millions of variants.
//!
//! Dependencies go one way: `expr` ← `spec` ← `compile` (the [`Program`], pure compiler
//! output) ← `ids` (variant ids ↔ digits, samplers; `networks`: the ids of spaces with
//! conditional variables) ← `engine` (the [`Engine`]: evaluation and
//! the run-time state it keeps). `simd` holds every `#[target_feature]` function (see there).

pub mod compile;
pub mod engine;
pub mod expr;
pub mod ids;
pub mod networks;
pub(crate) mod simd;
pub mod spec;
pub mod var;

pub use compile::{compile, Program};
pub use engine::Engine;
pub use spec::Spec;
