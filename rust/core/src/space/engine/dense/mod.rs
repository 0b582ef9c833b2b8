//! Random order (samples, explicit ids in no order) from dense segment tables: the tables
//! (`tables.rs`) and the driver that reads batches from them (`driver.rs`).

pub(crate) mod driver;
pub(crate) mod tables;

use std::sync::atomic::AtomicBool;
use std::sync::{OnceLock, RwLock};

/// What an [`Engine`](super::Engine) keeps for random order, shared by all threads.
#[derive(Default)]
pub(crate) struct DenseState {
    /// the tables' layout, once known (None when the program is not a chain of segments)
    pub(crate) layout: OnceLock<Option<tables::Layout>>,
    pub(crate) tables: RwLock<Option<tables::Tables>>,
    /// set when dense tables could not record this program's variants (its liveness is no
    /// chain) or miss for most of them: random order then goes back to sorted evaluation
    pub(crate) off: AtomicBool,
}

impl DenseState {
    /// Tables made for these options' batch and dtype are there.
    pub(crate) fn has_tables(&self, opts: crate::graph::Options) -> bool {
        self.tables.read().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref().is_some_and(|t| t.tag == tag(opts))
    }
}

/// What tables are made for: entries hold counts for one batch size and dtype.
pub(crate) fn tag(opts: crate::graph::Options) -> (u64, u64) {
    (opts.batch, opts.dtype.bytes())
}
