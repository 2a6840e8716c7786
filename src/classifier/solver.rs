//! A sparse L-BFGS solve of linfa's binary logistic objective, used as the starting point
//! (`initial_params`) of linfa's own fit.
//!
//! linfa's solver works on a dense matrix and spends most of its time on strided
//! matrix-vector products, so from zeros it needs minutes on this data. The objective here
//! is the same one linfa minimizes,
//! `sum_i -ln(sigmoid(y_i (w·x_i + b))) + alpha/2 * |w|^2` with `y_i` in {-1, 1} and the
//! intercept `b` unpenalized, so linfa starts at (or next to) its optimum and only has to
//! confirm convergence.

use super::features::SparseRow;

/// Sparse rows in compressed form.
#[derive(Debug, Clone, Default)]
pub struct Csr {
    /// Start of each row in `cols`/`vals`, plus the end.
    pub indptr: Vec<usize>,
    /// Column of each stored value.
    pub cols: Vec<u32>,
    /// The stored values.
    pub vals: Vec<f64>,
    /// Number of columns.
    pub n_cols: usize,
}

impl Csr {
    /// Packs rows with `n_cols` columns.
    pub fn from_rows(rows: &[SparseRow], n_cols: usize) -> Self {
        let mut m = Csr {
            indptr: vec![0],
            n_cols,
            ..Csr::default()
        };
        for r in rows {
            m.cols.extend_from_slice(&r.cols);
            m.vals.extend_from_slice(&r.vals);
            m.indptr.push(m.cols.len());
        }
        m
    }

    fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }
}

/// ln(1 + e^x) without overflow.
fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Objective value and gradient at `w` (intercept last), with `y` in {-1, 1}.
fn value_and_grad(x: &Csr, y: &[f64], alpha: f64, w: &[f64], grad: &mut [f64]) -> f64 {
    let d = x.n_cols;
    grad.iter_mut().for_each(|g| *g = 0.0);
    let mut f = 0.0;
    for (i, &yi) in y.iter().enumerate().take(x.n_rows()) {
        let (s, e) = (x.indptr[i], x.indptr[i + 1]);
        let mut z = w[d];
        for k in s..e {
            z += w[x.cols[k] as usize] * x.vals[k];
        }
        let yz = yi * z;
        f += softplus(-yz);
        let r = (sigmoid(yz) - 1.0) * yi;
        for k in s..e {
            grad[x.cols[k] as usize] += r * x.vals[k];
        }
        grad[d] += r;
    }
    let mut reg = 0.0;
    for j in 0..d {
        reg += w[j] * w[j];
        grad[j] += alpha * w[j];
    }
    f + 0.5 * alpha * reg
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Minimizes the objective with L-BFGS (memory 10, Armijo backtracking) until the gradient's
/// L2 norm is below `tolerance` or `max_iterations` pass. Returns `w` with the intercept last.
pub fn minimize(x: &Csr, y: &[f64], alpha: f64, tolerance: f64, max_iterations: usize) -> Vec<f64> {
    const MEMORY: usize = 10;
    let n = x.n_cols + 1;
    let mut w = vec![0.0; n];
    let mut g = vec![0.0; n];
    let mut f = value_and_grad(x, y, alpha, &w, &mut g);
    let mut hist: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> =
        std::collections::VecDeque::with_capacity(MEMORY);
    let (mut w_new, mut g_new, mut dir) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut alphas = [0.0; MEMORY];
    for _ in 0..max_iterations {
        if dot(&g, &g).sqrt() < tolerance {
            break;
        }
        // Two-loop recursion: dir = -H g.
        dir.copy_from_slice(&g);
        for (k, (s, yv, rho)) in hist.iter().enumerate().rev() {
            alphas[k] = rho * dot(s, &dir);
            dir.iter_mut()
                .zip(yv)
                .for_each(|(d, yy)| *d -= alphas[k] * yy);
        }
        let gamma = hist
            .back()
            .map_or(1.0 / dot(&g, &g).sqrt().max(1.0), |(s, yv, _)| {
                dot(s, yv) / dot(yv, yv)
            });
        dir.iter_mut().for_each(|d| *d *= gamma);
        for (k, (s, yv, rho)) in hist.iter().enumerate() {
            let b = rho * dot(yv, &dir);
            dir.iter_mut()
                .zip(s)
                .for_each(|(d, ss)| *d += (alphas[k] - b) * ss);
        }
        dir.iter_mut().for_each(|d| *d = -*d);
        let mut slope = dot(&g, &dir);
        if slope >= 0.0 {
            // Not a descent direction: restart from steepest descent.
            hist.clear();
            dir.iter_mut().zip(&g).for_each(|(d, gg)| *d = -gg);
            slope = -dot(&g, &g);
        }
        let mut step = 1.0;
        let mut accepted = false;
        for _ in 0..40 {
            w_new
                .iter_mut()
                .zip(&w)
                .zip(&dir)
                .for_each(|((wn, wo), d)| *wn = wo + step * d);
            let f_new = value_and_grad(x, y, alpha, &w_new, &mut g_new);
            if f_new <= f + 1e-4 * step * slope {
                let s: Vec<f64> = w_new.iter().zip(&w).map(|(a, b)| a - b).collect();
                let yv: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
                let sy = dot(&s, &yv);
                if sy > 1e-12 {
                    if hist.len() == MEMORY {
                        hist.pop_front();
                    }
                    hist.push_back((s, yv, 1.0 / sy));
                }
                std::mem::swap(&mut w, &mut w_new);
                std::mem::swap(&mut g, &mut g_new);
                f = f_new;
                accepted = true;
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            break;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_a_toy_problem() {
        let rows = vec![
            SparseRow {
                cols: vec![0],
                vals: vec![1.0],
            },
            SparseRow {
                cols: vec![1],
                vals: vec![1.0],
            },
            SparseRow {
                cols: vec![0],
                vals: vec![0.8],
            },
            SparseRow {
                cols: vec![1],
                vals: vec![0.9],
            },
        ];
        let x = Csr::from_rows(&rows, 2);
        let y = [1.0, -1.0, 1.0, -1.0];
        let w = minimize(&x, &y, 1.0, 1e-8, 500);
        assert!(w[0] > 0.5 && w[1] < -0.5, "{w:?}");
        let mut g = vec![0.0; 3];
        value_and_grad(&x, &y, 1.0, &w, &mut g);
        assert!(dot(&g, &g).sqrt() < 1e-6);
    }
}
