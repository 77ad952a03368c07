//! The FHIR building blocks the generator uses over and over: dates and times,
//! codings, references and quantities, as JSON.

use crate::fhir::instant::format_instant;
use serde_json::{Value, json};

/// The first instant of the five years that encounters and observations fall
/// in: 2021-11-01T00:00:00Z, in seconds since the Unix epoch. The window is
/// fixed (not "the last five years from now") so that a seed always gives the
/// same data.
pub const WINDOW_START: i64 = 1_635_724_800;
/// The end of the window (exclusive): 2026-11-01T00:00:00Z.
pub const WINDOW_END: i64 = 1_793_491_200;
/// The earliest birth date, 1930-01-01, in days since the Unix epoch.
pub const FIRST_BIRTH_DAY: i64 = -14_610;
/// The latest birth date, 2020-12-31 (before the window starts).
pub const LAST_BIRTH_DAY: i64 = 18_627;

/// A FHIR `date` of a day count since 1970-01-01.
pub fn date(day: i64) -> String {
    format_instant(day * 86_400_000_000)[..10].to_string()
}

/// A FHIR `dateTime` in UTC, to the second, of seconds since the Unix epoch.
pub fn date_time(seconds: i64) -> String {
    format!("{}Z", &format_instant(seconds * 1_000_000)[..19])
}

/// A `Coding`.
pub fn coding(system: &str, (code, display): (&str, &str)) -> Value {
    json!({"system": system, "code": code, "display": display})
}

/// A `CodeableConcept` of one coding, with the display as its text.
pub fn concept(system: &str, c: (&str, &str)) -> Value {
    json!({"coding": [coding(system, c)], "text": c.1})
}

/// A `CodeableConcept` of one coding of a terminology.hl7.org code system.
pub fn hl7_concept(code_system: &str, c: (&str, &str)) -> Value {
    json!({"coding": [coding(&format!("http://terminology.hl7.org/CodeSystem/{code_system}"), c)]})
}

/// A literal `Reference` to `type/id`.
pub fn reference(resource_type: &str, id: &str) -> Value {
    json!({"reference": format!("{resource_type}/{id}")})
}

/// A UCUM `Quantity`; `value` in tenths when `tenths` is set.
pub fn quantity(value: i64, tenths: bool, unit: &str, code: &str) -> Value {
    let number = if tenths {
        json!(value as f64 / 10.0)
    } else {
        json!(value)
    };
    json!({"value": number, "unit": unit, "system": super::vocab::UCUM, "code": code})
}

/// Lower-case ASCII letters of a name, for e-mail addresses: `Ñúñez` → `nunez`,
/// `Müller` → `mueller`; letters with no such spelling are left out.
pub fn ascii(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        let s = match c {
            'a'..='z' | '0'..='9' => {
                out.push(c);
                continue;
            }
            'á' | 'à' | 'â' | 'å' => "a",
            'ä' | 'æ' => "ae",
            'é' | 'è' | 'ê' | 'ë' => "e",
            'í' | 'ì' | 'î' | 'ï' => "i",
            'ó' | 'ò' | 'ô' => "o",
            'ö' | 'ø' => "oe",
            'ú' | 'ù' | 'û' => "u",
            'ü' => "ue",
            'ñ' | 'ń' => "n",
            'ç' | 'ć' => "c",
            'ł' => "l",
            'ś' => "s",
            'ż' | 'ź' => "z",
            'ß' => "ss",
            'ę' => "e",
            'ą' => "a",
            _ => "",
        };
        out.push_str(s);
    }
    out
}
