//! HL7 v2 data types read into FHIR data types, following the data type maps
//! of the v2-to-FHIR implementation guide: CX and EI → Identifier, XPN →
//! HumanName, XAD → Address, XTN → ContactPoint, CWE/CE/CNE → CodeableConcept,
//! DT/DTM → date, dateTime and instant, NM with units → Quantity.
//!
//! A [`Seg`] is one segment of a message with its occurrence number, so that
//! every value that cannot be read becomes a [`Problem`] naming the segment,
//! its occurrence and the field, as an ERR segment reports it.

use crate::hl7::ack::{Condition, Problem};
use crate::hl7::message::{Message, Segment};
use serde_json::{Map, Value, json};

/// A segment of a message, located: `PID[1]`.
#[derive(Clone, Copy)]
pub struct Seg<'a> {
    pub m: &'a Message,
    pub s: &'a Segment,
    /// Which occurrence of this segment id in the message, from 1.
    pub seq: usize,
}

impl<'a> Seg<'a> {
    /// Every segment of the message, located.
    pub fn all(m: &'a Message) -> Vec<Seg<'a>> {
        let mut seen: Vec<(&str, usize)> = Vec::new();
        m.segments
            .iter()
            .map(|s| {
                let seq = match seen.iter_mut().find(|(id, _)| *id == s.id) {
                    Some((_, n)) => {
                        *n += 1;
                        *n
                    }
                    None => {
                        seen.push((&s.id, 1));
                        1
                    }
                };
                Seg { m, s, seq }
            })
            .collect()
    }

    pub fn id(&self) -> &str {
        &self.s.id
    }

    /// The decoded, trimmed value of field `n`, repetition `rep`, component
    /// `c` and subcomponent `sub` (0 for the whole). The explicit null `""`
    /// reads as empty: there is nothing to map.
    pub fn at(&self, n: usize, rep: usize, c: usize, sub: usize) -> String {
        self.rep(n, rep).at(c, sub)
    }

    /// Component `c` of field `n`'s first repetition (0: the whole field).
    pub fn get(&self, n: usize, c: usize) -> String {
        self.at(n, 0, c, 0)
    }

    /// A problem at field `n` of this segment.
    pub fn problem(&self, condition: Condition, n: usize, text: impl Into<String>) -> Problem {
        Problem::at(condition, &self.s.id, self.seq, n, text)
    }

    /// A data type error at field `n`.
    pub fn bad(&self, n: usize, text: impl Into<String>) -> Problem {
        self.problem(Condition::DataType, n, text)
    }

    /// The error for a required field that is empty.
    pub fn missing(&self, n: usize, what: &str) -> Problem {
        self.problem(
            Condition::RequiredFieldMissing,
            n,
            format!("{}-{n} ({what}) is empty", self.s.id),
        )
    }

    /// Field `n` as a date and time, or `None` when empty.
    pub fn time(&self, n: usize, c: usize) -> Result<Option<Time>, Problem> {
        let text = self.get(n, c);
        if text.is_empty() {
            return Ok(None);
        }
        Time::parse(&text).map(Some).map_err(|why| {
            self.bad(
                n,
                format!("{}-{n} '{text}' is not a valid date/time: {why}", self.s.id),
            )
        })
    }

    /// Every repetition of a coded field.
    pub fn codes(&self, n: usize) -> Vec<Value> {
        self.each(n).iter().filter_map(Rep::code).collect()
    }

    /// The repetitions of field `n` that are not empty.
    pub fn each(&self, n: usize) -> Vec<Rep<'a>> {
        if self.s.raw(n).is_empty() {
            return Vec::new();
        }
        self.s
            .repetitions(self.m, n)
            .filter(|raw| !raw.is_empty())
            .map(|raw| Rep { m: self.m, raw })
            .collect()
    }

