//! Every `#[target_feature]` function of the engine, and the one check that decides whether
//! they run ([`avx512`]). Each is either [`compiled_for_avx512`], which runs a portable loop
//! of its caller (in `ids.rs` or `engine/`) compiled for AVX-512, or a loop written with
//! AVX-512 intrinsics over slices and the two memory layouts defined here ([`Link`],
//! [`Payload`]); its caller runs the portable code when [`avx512`] is false.
//!
//! This module is a leaf: it uses nothing else of the crate, so the unsafe code is in one place
//! without a module cycle.
//!
//! Every `#[target_feature]` function here is `unsafe`: it may only run where [`avx512`] is true
//! (and its own `# Safety` conditions hold).

use std::sync::OnceLock;

/// Whether the AVX-512 paths run: the CPU has every feature a function of this module enables
/// (AVX-512 F, DQ, VL and BW), and the environment variable `ARCHSWEEP_SIMD` is not `off`.
///
/// `ARCHSWEEP_SIMD=off` forces the portable paths everywhere (to test them on an AVX-512
/// machine, or to compare); any other value, or none, leaves the choice to the CPU. The
/// variable is read once, at the first call (the answer is cached for the process).
#[inline]
pub(crate) fn avx512() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| enabled(std::env::var("ARCHSWEEP_SIMD").ok().as_deref(), cpu_has_avx512))
}

/// The AVX-512 paths run unless `setting` (the value of `ARCHSWEEP_SIMD`) is `off` (any case,
/// blanks around it ignored); then only if the CPU has the features (asked only then).
fn enabled(setting: Option<&str>, cpu: impl FnOnce() -> bool) -> bool {
    !setting.is_some_and(|v| v.trim().eq_ignore_ascii_case("off")) && cpu()
}

#[cfg(target_arch = "x86_64")]
fn cpu_has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512bw")
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_has_avx512() -> bool {
    false
}

/// Run `f` compiled for AVX-512 (F, DQ, VL, BW): `f` is a portable loop, written once, whose
/// code the compiler vectorises with 8-lane 64-bit multiplies, maxima and conversions here
/// (compiled for the baseline they are scalar: SSE2 has none of them). `f` and what it calls
/// with `#[inline(always)]` are inlined into this function (a closure called once is), so they
/// are compiled with its features.
///
/// # Safety
/// [`avx512`] is true.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
pub(crate) unsafe fn compiled_for_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// [`compiled_for_avx512`] of `f(a, b)`: `a` and `b` (mutable slices, say) are arguments of
/// this function, so the compiler knows that they do not alias (a closure's captures it may
/// not: its loops then check for overlap at run time and are not unrolled).
///
/// # Safety
/// [`avx512`] is true.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
pub(crate) unsafe fn compiled_for_avx512_with<A, B, R>(a: A, b: B, f: impl FnOnce(A, B) -> R) -> R {
    f(a, b)
}

