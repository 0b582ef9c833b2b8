//! Variant ids: a documented mixed-radix bijection between ids in [0, size) and
//! configurations, and a seeded pseudo-random permutation for sampling without replacement.
//!
//! Variables are digits in declaration order (per-stage variables in stage order), the last one
//! changing fastest, like `itertools.product`: id = Σ digit[j] · Π_{k > j} radix[k], where
//! digit[j] is the index of the chosen value in variable j's choice list. The mapping depends
//! only on the spec, so an id means the same configuration on every machine and shard.

use super::simd;

/// Exact decimal size of a product of radixes (arbitrary precision).
pub fn size_decimal(radix: &[u64]) -> String {
    let mut limbs: Vec<u64> = vec![1]; // base 1e9, little-endian
    for &r in radix {
        let mut carry: u128 = 0;
        for l in limbs.iter_mut() {
            let v = *l as u128 * r as u128 + carry;
            *l = (v % 1_000_000_000) as u64;
            carry = v / 1_000_000_000;
        }
        while carry > 0 {
            limbs.push((carry % 1_000_000_000) as u64);
            carry /= 1_000_000_000;
        }
    }
    let mut s = limbs.last().unwrap().to_string();
    for l in limbs.iter().rev().skip(1) {
        s.push_str(&format!("{l:09}"));
    }
    s
}

/// A variant id: u128, so a space of up to [`MAX_IDS`] variants can be sampled (ids of spaces
/// below 2^64 are u64 values, and travel as such).
pub type Id = u128;

/// Ids must fit a Decimal(38, 0) column (the `variant_id` type of spaces beyond 2^64): a space
/// may have at most 10^38 variants to be addressed by id.
pub const MAX_IDS: u128 = 100_000_000_000_000_000_000_000_000_000_000_000_000;

/// The size if it fits in a u64.
pub fn size_u64(radix: &[u64]) -> Option<u64> {
    radix.iter().try_fold(1u64, |acc, &r| acc.checked_mul(r))
}

/// The size if it fits in a u128.
pub fn size_u128(radix: &[u64]) -> Option<u128> {
    radix.iter().try_fold(1u128, |acc, &r| acc.checked_mul(r as u128))
}

/// The size if ids can address it (at most [`MAX_IDS`]).
pub fn size_ids(radix: &[u64]) -> Option<Id> {
    radix.iter().try_fold(1u128, |acc, &r| acc.checked_mul(r as u128)).filter(|&s| s <= MAX_IDS)
}

/// id -> digits (`digits.len() == radix.len()`).
pub fn decode(id: Id, radix: &[u64], digits: &mut [u64]) {
    // u64 arithmetic while the id fits (u128 division is a slow library call)
    let mut i = radix.len();
    let mut id = id;
    while id > u64::MAX as u128 {
        i -= 1;
        let r = radix[i] as u128;
        digits[i] = (id % r) as u64;
        id /= r;
    }
    let mut id = id as u64;
    while i > 0 {
        i -= 1;
        let r = radix[i];
        digits[i] = id % r;
        id /= r;
    }
}

/// Division by a number fixed in advance, through its reciprocal as a double where the dividend
/// is below 2^53 (the quotient is then off by at most one and corrected exactly, as in
/// [`DigitDecoder`]): a few cycles where `div` takes tens.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastDiv {
    d: u64,
    inv: f64,
}

impl FastDiv {
    /// Division by `d` (at least 1).
    pub(crate) fn new(d: u64) -> FastDiv {
        assert!(d > 0, "a radix is at least 1");
        FastDiv { d, inv: 1.0 / d as f64 }
    }

    /// (x / d, x % d)
    #[inline]
    pub(crate) fn divmod(self, x: u64) -> (u64, u64) {
        if x >= 1 << 53 {
            return (x / self.d, x % self.d);
        }
        // x < 2^53: the product through doubles is within one of x / d (for d >= 2^53 it is
        // below 1, or rounds to 1 and is corrected to 0)
        let mut q = (x as f64 * self.inv) as u64;
        if q * self.d > x {
            q -= 1;
        } else if x - q * self.d >= self.d {
            q += 1;
        }
        (q, x - q * self.d)
    }
}

