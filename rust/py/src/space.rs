//! Bindings for search spaces and sweeps: conversions, thread pools and Arrow export only.

use crate::{guarded, ArchsweepError};
use archsweep_core::metric::METRICS;
use archsweep_core::space::engine::{self, Columns, Counts, Filter};
use archsweep_core::space::expr::Value;
use archsweep_core::space::ids::{encode, size_decimal, size_ids, Id, Ids, Permutation, SAMPLER};
use archsweep_core::space::{compile, Engine, Program, Spec};
use archsweep_core::{Dtype, Error as CoreError, Optimizer, Options};
use arrow_array::types::UInt32Type;
use arrow_array::{
    ArrayRef, BooleanArray, Decimal128Array, DictionaryArray, Float64Array, Int64Array, LargeListArray, RecordBatch, StringArray,
    StringViewArray, StructArray, UInt32Array, UInt64Array,
};
use arrow_buffer::{BooleanBuffer, Buffer, MutableBuffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_data::ffi::FFI_ArrowArray;
use arrow_pyarrow::ToPyArrow;
use arrow_schema::ffi::FFI_ArrowSchema;
use arrow_schema::{DataType, Field, Schema};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

fn value_to_py<'py>(py: Python<'py>, v: Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(f) => f.into_pyobject(py)?.into_any(),
        Value::Bool(b) => pyo3::types::PyBool::new(py, b).to_owned().into_any(),
        Value::Str(text) => pyo3::types::PyString::new(py, text.as_str()).into_any(),
    })
}

/// Thread pools by (process id, thread count).
type Pools = HashMap<(u32, usize), Arc<rayon::ThreadPool>>;

/// A thread pool per (process id, thread count): rayon's pools do not survive fork(), so a
/// forked child (multiprocessing, Dask worker) gets its own.
fn pool(threads: usize) -> Result<Arc<rayon::ThreadPool>, CoreError> {
    static POOLS: OnceLock<Mutex<Pools>> = OnceLock::new();
    let key = (std::process::id(), threads);
    let mut pools = POOLS.get_or_init(Default::default).lock().map_err(|_| CoreError::invalid_argument("thread-pool registry poisoned"))?;
    pools.retain(|(pid, _), _| *pid == key.0);
    if let Some(p) = pools.get(&key) {
        return Ok(p.clone());
    }
    let p = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| CoreError::invalid_argument(e.to_string()))?);
    pools.insert(key, p.clone());
    Ok(p)
}

#[pyclass(module = "archsweep._core", frozen)]
pub struct CompiledSpace {
    /// the compiled space and the run-time state its sweeps share
    engine: Engine,
    radix: Vec<u64>,
}

#[pymethods]
impl CompiledSpace {
    #[new]
    fn new(py: Python<'_>, spec_json: &str) -> PyResult<Self> {
        py.detach(|| {
            guarded(|| {
                let v: serde_json::Value =
                    serde_json::from_str(spec_json).map_err(|e| CoreError::spec(format!("spec is not valid JSON: {e}")))?;
                let prog = compile(&Spec::from_value(&v)?)?;
                let radix = prog.id_radix();
                Ok(CompiledSpace { engine: Engine::new(prog), radix })
            })
        })
    }

    #[getter]
    fn name(&self) -> &str {
        &self.prog().name
    }

    /// Primary variable names, in digit order (the last changes fastest).
    #[getter]
    fn var_names(&self) -> Vec<String> {
        self.prog().vars.iter().map(|v| v.name.clone()).collect()
    }

