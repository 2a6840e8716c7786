//! Training with linfa's FTRL-Proximal (`linfa-ftrl`): passes over the data in small batches,
//! so its cost grows with the rows, not with the square of the vocabulary as the L-BFGS start
//! plus linfa's dense logistic regression does. The multi-community corpus needs it.
//!
//! linfa-ftrl takes dense batches and has no intercept: each batch is unpacked into a small
//! dense matrix with a constant last column, whose weight is the intercept. It also draws
//! its initial state at random, which would give terms never seen a random weight; a
//! constant generator makes the start zero ([`zero_start`]).

use linfa::prelude::*;
use linfa_ftrl::Ftrl;
use linfa_ftrl::FtrlParams;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use super::features::SparseRow;

/// FTRL-Proximal's settings, as linfa-ftrl names them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FtrlSettings {
    /// Passes over the training data.
    pub epochs: usize,
    /// Rows per update.
    pub batch: usize,
    /// Learning rate (FTRL's `alpha`).
    pub learning_rate: f64,
    /// FTRL's `beta`: damps the first steps of rarely seen terms.
    pub beta: f64,
    /// L1 penalty (0 to 1): terms whose evidence stays below it keep no weight.
    pub l1: f64,
    /// L2 penalty.
    pub l2: f64,
}

impl Default for FtrlSettings {
    fn default() -> Self {
        Self {
            epochs: 16,
            batch: 32,
            learning_rate: 2.0,
            beta: 1.0,
            l1: 1.0,
            l2: 1.0,
        }
    }
}

/// Why FTRL settings or a fit were refused.
pub type FtrlError = linfa_ftrl::FtrlError;

/// Fits weights (positive means spam) and an intercept on sparse rows of `n_cols` columns.
///
/// # Errors
/// When linfa-ftrl refuses the settings (its L1 and L2 must lie in 0..=1).
pub fn fit(
    settings: &FtrlSettings,
    rows: &[SparseRow],
    labels: &[bool],
    n_cols: usize,
) -> Result<(Vec<f64>, f64), FtrlError> {
    let params = zero_start(settings).check()?;
    let width = n_cols + 1;
    let mut model = Ftrl::new(params.clone(), width);
    let batch = settings.batch.max(1);
    for epoch in 0..settings.epochs {
        for chunk in shuffled(rows.len(), epoch).chunks(batch) {
            let mut x = Array2::zeros((chunk.len(), width));
            for (r, &i) in chunk.iter().enumerate() {
                for (&c, &v) in rows[i].cols.iter().zip(&rows[i].vals) {
                    x[[r, c as usize]] = v;
                }
                x[[r, n_cols]] = 1.0;
            }
            let y: Array1<bool> = chunk.iter().map(|&i| labels[i]).collect();
            model = params.fit_with(Some(model), &Dataset::new(x, y))?;
        }
    }
    let mut weights = model.get_weights().to_vec();
    let intercept = weights.pop().unwrap_or(0.0);
    Ok((weights, intercept))
}

/// A generator that always yields zero bits, so linfa-ftrl's initial state (drawn uniformly
/// from [0, 1)) is all zeros.
pub type ZeroRng = rand08::rngs::mock::StepRng;

/// linfa-ftrl's parameters for `settings`, starting from zero weights (unchecked: linfa-ftrl
/// does not export the checked type's name).
pub fn zero_start(settings: &FtrlSettings) -> FtrlParams<f64, ZeroRng> {
    Ftrl::<f64>::params_with_rng(ZeroRng::new(0, 0))
        .alpha(settings.learning_rate)
        .beta(settings.beta)
        .l1_ratio(settings.l1)
        .l2_ratio(settings.l2)
}

/// The row indices in an order fixed by `epoch`, so a fit is reproducible.
fn shuffled(n: usize, epoch: usize) -> Vec<usize> {
    let mut order: Vec<(u64, usize)> = (0..n)
        .map(|i| (mix((epoch as u64) << 32 | i as u64), i))
        .collect();
    order.sort_unstable();
    order.into_iter().map(|(_, i)| i).collect()
}

/// SplitMix64's finalizer: a fixed, well-spread permutation key.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_a_toy_problem() {
        let row = |c: u32| SparseRow {
            cols: vec![c],
            vals: vec![1.0],
        };
        let rows: Vec<SparseRow> = (0..200).map(|i| row(i % 2)).collect();
        let labels: Vec<bool> = (0..200).map(|i| i % 2 == 0).collect();
        let (w, _) = fit(&FtrlSettings::default(), &rows, &labels, 3).unwrap();
        assert!(w[0] > 0.5 && w[1] < -0.5, "{w:?}");
        assert_eq!(w[2], 0.0, "a column never seen keeps no weight: {w:?}");
    }

    #[test]
    fn out_of_range_settings_are_refused() {
        let settings = FtrlSettings {
            l1: 2.0,
            ..FtrlSettings::default()
        };
        assert!(fit(&settings, &[], &[], 1).is_err());
    }
}
