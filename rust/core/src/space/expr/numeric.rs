//! Python's number semantics: the packed value the closures pass around, int and float
//! arithmetic with checked overflow, `//` and `%` that floor, `**`, exact int/float comparisons,
//! `round`, `make_divisible`.

use std::cmp::Ordering;
use std::fmt;

use super::error::{fault, overflow, ExprErrorKind, Fault, Overflow, ValueOrFault};
use super::parse::{func_name, BinOp, CmpOp, Func};
use super::value::{Symbol, Value, TWO_63};

/// Numbers for arithmetic: bools count as ints.
#[derive(Clone, Copy)]
enum Number {
    Int(i64),
    Float(f64),
}

#[inline(always)]
fn number(v: Value) -> Result<Number, Fault> {
    match v {
        Value::Int(i) => Ok(Number::Int(i)),
        Value::Float(f) => Ok(Number::Float(f)),
        Value::Bool(b) => Ok(Number::Int(b as i64)),
        Value::Str(s) => Err(string_operand(s)),
    }
}

#[cold]
#[inline(never)]
fn string_operand(s: Symbol) -> Fault {
    fault(ExprErrorKind::StringOperand { text: s.as_str() })
}

/// The evaluator's value: a tag and 64 bits. Unlike [`Value`] it has no padding, so it moves
/// through registers and memory as two words (copying an enum with padding piecewise and
/// reading it back whole stalls store forwarding, which cost more than the arithmetic).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct PackedValue {
    pub(super) tag: u64,
    pub(super) bits: u64,
}

// Ints and bools have even tags (`is_int`), floats and strings odd ones.
const TAG_INT: u64 = 0;
const TAG_FLOAT: u64 = 1;
pub(super) const TAG_BOOL: u64 = 2;
const TAG_STR: u64 = 3;

impl PackedValue {
    #[inline(always)]
    pub(super) fn int(i: i64) -> PackedValue {
        PackedValue { tag: TAG_INT, bits: i as u64 }
    }
    #[inline(always)]
    pub(super) fn float(f: f64) -> PackedValue {
        PackedValue { tag: TAG_FLOAT, bits: f.to_bits() }
    }
    #[inline(always)]
    pub(super) fn bool(b: bool) -> PackedValue {
        PackedValue { tag: TAG_BOOL, bits: b as u64 }
    }
    #[inline(always)]
    pub(super) fn from_value(v: Value) -> PackedValue {
        match v {
            Value::Int(i) => PackedValue::int(i),
            Value::Float(f) => PackedValue::float(f),
            Value::Bool(b) => PackedValue::bool(b),
            Value::Str(s) => PackedValue { tag: TAG_STR, bits: s.id() as u64 },
        }
    }
    #[inline(always)]
    pub(super) fn value(self) -> Value {
        match self.tag {
            TAG_INT => Value::Int(self.bits as i64),
            TAG_FLOAT => Value::Float(f64::from_bits(self.bits)),
            TAG_STR => Value::Str(Symbol::from_id(self.bits as u32)),
            _ => Value::Bool(self.bits != 0),
        }
    }
    /// An int or bool (as 0 / 1).
    #[inline(always)]
    fn is_int(self) -> bool {
        self.tag & 1 == 0
    }
    #[inline(always)]
    fn is_str(self) -> bool {
        self.tag == TAG_STR
    }
    #[inline(always)]
    fn as_f64(self) -> f64 {
        if self.tag == TAG_FLOAT {
            f64::from_bits(self.bits)
        } else {
            self.bits as i64 as f64
        }
    }
    #[inline(always)]
    pub(super) fn truthy(self) -> bool {
        if self.tag == TAG_FLOAT {
            f64::from_bits(self.bits) != 0.0
        } else {
            self.bits != 0
        }
    }
}

pub(super) type PackedOrFault = Result<PackedValue, Fault>;

#[inline(always)]
pub(super) fn arith(op: BinOp, a: Value, b: Value) -> ValueOrFault {
    arith_packed(op, PackedValue::from_value(a), PackedValue::from_value(b)).map(PackedValue::value)
}

