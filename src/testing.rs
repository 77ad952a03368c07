//! Helpers shared by the unit tests: a deterministic pseudo-random [`Roll`]
//! and [`mutations`] of a valid text, for the loops that check that a parser
//! or engine never panics, whatever it is given.

/// A deterministic generator (a linear congruential one).
pub struct Roll(pub u64);

impl Roll {
    /// A number below `n` (0 when `n` is 0).
    pub fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as usize % n.max(1)
    }
}

/// `rounds` variants of `valid`, each with one to four bytes replaced,
/// removed or inserted (new bytes taken from `alphabet`).
pub fn mutations<'a>(
    valid: &'a str,
    alphabet: &'a [u8],
    rounds: usize,
    seed: u64,
) -> impl Iterator<Item = Vec<u8>> + 'a {
    let mut roll = Roll(seed);
    (0..rounds).map(move |_| {
        let mut bytes = valid.as_bytes().to_vec();
        for _ in 0..1 + roll.next(4) {
            let at = roll.next(bytes.len());
            match roll.next(3) {
                0 if at < bytes.len() => bytes[at] = alphabet[roll.next(alphabet.len())],
                1 if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, alphabet[roll.next(alphabet.len())]),
            }
        }
        bytes
    })
}
