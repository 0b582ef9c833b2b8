//! channel_shuffle — `torch.nn.ChannelShuffle(groups)` (ShuffleNet). groups must divide C.
//! No params; a copy, one other-op per element.

use super::common::per_element;
use super::{Eval, Op, Parse};
use crate::attrs::Attrs;
use crate::error::Error;
use crate::shape::Shape;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("channel_shuffle", parse),
];

struct ChannelShuffle {
    groups: u64,
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    Ok(Box::new(ChannelShuffle { groups: a.require_positive("groups")? }))
}

impl Op for ChannelShuffle {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        if x.rank() < 3 {
            return Err(Error::shape(format!("expects an (N, C, *) input with spatial dims, got {x}")));
        }
        if !x.channels().is_multiple_of(self.groups) {
            return Err(Error::shape(format!("groups={} does not divide channels={}", self.groups, x.channels())));
        }
        Ok(Eval { shape: *x, cost: per_element(x)? })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn shuffle() {
        assert_eq!(ok("channel_shuffle", json!({"groups": 2}), &[&[1, 116, 28, 28]]).shape.dims(), &[1, 116, 28, 28]);
        assert_eq!(err("channel_shuffle", json!({"groups": 3}), &[&[1, 116, 28, 28]]), "groups=3 does not divide channels=116");
    }
}
