//! Conversion of quantities to canonical units, for `quantity` search across
//! units (R4 search, "quantity": a server may compare values in canonical
//! units). Only the UCUM codes listed here are converted; any other code is
//! compared as written, by its system and code.
//!
//! Each unit converts by `canonical = (value + offset) × factor`, with exact
//! decimal offsets and factors (1 `[lb_av]` = 453.59237 g exactly). Only three
//! conversions divide, and are rounded half to even to 34 or more significant
//! digits: `[degF]` (`× 5/9`), `/h` (`÷ 60`) and `/d` (`÷ 1440`).
//!
//! | canonical | units converted (factor to the canonical unit) |
//! |---|---|
//! | `g` | `kg` 1000, `g`, `mg` 10⁻³, `ug` 10⁻⁶, `ng` 10⁻⁹, `pg` 10⁻¹², `[lb_av]` 453.59237, `[oz_av]` 28.349523125 |
//! | `L` | `L`, `dL` 0.1, `cL` 0.01, `mL` 10⁻³, `uL` 10⁻⁶, `nL` 10⁻⁹, `fL` 10⁻¹⁵, `m3` 1000, `dm3` 1, `cm3` 10⁻³, `mm3` 10⁻⁶, `[gal_us]` 3.785411784, `[foz_us]` 0.0295735295625 |
//! | `m` | `km` 1000, `m`, `dm` 0.1, `cm` 0.01, `mm` 10⁻³, `um` 10⁻⁶, `nm` 10⁻⁹, `[in_i]` 0.0254, `[ft_i]` 0.3048, `[yd_i]` 0.9144, `[mi_i]` 1609.344, `[nmi_i]` 1852 |
//! | `s` | `ms` 10⁻³, `s`, `min` 60, `h` 3600, `d` 86400, `wk` 604800, `mo` and `mo_j` 2629800 (mean Julian month, 30.4375 d), `mo_g` 2629746, `a` and `a_j` 31557600 (mean Julian year, 365.25 d), `a_g` 31556952 |
//! | `K` | `K`, `Cel` (x + 273.15), `[degF]` ((x + 459.67) × 5/9) |
//! | `Pa` | `Pa`, `hPa` 100, `kPa` 1000, `MPa` 10⁶, `bar` 10⁵, `mbar` 100, `atm` 101325, `mm[Hg]` 133.322, `cm[H2O]` 98.0665 |
//! | `g/L` | `g/L`, `g/dL` 10, `g/mL` 1000, `mg/L` 10⁻³, `mg/dL` 0.01, `mg/mL` 1, `ug/L` 10⁻⁶, `ug/dL` 10⁻⁵, `ug/mL` 10⁻³, `ng/L` 10⁻⁹, `ng/dL` 10⁻⁸, `ng/mL` 10⁻⁶, `pg/mL` 10⁻⁹ |
//! | `mol/L` | `mol/L`, `mmol/L` 10⁻³, `umol/L` 10⁻⁶, `nmol/L` 10⁻⁹, `pmol/L` 10⁻¹² |
//! | `mol` | `mol`, `mmol` 10⁻³, `umol` 10⁻⁶, `nmol` 10⁻⁹ |
//! | `/L` | `/L`, `/mL` 10³, `/uL` 10⁶, `/mm3` 10⁶, `/nL` 10⁹, `10*3/L` 10³, `10*6/L` 10⁶, `10*9/L` 10⁹, `10*12/L` 10¹², `10*3/mL` 10⁶, `10*6/mL` 10⁹, `10*3/uL` 10⁹, `10*6/uL` 10¹² |
//! | `/min` | `/min`, `/s` 60, `/h` 1/60, `/d` 1/1440 |
//! | `1` | `1`, `%` 0.01, `[ppth]` 10⁻³, `[ppm]` 10⁻⁶ |
//! | `U/L` | `U/L`, `U/mL` 1000, `kU/L` 1000, `mU/L` 10⁻³, `mU/mL` 1 |
//! | `[IU]/L` | `[IU]/L`, `[IU]/mL` 1000, `m[IU]/L` 10⁻³ |
//!
//! Before lookup a code is read as UCUM reads it: annotations in braces mean
//! nothing (`{beats}/min` is `/min`, `{cells}/uL` is `/uL`, `{score}` is `1`),
//! `l` is the litre like `L` (`mg/dl`), `10^` is `10*`, and `[iU]` is `[IU]`.
//! Mass and substance concentrations (`mg/dL` and `mmol/L`) are separate:
//! converting between them needs a molar mass. `ap` on a quantity is computed
//! in the search value's own unit before conversion.