/// digits -> id (None beyond u128).
pub fn encode(digits: &[u64], radix: &[u64]) -> Option<Id> {
    // u64 arithmetic while the id fits (most spaces' ids do throughout; u128 products cost
    // several multiplies each), then u128
    let mut low = 0u64;
    let mut i = 0;
    while i < digits.len() {
        match low.checked_mul(radix[i]).and_then(|x| x.checked_add(digits[i])) {
            Some(x) => low = x,
            None => break,
        }
        i += 1;
    }
    digits[i..].iter().zip(&radix[i..]).try_fold(low as u128, |acc, (&d, &r)| acc.checked_mul(r as u128)?.checked_add(d as u128))
}

/// Advance to the next id; returns the leftmost digit position that changed.
pub(crate) fn increment(digits: &mut [u64], radix: &[u64]) -> usize {
    let mut i = radix.len();
    while i > 0 {
        i -= 1;
        digits[i] += 1;
        if digits[i] < radix[i] {
            return i;
        }
        digits[i] = 0;
    }
    0
}

#[inline(always)]
fn mix(mut z: u64) -> u64 {
    // splitmix64's finaliser
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

/// Words [`Permutation::rounds`] takes a step (their multiplies' latencies overlap).
const ROUND_STEP: usize = 32;
/// Words of one vector (8 of 64 bits in AVX-512).
const ROUND_LANES: usize = 8;

/// Buffers of [`Permutation::apply_many`] (kept between calls: nothing is allocated per call).
#[derive(Default)]
pub struct Walk {
    words: Vec<u64>,
    at: Vec<u32>,
    narrow: Vec<u64>,
}

/// The sampler [`Permutation::new`] uses (see [`Permutation::with_sampler`]).
pub const SAMPLER: u32 = 2;

/// A seeded bijection of [0, size): a Feistel network over the smallest number of bits that
/// covers `size` (sampler 2; sampler 1: the smallest even number), with cycle walking back into
/// range. `sample n` takes positions 0..n of this permutation: distinct ids, the same for the
/// same seed and sampler on any machine and any number of threads, and any position can be
/// computed on its own (shards, resume).
///
/// 6 rounds; each updates one half with a keyed mix of the other (splitmix64's finaliser),
/// alternately the left (high) half and the right one. With halves of equal width this is the
/// balanced network with swapped halves, round for round. Sampler 1 always has equal halves;
/// sampler 2 makes the left half one bit wider when the number of bits is odd (3 or more), so
/// the domain is at most twice the size instead of four times: VGG's 4.7*10^12 ids walk a
/// 2^43 domain, 1.9 passes an id on average instead of 3.7. Where the bits are even, the two
/// samplers are the same permutation. Spaces below 2^64 get, with sampler 1, the ids they
/// always had: halves of at most 32 bits, the same rounds.
#[derive(Clone, Copy, Debug)]
pub struct Permutation {
    size: Id,
    /// bits of the left (high) and right (low) halves: equal, or the left one bit wider
    left_bits: u32,
    right_bits: u32,
    keys: [u64; 6],
}

impl Permutation {
    /// The permutation of sampler [`SAMPLER`].
    pub fn new(size: Id, seed: u64) -> Permutation {
        Permutation::with_sampler(size, seed, SAMPLER).expect("the default sampler")
    }

    /// The permutation of a given sampler (1 or 2, else None): 1 reproduces the samples of
    /// archsweep's first builds, 2 is the default (see [`Permutation`]).
    pub fn with_sampler(size: Id, seed: u64, sampler: u32) -> Option<Permutation> {
        let bits = 128 - size.saturating_sub(1).leading_zeros();
        let left_bits = bits.div_ceil(2).max(1);
        let right_bits = match sampler {
            1 => left_bits,
            2 if bits >= 3 => bits / 2,
            2 => left_bits,
            _ => return None,
        };
        let mut keys = [0u64; 6];
        for (i, k) in keys.iter_mut().enumerate() {
            *k = mix(seed ^ mix(0x9e3779b97f4a7c15u64.wrapping_mul(i as u64 + 1)));
        }
        Some(Permutation { size, left_bits, right_bits, keys })
    }

    /// Masks of the left and right halves.
    #[inline(always)]
    fn masks(&self) -> (u64, u64) {
        (u64::MAX >> (64 - self.left_bits), u64::MAX >> (64 - self.right_bits))
    }

    fn round(&self, x: Id) -> Id {
        let (lmask, rmask) = self.masks();
        let (mut l, mut r) = ((x >> self.right_bits) as u64, x as u64 & rmask);
        for k in self.keys.chunks_exact(2) {
            l ^= mix(r ^ k[0]) & lmask;
            r ^= mix(l ^ k[1]) & rmask;
        }
        ((l as Id) << self.right_bits) | r as Id
    }

    pub fn apply(&self, pos: u64) -> Id {
        debug_assert!((pos as Id) < self.size);
        let mut x = self.round(pos as Id);
        while x >= self.size {
            x = self.round(x);
        }
        x
    }

    /// `apply` for each of `positions`, into `out`: the same ids, the rounds of many positions in
    /// flight at once (each position's rounds depend on one another, different positions' do not).
    pub fn apply_many(&self, positions: std::ops::Range<u64>, out: &mut Vec<Id>, scratch: &mut Walk) {
        out.clear();
        if self.left_bits > 32 {
            out.extend(positions.map(|p| self.apply(p)));
            return;
        }
        let mut narrow = std::mem::take(&mut scratch.narrow);
        self.apply_many64(positions, &mut narrow, scratch);
        out.extend(narrow.iter().map(|&w| w as Id));
        scratch.narrow = narrow;
    }

    /// Ids below 2^64 in this permutation (a space of at most 2^64 variants): then
    /// [`Permutation::apply_many64`] gives them as 64-bit words.
    pub fn narrow(&self) -> bool {
        self.left_bits <= 32
    }

    /// [`Permutation::apply_many`] as 64-bit words, for a [`Permutation::narrow`] one.
    pub fn apply_many64(&self, positions: std::ops::Range<u64>, out: &mut Vec<u64>, scratch: &mut Walk) {
        assert!(self.narrow(), "ids beyond 2^64 need apply_many");
        // the same rounds on 64-bit words, a whole slice of words at a time (vectorised where the
        // CPU multiplies 64-bit lanes), then again on the words that walked out of range, kept
        // together with their positions
        out.clear();
        let Walk { words, at, .. } = scratch;
        words.clear();
        words.extend(positions.clone());
        at.clear();
        at.extend(0..words.len() as u32);
        out.resize(words.len(), 0);
        while !at.is_empty() {
            // padded to whole vectors (the padding's rounds are discarded): a word left over
            // would take the rounds one at a time, waiting on each multiply
            let n = at.len();
            words.resize(n.next_multiple_of(ROUND_LANES), 0);
            self.rounds(words);
            // SAFETY: the places are positions' indices in this run, and out has one per position
            let kept = unsafe { self.compact(&mut words[..n], &mut at[..n], out) };
            words.truncate(kept);
            at.truncate(kept);
        }
    }

    /// Words in range to their places in `out` (`out[at[k]]`); those out of range moved down,
    /// in order, with their places; returns how many are left.
    ///
    /// # Safety
    /// Every place is in `out` (`at[k] < out.len()`).
    unsafe fn compact(&self, words: &mut [u64], at: &mut [u32], out: &mut [u64]) -> usize {
        debug_assert!(at.iter().all(|&i| (i as usize) < out.len()));
        #[cfg(target_arch = "x86_64")]
        if simd::avx512() {
            // SAFETY: `avx512` is true; the places are in `out` (this function's contract)
            return unsafe { simd::compact(self.size, words, at, out) };
        }
        self.compact_portable(words, at, out)
    }

    /// Every word goes to its place (a word still out of range is overwritten by a later
    /// pass), and those out of range move down; no branch to mispredict.
    fn compact_portable(&self, words: &mut [u64], at: &mut [u32], out: &mut [u64]) -> usize {
        let mut kept = 0;
        for k in 0..words.len() {
            let (w, i) = (words[k], at[k]);
            out[i as usize] = w;
            (words[kept], at[kept]) = (w, i);
            kept += usize::from(w as Id >= self.size);
        }
        kept
    }

    /// [`Permutation::round64`] of every word.
    fn rounds(&self, words: &mut [u64]) {
        #[cfg(target_arch = "x86_64")]
        if simd::avx512() {
            // SAFETY: `avx512` is true
            return unsafe { simd::compiled_for_avx512(|| self.rounds_portable(words)) };
        }
        self.rounds_portable(words)
    }

    #[inline(always)]
    pub(crate) fn rounds_portable(&self, words: &mut [u64]) {
        // 32 words a step, round by round: the rounds of one word wait on each other (two
        // multiplies each), those of 32 words do not, so their latencies overlap; then a
        // vector's worth of words a step (ROUND_LANES), then one at a time
        let rest = self.rounds_by::<ROUND_STEP>(words);
        let rest = self.rounds_by::<ROUND_LANES>(rest);
        for w in rest {
            *w = self.round64(*w);
        }
    }

    /// The rounds of `words`, `W` words a step; returns the words left over (fewer than `W`).
    #[inline(always)]
    fn rounds_by<'a, const W: usize>(&self, words: &'a mut [u64]) -> &'a mut [u64] {
        let (lmask, rmask) = self.masks();
        let mut chunks = words.chunks_exact_mut(W);
        for c in &mut chunks {
            let (mut l, mut r) = ([0u64; W], [0u64; W]);
            for i in 0..W {
                (l[i], r[i]) = (c[i] >> self.right_bits, c[i] & rmask);
            }
            for k in self.keys.chunks_exact(2) {
                for i in 0..W {
                    l[i] ^= mix(r[i] ^ k[0]) & lmask;
                }
                for i in 0..W {
                    r[i] ^= mix(l[i] ^ k[1]) & rmask;
                }
            }
            for i in 0..W {
                c[i] = (l[i] << self.right_bits) | r[i];
            }
        }
        chunks.into_remainder()
    }

    /// [`Permutation::round`] for halves of at most 32 bits.
    #[inline(always)]
    fn round64(&self, x: u64) -> u64 {
        let (lmask, rmask) = self.masks();
        let (mut l, mut r) = (x >> self.right_bits, x & rmask);
        for k in self.keys.chunks_exact(2) {
            l ^= mix(r ^ k[0]) & lmask;
            r ^= mix(l ^ k[1]) & rmask;
        }
        (l << self.right_bits) | r
    }
}

