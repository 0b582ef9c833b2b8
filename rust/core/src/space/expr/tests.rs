//! The language end to end: the tests parse, compile and evaluate through the public API and hold
//! the tree of closures to the tree walk and to constant folding (`run`, `ev_slots`).

use super::numeric::{make_divisible, make_divisible_packed};
use super::parse::BinOp;
use super::*;
use Value::{Bool, Float, Int};

fn no_names(_: &str) -> Option<Binding> {
    None
}

/// Evaluate with the tree of closures and check the tree walk agrees.
fn run(c: &Compiled, slots: &[Value]) -> Result<Value, String> {
    let r = c.eval(slots);
    assert_eq!(r, c.eval_tree(slots), "{}: closures vs tree", c.source());
    r
}

/// Parse, compile with no names, evaluate.
fn ev(src: &str) -> Result<Value, String> {
    run(&parse(src)?.compile(&no_names)?, &[])
}

fn ok(src: &str) -> Value {
    ev(src).unwrap_or_else(|e| panic!("{src}: {e}"))
}

/// Kleene's logic over a null slot `m` (slot 1) next to a known slot `x` (slot 0), as SQL
/// and polars have it: written out by hand, case by case.
#[test]
fn nullable_evaluation_is_three_valued() {
    let names = |n: &str| match n {
        "x" => Some(Binding::Slot(0)),
        "m" => Some(Binding::Slot(1)),
        _ => None,
    };
    let slots = [Int(3), Int(0)];
    let case = |src: &str| parse(src).unwrap().compile(&names).unwrap().eval_nullable(&slots, 1).unwrap();
    let (t, f, null) = (Some(Bool(true)), Some(Bool(false)), None);
    for (src, want) in [
        ("m > 1", null),
        ("x == 3 or m > 1", t),
        ("m > 1 or x == 3", t),
        ("x == 4 or m > 1", null),
        ("x == 3 and m > 1", null),
        ("x == 4 and m > 1", f),
        ("m > 1 and x == 4", f),
        ("not (m > 1)", null),
        ("not (x == 4 and m > 1)", t),
        ("(m > 1 or x == 3) and x < 5", t),
        ("m + x > 1 or x == 4", null),
        ("x * 2", Some(Int(6))),
        ("max(x, m)", null),
    ] {
        assert_eq!(case(src), want, "{src}");
    }
    // without null slots it is the ordinary evaluation
    let c = parse("x == 4 or m > 1").unwrap().compile(&names).unwrap();
    assert_eq!(c.eval_nullable(&slots, 2).unwrap(), Some(c.eval(&slots).unwrap()));
    // an error in a known part is still an error
    let c = parse("x // (x - 3) > 1 or m > 1").unwrap().compile(&names).unwrap();
    assert!(c.eval_nullable(&slots, 1).unwrap_err().contains("division by zero"));
}

fn err(src: &str) -> String {
    match ev(src) {
        Ok(v) => panic!("{src}: expected an error, got {v}"),
        Err(e) => e,
    }
}

/// Compile with `names` bound to slots 0, 1, 2, ... and evaluate with `vals`; also check the
/// result equals the one computed with the names bound to constants (folded).
fn ev_slots(src: &str, names: &[&str], vals: &[Value]) -> Result<Value, String> {
    let e = parse(src)?;
    let slot = |n: &str| names.iter().position(|m| *m == n).map(Binding::Slot);
    let c = e.compile(&slot)?;
    let r = run(&c, vals);
    let konst = |n: &str| names.iter().position(|m| *m == n).map(|i| Binding::Const(vals[i]));
    let folded = e.compile(&konst)?;
    let r2 = folded.eval(&[]);
    assert_eq!(r, r2, "{src}: slots vs constants");
    if r.is_ok() {
        assert_eq!(folded.as_const().map(Ok), Some(r.clone()), "{src}: not folded");
    }
    r
}

#[test]
fn literals() {
    assert_eq!(ok("42"), Int(42));
    assert_eq!(ok("1_000"), Int(1000));
    assert_eq!(ok("1_000_000"), Int(1_000_000));
    assert_eq!(ok("1.5"), Float(1.5));
    assert_eq!(ok(".5"), Float(0.5));
    assert_eq!(ok("2."), Float(2.0));
    assert_eq!(ok("5e6"), Float(5e6));
    assert_eq!(ok("3E8"), Float(3e8));
    assert_eq!(ok("2.5e-3"), Float(2.5e-3));
    assert_eq!(ok("true"), Bool(true));
    assert_eq!(ok("True"), Bool(true));
    assert_eq!(ok("false"), Bool(false));
    assert_eq!(ok("False"), Bool(false));
    assert_eq!(ok("9223372036854775807"), Int(i64::MAX));
    assert!(err("9223372036854775808").contains("does not fit in 64 bits"));
    assert!(err("1__0").contains("'_' in a number must sit between two digits"));
    assert!(err("1_").contains("'_'"));
    assert!(err("007").contains("leading zeros"));
    assert_eq!(ok("0"), Int(0));
    assert_eq!(ok("0.07"), Float(0.07));
}

#[test]
fn units() {
    assert_eq!(ok("64 MiB"), Int(67_108_864));
    assert_eq!(ok("64MiB"), Int(67_108_864));
    assert_eq!(ok("1 KiB"), Int(1024));
    assert_eq!(ok("2 GiB"), Int(2 << 30));
    assert_eq!(ok("1 TiB"), Int(1 << 40));
    assert_eq!(ok("5 M"), Int(5_000_000));
    assert_eq!(ok("3 K"), Int(3000));
    assert_eq!(ok("2 G"), Int(2_000_000_000));
    assert_eq!(ok("1 T"), Int(1_000_000_000_000));
    assert_eq!(ok("4 kB"), Int(4000));
    assert_eq!(ok("4 MB"), Int(4_000_000));
    assert_eq!(ok("1.5 GB"), Int(1_500_000_000));
    assert_eq!(ok("2 TB"), Int(2_000_000_000_000));
    assert_eq!(ok("1.5 KiB"), Int(1536));
    // Exact from the decimal digits: 1.1 × 1000 is 1100, not 1100.0000000000002.
    assert_eq!(ok("1.1 K"), Int(1100));
    assert_eq!(ok("0.3 K"), Int(300));
    // 1.1 × 1024 = 1126.4 is not integral: stays a float.
    assert_eq!(ok("1.1 KiB"), Float(1.1 * 1024.0));
    assert_eq!(ok("2.5e-3 M"), Int(2500));
    assert_eq!(ok("1e3 K"), Int(1_000_000));
    // A unit binds to its literal only: 2 * 3 MiB = 2 * 3145728.
    assert_eq!(ok("2 * 3 MiB"), Int(6_291_456));
    assert_eq!(ok("64 MiB == 67108864"), Bool(true));
    assert!(err("10000000 TiB").contains("does not fit"));
    let e = err("3 KB");
    assert!(e.contains("'KB' after a number is not a unit"), "{e}");
    assert!(e.contains("at column 3"), "{e}");
    // A filter over a column.
    let r = ev_slots("peak_activation_bytes < 64 MiB", &["peak_activation_bytes"], &[Int(50 << 20)]);
    assert_eq!(r, Ok(Bool(true)));
    let r = ev_slots("params < 5e6 and macs < 3e8", &["params", "macs"], &[Int(4_000_000), Int(300_000_000)]);
    assert_eq!(r, Ok(Bool(false)));
}

