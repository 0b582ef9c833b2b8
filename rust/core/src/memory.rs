//! Memory conventions: dtypes, optimizers, and peak live activations (docs/memory.md).
//!
//! * weight bytes = params × bytes(dtype); buffers keep their own dtype (see `Cost`).
//! * activation bytes = Σ over layers of output elements × bytes(dtype), batch included; views
//!   and in-place ops add nothing (they share their input's storage).
//! * peak activation bytes (inference): walk the layers in file order (a topological order),
//!   allocate each output and the step's scratch (bytes its kernel frees before returning),
//!   record the live total, drop the scratch, then free every tensor whose last consumer has
//!   run. The final output stays. The walks here count the model input like any value; the
//!   callers walk it as 0 bytes and `Totals::finish` adds it, as the caller of a forward holds
//!   its input throughout.
//! * saved bytes (training): `graph::saved_bytes`, from each op's `Op::saved`.
//! * train bytes = weights + buffers + gradients (trainable params × dtype) + optimizer state
//!   (sgd 0, momentum 1, adam/adamw 2 × trainable params × dtype) + saved activations (every
//!   layer output plus the input, for batch B): the sweep column. `analyze`'s train step bytes
//!   put `saved_bytes` in place of the last term (`Totals::train_step`).
//! * eager peak (analysis): the same walk with module arguments held until the module returns
//!   ([`held_arguments`]) and the values a layer's `holds` names held until it returns.

