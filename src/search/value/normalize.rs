//! The key of `string` search: case- and accent-insensitive (R4 search,
//! "string": "the search is case-insensitive and accent-insensitive by
//! default, … matches if a field equals or starts with the value").
//!
//! The key of a text is its compatibility decomposition (NFKD) with full
//! Unicode case folding (CaseFolding.txt statuses C and F), repeated until
//! stable, and with every combining mark removed: general category Mn
//! (nonspacing) or Me (enclosing), or any canonical combining class other
//! than 0. Spacing marks (Mc, the vowel signs of Indic scripts) stay, since
//! they are not accents. So `Straße` and `STRASSE` share the key `strasse`,
//! `Ǆ`, `ǅ` and `dž` share `dz`, final `ς` folds like `σ`, `ﬁ` is `fi`,
//! `Ｍüller` is `muller`, and `ᾳ`, `ᾼ` and `ΑΙ` share `αι` (the iota
//! subscript folds to iota before marks go). Whitespace and punctuation are
//! kept as they are, apart from what NFKD itself does (a no-break space
//! becomes a space). Hangul syllables become their conjoining jamo.
//!
//! The work is a per-character table (`key_table.rs`) generated from the
//! Unicode Character Database by `scripts/gen-search-key-table.py`; removing
//! every non-zero combining class makes NFKD's reordering irrelevant, so the
//! key of a string is the concatenation of the keys of its characters.
//!
//! For SQL, store the key of each string value in a TEXT column compared with
//! the default BINARY collation (memcmp of UTF-8, which orders by code point)
//! and search a prefix `p` as `key >= p AND key < upper` with `upper` from
//! [`prefix_upper_bound`] (or `key >= p` alone when it is `None`). This uses
//! an index, unlike `LIKE`, which also treats `%` and `_` specially.

use super::key_table::{MAPPED, STRIPPED};

/// The Unicode version of the tables behind [`normalize`].
pub const UNICODE_VERSION: &str = super::key_table::UNICODE_VERSION;

const HANGUL_BASE: u32 = 0xAC00;
const HANGUL_COUNT: u32 = 11_172;
const JAMO_L: u32 = 0x1100;
const JAMO_V: u32 = 0x1161;
const JAMO_T: u32 = 0x11A7;
const JAMO_V_COUNT: u32 = 21;
const JAMO_T_COUNT: u32 = 28;

/// Whether the code point is a combining mark, whose key is empty.
fn is_stripped(cp: u32) -> bool {
    STRIPPED
        .binary_search_by(|&(first, last)| {
            if last < cp {
                std::cmp::Ordering::Less
            } else if first > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Appends the key of one character.
fn push_key(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    let cp = u32::from(c);
    if (HANGUL_BASE..HANGUL_BASE + HANGUL_COUNT).contains(&cp) {
        let s = cp - HANGUL_BASE;
        let t = s % JAMO_T_COUNT;
        let jamo = [
            Some(JAMO_L + s / (JAMO_V_COUNT * JAMO_T_COUNT)),
            Some(JAMO_V + (s % (JAMO_V_COUNT * JAMO_T_COUNT)) / JAMO_T_COUNT),
            (t != 0).then_some(JAMO_T + t),
        ];
        out.extend(jamo.into_iter().flatten().filter_map(char::from_u32));
        return;
    }
    if is_stripped(cp) {
        return;
    }
    match MAPPED.binary_search_by_key(&cp, |&(code, _)| code) {
        Ok(i) => out.push_str(MAPPED[i].1),
        Err(_) => out.push(c),
    }
}

/// The string search key of `s` (see the module documentation).
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_key(c, &mut out);
    }
    out
}

/// Whether a stored key matches a search key under R4's default string
/// matching (the field "equals or starts with" the value). Both must be keys
/// made by [`normalize`].
pub fn starts_with_key(stored_key: &str, search_key: &str) -> bool {
    stored_key.starts_with(search_key)
}

/// The least string greater than every string that starts with `prefix`, in
/// the byte order of UTF-8 (SQLite's BINARY collation): the prefix with its
/// last character that is not U+10FFFF replaced by the next Unicode scalar
/// value (skipping surrogates) and what follows it dropped. `None` when there
/// is no such string (`prefix` is empty or all U+10FFFF): then every string
/// from `prefix` upwards starts with it. For valid UTF-8 `key`:
/// `key.starts_with(prefix)` exactly when `key >= prefix` and `key < upper`.
pub fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let (at, last) = prefix.char_indices().rev().find(|&(_, c)| c != char::MAX)?;
    let next = match u32::from(last) + 1 {
        0xD800 => '\u{E000}',
        n => char::from_u32(n)?,
    };
    let mut upper = String::with_capacity(at + next.len_utf8());
    upper.push_str(&prefix[..at]);
    upper.push(next);
    Some(upper)
}

#[cfg(test)]
mod tests {
    use super::super::test_rng::{ALPHABET, Rng};
    use super::*;

    fn same(a: &str, b: &str) {
        assert_eq!(normalize(a), normalize(b), "{a:?} vs {b:?}");
    }

    #[test]
    fn case_folding_is_full() {
        assert_eq!(normalize("Straße"), "strasse");
        same("Straße", "STRASSE");
        same("Straße", "STRAẞE");
        assert_eq!(normalize("Ǆ"), "dz");
        same("Ǆ", "ǅ");
        same("ǆ", "dž");
        assert_eq!(normalize("ΣΊΣΥΦΟΣ"), "σισυφοσ");
        same("Σίσυφος", "ΣΊΣΥΦΟΣ");
        assert_eq!(normalize("ﬁle"), "file");
        assert_eq!(normalize("İstanbul"), "istanbul");
        assert_eq!(normalize("ŉ"), "ʼn");
        assert_eq!(normalize("ＭÜＬＬＥＲ"), "muller");
    }

