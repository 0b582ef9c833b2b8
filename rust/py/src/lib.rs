//! Python bindings: conversions and error mapping only. No cost logic lives here.

use archsweep_core::{analyze, Analysis, Dtype, Error as CoreError, LayerReport, Model, Optimizer, Options, Totals};
use arrow_array::{ArrayRef, BooleanArray, Int64Array, LargeListArray, RecordBatch, StringViewArray, UInt64Array};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Schema};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

mod space;

/// mimalloc, not the system allocator: a sweep allocates ~260 bytes of columns a row and frees
/// them once Arrow/polars are done. glibc hands such blocks back to the kernel, so every chunk
/// page-faults its memory in again, and concurrent page faults scale badly (VGG grid blocks:
/// 16 M/s on one thread, 10 M/s on two); mimalloc reuses the freed pages (28 M/s on two).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` (mimalloc.h, v2 and v3): milliseconds before freed memory goes back
/// to the kernel.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// The purge delay set at import unless `MIMALLOC_PURGE_DELAY` says otherwise: 10 s rather than
/// mimalloc's 1 s. A sweep's columns (~260 bytes a row) are freed when polars drops them and
/// the next chunk or call allocates as much again, often more than a second later (a 4*10^6-row
/// in-memory VGG sample takes ~0.3 s, a benchmark or notebook loop calls it again and again):
/// after a purge every page faults back in, zeroed by the kernel. Measured on this VM, 7 calls
/// of such a sample a process: with 1 s, calls with 77,000-232,000 page faults and 45-167 ns of
/// system time a row (4.3-8.9 M/s) among ones with 3,000-20,000 and under 15 ns (10-13 M/s);
/// with 10 s, none. Memory still goes back once nothing has reused it for 10 s.
const PURGE_DELAY_MS: std::ffi::c_long = 10_000;

fn set_purge_delay() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() && std::env::var_os("MIMALLOC_RESET_DELAY").is_none() {
        // SAFETY: mi_option_set only stores the value (an option index mimalloc knows)
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
}

create_exception!(
    archsweep._core,
    ArchsweepError,
    PyValueError,
    "An invalid model, layer or option; the message names the layer, the rule and the numbers."
);
create_exception!(
    archsweep._core,
    AttributeSpecError,
    ArchsweepError,
    "A layer's attribute is missing, unknown (a typo?) or has a bad value."
);
create_exception!(
    archsweep._core,
    UnknownOpError,
    ArchsweepError,
    "A layer names an op archsweep does not know (`archsweep ops` lists them)."
);
create_exception!(
    archsweep._core,
    ShapeError,
    ArchsweepError,
    "A layer's inputs break its shape rule (rank, channels, kernel larger than the input, ...)."
);
create_exception!(archsweep._core, CountOverflowError, ArchsweepError, "A count (elements, params, MACs, bytes) does not fit in 64 bits.");
create_exception!(
    archsweep._core,
    InvalidModelError,
    ArchsweepError,
    "The model file or its graph is malformed: keys, names, wiring, number of inputs."
);
create_exception!(
    archsweep._core,
    SpecError,
    ArchsweepError,
    "A search space's spec is malformed (keys, choices, names, wiring) or larger than the engine handles."
);
create_exception!(
    archsweep._core,
    ExpressionError,
    ArchsweepError,
    "An expression of a space or a `where` filter does not parse, compile or evaluate; `expression` is its text, `span` the (start, end) offsets of the failing part or None."
);

/// The message of a caught panic.
fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("internal error in archsweep-core (please report): {what}")
}

/// Run `f` so that neither an error nor a panic crosses into Python as anything but an
/// `ArchsweepError`: a core error becomes the subclass of its kind (see [`to_py_err`]). Callable
/// without the GIL (it takes it to build the exception).
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T, CoreError>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Python::attach(|py| to_py_err(py, e))),
        Err(panic) => Err(ArchsweepError::new_err(panic_message(panic))),
    }
}

/// Run `f` without the GIL, as [`guarded`] does; a core error becomes the `ArchsweepError`
/// subclass of its kind, with the attributes `kind` (`ErrorKind::code`), `layer` and `op`.
fn guarded_detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> Result<T, CoreError> + Send) -> PyResult<T> {
    match py.detach(|| catch_unwind(AssertUnwindSafe(f))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(to_py_err(py, e)),
        Err(panic) => Err(ArchsweepError::new_err(panic_message(panic))),
    }
}