#[inline(always)]
pub(super) fn arith_packed(op: BinOp, a: PackedValue, b: PackedValue) -> PackedOrFault {
    if a.is_int() && b.is_int() {
        int_arith(op, a.bits as i64, b.bits as i64)
    } else if a.is_str() || b.is_str() {
        Err(string_operand(Symbol::from_id(if a.is_str() { a.bits } else { b.bits } as u32)))
    } else {
        float_arith(op, a.as_f64(), b.as_f64())
    }
}

#[inline(always)]
fn int_arith(op: BinOp, x: i64, y: i64) -> PackedOrFault {
    let r = match op {
        BinOp::Add => x.checked_add(y),
        BinOp::Sub => x.checked_sub(y),
        BinOp::Mul => x.checked_mul(y),
        BinOp::Div => {
            if y == 0 {
                return Err(fault(ExprErrorKind::DivisionByZero));
            }
            return Ok(PackedValue::float(int_true_div(x, y)));
        }
        BinOp::FloorDiv => {
            if y == 0 {
                return Err(fault(ExprErrorKind::DivisionByZero));
            }
            // None only for i64::MIN // -1.
            x.checked_div(y).map(|q| if x % y != 0 && ((x < 0) != (y < 0)) { q - 1 } else { q })
        }
        BinOp::Mod => {
            if y == 0 {
                return Err(fault(ExprErrorKind::ModuloByZero));
            }
            if y == -1 {
                return Ok(PackedValue::int(0));
            }
            let r = x % y;
            Some(if r != 0 && ((r < 0) != (y < 0)) { r + y } else { r })
        }
        BinOp::Pow => return int_pow(x, y).map(PackedValue::from_value),
    };
    match r {
        Some(v) => Ok(PackedValue::int(v)),
        None => Err(overflow(Overflow::Binary { lhs: x, op: op.symbol(), rhs: y })),
    }
}

/// `x / y` correctly rounded, as Python's int true division (`y != 0`). Converting both to
/// f64 first would round twice when an operand exceeds 2^53.
#[inline(always)]
fn int_true_div(x: i64, y: i64) -> f64 {
    const EXACT: u64 = 1 << 53;
    if x.unsigned_abs() <= EXACT && y.unsigned_abs() <= EXACT {
        return x as f64 / y as f64;
    }
    int_true_div_slow(x, y)
}

#[inline(never)]
fn int_true_div_slow(x: i64, y: i64) -> f64 {
    let (a, b) = (x.unsigned_abs() as u128, y.unsigned_abs() as u128);
    if a == 0 {
        return if (x < 0) != (y < 0) { -0.0 } else { 0.0 };
    }
    let bits = |v: u128| 128 - v.leading_zeros() as i32;
    // Scale so the quotient has at least 56 bits: 53 kept, a guard bit, and room for a sticky
    // bit below it; the u128 → f64 conversion then rounds once, to nearest even.
    let shift = (56 + bits(b) - bits(a)).max(0);
    let n = a << shift;
    let q = (n / b) | (n % b != 0) as u128;
    let r = q as f64 * 2f64.powi(-shift);
    if (x < 0) != (y < 0) {
        -r
    } else {
        r
    }
}

#[inline(never)]
fn int_pow(x: i64, y: i64) -> ValueOrFault {
    if y < 0 {
        if x == 0 {
            return Err(fault(ExprErrorKind::ZeroToNegativePower { base: Value::Int(0) }));
        }
        return float_pow(x as f64, y as f64);
    }
    let r = match x {
        0 => Some(if y == 0 { 1 } else { 0 }),
        1 => Some(1),
        -1 => Some(if y % 2 == 0 { 1 } else { -1 }),
        _ => u32::try_from(y).ok().and_then(|e| x.checked_pow(e)),
    };
    r.map(Value::Int).ok_or_else(|| overflow(Overflow::Binary { lhs: x, op: "**", rhs: y }))
}

