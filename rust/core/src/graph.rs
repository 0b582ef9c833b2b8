//! The layer graph: parse a model description, wire named inputs, evaluate every layer in
//! order and total up the costs.
//!
//! A model is `{"name", "input": [C, H, W], "layers": [{"name", "op", "inputs", ...attrs}]}`.
//! Layer names are optional (auto-named `<op>_<k>`), `inputs` default to the previous layer,
//! `"x"` is the model input. A layer may only read layers defined before it, so the file order
//! is a topological order of the DAG (and the order used for peak-memory liveness).

use crate::attrs::Attrs;
use crate::cost::Cost;
use crate::error::{Error, ErrorKind};
use crate::memory::{held_arguments, Dtype, Keeper, Liveness, Optimizer, Step, StepKind};
use crate::num::{add, mul, sum};
use crate::ops::{self, Op, Saved};
use crate::shape::Shape;
use serde_json::{Map, Value};

/// Name of the model input in `inputs` lists.
pub const INPUT: &str = "x";

pub struct Node {
    pub name: String,
    pub op_name: String,
    pub op: Box<dyn Op>,
    /// Values read: 0 is the model input, i + 1 is layer i's output.
    pub inputs: Vec<usize>,
    /// `holds`: values (as `inputs`) the layer's eager forward keeps referenced while it runs
    /// without reading them (Python locals): live until it returns, in the eager peak only.
    pub holds: Vec<usize>,
    pub trainable: bool,
}

pub struct Model {
    pub name: String,
    /// Per-sample input shape (batch excluded), if the file gives one.
    pub input: Option<Vec<u64>>,
    pub nodes: Vec<Node>,
}

impl Model {
    pub fn from_json_str(text: &str) -> Result<Model, Error> {
        let v: Value = serde_json::from_str(text).map_err(|e| Error::model(format!("model is not valid JSON: {e}")))?;
        Model::from_value(&v)
    }

    pub fn from_value(v: &Value) -> Result<Model, Error> {
        let obj = v.as_object().ok_or_else(|| Error::model("a model must be a table with 'layers'"))?;
        for key in obj.keys() {
            if !["name", "input", "layers", "description", "source"].contains(&key.as_str()) {
                return Err(Error::model(format!("unknown model key '{key}' (expected name, input, layers, description, source)")));
            }
        }
        let name = match obj.get("name") {
            None => "model".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => return Err(Error::model(format!("model name must be a string, got {other}"))),
        };
        let input = match obj.get("input") {
            None | Some(Value::Null) => None,
            Some(v) => Some(parse_input_shape(v)?),
        };
        let layers = obj.get("layers").and_then(Value::as_array).ok_or_else(|| Error::model("a model needs a 'layers' list"))?;
        if layers.is_empty() {
            return Err(Error::model("the model has no layers"));
        }
        let mut nodes: Vec<Node> = Vec::with_capacity(layers.len());
        // layer name -> its position (a map, not a list search: parsing stays linear in layers)
        let mut names: std::collections::HashMap<String, usize> = std::collections::HashMap::with_capacity(layers.len());
        let mut per_op: std::collections::HashMap<String, usize> = Default::default();
        for (index, layer) in layers.iter().enumerate() {
            let map = layer.as_object().ok_or_else(|| Error::model(format!("layer #{index} is not a table")))?;
            let op_name = match map.get("op") {
                Some(Value::String(s)) => s.clone(),
                _ => {
                    let who = map.get("name").and_then(Value::as_str).map(str::to_string).unwrap_or(format!("layer #{index}"));
                    return Err(Error::model("missing 'op' (the layer's kind, e.g. \"conv2d\")").at(&who, ""));
                }
            };
            let k = per_op.entry(op_name.clone()).or_insert(0);
            *k += 1;
            let name = match map.get("name") {
                None => format!("{op_name}_{k}"),
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(other) => return Err(Error::model(format!("layer #{index}: name must be a non-empty string, got {other}"))),
            };
            let at = |e: Error| e.at(&name, &op_name);
            if name == INPUT {
                return Err(at(Error::model(format!("'{INPUT}' is reserved for the model input"))));
            }
            if names.contains_key(&name) {
                return Err(at(Error::model("a layer of this name is already defined (layer names must be unique)")));
            }
            let attrs = Attrs::new(map);
            let op = ops::from_attrs(&op_name, &attrs).map_err(at)?;
            let inputs = resolve_inputs(map, &names, index).map_err(at)?;
            let holds = resolve_holds(map, &names).map_err(at)?;
            let (min, max) = op.arity();
            if inputs.len() < min || inputs.len() > max {
                return Err(at(ErrorKind::Arity { min, max, got: inputs.len() }.into()));
            }
            let trainable = match map.get("trainable") {
                None => true,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    let expected = "must be true or false".to_string();
                    return Err(at(ErrorKind::BadAttribute { name: "trainable".into(), value: None, expected, got: None }.into()));
                }
            };
            names.insert(name.clone(), index);
            nodes.push(Node { name, op_name, op, inputs, holds, trainable });
        }
        Ok(Model { name, input, nodes })
    }
}

