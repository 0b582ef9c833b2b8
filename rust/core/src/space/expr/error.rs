//! Errors: syntax errors with a column, and evaluation faults with the span they happened at.

use std::fmt;

use super::parse::Span;
use super::value::Value;

/// `in 'src': msg at column N` (columns count characters from 1).
pub(super) fn syntax_error(src: &str, pos: usize, msg: &str) -> String {
    let col = src[..pos.min(src.len())].chars().count() + 1;
    format!("in '{src}': {msg} at column {col}")
}

/// An evaluation failure. Boxed so that `Result<Value, Fault>` stays two words.
#[derive(Debug)]
pub(super) struct FaultInner {
    msg: String,
    at: Option<Span>,
}
pub(super) type Fault = Box<FaultInner>;
pub(super) type ValueOrFault = Result<Value, Fault>;

#[cold]
#[inline(never)]
pub(super) fn fault(msg: String) -> Fault {
    Box::new(FaultInner { msg, at: None })
}

/// Attach the span of the failing operation, unless a deeper one is already attached.
#[cold]
#[inline(never)]
pub(super) fn at(mut f: Fault, span: Span) -> Fault {
    if f.at.is_none() {
        f.at = Some(span);
    }
    f
}

#[cold]
#[inline(never)]
pub(super) fn overflow(a: impl fmt::Display, op: &str, b: impl fmt::Display) -> Fault {
    fault(format!("integer overflow: {a} {op} {b} does not fit in 64 bits"))
}

#[cold]
#[inline(never)]
pub(super) fn missing_slot(i: u32, n: usize) -> Fault {
    fault(format!("slot {i} was not given a value (only {n} slots)"))
}

#[cold]
#[inline(never)]
pub(super) fn describe(src: &str, f: &Fault) -> String {
    let whole = src.trim();
    match f.at {
        Some((s, e)) => {
            let part = src.get(s as usize..e as usize).unwrap_or("").trim();
            if part.is_empty() || part == whole {
                format!("{} in '{whole}'", f.msg)
            } else {
                format!("{} at '{part}' in '{whole}'", f.msg)
            }
        }
        None => format!("{} in '{whole}'", f.msg),
    }
}
