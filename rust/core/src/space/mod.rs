//! Search spaces: a model template whose attributes are expressions over space variables,
//! compiled once into a flat program and evaluated for millions of variants.

pub mod block;
pub mod compile;
pub mod dense;
pub mod enumerate;
pub mod expr;
pub mod memo;
pub mod spec;
pub mod sweep;

pub use compile::{compile, Program};
pub use spec::Spec;
