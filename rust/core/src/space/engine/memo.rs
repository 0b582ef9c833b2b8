//! Segment memo for grid sweeps.
//!
//! The instances of a program are split at the checkpoints (the first instance that reads each
//! variable) into segments. A segment's outcome — the shapes it makes, what it adds to the
//! totals, its liveness steps — is a function of the digits of the variables its own instances
//! read and of the shapes of the values made before it that it reads. In grid order the same
//! (digits, shapes) keys come back again and again: changing ResNet's `depth[2]` leaves the
//! input of `layer4` as it was, so `layer4` for every `width[3]` is already known. A hit replays
//! the segment (one checked addition per total, a copy of its shapes and steps) instead of
//! running its shape rules; a miss runs them and remembers the result. Failed segments are not
//! remembered (their messages are re-made by running them).
//!
//! The memo is a set-associative table per segment (4 ways a set; a full set overwrites one of
//! them), so its memory is bounded; tables outlive one evaluator through the engine's
//! [`MemoPool`].

use super::block;
use super::evaluator::{Buffers, Prepared};
use crate::graph::SUMMED;
use crate::memory::{Keeper, Step, StepKind, Tail, TailView};
use crate::shape::Shape;
use crate::space::compile::Program;

/// Entries per segment: 64 × the combinations of its variables (the earlier shapes it reads
/// multiply that; a set-associative table overwrites one way of a full set), bounded. A lookup
/// reads the set's tags and only the entries whose tag matches, so the table's pages are
/// touched only as entries are written: a large table costs little until it fills.
const WAYS: usize = 4;
const MIN_ENTRIES: u64 = 64;
const MAX_ENTRIES: u64 = 16384;

/// The instances split into segments, and what each segment's outcome depends on.
pub(crate) struct Segments {
    /// 0 = bounds[0] < bounds[1] < … < bounds[m] = number of instances
    pub(crate) bounds: Vec<usize>,
    /// the segment of each instance
    pub(crate) seg_of: Vec<usize>,
    /// digit positions read by each segment's instances (attributes, `when`, repeat counts)
    pub(crate) vars: Vec<Vec<usize>>,
    /// values made before each segment that its instances read
    pub(crate) ext: Vec<Vec<usize>>,
    /// sets per segment (a power of two) of WAYS entries each
    pub(crate) sets: Vec<usize>,
    /// values of each segment that a replay must restore: those read by later segments (the
    /// segment's last executed value, which may be the model's output, is restored as well)
    pub(crate) keep: Vec<Vec<usize>>,
}

impl Segments {
    /// Segments split at `cuts` (instance indices in 1..n, ascending, distinct).
    pub(crate) fn new(prog: &Program, cuts: &[usize]) -> Segments {
        let n = prog.instances.len();
        let mut bounds = vec![0];
        bounds.extend(cuts.iter().copied().filter(|&c| c > 0 && c < n));
        bounds.push(n);
        let m = bounds.len() - 1;
        let mut seg_of = vec![0; n];
        let (mut vars, mut ext, mut sets) = (Vec::with_capacity(m), Vec::with_capacity(m), Vec::with_capacity(m));
        for j in 0..m {
            let (a, b) = (bounds[j], bounds[j + 1]);
            let mut v: Vec<usize> = Vec::new();
            let mut e: Vec<usize> = Vec::new();
            for (k, inst) in prog.instances.iter().enumerate().take(b).skip(a) {
                seg_of[k] = j;
                v.extend(&inst.own_vars);
                e.extend(inst.inputs.iter().copied().filter(|&i| i <= a));
            }
            v.sort_unstable();
            v.dedup();
            e.sort_unstable();
            e.dedup();
            let combos = v.iter().fold(1u64, |acc, &x| acc.saturating_mul(prog.vars[x].choices.len() as u64));
            sets.push((combos.saturating_mul(64).clamp(MIN_ENTRIES, MAX_ENTRIES).next_power_of_two() as usize) / WAYS);
            vars.push(v);
            ext.push(e);
        }
        let keep = (0..m)
            .map(|j| {
                let (a, b) = (bounds[j], bounds[j + 1]);
                let mut k: Vec<usize> = ext[j + 1..].iter().flatten().copied().filter(|&x| x > a && x <= b).collect();
                k.sort_unstable();
                k.dedup();
                k
            })
            .collect();
        let mut segs = Segments { bounds, seg_of, vars, ext, sets, keep };
        // within the budget: halve the largest table until the tables fit
        loop {
            let words: Vec<usize> = (0..m).map(|j| segs.sets[j] * WAYS * Layout::new(&segs, j).stride).collect();
            if words.iter().sum::<usize>() <= BUDGET_WORDS {
                break;
            }
            let (j, _) = words.iter().enumerate().max_by_key(|(_, w)| **w).unwrap();
            if segs.sets[j] <= 16 {
                break;
            }
            segs.sets[j] /= 2;
        }
        segs
    }
}