    #[getter]
    fn derived_names(&self) -> Vec<String> {
        self.prog().derived.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Each primary variable's choices.
    fn var_choices<'py>(&self, py: Python<'py>) -> PyResult<Vec<Vec<Bound<'py, PyAny>>>> {
        self.prog().vars.iter().map(|v| v.choices.iter().map(|&c| value_to_py(py, c)).collect()).collect()
    }

    /// The radixes of variant ids: each variable's number of choices (or, with conditional
    /// variables, each group's number of configurations: README, "Variant ids").
    #[getter]
    fn radix(&self) -> Vec<u64> {
        self.radix.clone()
    }

    /// Primary variables that exist only in some variants (a `when` condition), each with the
    /// condition's text, in digit order.
    fn conditions(&self) -> Vec<(String, String)> {
        self.prog().vars.iter().filter_map(|v| Some((v.name.clone(), v.condition.as_ref()?.source().to_string()))).collect()
    }

    /// The variant id of the variables' digits (indices into their choices), in digit order;
    /// None for a variable that is not given. The digits of variables that do not exist in the
    /// configuration are ignored; a missing one that does exist is an error.
    fn variant_id(&self, digits: Vec<Option<u64>>) -> PyResult<Id> {
        let prog = self.prog();
        let radix = prog.radix();
        if digits.len() != radix.len() || digits.iter().zip(&radix).any(|(d, &r)| d.is_some_and(|d| d >= r)) {
            return Err(ArchsweepError::new_err(format!("expected a digit below its radix for each of the {} variables", radix.len())));
        }
        let flat: Vec<u64> = digits.iter().map(|d| d.unwrap_or(0)).collect();
        let mut active = vec![true; radix.len()];
        let id = match &prog.networks {
            Some(n) => n.network_id(&flat, &mut active),
            None => encode(&flat, &radix).ok_or_else(|| ArchsweepError::new_err("the variant id does not fit in 128 bits"))?,
        };
        if let Some(v) = (0..radix.len()).find(|&v| digits[v].is_none() && active[v]) {
            return Err(ArchsweepError::new_err(format!("config has no value for variable '{}'", prog.vars[v].name)));
        }
        Ok(id)
    }

    /// The exact number of variants, as a decimal string (arbitrary precision).
    #[getter]
    fn size_decimal(&self) -> String {
        size_decimal(&self.radix)
    }

    #[getter]
    fn num_layer_instances(&self) -> usize {
        self.prog().instances.len()
    }

    fn config<'py>(&self, py: Python<'py>, id: Id) -> PyResult<Bound<'py, PyDict>> {
        self.check_id(id)?;
        let cfg = guarded(|| engine::config(self.prog(), id))?;
        let d = PyDict::new(py);
        for (k, v) in cfg {
            d.set_item(k, value_to_py(py, v)?)?;
        }
        Ok(d)
    }

    fn model_json(&self, id: Id) -> PyResult<String> {
        self.check_id(id)?;
        guarded(|| engine::model_json(self.prog(), id).map(|v| v.to_string()))
    }

    /// Evaluate positions [start, end). mode: "grid" (position = id), "sample" (a seeded
    /// permutation of the ids), "ids" (positions index `ids`). Returns (list of pyarrow.RecordBatch,
    /// counts dict) — one batch per contiguous piece, in order.
    /// `reuse=False` evaluates every variant from scratch (no segment memo, no prefix reuse):
    /// the reference the fast paths are tested against. `sampler` chooses the sample's
    /// permutation (1 or 2, see archsweep-core's `Permutation`).
    #[pyo3(signature = (mode, start, end, seed=0, ids=None, r#where=None, batch=1, dtype="fp32", optimizer="adam", threads=0, reuse=true, sampler=SAMPLER))]
    #[allow(clippy::too_many_arguments)]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        mode: &str,
        start: u64,
        end: u64,
        seed: u64,
        ids: Option<Vec<Id>>,
        r#where: Option<String>,
        batch: u64,
        dtype: &str,
        optimizer: &str,
        threads: usize,
        reuse: bool,
        sampler: u32,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>)> {
        let size = size_ids(&self.radix);
        let (parts, counts) = py.detach(|| {
            guarded(|| {
                let size = size
                    .ok_or_else(|| CoreError::spec(format!("the space has {} variants, more than 10^38 ids", size_decimal(&self.radix))))?;
                let opts = options(batch, dtype, optimizer)?;
                let ids_mode = match mode {
                    "grid" => {
                        if end as Id > size {
                            return Err(CoreError::invalid_argument(format!("positions up to {end} exceed the space size {size}")));
                        }
                        Ids::Grid
                    }
                    "sample" => {
                        if end as Id > size {
                            return Err(CoreError::invalid_argument(format!(
                                "cannot sample {end} distinct variants from a space of {size}"
                            )));
                        }
                        Ids::Sample(
                            Permutation::with_sampler(size, seed, sampler)
                                .ok_or_else(|| CoreError::invalid_argument(format!("unknown sampler {sampler} (1 or 2)")))?,
                        )
                    }
                    "ids" => {
                        let ids = ids.as_deref().ok_or_else(|| CoreError::invalid_argument("mode 'ids' needs ids"))?;
                        if let Some(bad) = ids.iter().find(|&&i| i >= size) {
                            return Err(CoreError::invalid_argument(format!("variant id {bad} is out of range [0, {size})")));
                        }
                        if end as usize > ids.len() {
                            return Err(CoreError::invalid_argument(format!("positions up to {end} exceed the {} ids given", ids.len())));
                        }
                        Ids::Explicit(ids)
                    }
                    other => return Err(CoreError::invalid_argument(format!("unknown mode '{other}' (grid, sample, ids)"))),
                };
                let filter = match &r#where {
                    Some(w) if !w.trim().is_empty() => Some(Filter::new(w, self.prog())?),
                    _ => None,
                };
                // the pieces become record batches in parallel too, before the GIL is taken back
                let run = || {
                    let (parts, counts) = self.engine.evaluate_parts_with(ids_mode, start..end, filter.as_ref(), opts, reuse);
                    let batches: Result<Vec<RecordBatch>, _> =
                        parts.into_par_iter().map(|cols| to_record_batch(self.prog(), cols)).collect();
                    Ok::<_, CoreError>((batches.map_err(|e| CoreError::invalid_argument(e.to_string()))?, counts))
                };
                if threads == 0 {
                    run()
                } else {
                    pool(threads)?.install(run)
                }
            })
        })?;
        let batches = pyo3::types::PyList::empty(py);
        for batch in parts {
            batches.append(batch.to_pyarrow(py)?)?;
        }
        Ok((batches.into_any(), counts_dict(py, &counts)?))
    }
}

