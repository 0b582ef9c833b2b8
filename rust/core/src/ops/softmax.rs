//! softmax — `torch.nn.Softmax(dim)`. No params; one other-op per element.

use super::{per_element, Eval, Op};
use crate::attrs::Attrs;
use crate::shape::Shape;

struct Softmax {
    dim: i64,
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, String> {
    Ok(Box::new(Softmax { dim: a.int("dim")?.unwrap_or(-1) }))
}

impl Op for Softmax {
    fn eval(&self, inputs: &[Shape]) -> Result<Eval, String> {
        inputs[0].resolve_dim(self.dim)?;
        Ok(Eval { shape: inputs[0], cost: per_element(&inputs[0])? })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn softmax() {
        assert_eq!(ok("softmax", json!({"dim": 1}), &[&[2, 10]]).cost.other_ops, 20);
        assert!(err("softmax", json!({"dim": 2}), &[&[2, 10]]).contains("out of range"));
    }
}