fn parse_input_shape(v: &Value) -> Result<Vec<u64>, Error> {
    let bad = || Error::model(format!("input must be a list of positive ints (the per-sample shape, e.g. [3, 224, 224]), got {v}"));
    let items = v.as_array().ok_or_else(bad)?;
    let dims: Vec<u64> = items.iter().map(|x| x.as_u64().filter(|&d| d > 0).ok_or_else(bad)).collect::<Result<_, _>>()?;
    if dims.is_empty() {
        return Err(bad());
    }
    Ok(dims)
}

fn resolve_inputs(map: &Map<String, Value>, names: &std::collections::HashMap<String, usize>, index: usize) -> Result<Vec<usize>, Error> {
    // (no `inputs`: the previous layer, or the model input for the first layer)
    let missing = |s: &str| format!("input '{s}' is not the model input '{INPUT}' or a layer defined before this one");
    Ok(resolve_names(map, "inputs", names, missing)?.unwrap_or_else(|| vec![index]))
}

/// `holds = "name"` or `["name", ...]`: earlier layers (or the model input) whose outputs the
/// layer keeps referenced until it returns (docs/memory.md, "Eager peak").
fn resolve_holds(map: &Map<String, Value>, names: &std::collections::HashMap<String, usize>) -> Result<Vec<usize>, Error> {
    let missing = |s: &str| {
        format!(
            "holds '{s}' is not the model input '{INPUT}' or a layer defined before this one (a layer holds values made before it runs)"
        )
    };
    Ok(resolve_names(map, "holds", names, missing)?.unwrap_or_default())
}

/// `key = "name"` or `["name", ...]` of a layer, as value indices (0 the model input, i + 1
/// layer i); None without the key. `missing` says why a name is not a value defined before.
fn resolve_names(
    map: &Map<String, Value>,
    key: &str,
    names: &std::collections::HashMap<String, usize>,
    missing: impl Fn(&str) -> String,
) -> Result<Option<Vec<usize>>, Error> {
    let lookup = |s: &str| -> Result<usize, Error> {
        if s == INPUT {
            return Ok(0);
        }
        names.get(s).map(|&i| i + 1).ok_or_else(|| Error::model(missing(s)))
    };
    match map.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![lookup(s)?])),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().ok_or_else(|| Error::model(format!("{key} must be layer names, got {v}"))).and_then(lookup))
            .collect::<Result<_, _>>()
            .map(Some),
        Some(other) => Err(Error::model(format!("{key} must be a layer name or a non-empty list of names, got {other}"))),
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub batch: u64,
    pub dtype: Dtype,
    pub optimizer: Optimizer,
}

impl Default for Options {
    fn default() -> Self {
        Options { batch: 1, dtype: Dtype::Fp32, optimizer: Optimizer::Adam }
    }
}

