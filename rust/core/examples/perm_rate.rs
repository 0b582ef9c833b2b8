//! Sample-id rate of the seeded permutation alone: `cargo run --release --example perm_rate -- [SIZE]`
//! (default: the VGG space's 4,728,477,974,528 variants, whose Feistel domain is 2^44, so an id
//! takes ~3.7 cycle walks; a power-of-four size needs none). Prints ns per id for
//! `Permutation::apply_many` over runs of 64 and of 1024 positions, and for `apply` one at a time.
use archsweep_core::space::ids::{Permutation, Walk};
use std::time::Instant;

fn main() {
    let size: u128 = std::env::args().nth(1).map_or(4_728_477_974_528, |s| s.parse().expect("SIZE: an integer"));
    let p = Permutation::new(size, 1);
    let n = 8_000_000u64.min(size as u64);
    let (mut out, mut walk) = (Vec::new(), Walk::default());
    let mut acc = 0u128; // printed, so no run is optimised away
    for _ in 0..3 {
        let mut line = String::new();
        for run in [64u64, 1024, 4096, 16384] {
            let t = Instant::now();
            for s in (0..n).step_by(run as usize) {
                p.apply_many(s..(s + run).min(n), &mut out, &mut walk);
                acc ^= out[0];
            }
            line += &format!("apply_many over {run}: {:.1} ns/id; ", t.elapsed().as_secs_f64() / n as f64 * 1e9);
        }
        let t = Instant::now();
        for s in 0..n {
            acc ^= p.apply(s);
        }
        println!("{line}apply: {:.1} ns/id", t.elapsed().as_secs_f64() / n as f64 * 1e9);
    }
    println!("(checksum {acc})");
}
