//! A small deterministic pseudo-random generator (SplitMix64): the same seed gives
//! the same data on every machine and every run. Each patient gets a stream of
//! its own, derived from the seed and its number, so any one patient can be
//! rebuilt without the others.

/// SplitMix64 (Steele, Lea and Flood 2014).
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl Rng {
    /// The stream `index` of kind `kind` under `seed`.
    pub fn stream(seed: u64, kind: u64, index: u64) -> Rng {
        let mut mix = Rng {
            state: seed ^ kind.wrapping_mul(GOLDEN).rotate_left(17),
        };
        let base = mix.next_u64();
        Rng {
            state: base ^ index.wrapping_mul(GOLDEN),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo) as u64 + 1;
        lo + ((u128::from(self.next_u64()) * u128::from(span)) >> 64) as i64
    }

    /// An index below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.range(0, n as i64 - 1) as usize
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u32) -> bool {
        self.range(0, 99) < i64::from(percent)
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// One element of a non-empty slice of (weight, item).
    pub fn weighted<'a, T>(&mut self, items: &'a [(u32, T)]) -> &'a T {
        let total: u32 = items.iter().map(|(w, _)| w).sum();
        let mut at = self.range(0, i64::from(total) - 1) as u32;
        for (w, item) in items {
            if at < *w {
                return item;
            }
            at -= w;
        }
        &items[items.len() - 1].1
    }

    /// Roughly normal around `mean` with standard deviation `sd` (sum of uniforms),
    /// rounded to an integer.
    pub fn normal(&mut self, mean: i64, sd: i64) -> i64 {
        // Four uniforms in [-1, 1] have variance 4/3; scale to `sd`.
        let sum: i64 = (0..4).map(|_| self.range(-1000, 1000)).sum();
        mean + sum * sd * 866 / 1_000_000
    }
}
