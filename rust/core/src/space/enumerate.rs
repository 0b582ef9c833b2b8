//! Variant ids: a documented mixed-radix bijection between ids in [0, size) and
//! configurations, and a seeded pseudo-random permutation for sampling without replacement.
//!
//! Variables are digits in declaration order (per-stage variables in stage order), the last one
//! changing fastest, like `itertools.product`: id = Σ digit[j] · Π_{k > j} radix[k], where
//! digit[j] is the index of the chosen value in variable j's choice list. The mapping depends
//! only on the spec, so an id means the same configuration on every machine and shard.

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

/// The size if it fits in a u64 (ids are u64).
pub fn size_u64(radix: &[u64]) -> Option<u64> {
    radix.iter().try_fold(1u64, |acc, &r| acc.checked_mul(r))
}

/// id -> digits (`digits.len() == radix.len()`).
pub fn decode(mut id: u64, radix: &[u64], digits: &mut [u64]) {
    for i in (0..radix.len()).rev() {
        let r = radix[i];
        digits[i] = id % r;
        id /= r;
    }
}

/// digits -> id.
pub fn encode(digits: &[u64], radix: &[u64]) -> u64 {
    digits.iter().zip(radix).fold(0u64, |acc, (&d, &r)| acc * r + d)
}

/// Advance to the next id; returns the leftmost digit position that changed.
pub fn increment(digits: &mut [u64], radix: &[u64]) -> usize {
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

fn mix(mut z: u64) -> u64 {
    // splitmix64's finaliser
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

/// A seeded bijection of [0, size): a balanced Feistel network over the smallest even number of
/// bits that covers `size`, with cycle walking back into range. `sample n` takes positions
/// 0..n of this permutation: distinct ids, the same for the same seed on any machine and any
/// number of threads, and any position can be computed on its own (shards, resume).
#[derive(Clone, Copy, Debug)]
pub struct Permutation {
    size: u64,
    half_bits: u32,
    keys: [u64; 6],
}

impl Permutation {
    pub fn new(size: u64, seed: u64) -> Permutation {
        let bits = 64 - size.saturating_sub(1).leading_zeros();
        let half_bits = bits.div_ceil(2).max(1);
        let mut keys = [0u64; 6];
        for (i, k) in keys.iter_mut().enumerate() {
            *k = mix(seed ^ mix(0x9e3779b97f4a7c15u64.wrapping_mul(i as u64 + 1)));
        }
        Permutation { size, half_bits, keys }
    }

    fn round(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let (mut l, mut r) = (x >> self.half_bits, x & mask);
        for &k in &self.keys {
            let f = mix(r ^ k) & mask;
            let nl = r;
            r = l ^ f;
            l = nl;
        }
        (l << self.half_bits) | r
    }

    pub fn apply(&self, pos: u64) -> u64 {
        debug_assert!(pos < self.size);
        let mut x = self.round(pos);
        while x >= self.size {
            x = self.round(x);
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let radix = [7, 4, 11, 3];
        let mut d = [0u64; 4];
        for id in 0..(7 * 4 * 11 * 3) {
            decode(id, &radix, &mut d);
            assert_eq!(encode(&d, &radix), id);
        }
        // last digit fastest: id 1 changes only the last variable
        decode(1, &radix, &mut d);
        assert_eq!(d, [0, 0, 0, 1]);
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
        for size in [1u64, 2, 3, 10, 1000, 4097] {
            let p = Permutation::new(size, 42);
            let mut seen = vec![false; size as usize];
            for i in 0..size {
                let v = p.apply(i) as usize;
                assert!(!seen[v]);
                seen[v] = true;
            }
        }
        assert_ne!(Permutation::new(1000, 1).apply(0), Permutation::new(1000, 2).apply(0));
    }

    #[test]
    fn exact_size() {
        assert_eq!(size_decimal(&[10; 30]), format!("1{}", "0".repeat(30)));
        assert_eq!(size_decimal(&[7, 4, 11]), "308");
        assert_eq!(size_u64(&[10; 30]), None);
    }
}
