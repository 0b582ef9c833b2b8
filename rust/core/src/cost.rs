//! The cost record of one layer and the counting convention, stated once here.
//!
//! * `macs`: multiply-accumulates of convolutions, linear layers and the attention matmuls
//!   (Q·Kᵀ and attn·V), and nothing else — torchvision's `_ops` convention. Bias adds are not
//!   counted. A convolution costs N·C_out·(C_in/groups)·∏k·∏out_spatial; a transposed one
//!   N·C_in·(C_out/groups)·∏k·∏in_spatial; a linear layer N·(rows)·in·out.
//! * `flops` = 2 × `macs` (one multiply and one add), what `torch.utils.flop_counter` reports.
//! * `other_ops`: a separate, named count of the work the convention leaves out:
//!   one op per output element for activations, normalisation, softmax, elementwise add/mul,
//!   upsampling and embedding look-ups / additions; for pooling, the window elements read per
//!   output element (summed exactly, also for adaptive pools); zero for views (flatten,
//!   reshape, permute, identity, dropout at inference). Never mixed into `macs`.
//! * Params are split into weights and biases; buffers (BatchNorm running statistics, …) are
//!   counted apart, with their own bytes (running stats fp32, `num_batches_tracked` int64).

use crate::error::Error;
use crate::num::{add, commas, join_x};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    pub weight_params: u64,
    pub bias_params: u64,
    /// Number of buffer elements (not parameters: not trained, not in `params`).
    pub buffers: u64,
    /// Bytes of those buffers in their own dtypes (independent of the model's `--dtype`).
    pub buffer_bytes: u64,
    pub macs: u64,
    pub other_ops: u64,
}

impl Cost {
    pub fn params(&self) -> Result<u64, Error> {
        add(self.weight_params, self.bias_params)
    }
}

/// `3×3×3×64 + 64 = 1,792`: a parameter formula for the `--explain` output.
pub fn params_formula(weight_factors: &[u64], bias: u64, total: u64) -> String {
    let w = join_x(weight_factors);
    if bias > 0 {
        format!("params {w} + {bias} = {}", commas(total))
    } else {
        format!("params {w} = {}", commas(total))
    }
}

/// `macs 64×224×224 outputs × 3×3×3 = 86,704,128` (with `N × ` in front when batch > 1).
pub fn macs_formula(batch: u64, outputs: &[u64], per_output: &[u64], total: u64) -> String {
    let b = if batch > 1 { format!("{batch} × ") } else { String::new() };
    format!("macs {b}{} outputs × {} = {}", join_x(outputs), join_x(per_output), commas(total))
}
