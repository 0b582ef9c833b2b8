//! Raw engine rate, without Python or Arrow: `cargo run --release --example sweep_rate -- SPEC.json N [grid|sample]`
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc; // as the Python extension
use archsweep_core::space::ids::Ids;
use archsweep_core::space::ids::Permutation;
use archsweep_core::space::{compile, Engine, Spec};
use archsweep_core::Options;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&args[1]).expect("spec file");
    let n: u64 = args.get(2).map_or(1_000_000, |s| s.parse().unwrap());
    let mode = args.get(3).map_or("grid", |s| s.as_str());
    let engine = Engine::new(compile(&Spec::from_value(&serde_json::from_str(&text).unwrap()).unwrap()).unwrap());
    let prog = engine.program();
    let size: u64 = prog.vars.iter().map(|v| v.choices.len() as u64).product();
    let ids = if mode == "grid" { Ids::Grid } else { Ids::Sample(Permutation::new(size as u128, 1)) };
    // the best of 3 runs per thread count (the first warms up the program's tables)
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let mut best = f64::INFINITY;
        let (mut rows, mut invalid) = (0, 0);
        for _ in 0..3 {
            let t = Instant::now();
            // in chunks of 2^18 positions, as archsweep.sweep does (pieces are not copied together)
            rows = 0;
            invalid = 0;
            for start in (0..n).step_by(1 << 18) {
                let (parts, counts) =
                    pool.install(|| engine.evaluate_parts(ids, start..(start + (1 << 18)).min(n), None, Options::default()));
                rows += parts.iter().map(|c| c.len()).sum::<usize>();
                invalid += counts.invalid;
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("{mode} threads={threads}: {:.2} M variants/s, best of 3 ({rows} rows, {invalid} invalid)", n as f64 / best / 1e6);
    }
}
