//! A tiny deterministic pseudo-random generator (SplitMix64) and a string
//! mutator for the property and robustness tests of this module. Test-only.

/// SplitMix64: small, fast, and good enough to spread test cases.
pub(super) struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`; the same seed gives the same sequence.
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A number in `lo..=hi`.
    pub(super) fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi as i128 - lo as i128 + 1) as u128;
        (lo as i128 + (self.next_u64() as u128 % span) as i128) as i64
    }

    /// One element of `items` (not empty).
    pub(super) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// `text` with one to four random edits: a character inserted, removed,
    /// replaced or the string cut, drawing new characters from `alphabet`.
    pub(super) fn mutate(&mut self, text: &str, alphabet: &[char]) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        for _ in 0..=self.below(4) {
            let at = self.below(chars.len() as u64 + 1) as usize;
            match self.below(4) {
                0 => chars.insert(at, *self.pick(alphabet)),
                1 if at < chars.len() => {
                    chars.remove(at);
                }
                2 if at < chars.len() => chars[at] = *self.pick(alphabet),
                3 => chars.truncate(at),
                _ => {}
            }
        }
        chars.into_iter().collect()
    }
}

/// Characters the robustness tests mutate with: syntax of the values under
/// test, digits, letters, and characters of every UTF-8 length.
pub(super) const ALPHABET: &[char] = &[
    '0',
    '1',
    '2',
    '5',
    '9',
    '-',
    '+',
    '.',
    ':',
    'T',
    'Z',
    'e',
    'E',
    '|',
    '\\',
    ',',
    '$',
    '/',
    ' ',
    'a',
    'z',
    '_',
    '{',
    '}',
    '[',
    ']',
    '*',
    '^',
    '%',
    'é',
    'ß',
    '\u{7FF}',
    '\u{FFFF}',
    '\u{10FFFF}',
    '\u{300}',
    '٣',
];