/// A prefetch of the cache line holding `x` into every level.
#[inline(always)]
pub(crate) fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it reads nothing and cannot fault (SSE is baseline on x86_64)
    unsafe {
        std::arch::x86_64::_mm_prefetch(x as *const T as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

// ---- the memory layouts the dense tables' kernels read (engine/dense/tables.rs)

/// What a segment adds, one cache line: the kept sums in words 0..7, its own peak in word 7 (an
/// 8-lane vector: a variant's payloads are summed, and their peaks taken, lane by lane).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Payload(pub(crate) [u64; 8]);

/// Where a segment leads: the state at the next cut ([`EMPTY`]: not recorded) and its layers.
/// The links are small (8 bytes an entry) and stay in cache; a variant's chain of states only
/// waits on them, and its payloads' loads overlap. [`walk`] gathers one as a 64-bit word: `next`
/// in the low half, `layers` in the high half.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct Link {
    pub(crate) next: u32,
    pub(crate) layers: u32,
}

/// A state not recorded (a link's `next`), and a row whose chain ended (its state).
pub(crate) const EMPTY: u32 = u32::MAX;

// ---- ids: permutations and digit decoding

/// A compaction pass of [`Permutation::apply_many64`]'s cycle walk (`compact_portable` in
/// `ids.rs`), 8 words a vector: those in range (below `size`) scattered to their places, those
/// out of range compressed down in registers (vpcompressq, and vpcompressd for their places; a
/// compressing store to memory is microcoded) and stored under a mask.
///
/// # Safety
/// Every place is in `out` (`at[k] < out.len()`), and [`avx512`] is true.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn compact(size: u128, words: &mut [u64], at: &mut [u32], out: &mut [u64]) -> usize {
    use std::arch::x86_64::*;
    let n = words.len();
    assert!(at.len() == n, "a place for every word");
    // sizes up to 2^64: a word is out of range when it is at least `size` (never, at 2^64)
    let (bound, every) = match u64::try_from(size) {
        Ok(s) => (_mm512_set1_epi64(s as i64), false),
        Err(_) => (_mm512_setzero_si512(), true),
    };
    let base = out.as_mut_ptr();
    let mut kept = 0;
    for k in (0..n).step_by(8) {
        let live: __mmask8 = if n - k >= 8 { 0xff } else { (1u8 << (n - k)) - 1 };
        // SAFETY: loads are masked to the live words k..n; the compressed stores write
        // popcount(far) <= 8 words from `kept` <= k, within what was just loaded (so nothing
        // unread is overwritten); the scatter writes out[at] for live places (in `out`, by
        // the caller's contract)
        unsafe {
            let w = _mm512_maskz_loadu_epi64(live, words.as_ptr().add(k).cast());
            let i = _mm256_maskz_loadu_epi32(live, at.as_ptr().add(k).cast());
            let far = if every { 0 } else { _mm512_mask_cmpge_epu64_mask(live, w, bound) };
            _mm512_mask_i64scatter_epi64::<8>(base.cast(), live & !far, _mm512_cvtepu32_epi64(i), w);
            let moved: __mmask8 = ((1u16 << far.count_ones()) - 1) as u8;
            _mm512_mask_storeu_epi64(words.as_mut_ptr().add(kept).cast(), moved, _mm512_maskz_compress_epi64(far, w));
            _mm256_mask_storeu_epi32(at.as_mut_ptr().add(kept).cast(), moved, _mm256_maskz_compress_epi32(far, i));
            kept += far.count_ones() as usize;
        }
    }
    kept
}

// ---- dense tables