    /// Repetition `rep` of field `n`.
    pub fn rep(&self, n: usize, rep: usize) -> Rep<'a> {
        let raw = self.s.repetitions(self.m, n).nth(rep).unwrap_or("");
        Rep { m: self.m, raw }
    }

    /// [`Rep::cx`] of repetition `rep` of field `n`.
    pub fn cx(&self, n: usize, rep: usize) -> Option<Id> {
        self.rep(n, rep).cx()
    }

    /// [`Rep::ei`] of repetition `rep` of field `n`.
    pub fn ei(&self, n: usize, rep: usize) -> Option<Id> {
        self.rep(n, rep).ei()
    }

    /// [`Rep::code`] of repetition `rep` of field `n`.
    pub fn code(&self, n: usize, rep: usize) -> Option<Value> {
        self.rep(n, rep).code()
    }

    /// [`Rep::name`] of repetition `rep` of field `n`.
    pub fn name(&self, n: usize, rep: usize) -> Option<Value> {
        self.rep(n, rep).name()
    }

    /// [`Rep::person`] of repetition `rep` of field `n`.
    pub fn person(&self, n: usize, rep: usize) -> Option<Value> {
        self.rep(n, rep).person()
    }

    /// [`Rep::address`] of repetition `rep` of field `n`.
    pub fn address(&self, n: usize, rep: usize) -> Option<Value> {
        self.rep(n, rep).address()
    }

    /// [`Rep::telecom`] of repetition `rep` of field `n`.
    pub fn telecom(&self, n: usize, rep: usize) -> Option<Value> {
        self.rep(n, rep).telecom()
    }

    /// A number at field `n` (component `c`), or `None` when empty.
    pub fn number(&self, n: usize, c: usize) -> Result<Option<Value>, Problem> {
        let text = self.get(n, c);
        if text.is_empty() {
            return Ok(None);
        }
        decimal(&text)
            .map(Some)
            .ok_or_else(|| self.bad(n, format!("{}-{n} '{text}' is not a number", self.s.id)))
    }
}

/// One repetition of a field, as written, read as a data type.
#[derive(Clone, Copy)]
pub struct Rep<'a> {
    m: &'a Message,
    raw: &'a str,
}