fn to_py_err(py: Python<'_>, e: CoreError) -> PyErr {
    let message = e.to_string();
    let code = e.kind().code();
    let err = match code {
        "missing_attribute" | "unknown_attribute" | "bad_attribute" => AttributeSpecError::new_err(message),
        "unknown_op" => UnknownOpError::new_err(message),
        "shape" => ShapeError::new_err(message),
        "overflow" => CountOverflowError::new_err(message),
        "invalid_model" | "arity" => InvalidModelError::new_err(message),
        "spec" | "limit" | "constraint_violated" => SpecError::new_err(message),
        "expression" | "filter" => ExpressionError::new_err(message),
        _ => ArchsweepError::new_err(message),
    };
    let value = err.value(py);
    for (name, v) in [("kind", Some(code)), ("layer", e.layer()), ("op", e.op())] {
        if let Err(failed) = value.setattr(name, v) {
            return failed;
        }
    }
    if let Some(x) = e.kind().expression() {
        if let Err(failed) = value.setattr("expression", x.expression.as_str()).and_then(|()| value.setattr("span", x.span)) {
            return failed;
        }
    }
    err
}

/// Analyse a model given as JSON text. Returns a dict with `name`, `input_shape`, `dtype`,
/// `optimizer`, `batch`, `totals` (a dict of ints) and `layers` (an [`ArrowRows`]: the layer
/// table, its count columns Int64). A count beyond 2^63 - 1 is a `CountOverflowError` naming
/// the layer (or `totals`) and the column.
#[pyfunction]
#[pyo3(signature = (model_json, input_shape=None, batch=1, dtype="fp32", optimizer="adam"))]
fn analyze_json<'py>(
    py: Python<'py>,
    model_json: &str,
    input_shape: Option<Vec<u64>>,
    batch: u64,
    dtype: &str,
    optimizer: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let (result, layers) = guarded_detached(py, || {
        let dtype: Dtype = dtype.parse()?;
        let optimizer: Optimizer = optimizer.parse()?;
        let model = Model::from_json_str(model_json)?;
        let a = analyze(&model, input_shape.as_deref(), Options { batch, dtype, optimizer })?;
        let layers = layer_table(&a)?;
        Ok((a, layers))
    })?;
    let layers = layers.map_err(|b| b.into_py_err(py))?;
    to_dict(py, &result, layers)
}

/// The largest value of `analyze`'s count columns: they are Int64, as a sweep's metric columns
/// are, so that they subtract and mix with Int64 columns without wrapping or widening.
const INT64_MAX: u64 = i64::MAX as u64;

/// A count beyond [`INT64_MAX`]: the layer and its op (`totals` and "" for the model's
/// totals), the column and the value.
struct BeyondInt64 {
    layer: String,
    op: String,
    column: &'static str,
    value: u64,
}

impl BeyondInt64 {
    fn into_py_err(self, py: Python<'_>) -> PyErr {
        let at = if self.op.is_empty() { self.layer.clone() } else { format!("{} ({})", self.layer, self.op) };
        let err = CountOverflowError::new_err(format!(
            "{at}: {} = {} is beyond 2^63 - 1 = {INT64_MAX}, the largest value of the Int64 count columns",
            self.column, self.value
        ));
        let value = err.value(py);
        let op = (!self.op.is_empty()).then_some(self.op.as_str());
        for (name, v) in [("kind", Some("overflow")), ("layer", Some(self.layer.as_str())), ("op", op)] {
            if let Err(failed) = value.setattr(name, v) {
                return failed;
            }
        }
        err
    }
}

/// The count columns of the layer table, in column order (between `output_shape` and `is_view`).
const LAYER_COUNTS: [&str; 12] = [
    "params",
    "weight_params",
    "bias_params",
    "trainable_params",
    "buffers",
    "buffer_bytes",
    "macs",
    "flops",
    "other_ops",
    "weight_bytes",
    "activation_bytes",
    "saved_bytes",
];

/// A layer's values of [`LAYER_COUNTS`].
#[inline]
fn layer_counts(r: &LayerReport) -> [u64; 12] {
    let c = &r.cost;
    // per-layer flops cannot overflow u64 where the total did not
    [
        r.params,
        c.weight_params,
        c.bias_params,
        r.trainable_params,
        c.buffers,
        c.buffer_bytes,
        c.macs,
        c.macs * 2,
        c.other_ops,
        r.weight_bytes,
        r.activation_bytes,
        r.saved_bytes,
    ]
}