impl CompiledSpace {
    fn prog(&self) -> &Program {
        self.engine.program()
    }

    fn check_id(&self, id: Id) -> PyResult<()> {
        match size_ids(&self.radix) {
            Some(s) if id >= s => Err(ArchsweepError::new_err(format!("variant id {id} is out of range [0, {s})"))),
            Some(_) => Ok(()),
            None => Err(ArchsweepError::new_err(format!(
                "the space has {} variants, more than 10^38 ids: ids cannot address it",
                size_decimal(&self.radix)
            ))),
        }
    }
}

/// A sweep's options, checked: the dtype, the optimizer, the batch (in that order).
fn options(batch: u64, dtype: &str, optimizer: &str) -> Result<Options, CoreError> {
    let dtype: Dtype = dtype.parse()?;
    let optimizer: Optimizer = optimizer.parse()?;
    if batch == 0 {
        return Err(CoreError::invalid_argument("batch must be at least 1"));
    }
    Ok(Options { batch, dtype, optimizer })
}

fn counts_dict<'py>(py: Python<'py>, c: &Counts) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("evaluated", c.evaluated)?;
    d.set_item("kept", c.kept)?;
    d.set_item("invalid", c.invalid)?;
    d.set_item("rejected_by_constraints", c.rejected_by_constraints)?;
    d.set_item("filtered_out", c.filtered_out)?;
    d.set_item("filter_errors", c.filter_errors)?;
    Ok(d)
}

/// Column buffers to an Arrow record batch; numeric buffers move without copying.
/// Zeroed bytes, shared: batches up to [`SHARED_ZEROS`] bytes slice one allocation (Arrow
/// buffers are immutable and reference counted), larger ones get their own.
fn zeros(bytes: usize) -> Buffer {
    const SHARED_ZEROS: usize = 16 << 20;
    static ZEROS: Mutex<Option<Buffer>> = Mutex::new(None);
    if bytes > SHARED_ZEROS {
        return MutableBuffer::from_len_zeroed(bytes).into();
    }
    let mut shared = ZEROS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if shared.as_ref().is_none_or(|z| z.len() < bytes) {
        *shared = Some(MutableBuffer::from_len_zeroed(bytes.next_power_of_two().min(SHARED_ZEROS)).into());
    }
    shared.as_ref().expect("made just now").slice_with_length(0, bytes)
}

