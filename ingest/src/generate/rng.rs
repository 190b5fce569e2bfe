//! Deterministic values from a seed and a path of integers (splitmix64), so any row can be produced
//! independently of the others: same seed, same bytes, whatever the order of work.

#[derive(Debug, Clone, Copy)]
pub struct Rng {
    seed: u64,
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self { seed: mix(seed) }
    }

    /// A 64-bit value for this path.
    pub fn u(&self, path: &[u64]) -> u64 {
        path.iter().fold(self.seed, |acc, p| mix(acc ^ mix(*p)))
    }

    /// Uniform in [0, 1).
    pub fn f(&self, path: &[u64]) -> f64 {
        (self.u(path) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in [lo, hi].
    pub fn range(&self, path: &[u64], lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + (self.u(path) % (hi - lo + 1) as u64) as i64
    }

    pub fn chance(&self, path: &[u64], p: f64) -> bool {
        self.f(path) < p
    }

    /// Roughly normal (sum of uniforms), mean 0, sd 1.
    pub fn normal(&self, path: &[u64]) -> f64 {
        let mut s = 0.0;
        for k in 0..6u64 {
            let mut p = path.to_vec();
            p.push(1000 + k);
            s += self.f(&p);
        }
        (s - 3.0) * std::f64::consts::SQRT_2
    }

    pub fn pick<'a, T>(&self, path: &[u64], items: &'a [T]) -> &'a T {
        &items[(self.u(path) % items.len() as u64) as usize]
    }
}

/// Tags that keep the value streams of different fields apart.
pub mod tag {
    pub const SCHOOL: u64 = 1;
    pub const COHORT: u64 = 2;
    pub const STUDENT: u64 = 3;
    pub const STAFF: u64 = 4;
    pub const BUDGET: u64 = 5;
    pub const TEST: u64 = 6;
    pub const BUILDING: u64 = 7;
    pub const DLTV: u64 = 8;
    pub const INVALID: u64 = 9;
    pub const AREA: u64 = 10;
}