use crate::error::{Error, ErrorKind};
use crate::num::{add, mul};
use crate::ops::Saved;
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
    type Err = Error;
    fn from_str(s: &str) -> Result<Dtype, Error> {
        let s = s.to_ascii_lowercase();
        let alias = match s.as_str() {
            "float32" | "float" => "fp32",
            "float16" | "half" => "fp16",
            "bfloat16" => "bf16",
            "float64" | "double" => "fp64",
            other => other,
        };
        Dtype::ALL.iter().find(|(n, _)| *n == alias).map(|(_, d)| *d).ok_or_else(|| {
            let choices = Dtype::ALL.iter().map(|(n, _)| n.to_string()).collect();
            Error::new(ErrorKind::UnknownOption { option: "dtype", value: s.to_string(), choices })
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
    type Err = Error;
    fn from_str(s: &str) -> Result<Optimizer, Error> {
        let s = s.to_ascii_lowercase();
        Optimizer::ALL.iter().find(|(n, _)| *n == s).map(|(_, o)| *o).ok_or_else(|| {
            let choices = Optimizer::ALL.iter().map(|(n, _)| n.to_string()).collect();
            Error::new(ErrorKind::UnknownOption { option: "optimizer", value: s.to_string(), choices })
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
    /// Bytes the step allocates besides its output and frees before the next step (max
    /// pooling's int64 indices): live only while it runs.
    pub scratch: u64,
}

/// Eager PyTorch's reference lifetimes, read from layer names as module paths (`layer1.0.conv1`
/// runs inside the module `layer1.0`, inside `layer1`): a module call keeps its arguments
/// referenced until it returns (the caller's variable and the callee's parameter both hold
/// them: `x = self.layer1(x)` holds the stem's output while `layer1` runs, and a block's
/// `identity = x` holds its input until the block returns). A scope is every prefix of a name
/// ending before a `.`, and the whole name. A value made outside a scope and read by a step
/// inside it is held until the last executed step of that scope. Returns, per step, the values
/// it holds this way past the last step reading them (to append to its reads, after the real
/// ones: the liveness walk then keeps them until that step). Skipped steps read nothing and end no scope; the model input is held
/// throughout anyway and is never listed.
pub fn held_arguments(names: &[&str], steps: &[Step]) -> Vec<Vec<usize>> {
    let runs = |s: &Step| s.kind != StepKind::Skipped;
    let prefixes = |name: &str| name.match_indices('.').map(|(i, _)| i).chain(std::iter::once(name.len())).collect::<Vec<usize>>();
    // the last executed step of each scope
    let mut end: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (k, (name, s)) in names.iter().zip(steps).enumerate() {
        if runs(s) {
            for i in prefixes(name) {
                end.insert(&name[..i], k);
            }
        }
    }
    let inside = |producer: &str, scope: &str| producer.strip_prefix(scope).is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
    // value -> the last step holding it (+ 1; 0: none)
    let mut until = vec![0usize; steps.len() + 1];
    for (k, (name, s)) in names.iter().zip(steps).enumerate() {
        if !runs(s) {
            continue;
        }
        for &v in s.reads.iter().filter(|&&v| v > 0) {
            for i in prefixes(name) {
                let (scope, _) = name.split_at(i);
                if end[scope] > k && !inside(names[v - 1], scope) {
                    until[v] = until[v].max(end[scope] + 1);
                }
            }
        }
    }
    let mut held = vec![Vec::new(); steps.len()];
    for (v, &u) in until.iter().enumerate() {
        if u > 0 {
            held[u - 1].push(v);
        }
    }
    held
}

/// What autograd keeps for the backward of one training step ([`crate::ops::Saved`] per layer),
/// walked layer by layer: for `analyze` once, for sweeps per variant with its buffers reused.
/// Value 0 is the model input, value k + 1 step k's output. Each *storage* (a value that is no
/// view or in-place op of another: its root) counts once however many layers keep it; a layer
/// keeps anything only if its output requires a gradient (it or an earlier layer has trainable
/// parameters; the model input requires none).
///
/// A sweep re-walks only the steps from some `start` on ([`Keeper::begin`]): values made before
/// it keep their state. A storage's "kept" mark names the first step that kept it, and every
/// mark is also logged in the order it was made (a walk's marks come in order of their steps,
/// up to the order within one replayed segment or copied repetition, which no `start` cuts), so
/// a new walk takes back exactly the marks of the steps it walks again: what steps before
/// `start` kept is what they kept in the last walk. Segment replays and copied repetitions set
/// the state their steps would have set ([`Keeper::set_value`], [`Keeper::mark`]).
#[derive(Default, Clone)]
pub struct Keeper {
    /// per value: the value whose storage it is (itself unless it is a view or in-place op)
    root: Vec<u32>,
    /// per value: it requires a gradient
    grad: Vec<bool>,
    /// per value: the bytes of its storage
    bytes: Vec<u64>,
    /// per storage (its root value): the first step that kept it ([`Keeper::NONE`]: none)
    kept_by: Vec<u32>,
    /// the marks of `kept_by` in the order they were made: (storage, step)
    log: Vec<(u32, u32)>,
}

/// A value's state for the steps after it: its storage, whether it requires a gradient, its
/// storage's bytes, and whether that storage is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueState {
    pub root: u32,
    pub grad: bool,
    pub bytes: u64,
    pub kept: bool,
}

impl ValueState {
    /// As two words (memo keys and entries): flags and root, then bytes.
    pub fn words(self) -> [u64; 2] {
        [self.grad as u64 | (self.kept as u64) << 1 | (self.root as u64) << 2, self.bytes]
    }

    pub fn read(w: &[u64]) -> ValueState {
        ValueState { root: (w[0] >> 2) as u32, grad: w[0] & 1 != 0, bytes: w[1], kept: w[0] & 2 != 0 }
    }
}

impl Keeper {
    pub const NONE: u32 = u32::MAX;
    /// (in [`Keeper::relative_words`]: the storage of an earlier value, by its place)
    const EXT: u32 = 1 << 31;

    /// Buffers for `values` values (the input and one per step); a new size forgets everything.
    pub fn resize(&mut self, values: usize) {
        if self.root.len() != values {
            *self = Keeper {
                root: vec![0; values],
                grad: vec![false; values],
                bytes: vec![0; values],
                kept_by: vec![Keeper::NONE; values],
                log: Vec::with_capacity(values),
            };
        }
    }

    /// A new walk from step `start` on: what steps before it did stands, the marks of the
    /// others are taken back.
    pub fn begin(&mut self, start: usize) {
        while let Some(&(r, k)) = self.log.last() {
            if (k as usize) < start {
                break;
            }
            self.kept_by[r as usize] = Keeper::NONE;
            self.log.pop();
        }
    }

    /// The model input, of `bytes` (requires no gradient).
    pub fn input(&mut self, bytes: u64) {
        self.root[0] = 0;
        self.grad[0] = false;
        self.bytes[0] = bytes;
    }

    /// Value `v`'s state before step `t` runs (`t` at or after the step that made it).
    pub fn state(&self, v: usize, t: usize) -> ValueState {
        let k = self.kept_by[self.root[v] as usize];
        ValueState { root: self.root[v], grad: self.grad[v], bytes: self.bytes[v], kept: k != Keeper::NONE && (k as usize) < t }
    }

    /// [`Keeper::state`] of value `exts[i]` before step `t`, as words for a key: its storage named
    /// by the first of `exts` that shares it rather than by number, so that a key holds for every
    /// variant whose earlier values are in that state, whichever layers made them.
    pub fn ext_words(&self, exts: &[usize], i: usize, t: usize) -> [u64; 2] {
        let s = self.state(exts[i], t);
        let alias = exts[..i].iter().position(|&y| self.root[y] == s.root).unwrap_or(i);
        ValueState { root: alias as u32, ..s }.words()
    }

    /// [`Keeper::state`] of value `v` before step `t`, as words a replay restores with
    /// [`Keeper::set_relative`]: a storage of one of `exts` is named by its place there.
    pub fn relative_words(&self, exts: &[usize], v: usize, t: usize) -> [u64; 2] {
        let s = self.state(v, t);
        let root = exts.iter().position(|&y| self.root[y] == s.root).map_or(s.root, |j| Keeper::EXT | j as u32);
        ValueState { root, ..s }.words()
    }

    /// Value `v` as [`Keeper::relative_words`] wrote it for values `exts` in the same state
    /// (a replay): its storage marked kept by step `by` if it is, unless some earlier step did.
    pub fn set_relative(&mut self, v: usize, w: &[u64], exts: &[usize], by: usize) {
        let mut s = ValueState::read(w);
        if s.root & Keeper::EXT != 0 {
            s.root = self.root[exts[(s.root & !Keeper::EXT) as usize]];
        }
        self.root[v] = s.root;
        self.grad[v] = s.grad;
        self.bytes[v] = s.bytes;
        if s.kept {
            self.mark(s.root as usize, by);
        }
    }

    /// Storage `r` kept by step `by`, unless a step kept it already.
    pub fn mark(&mut self, r: usize, by: usize) {
        if self.kept_by[r] == Keeper::NONE {
            self.kept_by[r] = by as u32;
            self.log.push((r as u32, by as u32));
        }
    }

    /// Whether the repetition of steps `k..k + len` keeps what the one before it, `prev..k`
    /// (`prev = k - len`), kept, shifted: each starts on an input in the same state (gradient,
    /// kept, bytes), and the values from further back that the earlier one reads (`further`,
    /// read by both) were in the same state at both starts (the earlier one kept none of
    /// them first).
    pub fn repeats(&self, prev: usize, k: usize, further: impl IntoIterator<Item = usize>) -> bool {
        let (a, b) = (self.state(prev, prev), self.state(k, k));
        (a.grad, a.kept, a.bytes) == (b.grad, b.kept, b.bytes)
            && further.into_iter().all(|u| self.state(u, prev).kept == self.state(u, k).kept)
    }

    /// Copy the state the repetition `prev..k` left to the one of the same length `k..k + len`
    /// that repeats it ([`Keeper::repeats`] holds): storages it made are shifted by `len`, its
    /// input's storage becomes the new one's input's.
    pub fn repeat(&mut self, prev: usize, k: usize) {
        let len = k - prev;
        let (old_in, new_in) = (self.root[prev] as usize, self.root[k] as usize);
        let old_kept = self.kept_by[old_in];
        if old_kept != Keeper::NONE && old_kept as usize >= prev {
            self.mark(new_in, old_kept as usize + len);
        }
        for t in 1..=len {
            let (v, w) = (prev + t, k + t);
            let r = self.root[v] as usize;
            let inside = r > prev && r <= k;
            self.root[w] = if inside {
                (r + len) as u32
            } else if r == old_in {
                new_in as u32
            } else {
                r as u32
            };
            self.grad[w] = self.grad[v];
            self.bytes[w] = self.bytes[v];
            // (kept by a step of the earlier repetition: not by the later one's first steps, which
            // may keep the earlier one's output, marked above)
            if inside && r == v && (self.kept_by[r] as usize) < k {
                self.mark(w, self.kept_by[r] as usize + len);
            }
        }
    }

    /// Step `k` is off (a switched-off layer): its value is its first input's.
    pub fn pass(&mut self, k: usize, from: usize) {
        self.root[k + 1] = self.root[from];
        self.grad[k + 1] = self.grad[from];
        self.bytes[k + 1] = self.bytes[from];
    }

    /// Step `k` reads values `reads`, keeps `s` for its backward, has trainable parameters
    /// (`own_grad`), is a view or in-place op of its first input (`view`) and outputs
    /// `out_bytes`: what it adds to the saved bytes (its own tensors and the storages it is the
    /// first to keep), `dt` the dtype's bytes.
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &mut self,
        k: usize,
        reads: &[usize],
        s: &Saved,
        own_grad: bool,
        view: bool,
        out_bytes: u64,
        dt: u64,
    ) -> Result<u64, Error> {
        let v = k + 1;
        let grad = own_grad || reads.iter().any(|&u| self.grad[u]);
        if view && !s.new_output {
            self.root[v] = self.root[reads[0]];
            self.bytes[v] = self.bytes[reads[0]];
        } else {
            self.root[v] = v as u32;
            self.bytes[v] = out_bytes;
        }
        self.grad[v] = grad;
        if !grad {
            return Ok(0);
        }
        let mut total = add(mul(s.extra_elements, dt)?, s.extra_bytes)?;
        for (j, &u) in reads.iter().enumerate() {
            if j >= 32 || s.inputs & (1 << j) == 0 {
                continue;
            }
            let wanted = if s.cross {
                reads.iter().enumerate().any(|(i, &w)| i != j && self.grad[w])
            } else if s.for_params {
                own_grad
            } else if s.for_input_grad {
                self.grad[u]
            } else {
                true
            };
            if wanted {
                total = add(total, self.keep(u, k))?;
            }
        }
        if s.output {
            total = add(total, self.keep(v, k))?;
        }
        Ok(total)
    }

    /// Keep the storage of value `u` at step `k`: its bytes, unless some step kept it already.
    /// (The bytes come with the value: a replay restores the values later steps read, not
    /// every storage's own entry.)
    fn keep(&mut self, u: usize, k: usize) -> u64 {
        let r = self.root[u] as usize;
        if self.kept_by[r] != Keeper::NONE {
            return 0;
        }
        self.mark(r, k);
        self.bytes[u]
    }
}

/// Peak live activation bytes. Reuses its buffers, so a sweep can call it per variant without
/// allocating. Value 0 is the model input; value i + 1 is step i's output. A storage is freed
/// after the last step that reads it or any alias of it; the last executed step's result stays.
///
/// [`Liveness::peak_cuts`] serves sweeps in grid order, where consecutive variants share every
/// step up to some cut and differ only after it: at each cut the walk remembers its peak so far,
/// the bytes still live and which storages made before the cut are read after it; a later call
/// resumes from a cut and walks only the steps after it, as long as they read the same earlier
/// storages (otherwise it walks everything).
#[derive(Default)]
pub struct Liveness {
    root: Vec<usize>,
    last_use: Vec<usize>,
    freed: Vec<u64>,
    /// cut positions (value indices, ascending) and what the last walk left at each
    cuts: Vec<usize>,
    states: Vec<Cut>,
    /// (root made at or before the resumed cut, its last use after it), for a resumed walk
    escaping: Vec<(usize, usize)>,
    /// how many calls resumed from a cut (for tests and profiles)
    pub resumed_walks: u64,
}

/// What the walk of values 0..=at left behind.
#[derive(Default, Clone)]
struct Cut {
    /// the peak over values 0..=at
    peak: u64,
    /// bytes live after value `at` (its frees done): the escaping storages
    live: u64,
    /// roots made at or before the cut that stay live after it (read later, or the result), ascending
    escape: Vec<usize>,
    /// the last executed step's value among 0..=at (0 if none)
    last_active: usize,
}

const KEEP: usize = usize::MAX;

#[inline]
fn size(input_bytes: u64, steps: &[Step], v: usize) -> u64 {
    if v == 0 {
        input_bytes
    } else {
        let s = &steps[v - 1];
        if s.kind == StepKind::Own {
            s.bytes
        } else {
            0
        }
    }
}

/// Scratch bytes of the step making value `v` (none for the input or a skipped step).
#[inline]
fn scratch(steps: &[Step], v: usize) -> u64 {
    if v == 0 || steps[v - 1].kind == StepKind::Skipped {
        0
    } else {
        steps[v - 1].scratch
    }
}

impl Liveness {
    pub fn peak(&mut self, input_bytes: u64, steps: &[Step]) -> Result<u64, Error> {
        self.set_cuts(&[]);
        self.walk(input_bytes, steps, None)
    }

    /// The same number as [`Liveness::peak`], remembering the walk at `cuts` (value indices,
    /// ascending, each below `steps.len()`; the same list on every call). `resume = Some(i)`
    /// promises that `input_bytes` and steps `..cuts[i]` (values `0..=cuts[i]`) equal those of
    /// the previous call, so only the steps after that cut need walking.
    pub fn peak_cuts(&mut self, input_bytes: u64, steps: &[Step], cuts: &[usize], resume: Option<usize>) -> Result<u64, Error> {
        self.set_cuts(cuts);
        self.walk(input_bytes, steps, resume)
    }

    fn set_cuts(&mut self, cuts: &[usize]) {
        if self.cuts != cuts {
            self.cuts = cuts.to_vec();
            self.states = vec![Cut::default(); cuts.len()];
        }
    }

    fn walk(&mut self, input_bytes: u64, steps: &[Step], resume: Option<usize>) -> Result<u64, Error> {
        let n = steps.len() + 1;
        if self.root.len() < n {
            self.root.resize(n, 0);
            self.last_use.resize(n, 0);
            self.freed.resize(n, 0);
        }
        if let Some(i) = resume {
            if let Some(p) = self.walk_from(input_bytes, steps, Some(i))? {
                self.resumed_walks += 1;
                return Ok(p);
            }
        }
        Ok(self.walk_from(input_bytes, steps, None)?.expect("a walk from the input has no earlier storages to disagree on"))
    }

    /// Walk the steps after cut `from` (None: from the input, value 0, live on its own), with
    /// the values up to that cut as the previous walk left them; record every later cut's
    /// state. None when the steps read other earlier storages than that walk left live.
    fn walk_from(&mut self, input_bytes: u64, steps: &[Step], from: Option<usize>) -> Result<Option<u64>, Error> {
        let n = steps.len() + 1;
        let (cut, mut result, mut live, mut peak, mut next_cut) = match from {
            Some(i) => {
                let st = &self.states[i];
                (self.cuts[i], st.last_active, st.live, st.peak, i + 1)
            }
            None => {
                self.root[0] = 0;
                // cuts at the input hold the state before any step
                let mut k = 0;
                while k < self.cuts.len() && self.cuts[k] == 0 {
                    let st = &mut self.states[k];
                    (st.peak, st.live, st.last_active) = (input_bytes, input_bytes, 0);
                    st.escape.clear();
                    st.escape.push(0);
                    k += 1;
                }
                (0, 0, input_bytes, input_bytes, k)
            }
        };
        if cut >= n {
            return Ok(None);
        }
        let (root, last_use, freed) = (&mut self.root[..n], &mut self.last_use[..n], &mut self.freed[..n]);
        // roots made at or before the cut that later steps read: (root, last use)
        let escaping = &mut self.escaping;
        escaping.clear();
        let mut touch = |last_use: &mut [usize], u: usize, v: usize| {
            if u > cut {
                last_use[u] = v; // values are visited in order: the latest reader is the last
            } else if let Some(e) = escaping.iter_mut().find(|e| e.0 == u) {
                e.1 = v;
            } else {
                escaping.push((u, v));
            }
        };
        for (k, s) in steps.iter().enumerate().skip(cut) {
            let v = k + 1;
            while next_cut < self.cuts.len() && self.cuts[next_cut] < v {
                self.states[next_cut].last_active = result;
                next_cut += 1;
            }
            match s.kind {
                StepKind::Own => {
                    // an output nobody reads is freed right after it is made
                    root[v] = v;
                    last_use[v] = v;
                }
                StepKind::Alias => {
                    let r = root[s.reads[0]];
                    root[v] = r;
                    touch(last_use, r, v);
                }
                StepKind::Skipped => {
                    root[v] = root[s.reads[0]];
                    continue;
                }
            }
            for &r in s.reads {
                touch(last_use, root[r], v);
            }
            result = v;
        }
        for st in &mut self.states[next_cut..] {
            st.last_active = result;
        }
        touch(last_use, root[result], KEEP);
        escaping.sort_unstable();
        if let Some(i) = from {
            let st = &self.states[i];
            if escaping.len() != st.escape.len() || escaping.iter().zip(&st.escape).any(|(e, &u)| e.0 != u) {
                return Ok(None);
            }
        }
        freed[cut + 1..].fill(0);
        for &(u, lu) in escaping.iter() {
            if lu != KEEP {
                freed[lu] = freed[lu].wrapping_add(size(input_bytes, steps, u));
            }
        }
        for v in cut + 1..n {
            if root[v] == v && last_use[v] != KEEP {
                freed[last_use[v]] = freed[last_use[v]].wrapping_add(size(input_bytes, steps, v));
            }
        }
        let mut next_cut = self.cuts.iter().position(|&c| c > cut).unwrap_or(self.cuts.len());
        // `v` is a step: it indexes `freed` and the steps, and is compared with the cuts
        #[allow(clippy::needless_range_loop)]
        for v in cut + 1..n {
            live = crate::num::add(live, size(input_bytes, steps, v))?;
            peak = peak.max(crate::num::add(live, scratch(steps, v))?);
            live -= freed[v];
            while next_cut < self.cuts.len() && self.cuts[next_cut] == v {
                let st = &mut self.states[next_cut];
                st.peak = peak;
                st.live = live;
                st.escape.clear();
                st.escape.extend(escaping.iter().filter(|e| e.1 > v).map(|e| e.0));
                st.escape.extend((cut + 1..=v).filter(|&u| root[u] == u && last_use[u] > v));
                next_cut += 1;
            }
        }
        Ok(Some(peak))
    }
}

/// What the steps of a span (after a cut, up to an end) do to liveness, whatever was made
/// before it: replayed segments (the same steps after the same cut) then need no walk. Values
/// made in the span are tracked by index; those made at or before the cut (`ext`) only through
/// the last step that reads them or an alias of them, since which of them share a storage
/// depends on the prefix.
#[derive(Default, Clone)]
pub struct Tail {
    cut: usize,
    /// a[v - cut - 1]: bytes of storages made in the span that are live while value v is made
    /// (its own output included, frees of earlier ones done)
    a: Vec<u64>,
    /// pairs (value at or before the cut, the last step reading it or an alias of it; KEEP if
    /// it holds the span's result), flat
    ext_last_use: Vec<u64>,
    /// whether any step of the span runs (else its result is made before the cut)
    any_active: bool,
    /// the span's last value shares storage with its last executed one (or, none running, it
    /// is the value at the cut): what leaves the span is that storage
    clean_exit: bool,
    /// bytes of the storage holding the span's result, when the span made it
    out_size: Option<u64>,
}

impl Tail {
    /// Summarise `steps[cut..]` (the rest of the model); None if a sum overflows (the walk
    /// then reports it).
    pub fn new(steps: &[Step], cut: usize) -> Option<Tail> {
        Tail::span(steps, cut, steps.len())
    }

    /// Summarise `steps[cut..end]` (values cut + 1 ..= end); the span's result is kept live.
    pub fn span(steps: &[Step], cut: usize, end: usize) -> Option<Tail> {
        let len = end - cut;
        // symbolic roots: Ok(internal value) or Err(ext value)
        let mut root: Vec<Result<usize, usize>> = Vec::with_capacity(len);
        let mut last_use: Vec<usize> = vec![0; len];
        let mut ext_last_use: Vec<(usize, usize)> = Vec::new();
        let rootof = |root: &Vec<Result<usize, usize>>, r: usize| if r <= cut { Err(r) } else { root[r - cut - 1] };
        let touch = |last_use: &mut Vec<usize>, ext: &mut Vec<(usize, usize)>, rt: Result<usize, usize>, v: usize| match rt {
            Ok(u) => last_use[u - cut - 1] = v,
            Err(x) => match ext.iter_mut().find(|e| e.0 == x) {
                Some(e) => e.1 = v,
                None => ext.push((x, v)),
            },
        };
        let mut result: Option<usize> = None;
        for (k, s) in steps.iter().enumerate().take(end).skip(cut) {
            let v = k + 1;
            match s.kind {
                StepKind::Own => {
                    root.push(Ok(v));
                    last_use[v - cut - 1] = v;
                }
                StepKind::Alias => {
                    let r = rootof(&root, s.reads[0]);
                    root.push(r);
                    touch(&mut last_use, &mut ext_last_use, r, v);
                }
                StepKind::Skipped => {
                    let r = rootof(&root, s.reads[0]);
                    root.push(r);
                    continue;
                }
            }
            for &r in s.reads {
                let rt = rootof(&root, r);
                touch(&mut last_use, &mut ext_last_use, rt, v);
            }
            result = Some(v);
        }
        let mut out_size = None;
        // with no step run, the span's value is the one at the cut only if its skipped steps
        // pass that one through (a skipped layer may read an earlier value: `inputs = "x"`)
        let mut clean_exit = len == 0 || rootof(&root, end) == Err(cut);
        if let Some(v) = result {
            let rt = rootof(&root, v);
            touch(&mut last_use, &mut ext_last_use, rt, KEEP);
            clean_exit = len == 0 || rootof(&root, end) == rt;
            if let Ok(u) = rt {
                out_size = Some(size(0, steps, u));
            }
        }
        let mut freed = vec![0u64; len];
        for v in cut + 1..=end {
            let i = v - cut - 1;
            if root[i] == Ok(v) && last_use[i] != KEEP {
                let f = &mut freed[last_use[i] - cut - 1];
                *f = f.checked_add(size(0, steps, v))?;
            }
        }
        let mut a = Vec::with_capacity(len);
        let mut live = 0u64;
        for v in cut + 1..=end {
            live = live.checked_add(size(0, steps, v))?;
            a.push(live.checked_add(scratch(steps, v))?);
            live -= freed[v - cut - 1];
        }
        let ext_last_use = ext_last_use.iter().flat_map(|&(x, lu)| [x as u64, lu as u64]).collect();
        Some(Tail { cut, a, ext_last_use, any_active: result.is_some(), clean_exit, out_size })
    }

    pub fn view(&self) -> TailView<'_> {
        TailView {
            cut: self.cut,
            a: &self.a,
            ext_last_use: &self.ext_last_use,
            any_active: self.any_active,
            clean_exit: self.clean_exit,
            out_size: self.out_size,
        }
    }

    /// Words of [`Tail::write`] for a span of `len` steps reading `ext` earlier values.
    pub fn words(len: usize, ext: usize) -> usize {
        5 + 2 * ext + len
    }

    /// Store into `out` (`Tail::words` long): any_active, clean_exit, out_size (flag, value),
    /// the number of pairs, the pairs (zero-padded), a.
    /// False (nothing written) if the span reads more than `ext` earlier values.
    pub fn write(&self, out: &mut [u64], ext: usize) -> bool {
        if self.ext_last_use.len() > 2 * ext || out.len() < Tail::words(self.a.len(), ext) {
            return false;
        }
        out[0] = self.any_active as u64;
        out[1] = self.clean_exit as u64;
        out[2] = self.out_size.is_some() as u64;
        out[3] = self.out_size.unwrap_or(0);
        out[4] = (self.ext_last_use.len() / 2) as u64;
        out[5..5 + 2 * ext].fill(0);
        out[5..5 + self.ext_last_use.len()].copy_from_slice(&self.ext_last_use);
        out[5 + 2 * ext..5 + 2 * ext + self.a.len()].copy_from_slice(&self.a);
        true
    }
}

/// A span's summary, borrowed (from a [`Tail`] or from words stored by [`Tail::write`]).
#[derive(Clone, Copy)]
pub struct TailView<'a> {
    cut: usize,
    a: &'a [u64],
    ext_last_use: &'a [u64],
    any_active: bool,
    clean_exit: bool,
    out_size: Option<u64>,
}

impl<'a> TailView<'a> {
    /// Read words written by [`Tail::write`] for a span of `len` steps after `cut` that reads
    /// `ext` earlier values.
    pub fn read(w: &'a [u64], cut: usize, len: usize, ext: usize) -> TailView<'a> {
        let pairs = w[4] as usize;
        TailView {
            cut,
            a: &w[5 + 2 * ext..5 + 2 * ext + len],
            ext_last_use: &w[5..5 + 2 * pairs],
            any_active: w[0] != 0,
            clean_exit: w[1] != 0,
            out_size: (w[2] != 0).then_some(w[3]),
        }
    }

    fn ext_pairs(&self) -> impl Iterator<Item = (usize, usize)> + 'a {
        self.ext_last_use.chunks_exact(2).map(|p| (p[0] as usize, if p[1] == u64::MAX { KEEP } else { p[1] as usize }))
    }
}

/// The peak of a model cut into consecutive spans (their summaries in order, the first one
/// starting at the input), when each span reads nothing made before it but the value at its
/// cut — a chain of stages. None when that does not hold: then walk instead.
pub fn peak_chain<'t>(input_bytes: u64, tails: impl Iterator<Item = Option<TailView<'t>>>) -> Option<u64> {
    let mut st = Chain::start(input_bytes);
    for t in tails {
        st = st.then(t?)?;
    }
    Some(st.peak)
}