#[derive(Debug, Clone)]
pub struct LayerReport {
    pub name: String,
    pub op: String,
    pub inputs: Vec<String>,
    pub output_shape: Shape,
    pub cost: Cost,
    pub params: u64,
    pub trainable_params: u64,
    pub weight_bytes: u64,
    /// Bytes of this layer's output (0 for views and in-place ops).
    pub activation_bytes: u64,
    /// Bytes the layer allocates at inference besides its output and frees when it returns
    /// ([`crate::ops::Op::scratch_bytes`]): live only while it runs.
    pub scratch_bytes: u64,
    /// Bytes autograd keeps for this layer's backward in training that no earlier layer keeps
    /// (see [`saved_bytes`]).
    pub saved_bytes: u64,
    pub is_view: bool,
    /// The layer's output reaches the model's output (the last layer). A layer that does not
    /// (a dangling branch, e.g. an auxiliary classifier that only runs in training) counts its
    /// params and buffers, but no MACs, other ops or activations: it does not run at inference.
    pub reaches_output: bool,
    pub formula: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub params: u64,
    pub weight_params: u64,
    pub bias_params: u64,
    pub trainable_params: u64,
    pub buffers: u64,
    pub buffer_bytes: u64,
    pub macs: u64,
    pub flops: u64,
    pub other_ops: u64,
    pub weight_bytes: u64,
    pub input_bytes: u64,
    pub activation_bytes: u64,
    pub peak_activation_bytes: u64,
    /// bytes of the storages and tensors autograd keeps for the backward (see [`saved_bytes`]):
    /// summed over layers, each storage counted by the first layer that keeps it
    pub saved_bytes: u64,
    pub grad_bytes: u64,
    pub optimizer_bytes: u64,
    /// weights + buffers + gradients + optimizer state + `saved_bytes`: what a training step
    /// holds when its backward starts (see [`Totals::finish`])
    pub train_bytes: u64,
    /// the inference peak with module arguments held as eager PyTorch holds them
    /// ([`crate::memory::held_arguments`]); analysis only
    pub peak_eager_bytes: u64,
}

/// Number of fields in [`Totals::summed`].
pub const SUMMED: usize = 10;

/// The summed fields of a `Totals`, as an array value or an assignment target.
macro_rules! summed_fields {
    ($t:expr) => {
        [
            $t.params,
            $t.weight_params,
            $t.bias_params,
            $t.trainable_params,
            $t.buffers,
            $t.buffer_bytes,
            $t.macs,
            $t.other_ops,
            $t.activation_bytes,
            $t.saved_bytes,
        ]
    };
}

/// The summed fields a sweep row's metrics read (indices into [`Totals::summed`]: params,
/// trainable_params, buffers, buffer_bytes, macs, other_ops, activation_bytes, saved_bytes).
/// weight_params and bias_params feed no metric column, so grid-block and dense tables keep
/// only these.
pub const KEPT: [usize; 8] = [0, 3, 4, 5, 6, 7, 8, 9];

/// Overwrite the summed fields of `t` (the inverse of [`Totals::summed`]).
pub fn set_summed(t: &mut Totals, s: [u64; SUMMED]) {
    summed_fields!(t) = s;
}

/// What one executed layer adds to the totals.
#[derive(Debug, Clone, Copy)]
pub struct LayerAmounts {
    pub params: u64,
    pub trainable_params: u64,
    pub weight_bytes: u64,
    pub activation_bytes: u64,
}

impl Totals {
    /// Add one executed layer (the one place where per-layer amounts are summed, for
    /// `analyze` and for sweeps alike).
    pub fn accumulate(
        &mut self,
        c: &Cost,
        trainable: bool,
        out_numel: u64,
        is_view: bool,
        dtype_bytes: u64,
    ) -> Result<LayerAmounts, Error> {
        let params = c.params()?;
        // flops = 2 × macs: checked here so that an overflow names this layer rather than
        // surfacing later as a "totals:" error (the per-layer flops column relies on it too).
        c.macs.checked_mul(2).ok_or_else(|| Error::overflow(format!("this layer's flops 2 × {} macs", c.macs)))?;
        let trainable_params = if trainable { params } else { 0 };
        let activation_bytes = if is_view { 0 } else { mul(out_numel, dtype_bytes)? };
        self.params = add(self.params, params)?;
        self.weight_params = add(self.weight_params, c.weight_params)?;
        self.bias_params = add(self.bias_params, c.bias_params)?;
        self.trainable_params = add(self.trainable_params, trainable_params)?;
        self.buffers = add(self.buffers, c.buffers)?;
        self.buffer_bytes = add(self.buffer_bytes, c.buffer_bytes)?;
        self.macs = add(self.macs, c.macs)?;
        self.other_ops = add(self.other_ops, c.other_ops)?;
        self.activation_bytes = add(self.activation_bytes, activation_bytes)?;
        Ok(LayerAmounts { params, trainable_params, weight_bytes: mul(params, dtype_bytes)?, activation_bytes })
    }

