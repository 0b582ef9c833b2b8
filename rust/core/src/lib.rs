//! archsweep-core: exact, analytic output shapes, parameter counts, MACs/FLOPs and memory of
//! neural-network layer graphs, following PyTorch's shape rules. Pure Rust, no Python.
//!
//! The counting convention is stated once, in [`cost`]; the memory model in [`memory`].

pub mod attrs;
pub mod cost;
pub mod error;
pub mod graph;
pub mod memory;
pub mod metric;
pub mod num;
pub mod ops;
pub mod pareto;
pub mod shape;
pub mod space;

pub use cost::Cost;
pub use error::{Error, ErrorKind, Limited};
pub use graph::{analyze, Analysis, LayerReport, Model, Options, Totals};
pub use memory::{Dtype, Optimizer};
pub use shape::Shape;