    #[test]
    fn accents_and_marks_go() {
        same("Åström", "astrom");
        same("\u{212B}", "A\u{30A}");
        same("Ångström", "\u{212B}ngstro\u{308}m");
        assert_eq!(normalize("Crème Brûlée"), "creme brulee");
        assert_eq!(normalize("x\u{20DD}"), "x");
        assert_eq!(normalize("e\u{FE0F}\u{34F}"), "e");
        assert_eq!(normalize("שָׁלוֹם"), "שלום");
        // The iota subscript folds to iota before the marks go.
        assert_eq!(normalize("ᾳ"), "αι");
        same("ᾼ", "ΑΙ");
        // A spacing vowel sign (Mc) stays; a nonspacing one (Mn) goes.
        assert_eq!(normalize("का"), "का");
        assert_eq!(normalize("कु"), "क");
    }

    #[test]
    fn compatibility_forms_and_whitespace() {
        assert_eq!(normalize("①②"), "12");
        assert_eq!(normalize("x²"), "x2");
        assert_eq!(normalize("½"), "1\u{2044}2");
        assert_eq!(normalize("  a\tb  "), "  a\tb  ");
        assert_eq!(normalize("a\u{A0}b"), "a b");
        assert_eq!(normalize("㍻"), "平成");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("O'Brien-Smith, J."), "o'brien-smith, j.");
    }

    #[test]
    fn hangul_syllables_decompose() {
        assert_eq!(normalize("한"), "\u{1112}\u{1161}\u{11AB}");
        assert_eq!(normalize("가"), "\u{1100}\u{1161}");
        same("한국", "\u{1112}\u{1161}\u{11AB}\u{1100}\u{116E}\u{11A8}");
        assert_eq!(normalize("㈎"), "(\u{1100}\u{1161})");
        assert_eq!(normalize("\u{D7A3}"), "\u{1112}\u{1175}\u{11C2}");
    }

    #[test]
    fn every_key_is_stable_and_markless() {
        assert_eq!(UNICODE_VERSION, "15.0.0");
        for cp in 0..=0x10FFFFu32 {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            let key = normalize(c.encode_utf8(&mut [0; 4]));
            assert_eq!(normalize(&key), key, "U+{cp:04X}");
            assert!(
                !key.chars().any(|k| is_stripped(u32::from(k))),
                "U+{cp:04X}"
            );
        }
    }

    #[test]
    fn ascii_fast_path_agrees_with_the_table() {
        for b in 0u8..128 {
            let c = char::from(b);
            let expected = match MAPPED.binary_search_by_key(&u32::from(b), |&(code, _)| code) {
                Ok(i) => MAPPED[i].1.to_string(),
                Err(_) => c.to_string(),
            };
            assert_eq!(normalize(&c.to_string()), expected);
        }
    }

    #[test]
    fn tables_are_sorted() {
        assert!(STRIPPED.windows(2).all(|w| w[0].1 < w[1].0));
        assert!(STRIPPED.iter().all(|&(a, b)| a <= b));
        assert!(MAPPED.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn starts_with_key_cases() {
        let k = normalize("Müller-Lüdenscheidt");
        assert!(starts_with_key(&k, &normalize("MULL")));
        assert!(starts_with_key(&k, &normalize("müller-lü")));
        assert!(starts_with_key(&k, ""));
        assert!(!starts_with_key(&k, &normalize("üller")));
        assert!(!starts_with_key(&normalize("Mu"), &normalize("Müller")));
    }

    #[test]
    fn prefix_upper_bound_cases() {
        assert_eq!(prefix_upper_bound("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(
            prefix_upper_bound("a\u{10FFFF}\u{10FFFF}").as_deref(),
            Some("b")
        );
        assert_eq!(prefix_upper_bound("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_upper_bound("\u{7F}").as_deref(), Some("\u{80}"));
        assert_eq!(
            prefix_upper_bound("x\u{FFFF}").as_deref(),
            Some("x\u{10000}")
        );
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
    }

    #[test]
    fn prefix_range_equals_starts_with_in_byte_order() {
        let alphabet = [
            'a',
            'b',
            '\u{7F}',
            '\u{80}',
            '\u{7FF}',
            '\u{800}',
            '\u{D7FF}',
            '\u{E000}',
            '\u{FFFF}',
            '\u{10000}',
            '\u{10FFFF}',
        ];
        let mut rng = Rng::new(13);
        let random =
            |rng: &mut Rng| -> String { (0..rng.below(4)).map(|_| *rng.pick(&alphabet)).collect() };
        for _ in 0..100_000 {
            let prefix = random(&mut rng);
            let key = if rng.below(2) == 0 {
                format!("{prefix}{}", random(&mut rng))
            } else {
                random(&mut rng)
            };
            let upper = prefix_upper_bound(&prefix);
            let in_range = key.as_bytes() >= prefix.as_bytes()
                && upper.as_ref().is_none_or(|u| key.as_bytes() < u.as_bytes());
            assert_eq!(
                in_range,
                key.starts_with(&prefix),
                "{key:?} {prefix:?} {upper:?}"
            );
        }
    }

    #[test]
    fn normalize_never_panics_and_is_idempotent() {
        let mut rng = Rng::new(19);
        for _ in 0..20_000 {
            let text = rng.mutate("Ǆ Straße ﬁ ᾳ 한 ①", ALPHABET);
            let key = normalize(&text);
            assert_eq!(normalize(&key), key);
            if let Some(upper) = prefix_upper_bound(&key) {
                assert!(upper.as_str() > key.as_str());
            }
        }
    }
}