/// Where each part of an entry sits in a segment's flat table (u64 words); every entry of a
/// segment has the same layout, so an entry is one contiguous run of words (a replay touches
/// a couple of cache lines, not a pointer per part).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Layout {
    digits: usize,
    ext: usize,
    /// the earlier values' states for the saved bytes (`Keeper::ext_words`, 2 words each), then
    /// after the segment: whether each of their storages is kept (a word each) and the keep
    /// values' states
    ext_state: usize,
    post: usize,
    delta: usize,
    layers: usize,
    keep: usize,
    last_active: usize,
    steps: usize,
    tail: usize,
    stride: usize,
    /// how many digits, earlier shapes read, kept shapes and steps an entry holds
    num_digits: usize,
    num_ext: usize,
    num_keep: usize,
    num_steps: usize,
}

impl Layout {
    fn new(segs: &Segments, j: usize) -> Layout {
        let (num_digits, num_ext, num_keep, num_steps) =
            (segs.vars[j].len(), segs.ext[j].len(), segs.keep[j].len(), segs.bounds[j + 1] - segs.bounds[j]);
        let digits = 1; // word 0: 1 when filled
        let ext = digits + num_digits;
        let ext_state = ext + num_ext * Shape::WORDS;
        let post = ext_state + 2 * num_ext;
        let delta = post + num_ext + 2 * num_keep;
        let layers = delta + SUMMED;
        let keep = layers + 1;
        let last_active = keep + num_keep * Shape::WORDS;
        let steps = last_active + 1 + Shape::WORDS;
        let tail = steps + 3 * num_steps;
        let stride = tail + 1 + Tail::words(num_steps, num_ext);
        Layout {
            digits,
            ext,
            ext_state,
            post,
            delta,
            layers,
            keep,
            last_active,
            steps,
            tail,
            stride,
            num_digits,
            num_ext,
            num_keep,
            num_steps,
        }
    }
}

/// A remembered segment outcome, borrowed from the table.
pub(crate) struct Entry<'a> {
    words: &'a [u64],
    layout: Layout,
    /// the segment's first instance
    cut: usize,
}

impl<'a> Entry<'a> {
    /// what the segment adds to [`crate::Totals::summed`]
    pub(crate) fn delta(&self) -> &'a [u64; SUMMED] {
        self.words[self.layout.delta..self.layout.delta + SUMMED].try_into().unwrap()
    }

    /// after the segment: whether the storage of each earlier value it reads is kept
    pub(crate) fn ext_kept(&self) -> impl Iterator<Item = bool> + 'a {
        self.words[self.layout.post..self.layout.post + self.layout.num_ext].iter().map(|&w| w != 0)
    }

    /// after the segment: the states of its `keep` values, in order
    /// ([`Keeper::relative_words`] of the segment's earlier values)
    pub(crate) fn keep_states(&self) -> impl Iterator<Item = &'a [u64]> + 'a {
        let at = self.layout.post + self.layout.num_ext;
        self.words[at..at + 2 * self.layout.num_keep].chunks_exact(2)
    }

    /// layers executed
    pub(crate) fn layers(&self) -> u64 {
        self.words[self.layout.layers]
    }

    /// shapes of the segment's `keep` values, in order
    pub(crate) fn keep(&self) -> impl Iterator<Item = Shape> + 'a {
        self.words[self.layout.keep..self.layout.keep + self.layout.num_keep * Shape::WORDS].chunks_exact(Shape::WORDS).map(Shape::read)
    }

    /// the segment's last executed value and its shape
    pub(crate) fn last_active(&self) -> Option<(usize, Shape)> {
        let v = self.words[self.layout.last_active];
        (v > 0).then(|| ((v - 1) as usize, Shape::read(&self.words[self.layout.last_active + 1..])))
    }

    /// (kind, bytes, case, scratch) of the segment's instances: the case says which values a
    /// `drop_off_inputs` layer read ([`crate::space::compile::Instance::reads`]; 0 for others)
    pub(crate) fn steps(&self) -> impl Iterator<Item = (StepKind, u64, usize, u64)> + 'a {
        self.words[self.layout.steps..self.layout.steps + 3 * self.layout.num_steps].chunks_exact(3).map(|p| {
            let kind = match p[0] & 3 {
                0 => StepKind::Own,
                1 => StepKind::Alias,
                _ => StepKind::Skipped,
            };
            (kind, p[1], (p[0] >> 2) as usize, p[2])
        })
    }

    /// the segment's liveness summary (replays need no liveness walk)
    pub(crate) fn tail(&self) -> Option<TailView<'a>> {
        let t = self.layout.tail;
        (self.words[t] != 0)
            .then(|| TailView::read(&self.words[t + 1..self.layout.stride], self.cut, self.layout.num_steps, self.layout.num_ext))
    }
}

