//! upsample — `torch.nn.Upsample(size | scale_factor, mode)`: resizes the spatial dims
//! (all dims after N, C). With a scale factor the size is ⌊in·scale⌋, as in PyTorch.
//! No params; one other-op per output element.

use super::{per_element, Eval, Op};
use crate::attrs::Attrs;
use crate::shape::Shape;
use serde_json::Value;

enum Target {
    Size(Vec<u64>),
    Scale(Vec<f64>),
}

struct Upsample {
    target: Target,
}

fn list_or_scalar(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, String> {
    a.choice("mode", &["nearest", "linear", "bilinear", "bicubic", "trilinear", "nearest-exact"], "nearest")?;
    a.bool("align_corners", false)?;
    let target = match (a.raw("size"), a.raw("scale_factor")) {
        (Some(_), Some(_)) => return Err("give either size or scale_factor, not both".into()),
        (None, None) => return Err("missing required attribute: size or scale_factor".into()),
        (Some(v), None) => Target::Size(
            list_or_scalar(v)
                .into_iter()
                .map(|x| x.as_u64().filter(|&n| n > 0).ok_or_else(|| format!("size entries must be positive integers, got {x}")))
                .collect::<Result<_, _>>()?,
        ),
        (None, Some(v)) => Target::Scale(
            list_or_scalar(v)
                .into_iter()
                .map(|x| x.as_f64().filter(|&f| f > 0.0).ok_or_else(|| format!("scale_factor entries must be positive numbers, got {x}")))
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok(Box::new(Upsample { target }))
}

impl Op for Upsample {
    fn eval(&self, inputs: &[Shape]) -> Result<Eval, String> {
        let x = &inputs[0];
        if x.rank() < 3 || x.rank() > 5 {
            return Err(format!("expects a 3-d, 4-d or 5-d (N, C, *spatial) input, got {x}"));
        }
        let d = x.rank() - 2;
        let mut out = *x;
        for i in 0..d {
            let n = x.tail(d)[i];
            let size = match &self.target {
                Target::Size(s) if s.len() == 1 => s[0],
                Target::Size(s) if s.len() == d => s[i],
                Target::Scale(s) if s.len() == 1 || s.len() == d => {
                    let f = if s.len() == 1 { s[0] } else { s[i] };
                    let v = (n as f64 * f).floor();
                    if v < 1.0 {
                        return Err(format!("scale_factor {f} shrinks spatial dim of size {n} to {v}"));
                    }
                    v as u64
                }
                _ => return Err(format!("size/scale_factor must have 1 or {d} entries for a {d}-d spatial input")),
            };
            out.dims_mut()[2 + i] = size;
        }
        Ok(Eval { shape: out, cost: per_element(&out)? })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, ok};
    use serde_json::json;

    #[test]
    fn upsample() {
        assert_eq!(ok("upsample", json!({"scale_factor": 2}), &[&[1, 3, 7, 9]]).shape.dims(), &[1, 3, 14, 18]);
        assert_eq!(ok("upsample", json!({"scale_factor": 1.5, "mode": "bilinear"}), &[&[1, 3, 7, 9]]).shape.dims(), &[1, 3, 10, 13]);
        assert_eq!(ok("upsample", json!({"size": [4, 5]}), &[&[1, 3, 7, 9]]).shape.dims(), &[1, 3, 4, 5]);
        assert!(err("upsample", json!({"size": 4, "scale_factor": 2}), &[&[1, 3, 7, 9]]).contains("not both"));
    }
}