/// The error column of a batch without errors: every row null. Its 16-byte views and its
/// validity bits are all zero, so they come from [`zeros`] rather than being made and zeroed
/// for every batch (`StringViewArray::new_null` does: 16 bytes a row written).
fn null_errors(rows: usize) -> StringViewArray {
    let views = ScalarBuffer::<u128>::new(zeros(rows * 16), 0, rows);
    let nulls = NullBuffer::new(BooleanBuffer::new(zeros(rows.div_ceil(8)), 0, rows));
    // SAFETY: a zero view is an inline string of length 0, valid with no data buffers; and
    // every row is null anyway
    unsafe { StringViewArray::new_unchecked(views, Arc::from([]), Some(nulls)) }
}

/// A variable with string choices (or strings mixed with numbers): a dictionary column whose
/// values are the choices' texts in choice order, which polars reads as a Categorical.
fn categorical_column(choices: &[Value], col: &[i64], nulls: Option<NullBuffer>) -> (DataType, ArrayRef) {
    let mut texts: Vec<String> = Vec::new();
    let mut key_of_raw: HashMap<i64, u32> = HashMap::new();
    for &c in choices {
        let text = c.to_string();
        let key = match texts.iter().position(|t| *t == text) {
            Some(k) => k,
            None => {
                texts.push(text);
                texts.len() - 1
            }
        };
        key_of_raw.insert(engine::raw(c), key as u32);
    }
    // (a row where a conditional variable does not exist holds no choice: key 0 under its null)
    let keys =
        UInt32Array::new(ScalarBuffer::from(col.iter().map(|x| key_of_raw.get(x).copied().unwrap_or(0)).collect::<Vec<u32>>()), nulls);
    let values: ArrayRef = Arc::new(StringArray::from(texts));
    let dictionary = DictionaryArray::<UInt32Type>::try_new(keys, values).expect("every key indexes the choices");
    (DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Utf8)), Arc::new(dictionary))
}

/// A value of a variable whose choices mix ints and floats (a Float64 column): the row's
/// choice says how its raw bits are to be read.
fn mixed_as_f64(choices: &[Value], x: i64) -> f64 {
    let int_like = choices.iter().any(|c| matches!(c, Value::Int(i) if *i == x));
    let float_like = choices.iter().any(|c| matches!(c, Value::Float(f) if f.to_bits() as i64 == x));
    if float_like && !int_like {
        f64::from_bits(x as u64)
    } else {
        x as f64
    }
}