/// The tables of one evaluator (taken from and returned to the engine's [`MemoPool`]).
pub(crate) struct Memo {
    /// (batch, dtype bytes) the entries were made with
    tag: (u64, u64),
    /// the address of the segments it was made for (a pool's memos are made for the segments
    /// of its one `Prepared`, which neither moves nor goes while the pool lives)
    made_for: usize,
    layouts: Vec<Layout>,
    /// per segment: sets × WAYS entries of `stride` words
    tables: Vec<Vec<u64>>,
    /// per segment: each entry's tag (its key's hash, odd; 0 while empty), so that a lookup
    /// reads one cache line per set and an entry only when its tag matches
    tags: Vec<Vec<u64>>,
    /// next way to overwrite, per segment
    victim: Vec<usize>,
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    /// grid blocks' suffix tables (`block.rs`)
    pub(crate) blocks: block::Cache,
}

/// Bound on one memo's tables (words; 8 bytes each): large tables shrink to fit.
const BUDGET_WORDS: usize = 8 << 20;

impl Memo {
    pub(crate) fn new(segs: &Segments, tag: (u64, u64)) -> Memo {
        let layouts: Vec<Layout> = (0..segs.sets.len()).map(|j| Layout::new(segs, j)).collect();
        let tables = layouts.iter().zip(&segs.sets).map(|(l, &s)| vec![0u64; s * WAYS * l.stride]).collect();
        let tags = segs.sets.iter().map(|&s| vec![0u64; s * WAYS]).collect();
        Memo {
            tag,
            made_for: segs as *const Segments as usize,
            layouts,
            tables,
            tags,
            victim: vec![0; segs.sets.len()],
            hits: 0,
            misses: 0,
            blocks: Default::default(),
        }
    }

    /// Whether tables from the pool fit these segments and options.
    pub(crate) fn fits(&self, segs: &Segments, tag: (u64, u64)) -> bool {
        if self.tag != tag {
            return false;
        }
        if self.made_for == segs as *const Segments as usize {
            return true;
        }
        self.layouts.len() == segs.sets.len()
            && (0..segs.sets.len())
                .all(|j| self.layouts[j] == Layout::new(segs, j) && self.tables[j].len() == segs.sets[j] * WAYS * self.layouts[j].stride)
    }

    /// First entry of the set for this key, and the key's tag (its hash, odd: never 0).
    #[inline]
    fn set(segs: &Segments, j: usize, digits: &[u64], values: &[Shape]) -> (usize, u64) {
        // (a multiplicative hash: FxHash's constant)
        const MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;
        let mut h = (j as u64 + 1).wrapping_mul(MULTIPLIER);
        for &v in &segs.vars[j] {
            h = (h.rotate_left(5) ^ digits[v]).wrapping_mul(MULTIPLIER);
        }
        for &e in &segs.ext[j] {
            for &d in values[e].dims() {
                h = (h.rotate_left(5) ^ d).wrapping_mul(MULTIPLIER);
            }
        }
        (((h >> 32) as usize & (segs.sets[j] - 1)) * WAYS, h | 1)
    }