/// `sum_rows_portable` (`engine/dense/tables.rs`) with AVX-512: a payload is one vector,
/// summed (overflow a mask), maximised and loaded as one (the compiler, left to itself, splits it into a half vector and
/// four scalar lanes); 8 rows' vectors are then transposed in registers into 8 columns' and
/// stored as such (not 64 words one by one).
///
/// # Safety
/// [`avx512`] is true.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn sum_rows(
    payloads: &[Vec<Payload>],
    idx: &[usize],
    n: usize,
    ok: &mut [bool],
    sums: &mut [Vec<u64>; 7],
    peak: &mut [u64],
) -> [u64; 8] {
    use std::arch::x86_64::*;
    /// Row `b`'s sums in lanes 0..7 and its segments' peak in lane 7, and its overflow mask.
    #[inline(always)]
    unsafe fn row(payloads: &[Vec<Payload>], idx: &[usize], n: usize, b: usize) -> (__m512i, u8) {
        let (mut add, mut max, mut over) = (_mm512_setzero_si512(), _mm512_setzero_si512(), 0u8);
        for (j, pays) in payloads.iter().enumerate() {
            let p: &Payload = &pays[idx[j * n + b]];
            // SAFETY: a Payload is 64 bytes aligned to 64
            let p = unsafe { _mm512_load_si512((p as *const Payload).cast()) };
            let s = _mm512_add_epi64(add, p);
            over |= _mm512_cmplt_epu64_mask(s, p);
            add = s;
            max = _mm512_max_epu64(max, p);
        }
        (_mm512_mask_blend_epi64(0x80, add, max), over & 0x7f)
    }
    assert!(sums.iter().all(|c| c.len() >= n) && peak.len() >= n && ok.len() >= n, "a batch's columns");
    let mut top = _mm512_setzero_si512();
    let mut b = 0;
    while b < n {
        if n - b >= 8 && ok[b..b + 8].iter().all(|&x| x) {
            let mut r = [_mm512_setzero_si512(); 8];
            for (i, r) in r.iter_mut().enumerate() {
                // SAFETY: the CPU has the features (this function's own)
                let (v, over) = unsafe { row(payloads, idx, n, b + i) };
                ok[b + i] = over == 0;
                top = _mm512_max_epu64(top, v);
                *r = v;
            }
            // 8 x 8 words transposed: pairs of rows interleaved, then 128-bit lanes picked
            let t: [__m512i; 8] =
                std::array::from_fn(
                    |k| if k % 2 == 0 { _mm512_unpacklo_epi64(r[k], r[k + 1]) } else { _mm512_unpackhi_epi64(r[k - 1], r[k]) },
                );
            // t[0]: lanes 0, 2, 4, 6 of rows 0-1; t[1]: lanes 1, 3, 5, 7 of rows 0-1; ...
            let u = |a: __m512i, c: __m512i| (_mm512_shuffle_i64x2::<0x88>(a, c), _mm512_shuffle_i64x2::<0xdd>(a, c));
            let mut col = [_mm512_setzero_si512(); 8];
            for h in 0..2 {
                // lanes h, h + 2, h + 4, h + 6
                let (u0, u1) = u(t[h], t[2 + h]);
                let (u2, u3) = u(t[4 + h], t[6 + h]);
                (col[h], col[h + 4]) = u(u0, u2);
                (col[h + 2], col[h + 6]) = u(u1, u3);
            }
            // SAFETY: rows b..b + 8 are within every column (asserted above)
            unsafe {
                for (c, v) in sums.iter_mut().zip(&col) {
                    _mm512_storeu_si512(c.as_mut_ptr().add(b).cast(), *v);
                }
                let at = peak.as_mut_ptr().add(b);
                _mm512_storeu_si512(at.cast(), _mm512_max_epu64(_mm512_loadu_si512(at.cast()), col[7]));
            }
            b += 8;
            continue;
        }
        if ok[b] {
            // SAFETY: the CPU has the features (this function's own)
            let (v, over) = unsafe { row(payloads, idx, n, b) };
            let mut lanes = [0u64; 8];
            // SAFETY: `lanes` is 8 words
            unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), v) };
            for (col, x) in sums.iter_mut().zip(&lanes) {
                col[b] = *x;
            }
            peak[b] = peak[b].max(lanes[7]);
            ok[b] = over == 0;
            top = _mm512_max_epu64(top, v);
        }
        b += 1;
    }
    let mut maxima = [0u64; 8];
    // SAFETY: `maxima` is 8 words
    unsafe { _mm512_storeu_si512(maxima.as_mut_ptr().cast(), top) };
    maxima
}