fn to_record_batch(prog: &Program, cols: Columns) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let Columns { variant_id, variant_id_hi, wide, vars, present, valid, errors, metrics, shape_offsets, shape_values, .. } = cols;
    let rows = valid.len();
    // all valid (the common case): no null buffers and an all-null error column, made in bulk.
    // The error column is a string view and the shapes a large list: polars' own layouts, which
    // it takes without converting (a Utf8 column and i32 offsets cost it a copy each, ~5 ms per
    // 2^20 rows)
    let (nulls, valid, messages) = if errors.is_empty() {
        (None, BooleanArray::new(BooleanBuffer::new_set(rows), None), null_errors(rows))
    } else {
        let mut messages: Vec<Option<&str>> = vec![None; rows];
        for (r, e) in &errors {
            messages[*r] = Some(e.as_str());
        }
        (Some(NullBuffer::from(valid.as_slice())), BooleanArray::from(valid), StringViewArray::from(messages))
    };
    // ids of a space beyond 2^64 are Decimal(38, 0) (exact up to 10^38), else u64 (moved, not copied)
    let (id_type, ids): (DataType, ArrayRef) = if wide {
        let ids = variant_id.iter().zip(&variant_id_hi).map(|(&lo, &hi)| (lo as i128) | ((hi as i128) << 64));
        (DataType::Decimal128(38, 0), Arc::new(Decimal128Array::from_iter_values(ids).with_precision_and_scale(38, 0)?))
    } else {
        (DataType::UInt64, Arc::new(UInt64Array::from(variant_id)))
    };
    let mut fields = vec![Field::new("variant_id", id_type, false)];
    let mut arrays: Vec<ArrayRef> = vec![ids];
    for ((v, col), present) in prog.vars.iter().zip(vars).zip(present) {
        // a conditional variable is null in the rows it does not exist in
        let var_nulls = (!present.is_empty()).then(|| NullBuffer::from(present));
        let nullable = v.condition.is_some();
        // columns hold raw bits (see Columns::vars); ints move without a copy
        let (dt, arr): (DataType, ArrayRef) = if v.choices.iter().any(|c| matches!(c, Value::Str(_))) {
            categorical_column(&v.choices, &col, var_nulls)
        } else if v.choices.iter().all(|c| matches!(c, Value::Bool(_))) {
            let bits = BooleanBuffer::from(col.iter().map(|&x| x != 0).collect::<Vec<_>>());
            (DataType::Boolean, Arc::new(BooleanArray::new(bits, var_nulls)))
        } else if v.choices.iter().all(|c| matches!(c, Value::Int(_))) {
            (DataType::Int64, Arc::new(Int64Array::new(ScalarBuffer::from(col), var_nulls)))
        } else if v.choices.iter().all(|c| matches!(c, Value::Float(_))) {
            let floats = col.iter().map(|&x| f64::from_bits(x as u64)).collect::<Vec<_>>();
            (DataType::Float64, Arc::new(Float64Array::new(ScalarBuffer::from(floats), var_nulls)))
        } else {
            let floats = col.iter().map(|&x| mixed_as_f64(&v.choices, x)).collect::<Vec<_>>();
            (DataType::Float64, Arc::new(Float64Array::new(ScalarBuffer::from(floats), var_nulls)))
        };
        fields.push(Field::new(v.name.as_str(), dt, nullable));
        arrays.push(arr);
    }
    fields.push(Field::new("valid", DataType::Boolean, false));
    arrays.push(Arc::new(valid));
    fields.push(Field::new("error", DataType::Utf8View, true));
    arrays.push(Arc::new(messages));
    for (metric, col) in METRICS.iter().zip(metrics) {
        // Int64 (`params - macs` is then a plain subtraction in polars, and mixes with the Int64
        // variables): every valid row's values are at most i64::MAX (the engine makes a row with
        // a larger one invalid), so the u64 buffer is reinterpreted, not copied
        fields.push(Field::new(metric.name, DataType::Int64, true));
        let len = col.len();
        arrays.push(Arc::new(Int64Array::new(ScalarBuffer::new(Buffer::from_vec(col), 0, len), nulls.clone())));
    }
    let item = Arc::new(Field::new("item", DataType::UInt64, false));
    let shapes = LargeListArray::try_new(
        item.clone(),
        OffsetBuffer::new(ScalarBuffer::from(shape_offsets)),
        Arc::new(UInt64Array::from(shape_values)),
        nulls,
    )?;
    fields.push(Field::new("output_shape", DataType::LargeList(item), true));
    arrays.push(Arc::new(shapes));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}

// --- what a sweep of the space returns, without evaluating it ----------------------------------
// (a second #[pymethods] block: pyo3's multiple-pymethods feature)

#[pymethods]
impl CompiledSpace {
    /// The pyarrow schema of the record batches `evaluate` returns: variant_id, the primary
    /// variables, valid, error, the metrics, output_shape. Made by the same code as the
    /// batches, from zero rows, so the two cannot differ.
    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let empty = Columns {
            variant_id: Vec::new(),
            variant_id_hi: Vec::new(),
            wide: self.prog().wide_variant_ids(),
            vars: self.prog().vars.iter().map(|_| Vec::new()).collect(),
            present: self.prog().vars.iter().map(|_| Vec::new()).collect(),
            valid: Vec::new(),
            errors: Vec::new(),
            metrics: METRICS.iter().map(|_| Vec::new()).collect(),
            shape_offsets: vec![0],
            shape_values: Vec::new(),
            ..Columns::default()
        };
        let batch = to_record_batch(self.prog(), empty).map_err(|e| ArchsweepError::new_err(e.to_string()))?;
        batch.schema().as_ref().to_pyarrow(py)
    }

    /// Check a sweep's options as `evaluate` does (same order, same messages) without
    /// evaluating anything: the dtype, the optimizer, the batch and the `where` filter.
    #[pyo3(signature = (r#where=None, batch=1, dtype="fp32", optimizer="adam"))]
    fn check_options(&self, py: Python<'_>, r#where: Option<String>, batch: u64, dtype: &str, optimizer: &str) -> PyResult<()> {
        py.detach(|| {
            guarded(|| {
                dtype.parse::<Dtype>()?;
                optimizer.parse::<Optimizer>()?;
                if batch == 0 {
                    return Err(CoreError::invalid_argument("batch must be at least 1"));
                }
                if let Some(w) = r#where.as_deref().filter(|w| !w.trim().is_empty()) {
                    Filter::new(w, self.prog())?;
                }
                Ok(())
            })
        })
    }
}

