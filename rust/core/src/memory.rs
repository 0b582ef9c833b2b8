//! Memory conventions: dtypes, optimizers, and peak live activations.
//!
//! * weight bytes = params × bytes(dtype); buffers keep their own dtype (see `Cost`).
//! * activation bytes = Σ over layers of output elements × bytes(dtype), batch included; views
//!   and in-place ops add nothing (they share their input's storage).
//! * peak activation bytes (inference): walk the layers in file order (a topological order),
//!   allocate each output, record the live total, then free every tensor whose last consumer
//!   has run. The model input counts as live until its last consumer; the final output stays.
//! * train bytes = weights + buffers + gradients (trainable params × dtype) + optimizer state
//!   (sgd 0, momentum 1, adam/adamw 2 × trainable params × dtype) + saved activations (every
//!   layer output plus the input, for batch B).

use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    Fp64,
    Fp32,
    Fp16,
    Bf16,
    Int8,
    Fp8,
}

impl Dtype {
    pub const ALL: &'static [(&'static str, Dtype)] = &[
        ("fp32", Dtype::Fp32),
        ("fp16", Dtype::Fp16),
        ("bf16", Dtype::Bf16),
        ("int8", Dtype::Int8),
        ("fp8", Dtype::Fp8),
        ("fp64", Dtype::Fp64),
    ];

    pub fn bytes(self) -> u64 {
        match self {
            Dtype::Fp64 => 8,
            Dtype::Fp32 => 4,
            Dtype::Fp16 | Dtype::Bf16 => 2,
            Dtype::Int8 | Dtype::Fp8 => 1,
        }
    }

    pub fn name(self) -> &'static str {
        Dtype::ALL.iter().find(|(_, d)| *d == self).map(|(n, _)| *n).unwrap_or("?")
    }
}

impl FromStr for Dtype {
    type Err = String;
    fn from_str(s: &str) -> Result<Dtype, String> {
        let s = s.to_ascii_lowercase();
        let alias = match s.as_str() {
            "float32" | "float" => "fp32",
            "float16" | "half" => "fp16",
            "bfloat16" => "bf16",
            "float64" | "double" => "fp64",
            other => other,
        };
        Dtype::ALL.iter().find(|(n, _)| *n == alias).map(|(_, d)| *d).ok_or_else(|| {
            format!("unknown dtype '{s}' (one of {})", Dtype::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Optimizer {
    Sgd,
    Momentum,
    Adam,
    AdamW,
}

impl Optimizer {
    pub const ALL: &'static [(&'static str, Optimizer)] =
        &[("sgd", Optimizer::Sgd), ("momentum", Optimizer::Momentum), ("adam", Optimizer::Adam), ("adamw", Optimizer::AdamW)];

    /// Optimizer state tensors kept per trainable parameter.
    pub fn states_per_param(self) -> u64 {
        match self {
            Optimizer::Sgd => 0,
            Optimizer::Momentum => 1,
            Optimizer::Adam | Optimizer::AdamW => 2,
        }
    }

    pub fn name(self) -> &'static str {
        Optimizer::ALL.iter().find(|(_, o)| *o == self).map(|(n, _)| *n).unwrap_or("?")
    }
}

impl FromStr for Optimizer {
    type Err = String;
    fn from_str(s: &str) -> Result<Optimizer, String> {
        let s = s.to_ascii_lowercase();
        Optimizer::ALL.iter().find(|(n, _)| *n == s).map(|(_, o)| *o).ok_or_else(|| {
            format!("unknown optimizer '{s}' (one of {})", Optimizer::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))
        })
    }
}

/// One tensor-producing step for the liveness walk: the storage it writes (its own, or an
/// alias of an input's), how many bytes it allocates, and which storages it reads.
pub struct Step<'a> {
    pub bytes: u64,
    pub aliases: Option<usize>,
    pub reads: &'a [usize],
}

/// Peak live bytes over `steps`, where value 0 is the model input of `input_bytes` and value
/// i + 1 is step i's output. Storage of a view is its root's; a storage is freed after the
/// last step that reads it or any of its aliases; the last step's output is kept.
pub fn peak_live_bytes(input_bytes: u64, steps: &[Step]) -> Result<u64, String> {
    let n = steps.len() + 1;
    let mut root = vec![0usize; n];
    let mut size = vec![0u64; n];
    size[0] = input_bytes;
    for (i, s) in steps.iter().enumerate() {
        root[i + 1] = match s.aliases {
            Some(v) => root[v],
            None => i + 1,
        };
        size[i + 1] = if s.aliases.is_some() { 0 } else { s.bytes };
    }
    // last step at which each storage is needed
    let mut last_use = vec![0usize; n];
    for (i, s) in steps.iter().enumerate() {
        last_use[root[i + 1]] = last_use[root[i + 1]].max(i + 1);
        for &v in s.reads {
            last_use[root[v]] = last_use[root[v]].max(i + 1);
        }
    }
    last_use[root[n - 1]] = usize::MAX; // the result stays
    let mut frees: Vec<Vec<usize>> = vec![Vec::new(); n];
    for v in 0..n {
        if root[v] == v && last_use[v] != usize::MAX {
            frees[last_use[v]].push(v);
        }
    }
    let mut live = input_bytes;
    let mut peak = live;
    for v in frees[0].iter() {
        live -= size[*v];
    }
    for step in 1..n {
        live = crate::num::add(live, size[step])?;
        peak = peak.max(live);
        for &v in &frees[step] {
            live -= size[v];
        }
    }
    Ok(peak)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_keeps_two_live() {
        // x(10) -> a(20) -> b(30) -> c(5): peaks when b is made while a is alive: 20 + 30.
        let steps = [Step { bytes: 20, aliases: None, reads: &[0] }, Step { bytes: 30, aliases: None, reads: &[1] }, Step { bytes: 5, aliases: None, reads: &[2] }];
        assert_eq!(peak_live_bytes(10, &steps).unwrap(), 50);
    }

    #[test]
    fn residual_keeps_skip_alive() {
        // x(10) -> a(10) -> b(10) -> add(a, b)(10): a, b and add all live: 30, plus x until a.
        let steps = [
            Step { bytes: 10, aliases: None, reads: &[0] },
            Step { bytes: 10, aliases: None, reads: &[1] },
            Step { bytes: 10, aliases: None, reads: &[1, 2] },
        ];
        assert_eq!(peak_live_bytes(10, &steps).unwrap(), 30);
    }

    #[test]
    fn views_extend_their_root() {
        // x(8) -> a(100) -> view(a) -> c(1) reading the view: a stays live until c is made.
        let steps = [
            Step { bytes: 100, aliases: None, reads: &[0] },
            Step { bytes: 0, aliases: Some(1), reads: &[1] },
            Step { bytes: 1, aliases: None, reads: &[2] },
        ];
        assert_eq!(peak_live_bytes(8, &steps).unwrap(), 108);
    }

    #[test]
    fn dtype_names() {
        assert_eq!("bf16".parse::<Dtype>().unwrap().bytes(), 2);
        assert_eq!("half".parse::<Dtype>().unwrap(), Dtype::Fp16);
        assert!("fp4".parse::<Dtype>().is_err());
        assert_eq!("adamw".parse::<Optimizer>().unwrap().states_per_param(), 2);
    }
}