impl Rep<'_> {
    /// The decoded, trimmed component `c` and subcomponent `sub` (0 for the
    /// whole); the explicit null `""` reads as empty.
    pub fn at(&self, c: usize, sub: usize) -> String {
        let v = self.m.decode_part(self.raw, c, sub);
        match v.trim() {
            "\"\"" => String::new(),
            t => t.to_string(),
        }
    }
    /// An extended composite id (CX) at field `n`, repetition `rep`.
    pub fn cx(&self) -> Option<Id> {
        let value = self.at(1, 0);
        if value.is_empty() {
            return None;
        }
        Some(Id {
            value,
            namespace: self.at(4, 1),
            universal: self.at(4, 2),
            universal_type: self.at(4, 3),
            type_code: self.at(5, 0),
        })
    }
    /// An entity identifier (EI) at field `n` (components from `c`, for an
    /// EI that is itself a component, as in CX or EIP).
    pub fn ei(&self) -> Option<Id> {
        let value = self.at(1, 0);
        if value.is_empty() {
            return None;
        }
        Some(Id {
            value,
            namespace: self.at(2, 0),
            universal: self.at(3, 0),
            universal_type: self.at(4, 0),
            type_code: String::new(),
        })
    }
    /// A coded element (CWE, CE, CNE) at field `n`, repetition `rep`.
    pub fn code(&self) -> Option<Value> {
        let part = |c| self.at(c, 0);
        let mut codings = Vec::new();
        for first in [1, 4] {
            let (code, display, system) = (part(first), part(first + 1), part(first + 2));
            if code.is_empty() {
                continue;
            }
            let mut coding = Map::new();
            if let Some(uri) = system_uri(&system) {
                coding.insert("system".into(), uri.into());
            }
            coding.insert("code".into(), code.into());
            if !display.is_empty() {
                coding.insert("display".into(), display.into());
            }
            codings.push(Value::Object(coding));
        }
        let text = [part(9), part(2)]
            .into_iter()
            .find(|t| !t.is_empty())
            .unwrap_or_default();
        if codings.is_empty() && text.is_empty() {
            return None;
        }
        let mut concept = Map::new();
        if !codings.is_empty() {
            concept.insert("coding".into(), Value::Array(codings));
        }
        if !text.is_empty() {
            concept.insert("text".into(), text.into());
        }
        Some(Value::Object(concept))
    }
    /// A person's name (XPN) at field `n`, repetition `rep`.
    pub fn name(&self) -> Option<Value> {
        let part = |c| self.at(c, 0);
        let mut name = Map::new();
        if let Some(u) = match part(7).as_str() {
            "L" => Some("official"),
            "D" => Some("usual"),
            "M" => Some("maiden"),
            "N" => Some("nickname"),
            "A" | "S" => Some("anonymous"),
            "C" => Some("old"),
            _ => None,
        } {
            name.insert("use".into(), u.into());
        }
        let family = self.at(1, 1);
        if !family.is_empty() {
            name.insert("family".into(), family.into());
        }
        let given: Vec<Value> = [part(2), part(3)]
            .into_iter()
            .filter(|g| !g.is_empty())
            .map(Value::from)
            .collect();
        if !given.is_empty() {
            name.insert("given".into(), Value::Array(given));
        }
        for (c, key) in [(5, "prefix"), (4, "suffix")] {
            let v = part(c);
            if !v.is_empty() {
                name.insert(key.into(), json!([v]));
            }
        }
        (name.contains_key("family") || name.contains_key("given")).then_some(Value::Object(name))
    }
    /// A person's name (XCN: the id first, then the name) as a display text.
    pub fn person(&self) -> Option<Value> {
        let part = |c| self.at(c, 0);
        let id = part(1);
        let family = self.at(2, 1);
        let shown: Vec<String> = [part(6), part(3), family, part(5)]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        if id.is_empty() && shown.is_empty() {
            return None;
        }
        let mut reference = Map::new();
        if !id.is_empty() {
            let mut identifier = Map::new();
            identifier.insert("value".into(), id.into());
            let authority = part(9);
            if !authority.is_empty() {
                identifier.insert("assigner".into(), json!({ "display": authority }));
            }
            reference.insert("identifier".into(), Value::Object(identifier));
        }
        if !shown.is_empty() {
            reference.insert("display".into(), shown.join(" ").into());
        }
        Some(Value::Object(reference))
    }
    /// An address (XAD) at field `n`, repetition `rep`.
    pub fn address(&self) -> Option<Value> {
        let part = |c| self.at(c, 0);
        let mut address = Map::new();
        match part(7).as_str() {
            "H" | "P" => {
                address.insert("use".into(), "home".into());
            }
            "B" | "O" => {
                address.insert("use".into(), "work".into());
            }
            "C" => {
                address.insert("use".into(), "temp".into());
            }
            "BA" => {
                address.insert("use".into(), "old".into());
            }
            "M" => {
                address.insert("type".into(), "postal".into());
            }
            _ => {}
        }
        let lines: Vec<Value> = [self.at(1, 1), part(2)]
            .into_iter()
            .filter(|l| !l.is_empty())
            .map(Value::from)
            .collect();
        if !lines.is_empty() {
            address.insert("line".into(), Value::Array(lines));
        }
        for (c, key) in [(3, "city"), (4, "state"), (5, "postalCode"), (6, "country")] {
            let v = part(c);
            if !v.is_empty() {
                address.insert(key.into(), v.into());
            }
        }
        let filled = address.keys().any(|k| k != "use" && k != "type");
        filled.then_some(Value::Object(address))
    }
    /// A telecommunication number (XTN) at field `n`, repetition `rep`.
    pub fn telecom(&self) -> Option<Value> {
        let part = |c| self.at(c, 0);
        let equipment = part(3);
        let email = part(4);
        let (system, value) =
            if !email.is_empty() || equipment == "Internet" || equipment == "X.400" {
                ("email", if email.is_empty() { part(1) } else { email })
            } else {
                let number = [part(5), part(6), part(7)]
                    .into_iter()
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                let mut value = if number.is_empty() { part(1) } else { number };
                let extension = part(8);
                if !extension.is_empty() {
                    value = format!("{value} ext. {extension}");
                }
                let system = match equipment.as_str() {
                    "FX" => "fax",
                    "BP" => "pager",
                    _ => "phone",
                };
                (system, value)
            };
        if value.is_empty() {
            return None;
        }
        let mut point = Map::new();
        point.insert("system".into(), system.into());
        point.insert("value".into(), value.into());
        let purpose = part(2);
        if let Some(u) = match (purpose.as_str(), equipment.as_str()) {
            (_, "CP") => Some("mobile"),
            ("PRN" | "ORN" | "VHN", _) => Some("home"),
            ("WPN", _) => Some("work"),
            ("EMR" | "ASN" | "BPN" | "NET", _) => None,
            _ => None,
        } {
            point.insert("use".into(), u.into());
        }
        Some(Value::Object(point))
    }
}

