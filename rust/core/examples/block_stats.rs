//! Grid rate and what the segment memos did: `cargo run --release --example block_stats -- SPEC.json N THREADS`
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use archsweep_core::space::ids::Ids;
use archsweep_core::space::{compile, Engine, Spec};
use archsweep_core::Options;
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&args[1]).unwrap();
    let n: u64 = args[2].parse().unwrap();
    let threads: usize = args[3].parse().unwrap();
    let engine = Engine::new(compile(&Spec::from_value(&serde_json::from_str(&text).unwrap()).unwrap()).unwrap());
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let t = Instant::now();
    for start in (0..n).step_by(1 << 18) {
        let _ = pool.install(|| engine.evaluate_parts(Ids::Grid, start..(start + (1 << 18)).min(n), None, Options::default()));
    }
    println!("{:.2} M/s", n as f64 / t.elapsed().as_secs_f64() / 1e6);
    for m in engine.memo_stats() {
        println!("memo hits {} misses {} blocks {}", m.hits, m.misses, m.blocks);
    }
}