// --- small calls: a few ids, and one variant as a dict ------------------------------------------
//
// A search loop asks for a few variants at a time; the sweep path's fixed costs (a piece per
// rayon thread and more, each with its evaluator; ~16 record batches crossing into pyarrow and
// then polars one array at a time) were milliseconds a call (docs/performance.md, "Small calls").

/// Up to this many ids, a small call evaluates on the calling thread alone
/// ([`Engine::evaluate_serial`]); more are cut into pieces for rayon's threads, as a sweep's
/// chunks are.
const SERIAL_IDS: usize = 128;

/// Rows of a small call (or `analyze`'s layer table): one record batch, handed over as one Arrow
/// struct array through the Arrow PyCapsule interface (`__arrow_c_array__`), which polars imports
/// without pyarrow (`pl.DataFrame(rows)`; pyarrow: `pa.record_batch(rows)`).
#[pyclass(module = "archsweep._core", frozen)]
pub struct ArrowRows {
    batch: RecordBatch,
}

impl ArrowRows {
    pub(crate) fn new(batch: RecordBatch) -> ArrowRows {
        ArrowRows { batch }
    }
}

#[pymethods]
impl ArrowRows {
    #[getter]
    fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// (schema capsule, array capsule) of the rows as a struct array, one field per column.
    /// `requested_schema` is not honoured (the protocol lets a producer ignore it).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyCapsule>, Bound<'py, PyCapsule>)> {
        let _ = requested_schema;
        let data = arrow_array::Array::into_data(StructArray::from(self.batch.clone()));
        let schema = FFI_ArrowSchema::try_from(data.data_type()).map_err(|e| ArchsweepError::new_err(e.to_string()))?;
        let array = FFI_ArrowArray::new(&data);
        // (a consumer moves the struct out of the capsule and leaves a released one behind;
        // a capsule never consumed releases its own when dropped)
        Ok((PyCapsule::new_with_value(py, schema, c"arrow_schema")?, PyCapsule::new_with_value(py, array, c"arrow_array")?))
    }
}