/// An identifier as v2 writes it (CX or EI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id {
    pub value: String,
    /// The assigning authority's namespace id (HD-1).
    pub namespace: String,
    /// Its universal id (HD-2) and that id's type (HD-3).
    pub universal: String,
    pub universal_type: String,
    /// The identifier type code (table 0203).
    pub type_code: String,
}

impl Id {
    /// The key that names what this identifier identifies, for an id.
    pub fn key(&self) -> String {
        format!("{}|{}|{}", self.namespace, self.universal, self.value)
    }

    /// The FHIR Identifier: `system` from the universal id (an OID or a URI),
    /// the namespace as the assigner's name, the type from table 0203.
    pub fn identifier(&self) -> Value {
        let mut identifier = Map::new();
        if !self.type_code.is_empty() {
            identifier.insert(
                "type".into(),
                json!({ "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                    "code": self.type_code,
                }]}),
            );
        }
        if let Some(system) = universal_uri(&self.universal, &self.universal_type) {
            identifier.insert("system".into(), system.into());
        }
        identifier.insert("value".into(), self.value.clone().into());
        if !self.namespace.is_empty() {
            identifier.insert("assigner".into(), json!({ "display": self.namespace }));
        }
        Value::Object(identifier)
    }
}

/// A universal id (HD-2 with its type HD-3) as a URI.
fn universal_uri(id: &str, kind: &str) -> Option<String> {
    if id.is_empty() {
        return None;
    }
    match kind {
        "ISO" if id.chars().all(|c| c.is_ascii_digit() || c == '.') => {
            Some(format!("urn:oid:{id}"))
        }
        "UUID" => Some(format!("urn:uuid:{}", id.to_ascii_lowercase())),
        "URI" => Some(id.to_string()),
        _ => None,
    }
}

/// The FHIR code system of a v2 coding system name (table 0396).
pub fn system_uri(name: &str) -> Option<String> {
    let uri = match name {
        "" => return None,
        "LN" => "http://loinc.org",
        "SCT" | "SNM" => "http://snomed.info/sct",
        "UCUM" => "http://unitsofmeasure.org",
        "I10" => "http://hl7.org/fhir/sid/icd-10",
        "I10C" => "http://hl7.org/fhir/sid/icd-10-cm",
        "I9C" => "http://hl7.org/fhir/sid/icd-9-cm",
        "MDC" => "urn:iso:std:iso:11073:10101",
        "ISBT128" | "IBT" => ISBT128,
        "CVX" => "http://hl7.org/fhir/sid/cvx",
        "RXNORM" => "http://www.nlm.nih.gov/research/umls/rxnorm",
        other => {
            if let Some(table) = other.strip_prefix("HL7")
                && table.len() == 4
                && table.bytes().all(|b| b.is_ascii_digit())
            {
                return Some(format!("http://terminology.hl7.org/CodeSystem/v2-{table}"));
            }
            return None;
        }
    };
    Some(uri.to_string())
}

/// ISBT 128 (ICCBBA), by its OID in the HL7 registry.
pub const ISBT128: &str = "urn:oid:2.16.840.1.113883.6.18";

