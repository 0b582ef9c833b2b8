//! The one list of a sweep row's metric columns: name, kind, unit and meaning, in column order.
//! The sweep engine writes one Int64 column per entry, in this order (a count beyond 2^63 - 1
//! makes its row invalid, as an overflow does); the Python package reads
//! the list (`archsweep._core.metrics()`) for its column lists, units and formatting.

use crate::graph::Totals;

/// What a metric's number counts: how it is printed and which axis unit a plot gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// a number of things (parameters, multiply-accumulates, operations): printed in k/M/G
    Count,
    /// a size in bytes: printed in MiB (2^20 B) and MB (10^6 B) side by side
    Bytes,
    /// a small number of layers: printed as is
    Layers,
}

impl MetricKind {
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Count => "count",
            MetricKind::Bytes => "bytes",
            MetricKind::Layers => "layers",
        }
    }
}

/// One metric column of a sweep table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// the column's name (stable: datasets and `--where` expressions use it)
    pub name: &'static str,
    pub kind: MetricKind,
    /// what one unit of the number is, e.g. "MACs", "bytes"
    pub unit: &'static str,
    /// how a plot's axis or a table's header names it, e.g. "peak activation"
    pub label: &'static str,
    /// one line saying what the number is
    pub description: &'static str,
}

const fn metric(name: &'static str, kind: MetricKind, unit: &'static str, label: &'static str, description: &'static str) -> Metric {
    Metric { name, kind, unit, label, description }
}

/// Metric columns, in output order (stable names).
pub const METRICS: &[Metric] = &[
    metric("params", MetricKind::Count, "parameters", "params", "parameters: weights and biases of every layer"),
    metric(
        "trainable_params",
        MetricKind::Count,
        "parameters",
        "trainable params",
        "parameters that training updates (frozen layers left out)",
    ),
    metric("buffers", MetricKind::Count, "values", "buffers", "buffer values that are not parameters (e.g. batch-norm running statistics)"),
    metric("macs", MetricKind::Count, "MACs", "MACs", "multiply-accumulates of conv, linear and attention matmuls"),
    metric("flops", MetricKind::Count, "FLOPs", "FLOPs", "floating-point operations of those matmuls: 2 x MACs"),
    metric("other_ops", MetricKind::Count, "ops", "other ops", "element-wise and reduction operations counted apart from MACs"),
    metric("weight_bytes", MetricKind::Bytes, "bytes", "weights", "parameters x the dtype's bytes"),
    metric("buffer_bytes", MetricKind::Bytes, "bytes", "buffers", "buffers, each in its own dtype"),
    metric("activation_bytes", MetricKind::Bytes, "bytes", "activations (all outputs)", "every layer output for the batch, summed"),
    metric(
        "peak_activation_bytes",
        MetricKind::Bytes,
        "bytes",
        "peak activation",
        "largest memory of live activations walking the layers in order (inference)",
    ),
    metric(
        "saved_bytes",
        MetricKind::Bytes,
        "bytes",
        "saved for backward",
        "activations and tensors autograd keeps for the backward of a training step, each storage once",
    ),
    metric(
        "train_bytes",
        MetricKind::Bytes,
        "bytes",
        "training memory",
        "a training step when its backward starts: weights, buffers, gradients, optimizer state and saved_bytes",
    ),
    metric("num_layers", MetricKind::Layers, "layers", "layers", "layers the variant executes (layers switched off left out)"),
];

/// How many metric columns a sweep row has.
pub const NUM_METRICS: usize = METRICS.len();

/// The position of the metric called `name` in [`METRICS`] (its column among the metrics).
pub fn index(name: &str) -> Option<usize> {
    METRICS.iter().position(|m| m.name == name)
}

/// [`index`] at compile time; a name not in [`METRICS`] fails the build.
const fn column(name: &str) -> usize {
    let mut i = 0;
    while i < METRICS.len() {
        if const_eq(METRICS[i].name.as_bytes(), name.as_bytes()) {
            return i;
        }
        i += 1;
    }
    panic!("not a metric name")
}

