//! Experiment: a sample chunk evaluated in its own order vs in ascending id order.
use archsweep_core::space::ids::Ids;
use archsweep_core::space::ids::Permutation;
use archsweep_core::space::{compile, Engine, Spec};
use archsweep_core::Options;
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&args[1]).unwrap();
    let n: u64 = args[2].parse().unwrap();
    let engine = Engine::new(compile(&Spec::from_value(&serde_json::from_str(&text).unwrap()).unwrap()).unwrap());
    let prog = engine.program();
    let size: u128 = prog.vars.iter().map(|v| v.choices.len() as u128).product();
    let p = Permutation::new(size, 1);
    for round in 0..2 {
        let t = Instant::now();
        for start in (0..n).step_by(1 << 18) {
            let _ = engine.evaluate_parts(Ids::Sample(p), start..(start + (1 << 18)).min(n), None, Options::default());
        }
        let a = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for start in (0..n).step_by(1 << 18) {
            let end = (start + (1 << 18)).min(n);
            let mut ids: Vec<u128> = (start..end).map(|i| p.apply(i)).collect();
            ids.sort_unstable();
            let _ = engine.evaluate_parts(Ids::Explicit(&ids), 0..ids.len() as u64, None, Options::default());
        }
        let b = t.elapsed().as_secs_f64();
        println!("round {round}: sample order {:.2} M/s, ascending {:.2} M/s", n as f64 / a / 1e6, n as f64 / b / 1e6);
    }
}
