//! Pareto front (minimisation) of rows already sorted lexicographically by the objectives.

/// Indices of the rows that no other row dominates (≤ in every objective, < in one).
/// `cols[j][i]` is objective j of row i; rows must be sorted lexicographically by
/// (cols[0], cols[1], ...), so a dominating row always comes first. O(n · front size);
/// with two objectives O(n).
pub fn pareto_sorted(cols: &[&[u64]]) -> Vec<usize> {
    let k = cols.len();
    let n = cols.first().map_or(0, |c| c.len());
    let mut front: Vec<usize> = Vec::new();
    if k == 0 || n == 0 {
        return front;
    }
    if k == 1 {
        let best = cols[0][0];
        return (0..n).take_while(|&i| cols[0][i] == best).collect();
    }
    if k == 2 {
        let (a, b) = (cols[0], cols[1]);
        let mut best_b = u64::MAX;
        let mut last: Option<usize> = None;
        for i in 0..n {
            let equal_to_last = last.is_some_and(|l| a[l] == a[i] && b[l] == b[i]);
            if b[i] < best_b || equal_to_last {
                best_b = best_b.min(b[i]);
                front.push(i);
                last = Some(i);
            }
        }
        return front;
    }
    'rows: for i in 0..n {
        for &f in &front {
            let mut all_le = true;
            let mut any_lt = false;
            for c in cols {
                if c[f] > c[i] {
                    all_le = false;
                    break;
                }
                any_lt |= c[f] < c[i];
            }
            if all_le && any_lt {
                continue 'rows;
            }
        }
        front.push(i);
    }
    front
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(rows: &[Vec<u64>]) -> Vec<usize> {
        (0..rows.len())
            .filter(|&i| !rows.iter().any(|o| o.iter().zip(&rows[i]).all(|(a, b)| a <= b) && o.iter().zip(&rows[i]).any(|(a, b)| a < b)))
            .collect()
    }

    #[test]
    fn matches_brute_force() {
        let mut seed = 12345u64;
        for k in 1..=4 {
            for _ in 0..50 {
                let mut rows: Vec<Vec<u64>> = (0..60)
                    .map(|_| {
                        (0..k)
                            .map(|_| {
                                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                                (seed >> 59) % 6
                            })
                            .collect()
                    })
                    .collect();
                rows.sort();
                let cols: Vec<Vec<u64>> = (0..k).map(|j| rows.iter().map(|r| r[j]).collect()).collect();
                let refs: Vec<&[u64]> = cols.iter().map(|c| c.as_slice()).collect();
                assert_eq!(pareto_sorted(&refs), brute(&rows), "k={k}");
            }
        }
    }
}
