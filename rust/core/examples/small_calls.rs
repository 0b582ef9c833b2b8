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
    let ks: Vec<usize> = match std::env::var("KS") {
        Ok(v) => v.split(',').filter_map(|k| k.parse().ok()).collect(),
        Err(_) => vec![1, 10, 100],
    };
    for k in ks {
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
    if std::env::var_os("NO_NEW").is_some() {
        return;
    }
    // a search loop's calls: one new id a call, after a warm-up sample (median of the calls)
    let warm: Vec<Id> = (0..100_000)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 20) % size
        })
        .collect();
    drop(engine.evaluate_parts_with(Ids::Explicit(&warm), 0..warm.len() as u64, None, opts, true));
    let calls: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let one = [(x >> 20) % size];
        let t = Instant::now();
        drop(engine.evaluate_serial(Ids::Explicit(&one), 0..1, None, opts, true));
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!("new id a call: median {:.1} us, p10 {:.1}, p90 {:.1}", times[calls / 2], times[calls / 10], times[calls * 9 / 10]);
}