use super::decimal::Decimal;
use super::number::{NumRange, number_condition};
use super::prefix::{Condition, Prefix};

/// The code system of UCUM units in FHIR.
pub const UCUM_SYSTEM: &str = "http://unitsofmeasure.org";

/// A unit and its conversion: `canonical = (value + offset) × factor / divisor`.
struct Unit {
    code: &'static str,
    canonical: &'static str,
    offset: (i128, i32),
    factor: (i128, i32),
    divisor: u32,
}

/// A unit converted by `factor = mantissa × 10^exponent`.
const fn scaled(
    code: &'static str,
    canonical: &'static str,
    mantissa: i128,
    exponent: i32,
) -> Unit {
    Unit {
        code,
        canonical,
        offset: (0, 0),
        factor: (mantissa, exponent),
        divisor: 1,
    }
}

/// A unit converted by `1 / divisor`.
const fn divided(code: &'static str, canonical: &'static str, divisor: u32) -> Unit {
    Unit {
        code,
        canonical,
        offset: (0, 0),
        factor: (1, 0),
        divisor,
    }
}

static UNITS: &[Unit] = &[
    scaled("kg", "g", 1, 3),
    scaled("g", "g", 1, 0),
    scaled("mg", "g", 1, -3),
    scaled("ug", "g", 1, -6),
    scaled("ng", "g", 1, -9),
    scaled("pg", "g", 1, -12),
    scaled("[lb_av]", "g", 45_359_237, -5),
    scaled("[oz_av]", "g", 28_349_523_125, -9),
    scaled("L", "L", 1, 0),
    scaled("dL", "L", 1, -1),
    scaled("cL", "L", 1, -2),
    scaled("mL", "L", 1, -3),
    scaled("uL", "L", 1, -6),
    scaled("nL", "L", 1, -9),
    scaled("fL", "L", 1, -15),
    scaled("m3", "L", 1, 3),
    scaled("dm3", "L", 1, 0),
    scaled("cm3", "L", 1, -3),
    scaled("mm3", "L", 1, -6),
    scaled("[gal_us]", "L", 3_785_411_784, -9),
    scaled("[foz_us]", "L", 295_735_295_625, -13),
    scaled("km", "m", 1, 3),
    scaled("m", "m", 1, 0),
    scaled("dm", "m", 1, -1),
    scaled("cm", "m", 1, -2),
    scaled("mm", "m", 1, -3),
    scaled("um", "m", 1, -6),
    scaled("nm", "m", 1, -9),
    scaled("[in_i]", "m", 254, -4),
    scaled("[ft_i]", "m", 3048, -4),
    scaled("[yd_i]", "m", 9144, -4),
    scaled("[mi_i]", "m", 1_609_344, -3),
    scaled("[nmi_i]", "m", 1852, 0),
    scaled("ms", "s", 1, -3),
    scaled("s", "s", 1, 0),
    scaled("min", "s", 60, 0),
    scaled("h", "s", 3600, 0),
    scaled("d", "s", 86_400, 0),
    scaled("wk", "s", 604_800, 0),
    scaled("mo", "s", 2_629_800, 0),
    scaled("mo_j", "s", 2_629_800, 0),
    scaled("mo_g", "s", 2_629_746, 0),
    scaled("a", "s", 31_557_600, 0),
    scaled("a_j", "s", 31_557_600, 0),
    scaled("a_g", "s", 31_556_952, 0),
    scaled("K", "K", 1, 0),
    Unit {
        code: "Cel",
        canonical: "K",
        offset: (27_315, -2),
        factor: (1, 0),
        divisor: 1,
    },
    Unit {
        code: "[degF]",
        canonical: "K",
        offset: (45_967, -2),
        factor: (5, 0),
        divisor: 9,
    },
    scaled("Pa", "Pa", 1, 0),
    scaled("hPa", "Pa", 1, 2),
    scaled("kPa", "Pa", 1, 3),
    scaled("MPa", "Pa", 1, 6),
    scaled("bar", "Pa", 1, 5),
    scaled("mbar", "Pa", 1, 2),
    scaled("atm", "Pa", 101_325, 0),
    scaled("mm[Hg]", "Pa", 133_322, -3),
    scaled("cm[H2O]", "Pa", 980_665, -4),
    scaled("g/L", "g/L", 1, 0),
    scaled("g/dL", "g/L", 1, 1),
    scaled("g/mL", "g/L", 1, 3),
    scaled("mg/L", "g/L", 1, -3),
    scaled("mg/dL", "g/L", 1, -2),
    scaled("mg/mL", "g/L", 1, 0),
    scaled("ug/L", "g/L", 1, -6),
    scaled("ug/dL", "g/L", 1, -5),
    scaled("ug/mL", "g/L", 1, -3),
    scaled("ng/L", "g/L", 1, -9),
    scaled("ng/dL", "g/L", 1, -8),
    scaled("ng/mL", "g/L", 1, -6),
    scaled("pg/mL", "g/L", 1, -9),
    scaled("mol/L", "mol/L", 1, 0),
    scaled("mmol/L", "mol/L", 1, -3),
    scaled("umol/L", "mol/L", 1, -6),
    scaled("nmol/L", "mol/L", 1, -9),
    scaled("pmol/L", "mol/L", 1, -12),
    scaled("mol", "mol", 1, 0),
    scaled("mmol", "mol", 1, -3),
    scaled("umol", "mol", 1, -6),
    scaled("nmol", "mol", 1, -9),
    scaled("/L", "/L", 1, 0),
    scaled("/mL", "/L", 1, 3),
    scaled("/uL", "/L", 1, 6),
    scaled("/mm3", "/L", 1, 6),
    scaled("/nL", "/L", 1, 9),
    scaled("10*3/L", "/L", 1, 3),
    scaled("10*6/L", "/L", 1, 6),
    scaled("10*9/L", "/L", 1, 9),
    scaled("10*12/L", "/L", 1, 12),
    scaled("10*3/mL", "/L", 1, 6),
    scaled("10*6/mL", "/L", 1, 9),
    scaled("10*3/uL", "/L", 1, 9),
    scaled("10*6/uL", "/L", 1, 12),
    scaled("/min", "/min", 1, 0),
    scaled("/s", "/min", 60, 0),
    divided("/h", "/min", 60),
    divided("/d", "/min", 1440),
    scaled("1", "1", 1, 0),
    scaled("%", "1", 1, -2),
    scaled("[ppth]", "1", 1, -3),
    scaled("[ppm]", "1", 1, -6),
    scaled("U/L", "U/L", 1, 0),
    scaled("U/mL", "U/L", 1, 3),
    scaled("kU/L", "U/L", 1, 3),
    scaled("mU/L", "U/L", 1, -3),
    scaled("mU/mL", "U/L", 1, 0),
    scaled("[IU]/L", "[IU]/L", 1, 0),
    scaled("[IU]/mL", "[IU]/L", 1, 3),
    scaled("m[IU]/L", "[IU]/L", 1, -3),
];

