//! The first call against later ones, engine alone: `cargo run --release --example first_call -- SPEC.json N [RUNS]`
//! times RUNS samples of N rows (seed 1, chunks of 2^18 as `archsweep.sweep`) in one process, each
//! on its own: the first pays for the engine's empty tables, the later ones find them filled.
//! Each run also prints its chunks' times: the first chunk of the first run fills the tables.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc; // as the Python extension
use archsweep_core::space::ids::{Ids, Permutation};
use archsweep_core::space::{compile, Engine, Spec};
use archsweep_core::Options;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&args[1]).expect("spec file");
    let n: u64 = args.get(2).map_or(4_000_000, |s| s.parse().unwrap());
    let runs: usize = args.get(3).map_or(4, |s| s.parse().unwrap());
    let engine = Engine::new(compile(&Spec::from_value(&serde_json::from_str(&text).unwrap()).unwrap()).unwrap());
    let size: u128 = engine.program().id_radix().iter().map(|&r| r as u128).product();
    let ids = Ids::Sample(Permutation::new(size, 1));
    for run in 0..runs {
        let t = Instant::now();
        let mut rows = 0;
        let mut chunks = Vec::new();
        for start in (0..n).step_by(1 << 18) {
            let tc = Instant::now();
            let (parts, _) = engine.evaluate_parts(ids, start..(start + (1 << 18)).min(n), None, Options::default());
            chunks.push(format!("{:.0}", tc.elapsed().as_secs_f64() * 1e3));
            rows += parts.iter().map(|c| c.len()).sum::<usize>();
        }
        let s = t.elapsed().as_secs_f64();
        println!("run {run}: {:.2} M variants/s ({rows} rows, {s:.3} s); its chunks, ms: {}", n as f64 / s / 1e6, chunks.join(" "));
    }
}