#[test]
fn precedence_and_associativity() {
    assert_eq!(ok("1 + 2 * 3"), Int(7));
    assert_eq!(ok("(1 + 2) * 3"), Int(9));
    assert_eq!(ok("10 - 3 - 2"), Int(5));
    assert_eq!(ok("100 / 10 / 2"), Float(5.0));
    assert_eq!(ok("100 // 10 // 3"), Int(3));
    assert_eq!(ok("2 * 3 % 4"), Int(2)); // (2*3)%4
    assert_eq!(ok("2 ** 3 ** 2"), Int(512)); // right-assoc: 2 ** 9
    assert_eq!(ok("(2 ** 3) ** 2"), Int(64));
    assert_eq!(ok("-2 ** 2"), Int(-4)); // -(2**2)
    assert_eq!(ok("(-2) ** 2"), Int(4));
    assert_eq!(ok("2 ** -1"), Float(0.5));
    assert_eq!(ok("2 ** -2 ** 2"), Float(0.0625)); // 2 ** (-(2**2))
    assert_eq!(ok("- -3"), Int(3));
    assert_eq!(ok("+3"), Int(3));
    assert_eq!(ok("+true"), Int(1));
    assert_eq!(ok("2 * -3"), Int(-6));
    assert_eq!(ok("1 + 2 < 4"), Bool(true));
    assert_eq!(ok("not 1 < 2"), Bool(false)); // not (1 < 2)
    assert_eq!(ok("not not 3"), Bool(true));
    assert_eq!(ok("true or false and false"), Bool(true)); // and binds tighter
    assert_eq!(ok("(true or false) and false"), Bool(false));
    assert_eq!(ok("not true or true"), Bool(true)); // (not true) or true
    assert_eq!(ok("1 if false else 2 if false else 3"), Int(3)); // right-assoc
    assert_eq!(ok("1 + 1 if 2 > 1 else 0"), Int(2)); // conditional binds loosest
    assert_eq!(ok("[10, 20, 30][1 + 1] * 2"), Int(60));
    assert_eq!(ok("-[10, 20][0] ** 2"), Int(-100));
    assert_eq!(ok("true + true"), Int(2)); // bools count as ints
}

#[test]
fn python_floor_division_and_modulo() {
    assert_eq!(ok("-7 // 2"), Int(-4));
    assert_eq!(ok("-7 % 2"), Int(1));
    assert_eq!(ok("7 % -2"), Int(-1));
    assert_eq!(ok("7 // -2"), Int(-4));
    assert_eq!(ok("-7 // -2"), Int(3));
    assert_eq!(ok("-7 % -2"), Int(-1));
    assert_eq!(ok("7 // 2"), Int(3));
    assert_eq!(ok("6 % 3"), Int(0));
    assert_eq!(ok("-7.5 // 2"), Float(-4.0));
    assert_eq!(ok("-7.5 % 2"), Float(0.5));
    assert_eq!(ok("7.5 % -2"), Float(-0.5));
    assert_eq!(ok("7 / 2"), Float(3.5));
    assert_eq!(ok("6 / 3"), Float(2.0)); // `/` always gives a float
                                         // Correctly rounded like Python, also beyond 2^53: 3**36 / 36 is 4169295424916642.25
                                         // exactly, so 4169295424916642.0, not 4169295424916642.5 (which rounding 3**36 to a
                                         // float first gives).
    assert_eq!(ok("3 ** 36 / 36"), Float(4169295424916642.0));
    assert_eq!(ok("9007199254740993 / 1"), Float(9007199254740992.0));
    assert_eq!(ok("-9223372036854775807 / 3"), Float(-3074457345618258602.3333333333333333));
    assert_eq!(ok("1 / 9223372036854775807"), Float(1.0 / 9223372036854775807.0));
    assert_eq!(ok("1 + 2.0"), Float(3.0));
    assert_eq!(ok("-9223372036854775807 - 1"), Int(i64::MIN));
    assert_eq!(ok("(-9223372036854775807 - 1) % -1"), Int(0));
    assert!(err("(-9223372036854775807 - 1) // -1").contains("integer overflow"));
    // Same through slots.
    assert_eq!(ev_slots("a // b", &["a", "b"], &[Int(-7), Int(2)]), Ok(Int(-4)));
    assert_eq!(ev_slots("a % b", &["a", "b"], &[Int(7), Int(-2)]), Ok(Int(-1)));
}

#[test]
fn integer_overflow_is_an_error() {
    assert_eq!(ok("2 ** 62"), Int(1 << 62));
    let e = err("2 ** 63");
    assert_eq!(e, "integer overflow: 2 ** 63 does not fit in 64 bits in '2 ** 63'");
    let e = err("9223372036854775807 + 1");
    assert!(e.starts_with("integer overflow: 9223372036854775807 + 1"), "{e}");
    assert!(err("-9223372036854775807 - 2").contains("integer overflow"));
    assert!(err("4611686018427387904 * 2").contains("integer overflow"));
    assert!(err("-(-9223372036854775807 - 1)").contains("integer overflow"));
    assert!(err("abs(-9223372036854775807 - 1)").contains("integer overflow"));
    assert_eq!(ok("1 ** 100000000000"), Int(1));
    assert_eq!(ok("(-1) ** 100000000001"), Int(-1));
    assert_eq!(ok("0 ** 0"), Int(1));
    let e = ev_slots("x * 2 + 1", &["x"], &[Int(i64::MAX / 2 + 1)]).unwrap_err();
    assert_eq!(e, "integer overflow: 4611686018427387904 * 2 does not fit in 64 bits at 'x * 2' in 'x * 2 + 1'");
    assert!(err("10.0 ** 400").contains("too large"));
    assert!(err("int(1e19)").contains("does not fit"));
    assert!(err("round(1e300)").contains("does not fit"));
}

