//! Test helpers for the op files: build an op from JSON attributes and evaluate it.

use super::{from_attrs, Eval, Op};
use crate::attrs::Attrs;
use crate::error::Error;
use crate::shape::Shape;
use serde_json::Value;

pub fn s(dims: &[u64]) -> Shape {
    Shape::new(dims).unwrap()
}

/// The op built from these attributes.
pub fn op(name: &str, attrs: Value) -> Box<dyn Op> {
    let map = attrs.as_object().expect("attributes are a JSON object").clone();
    from_attrs(name, &Attrs::new(&map)).unwrap_or_else(|e| panic!("{name}: unexpected error: {e}"))
}

pub fn run(op: &str, attrs: Value, inputs: &[&[u64]]) -> Result<Eval, Error> {
    let map = attrs.as_object().expect("attributes are a JSON object").clone();
    let a = Attrs::new(&map);
    let built = from_attrs(op, &a)?;
    let shapes: Vec<Shape> = inputs.iter().map(|d| s(d)).collect();
    built.apply(&shapes)
}

pub fn ok(op: &str, attrs: Value, inputs: &[&[u64]]) -> Eval {
    run(op, attrs, inputs).unwrap_or_else(|e| panic!("{op}: unexpected error: {e}"))
}

/// The error's message.
pub fn err(op: &str, attrs: Value, inputs: &[&[u64]]) -> String {
    error(op, attrs, inputs).to_string()
}

pub fn error(op: &str, attrs: Value, inputs: &[&[u64]]) -> Error {
    match run(op, attrs, inputs) {
        Ok(e) => panic!("{op}: expected an error, got {:?}", e.shape),
        Err(e) => e,
    }
}
