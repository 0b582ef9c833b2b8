//! Checked integer arithmetic and number formatting. Every count is a `u64`; an overflow is an
//! error, never a wrap-around.

use crate::error::Error;

pub fn mul(a: u64, b: u64) -> Result<u64, Error> {
    a.checked_mul(b).ok_or_else(|| Error::overflow(format!("{a} × {b}")))
}

pub fn add(a: u64, b: u64) -> Result<u64, Error> {
    a.checked_add(b).ok_or_else(|| Error::overflow(format!("{a} + {b}")))
}

pub fn prod(xs: &[u64]) -> Result<u64, Error> {
    let mut acc: u64 = 1;
    for &x in xs {
        acc = acc.checked_mul(x).ok_or_else(|| Error::overflow(format!("the product {}", join_x(xs))))?;
    }
    Ok(acc)
}

pub fn sum(xs: &[u64]) -> Result<u64, Error> {
    let mut acc: u64 = 0;
    for &x in xs {
        acc = add(acc, x)?;
    }
    Ok(acc)
}

/// `3×3×64`
pub fn join_x(xs: &[u64]) -> String {
    xs.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("×")
}

/// `1,792`
pub fn commas(x: u64) -> String {
    let s = x.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_groups_thousands() {
        assert_eq!(commas(0), "0");
        assert_eq!(commas(999), "999");
        assert_eq!(commas(1792), "1,792");
        assert_eq!(commas(138357544), "138,357,544");
    }

    #[test]
    fn checked() {
        assert_eq!(prod(&[3, 3, 3, 64]).unwrap(), 1728);
        assert!(prod(&[1 << 40, 1 << 40]).is_err());
        assert!(add(u64::MAX, 1).is_err());
    }
}
