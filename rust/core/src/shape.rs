//! Tensor shapes. Dimension 0 is always the batch; a shape is a small `Copy` value so that
//! evaluating a layer never allocates.

use crate::error::Error;
use std::fmt;

/// Highest tensor rank the core handles (batch included).
pub const MAX_RANK: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    rank: u8,
    dims: [u64; MAX_RANK],
}

impl Shape {
    /// Words of [`Shape::write`].
    pub const WORDS: usize = 1 + MAX_RANK;

    /// The shape as `WORDS` u64s (rank, then the dims padded with zeros), for flat caches.
    #[inline]
    pub fn write(&self, out: &mut [u64]) {
        out[0] = self.rank as u64;
        out[1..Self::WORDS].copy_from_slice(&self.dims);
    }

    /// Read words made by [`Shape::write`].
    #[inline]
    pub fn read(w: &[u64]) -> Shape {
        let mut dims = [0; MAX_RANK];
        dims.copy_from_slice(&w[1..Self::WORDS]);
        Shape { rank: w[0] as u8, dims }
    }

    /// Whether `w` holds this shape (as written by [`Shape::write`]).
    #[inline]
    pub fn equals_words(&self, w: &[u64]) -> bool {
        w[0] == self.rank as u64 && w[1..Self::WORDS] == self.dims
    }

    pub fn new(dims: &[u64]) -> Result<Shape, Error> {
        if dims.len() > MAX_RANK {
            return Err(Error::shape(format!("rank {} exceeds the supported maximum of {MAX_RANK}", dims.len())));
        }
        let mut s = Shape { rank: dims.len() as u8, dims: [0; MAX_RANK] };
        s.dims[..dims.len()].copy_from_slice(dims);
        Ok(s)
    }

    pub fn rank(&self) -> usize {
        self.rank as usize
    }

    pub fn dims(&self) -> &[u64] {
        &self.dims[..self.rank as usize]
    }

    pub fn dims_mut(&mut self) -> &mut [u64] {
        &mut self.dims[..self.rank as usize]
    }

    pub fn batch(&self) -> u64 {
        self.dims[0]
    }

    /// Channels, i.e. dim 1 (PyTorch's N, C, ... layout).
    pub fn channels(&self) -> u64 {
        self.dims[1]
    }

    /// The last `n` dims (spatial dims of a conv/pool input).
    pub fn tail(&self, n: usize) -> &[u64] {
        &self.dims()[self.rank() - n..]
    }

    pub fn last(&self) -> u64 {
        self.dims[self.rank as usize - 1]
    }

    /// Number of elements, with overflow checked.
    pub fn elements(&self) -> Result<u64, Error> {
        crate::num::prod(self.dims())
    }

    pub fn push(&mut self, d: u64) -> Result<(), Error> {
        if self.rank() == MAX_RANK {
            return Err(Error::shape(format!("rank would exceed the supported maximum of {MAX_RANK}")));
        }
        self.dims[self.rank()] = d;
        self.rank += 1;
        Ok(())
    }

    /// A PyTorch-style dim index (negative counts from the end) resolved against this rank.
    pub fn resolve_dim(&self, dim: i64) -> Result<usize, Error> {
        resolve_dim(dim, self.rank())
    }

    /// `(1, 64, 224, 224)`
    pub fn to_paren_string(&self) -> String {
        format!("{self:?}")
    }

    /// `64×224×224`: the per-sample shape, for formulas.
    pub fn sample_x(&self) -> String {
        crate::num::join_x(&self.dims()[1..])
    }
}

pub fn resolve_dim(dim: i64, rank: usize) -> Result<usize, Error> {
    let r = rank as i64;
    let d = if dim < 0 { dim + r } else { dim };
    if d < 0 || d >= r {
        return Err(Error::shape(format!("dim {dim} is out of range for a rank-{rank} tensor (expected {}..={})", -r, r - 1)));
    }
    Ok(d as usize)
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(")?;
        for (i, d) in self.dims().iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        if self.rank() == 1 {
            write!(f, ",")?;
        }
        write!(f, ")")
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_numel() {
        let s = Shape::new(&[2, 3, 4]).unwrap();
        assert_eq!(s.to_string(), "(2, 3, 4)");
        assert_eq!(s.elements().unwrap(), 24);
        assert_eq!(s.sample_x(), "3×4");
    }

    #[test]
    fn negative_dims() {
        assert_eq!(resolve_dim(-1, 4).unwrap(), 3);
        assert!(resolve_dim(4, 4).is_err());
        assert!(resolve_dim(-5, 4).is_err());
    }

    #[test]
    fn overflow_is_an_error() {
        let s = Shape::new(&[u64::MAX, 2]).unwrap();
        assert!(s.elements().is_err());
    }
}
