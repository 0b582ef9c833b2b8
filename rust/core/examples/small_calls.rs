//! Small calls, engine alone: explicit ids (1, 10, 100 random ones, the same each time) evaluated
//! in rayon pieces (`evaluate_parts`, as a sweep's chunk) and on the calling thread
//! (`evaluate_serial`, as `archsweep.sweep(space, ids=[...])` of a few ids), with and without
//! reuse; microseconds a call, best of 5.
//! `cargo run --release --example small_calls -- SPEC.json` (the data/spaces TOML as JSON)
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc; // as the Python extension
use archsweep_core::space::ids::{Id, Ids};
use archsweep_core::space::{compile, Engine, Spec};
use archsweep_core::Options;
use std::time::Instant;

fn best(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() / reps as f64);
    }
    best * 1e6
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&args[1]).expect("spec file");
    let engine = Engine::new(compile(&Spec::from_value(&serde_json::from_str(&text).unwrap()).unwrap()).unwrap());
    let size: u128 = engine.program().id_radix().iter().map(|&r| r as u128).product();
    let mut x: u128 = 12345;
    let mut ids: Vec<Id> = Vec::new();
    for _ in 0..100 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ids.push((x >> 20) % size);
    }
    let opts = Options::default();
    for k in [1usize, 10, 100] {
        let list = Ids::Explicit(&ids[..k]);
        let n = k as u64;
        let pieces = best(200, || drop(engine.evaluate_parts_with(list, 0..n, None, opts, true)));
        let pieces_fresh = best(50, || drop(engine.evaluate_parts_with(list, 0..n, None, opts, false)));
        let serial = best(200, || drop(engine.evaluate_serial(list, 0..n, None, opts, true)));
        let serial_fresh = best(50, || drop(engine.evaluate_serial(list, 0..n, None, opts, false)));
        println!(
            "{k:>3} ids: pieces {pieces:.1} us (reuse=false {pieces_fresh:.1}), serial {serial:.1} us (reuse=false {serial_fresh:.1})"
        );
    }
}