/// The chain walk of `Tables::lookup` (`engine/dense/tables.rs`; `walk_portable` there) with
/// AVX-512, 8 rows a vector, per segment `j` (its links `links[j]`, payloads `payloads[j]`,
/// `sizes[j]` combinations and digits `vars[j]`, (variable, stride) pairs): the rows' entry
/// indices into `idx[j * n..]` (a row whose chain ended gets one that is never read, as in
/// `walk_portable`), their links gathered (vpgatherqq) for the rows still walking and in
/// range, the next states (`state`) and layers (`layers`) taken under the mask of links
/// recorded; then the payloads of the rows that go on prefetched, for [`sum_rows`]. Digit `v`
/// of row `b` is `digits[v * stride + b]`.
///
/// # Safety
/// [`avx512`] is true; `digits` holds every digit the segments read for rows 0..n.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn walk(
    links: &[Vec<Link>],
    payloads: &[Vec<Payload>],
    sizes: &[usize],
    vars: &[Vec<(usize, u32)>],
    digits: &[u64],
    stride: usize,
    n: usize,
    state: &mut [u32],
    layers: &mut [u64],
    idx: &mut [usize],
) {
    use std::arch::x86_64::*;
    const { assert!(std::mem::size_of::<Link>() == 8 && std::mem::offset_of!(Link, next) == 0) };
    assert!(payloads.len() == links.len() && sizes.len() == links.len() && vars.len() == links.len(), "a table per segment");
    let (state, layers, idx) = (&mut state[..n], &mut layers[..n], &mut idx[..links.len() * n]);
    let empty = _mm512_set1_epi64(EMPTY as i64);
    let low = _mm512_set1_epi64(u32::MAX as i64);
    for j in 0..links.len() {
        let (links, pays, size, vars) = (&links[j], &payloads[j], sizes[j], &vars[j]);
        let (size, len) = (_mm512_set1_epi64(size as i64), _mm512_set1_epi64(links.len() as i64));
        for k in (0..n).step_by(8) {
            let live: __mmask8 = if n - k >= 8 { 0xff } else { (1u8 << (n - k)) - 1 };
            // SAFETY: every load and store is masked to the `live` rows k..n, within `state`,
            // `layers`, `idx` (sliced to n rows a segment above) and `digits` (whose length
            // `begin` checked); the gather reads links[at] only where at < links.len()
            unsafe {
                let st = _mm512_cvtepu32_epi64(_mm256_maskz_loadu_epi32(live, state.as_ptr().add(k).cast()));
                // (32 x 32 -> 64-bit multiplies, one micro-op where vpmullq takes three: a
                // state, a size, a digit and a stride are below 2^32; rows whose chain ended,
                // EMPTY times size, get an index beyond the links, never read)
                let mut at = _mm512_mul_epu32(st, size);
                for &(v, s) in vars {
                    let d = _mm512_maskz_loadu_epi64(live, digits.as_ptr().add(v * stride + k).cast());
                    at = _mm512_add_epi64(at, _mm512_mul_epu32(d, _mm512_set1_epi64(s as i64)));
                }
                _mm512_mask_storeu_epi64(idx.as_mut_ptr().add(j * n + k).cast(), live, at);
                let go = _mm512_mask_cmpneq_epu64_mask(live, st, empty) & _mm512_cmplt_epu64_mask(at, len);
                let e = _mm512_mask_i64gather_epi64::<8>(_mm512_setzero_si512(), go, at, links.as_ptr().cast());
                let next = _mm512_and_si512(e, low);
                let good = _mm512_mask_cmpneq_epu64_mask(go, next, empty);
                _mm256_mask_storeu_epi32(
                    state.as_mut_ptr().add(k).cast(),
                    live,
                    _mm512_cvtepi64_epi32(_mm512_mask_blend_epi64(good, empty, next)),
                );
                let lay = _mm512_maskz_loadu_epi64(live, layers.as_ptr().add(k).cast());
                _mm512_mask_storeu_epi64(layers.as_mut_ptr().add(k).cast(), good, _mm512_add_epi64(lay, _mm512_srli_epi64::<32>(e)));
            }
        }
        for (&s, &i) in state.iter().zip(&idx[j * n..(j + 1) * n]) {
            if s != EMPTY {
                prefetch(&pays[i]);
            }
        }
    }
}

/// Choices [`pick`] picks from: two vectors.
pub(crate) const PICK_TABLE: usize = 16;

/// `pick` (`engine/dense/driver.rs`) for up to 16 choices: `words[b] = table[d[b] % 16]`; the
/// choices are two vectors, and 8 rows are one two-table permute (vpermt2q), which reads the
/// low 4 bits of each digit. `N` is a multiple of 8.
///
/// # Safety
/// [`avx512`] is true.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn pick<const N: usize>(table: &[i64; PICK_TABLE], d: &[u64; N], words: &mut [i64; N]) {
    use std::arch::x86_64::*;
    const { assert!(N.is_multiple_of(8)) };
    // SAFETY: every load and store below is of 8 words within `table`, `d` or `words`
    unsafe {
        let (lo, hi) = (_mm512_loadu_si512(table.as_ptr().cast()), _mm512_loadu_si512(table.as_ptr().add(8).cast()));
        for k in (0..N).step_by(8) {
            let idx = _mm512_loadu_si512(d.as_ptr().add(k).cast());
            _mm512_storeu_si512(words.as_mut_ptr().add(k).cast(), _mm512_permutex2var_epi64(lo, idx, hi));
        }
    }
}