/// Which variant ids a run covers: positions 0.. map to ids.
#[derive(Clone, Copy, Debug)]
pub enum Ids<'a> {
    /// position = id (full grid)
    Grid,
    /// position k = the k-th id of a seeded permutation (sampling without replacement)
    Sample(Permutation),
    /// position k = ids[k]
    Explicit(&'a [Id]),
}

impl Ids<'_> {
    #[inline]
    pub fn id(&self, pos: u64) -> Id {
        match self {
            Ids::Grid => pos as Id,
            Ids::Sample(p) => p.apply(pos),
            Ids::Explicit(ids) => ids[pos as usize],
        }
    }
}

/// Digits of many ids at once, variable by variable: `out[v * stride + b]` is digit `v` of the
/// `b`-th id. A quotient through a double (`1.0 / radix`, kept here) is off by at most one (an
/// id below 2^53 is exact in a double, the quotient below 2^52 for a radix of 2 or more, and
/// exact for a radix of 1), and is corrected exactly; it pipelines where a division chain would
/// wait. Ids of 2^53 or more are refused (the caller decodes them one by one with [`decode`]).
pub(crate) struct DigitDecoder {
    radix: Vec<u64>,
    inv: Vec<f64>,
    /// every radix is in [1, 2^53): what the quotients through doubles need
    usable: bool,
    rest: Vec<u64>,
}