/// [`peak_chain`] one span at a time: the state before a span depends only on the spans
/// before it, so a sweep keeps the states of an unchanged prefix.
#[derive(Clone, Copy, Debug, Default)]
pub struct Chain {
    /// the peak so far
    pub peak: u64,
    /// bytes of the storage holding the value at the current cut
    cur: u64,
    /// the current cut
    at: usize,
}

impl Chain {
    pub fn start(input_bytes: u64) -> Chain {
        Chain { peak: input_bytes, cur: input_bytes, at: 0 }
    }

    /// Bytes of the storage holding the value at the current cut.
    pub fn cur(&self) -> u64 {
        self.cur
    }

    /// This state with the peak forgotten: the spans that follow then give their own peak
    /// (peaks only combine by `max`).
    pub fn restarted(self) -> Chain {
        Chain { peak: 0, ..self }
    }

    /// The state after span `t`; None if `t` does not continue a chain from here.
    pub fn then(self, t: TailView) -> Option<Chain> {
        if t.cut != self.at || !t.clean_exit {
            return None;
        }
        let lu_in = match t.ext_last_use {
            [] if !t.any_active => KEEP,
            [x, lu] if *x as usize == t.cut => {
                if *lu == u64::MAX {
                    KEEP
                } else {
                    *lu as usize
                }
            }
            _ => return None,
        };
        let mut peak = self.peak;
        for (k, &a) in t.a.iter().enumerate() {
            let extra = if lu_in >= t.cut + 1 + k { self.cur } else { 0 };
            peak = peak.max(a.checked_add(extra)?);
        }
        Some(Chain { peak, cur: t.out_size.unwrap_or(self.cur), at: t.cut + t.a.len() })
    }
}