/// The totals, in `archsweep.analysis.TOTAL_KEYS` order.
fn totals(t: &Totals) -> [(&'static str, u64); 18] {
    [
        ("params", t.params),
        ("weight_params", t.weight_params),
        ("bias_params", t.bias_params),
        ("trainable_params", t.trainable_params),
        ("buffers", t.buffers),
        ("buffer_bytes", t.buffer_bytes),
        ("macs", t.macs),
        ("flops", t.flops),
        ("other_ops", t.other_ops),
        ("weight_bytes", t.weight_bytes),
        ("input_bytes", t.input_bytes),
        ("activation_bytes", t.activation_bytes),
        ("peak_activation_bytes", t.peak_activation_bytes),
        ("saved_bytes", t.saved_bytes),
        ("grad_bytes", t.grad_bytes),
        ("optimizer_bytes", t.optimizer_bytes),
        ("train_bytes", t.train_bytes),
        ("peak_eager_bytes", t.peak_eager_bytes),
    ]
}

/// The layer table as one Arrow record batch, in the column order of
/// `archsweep.analysis.LAYER_COLUMNS`: strings as string views and lists as large lists
/// (polars' own layouts, taken without a copy), counts Int64. Made in bulk: a Python list per
/// column was ~1.5 million Python ints for a 100,000-layer chain. The inner error: the first
/// count beyond [`INT64_MAX`], in a layer (the first such layer, its first such column) or else
/// in the totals.
fn layer_table(a: &Analysis) -> Result<Result<RecordBatch, BeyondInt64>, CoreError> {
    let l = &a.layers;
    // the count columns in one pass over the layers, each value checked (the first layer with a
    // count beyond INT64_MAX is named, its first such column)
    let mut counts: [Vec<i64>; 12] = std::array::from_fn(|_| Vec::with_capacity(l.len()));
    for r in l {
        let values = layer_counts(r);
        if let Some(k) = values.iter().position(|&v| v > INT64_MAX) {
            return Ok(Err(BeyondInt64 { layer: r.name.clone(), op: r.op.clone(), column: LAYER_COUNTS[k], value: values[k] }));
        }
        for (column, v) in counts.iter_mut().zip(values) {
            column.push(v as i64);
        }
    }
    if let Some((column, value)) = totals(&a.totals).into_iter().find(|&(_, v)| v > INT64_MAX) {
        return Ok(Err(BeyondInt64 { layer: "totals".into(), op: String::new(), column, value }));
    }
    let strings = |f: fn(&LayerReport) -> &str| -> ArrayRef { Arc::new(StringViewArray::from_iter_values(l.iter().map(f))) };
    let item = |dt: DataType| Arc::new(Field::new("item", dt, false));
    let inputs = LargeListArray::new(
        item(DataType::Utf8View),
        OffsetBuffer::<i64>::from_lengths(l.iter().map(|r| r.inputs.len())),
        Arc::new(StringViewArray::from_iter_values(l.iter().flat_map(|r| r.inputs.iter()))),
        None,
    );
    let shapes = LargeListArray::new(
        item(DataType::UInt64),
        OffsetBuffer::<i64>::from_lengths(l.iter().map(|r| r.output_shape.dims().len())),
        Arc::new(UInt64Array::from_iter_values(l.iter().flat_map(|r| r.output_shape.dims().iter().copied()))),
        None,
    );
    let mut columns: Vec<(&str, ArrayRef)> =
        vec![("name", strings(|r| &r.name)), ("op", strings(|r| &r.op)), ("inputs", Arc::new(inputs)), ("output_shape", Arc::new(shapes))];
    columns.extend(LAYER_COUNTS.iter().zip(counts).map(|(&name, values)| (name, Arc::new(Int64Array::from(values)) as ArrayRef)));
    columns.push(("is_view", Arc::new(BooleanArray::from_iter(l.iter().map(|r| Some(r.is_view))))));
    columns.push(("reaches_output", Arc::new(BooleanArray::from_iter(l.iter().map(|r| Some(r.reaches_output))))));
    columns.push(("formula", strings(|r| &r.formula)));
    let fields: Vec<Field> = columns.iter().map(|(name, arr)| Field::new(*name, arr.data_type().clone(), false)).collect();
    let arrays = columns.into_iter().map(|(_, arr)| arr).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map(Ok).map_err(|e| CoreError::invalid_argument(e.to_string()))
}

fn to_dict<'py>(py: Python<'py>, a: &Analysis, layers: RecordBatch) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("name", &a.name)?;
    out.set_item("input_shape", a.input_shape.dims().to_vec())?;
    out.set_item("dtype", a.options.dtype.name())?;
    out.set_item("optimizer", a.options.optimizer.name())?;
    out.set_item("batch", a.options.batch)?;
    let totals_dict = PyDict::new(py);
    for (k, v) in totals(&a.totals) {
        totals_dict.set_item(k, v)?;
    }
    out.set_item("totals", totals_dict)?;
    out.set_item("layers", space::ArrowRows::new(layers))?;
    Ok(out)
}

