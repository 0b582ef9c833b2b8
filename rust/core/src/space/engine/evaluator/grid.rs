//! Grid blocks (`block.rs`): a block of consecutive ids that differ only in the last
//! variables, its first row evaluated and the others written from the suffix table of its key.

use super::*;
use crate::space::engine::filter::filter_valid;

impl Evaluator<'_> {
    /// One block of grid ids from `first` (`block.rs`): its first row evaluated, the others
    /// written from the suffix table of its key, or evaluated (and recorded) one by one.
    pub(super) fn run_block(&mut self, first: u64, filter: Option<&Filter>, out: &mut Columns, counts: &mut Counts) {
        let plan = self.replay.plan.unwrap();
        let len = plan.len as usize;
        let mut next = 1;
        self.run_one(first as Id, filter, out, counts);
        if self.last_valid && self.peak_from_chain {
            let chain = self.peak.chain[plan.seg0];
            plan.key(&self.variant.digits, &self.results.values, &self.results.keeper, chain.cur(), &mut self.replay.key);
            let memo = self.replay.memo.as_mut().unwrap();
            let dt = self.opts.dtype.bytes();
            match memo.blocks.get(&self.replay.key) {
                Some(t) if t.complete(plan.len) => {
                    let input_bytes = self.results.values[0].elements().ok().and_then(|n| n.checked_mul(dt));
                    if let Some(input_bytes) = input_bytes {
                        let prefix = block::Prefix {
                            totals: &self.results.saved[plan.cut],
                            layers: self.results.saved_layers[plan.cut],
                            peak: chain.peak,
                            input_bytes,
                            opts: &self.opts,
                        };
                        if block::fits(t, &prefix) {
                            counts.evaluated += len as u64 - 1;
                            match filter {
                                None => {
                                    block::emit(t, plan, &prefix, first, &self.variant.slots, out);
                                    counts.kept += len as u64 - 1;
                                }
                                Some(f) => {
                                    let mut scratch = self.replay.scratch.take().unwrap_or_else(|| Columns::new(self.prog, len));
                                    scratch.clear();
                                    block::emit(t, plan, &prefix, first, &self.variant.slots, &mut scratch);
                                    let prog = self.prog;
                                    filter_valid(&scratch, f, prog, &mut self.variant.slots, out, counts, |r, slots| {
                                        // (the prefix variables' slots already hold this block's values)
                                        let k = scratch.variant_id[r] - first;
                                        for (v, slot) in slots[..prog.vars.len()].iter_mut().enumerate().skip(plan.q) {
                                            let radix = prog.vars[v].choices.len() as u64;
                                            *slot = prog.vars[v].choices[((k / plan.strides[v - plan.q]) % radix) as usize];
                                        }
                                    });
                                    // the suffix variables' slots back to the current digits
                                    for v in plan.q..self.prog.vars.len() {
                                        self.variant.slots[v] = self.prog.vars[v].choices[self.variant.digits[v] as usize];
                                    }
                                    self.replay.scratch = Some(scratch);
                                }
                            }
                            memo.blocks.blocks += 1;
                            next = len;
                        }
                    }
                }
                Some(_) => {}
                None => {
                    // the first block with this key: evaluate it row by row and record it
                    memo.blocks.start(&self.replay.key, len);
                    for r in 0..len {
                        if r > 0
                            && !({
                                self.run_one((first + r as u64) as Id, filter, out, counts);
                                self.last_valid && self.peak_from_chain
                            })
                        {
                            self.replay.memo.as_mut().unwrap().blocks.get_mut(&self.replay.key).unwrap().poisoned = true;
                            next = r + 1;
                            break;
                        }
                        let outcome = self.suffix_outcome(plan);
                        let t = self.replay.memo.as_mut().unwrap().blocks.get_mut(&self.replay.key).unwrap();
                        match outcome {
                            Some((delta, layers, peak, shape)) => t.record(r, &delta, layers, peak, shape),
                            None => t.poisoned = true,
                        }
                        next = r + 1;
                    }
                }
            }
        }
        for r in next..len {
            self.run_one((first + r as u64) as Id, filter, out, counts);
        }
    }

    /// What the instances from the plan's cut on did for the current (valid) variant: their
    /// summed totals, layers, own peak (walked from the storage at the cut) and the output
    /// shape; None if the output is made before the cut or a chain step fails.
    fn suffix_outcome(&self, plan: &Plan) -> Option<([u64; crate::graph::SUMMED], u64, u64, Shape)> {
        let (base, now) = (self.results.saved[plan.cut].summed(), self.results.running.summed());
        let delta = std::array::from_fn(|i| now[i] - base[i]);
        let layers = self.results.num_layers - self.results.saved_layers[plan.cut];
        if layers == 0 {
            return None;
        }
        let (segs, memo) = (self.replay.segs?, self.replay.memo.as_ref()?);
        let mut c = self.peak.chain[plan.seg0].restarted();
        for j in plan.seg0..segs.bounds.len() - 1 {
            c = c.then(memo.entry(segs, j, self.replay.seg_way[j])?.tail()?)?;
        }
        Some((delta, layers, c.peak, self.results.out_shape))
    }
}