    /// The fields [`Totals::accumulate`] sums, in a fixed order: sweeps replay a run of layers
    /// by adding their difference at once.
    pub fn summed(&self) -> [u64; SUMMED] {
        summed_fields!(self)
    }

    /// Add a difference of [`Totals::summed`]; false (and nothing changed) on overflow.
    pub fn add_summed(&mut self, d: &[u64; SUMMED]) -> bool {
        let mut s = self.summed();
        for (a, b) in s.iter_mut().zip(d) {
            match a.checked_add(*b) {
                Some(x) => *a = x,
                None => return false,
            }
        }
        summed_fields!(self) = s;
        true
    }

    /// Derived totals once every layer is in (`saved_bytes` included): FLOPs, bytes, the
    /// training memory. `train_bytes` is what one training step holds when its forward has
    /// finished and its backward starts: weights, buffers, a gradient per trainable parameter and
    /// the optimizer's state (both kept between steps, as with `zero_grad(set_to_none=False)`)
    /// and every saved activation; the backward's transient buffers are not counted.
    /// `peak_activation_bytes` is the liveness walk's peak with the input's storage left out
    /// (walked with input bytes 0): the caller holds the input through the whole forward, so
    /// the peak is that plus the input's bytes.
    pub fn finish(&mut self, input_bytes: u64, peak_activation_bytes: u64, options: &Options) -> Result<(), Error> {
        let dt = options.dtype.bytes();
        self.flops = mul(self.macs, 2)?;
        self.weight_bytes = mul(self.params, dt)?;
        self.input_bytes = input_bytes;
        self.peak_activation_bytes = add(peak_activation_bytes, input_bytes)?;
        self.grad_bytes = mul(self.trainable_params, dt)?;
        self.optimizer_bytes = mul(self.grad_bytes, options.optimizer.states_per_param())?;
        self.train_bytes = sum(&[self.weight_bytes, self.buffer_bytes, self.grad_bytes, self.optimizer_bytes, self.saved_bytes])?;
        Ok(())
    }

    /// [`Totals::finish`]'s formulas for (flops, weight_bytes, train_bytes), unchecked, for
    /// many rows at once (grid blocks, `space/block.rs`): the caller has ruled overflow out by
    /// running `finish` on the rows' maxima (every formula is monotone). Keep the two in step.
    #[inline(always)]
    pub fn derived_unchecked(
        params: u64,
        trainable: u64,
        buffer_bytes: u64,
        macs: u64,
        saved_bytes: u64,
        options: &Options,
    ) -> (u64, u64, u64) {
        let dt = options.dtype.bytes();
        let (weight, grad) = (params.wrapping_mul(dt), trainable.wrapping_mul(dt));
        let optimizer = grad.wrapping_mul(options.optimizer.states_per_param());
        let train = weight.wrapping_add(buffer_bytes).wrapping_add(grad).wrapping_add(optimizer).wrapping_add(saved_bytes);
        (macs.wrapping_mul(2), weight, train)
    }
}

/// Which layers' outputs reach the model's output, the last layer's (`inputs[k]` are the values
/// layer k reads: 0 is the model input, i + 1 layer i's output). One backward pass.
pub fn reaches_output(inputs: &[&[usize]]) -> Vec<bool> {
    let n = inputs.len();
    let mut reach = vec![false; n];
    if n == 0 {
        return reach;
    }
    reach[n - 1] = true;
    for k in (0..n).rev() {
        if reach[k] {
            for &v in inputs[k] {
                if v > 0 {
                    reach[v - 1] = true;
                }
            }
        }
    }
    reach
}

/// The cost a layer adds to inference totals: all of it if its output reaches the model's
/// output, else its params and buffers only (no MACs, no other ops).
pub fn inference_cost(c: &Cost, reaches_output: bool) -> Cost {
    if reaches_output {
        *c
    } else {
        Cost { macs: 0, other_ops: 0, ..*c }
    }
}

pub struct Analysis {
    pub name: String,
    pub input_shape: Shape,
    pub options: Options,
    pub layers: Vec<LayerReport>,
    pub totals: Totals,
}