#[test]
fn division_by_zero_is_an_error() {
    assert_eq!(err("1 / 0"), "division by zero in '1 / 0'");
    assert_eq!(err("1 // 0"), "division by zero in '1 // 0'");
    assert_eq!(err("1 % 0"), "modulo by zero in '1 % 0'");
    assert_eq!(err("1.0 / 0.0"), "division by zero in '1.0 / 0.0'");
    assert_eq!(err("2.5 % 0"), "modulo by zero in '2.5 % 0'");
    assert!(err("0 ** -1").contains("negative power"));
    let e = ev_slots("x / (a - b) + 1", &["x", "a", "b"], &[Int(1), Int(3), Int(3)]).unwrap_err();
    assert_eq!(e, "division by zero at 'x / (a - b)' in 'x / (a - b) + 1'");
    // A failing branch that is not taken does no harm.
    assert_eq!(ev_slots("1 if a > 0 else 1 / 0", &["a"], &[Int(1)]), Ok(Int(1)));
    assert_eq!(ok("1 if true else 1 / 0"), Int(1));
    assert_eq!(ok("false and 1 / 0"), Bool(false));
    assert_eq!(ok("true or 1 / 0"), Bool(true));
}

#[test]
fn functions() {
    assert_eq!(ok("round(2.5)"), Int(2));
    assert_eq!(ok("round(3.5)"), Int(4));
    assert_eq!(ok("round(-2.5)"), Int(-2));
    assert_eq!(ok("round(0.5)"), Int(0));
    assert_eq!(ok("round(1.5)"), Int(2));
    assert_eq!(ok("round(2.6)"), Int(3));
    assert_eq!(ok("round(7)"), Int(7));
    // round(x, n): exact on the binary value (2.675 is 2.67499999...), ties to even.
    assert_eq!(ok("round(2.675, 2)"), Float(2.67));
    assert_eq!(ok("round(0.125, 2)"), Float(0.12));
    assert_eq!(ok("round(0.375, 2)"), Float(0.38));
    assert_eq!(ok("round(2.5, 0)"), Float(2.0));
    assert_eq!(ok("round(1234, -2)"), Int(1200));
    assert_eq!(ok("round(1250, -2)"), Int(1200));
    assert_eq!(ok("round(1350, -2)"), Int(1400));
    assert_eq!(ok("round(-1250, -2)"), Int(-1200));
    assert_eq!(ok("round(1234.5, -2)"), Float(1200.0));
    assert_eq!(ok("round(1250.0, -2)"), Float(1200.0));
    assert_eq!(ok("round(1250.5, -2)"), Float(1300.0));
    assert_eq!(ok("round(7, 2)"), Int(7));
    assert_eq!(ok("ceil(2.1)"), Int(3));
    assert_eq!(ok("ceil(-2.1)"), Int(-2));
    assert_eq!(ok("floor(2.9)"), Int(2));
    assert_eq!(ok("floor(-2.1)"), Int(-3));
    assert_eq!(ok("ceil(4)"), Int(4));
    assert_eq!(ok("int(2.9)"), Int(2));
    assert_eq!(ok("int(-2.9)"), Int(-2));
    assert_eq!(ok("int(true)"), Int(1));
    assert_eq!(ok("float(3)"), Float(3.0));
    assert_eq!(ok("abs(-3)"), Int(3));
    assert_eq!(ok("abs(-3.5)"), Float(3.5));
    assert_eq!(ok("min(3, 1, 2)"), Int(1));
    assert_eq!(ok("max(3, 1, 2)"), Int(3));
    assert_eq!(ok("min(1, 1.0)"), Int(1)); // the first of equals, as in Python
    assert_eq!(ok("max(2, 2.5)"), Float(2.5));
    assert_eq!(ok("max([4, 9, 2])"), Int(9));
    assert!(err("min(3)").contains("min() needs two or more values or one list"));
    assert!(err("int(nan_is_not_a_literal)").contains("unknown variable"));
    assert!(err("round(1.5, 0.5)").contains("ndigits must be an integer"));
    let e = parse("round(1, 2, 3)").unwrap_err();
    assert_eq!(e, "in 'round(1, 2, 3)': round() takes 1 to 2 arguments, got 3 at column 1");
    let e = parse("abs()").unwrap_err();
    assert!(e.contains("abs() takes 1 argument, got 0"), "{e}");
    assert!(parse("make_divisible(8)").unwrap_err().contains("make_divisible() takes 2 to 3 arguments"));
}

#[test]
fn make_divisible_matches_torchvision() {
    // _make_divisible(v, d, m=d): new_v = max(m, int(v + d/2) // d * d);
    //                             if new_v < 0.9 * v: new_v += d
    // v = 32*0.75 = 24.0: int(24.0 + 4.0) = 28; 28 // 8 * 8 = 24; max(8, 24) = 24;
    //   24 < 21.6? no -> 24
    assert_eq!(ok("make_divisible(32 * 0.75, 8)"), Int(24));
    // v = 3: int(3 + 4.0) = 7; 7 // 8 * 8 = 0; max(8, 0) = 8; 8 < 2.7? no -> 8
    assert_eq!(ok("make_divisible(3, 8)"), Int(8));
    // v = 67.2: int(71.2) = 71; 71 // 8 * 8 = 64; max(8, 64) = 64; 64 < 60.48? no -> 64
    assert_eq!(ok("make_divisible(67.2, 8)"), Int(64));
    // v = 10: int(14.0) = 14; 14 // 8 * 8 = 8; max(8, 8) = 8; 8 < 9.0? yes -> 16
    assert_eq!(ok("make_divisible(10, 8)"), Int(16));
    // v = 36, d = 16: int(44.0) = 44; 44 // 16 * 16 = 32; max(16, 32) = 32;
    //   32 < 32.4? yes -> 48
    assert_eq!(ok("make_divisible(36, 16)"), Int(48));
    // v = 12: int(16.0) = 16; 16 // 8 * 8 = 16; 16 < 10.8? no -> 16 (halves round up)
    assert_eq!(ok("make_divisible(12, 8)"), Int(16));
    // v = 3, m = 4: int(7.0) = 7; 7 // 8 * 8 = 0; max(4, 0) = 4; 4 < 2.7? no -> 4
    assert_eq!(ok("make_divisible(3, 8, 4)"), Int(4));
    // v = 3, m = 4.0 (float): max(4.0, 0) = 4.0 (Python's max keeps the first of equals)
    assert_eq!(ok("make_divisible(3, 8, 4.0)"), Float(4.0));
    // v = 100, d = 8.0 (float divisor): int(104.0) = 104; 104 // 8.0 * 8.0 = 104.0;
    //   max(8.0, 104.0) = 104.0; 104.0 < 90.0? no -> 104.0
    assert_eq!(ok("make_divisible(100, 8.0)"), Float(104.0));
    // v = -20: int(-16.0) = -16; -16 // 8 * 8 = -16; max(8, -16) = 8; 8 < -18.0? no -> 8
    assert_eq!(ok("make_divisible(-20, 8)"), Int(8));
    // MobileNetV2 width 1.4: 1280 * 1.4 = 1792.0: int(1796.0) = 1796; 1796 // 8 * 8 = 1792
    assert_eq!(ok("make_divisible(1280 * 1.4, 8)"), Int(1792));
    // v = 0.5 * 24 = 12.0 with d = 8 -> 16 (as v = 12 above)
    assert_eq!(ev_slots("make_divisible(c * mult, 8)", &["c", "mult"], &[Int(24), Float(0.5)]), Ok(Int(16)));
    assert!(err("make_divisible(10, 0)").contains("division by zero"));
    // The fast path and the general path agree.
    for v in [0.0, 1.0, 3.0, 7.5, 10.0, 15.9, 24.0, 36.0, 67.2, 100.0, 1e6, -5.0, -1e19, 1e300] {
        for d in [1i64, 3, 8, 16] {
            for m in [None, Some(Int(1)), Some(Int(32))] {
                let packed_min = m.map(PackedValue::from_value);
                let fast = make_divisible_packed(PackedValue::float(v), PackedValue::int(d), packed_min).map(PackedValue::value);
                let general = make_divisible(Float(v), Int(d), m);
                assert_eq!(fast.ok(), general.ok(), "v={v} d={d} m={m:?}");
            }
        }
    }
}