#[pymethods]
impl CompiledSpace {
    /// The rows of explicit `ids` (in their order) and the counts, as `evaluate("ids", 0,
    /// len(ids), ids=ids, ...)` gives them, for calls of a few ids: up to [`SERIAL_IDS`] on the
    /// calling thread alone, and all of them in one [`ArrowRows`] instead of pyarrow batches.
    #[pyo3(signature = (ids, r#where=None, batch=1, dtype="fp32", optimizer="adam", threads=0))]
    #[allow(clippy::too_many_arguments)]
    fn evaluate_ids<'py>(
        &self,
        py: Python<'py>,
        ids: Bound<'py, PyAny>,
        r#where: Option<String>,
        batch: u64,
        dtype: &str,
        optimizer: &str,
        threads: usize,
    ) -> PyResult<(ArrowRows, Bound<'py, PyDict>)> {
        let ids = extract_ids(&ids)?;
        let size = size_ids(&self.radix);
        let (batch, counts) = py.detach(|| {
            guarded(|| {
                let size = size
                    .ok_or_else(|| CoreError::spec(format!("the space has {} variants, more than 10^38 ids", size_decimal(&self.radix))))?;
                let opts = options(batch, dtype, optimizer)?;
                if let Some(bad) = ids.iter().find(|&&i| i >= size) {
                    return Err(CoreError::invalid_argument(format!("variant id {bad} is out of range [0, {size})")));
                }
                let filter = match &r#where {
                    Some(w) if !w.trim().is_empty() => Some(Filter::new(w, self.prog())?),
                    _ => None,
                };
                let (list, range) = (Ids::Explicit(&ids), 0..ids.len() as u64);
                let serial = ids.len() <= SERIAL_IDS || threads == 1;
                let run = || {
                    if serial {
                        self.engine.evaluate_serial(list, range.clone(), filter.as_ref(), opts, true)
                    } else {
                        // the pieces appended into one set of columns: a copy, of a few thousand rows
                        self.engine.evaluate_with(list, range.clone(), filter.as_ref(), opts, true)
                    }
                };
                let (cols, counts) = if serial || threads == 0 { run() } else { pool(threads)?.install(run) };
                let batch = to_record_batch(self.prog(), cols).map_err(|e| CoreError::invalid_argument(e.to_string()))?;
                Ok((batch, counts))
            })
        })?;
        Ok((ArrowRows { batch }, counts_dict(py, &counts)?))
    }

    /// One variant's row as a dict: the keys and values of its sweep row (`variant_id`, the
    /// primary variables, `valid`, `error`, the metrics, `output_shape`), as polars'
    /// `DataFrame.row(0, named=True)` gives them, but `variant_id` always an int. A variant
    /// whose constraints reject it has no row: the error `model_json` raises for it.
    #[pyo3(signature = (id, batch=1, dtype="fp32", optimizer="adam"))]
    fn evaluate_one<'py>(&self, py: Python<'py>, id: Id, batch: u64, dtype: &str, optimizer: &str) -> PyResult<Bound<'py, PyDict>> {
        self.check_id(id)?;
        let opts = guarded(|| options(batch, dtype, optimizer))?;
        let (cols, _) = guarded(|| Ok(self.engine.evaluate_serial(Ids::Explicit(&[id]), 0..1, None, opts, true)))?;
        if cols.is_empty() {
            // rejected by a constraint: the error space.model(id) gives (not built: a search loop
            // meets many such candidates)
            return Err(guarded(|| {
                engine::check_constraints(self.prog(), id)?;
                Err::<(), _>(CoreError::invalid_argument(format!("variant {id} has no row")))
            })
            .expect_err("the closure returns an error"));
        }
        let prog = self.prog();
        let d = PyDict::new(py);
        d.set_item(intern!(py, "variant_id"), cols.id(0))?;
        for (v, (var, col)) in prog.vars.iter().zip(&cols.vars).enumerate() {
            let present = cols.present[v].first().copied().unwrap_or(true);
            let name = pyo3::types::PyString::new(py, &var.name);
            if present {
                d.set_item(name, cell_to_py(py, &var.choices, col[0])?)?;
            } else {
                d.set_item(name, py.None())?;
            }
        }
        let valid = cols.valid[0];
        d.set_item(intern!(py, "valid"), valid)?;
        d.set_item(intern!(py, "error"), cols.error(0))?;
        for (metric, col) in METRICS.iter().zip(&cols.metrics) {
            d.set_item(metric.name, valid.then_some(col[0]))?;
        }
        let (a, b) = (cols.shape_offsets[0] as usize, cols.shape_offsets[1] as usize);
        d.set_item(intern!(py, "output_shape"), valid.then(|| &cols.shape_values[a..b]))?;
        Ok(d)
    }
}

/// Explicit ids from Python: u64 where they fit (a fast conversion under the limited API),
/// else u128.
fn extract_ids(ids: &Bound<'_, PyAny>) -> PyResult<Vec<Id>> {
    match ids.extract::<Vec<u64>>() {
        Ok(small) => Ok(small.into_iter().map(Id::from).collect()),
        Err(_) => ids.extract::<Vec<Id>>(),
    }
}