/// Evaluate every layer: shapes, costs, memory. `input` overrides the model's input shape
/// (per sample, batch excluded).
pub fn analyze(model: &Model, input: Option<&[u64]>, options: Options) -> Result<Analysis, Error> {
    if options.batch == 0 {
        return Err(Error::model("batch must be at least 1"));
    }
    let sample = match (input, &model.input) {
        (Some(s), _) => s.to_vec(),
        (None, Some(s)) => s.clone(),
        (None, None) => return Err(Error::model("no input shape: the model file has no 'input' and none was given")),
    };
    if sample.contains(&0) {
        return Err(Error::model(format!("input shape {sample:?} has a zero dim")));
    }
    let mut full = vec![options.batch];
    full.extend(&sample);
    let input_shape = Shape::new(&full)?;
    let dt = options.dtype.bytes();
    let names: Vec<&str> = std::iter::once(INPUT).chain(model.nodes.iter().map(|n| n.name.as_str())).collect();

    let mut values: Vec<Shape> = Vec::with_capacity(model.nodes.len() + 1);
    values.push(input_shape);
    let mut layers = Vec::with_capacity(model.nodes.len());
    let mut t = Totals::default();
    let mut scratch: Vec<Shape> = Vec::with_capacity(4);
    let mut saved: Vec<Saved> = Vec::with_capacity(model.nodes.len());
    let reach = reaches_output(&model.nodes.iter().map(|n| n.inputs.as_slice()).collect::<Vec<_>>());
    for (node, &live) in model.nodes.iter().zip(&reach) {
        let at = |e: Error| e.at(&node.name, &node.op_name);
        scratch.clear();
        scratch.extend(node.inputs.iter().map(|&v| values[v]));
        let ev = node.op.apply(&scratch).map_err(at)?;
        let c = inference_cost(&ev.cost, live);
        let is_view = node.op.aliases_input();
        // a layer that does not run at inference makes no activation (numel 0) and no scratch;
        // training runs it, so what autograd keeps for it still counts
        let numel = if live { ev.shape.elements().map_err(at)? } else { 0 };
        let amounts = t.accumulate(&c, node.trainable, numel, is_view, dt).map_err(at)?;
        saved.push(node.op.saved(&scratch, &ev.shape).map_err(at)?);
        let scratch_bytes = if live { node.op.scratch_bytes(&scratch, &ev.shape, dt).map_err(at)? } else { 0 };
        let mut formula = node.op.explain(&scratch, &ev);
        if !live {
            formula.push_str("; output never reaches the model output: params and buffers only, no MACs or activations at inference");
        }
        values.push(ev.shape);
        layers.push(LayerReport {
            name: node.name.clone(),
            op: node.op_name.clone(),
            inputs: node.inputs.iter().map(|&v| names[v].to_string()).collect(),
            output_shape: ev.shape,
            cost: c,
            params: amounts.params,
            trainable_params: amounts.trainable_params,
            weight_bytes: amounts.weight_bytes,
            activation_bytes: amounts.activation_bytes,
            saved_bytes: 0,
            scratch_bytes,
            is_view,
            reaches_output: live,
            formula,
        });
    }
    // an overflow of the whole model's counts is shown as `totals: ...`
    let total_err = |e: Error| e.at("totals", "");
    let input_bytes = mul(input_shape.elements().map_err(total_err)?, dt).map_err(total_err)?;
    let steps: Vec<Step> = model
        .nodes
        .iter()
        .zip(&layers)
        .map(|(n, l)| {
            // a layer off the output's path is not run: it allocates and reads nothing
            let kind = if !l.reaches_output {
                StepKind::Skipped
            } else if l.is_view {
                StepKind::Alias
            } else {
                StepKind::Own
            };
            Step { kind, bytes: l.activation_bytes, reads: &n.inputs, scratch: l.scratch_bytes }
        })
        .collect();
    // the input's storage is held by the caller throughout: walked as 0 bytes, added by finish
    let peak = Liveness::default().peak(0, &steps).map_err(total_err)?;
    t.saved_bytes = saved_bytes(model, &mut layers, &saved, input_bytes, dt)?;
    t.finish(input_bytes, peak, &options).map_err(total_err)?;
    // eager PyTorch's peak: each step also reads the module arguments it holds until then, and
    // the values its `holds` names
    let layer_names: Vec<&str> = names[1..].to_vec();
    let held = held_arguments(&layer_names, &steps);
    let reads: Vec<Vec<usize>> =
        steps.iter().zip(&held).zip(&model.nodes).map(|((s, h), n)| s.reads.iter().chain(h).chain(&n.holds).copied().collect()).collect();
    let eager: Vec<Step> = steps.iter().zip(&reads).map(|(s, r)| Step { reads: r, ..*s }).collect();
    t.peak_eager_bytes = add(Liveness::default().peak(0, &eager).map_err(total_err)?, input_bytes).map_err(total_err)?;
    Ok(Analysis { name: model.name.clone(), input_shape, options, layers, totals: t })
}