#[test]
fn comparisons() {
    assert_eq!(ok("1 < 2 < 3"), Bool(true));
    assert_eq!(ok("1 < 3 < 2"), Bool(false));
    assert_eq!(ok("3 > 2 == 2"), Bool(true));
    assert_eq!(ok("1 <= 1 < 2 != 3"), Bool(true));
    assert_eq!(ok("1 == 1.0"), Bool(true));
    assert_eq!(ok("true == 1"), Bool(true));
    assert_eq!(ok("2 != 2"), Bool(false));
    // int vs float compares exactly: 2**53 + 1 is not 2.0**53.
    assert_eq!(ok("9007199254740993 > 9007199254740992.0"), Bool(true));
    assert_eq!(ok("9007199254740993 == 9007199254740992.0"), Bool(false));
    let r = |x: i64| ev_slots("1 < x < 5", &["x"], &[Int(x)]);
    assert_eq!(r(0), Ok(Bool(false)));
    assert_eq!(r(3), Ok(Bool(true)));
    assert_eq!(r(5), Ok(Bool(false)));
    assert_eq!(ev_slots("0 < x <= y < 10", &["x", "y"], &[Int(2), Int(2)]), Ok(Bool(true)));
    assert_eq!(ev_slots("0 < x <= y < 10", &["x", "y"], &[Int(3), Int(2)]), Ok(Bool(false)));
    assert_eq!(ev_slots("2 < x", &["x"], &[Float(2.5)]), Ok(Bool(true)));
}

#[test]
fn conditionals_and_logic() {
    let src = "2 if i == 0 and s > 0 else 1";
    let r = |i: i64, s: i64| ev_slots(src, &["i", "s"], &[Int(i), Int(s)]);
    assert_eq!(r(0, 1), Ok(Int(2)));
    assert_eq!(r(0, 0), Ok(Int(1)));
    assert_eq!(r(1, 1), Ok(Int(1)));
    assert_eq!(ok("3 and 0"), Bool(false)); // and/or give bools
    assert_eq!(ok("0 or 2.5"), Bool(true));
    assert_eq!(ok("0.0 or 0"), Bool(false));
    assert_eq!(ev_slots("a or b", &["a", "b"], &[Int(0), Int(7)]), Ok(Bool(true)));
    assert_eq!(ev_slots("a and b", &["a", "b"], &[Int(1), Float(0.0)]), Ok(Bool(false)));
    assert_eq!(ev_slots("not a", &["a"], &[Int(0)]), Ok(Bool(true)));
    // Short-circuit: the right side is not evaluated.
    assert_eq!(ev_slots("a == 0 or 10 // a > 1", &["a"], &[Int(0)]), Ok(Bool(true)));
    assert_eq!(ev_slots("a != 0 and 10 // a > 1", &["a"], &[Int(0)]), Ok(Bool(false)));
}

#[test]
fn booleans_in_value_and_predicate_positions() {
    let names = ["a", "b", "f"];
    let r = |src: &str, a: i64, b: i64| ev_slots(src, &names, &[Int(a), Int(b), Float(0.5)]);
    assert_eq!(r("(a < b) + 1", 1, 2), Ok(Int(2)));
    assert_eq!(r("(a < b) * 10", 3, 2), Ok(Int(0)));
    assert_eq!(r("not a", 0, 0), Ok(Bool(true)));
    assert_eq!(r("not a", 5, 0), Ok(Bool(false)));
    assert_eq!(r("a and b", 5, 0), Ok(Bool(false)));
    assert_eq!(r("a or b", 0, 3), Ok(Bool(true)));
    assert_eq!(r("a or f", 0, 0), Ok(Bool(true)));
    assert_eq!(r("a if b else f", 1, 0), Ok(Float(0.5)));
    assert_eq!(r("a if b else f", 1, 2), Ok(Int(1)));
    assert_eq!(r("10 if 0 < a < b else 20", 1, 2), Ok(Int(10)));
    assert_eq!(r("10 if 0 < a < b else 20", 2, 2), Ok(Int(20)));
    assert_eq!(r("10 if not (a > 1 or b > 1) else 20", 1, 1), Ok(Int(10)));
    assert_eq!(r("[10, 20][a < b]", 1, 2), Ok(Int(20)));
    assert_eq!(r("max(a, b) - min(a, b)", 7, 3), Ok(Int(4)));
    assert_eq!(r("max(a, f, b)", 0, 0), Ok(Float(0.5)));
    assert_eq!(r("min(a, f, b)", 0, 0), Ok(Int(0)));
    assert_eq!(r("-a + +b", 3, 5), Ok(Int(2)));
    assert_eq!(r("a ** b", 3, 4), Ok(Int(81)));
    assert_eq!(r("round(a / b, 2)", 2, 3), Ok(Float(0.67)));
    assert_eq!(r("make_divisible(a * f, 8, b)", 100, 4), Ok(Int(48)));
    // Errors inside predicates name the failing part too.
    assert_eq!(r("a // b > 1 and b > 0", 1, 0), Err("division by zero at 'a // b' in 'a // b > 1 and b > 0'".to_string()));
}