impl Liveness {
    /// The peak for steps whose values up to the last cut are those of the previous walk and
    /// whose later steps are summarised by `tail` (made from the same steps after that cut).
    /// None when the tail reads other earlier storages than that walk left live, or on overflow:
    /// then walk instead.
    pub fn peak_tail(&self, input_bytes: u64, steps: &[Step], tail: TailView) -> Option<u64> {
        let i = self.cuts.len().checked_sub(1)?;
        if self.cuts[i] != tail.cut || self.root.len() < tail.cut + 1 {
            return None;
        }
        let st = &self.states[i];
        // the earlier storages the tail keeps live, with their last uses
        let mut roots: [(usize, usize); 8] = [(0, 0); 8];
        let mut m = 0;
        let mut add = |u: usize, lu: usize| -> Option<()> {
            match roots[..m].iter_mut().find(|e| e.0 == u) {
                Some(e) => e.1 = e.1.max(lu),
                None => {
                    *roots.get_mut(m)? = (u, lu);
                    m += 1;
                }
            }
            Some(())
        };
        for (x, lu) in tail.ext_pairs() {
            add(self.root[x], lu)?;
        }
        if !tail.any_active {
            add(self.root[st.last_active], KEEP)?;
        }
        let roots = &mut roots[..m];
        roots.sort_unstable();
        if roots.len() != st.escape.len() || roots.iter().zip(&st.escape).any(|(e, &u)| e.0 != u) {
            return None;
        }
        // live while value v is made: the tail's own storages plus the earlier ones not yet freed
        roots.sort_unstable_by_key(|e| e.1);
        let mut extra: u64 = roots.iter().try_fold(0u64, |acc, e| acc.checked_add(size(input_bytes, steps, e.0)))?;
        let mut next = 0;
        let mut peak = st.peak;
        for (k, &a) in tail.a.iter().enumerate() {
            let v = tail.cut + 1 + k;
            while next < roots.len() && roots[next].1 < v {
                extra -= size(input_bytes, steps, roots[next].0);
                next += 1;
            }
            peak = peak.max(a.checked_add(extra)?);
        }
        Some(peak)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peak_live_bytes(input: u64, steps: &[Step]) -> Result<u64, Error> {
        Liveness::default().peak(input, steps)
    }

    fn own(bytes: u64, reads: &'static [usize]) -> Step<'static> {
        Step { kind: StepKind::Own, bytes, reads, scratch: 0 }
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
        let steps = [own(10, &[0]), own(10, &[1]), own(10, &[1, 2])];
        assert_eq!(peak_live_bytes(10, &steps).unwrap(), 30);
    }

    #[test]
    fn views_extend_their_root() {
        // x(8) -> a(100) -> view(a) -> c(1) reading the view: a stays live until c is made.
        let steps = [own(100, &[0]), Step { kind: StepKind::Alias, bytes: 0, reads: &[1], scratch: 0 }, own(1, &[2])];
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
        let steps = [own(100, &[0]), Step { kind: StepKind::Skipped, bytes: 0, reads: &[1], scratch: 0 }, own(1, &[2])];
        assert_eq!(peak_live_bytes(8, &steps).unwrap(), 108);
        // a skipped last step is not the result: a(100) is freed after b reads it.
        let steps = [own(100, &[0]), own(5, &[1]), Step { kind: StepKind::Skipped, bytes: 0, reads: &[1], scratch: 0 }];
        assert_eq!(peak_live_bytes(8, &steps).unwrap(), 108);
    }

    #[test]
    fn a_span_of_skips_passing_an_earlier_value_is_no_chain() {
        // x(10) -> a(2) | skipped(x) | c(3) reading it: x stays live until c, peak 10 + 3 =
        // 13. The middle span runs nothing but passes x on, not the value at its cut (a), so
        // the spans are no chain (they once made one: x freed after a, peak 12).
        let skip = Step { kind: StepKind::Skipped, bytes: 0, reads: &[0], scratch: 0 };
        let steps = [own(2, &[0]), skip, own(3, &[2])];
        assert_eq!(peak_live_bytes(10, &steps).unwrap(), 13);
        let tails: Vec<Tail> = [(0, 1), (1, 2), (2, 3)].iter().map(|&(a, b)| Tail::span(&steps, a, b).unwrap()).collect();
        assert_eq!(peak_chain(10, tails.iter().map(|t| Some(t.view()))), None);
        // a skip of the value at its cut still continues a chain
        let steps = [own(2, &[0]), Step { kind: StepKind::Skipped, bytes: 0, reads: &[1], scratch: 0 }, own(3, &[2])];
        let tails: Vec<Tail> = [(0, 1), (1, 2), (2, 3)].iter().map(|&(a, b)| Tail::span(&steps, a, b).unwrap()).collect();
        assert_eq!(peak_chain(10, tails.iter().map(|t| Some(t.view()))), Some(peak_live_bytes(10, &steps).unwrap()));
    }

    /// Random step lists: a fixed prefix, then suffixes that vary (kinds, sizes, reads); the
    /// incremental walk must agree with a fresh full walk every time.
    #[test]
    fn cut_walk_equals_full_walk() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let (mut calls, mut suffix_walks) = (0u64, 0u64);
        let (mut tails, mut tail_hits) = (0u64, 0u64);
        let mut rnd = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for _case in 0..400 {
            let n = 2 + rnd(14) as usize;
            let mut cuts: Vec<usize> = (0..1 + rnd(4)).map(|_| rnd(n as u64) as usize).collect();
            cuts.sort_unstable();
            cuts.dedup();
            let input = 1 + rnd(50);
            let mut reads: Vec<Vec<usize>> = (0..n).map(|i| vec![rnd(i as u64 + 1) as usize]).collect();
            let mut kinds: Vec<StepKind> = Vec::new();
            let mut bytes: Vec<u64> = Vec::new();
            let draw = |i: usize,
                        reads: &mut Vec<Vec<usize>>,
                        kinds: &mut Vec<StepKind>,
                        bytes: &mut Vec<u64>,
                        rnd: &mut dyn FnMut(u64) -> u64| {
                let mut r = vec![rnd(i as u64 + 1) as usize];
                if rnd(3) == 0 {
                    r.push(rnd(i as u64 + 1) as usize);
                }
                reads[i] = r;
                let k = match rnd(5) {
                    0 => StepKind::Alias,
                    1 => StepKind::Skipped,
                    _ => StepKind::Own,
                };
                if i < kinds.len() {
                    kinds[i] = k;
                    bytes[i] = 1 + rnd(40);
                } else {
                    kinds.push(k);
                    bytes.push(1 + rnd(40));
                }
            };
            for i in 0..n {
                draw(i, &mut reads, &mut kinds, &mut bytes, &mut rnd);
            }
            let mut inc = Liveness::default();
            calls += 11;
            for round in 0..12 {
                let level = rnd(cuts.len() as u64) as usize;
                let cut = cuts[level];
                if round > 0 {
                    // change some steps after the cut only (values 0..=cut are kept)
                    for i in cut..n {
                        if rnd(2) == 0 {
                            draw(i, &mut reads, &mut kinds, &mut bytes, &mut rnd);
                        }
                    }
                }
                let steps: Vec<Step> =
                    (0..n).map(|i| Step { kind: kinds[i], bytes: bytes[i], reads: &reads[i], scratch: bytes[i] % 3 }).collect();
                let want = Liveness::default().peak(input, &steps).unwrap();
                if round > 0 && level == cuts.len() - 1 {
                    // only the steps after the last cut changed: a tail summary needs no walk
                    tails += 1;
                    if let Some(p) = inc.peak_tail(input, &steps, Tail::new(&steps, cut).unwrap().view()) {
                        assert_eq!(p, want, "tail after cuts {cuts:?}, round {round}: {:?}", steps);
                        tail_hits += 1;
                    }
                }
                let got = inc.peak_cuts(input, &steps, &cuts, (round > 0).then_some(level)).unwrap();
                assert_eq!(got, want, "case with cuts {cuts:?}, resumed at {cut}, round {round}: {:?}", steps);
            }
            suffix_walks += inc.resumed_walks;
        }
        // the incremental path must actually be taken (often: same escaping storages)
        assert!(suffix_walks * 4 > calls, "{suffix_walks} suffix walks of {calls}");
        assert!(tail_hits * 4 > tails, "{tail_hits} tail summaries used of {tails}");
    }

    /// Chains of spans (reads mostly of the previous value, some skips and aliases): where
    /// peak_chain answers, it equals the full walk, and it answers for most chains.
    #[test]
    fn chain_of_spans_equals_full_walk() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut rnd = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        let (mut answered, cases) = (0, 2000);
        for _ in 0..cases {
            let n = 1 + rnd(16) as usize;
            let mut cuts: Vec<usize> = (0..rnd(4)).map(|_| rnd(n as u64) as usize).filter(|&c| c > 0).collect();
            cuts.sort_unstable();
            cuts.dedup();
            let mut bounds = vec![0];
            bounds.extend(&cuts);
            bounds.push(n);
            let reads: Vec<Vec<usize>> = (0..n)
                .map(|i| match rnd(8) {
                    0 => vec![rnd(i as u64 + 1) as usize],
                    1 if i > 0 => vec![i, i - 1],
                    _ => vec![i],
                })
                .collect();
            let steps: Vec<Step> = (0..n)
                .map(|i| Step {
                    kind: match rnd(6) {
                        0 => StepKind::Alias,
                        1 => StepKind::Skipped,
                        _ => StepKind::Own,
                    },
                    bytes: 1 + rnd(30),
                    reads: &reads[i],
                    scratch: rnd(4) * rnd(20),
                })
                .collect();
            let input = 1 + rnd(30);
            let want = Liveness::default().peak(input, &steps).unwrap();
            let tails: Vec<Tail> = bounds.windows(2).map(|w| Tail::span(&steps, w[0], w[1]).unwrap()).collect();
            // through the stored words too, as the memo keeps them
            let direct = peak_chain(input, tails.iter().map(|t| Some(t.view())));
            let mut stored: Vec<Vec<u64>> = Vec::new();
            for (t, w) in tails.iter().zip(bounds.windows(2)) {
                let mut words = vec![7; Tail::words(w[1] - w[0], 2)];
                if t.write(&mut words, 2) {
                    stored.push(words);
                }
            }
            if stored.len() == tails.len() {
                let read =
                    peak_chain(input, stored.iter().zip(bounds.windows(2)).map(|(w, b)| Some(TailView::read(w, b[0], b[1] - b[0], 2))));
                assert_eq!(direct, read);
            }
            if let Some(got) = direct {
                assert_eq!(got, want, "bounds {bounds:?}: {steps:?}");
                answered += 1;
            }
        }
        assert!(answered * 2 > cases, "peak_chain answered {answered} of {cases}");
    }

