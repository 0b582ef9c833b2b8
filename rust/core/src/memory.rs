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

/// How one layer touches storage, for the liveness walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// Allocates a new output of `bytes`.
    Own,
    /// A view or in-place op: its output is its first input's storage.
    Alias,
    /// Not executed (a sweep layer switched off by `when`/`repeat`): passes its first input
    /// through, reads nothing, and is never the model's result.
    Skipped,
}

#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    pub kind: StepKind,
    pub bytes: u64,
    /// Values read: 0 is the model input, i + 1 is step i's output.
    pub reads: &'a [usize],
}

/// Peak live activation bytes. Reuses its buffers, so a sweep can call it per variant without
/// allocating. Value 0 is the model input; value i + 1 is step i's output. A storage is freed
/// after the last step that reads it or any alias of it; the last executed step's result stays.
#[derive(Default)]
pub struct Liveness {
    root: Vec<usize>,
    last_use: Vec<usize>,
    freed: Vec<u64>,
}

const KEEP: usize = usize::MAX;

impl Liveness {
    pub fn peak(&mut self, input_bytes: u64, steps: &[Step]) -> Result<u64, String> {
        let n = steps.len() + 1;
        self.root.clear();
        self.root.resize(n, 0);
        self.last_use.clear();
        self.last_use.resize(n, 0);
        self.freed.clear();
        self.freed.resize(n, 0);
        let mut result = 0; // the value holding the model's result
        for (i, s) in steps.iter().enumerate() {
            let v = i + 1;
            self.root[v] = match s.kind {
                StepKind::Own => v,
                StepKind::Alias | StepKind::Skipped => self.root[s.reads[0]],
            };
            if s.kind != StepKind::Skipped {
                // an output nobody reads is freed right after it is made
                let own = self.root[v];
                self.last_use[own] = self.last_use[own].max(v);
                for &r in s.reads {
                    let root = self.root[r];
                    self.last_use[root] = self.last_use[root].max(v);
                }
                result = v;
            }
        }
        self.last_use[self.root[result]] = KEEP;
        let size = |v: usize| if v == 0 { input_bytes } else if steps[v - 1].kind == StepKind::Own { steps[v - 1].bytes } else { 0 };
        for v in 0..n {
            if self.root[v] == v && self.last_use[v] != KEEP {
                self.freed[self.last_use[v]] += size(v);
            }
        }
        let mut live = input_bytes;
        let mut peak = live;
        live -= self.freed[0];
        for v in 1..n {
            live = crate::num::add(live, size(v))?;
            peak = peak.max(live);
            live -= self.freed[v];
        }
        Ok(peak)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peak_live_bytes(input: u64, steps: &[Step]) -> Result<u64, String> {
        Liveness::default().peak(input, steps)
    }

    fn own(bytes: u64, reads: &'static [usize]) -> Step<'static> {
        Step { kind: StepKind::Own, bytes, reads }
    }

    #[test]
    fn chain_keeps_two_live() {
        // x(10) -> a(20) -> b(30) -> c(5): peaks when b is made while a is alive: 20 + 30.
        let steps = [own(20, &[0]), own(30, &[1]), own(5, &[2])];
        assert_eq!(peak_live_bytes(10, &steps).unwrap(), 50);
    }

    #[test]
    fn residual_keeps_skip_alive() {
        // x(10) -> a(10) -> b(10) -> add(a, b)(10): a, b and add all live: 30, plus x until a.
        let steps = [
            own(10, &[0]),
            own(10, &[1]),
            own(10, &[1, 2]),
        ];
        assert_eq!(peak_live_bytes(10, &steps).unwrap(), 30);
    }

    #[test]
    fn views_extend_their_root() {
        // x(8) -> a(100) -> view(a) -> c(1) reading the view: a stays live until c is made.
        let steps = [
            own(100, &[0]),
            Step { kind: StepKind::Alias, bytes: 0, reads: &[1] },
            own(1, &[2]),
        ];
        assert_eq!(peak_live_bytes(8, &steps).unwrap(), 108);
    }

    #[test]
    fn unread_outputs_are_freed_after_they_are_made() {
        // x(4) -> a(3) ; b(3) reads a, c(3) reads a, d(3) reads a: b and c are never read.
        // step a: 4 + 3 = 7, x freed -> 3; b: 6, b freed -> 3; c: 6 -> 3; d: 6 (kept).
        let steps = [own(3, &[0]), own(3, &[1]), own(3, &[1]), own(3, &[1])];
        assert_eq!(peak_live_bytes(4, &steps).unwrap(), 7);
    }

    #[test]
    fn skipped_steps_pass_through() {
        // x(8) -> a(100) -> skipped(a) -> c(1) reading it: same as c reading a directly.
        let steps = [own(100, &[0]), Step { kind: StepKind::Skipped, bytes: 0, reads: &[1] }, own(1, &[2])];
        assert_eq!(peak_live_bytes(8, &steps).unwrap(), 108);
        // a skipped last step is not the result: a(100) is freed after b reads it.
        let steps = [own(100, &[0]), own(5, &[1]), Step { kind: StepKind::Skipped, bytes: 0, reads: &[1] }];
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