fn bind<'a>(pairs: &'a [(&'a str, Binding)]) -> impl Fn(&str) -> Option<Binding> + 'a {
    move |n| pairs.iter().find(|p| p.0 == n).map(|p| p.1.clone())
}

#[test]
fn constant_folding() {
    let c = parse("[64, 128][1]").unwrap().compile(&no_names).unwrap();
    assert_eq!(c.as_const(), Some(Int(128)));
    let env = [("s", Binding::Const(Int(3))), ("x", Binding::Slot(0))];
    let c = parse("s * 2").unwrap().compile(&bind(&env)).unwrap();
    assert_eq!(c.as_const(), Some(Int(6)));
    assert!(c.slots().is_empty());
    let c = parse("x * (s + 1)").unwrap().compile(&bind(&env)).unwrap();
    assert_eq!(c.as_const(), None);
    assert_eq!(c.slots(), vec![0]);
    assert_eq!(run(&c, &[Int(5)]), Ok(Int(20)));
    assert!(matches!(c.root, Node::BinConst(BinOp::Mul, _, Int(4), _)), "{:?}", c.root);
    // A constant condition picks its branch; a constant false `and` drops the right side.
    let c = parse("x if s > 2 else 1 / 0").unwrap().compile(&bind(&env)).unwrap();
    assert!(matches!(c.root, Node::Slot(0)), "{:?}", c.root);
    let c = parse("s < 2 and x > 1").unwrap().compile(&bind(&env)).unwrap();
    assert_eq!(c.as_const(), Some(Bool(false)));
    let c = parse("min(s, 10) + max(1, 2)").unwrap().compile(&bind(&env)).unwrap();
    assert_eq!(c.as_const(), Some(Int(5)));
    let c = parse("make_divisible(s * 10, 8)").unwrap().compile(&bind(&env)).unwrap();
    assert_eq!(c.as_const(), Some(Int(32))); // int(34.0) // 8 * 8 = 32; 32 < 27? no
                                             // A failing constant is not folded: the error comes at evaluation, naming the part.
    let c = parse("1 / 0").unwrap().compile(&no_names).unwrap();
    assert_eq!(c.as_const(), None);
    assert_eq!(run(&c, &[]), Err("division by zero in '1 / 0'".to_string()));
}

#[test]
fn list_indexing() {
    let env = [
        ("width", Binding::ConstList(vec![Int(16), Int(24), Int(32), Int(64), Int(96)])),
        ("depth", Binding::SlotList(vec![3, 4, 5])),
        ("s", Binding::Slot(0)),
        ("k", Binding::Const(Int(2))),
        ("c", Binding::Slot(1)),
    ];
    let compile = |src: &str| parse(src).and_then(|e| e.compile(&bind(&env)));
    let slots = [Int(1), Int(7), Int(0), Int(10), Int(20), Int(30)];
    let c = compile("width[s] * 2").unwrap();
    assert_eq!(run(&c, &slots), Ok(Int(48)));
    assert_eq!(c.slots(), vec![0]);
    assert_eq!(run(&c, &[Int(-1)]), Ok(Int(192)));
    assert_eq!(run(&c, &[Int(-5)]), Ok(Int(32)));
    assert_eq!(run(&c, &[Int(5)]), Err("index 5 out of range for 'width' of length 5 in 'width[s] * 2'".to_string()));
    assert_eq!(run(&c, &[Int(-6)]), Err("index -6 out of range for 'width' of length 5 in 'width[s] * 2'".to_string()));
    assert!(run(&c, &[Float(1.0)]).unwrap_err().contains("must be an integer"));
    assert_eq!(compile("width[k]").unwrap().as_const(), Some(Int(32)));
    assert_eq!(compile("width[-1]").unwrap().as_const(), Some(Int(96)));
    let c = compile("depth[s]").unwrap();
    assert_eq!(run(&c, &slots), Ok(Int(20)));
    assert_eq!(c.slots(), vec![0, 3, 4, 5]);
    let c = compile("depth[k] + 1").unwrap();
    assert_eq!(c.slots(), vec![5]);
    assert_eq!(run(&c, &slots), Ok(Int(31)));
    assert_eq!(run(&compile("depth[3]").unwrap(), &slots).unwrap_err(), "index 3 out of range for 'depth' of length 3 in 'depth[3]'");
    assert_eq!(run(&compile("max(depth)").unwrap(), &slots), Ok(Int(30)));
    assert_eq!(compile("min(width)").unwrap().as_const(), Some(Int(16)));
    // List literals: constant, slots, or computed elements.
    assert_eq!(run(&compile("[1, 2, 3][s]").unwrap(), &slots), Ok(Int(2)));
    assert_eq!(run(&compile("[s, c][1]").unwrap(), &slots), Ok(Int(7)));
    let c = compile("[c, 2 * c, 3 * c][s]").unwrap();
    assert_eq!(run(&c, &slots), Ok(Int(14)));
    assert_eq!(
        run(&c, &[Int(3), Int(7)]).unwrap_err(),
        "index 3 out of range for '[c, 2 * c, 3 * c]' of length 3 in '[c, 2 * c, 3 * c][s]'"
    );
    // Misuse.
    assert_eq!(compile("width * 2").unwrap_err(), "'width' is a list; index it, e.g. width[0] in 'width * 2'");
    assert_eq!(compile("s[0]").unwrap_err(), "'s' is not a list and cannot be indexed in 's[0]'");
    assert!(compile("(1 + 2)[0]").unwrap_err().contains("'(1 + 2)' is not a list"));
    assert!(compile("[1, 2]").unwrap_err().contains("a list can only be indexed"));
    assert!(compile("[[1], [2]][0]").unwrap_err().contains("nested lists are not supported"));
    assert!(compile("[[1], [2]][0][0]").unwrap_err().contains("'[[1], [2]][0]' is not a list"));
    assert!(compile("min([])").unwrap_err().contains("min() of an empty list"));
}

#[test]
fn unknown_names_and_functions() {
    assert_eq!(parse("foo * 2").unwrap().compile(&no_names).unwrap_err(), "unknown variable 'foo' in 'foo * 2'");
    let e = parse("1 + foo(2)").unwrap_err();
    assert!(e.starts_with("in '1 + foo(2)': unknown function 'foo' (functions: min, max,"), "{e}");
    assert!(e.ends_with("at column 5"), "{e}");
    assert!(parse("exec(1)").unwrap_err().contains("unknown function 'exec'"));
    assert!(parse("__import__(1)").unwrap_err().contains("unknown function '__import__'"));
}

#[test]
fn malformed_input() {
    assert_eq!(parse("width[s] * ").unwrap_err(), "in 'width[s] * ': expected an operand at column 11");
    assert_eq!(parse("width[s] *").unwrap_err(), "in 'width[s] *': expected an operand at column 11");
    assert_eq!(parse("").unwrap_err(), "in '': empty expression");
    assert_eq!(parse("   ").unwrap_err(), "in '   ': empty expression");
    assert_eq!(parse("(1 + 2").unwrap_err(), "in '(1 + 2': unclosed '(' at column 1");
    assert_eq!(parse("1 + 2)").unwrap_err(), "in '1 + 2)': unmatched ')' at column 6");
    assert_eq!(parse("a[1").unwrap_err(), "in 'a[1': unclosed '[' at column 2");
    assert_eq!(parse("(1 + 2 3)").unwrap_err(), "in '(1 + 2 3)': expected ',' or ')' to close the '(' at column 1, found '3' at column 8");
    assert_eq!(parse("1 2").unwrap_err(), "in '1 2': expected an operator, found '2' at column 3");
    assert_eq!(parse("* 2").unwrap_err(), "in '* 2': expected an operand, found '*' at column 1");
    assert_eq!(parse("()").unwrap_err(), "in '()': expected an operand, found ')' at column 2");
    assert_eq!(parse("1 if x").unwrap_err(), "in '1 if x': expected 'else', found end of input at column 7");
    assert_eq!(parse("a = 1").unwrap_err(), "in 'a = 1': '=' is not a comparison; use '==' at column 3");
    assert!(parse("a.b").unwrap_err().contains("attribute access is not supported at column 2"));
    assert_eq!(parse("'x").unwrap_err(), "in ''x': unterminated string (no closing ') at column 1");
    assert!(parse("lambda: 1").unwrap_err().contains("'lambda' is not supported"));
    assert!(parse("x is None").unwrap_err().contains("'is' is not supported"));
    assert!(parse("a && b").unwrap_err().contains("use 'and'"));
    assert!(parse("2 ^ 3").unwrap_err().contains("use '**'"));
    assert!(parse("x = é").unwrap_err().contains("'='"));
    assert_eq!(parse("é + 1").unwrap_err(), "in 'é + 1': unexpected character 'é' at column 1");
    assert_eq!(parse("1 + é").unwrap_err(), "in '1 + é': unexpected character 'é' at column 5");
    // Deep nesting is refused, not a stack overflow.
    let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse(&deep).unwrap_err().contains("nested more than"));
    let long = format!("{}1", "1 + ".repeat(10_000));
    assert!(parse(&long).unwrap_err().contains("nested more than"));
    let negs = format!("{}1", "-".repeat(10_000));
    assert!(parse(&negs).unwrap_err().contains("nested more than"));
    assert_eq!(ok(&format!("{}1", "1 + ".repeat(200))), Int(201));
    // Trailing commas are fine.
    assert_eq!(ok("max(1, 2,)"), Int(2));
    assert_eq!(ok("[1, 2,][1]"), Int(2));
}

#[test]
fn names_lists_free_identifiers() {
    let e = parse("make_divisible(c * mult, 8) + width[s] + c if s > 0 else round(c)").unwrap();
    assert_eq!(e.names(), vec!["c", "mult", "width", "s"]);
    assert_eq!(e.source(), "make_divisible(c * mult, 8) + width[s] + c if s > 0 else round(c)");
    assert!(parse("1 + 2").unwrap().names().is_empty());
    assert_eq!(parse("a if b else a").unwrap().names(), vec!["a", "b"]);
}

#[test]
fn values() {
    assert_eq!(Int(3).to_string(), "3");
    assert_eq!(Float(3.0).to_string(), "3.0");
    assert_eq!(Float(0.1).to_string(), "0.1");
    assert_eq!(Float(f64::INFINITY).to_string(), "inf");
    assert_eq!(Float(f64::NAN).to_string(), "nan");
    assert_eq!(Bool(true).to_string(), "true");
    assert_eq!(Float(24.0).as_i64(), Ok(24));
    assert!(Float(2.5).as_i64().unwrap_err().contains("expected an integer, got 2.5"));
    assert!(Float(1e19).as_i64().is_err());
    assert_eq!(Bool(true).as_i64(), Ok(1));
    assert_eq!(Int(3).as_f64(), 3.0);
    assert!(Float(f64::NAN).truthy());
    assert!(!Float(0.0).truthy());
    assert!(!Int(0).truthy());
    // Missing slots are an error, not a panic.
    let c = parse("x + 1").unwrap().compile(&|_| Some(Binding::Slot(3))).unwrap();
    assert!(run(&c, &[Int(1)]).unwrap_err().contains("slot 3 was not given a value"));
}

/// A tiny deterministic generator (no crate dependencies).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.next() as usize % xs.len()]
    }
}

