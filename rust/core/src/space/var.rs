//! A space's primary variables as compiled: what [`compile`](super::compile) makes of the
//! spec's variables, and what the id schemes ([`ids`](super::ids),
//! [`networks`](super::networks)) number.

use super::expr::{Compiled, Value};

/// One primary variable (a per-stage variable contributes one per stage: `width_0`, ...).
pub struct Var {
    pub name: String,
    pub choices: Vec<Value>,
    /// The condition under which the variable exists (`when`), over earlier unconditional
    /// variables; None: it always exists.
    pub condition: Option<Compiled>,
}