/// A JSON number from a v2 NM value (`+` and a leading `.` allowed), or
/// `None` when it is not one.
pub fn decimal(text: &str) -> Option<Value> {
    let t = text.strip_prefix('+').unwrap_or(text);
    let (sign, digits) = match t.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", t),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int)
        || !frac.is_none_or(all_digits)
        || (int.is_empty() && frac.is_none_or(str::is_empty))
    {
        return None;
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let text = match frac {
        Some(f) if !f.is_empty() => format!("{sign}{int}.{f}"),
        _ => format!("{sign}{int}"),
    };
    serde_json::from_str(&text).ok()
}

/// A Quantity from a number and a units CWE (UCUM when the units say so).
pub fn quantity(value: Value, units: Option<&Value>) -> Value {
    let mut q = Map::new();
    q.insert("value".into(), value);
    if let Some(coding) = units.and_then(|u| u["coding"].get(0)) {
        let code = coding["code"].as_str().unwrap_or_default();
        let shown = coding["display"].as_str().unwrap_or(code);
        q.insert("unit".into(), shown.into());
        if let Some(system) = coding.get("system") {
            q.insert("system".into(), system.clone());
            q.insert("code".into(), code.into());
        }
    } else if let Some(text) = units.and_then(|u| u["text"].as_str()) {
        q.insert("unit".into(), text.into());
    }
    Value::Object(q)
}

/// A v2 date and time (DT, DTM, TS component 1): `YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time {
    year: u32,
    month: Option<u32>,
    day: Option<u32>,
    hour: Option<u32>,
    minute: Option<u32>,
    second: Option<u32>,
    /// Fractional seconds, as digits and their count.
    fraction: Option<(u32, usize)>,
    /// The offset from UTC in minutes, when written.
    offset: Option<i32>,
}

impl Time {
    pub fn parse(text: &str) -> Result<Time, String> {
        let (main, offset) = match text.find(['+', '-']) {
            Some(i) => (&text[..i], Some(&text[i..])),
            None => (text, None),
        };
        let (digits, fraction) = match main.split_once('.') {
            Some((d, f)) => (d, Some(f)),
            None => (main, None),
        };
        if !digits.bytes().all(|b| b.is_ascii_digit())
            || ![4, 6, 8, 10, 12, 14].contains(&digits.len())
        {
            return Err("expected YYYY[MM[DD[HH[MM[SS]]]]]".into());
        }
        let num = |from: usize| -> Option<u32> { digits.get(from..from + 2)?.parse().ok() };
        let year: u32 = digits[..4].parse().map_err(|_| "bad year")?;
        let t = Time {
            year,
            month: num(4),
            day: num(6),
            hour: num(8),
            minute: num(10),
            second: num(12),
            fraction: match fraction {
                None => None,
                Some(f)
                    if digits.len() == 14
                        && (1..=4).contains(&f.len())
                        && f.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    Some((f.parse().map_err(|_| "bad fraction")?, f.len()))
                }
                Some(_) => return Err("fractional seconds need seconds and 1 to 4 digits".into()),
            },
            offset: match offset {
                None => None,
                Some(o) => {
                    let b = o.as_bytes();
                    if b.len() != 5 || !b[1..].iter().all(u8::is_ascii_digit) {
                        return Err("the offset must be +HHMM or -HHMM".into());
                    }
                    let h: i32 = o[1..3].parse().map_err(|_| "bad offset")?;
                    let m: i32 = o[3..5].parse().map_err(|_| "bad offset")?;
                    if h > 14 || m > 59 {
                        return Err("the offset is out of range".into());
                    }
                    let minutes = h * 60 + m;
                    Some(if b[0] == b'-' { -minutes } else { minutes })
                }
            },
        };
        if year == 0 {
            return Err("the year 0000 does not exist".into());
        }
        if let Some(m) = t.month
            && !(1..=12).contains(&m)
        {
            return Err(format!("month {m} does not exist"));
        }
        if let (Some(m), Some(d)) = (t.month, t.day) {
            let last = crate::fhir::calendar::days_in_month(year as i64, m as i64) as u32;
            if d == 0 || d > last {
                return Err(format!("day {d} does not exist in month {m}"));
            }
        }
        if t.hour.is_some_and(|h| h > 23)
            || t.minute.is_some_and(|m| m > 59)
            || t.second.is_some_and(|s| s > 59)
        {
            return Err("the time of day is out of range".into());
        }
        Ok(t)
    }

    /// Whether a time of day is given.
    pub fn has_time(&self) -> bool {
        self.hour.is_some()
    }

    /// The FHIR `date` (as precise as written, the time left out).
    pub fn date(&self) -> String {
        let mut out = format!("{:04}", self.year);
        if let Some(m) = self.month {
            out.push_str(&format!("-{m:02}"));
            if let Some(d) = self.day {
                out.push_str(&format!("-{d:02}"));
            }
        }
        out
    }

    /// The FHIR `dateTime`: with a time of day, the offset written or else
    /// `default` (minutes from UTC); FHIR requires one with a time.
    pub fn date_time(&self, default: i32) -> String {
        if !self.has_time() {
            return self.date();
        }
        self.with_time(default, false)
    }

    /// The FHIR `instant` (seconds filled in when not written).
    pub fn instant(&self, default: i32) -> Option<String> {
        self.has_time().then(|| self.with_time(default, true))
    }

    fn with_time(&self, default: i32, full: bool) -> String {
        let mut out = format!(
            "{}T{:02}:{:02}",
            self.date(),
            self.hour.unwrap_or(0),
            self.minute.unwrap_or(0)
        );
        if self.second.is_some() || full {
            out.push_str(&format!(":{:02}", self.second.unwrap_or(0)));
            if let Some((f, len)) = self.fraction {
                out.push_str(&format!(".{f:0len$}"));
            }
        } else {
            out.push_str(":00");
        }
        let offset = self.offset.unwrap_or(default);
        if offset == 0 {
            out.push('Z');
        } else {
            let sign = if offset < 0 { '-' } else { '+' };
            let o = offset.abs();
            out.push_str(&format!("{sign}{:02}:{:02}", o / 60, o % 60));
        }
        out
    }
}