fn random_expr(g: &mut Lcg, depth: u32) -> String {
    if depth == 0 || g.next().is_multiple_of(4) {
        return g.pick(&["a", "b", "f", "t", "0", "1", "2", "7", "-3", "0.5", "2.5", "1e3", "true", "w[a]", "w[-1]", "4 KiB"]).to_string();
    }
    let x = random_expr(g, depth - 1);
    let y = random_expr(g, depth - 1);
    match g.next() % 12 {
        0..=3 => format!("({x} {} {y})", g.pick(&["+", "-", "*", "/", "//", "%", "**"])),
        4 => format!("({x} {} {y})", g.pick(&["<", "<=", ">", ">=", "==", "!="])),
        5 => format!("({x} < {y} <= {})", random_expr(g, depth - 1)),
        6 => format!("({x} {} {y})", g.pick(&["and", "or"])),
        7 => format!("({x} if {y} else {})", random_expr(g, depth - 1)),
        8 if g.next().is_multiple_of(7) => format!("(not {x})"),
        8 => format!("{}({x})", g.pick(&["abs", "round", "ceil", "floor", "int", "float"])),
        9 => format!("{}({x}, {y})", g.pick(&["min", "max", "round", "make_divisible"])),
        10 => format!("[{x}, {y}, 3][{}]", g.pick(&["a", "b", "1", "-1"])),
        _ => format!("-({x})"),
    }
}