/// The code as UCUM reads it (see the module documentation), or `None` for
/// an empty code or unbalanced braces.
fn read_code(code: &str) -> Option<String> {
    if code.is_empty() {
        return None;
    }
    let mut plain = String::with_capacity(code.len());
    let mut in_annotation = false;
    for c in code.chars() {
        match (c, in_annotation) {
            ('{', false) => in_annotation = true,
            ('}', true) => in_annotation = false,
            ('{' | '}', _) => return None,
            (_, true) => {}
            (c, false) => plain.push(c),
        }
    }
    if in_annotation {
        return None;
    }
    if plain.is_empty() {
        return Some("1".to_string());
    }
    let plain = plain.replace("10^", "10*").replace("[iU]", "[IU]");
    let parts: Vec<String> = plain
        .split('/')
        .map(|part| match part {
            "l" | "dl" | "cl" | "ml" | "ul" | "nl" | "fl" => {
                format!("{}L", &part[..part.len() - 1])
            }
            other => other.to_string(),
        })
        .collect();
    Some(parts.join("/"))
}

fn lookup(code: &str) -> Option<&'static Unit> {
    let code = read_code(code)?;
    UNITS.iter().find(|u| u.code == code)
}

/// The canonical unit of a listed UCUM code, or `None` if it is not listed.
pub fn canonical_unit(unit_code: &str) -> Option<&'static str> {
    lookup(unit_code).map(|u| u.canonical)
}