const fn const_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Each metric's column, by name: code that writes one metric names it, never its position.
pub mod col {
    use super::column;
    pub const PARAMS: usize = column("params");
    pub const TRAINABLE_PARAMS: usize = column("trainable_params");
    pub const BUFFERS: usize = column("buffers");
    pub const MACS: usize = column("macs");
    pub const FLOPS: usize = column("flops");
    pub const OTHER_OPS: usize = column("other_ops");
    pub const WEIGHT_BYTES: usize = column("weight_bytes");
    pub const BUFFER_BYTES: usize = column("buffer_bytes");
    pub const ACTIVATION_BYTES: usize = column("activation_bytes");
    pub const PEAK_ACTIVATION_BYTES: usize = column("peak_activation_bytes");
    pub const SAVED_BYTES: usize = column("saved_bytes");
    pub const TRAIN_BYTES: usize = column("train_bytes");
    pub const NUM_LAYERS: usize = column("num_layers");
}

/// The metric column of each summed total that grid-block and dense tables keep
/// ([`crate::graph::KEPT`], in its order).
pub const KEPT_COLUMNS: [usize; crate::graph::KEPT.len()] = [
    col::PARAMS,
    col::TRAINABLE_PARAMS,
    col::BUFFERS,
    col::BUFFER_BYTES,
    col::MACS,
    col::OTHER_OPS,
    col::ACTIVATION_BYTES,
    col::SAVED_BYTES,
];

/// A finished variant's metric values, in [`METRICS`] order.
pub fn values(t: &Totals, num_layers: u64) -> [u64; NUM_METRICS] {
    let mut v = [0; NUM_METRICS];
    v[col::PARAMS] = t.params;
    v[col::TRAINABLE_PARAMS] = t.trainable_params;
    v[col::BUFFERS] = t.buffers;
    v[col::MACS] = t.macs;
    v[col::FLOPS] = t.flops;
    v[col::OTHER_OPS] = t.other_ops;
    v[col::WEIGHT_BYTES] = t.weight_bytes;
    v[col::BUFFER_BYTES] = t.buffer_bytes;
    v[col::ACTIVATION_BYTES] = t.activation_bytes;
    v[col::PEAK_ACTIVATION_BYTES] = t.peak_activation_bytes;
    v[col::SAVED_BYTES] = t.saved_bytes;
    v[col::TRAIN_BYTES] = t.train_bytes;
    v[col::NUM_LAYERS] = num_layers;
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_published_columns_in_order() {
        // the dataset schema's documented column order (README, docs): changing it changes
        // every dataset, so it is written out here rather than read from the list
        let ours: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
        assert_eq!(
            ours,
            [
                "params",
                "trainable_params",
                "buffers",
                "macs",
                "flops",
                "other_ops",
                "weight_bytes",
                "buffer_bytes",
                "activation_bytes",
                "peak_activation_bytes",
                "saved_bytes",
                "train_bytes",
                "num_layers"
            ]
        );
    }

    #[test]
    fn values_put_each_total_in_its_named_column() {
        let t = Totals {
            params: 1,
            trainable_params: 2,
            buffers: 3,
            macs: 4,
            flops: 5,
            other_ops: 6,
            weight_bytes: 7,
            buffer_bytes: 8,
            activation_bytes: 9,
            peak_activation_bytes: 10,
            saved_bytes: 11,
            train_bytes: 12,
            ..Totals::default()
        };
        let v = values(&t, 13);
        for (m, want) in METRICS.iter().zip(1..) {
            assert_eq!(v[index(m.name).unwrap()], want, "{}", m.name);
        }
    }

    #[test]
    fn kept_columns_hold_the_kept_totals() {
        for (k, &field) in crate::graph::KEPT.iter().enumerate() {
            let mut summed = [0; crate::graph::SUMMED];
            summed[field] = 1;
            let mut t = Totals::default();
            crate::graph::set_summed(&mut t, summed);
            let v = values(&t, 0);
            assert_eq!(v.iter().position(|&x| x == 1), Some(KEPT_COLUMNS[k]), "kept total {k}");
        }
    }

    #[test]
    fn index_finds_every_metric_and_nothing_else() {
        for (i, m) in METRICS.iter().enumerate() {
            assert_eq!(index(m.name), Some(i));
        }
        assert_eq!(index("weight_params"), None);
        assert_eq!(index(""), None);
    }

    #[test]
    fn kinds_follow_the_names() {
        for m in METRICS {
            assert_eq!(m.kind == MetricKind::Bytes, m.name.ends_with("_bytes"), "{}", m.name);
            assert_eq!(m.kind == MetricKind::Bytes, m.unit == "bytes", "{}", m.name);
            assert!(!m.description.is_empty() && !m.description.contains('\n'), "{}", m.name);
        }
    }
}