    #[inline]
    fn matches(w: &[u64], l: &Layout, segs: &Segments, j: usize, digits: &[u64], values: &[Shape], keeper: &Keeper) -> bool {
        let a = segs.bounds[j];
        w[0] != 0
            && segs.vars[j].iter().zip(&w[l.digits..l.digits + l.num_digits]).all(|(&v, &d)| digits[v] == d)
            && segs.ext[j]
                .iter()
                .zip(w[l.ext..l.ext + l.num_ext * Shape::WORDS].chunks_exact(Shape::WORDS))
                .all(|(&x, sw)| values[x].equals_words(sw))
            && w[l.ext_state..l.post].chunks_exact(2).enumerate().all(|(i, sw)| keeper.ext_words(&segs.ext[j], i, a) == sw)
    }

    /// The place of the remembered outcome of segment `j` for these digits and earlier values.
    #[inline]
    pub(crate) fn lookup(&mut self, segs: &Segments, j: usize, digits: &[u64], values: &[Shape], keeper: &Keeper) -> Option<usize> {
        let (s, tag) = Self::set(segs, j, digits, values);
        let l = &self.layouts[j];
        let (t, tags) = (&self.tables[j], &self.tags[j][s..s + WAYS]);
        // (an entry is read only when its tag matches: a miss reads the set's tags alone, one
        // cache line, and never a page of the table that no entry was written to)
        match (s..s + WAYS)
            .zip(tags)
            .find(|&(i, &g)| g == tag && Self::matches(&t[i * l.stride..(i + 1) * l.stride], l, segs, j, digits, values, keeper))
            .map(|(i, _)| i)
        {
            Some(i) => {
                self.hits += 1;
                Some(i)
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// The entry at place `i` of segment `j` (None if empty).
    #[inline]
    pub(crate) fn entry(&self, segs: &Segments, j: usize, i: usize) -> Option<Entry<'_>> {
        let l = self.layouts[j];
        let w = &self.tables[j][i * l.stride..(i + 1) * l.stride];
        (w[0] != 0).then_some(Entry { words: w, layout: l, cut: segs.bounds[j] })
    }

    /// Remember segment `j`'s outcome (its values and steps are in `values` and `steps`, the
    /// cases of its `drop_off_inputs` layers in `cases`, what autograd keeps in `keeper`);
    /// returns its place.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn store(
        &mut self,
        segs: &Segments,
        j: usize,
        digits: &[u64],
        values: &[Shape],
        delta: [u64; SUMMED],
        layers: u64,
        steps: &[Step],
        cases: &[u32],
        keeper: &Keeper,
    ) -> usize {
        let (s, tag) = Self::set(segs, j, digits, values);
        let l = self.layouts[j];
        let t = &mut self.tables[j];
        let tags = &mut self.tags[j];
        let way = match (s..s + WAYS).find(|&i| tags[i] == 0) {
            Some(i) => i,
            None => {
                self.victim[j] = (self.victim[j] + 1) % WAYS;
                s + self.victim[j]
            }
        };
        tags[way] = tag;
        let (a, b) = (segs.bounds[j], segs.bounds[j + 1]);
        let w = &mut t[way * l.stride..(way + 1) * l.stride];
        w[0] = 1;
        for (o, &v) in w[l.digits..l.digits + l.num_digits].iter_mut().zip(&segs.vars[j]) {
            *o = digits[v];
        }
        for (o, &x) in w[l.ext..l.ext + l.num_ext * Shape::WORDS].chunks_exact_mut(Shape::WORDS).zip(&segs.ext[j]) {
            values[x].write(o);
        }
        for (i, o) in w[l.ext_state..l.post].chunks_exact_mut(2).enumerate() {
            o.copy_from_slice(&keeper.ext_words(&segs.ext[j], i, a));
        }
        for (o, &x) in w[l.post..l.post + l.num_ext].iter_mut().zip(&segs.ext[j]) {
            *o = keeper.state(x, b).kept as u64;
        }
        let at = l.post + l.num_ext;
        for (o, &v) in w[at..at + 2 * l.num_keep].chunks_exact_mut(2).zip(&segs.keep[j]) {
            o.copy_from_slice(&keeper.relative_words(&segs.ext[j], v, b));
        }
        w[l.delta..l.delta + SUMMED].copy_from_slice(&delta);
        w[l.layers] = layers;
        for (o, &v) in w[l.keep..l.keep + l.num_keep * Shape::WORDS].chunks_exact_mut(Shape::WORDS).zip(&segs.keep[j]) {
            values[v].write(o);
        }
        match (a..b).rev().find(|&k| steps[k].kind != StepKind::Skipped) {
            Some(k) => {
                w[l.last_active] = k as u64 + 2; // value k + 1, stored + 1
                values[k + 1].write(&mut w[l.last_active + 1..]);
            }
            None => w[l.last_active] = 0,
        }
        for ((o, st), &case) in w[l.steps..l.steps + 3 * l.num_steps].chunks_exact_mut(3).zip(&steps[a..b]).zip(&cases[a..b]) {
            o[0] = match st.kind {
                StepKind::Own => 0,
                StepKind::Alias => 1,
                StepKind::Skipped => 2,
            } | (case as u64) << 2;
            o[1] = st.bytes;
            o[2] = st.scratch;
        }
        match Tail::span(steps, a, b) {
            Some(tail) => w[l.tail] = tail.write(&mut w[l.tail + 1..l.stride], l.num_ext) as u64,
            None => w[l.tail] = 0,
        }
        way
    }
}

/// Segment memos of finished evaluators, for the next ones (grid sweeps): an engine keeps one
/// pool; an evaluator takes a memo when it starts and gives it back when it is dropped. The
/// pool also keeps what every evaluator of its program derives from the program alone.
#[derive(Default)]
pub(crate) struct MemoPool {
    memos: std::sync::Mutex<Vec<Memo>>,
    prepared: std::sync::OnceLock<Prepared>,
    buffers: std::sync::Mutex<Vec<Buffers>>,
}

impl MemoPool {
    /// The evaluators' tables derived from `prog` (the pool's program: a pool serves one), made
    /// by the first evaluator.
    pub(crate) fn prepared(&self, prog: &Program) -> &Prepared {
        self.prepared.get_or_init(|| Prepared::new(prog))
    }