/// A deterministic id for what `parts` name: 32 hexadecimal digits of two
/// FNV-1a hashes, so that the same message always maps to the same resources.
pub fn id(parts: &[&str]) -> String {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x6c62_272e_07bb_0142;
    for part in parts {
        for &byte in part.as_bytes().iter().chain(std::iter::once(&0x1f)) {
            a = (a ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3);
            b = (b ^ byte as u64)
                .wrapping_mul(0x0000_0100_0000_01b3)
                .rotate_left(5);
        }
    }
    format!("{a:016x}{b:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_checked_and_written_as_fhir_writes_them() {
        let t = Time::parse("20261203091500").unwrap();
        assert_eq!(t.date_time(60), "2026-12-03T09:15:00+01:00");
        assert_eq!(t.instant(0).unwrap(), "2026-12-03T09:15:00Z");
        assert_eq!(
            Time::parse("202612030915-0500").unwrap().date_time(0),
            "2026-12-03T09:15:00-05:00"
        );
        assert_eq!(
            Time::parse("20261203091512.25+0000")
                .unwrap()
                .instant(60)
                .unwrap(),
            "2026-12-03T09:15:12.25Z"
        );
        assert_eq!(Time::parse("198001").unwrap().date_time(0), "1980-01");
        assert_eq!(
            Time::parse("19810229").unwrap_err(),
            "day 29 does not exist in month 2"
        );
        assert!(Time::parse("20241301").unwrap_err().contains("month 13"));
        for bad in [
            "2024130",
            "20240101256000",
            "abcd",
            "2024-01-01",
            "20240101+1",
            "0000",
            "20240101.5",
        ] {
            assert!(Time::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numbers_are_read_as_v2_writes_them() {
        assert_eq!(decimal("14.2").unwrap().to_string(), "14.2");
        assert_eq!(decimal("+007").unwrap().to_string(), "7");
        assert_eq!(decimal("-.5").unwrap().to_string(), "-0.5");
        for bad in ["positive", "1e5", "", ".", "1.2.3", "- 1"] {
            assert!(decimal(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(
            id(&["Patient", "BLOODCTR", "D1"]),
            id(&["Patient", "BLOODCTR", "D1"])
        );
        assert_ne!(
            id(&["Patient", "BLOODCTR", "D1"]),
            id(&["Patient", "BLOODCTRD", "1"])
        );
        assert_eq!(id(&["x"]).len(), 32);
    }
}