/// A variable's value in a row as its sweep column holds it (see [`to_record_batch`]): a string
/// choice (or a mix with strings) as its text, booleans, ints, floats, a mix of ints and floats
/// as a float.
fn cell_to_py<'py>(py: Python<'py>, choices: &[Value], raw: i64) -> PyResult<Bound<'py, PyAny>> {
    if choices.iter().any(|c| matches!(c, Value::Str(_))) {
        let text = choices.iter().find(|&&c| engine::raw(c) == raw).map(|c| c.to_string()).unwrap_or_default();
        return Ok(pyo3::types::PyString::new(py, &text).into_any());
    }
    if choices.iter().all(|c| matches!(c, Value::Bool(_))) {
        return Ok(pyo3::types::PyBool::new(py, raw != 0).to_owned().into_any());
    }
    if choices.iter().all(|c| matches!(c, Value::Int(_))) {
        return Ok(raw.into_pyobject(py)?.into_any());
    }
    if choices.iter().all(|c| matches!(c, Value::Float(_))) {
        return Ok(f64::from_bits(raw as u64).into_pyobject(py)?.into_any());
    }
    Ok(mixed_as_f64(choices, raw).into_pyobject(py)?.into_any())
}

// --- `where` over a finished table (top, pareto, plot, report and the Python helpers) ---------

/// A `where` filter compiled over a table's column names: the sweep's language and semantics
/// (archsweep-core's `RowFilter`), evaluated here on the columns it reads.
#[pyclass(module = "archsweep._core", frozen)]
pub struct RowFilter {
    inner: engine::RowFilter,
}

#[pymethods]
impl RowFilter {
    #[new]
    fn new(py: Python<'_>, source: &str, columns: Vec<String>) -> PyResult<Self> {
        py.detach(|| guarded(|| Ok(RowFilter { inner: engine::RowFilter::new(source, &columns)? })))
    }

    /// The columns the filter reads; `evaluate` takes them in this order.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.inner.columns().to_vec()
    }

    #[getter]
    fn source(&self) -> &str {
        &self.inner.source
    }

    /// The verdict on each of `rows` rows of `arrays` (pyarrow arrays of the columns `columns`
    /// names: int64, float64, bool or strings): a pyarrow bool array (null: not kept), the number of
    /// rows the filter failed on, and the first (row, message).
    #[allow(clippy::type_complexity)]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        arrays: Vec<arrow_pyarrow::PyArrowType<arrow_data::ArrayData>>,
        rows: usize,
    ) -> PyResult<(Bound<'py, PyAny>, u64, Option<(usize, String)>)> {
        use arrow_array::cast::AsArray;
        use arrow_array::types::{Float64Type, Int64Type};
        use arrow_array::Array;
        let arrays: Vec<ArrayRef> = arrays.into_iter().map(|a| arrow_array::make_array(a.0)).collect();
        if arrays.len() != self.inner.columns().len() {
            return Err(ArchsweepError::new_err(format!(
                "where: expected {} columns ({}), got {}",
                self.inner.columns().len(),
                self.inner.columns().join(", "),
                arrays.len()
            )));
        }
        let mut cols: Vec<Vec<Option<Value>>> = Vec::with_capacity(arrays.len());
        for (name, a) in self.inner.columns().iter().zip(&arrays) {
            if a.len() != rows {
                return Err(ArchsweepError::new_err("where: columns differ in length"));
            }
            let col: Vec<Option<Value>> = match a.data_type() {
                DataType::Int64 => a.as_primitive::<Int64Type>().iter().map(|x| x.map(Value::Int)).collect(),
                DataType::Float64 => a.as_primitive::<Float64Type>().iter().map(|x| x.map(Value::Float)).collect(),
                DataType::Boolean => a.as_boolean().iter().map(|x| x.map(Value::Bool)).collect(),
                DataType::Utf8 => a.as_string::<i32>().iter().map(|x| x.map(Value::str)).collect(),
                DataType::LargeUtf8 => a.as_string::<i64>().iter().map(|x| x.map(Value::str)).collect(),
                DataType::Utf8View => a.as_string_view().iter().map(|x| x.map(Value::str)).collect(),
                other => {
                    return Err(ArchsweepError::new_err(format!(
                        "where: column '{name}' is {other}, which a filter cannot read (numbers, booleans and strings)"
                    )))
                }
            };
            cols.push(col);
        }
        let verdicts = py.detach(|| guarded(|| Ok(self.inner.eval(&cols, rows))))?;
        let mask = BooleanArray::from(verdicts.keep);
        Ok((mask.into_data().to_pyarrow(py)?, verdicts.errors, verdicts.first_error))
    }
}