impl DigitDecoder {
    pub(crate) fn new(radix: &[u64]) -> DigitDecoder {
        DigitDecoder {
            radix: radix.to_vec(),
            inv: radix.iter().map(|&r| 1.0 / r as f64).collect(),
            usable: radix.iter().all(|&r| (1..1 << 53).contains(&r)),
            rest: Vec::new(),
        }
    }

    /// The digits of `ids` into `out` (see [`DigitDecoder`]); false, with nothing written, when
    /// an id is 2^53 or more.
    pub(crate) fn decode(&mut self, ids: &[Id], out: &mut [u64], stride: usize) -> bool {
        if !self.usable || !ids.iter().all(|&i| i < 1 << 53) {
            return false;
        }
        self.rest.clear();
        self.rest.extend(ids.iter().map(|&i| i as u64));
        self.decode_rest(out, stride);
        true
    }

    /// [`DigitDecoder::decode`] of ids given as 64-bit words.
    pub(crate) fn decode64(&mut self, ids: &[u64], out: &mut [u64], stride: usize) -> bool {
        if !self.usable || !ids.iter().all(|&i| i < 1 << 53) {
            return false;
        }
        self.rest.clear();
        self.rest.extend_from_slice(ids);
        self.decode_rest(out, stride);
        true
    }