    /// x(8) -> stem(10) -> block.conv1(20) -> block.conv2(30) -> block.conv3(5) -> head(1).
    /// By the graph: {x, stem} 18, {stem, conv1} 30, {conv1, conv2} 50 is the peak. Eager
    /// PyTorch holds `block`'s argument (stem's output) until the block returns, after conv3:
    /// {stem, conv1, conv2} 60 is the peak.
    #[test]
    fn module_arguments_are_held_until_the_module_returns() {
        let steps = [own(10, &[0]), own(20, &[1]), own(30, &[2]), own(5, &[3]), own(1, &[4])];
        let names = ["stem", "block.conv1", "block.conv2", "block.conv3", "head"];
        let held = held_arguments(&names, &steps);
        assert_eq!(held, [vec![], vec![], vec![], vec![1], vec![]]);
        assert_eq!(peak_live_bytes(8, &steps).unwrap(), 50);
        let reads: Vec<Vec<usize>> = steps.iter().zip(&held).map(|(s, h)| s.reads.iter().chain(h).copied().collect()).collect();
        let eager: Vec<Step> = steps.iter().zip(&reads).map(|(s, r)| Step { reads: r, ..*s }).collect();
        assert_eq!(peak_live_bytes(8, &eager).unwrap(), 60);
        // flat names are no scopes: nothing is held; a value made inside the scope is not held
        assert!(held_arguments(&["a", "b", "c", "d", "e"], &steps).iter().all(Vec::is_empty));
        assert!(held_arguments(&["block.stem", "block.a", "block.b", "block.c", "head"], &steps).iter().all(Vec::is_empty));
        // a skipped last step ends no scope: the hold ends at the last step that runs
        let mut skipped = steps;
        skipped[3] = Step { kind: StepKind::Skipped, bytes: 0, reads: &[3], scratch: 0 };
        skipped[4] = own(1, &[4]);
        assert_eq!(held_arguments(&names, &skipped), [vec![], vec![], vec![1], vec![], vec![]]);
    }

    #[test]
    fn dtype_names() {
        assert_eq!("bf16".parse::<Dtype>().unwrap().bytes(), 2);
        assert_eq!("half".parse::<Dtype>().unwrap(), Dtype::Fp16);
        assert!("fp4".parse::<Dtype>().is_err());
        assert_eq!("adamw".parse::<Optimizer>().unwrap().states_per_param(), 2);
    }
}