#[test]
fn random_expressions_agree_and_never_panic() {
    let mut g = Lcg(42);
    let names = ["a", "b", "f", "t"];
    let mut evaluated = 0;
    for _ in 0..4000 {
        let src = random_expr(&mut g, 4);
        let vals = [Int(g.next() as i64 % 5 - 2), Int(g.next() as i64 % 9), Float(g.next() as f64 / 7e8), Bool(g.next().is_multiple_of(2))];
        let w = Binding::ConstList(vec![Int(16), Int(32), Float(1.5)]);
        let e = parse(&src).unwrap_or_else(|m| panic!("{src}: {m}"));
        let by_slot = |n: &str| {
            if n == "w" {
                Some(w.clone())
            } else {
                names.iter().position(|m| *m == n).map(Binding::Slot)
            }
        };
        let by_const = |n: &str| {
            if n == "w" {
                Some(w.clone())
            } else {
                names.iter().position(|m| *m == n).map(|i| Binding::Const(vals[i]))
            }
        };
        let (c, k) = (e.compile(&by_slot).unwrap(), e.compile(&by_const).unwrap());
        let r = c.eval(&vals);
        // The tree of closures, the tree walk and constant folding all agree (NaN aside).
        let same = |x: &Result<Value, String>, y: &Result<Value, String>| match (x, y) {
            (Ok(Float(p)), Ok(Float(q))) => p == q || (p.is_nan() && q.is_nan()),
            _ => x == y,
        };
        assert!(same(&r, &c.eval_tree(&vals)), "{src}: {r:?} vs tree {:?}", c.eval_tree(&vals));
        assert!(same(&r, &k.eval(&[])), "{src}: {r:?} vs folded {:?}", k.eval(&[]));
        if r.is_ok() {
            evaluated += 1;
            assert!(k.as_const().is_some(), "{src}: not folded");
        }
    }
    assert!(evaluated > 1000, "only {evaluated} evaluated cleanly");
    // Random junk never panics the parser.
    let alphabet = [
        "a", "1", "2.5", "e", "_", " ", "(", ")", "[", "]", ",", "+", "-", "*", "/", "%", "<", "=", "!", "if", "else", "and", "not", "MiB",
        "min(", ".", "'", "é", "1e", "0x",
    ];
    for _ in 0..20000 {
        let n = 1 + g.next() % 12;
        let src: String = (0..n).map(|_| g.pick(&alphabet)).collect();
        if let Ok(e) = parse(&src) {
            let _ = e.compile(&|_| Some(Binding::Slot(0))).map(|c| c.eval(&[Int(3)]));
        }
    }
}

#[test]
fn compiled_is_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Compiled>();
    check::<Expr>();
}

/// `cargo test --release -p archsweep-core expr -- --ignored --nocapture`
#[test]
#[ignore]
fn bench_eval() {
    use std::hint::black_box;
    use std::time::Instant;
    let names = ["width", "c", "mult", "i", "s", "params", "macs", "peak"];
    let resolve = |n: &str| -> Option<Binding> {
        if n == "widths" {
            return Some(Binding::SlotList(vec![0, 1, 2, 3]));
        }
        names.iter().position(|m| *m == n).map(Binding::Slot)
    };
    let slots = [Int(64), Int(96), Float(0.75), Int(0), Int(2), Int(3_400_000), Int(300_000_000), Int(40 << 20)];
    let n = 10_000_000u32;
    // Best of 5 runs: the minimum is the least disturbed by other load on the machine.
    let time = |f: &dyn Fn() -> u64| {
        (0..5)
            .map(|_| {
                let t = Instant::now();
                black_box(f());
                t.elapsed().as_nanos() as f64 / n as f64
            })
            .fold(f64::MAX, f64::min)
    };
    let base = time(&|| {
        let mut acc = 0i64;
        for _ in 0..n {
            let x = black_box(&slots)[0].as_i64().unwrap();
            acc = acc.wrapping_add(x.checked_mul(2).and_then(|y| y.checked_add(1)).unwrap());
        }
        acc as u64
    });
    println!("{base:>6.2} ns/eval  (native Rust `width * 2 + 1`, for scale)");
    for src in [
        "width * 2 + 1",
        "make_divisible(c * mult, 8)",
        "2 if i == 0 and s > 0 else 1",
        "params < 5e6 and macs < 3e8",
        "peak < 64 MiB and params < 5 M",
        "widths[s] * 2",
        "max(16, min(width * 2, 512)) // 8 * 8",
    ] {
        let c = parse(src).unwrap().compile(&resolve).unwrap();
        let expect = c.eval(&slots).unwrap();
        let ns = time(&|| {
            let mut acc = 0u64;
            for _ in 0..n {
                let v = black_box(&c).eval(black_box(&slots)).unwrap();
                acc = acc.wrapping_add(matches!(v, Int(_)) as u64);
            }
            acc
        });
        println!("{ns:>6.2} ns/eval  {src}  = {expect}");
    }
}

