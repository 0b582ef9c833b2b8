//! The one list of a sweep row's metric columns: name, kind, unit and meaning, in column order.
//! The sweep engine writes one UInt64 column per entry, in this order; the Python package reads
//! the list (`archsweep._core.metrics()`) for its column lists, units and formatting.

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
    metric("trainable_params", MetricKind::Count, "parameters", "trainable params", "parameters that training updates (frozen layers left out)"),
    metric("buffers", MetricKind::Count, "values", "buffers", "buffer values that are not parameters (e.g. batch-norm running statistics)"),
    metric("macs", MetricKind::Count, "MACs", "MACs", "multiply-accumulates of conv, linear and attention matmuls"),
    metric("flops", MetricKind::Count, "FLOPs", "FLOPs", "floating-point operations of those matmuls: 2 x MACs"),
    metric("other_ops", MetricKind::Count, "ops", "other ops", "element-wise and reduction operations counted apart from MACs"),
    metric("weight_bytes", MetricKind::Bytes, "bytes", "weights", "parameters x the dtype's bytes"),
    metric("buffer_bytes", MetricKind::Bytes, "bytes", "buffers", "buffers, each in its own dtype"),
    metric("activation_bytes", MetricKind::Bytes, "bytes", "activations (all outputs)", "every layer output for the batch, summed"),
    metric("peak_activation_bytes", MetricKind::Bytes, "bytes", "peak activation", "largest memory of live activations walking the layers in order (inference)"),
    metric("train_bytes", MetricKind::Bytes, "bytes", "training memory (estimate)", "training estimate: weights, buffers, gradients, optimizer state and saved activations"),
    metric("num_layers", MetricKind::Layers, "layers", "layers", "layers the variant executes (layers switched off left out)"),
];

/// The position of the metric called `name` in [`METRICS`] (its column among the metrics).
pub fn index(name: &str) -> Option<usize> {
    METRICS.iter().position(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_sweep_engines_columns_in_order() {
        let ours: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
        assert_eq!(ours, crate::space::sweep::METRICS);
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
