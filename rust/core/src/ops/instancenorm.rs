//! instancenorm1d / 2d / 3d (and rank-agnostic `instancenorm`) — `torch.nn.InstanceNormNd`.
//!
//! Unlike BatchNorm, affine and track_running_stats default to false, as in PyTorch.

use super::batchnorm::channel_norm_cost;
use super::{expect_rank, Eval, Op};
use crate::attrs::Attrs;
use crate::shape::Shape;

struct InstanceNorm {
    d: Option<usize>,
    affine: bool,
    track_running_stats: bool,
}

pub fn parse(a: &Attrs, d: Option<usize>) -> Result<Box<dyn Op>, String> {
    a.float("eps")?;
    a.float("momentum")?;
    a.positive("num_features")?;
    Ok(Box::new(InstanceNorm {
        d,
        affine: a.bool("affine", false)?,
        track_running_stats: a.bool("track_running_stats", false)?,
    }))
}

impl Op for InstanceNorm {
    fn eval(&self, inputs: &[Shape]) -> Result<Eval, String> {
        let x = &inputs[0];
        match self.d {
            Some(d) => expect_rank(x, &[d + 2], super::conv::layout(d))?,
            None => expect_rank(x, &[3, 4, 5], "(N, C, *spatial)")?,
        }
        let cost = channel_norm_cost(x, x.channels(), self.affine, self.track_running_stats)?;
        Ok(Eval { shape: *x, cost })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::ok;
    use serde_json::json;

    #[test]
    fn defaults_have_no_params() {
        let e = ok("instancenorm2d", json!({}), &[&[1, 16, 8, 8]]);
        assert_eq!(e.cost.params().unwrap(), 0);
        assert_eq!(e.cost.buffers, 0);
        let e = ok("instancenorm2d", json!({"affine": true, "track_running_stats": true}), &[&[1, 16, 8, 8]]);
        assert_eq!(e.cost.params().unwrap(), 32);
        assert_eq!(e.cost.buffers, 33);
    }
}
