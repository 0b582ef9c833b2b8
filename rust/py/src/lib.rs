//! Python bindings: conversions and error mapping only. No cost logic lives here.

use archsweep_core::{analyze, Analysis, Dtype, Error as CoreError, Model, Optimizer, Options};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::panic::{catch_unwind, AssertUnwindSafe};

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
/// `optimizer`, `totals` (a dict) and `layers` (a dict of equal-length column lists).
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
    let result = guarded_detached(py, || {
        let dtype: Dtype = dtype.parse()?;
        let optimizer: Optimizer = optimizer.parse()?;
        let model = Model::from_json_str(model_json)?;
        analyze(&model, input_shape.as_deref(), Options { batch, dtype, optimizer })
    })?;
    to_dict(py, &result)
}

fn to_dict<'py>(py: Python<'py>, a: &Analysis) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("name", &a.name)?;
    out.set_item("input_shape", a.input_shape.dims().to_vec())?;
    out.set_item("dtype", a.options.dtype.name())?;
    out.set_item("optimizer", a.options.optimizer.name())?;
    out.set_item("batch", a.options.batch)?;
    let t = &a.totals;
    let totals = PyDict::new(py);
    for (k, v) in [
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
        ("train_step_bytes", t.train_step_bytes),
    ] {
        totals.set_item(k, v)?;
    }
    out.set_item("totals", totals)?;
    let l = &a.layers;
    let col_u64 = |f: &dyn Fn(&archsweep_core::LayerReport) -> u64| l.iter().map(f).collect::<Vec<u64>>();
    let layers = PyDict::new(py);
    layers.set_item("name", l.iter().map(|r| r.name.clone()).collect::<Vec<_>>())?;
    layers.set_item("op", l.iter().map(|r| r.op.clone()).collect::<Vec<_>>())?;
    // list columns flattened, with Arrow offsets: one list of a layer's items each made a
    // polars Series of its own (~40 µs a layer: 4 s for a 100,000-layer chain)
    let offsets = |lens: &mut dyn Iterator<Item = usize>| -> Vec<i64> {
        std::iter::once(0)
            .chain(lens.scan(0i64, |acc, n| {
                Some({
                    *acc += n as i64;
                    *acc
                })
            }))
            .collect()
    };
    layers.set_item("inputs", l.iter().flat_map(|r| r.inputs.iter().cloned()).collect::<Vec<_>>())?;
    layers.set_item("inputs_offsets", offsets(&mut l.iter().map(|r| r.inputs.len())))?;
    layers.set_item("output_shape", l.iter().flat_map(|r| r.output_shape.dims().iter().copied()).collect::<Vec<u64>>())?;
    layers.set_item("output_shape_offsets", offsets(&mut l.iter().map(|r| r.output_shape.dims().len())))?;
    layers.set_item("params", col_u64(&|r| r.params))?;
    layers.set_item("weight_params", col_u64(&|r| r.cost.weight_params))?;
    layers.set_item("bias_params", col_u64(&|r| r.cost.bias_params))?;
    layers.set_item("trainable_params", col_u64(&|r| r.trainable_params))?;
    layers.set_item("buffers", col_u64(&|r| r.cost.buffers))?;
    layers.set_item("buffer_bytes", col_u64(&|r| r.cost.buffer_bytes))?;
    layers.set_item("macs", col_u64(&|r| r.cost.macs))?;
    // per-layer flops cannot overflow where the total did not
    layers.set_item("flops", col_u64(&|r| r.cost.macs * 2))?;
    layers.set_item("other_ops", col_u64(&|r| r.cost.other_ops))?;
    layers.set_item("weight_bytes", col_u64(&|r| r.weight_bytes))?;
    layers.set_item("activation_bytes", col_u64(&|r| r.activation_bytes))?;
    layers.set_item("saved_bytes", col_u64(&|r| r.saved_bytes))?;
    layers.set_item("is_view", l.iter().map(|r| r.is_view).collect::<Vec<_>>())?;
    layers.set_item("reaches_output", l.iter().map(|r| r.reaches_output).collect::<Vec<_>>())?;
    layers.set_item("formula", l.iter().map(|r| r.formula.clone()).collect::<Vec<_>>())?;
    out.set_item("layers", layers)?;
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