/// The names of every op the core knows.
#[pyfunction]
fn op_names() -> Vec<&'static str> {
    archsweep_core::ops::names().collect()
}

/// Positions every sweep engine of this process has evaluated so far (a counter advanced as
/// each piece of a chunk finishes): the progress display polls it during a chunk.
#[pyfunction]
fn positions_done() -> u64 {
    archsweep_core::space::engine::positions_done()
}

/// The dtypes and their sizes in bytes.
#[pyfunction]
fn dtypes() -> Vec<(&'static str, u64)> {
    Dtype::ALL.iter().map(|(n, d)| (*n, d.bytes())).collect()
}

/// Indices of the Pareto-optimal rows (minimisation) of rows sorted by the objectives; each
/// column a pyarrow UInt64 array without nulls.
#[pyfunction]
fn pareto_sorted(py: Python<'_>, cols: Vec<arrow_pyarrow::PyArrowType<arrow_data::ArrayData>>) -> PyResult<Vec<usize>> {
    use arrow_array::Array;
    let arrays: Vec<arrow_array::UInt64Array> = cols.into_iter().map(|c| arrow_array::UInt64Array::from(c.0)).collect();
    if arrays.iter().any(|a| a.null_count() > 0) {
        return Err(ArchsweepError::new_err("pareto: objective columns must not contain nulls"));
    }
    if arrays.windows(2).any(|w| w[0].len() != w[1].len()) {
        return Err(ArchsweepError::new_err("pareto: objective columns differ in length"));
    }
    py.detach(|| {
        guarded(|| {
            let refs: Vec<&[u64]> = arrays.iter().map(|a| a.values().as_ref()).collect();
            Ok(archsweep_core::pareto::pareto_sorted(&refs))
        })
    })
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    set_purge_delay();
    m.add("ArchsweepError", m.py().get_type::<ArchsweepError>())?;
    m.add("AttributeSpecError", m.py().get_type::<AttributeSpecError>())?;
    m.add("UnknownOpError", m.py().get_type::<UnknownOpError>())?;
    m.add("ShapeError", m.py().get_type::<ShapeError>())?;
    m.add("CountOverflowError", m.py().get_type::<CountOverflowError>())?;
    m.add("InvalidModelError", m.py().get_type::<InvalidModelError>())?;
    m.add("SpecError", m.py().get_type::<SpecError>())?;
    m.add("ExpressionError", m.py().get_type::<ExpressionError>())?;
    // the sampler a sample uses unless told otherwise (archsweep-core's Permutation)
    m.add("SAMPLER", archsweep_core::space::ids::SAMPLER)?;
    m.add_function(wrap_pyfunction!(analyze_json, m)?)?;
    m.add_function(wrap_pyfunction!(op_names, m)?)?;
    m.add_function(wrap_pyfunction!(dtypes, m)?)?;
    m.add_function(wrap_pyfunction!(positions_done, m)?)?;
    m.add_class::<space::CompiledSpace>()?;
    m.add_class::<space::ArrowRows>()?;
    m.add_class::<space::RowFilter>()?;
    m.add_function(wrap_pyfunction!(pareto_sorted, m)?)?;
    m.add_function(wrap_pyfunction!(metrics, m)?)?;
    Ok(())
}

// --- the metric list (archsweep-core's metric.rs), read by the Python package ------------------

/// The metric columns of a sweep table, in column order: one dict per metric with `name`,
/// `kind` ("count", "bytes" or "layers"), `unit`, `label` and `description`.
#[pyfunction]
fn metrics(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    archsweep_core::metric::METRICS
        .iter()
        .map(|m| {
            let d = PyDict::new(py);
            d.set_item("name", m.name)?;
            d.set_item("kind", m.kind.name())?;
            d.set_item("unit", m.unit)?;
            d.set_item("label", m.label)?;
            d.set_item("description", m.description)?;
            Ok(d)
        })
        .collect()
}