/// `value unit_code` in its canonical unit, or `None` if the code is not
/// listed (or the result leaves the decimal range).
pub fn canonical(value: &Decimal, unit_code: &str) -> Option<(Decimal, &'static str)> {
    let unit = lookup(unit_code)?;
    let shifted = value.checked_add(Decimal::new(unit.offset.0, unit.offset.1)?)?;
    let scaled = shifted.checked_mul(Decimal::new(unit.factor.0, unit.factor.1)?)?;
    let converted = if unit.divisor == 1 {
        scaled
    } else {
        scaled.div_int(unit.divisor)?
    };
    Some((converted, unit.canonical))
}

/// The condition of a quantity search on stored canonical `(lo, hi)`
/// columns: [`number_condition`] in the search value's unit, with every
/// constant converted to the canonical unit (conversions are increasing, so
/// the condition keeps its meaning). `None` if the code is not listed.
pub fn canonical_condition(
    prefix: Prefix,
    search: &NumRange,
    unit_code: &str,
) -> Option<(Condition<Decimal>, &'static str)> {
    let unit = canonical_unit(unit_code)?;
    let condition =
        number_condition(prefix, search).try_map(|v| canonical(&v, unit_code).map(|(c, _)| c))?;
    Some((condition, unit))
}

/// Every listed code with its canonical unit, in the order of the table above.
pub fn units() -> impl Iterator<Item = (&'static str, &'static str)> {
    UNITS.iter().map(|u| (u.code, u.canonical))
}

#[cfg(test)]
mod tests {
    use super::super::test_rng::{ALPHABET, Rng};
    use super::*;

