//! upsample — `torch.nn.Upsample(size | scale_factor, mode)`: resizes the spatial dims
//! (all dims after N, C). With a scale factor the size is ⌊in·scale⌋, as in PyTorch.
//! No params; one other-op per output element.
//!
//! Mode vs input rank, as `torch.nn.functional.interpolate` (torch 2.15): nearest and
//! nearest-exact take a 3-d, 4-d or 5-d input; linear needs 3-d, bilinear and bicubic 4-d,
//! trilinear 5-d ("Got 3D input, but bilinear mode needs 4D input"). `align_corners` may only
//! be given (true or false; null means not given) with the interpolating modes linear,
//! bilinear, bicubic and trilinear; with nearest modes torch raises ValueError "align_corners
//! option can only be set with the interpolating modes".

use super::common::per_element;
use super::{Eval, Op, Parse};
use crate::attrs::Attrs;
use crate::error::{Error, ErrorKind};
use crate::shape::Shape;
use serde_json::Value;

/// The ops of this file, by model-file name (listed in `REGISTRY` in this order).
pub(super) const OPS: &[(&str, Parse)] = &[
    ("upsample", parse),
];

enum Target {
    Size(Vec<u64>),
    Scale(Vec<f64>),
}

struct Upsample {
    target: Target,
    mode: &'static str,
}

/// The input rank an interpolating mode needs (None: nearest modes take 3-d to 5-d).
fn mode_rank(mode: &str) -> Option<usize> {
    match mode {
        "linear" => Some(3),
        "bilinear" | "bicubic" => Some(4),
        "trilinear" => Some(5),
        _ => None,
    }
}

const MODES: &[&str] = &["nearest", "linear", "bilinear", "bicubic", "trilinear", "nearest-exact"];

fn list_or_scalar(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

pub fn parse(a: &Attrs) -> Result<Box<dyn Op>, Error> {
    let chosen = a.choice("mode", MODES, "nearest")?;
    let mode = MODES.iter().copied().find(|m| *m == chosen).unwrap_or("nearest");
    let align_given = a.has("align_corners"); // null counts as not given, like torch's None
    let align = a.bool("align_corners", false)?;
    if align_given && mode_rank(mode).is_none() {
        return Err(Error::bad_value(
            "align_corners",
            align,
            format!("can only be set with the interpolating modes linear, bilinear, bicubic, trilinear (mode='{mode}')"),
        ));
    }
    let target = match (a.raw("size"), a.raw("scale_factor")) {
        (Some(_), Some(_)) => return Err(Error::attribute_rule("give either size or scale_factor, not both")),
        (None, None) => {
            let names = vec!["size".into(), "scale_factor".into()];
            return Err(ErrorKind::MissingAttribute { names, note: None, unknown: Vec::new() }.into());
        }
        (Some(v), None) => Target::Size(
            list_or_scalar(v)
                .into_iter()
                .map(|x| x.as_u64().filter(|&n| n > 0).ok_or_else(|| Error::attribute_rule(format!("size entries must be positive integers, got {x}"))))
                .collect::<Result<_, _>>()?,
        ),
        (None, Some(v)) => Target::Scale(
            list_or_scalar(v)
                .into_iter()
                .map(|x| x.as_f64().filter(|&f| f > 0.0).ok_or_else(|| Error::attribute_rule(format!("scale_factor entries must be positive numbers, got {x}"))))
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok(Box::new(Upsample { target, mode }))
}

impl Op for Upsample {
    #[inline(always)]
    fn apply(&self, inputs: &[Shape]) -> Result<Eval, Error> {
        let x = &inputs[0];
        if x.rank() < 3 || x.rank() > 5 {
            return Err(Error::shape(format!("expects a 3-d, 4-d or 5-d (N, C, *spatial) input, got {x}")));
        }
        if let Some(r) = mode_rank(self.mode) {
            if x.rank() != r {
                return Err(Error::shape(format!(
                    "got a {}-d input {x}, but {} mode needs a {r}-d input ({})",
                    x.rank(),
                    self.mode,
                    super::common::layout(r - 2)
                )));
            }
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
                        return Err(Error::shape(format!("scale_factor {f} shrinks spatial dim of size {n} to {v}")));
                    }
                    v as u64
                }
                _ => return Err(Error::shape(format!("size/scale_factor must have 1 or {d} entries for a {d}-d spatial input"))),
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

    #[test]
    fn mode_needs_its_rank() {
        // torch 2.15 F.interpolate: linear 3-d, bilinear/bicubic 4-d, trilinear 5-d; e.g.
        // Upsample(scale_factor=2, mode='bilinear') on (1, 3, 5) raises "Got 3D input, but
        // bilinear mode needs 4D input". nearest / nearest-exact take any of 3/4/5-d.
        let m = err("upsample", json!({"scale_factor": 2, "mode": "bilinear"}), &[&[1, 3, 5]]);
        assert_eq!(m, "got a 3-d input (1, 3, 5), but bilinear mode needs a 4-d input ((N, C, H, W))");
        let ranks: [(&str, usize); 4] = [("linear", 3), ("bilinear", 4), ("bicubic", 4), ("trilinear", 5)];
        let inputs: [&[u64]; 3] = [&[1, 2, 5], &[1, 2, 5, 5], &[1, 2, 5, 5, 5]];
        for (mode, want) in ranks {
            for x in inputs {
                let r = super::super::testing::run("upsample", json!({"scale_factor": 2, "mode": mode}), &[x]);
                if x.len() == want {
                    // ⌊5·2⌋ = 10 per spatial dim.
                    assert!(r.unwrap().shape.dims()[2..].iter().all(|&d| d == 10), "{mode} {x:?}");
                } else {
                    assert!(r.unwrap_err().to_string().contains(&format!("{mode} mode needs a {want}-d input")), "{mode} {x:?}");
                }
            }
        }
        for mode in ["nearest", "nearest-exact"] {
            for x in inputs {
                ok("upsample", json!({"scale_factor": 2, "mode": mode}), &[x]);
            }
        }
    }

    #[test]
    fn align_corners_only_with_interpolating_modes() {
        // torch 2.15: Upsample(mode='nearest', align_corners=False) raises ValueError
        // "align_corners option can only be set with the interpolating modes: linear |
        // bilinear | bicubic | trilinear"; align_corners=None is fine.
        for mode in ["nearest", "nearest-exact"] {
            for ac in [true, false] {
                let m = err("upsample", json!({"scale_factor": 2, "mode": mode, "align_corners": ac}), &[&[1, 3, 5, 5]]);
                assert_eq!(m, format!("align_corners={ac} can only be set with the interpolating modes linear, bilinear, bicubic, trilinear (mode='{mode}')"));
            }
            ok("upsample", json!({"scale_factor": 2, "mode": mode, "align_corners": null}), &[&[1, 3, 5, 5]]);
        }
        // The default mode is nearest.
        assert!(err("upsample", json!({"scale_factor": 2, "align_corners": true}), &[&[1, 3, 5, 5]]).contains("mode='nearest'"));
        for ac in [true, false] {
            ok("upsample", json!({"scale_factor": 2, "mode": "bilinear", "align_corners": ac}), &[&[1, 3, 5, 5]]);
            ok("upsample", json!({"scale_factor": 2, "mode": "linear", "align_corners": ac}), &[&[1, 3, 5]]);
        }
        assert!(err("upsample", json!({"scale_factor": 2, "mode": "bilinear", "align_corners": 1}), &[&[1, 3, 5, 5]]).contains("true or false"));
    }
}