/// How a batch's 8-byte column values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Store {
    /// ordinary stores: the values are read back soon (a small buffer)
    Cached,
    /// whole cache lines written past the caches where the CPU can (AVX-512): result columns
    /// are written once and not read back by this thread, and an ordinary store to a line not in
    /// cache first reads the line from memory (half the memory traffic saved).
    /// [`Store::fence`] must follow before the columns are shared.
    Streamed,
}

impl Store {
    /// Append `src` to `col`; `T` is an 8-byte type aligned to 8 (u64, i64), whose buffer the
    /// streamed stores write as words.
    pub(crate) fn extend<T: Copy>(self, col: &mut Vec<T>, src: &[T]) {
        const { assert!(std::mem::size_of::<T>() == 8 && std::mem::align_of::<T>() == 8) };
        #[cfg(target_arch = "x86_64")]
        if self == Store::Streamed && avx512() {
            col.reserve(src.len());
            let len = col.len();
            // SAFETY: the CPU has the features `stream` is compiled for (`avx512`); `T` is 8 bytes
            // aligned to 8 (asserted above), so the buffer is one of aligned words; the
            // reserve leaves room for src.len() more words after len, which `stream` initialises
            // (every one of them), so the new length covers initialised words only
            unsafe {
                stream(col.as_mut_ptr().add(len).cast(), src.as_ptr().cast(), src.len());
                col.set_len(len + src.len());
            }
            return;
        }
        col.extend_from_slice(src);
    }

    /// Make this thread's streamed stores visible to every thread before its later stores.
    pub(crate) fn fence() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE is baseline on x86_64; a fence reads and writes no memory
        unsafe {
            std::arch::x86_64::_mm_sfence()
        };
    }
}

/// Copy `n` words from `src` to `dst`: the whole 64-byte lines of `dst` with non-temporal
/// stores, the words before the first and after the last with ordinary ones.
///
/// # Safety
/// `src` valid for reading and `dst` (8-byte aligned) for writing `n` words, not overlapping;
/// [`avx512`] is true.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn stream(dst: *mut u64, src: *const u64, n: usize) {
    use std::arch::x86_64::*;
    // words up to the first line boundary (dst is 8-byte aligned: a Vec<u64>'s buffer)
    let head = ((64 - dst as usize % 64) % 64 / 8).min(n);
    let lines = (n - head) / 8;
    // SAFETY: every offset below is under n (head + 8 * lines <= n), per the caller's contract
    unsafe {
        std::ptr::copy_nonoverlapping(src, dst, head);
        for k in 0..lines {
            let at = head + 8 * k;
            _mm512_stream_si512(dst.add(at).cast(), _mm512_loadu_si512(src.add(at).cast()));
        }
        let done = head + 8 * lines;
        std::ptr::copy_nonoverlapping(src.add(done), dst.add(done), n - done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archsweep_simd_off_forces_the_portable_paths() {
        for off in ["off", "OFF", " off\n"] {
            assert!(!enabled(Some(off), || true), "{off:?}");
        }
        for other in [None, Some(""), Some("on"), Some("auto"), Some("of")] {
            assert!(enabled(other, || true), "{other:?}");
            assert!(!enabled(other, || false), "{other:?}: not without the CPU's features");
        }
        // the process's own answer follows its environment
        let off = std::env::var("ARCHSWEEP_SIMD").is_ok_and(|v| v.trim().eq_ignore_ascii_case("off"));
        assert!(!(off && avx512()));
    }
}