/// What autograd keeps for the backward of one training step, in bytes ([`Keeper`]: each
/// storage some layer's [`Saved`] names once, plus the tensors layers make only for the
/// backward). Each layer's `saved_bytes` is what it adds: its own tensors and the storages it is
/// the first (in layer order) to keep. Returns the total.
fn saved_bytes(model: &Model, layers: &mut [LayerReport], saved: &[Saved], input_bytes: u64, dt: u64) -> Result<u64, Error> {
    let mut keeper = Keeper::default();
    keeper.resize(model.nodes.len() + 1);
    keeper.begin(0);
    keeper.input(input_bytes);
    let mut total = 0u64;
    for (k, ((node, layer), s)) in model.nodes.iter().zip(layers.iter_mut()).zip(saved).enumerate() {
        let at = |e: Error| e.at(&node.name, &node.op_name);
        let out_bytes = mul(layer.output_shape.elements().map_err(at)?, dt).map_err(at)?;
        let own_grad = node.trainable && layer.params > 0;
        let bytes = keeper.step(k, &node.inputs, s, own_grad, layer.is_view, out_bytes, dt).map_err(at)?;
        total = add(total, bytes).map_err(at)?;
        layer.saved_bytes = bytes;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dangling_branch_counts_params_only() {
        // x(4) -> a: linear 4->8 -> head: linear 8->2 (the output); aux: linear 8->3 reads a and
        // nothing reads aux. params 40 + 27 + 18; MACs 32 + 16 (aux's 24 do not run); fp32
        // activations 8*4 + 2*4 bytes; peak: the caller's x (16 B, held throughout) with a (32 B)
        // and head (8 B), a being freed once head, its last reader at inference, ran
        let model = Model::from_json_str(
            r#"{"input": [4], "layers": [{"name": "a", "op": "linear", "out_features": 8},
                {"name": "aux", "op": "linear", "out_features": 3},
                {"name": "head", "op": "linear", "inputs": ["a"], "out_features": 2}]}"#,
        )
        .unwrap();
        let a = analyze(&model, None, Options::default()).unwrap();
        assert_eq!(a.layers.iter().map(|l| l.reaches_output).collect::<Vec<_>>(), [true, false, true]);
        assert_eq!((a.totals.params, a.totals.macs, a.totals.flops), (85, 48, 96));
        assert_eq!((a.totals.activation_bytes, a.totals.peak_activation_bytes), (40, 56));
        assert_eq!((a.layers[1].cost.macs, a.layers[1].params, a.layers[1].activation_bytes), (0, 27, 0));
        // a chain whose last layer reads everything: all reach
        assert_eq!(reaches_output(&[&[0], &[1], &[1, 2]]), [true, true, true]);
        assert_eq!(reaches_output(&[&[0], &[1], &[1]]), [true, false, true]);
    }

    #[test]
    fn flops_overflow_names_the_layer() {
        // linear 2^32 → 2^31 + 1 without bias: macs = 2^32·(2^31 + 1) = 2^63 + 2^32 fits in a
        // u64, flops = 2·macs = 2^64 + 2^33 does not. The error must come from the layer, not
        // from Totals::finish ("totals: ...").
        let model = Model::from_json_str(
            r#"{"input": [4294967296], "layers": [{"name": "huge", "op": "linear", "out_features": 2147483649, "bias": false}]}"#,
        )
        .unwrap();
        let e = analyze(&model, None, Options { dtype: Dtype::Int8, ..Options::default() }).err().unwrap();
        assert_eq!(e.layer(), Some("huge"));
        assert_eq!(
            e.to_string(),
            "huge (linear): integer overflow: this layer's flops 2 × 9223372041149743104 macs does not fit in 64 bits"
        );
        // Directly: macs 2^63 overflows, 2^63 − 1 does not.
        let mut t = Totals::default();
        assert!(t.accumulate(&Cost { macs: 1 << 63, ..Cost::default() }, true, 1, false, 4).is_err());
        let mut t = Totals::default();
        assert!(t.accumulate(&Cost { macs: (1 << 63) - 1, ..Cost::default() }, true, 1, false, 4).is_ok());
    }

    /// saved_bytes and the peak of a small CNN, derived by hand (fp32, batch 2, input 3×8×8 =
    /// 1,536 B): conv (4 channels, 2,048 B out) keeps the input 1,536; batch norm keeps the
    /// conv output 2,048 + statistics 2·4·4 = 32; the in-place relu keeps the batch norm's
    /// output 2,048 (its own storage); max pooling (512 B out) keeps the relu's storage (kept
    /// already) + int64 indices 128·8 = 1,024; flatten is a view; linear keeps the pool's
    /// output 512. Total 7,200. Peak: input 1,536 held + conv 2,048 + batch norm 2,048 = 5,632
    /// (the pool's 512 + 1,024 indices come after the conv output is freed: 5,120).
    #[test]
    fn saved_bytes_and_peak_by_hand() {
        let text = r#"{"input": [3, 8, 8], "layers": [
            {"name": "conv", "op": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1, "bias": false},
            {"name": "bn", "op": "batchnorm2d"},
            {"name": "relu", "op": "relu", "inplace": true},
            {"name": "pool", "op": "maxpool2d", "kernel_size": 2},
            {"name": "flat", "op": "flatten"},
            {"name": "fc", "op": "linear", "out_features": 10}]}"#;
        let a = analyze(&Model::from_json_str(text).unwrap(), None, Options { batch: 2, ..Options::default() }).unwrap();
        let per: Vec<u64> = a.layers.iter().map(|l| l.saved_bytes).collect();
        assert_eq!(per, [1536, 2080, 2048, 1024, 0, 512]);
        assert_eq!(a.totals.saved_bytes, 7200);
        assert_eq!(a.totals.peak_activation_bytes, 5632);
        // a frozen first conv on the input (which needs no gradient) keeps nothing
        let frozen = text.replace(r#""bias": false}"#, r#""bias": false, "trainable": false}"#);
        let a = analyze(&Model::from_json_str(&frozen).unwrap(), None, Options { batch: 2, ..Options::default() }).unwrap();
        assert_eq!(a.layers[0].saved_bytes, 0);
        assert_eq!(a.totals.saved_bytes, 7200 - 1536);
    }

    /// `holds`: fp32, batch 1, input 4 (16 B, held by the caller). a: linear 4→8 (32 B), b: relu
    /// out of place (32 B), c: linear 8→2 (8 B). Without holds a is freed after b: the peak is
    /// at b, 16 + 32 + 32 = 80, both peaks. With c holding a, a lives through c: 16 + 32 + 32 + 8
    /// = 88 for the eager peak; the graph's peak stays 80.
    #[test]
    fn holds_keeps_a_value_until_the_holder_returns() {
        let model = |holds: &str| {
            let text = format!(
                r#"{{"input": [4], "layers": [{{"name": "a", "op": "linear", "out_features": 8}},
                {{"name": "b", "op": "relu"}}, {{"name": "c", "op": "linear", "out_features": 2{holds}}}]}}"#
            );
            Model::from_json_str(&text)
        };
        let peaks = |holds: &str| {
            let t = analyze(&model(holds).unwrap(), None, Options::default()).unwrap().totals;
            (t.peak_activation_bytes, t.peak_eager_bytes)
        };
        assert_eq!(peaks(""), (80, 80));
        assert_eq!(peaks(r#", "holds": "a""#), (80, 88));
        assert_eq!(peaks(r#", "holds": ["a", "x"]"#), (80, 88));
        // holding what the layer reads anyway, or the caller's input, changes nothing
        assert_eq!(peaks(r#", "holds": ["b", "x"]"#), (80, 80));
        let err = |holds: &str| model(holds).err().unwrap().to_string();
        assert_eq!(
            err(r#", "holds": "c""#),
            "c (linear): holds 'c' is not the model input 'x' or a layer defined before this one (a layer holds values made before it runs)"
        );
        assert!(err(r#", "holds": "nope""#).contains("holds 'nope' is not the model input"));
        assert_eq!(err(r#", "holds": []"#), "c (linear): holds must be a layer name or a non-empty list of names, got []");
        assert_eq!(err(r#", "holds": [1]"#), "c (linear): holds must be layer names, got 1");
    }
}