    /// A pooled memo that fits these segments and options (the one given back last), else a new
    /// one. The pool holds memos of both segmentations (grid order and random order): taking
    /// one that does not fit must not drop it, or calls that alternate sorted and unsorted ids
    /// would make a fresh, zeroed memo every time (docs/performance.md, "Small calls").
    pub(crate) fn take(&self, segs: &Segments, tag: (u64, u64)) -> Memo {
        let pooled = self.memos.lock().ok().and_then(|mut pool| {
            let at = pool.iter().rposition(|m| m.fits(segs, tag))?;
            Some(pool.remove(at))
        });
        pooled.unwrap_or_else(|| Memo::new(segs, tag))
    }

    /// Keep `memo` for a later evaluator (at most two per thread of the current pool; beyond,
    /// the one given back longest ago goes).
    pub(crate) fn give(&self, memo: Memo) {
        if let Ok(mut pool) = self.memos.lock() {
            if pool.len() >= rayon::current_num_threads().max(1) * 2 {
                pool.remove(0);
            }
            pool.push(memo);
        }
    }

    /// An evaluator's buffers given back by an earlier one ([`Buffers`]), else empty ones.
    pub(crate) fn take_buffers(&self) -> Buffers {
        self.buffers.lock().ok().and_then(|mut pool| pool.pop()).unwrap_or_default()
    }

    /// Keep an evaluator's buffers for the next one (as many as memos).
    pub(crate) fn give_buffers(&self, b: Buffers) {
        if let Ok(mut pool) = self.buffers.lock() {
            if pool.len() < rayon::current_num_threads().max(1) * 2 {
                pool.push(b);
            }
        }
    }

    /// Every pooled memo (tests, statistics).
    pub(crate) fn memos(&self) -> std::sync::MutexGuard<'_, Vec<Memo>> {
        self.memos.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