    fn d(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    fn conv(value: &str, unit: &str) -> (String, &'static str) {
        let (v, u) = canonical(&d(value), unit).unwrap_or_else(|| panic!("{value} {unit}"));
        (v.to_string(), u)
    }

    #[test]
    fn exact_factors() {
        assert_eq!(conv("1", "[lb_av]"), ("453.59237".into(), "g"));
        assert_eq!(conv("16", "[oz_av]"), ("453.59237".into(), "g"));
        assert_eq!(conv("2.5", "kg"), ("2500".into(), "g"));
        assert_eq!(conv("450", "mL"), ("0.45".into(), "L"));
        assert_eq!(conv("1", "[gal_us]"), ("3.785411784".into(), "L"));
        assert_eq!(conv("128", "[foz_us]"), ("3.785411784".into(), "L"));
        assert_eq!(conv("12", "[in_i]"), ("0.3048".into(), "m"));
        assert_eq!(conv("1", "[mi_i]"), ("1609.344".into(), "m"));
        assert_eq!(conv("12", "mo"), ("31557600".into(), "s"));
        assert_eq!(conv("1", "a"), conv("365.25", "d"));
        assert_eq!(conv("120", "mm[Hg]"), ("15998.64".into(), "Pa"));
        assert_eq!(conv("14.2", "g/dL"), ("142".into(), "g/L"));
        assert_eq!(conv("100", "mg/dL"), ("1".into(), "g/L"));
        assert_eq!(conv("5.5", "mmol/L"), ("0.0055".into(), "mol/L"));
        assert_eq!(conv("250", "10*9/L"), conv("250", "10*3/uL"));
        assert_eq!(conv("45", "%"), ("0.45".into(), "1"));
        assert_eq!(conv("1.2", "/s"), ("72".into(), "/min"));
    }

    #[test]
    fn temperatures_are_affine() {
        assert_eq!(conv("37", "Cel"), ("310.15".into(), "K"));
        assert_eq!(conv("-273.15", "Cel"), ("0".into(), "K"));
        assert_eq!(conv("32", "[degF]"), ("273.15".into(), "K"));
        assert_eq!(conv("212", "[degF]"), ("373.15".into(), "K"));
        assert_eq!(conv("98.6", "[degF]"), conv("37", "Cel"));
        let (v, _) = canonical(&d("100"), "[degF]").unwrap();
        assert!((v.to_f64() - 310.927_777_777_777_8).abs() < 1e-9);
        assert_eq!(conv("300", "K"), ("300".into(), "K"));
    }

    #[test]
    fn divisions_round_only_where_listed() {
        assert_eq!(conv("4320", "/h"), ("72".into(), "/min"));
        assert_eq!(conv("1440", "/d"), ("1".into(), "/min"));
        let (v, _) = canonical(&d("100"), "/h").unwrap();
        assert_eq!(v.to_string(), format!("1.{}7", "6".repeat(34)));
        // Monotonic even where rounded.
        let a = canonical(&d("100"), "/h").unwrap().0;
        let b = canonical(&d("100.0000000001"), "/h").unwrap().0;
        assert!(a < b);
    }

    #[test]
    fn codes_are_read_as_ucum_reads_them() {
        assert_eq!(canonical_unit("{beats}/min"), Some("/min"));
        assert_eq!(canonical_unit("{cells}/uL"), Some("/L"));
        assert_eq!(canonical_unit("{score}"), Some("1"));
        assert_eq!(canonical_unit("mg{total}/dl"), Some("g/L"));
        assert_eq!(canonical_unit("ml"), Some("L"));
        assert_eq!(canonical_unit("10^9/L"), Some("/L"));
        assert_eq!(canonical_unit("[iU]/mL"), Some("[IU]/L"));
        assert_eq!(canonical_unit("MG"), None);
        assert_eq!(canonical_unit("mmol/mol"), None);
        assert_eq!(canonical_unit("{beats/min"), None);
        assert_eq!(canonical_unit("beats}/min"), None);
        assert_eq!(canonical_unit(""), None);
        assert_eq!(canonical_unit("°C"), None);
    }

    #[test]
    fn canonical_condition_compares_across_units() {
        let search = |text: &str| super::super::number::decimal_range(text).unwrap();
        let stored = |value: &str, unit: &str| canonical(&d(value), unit).unwrap().0;
        let matches = |p: Prefix, s: &str, unit: &str, v: &str, vu: &str| {
            let (c, canon) = canonical_condition(p, &search(s), unit).unwrap();
            assert_eq!(Some(canon), canonical_unit(vu));
            let x = stored(v, vu);
            c.matches(&x, &x)
        };
        // 5.4 mg is [5.35, 5.45) mg, that is [0.00535, 0.00545) g.
        assert!(matches(Prefix::Eq, "5.4", "mg", "0.0054", "g"));
        assert!(matches(Prefix::Eq, "5.4", "mg", "5449.99", "ug"));
        assert!(!matches(Prefix::Eq, "5.4", "mg", "5450", "ug"));
        assert!(matches(Prefix::Gt, "37", "Cel", "98.7", "[degF]"));
        assert!(!matches(Prefix::Gt, "37", "Cel", "98.6", "[degF]"));
        assert!(matches(Prefix::Ge, "37", "Cel", "98.6", "[degF]"));
        assert!(matches(Prefix::Ap, "120", "mm[Hg]", "17.5", "kPa"));
        assert!(!matches(Prefix::Ap, "120", "mm[Hg]", "17.7", "kPa"));
        assert!(matches(Prefix::Lt, "72", "/min", "1.19", "/s"));
        assert_eq!(
            canonical_condition(Prefix::Eq, &search("1"), "furlong"),
            None
        );
    }

    #[test]
    fn table_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for (code, canonical_code) in units() {
            assert!(seen.insert(code), "{code} twice");
            // Every canonical unit is itself listed with the identity conversion.
            assert_eq!(
                conv("7.25", canonical_code),
                ("7.25".into(), canonical_code)
            );
            // Every code converts, and keeps order.
            let low = canonical(&d("1"), code).unwrap().0;
            let high = canonical(&d("2"), code).unwrap().0;
            assert!(low < high, "{code}");
        }
        assert!(seen.len() > 100);
    }

    #[test]
    fn never_panics_on_mutated_codes() {
        let mut rng = Rng::new(17);
        let seeds = ["{beats}/min", "mm[Hg]", "10*9/L", "[degF]", "mg/dl"];
        let value = d("-12345678901234567890.123456789");
        for _ in 0..20_000 {
            let seed = *rng.pick(&seeds);
            let code = rng.mutate(seed, ALPHABET);
            if let Some((v, unit)) = canonical(&value, &code) {
                assert_eq!(canonical_unit(&code), Some(unit));
                assert!(v.to_f64().is_finite());
            }
        }
    }
}