/// The structured error carries the data its message is made from, and the message is the one
/// the string API gives.
#[test]
fn errors_carry_their_data() {
    let e = try_parse("round(1, 2, 3)").unwrap_err();
    assert_eq!(e.kind, ExprErrorKind::WrongArity { function: "round".to_string(), min: 1, max: Some(2), got: 3 });
    assert_eq!(e.span, Some((0, 0)));
    assert_eq!(e.to_string(), parse("round(1, 2, 3)").unwrap_err());
    let e = try_parse("max()").unwrap_err();
    assert_eq!(e.kind, ExprErrorKind::WrongArity { function: "max".to_string(), min: 1, max: None, got: 0 });
    assert_eq!(e.to_string(), "in 'max()': max() takes at least 1 argument, got 0 at column 1");
    let e = try_parse("1 + foo(2)").unwrap_err();
    let ExprErrorKind::UnknownFunction { name, functions } = &e.kind else { panic!("{e:?}") };
    assert_eq!(name, "foo");
    assert!(functions.contains(&"make_divisible"), "{functions:?}");
    assert_eq!(e.span, Some((4, 4)));
    let e = try_parse("(1 + 2 3)").unwrap_err();
    assert_eq!(e.kind, ExprErrorKind::ExpectedClose { open: '(', close: ')', open_column: 1, found: Found::Token("3".to_string()) });
    assert_eq!(try_parse("  ").unwrap_err().kind, ExprErrorKind::Empty);
    assert_eq!(try_parse("x &").unwrap_err().kind, ExprErrorKind::ForeignOperator { found: '&' });

    let e = parse("foo * 2").unwrap().try_compile(&no_names).unwrap_err();
    assert_eq!(e.kind, ExprErrorKind::UnknownVariable { name: "foo".to_string() });
    assert_eq!((e.expression.as_str(), e.span), ("foo * 2", None));

    let names = |n: &str| match n {
        "x" => Some(Binding::Slot(0)),
        "a" => Some(Binding::Slot(1)),
        "width" => Some(Binding::ConstList(vec![Int(16), Int(24)])),
        _ => None,
    };
    let c = parse(" x / (a - 1) + width[a] ").unwrap().try_compile(&names).unwrap();
    let e = c.try_eval(&[Int(1), Int(1)]).unwrap_err();
    assert_eq!(e.kind, ExprErrorKind::DivisionByZero);
    let (s, end) = e.span.unwrap();
    assert_eq!(&e.expression[s..end], "x / (a - 1)");
    assert_eq!(e.to_string(), "division by zero at 'x / (a - 1)' in 'x / (a - 1) + width[a]'");
    let e = c.try_eval(&[Int(1), Int(2)]).unwrap_err();
    assert_eq!(e.kind, ExprErrorKind::IndexOutOfRange { list: "width".to_string(), index: Int(2), len: 2 });
    assert_eq!(c.try_eval_nullable(&[Int(1), Int(1)], 2).unwrap_err().kind, ExprErrorKind::DivisionByZero);
    let e = parse("x * 2").unwrap().try_compile(&names).unwrap().try_eval(&[Int(i64::MAX)]).unwrap_err();
    assert_eq!(e.kind, ExprErrorKind::IntegerOverflow(Overflow::Binary { lhs: i64::MAX, op: "*", rhs: 2 }));
    assert_eq!(e.to_string(), "integer overflow: 9223372036854775807 * 2 does not fit in 64 bits in 'x * 2'");

    fn is_error<E: std::error::Error + Clone + PartialEq>(_: &E) {}
    is_error(&e);
}

/// Strings: interned literals and string slots compare by symbol; arithmetic on them fails.
#[test]
fn strings_compare_and_do_not_compute() {
    let conv = Value::str("nor_conv_3x3");
    let c = parse("e == \"nor_conv_3x3\"").unwrap().compile(&|_| Some(Binding::Slot(0))).unwrap();
    assert_eq!(c.eval(&[conv]), Ok(Bool(true)));
    assert_eq!(c.eval(&[Value::str("none")]), Ok(Bool(false)));
    assert_eq!(c.eval(&[Int(3)]), Ok(Bool(false)));
    let picked = parse("'conv2d' if k > 1 else 'identity'").unwrap().compile(&|_| Some(Binding::Slot(0))).unwrap();
    assert_eq!(picked.eval(&[Int(3)]), Ok(Value::str("conv2d")));
    assert_eq!(picked.eval(&[Int(1)]).unwrap().to_string(), "identity");
    let sum = parse("e + 1").unwrap().compile(&|_| Some(Binding::Slot(0))).unwrap();
    assert_eq!(sum.eval(&[conv]), Err("the string 'nor_conv_3x3' is not a number in 'e + 1'".to_string()));
    let ordered = parse("'a' < e").unwrap().compile(&|_| Some(Binding::Slot(0))).unwrap();
    assert_eq!(ordered.eval(&[Value::str("b")]), Ok(Bool(true)));
    assert_eq!(ordered.eval(&[Int(1)]), Ok(Bool(false)));
    assert!(Value::str("x").truthy() && !Value::str("").truthy());
    assert_eq!(parse("['a', 'b'][1]").unwrap().compile(&|_| None).unwrap().as_const(), Some(Value::str("b")));
}

// --- strict compilation (filters): constant parts computed when the filter is compiled ---------

fn strict(src: &str) -> Result<Compiled, String> {
    let names = |n: &str| match n {
        "x" => Some(Binding::Slot(0)),
        _ => None,
    };
    parse(src).unwrap().try_compile_strict(&names).map_err(|e| e.to_string())
}

#[test]
fn strict_constants_that_fail_are_errors_when_compiled() {
    assert_eq!(strict("x < 1 // 0").unwrap_err(), "division by zero at '1 // 0' in 'x < 1 // 0'");
    assert_eq!(strict("x < 5 % 0").unwrap_err(), "modulo by zero at '5 % 0' in 'x < 5 % 0'");
    // even where a short-circuit would skip it (the lenient compile leaves it to evaluation)
    assert!(strict("false and 1 // 0 == 1").unwrap_err().contains("division by zero"));
    assert!(parse("false and 1 // 0 == 1").unwrap().compile(&|_| None).is_ok());
    assert!(strict("x < [1, 2][2]").unwrap_err().contains("index 2 out of range for '[1, 2]' of length 2"));
}

#[test]
fn strict_integer_constants_beyond_64_bits_are_floats() {
    // 10**30 is the float 1e30: it compares with every 64-bit integer as the integer would
    let c = strict("x < 10**30").unwrap();
    assert_eq!(c.eval(&[Int(i64::MAX)]), Ok(Bool(true)));
    assert_eq!(c.eval(&[Int(i64::MIN)]), Ok(Bool(true)));
    let c = strict("x > -(10**30)").unwrap();
    assert_eq!(c.eval(&[Int(i64::MIN)]), Ok(Bool(true)));
    assert_eq!(strict("2**63").unwrap().as_const(), Some(Float(9223372036854775808.0)));
    assert_eq!(strict("9223372036854775807 + 1").unwrap().as_const(), Some(Float(9223372036854775808.0)));
    // beyond the floats too: an error naming the part
    let e = strict("x < 2**10**10").unwrap_err();
    assert_eq!(e, "integer overflow: 2 ** 10000000000 does not fit in 64 bits at '2**10**10' in 'x < 2**10**10'");
    // within 64 bits nothing changes
    assert_eq!(strict("2**62").unwrap().as_const(), Some(Int(1 << 62)));
}

#[test]
fn per_row_failures_stay_errors_of_the_row() {
    // `[1, 2][x]` reads a slot: compiled, and failing only for rows where x is out of range
    let c = strict("[1, 2][x] == 1").unwrap();
    assert_eq!(c.eval(&[Int(0)]), Ok(Bool(true)));
    assert_eq!(c.eval(&[Int(-1)]), Ok(Bool(false)));
    assert_eq!(c.eval(&[Int(2)]).unwrap_err(), "index 2 out of range for '[1, 2]' of length 2 in '[1, 2][x] == 1'");
}