#[inline(always)]
fn float_arith(op: BinOp, x: f64, y: f64) -> PackedOrFault {
    Ok(PackedValue::float(match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => {
            if y == 0.0 {
                return Err(fault(ExprErrorKind::DivisionByZero));
            }
            x / y
        }
        BinOp::FloorDiv => {
            if y == 0.0 {
                return Err(fault(ExprErrorKind::DivisionByZero));
            }
            py_divmod(x, y).0
        }
        BinOp::Mod => {
            if y == 0.0 {
                return Err(fault(ExprErrorKind::ModuloByZero));
            }
            py_divmod(x, y).1
        }
        BinOp::Pow => return float_pow(x, y).map(PackedValue::from_value),
    }))
}

/// CPython's `float_divmod`: floor quotient and remainder with the divisor's sign.
fn py_divmod(vx: f64, wx: f64) -> (f64, f64) {
    let mut m = vx % wx;
    let mut div = (vx - m) / wx;
    if m != 0.0 {
        if (wx < 0.0) != (m < 0.0) {
            m += wx;
            div -= 1.0;
        }
    } else {
        m = 0.0f64.copysign(wx);
    }
    let q = if div != 0.0 {
        let mut f = div.floor();
        if div - f > 0.5 {
            f += 1.0;
        }
        f
    } else {
        0.0f64.copysign(vx / wx)
    };
    (q, m)
}

#[inline(never)]
fn float_pow(x: f64, y: f64) -> ValueOrFault {
    if y == 0.0 {
        return Ok(Value::Float(1.0));
    }
    if x == 0.0 && y < 0.0 {
        return Err(fault(ExprErrorKind::ZeroToNegativePower { base: Value::Float(0.0) }));
    }
    if x < 0.0 && y.is_finite() && y.fract() != 0.0 {
        return Err(fault(ExprErrorKind::ComplexPower { base: x, exponent: y }));
    }
    let r = x.powf(y);
    if r.is_infinite() && x.is_finite() && y.is_finite() {
        return Err(fault(ExprErrorKind::FloatPowerTooLarge { base: x, exponent: y }));
    }
    Ok(Value::Float(r))
}

#[inline(always)]
pub(super) fn neg(v: Value) -> ValueOrFault {
    neg_packed(PackedValue::from_value(v)).map(PackedValue::value)
}

#[inline(always)]
pub(super) fn neg_packed(v: PackedValue) -> PackedOrFault {
    if v.is_int() {
        let i = v.bits as i64;
        match i.checked_neg() {
            Some(n) => Ok(PackedValue::int(n)),
            None => Err(overflow(Overflow::Negation(i))),
        }
    } else if v.is_str() {
        Err(string_operand(Symbol::from_id(v.bits as u32)))
    } else {
        Ok(PackedValue::float(-v.as_f64()))
    }
}