    fn decode_rest(&mut self, out: &mut [u64], stride: usize) {
        assert!(self.rest.len() <= stride, "a row of digits per id");
        let (radix, inv, rest) = (&self.radix, &self.inv, &mut self.rest);
        #[cfg(target_arch = "x86_64")]
        if simd::avx512() {
            // SAFETY: `avx512` is true; every number in `rest` is below 2^53 (checked by the
            // callers) and `inv` holds the inverses of radixes in [1, 2^53) (`usable`)
            return unsafe {
                simd::compiled_for_avx512_with(out, &mut rest[..], |out, rest| decode_portable(radix, inv, out, stride, rest))
            };
        }
        // SAFETY: as above
        unsafe { decode_portable(radix, inv, out, stride, rest) }
    }
}

/// Digits of the numbers in `rest` (each below 2^53), least significant variable first; no
/// branch, so the loop over ids vectorises.
///
/// # Safety
/// Every number in `rest` is below 2^53, and `inv[v]` is `1.0 / radix[v]` with `radix[v]` in
/// [1, 2^53): the quotients through doubles are then finite and fit an i64.
#[inline(always)]
pub(crate) unsafe fn decode_portable(radix: &[u64], inv: &[f64], out: &mut [u64], stride: usize, rest: &mut [u64]) {
    let n = rest.len();
    for v in (0..radix.len()).rev() {
        let (r, iv) = (radix[v] as i64, inv[v]);
        for (x, o) in rest.iter_mut().zip(&mut out[v * stride..v * stride + n]) {
            // through i64: ids below 2^53 are exact there, and signed conversions are single
            // instructions on x86-64 where unsigned ones are branchy sequences
            let xi = *x as i64;
            // SAFETY: 0 <= xi < 2^53 and 0 < iv <= 1 (this function's contract), so the product
            // is finite and below 2^53
            let q: i64 = unsafe { (xi as f64 * iv).to_int_unchecked() };
            // q is off by at most one: m in (-r, 2r)
            let m = xi - q * r;
            let (lo, hi) = (m < 0, m >= r);
            let q = q - i64::from(lo) + i64::from(hi);
            let m = m + if lo { r } else { 0 } - if hi { r } else { 0 };
            *o = m as u64;
            *x = q as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FastDiv against the hardware's division: every divisor from 1 to 300 and some large
    /// ones, dividends around multiples of the divisor, near 2^53 (the reciprocal's limit) and
    /// beyond it, and pseudo-random ones.
    #[test]
    fn fast_division_equals_division() {
        let mut x: u64 = 99;
        let mut next = || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            x
        };
        let divisors: Vec<u64> = (1..=300).chain([65_521, 1 << 31, (1 << 52) + 1, (1 << 53) - 1, 1 << 53, u64::MAX]).collect();
        for &d in &divisors {
            let f = FastDiv::new(d);
            let mut dividends: Vec<u64> = vec![0, 1, d - 1, d, (1 << 53) - 1, 1 << 53, (1 << 53) + 1, u64::MAX];
            for k in [1u64, 2, 3, 1000, (1 << 53) / d] {
                let m = k.saturating_mul(d);
                dividends.extend([m.saturating_sub(1), m, m.saturating_add(1)]);
            }
            dividends.extend((0..200).map(|_| next() >> (next() % 64)));
            for &n in &dividends {
                assert_eq!(f.divmod(n), (n / d, n % d), "{n} / {d}");
            }
        }
    }

    #[test]
    fn many_at_once_equal_one_at_a_time() {
        let mut d = vec![0u64; 5];
        let (mut out, mut rest) = (vec![0u64; 5 * 64], Vec::new());
        // ids of 2^53 and more are refused, and nothing is written
        let mut decoder = DigitDecoder::new(&[1 << 30, 1 << 30]);
        out.fill(7);
        assert!(!decoder.decode(&[1, 1 << 53], &mut out, 64) && !decoder.decode64(&[1 << 53], &mut out, 64));
        assert!(out.iter().all(|&x| x == 7));
        // radixes of 1, large radixes, ids up to 2^53 - 1
        for radix in [vec![7u64, 1, 11, 3, 5], vec![1 << 20, 3, 1 << 12, 1, 1 << 19]] {
            let size: u64 = radix.iter().product();
            let ids: Vec<Id> =
                [0, size as Id - 1].into_iter().chain((0..62u64).map(|k| (k.wrapping_mul(0x9e37_79b9_7f4a_7c15) % size) as Id)).collect();
            let inv: Vec<f64> = radix.iter().map(|&r| 1.0 / r as f64).collect();
            // a whole batch, and one that ends inside a vector; as dispatched on this CPU, and
            // portable
            for (n, portable) in [(64, false), (13, false), (64, true), (13, true)] {
                out.fill(u64::MAX);
                if portable {
                    rest.clear();
                    rest.extend(ids[..n].iter().map(|&i| i as u64));
                    // SAFETY: the ids are below 2^53 and `inv` holds the radixes' inverses
                    unsafe { decode_portable(&radix, &inv, &mut out, 64, &mut rest) };
                } else {
                    assert!(DigitDecoder::new(&radix).decode(&ids[..n], &mut out, 64));
                }
                for (b, &id) in ids[..n].iter().enumerate() {
                    decode(id, &radix, &mut d);
                    assert_eq!((0..5).map(|v| out[v * 64 + b]).collect::<Vec<_>>(), d, "id {id}, portable {portable}");
                }
                // nothing stored beyond the batch
                assert!((0..5).all(|v| out[v * 64 + n..(v + 1) * 64].iter().all(|&x| x == u64::MAX)));
            }
        }
        let (mut ids, mut pending) = (Vec::new(), Walk::default());
        for size in [1u128, 5, 1000, 4_728_477_974_528, 1 << 64, 1 << 70] {
            let p = Permutation::new(size, 3);
            let n = size.min(300) as u64;
            p.apply_many(0..n, &mut ids, &mut pending);
            assert_eq!(ids, (0..n).map(|i| p.apply(i)).collect::<Vec<_>>());
        }
        // the rounds a slice at a time (32 words a step, then the rest), portable and as
        // dispatched on this CPU, against one word at a time
        let p = Permutation::new(4_728_477_974_528, 3);
        let words: Vec<u64> = (0..101u64).map(|k| k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20).collect();
        let one: Vec<u64> = words.iter().map(|&w| p.round64(w)).collect();
        let (mut portable, mut dispatched) = (words.clone(), words);
        p.rounds_portable(&mut portable);
        p.rounds(&mut dispatched);
        assert_eq!((&portable, &dispatched), (&one, &one));
        // one compaction pass, portable and as dispatched: the words in range at their places,
        // those out of range (about three in four here) moved down in order with their places,
        // for every length up to 101 (vectors of 8 and a partial one); and at a size of 2^64
        // every word is in range
        let words: Vec<u64> = portable.iter().map(|&w| w & ((1 << 44) - 1)).collect();
        for (p, n) in [(p, 101), (Permutation::new(1 << 64, 3), 37)].into_iter().flat_map(|(p, m)| (0..=m).map(move |n| (p, n))) {
            let at: Vec<u32> = (0..n as u32).rev().collect();
            let mut results = Vec::new();
            for vector in [false, true] {
                let (mut w, mut a, mut out) = (words[..n].to_vec(), at.clone(), vec![0u64; n]);
                // SAFETY: the places are 0..n, and out has n elements
                let kept = unsafe {
                    if vector {
                        p.compact(&mut w, &mut a, &mut out)
                    } else {
                        p.compact_portable(&mut w, &mut a, &mut out)
                    }
                };
                let placed: Vec<(usize, u64)> =
                    (0..n).filter(|&k| (words[k] as Id) < p.size).map(|k| (at[k] as usize, out[at[k] as usize])).collect();
                assert!(placed.iter().all(|&(i, x)| x == words[n - 1 - i]), "n {n}, vector {vector}");
                results.push((kept, w[..kept].to_vec(), a[..kept].to_vec()));
            }
            let far: Vec<usize> = (0..n).filter(|&k| words[k] as Id >= p.size).collect();
            let want = (far.len(), far.iter().map(|&k| words[k]).collect::<Vec<_>>(), far.iter().map(|&k| at[k]).collect::<Vec<_>>());
            assert_eq!(results, vec![want.clone(), want], "n {n}");
        }
    }

    #[test]
    fn round_trip() {
        let radix = [7, 4, 11, 3];
        let mut d = [0u64; 4];
        for id in 0..(7 * 4 * 11 * 3) {
            decode(id, &radix, &mut d);
            assert_eq!(encode(&d, &radix), Some(id));
        }

        // last digit fastest: id 1 changes only the last variable
        decode(1, &radix, &mut d);
        assert_eq!(d, [0, 0, 0, 1]);
        // ids beyond 2^64 (a 10^30 space): u128 digits, exact both ways
        let radix = [10u64; 30];
        let mut d = [0u64; 30];
        for id in [0u128, 1, (1 << 64) - 1, 1 << 64, (1 << 64) + 12345, 10u128.pow(30) - 1, 987_654_321_987_654_321_987_654_321] {
            decode(id, &radix, &mut d);
            assert_eq!(encode(&d, &radix), Some(id));
            let text: String = d.iter().map(|x| x.to_string()).collect();
            assert_eq!(text.trim_start_matches('0'), if id == 0 { String::new() } else { id.to_string() });
        }
    }

    #[test]
    fn odometer_matches_decode() {
        let radix = [3, 1, 4, 2];
        let mut d = [0u64; 4];
        let mut e = [0u64; 4];
        for id in 1..24 {
            let p = increment(&mut d, &radix);
            decode(id, &radix, &mut e);
            assert_eq!(d, e);
            let mut prev = [0u64; 4];
            decode(id - 1, &radix, &mut prev);
            assert_eq!(p, (0..4).find(|&i| prev[i] != e[i]).unwrap());
        }
    }

    #[test]
    fn permutation_is_a_bijection() {
        // odd numbers of bits (2, 3, 9, 13: halves of unequal widths in sampler 2) and even ones
        for sampler in [1, 2] {
            for size in [1u64, 2, 3, 5, 10, 300, 1000, 4097, 5000] {
                let p = Permutation::with_sampler(size as Id, 42, sampler).unwrap();
                let mut seen = vec![false; size as usize];
                for i in 0..size {
                    let v = p.apply(i) as usize;
                    assert!(!seen[v], "sampler {sampler} size {size}");
                    seen[v] = true;
                }
            }
        }
        assert_ne!(Permutation::new(1000, 1).apply(0), Permutation::new(1000, 2).apply(0));
        assert!(Permutation::with_sampler(1000, 1, 3).is_none() && Permutation::with_sampler(1000, 1, 0).is_none());
    }

    /// Sampler 2's rounds over an odd number of bits are a bijection of exactly 2^bits words
    /// (the whole domain, checked word by word), so its cycle walk leaves at most half of them;
    /// with an even number of bits it is sampler 1's permutation.
    #[test]
    fn sampler_2_walks_the_smallest_domain() {
        for bits in [3u32, 5, 9, 13, 17] {
            let size = (1u64 << (bits - 1)) + 1;
            let p = Permutation::with_sampler(size as Id, 7, 2).unwrap();
            let mut seen = vec![false; 1 << bits];
            for x in 0..1u64 << bits {
                let y = p.round64(x);
                assert!(y < 1 << bits && !seen[y as usize], "bits {bits}: {x} -> {y}");
                seen[y as usize] = true;
            }
            // sampler 1 walks 2^(bits + 1) words
            let q = Permutation::with_sampler(size as Id, 7, 1).unwrap();
            assert!((0..1u64 << (bits + 1)).any(|x| q.round64(x) >= 1 << bits), "bits {bits}");
        }
        for size in [1u128, 7 * 7, 192_000_000, 1 << 40, (1 << 63) + 3] {
            let bits = 128 - (size - 1).leading_zeros();
            let (one, two) = (Permutation::with_sampler(size, 11, 1).unwrap(), Permutation::with_sampler(size, 11, 2).unwrap());
            for pos in [0u64, 1, 17, (size / 3) as u64, (size - 1) as u64] {
                if (pos as u128) < size && (bits % 2 == 0 || bits < 3) {
                    assert_eq!(one.apply(pos), two.apply(pos), "size {size} pos {pos}");
                }
            }
        }
        // an odd number of bits: the samples differ
        let size = 4_728_477_974_528u128;
        let (one, two) = (Permutation::with_sampler(size, 1, 1).unwrap(), Permutation::with_sampler(size, 1, 2).unwrap());
        assert!((0..100).filter(|&i| one.apply(i) != two.apply(i)).count() > 90);
    }

    /// Sampler 1 gives small spaces the ids of the u64 permutation of archsweep's first builds
    /// (seeded samples keep their ids), and covers spaces beyond 2^64.
    #[test]
    fn permutation_ids_are_stable_and_reach_beyond_2_64() {
        // the former u64 implementation, verbatim
        fn old(size: u64, seed: u64, pos: u64) -> u64 {
            let bits = 64 - size.saturating_sub(1).leading_zeros();
            let hb = bits.div_ceil(2).max(1);
            let keys: Vec<u64> = (0..6).map(|i| mix(seed ^ mix(0x9e3779b97f4a7c15u64.wrapping_mul(i + 1)))).collect();
            let round = |x: u64| {
                let mask = (1u64 << hb) - 1;
                let (mut l, mut r) = (x >> hb, x & mask);
                for &k in &keys {
                    let f = mix(r ^ k) & mask;
                    let nl = r;
                    r = l ^ f;
                    l = nl;
                }
                (l << hb) | r
            };
            let mut x = round(pos);
            while x >= size {
                x = round(x);
            }
            x
        }
        for (size, seed) in [(1u64, 0u64), (7, 3), (4_728_477_974_528, 1), (192_000_000, 5), (u64::MAX - 5, 9)] {
            let p = Permutation::with_sampler(size as Id, seed, 1).unwrap();
            for pos in [0u64, 1, 2, 1000, size / 2, size - 1] {
                if pos < size {
                    assert_eq!(p.apply(pos), old(size, seed, pos) as Id, "size {size} seed {seed} pos {pos}");
                }
            }
        }
        let size = 10u128.pow(30) + 7;
        let p = Permutation::new(size, 1);
        let ids: std::collections::HashSet<Id> = (0..20_000).map(|i| p.apply(i)).collect();
        assert_eq!(ids.len(), 20_000);
        assert!(ids.iter().all(|&x| x < size));
        // spread over the whole range, not bunched below 2^64
        assert!(ids.iter().filter(|&&x| x > size / 2).count() > 9_000);
    }

    #[test]
    fn exact_size() {
        assert_eq!(size_decimal(&[10; 30]), format!("1{}", "0".repeat(30)));
        assert_eq!(size_decimal(&[7, 4, 11]), "308");
        assert_eq!(size_u64(&[10; 30]), None);
        assert_eq!(size_ids(&[10; 30]), Some(10u128.pow(30)));
        assert_eq!(size_ids(&[10; 38]), Some(MAX_IDS));
        assert_eq!(size_ids(&[10; 39]), None);
    }
}
