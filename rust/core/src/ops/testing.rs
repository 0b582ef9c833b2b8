//! Test helpers for the op files: build an op from JSON attributes and evaluate it.

use super::{build, Eval};
use crate::attrs::Attrs;
use crate::shape::Shape;
use serde_json::Value;

pub fn s(dims: &[u64]) -> Shape {
    Shape::new(dims).unwrap()
}

pub fn run(op: &str, attrs: Value, inputs: &[&[u64]]) -> Result<Eval, String> {
    let map = attrs.as_object().expect("attributes are a JSON object").clone();
    let a = Attrs::new(&map);
    let built = build(op, &a)?;
    let shapes: Vec<Shape> = inputs.iter().map(|d| s(d)).collect();
    built.eval(&shapes)
}

pub fn ok(op: &str, attrs: Value, inputs: &[&[u64]]) -> Eval {
    run(op, attrs, inputs).unwrap_or_else(|e| panic!("{op}: unexpected error: {e}"))
}

pub fn err(op: &str, attrs: Value, inputs: &[&[u64]]) -> String {
    match run(op, attrs, inputs) {
        Ok(e) => panic!("{op}: expected an error, got {:?}", e.shape),
        Err(e) => e,
    }
}