/// `i64` vs `f64`, exactly (as Python compares int and float), `None` if `f` is NaN.
#[inline(always)]
fn cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    if f >= TWO_63 {
        return Some(Ordering::Less);
    }
    if f < -TWO_63 {
        return Some(Ordering::Greater);
    }
    // |f| < 2^63, so `f as i64` truncates exactly (and avoids a libm call for trunc()).
    let ti = f as i64;
    let t = ti as f64;
    Some(match i.cmp(&ti) {
        Ordering::Equal => {
            if f > t {
                Ordering::Less
            } else if f < t {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        o => o,
    })
}

#[inline(always)]
pub(super) fn compare(op: CmpOp, a: Value, b: Value) -> bool {
    compare_packed(op, PackedValue::from_value(a), PackedValue::from_value(b))
}

#[inline(always)]
pub(super) fn compare_packed(op: CmpOp, a: PackedValue, b: PackedValue) -> bool {
    let ord = match (a.is_int(), b.is_int()) {
        (true, true) => Some((a.bits as i64).cmp(&(b.bits as i64))),
        _ if a.is_str() || b.is_str() => return compare_strings(op, a, b),
        (false, false) => a.as_f64().partial_cmp(&b.as_f64()),
        (true, false) => cmp_int_float(a.bits as i64, b.as_f64()),
        (false, true) => cmp_int_float(b.bits as i64, a.as_f64()).map(Ordering::reverse),
    };
    match op {
        CmpOp::Lt => ord == Some(Ordering::Less),
        CmpOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => ord == Some(Ordering::Greater),
        CmpOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        CmpOp::Eq => ord == Some(Ordering::Equal),
        CmpOp::Ne => ord != Some(Ordering::Equal),
    }
}

/// A comparison with a string operand: strings are equal when their symbols are; two strings
/// order by their text (as in Python); a string and a number are unequal and not ordered.
#[inline(never)]
fn compare_strings(op: CmpOp, a: PackedValue, b: PackedValue) -> bool {
    // equal symbols are equal texts (interned): no text is read for == and !=
    let both = a.is_str() && b.is_str();
    match op {
        CmpOp::Eq => return both && a.bits == b.bits,
        CmpOp::Ne => return !(both && a.bits == b.bits),
        _ => {}
    }
    let ord = if both { Some(Symbol::from_id(a.bits as u32).as_str().cmp(Symbol::from_id(b.bits as u32).as_str())) } else { None };
    match op {
        CmpOp::Lt => ord == Some(Ordering::Less),
        CmpOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => ord == Some(Ordering::Greater),
        CmpOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        CmpOp::Eq => ord == Some(Ordering::Equal),
        CmpOp::Ne => ord != Some(Ordering::Equal),
    }
}

/// A float that must become an int (`round`, `ceil`, `floor`, `int`).
#[inline]
fn float_to_int(f: f64) -> ValueOrFault {
    if (-TWO_63..TWO_63).contains(&f) {
        return Ok(Value::Int(f as i64));
    }
    Err(if f.is_finite() { overflow(Overflow::Float(f)) } else { fault(ExprErrorKind::NotConvertibleToInt { value: f }) })
}

#[inline(never)]
pub(super) fn call1(f: Func, v: Value) -> ValueOrFault {
    match (f, number(v)?) {
        (Func::Abs, Number::Int(i)) => i.checked_abs().map(Value::Int).ok_or_else(|| overflow(Overflow::Abs(i))),
        (Func::Abs, Number::Float(x)) => Ok(Value::Float(x.abs())),
        (Func::Round | Func::Ceil | Func::Floor | Func::Int, Number::Int(i)) => Ok(Value::Int(i)),
        (Func::Round, Number::Float(x)) => float_to_int(x.round_ties_even()),
        (Func::Ceil, Number::Float(x)) => float_to_int(x.ceil()),
        (Func::Floor, Number::Float(x)) => float_to_int(x.floor()),
        (Func::Int, Number::Float(x)) => float_to_int(x.trunc()),
        (Func::Float, _) => Ok(Value::Float(v.as_f64())),
        _ => Err(fault(ExprErrorKind::NotOneArgumentFunction { function: func_name(f) })),
    }
}

/// A fixed buffer for formatting without allocating.
struct StackBuf {
    buf: [u8; 720],
    len: usize,
}

impl fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// `round(x, n)` as Python: an int stays an int (rounded to 10^-n for negative n, half to
/// even); a float is rounded exactly (on its binary value, ties to even) and stays a float.
#[inline(never)]
pub(super) fn round_n(x: Value, n: Value) -> ValueOrFault {
    let n = match number(n)? {
        Number::Int(n) => n,
        Number::Float(_) => return Err(fault(ExprErrorKind::RoundDigitsNotInteger { ndigits: n })),
    };
    match number(x)? {
        Number::Int(i) => {
            if n >= 0 {
                return Ok(Value::Int(i));
            }
            if n < -38 {
                return Ok(Value::Int(0));
            }
            let q = 10i128.pow((-n) as u32);
            let i = i as i128;
            let r = i.rem_euclid(q);
            let lower = i - r;
            let up = 2 * r > q || (2 * r == q && (lower / q) % 2 != 0);
            let v = if up { lower + q } else { lower };
            i64::try_from(v).map(Value::Int).map_err(|_| overflow(Overflow::Round { value: i as i64, ndigits: n }))
        }
        Number::Float(x) => Ok(Value::Float(round_float(x, n))),
    }
}

fn round_float(x: f64, n: i64) -> f64 {
    if !x.is_finite() || n > 323 {
        return x;
    }
    if n < -308 {
        return 0.0 * x;
    }
    if n >= 0 {
        // Rust's fixed-precision formatting is exact and rounds ties to even, like CPython's
        // dtoa-based float.__round__.
        let mut b = StackBuf { buf: [0; 720], len: 0 };
        if fmt::write(&mut b, format_args!("{:.*}", n as usize, x)).is_ok() {
            if let Some(v) = std::str::from_utf8(&b.buf[..b.len]).ok().and_then(|t| t.parse::<f64>().ok()) {
                return v;
            }
        }
        let p = 10f64.powi(n as i32);
        return (x * p).round_ties_even() / p;
    }
    let k = (-n) as u32;
    if k <= 38 && x.abs() < 1.7e38 {
        // Exact: a tie needs x itself integral; a non-integral x rounds like floor(x) except
        // that floor(x)'s ties go up.
        let fl = x.floor();
        let frac = x - fl;
        let i = fl as i128;
        let q = 10i128.pow(k);
        let r = i.rem_euclid(q);
        let lower = i - r;
        let up = 2 * r > q || (2 * r == q && (frac > 0.0 || (lower / q) % 2 != 0));
        let v = if up { lower + q } else { lower };
        if v == 0 {
            return 0.0f64.copysign(x);
        }
        return v as f64;
    }
    let p = 10f64.powi(k as i32);
    (x / p).round_ties_even() * p
}

/// `make_divisible` with a fast path for an int divisor > 0 and an int (or no) minimum; the
/// same results as the general [`make_divisible`] (the tests check both).
#[inline(always)]
pub(super) fn make_divisible_packed(v: PackedValue, d: PackedValue, min_value: Option<PackedValue>) -> PackedOrFault {
    let int_min = match min_value {
        None => true,
        Some(m) => m.tag == TAG_INT,
    };
    let di = d.bits as i64;
    if d.tag == TAG_INT && di > 0 && int_min && !v.is_str() {
        let vf = v.as_f64();
        let t = vf + di as f64 / 2.0;
        if (-TWO_63..TWO_63).contains(&t) {
            // `t as i64` truncates like int(); di > 0, so div_euclid is Python's `//`.
            if let Some(p) = (t as i64).div_euclid(di).checked_mul(di) {
                let m = match min_value {
                    Some(m) => m.bits as i64,
                    None => di,
                };
                let nv = if p > m { p } else { m };
                if !compare_packed(CmpOp::Lt, PackedValue::int(nv), PackedValue::float(0.9 * vf)) {
                    return Ok(PackedValue::int(nv));
                }
                if let Some(r) = nv.checked_add(di) {
                    return Ok(PackedValue::int(r));
                }
            }
        }
    }
    make_divisible(v.value(), d.value(), min_value.map(PackedValue::value)).map(PackedValue::from_value)
}

/// torchvision's `_make_divisible`, with Python's types:
/// ```python
/// if min_value is None: min_value = divisor
/// new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
/// if new_v < 0.9 * v: new_v += divisor
/// return new_v
/// ```
#[inline(never)]
pub(super) fn make_divisible(v: Value, d: Value, min_value: Option<Value>) -> ValueOrFault {
    let half = arith(BinOp::Div, d, Value::Int(2))?;
    let t = match number(arith(BinOp::Add, v, half)?)? {
        Number::Int(i) => Value::Int(i),
        Number::Float(f) => float_to_int(f.trunc())?,
    };
    let p = arith(BinOp::Mul, arith(BinOp::FloorDiv, t, d)?, d)?;
    let m = min_value.unwrap_or(d);
    let mut nv = if compare(CmpOp::Gt, p, m) { p } else { m };
    if compare(CmpOp::Lt, nv, arith(BinOp::Mul, Value::Float(0.9), v)?) {
        nv = arith(BinOp::Add, nv, d)?;
    }
    Ok(nv)
}
