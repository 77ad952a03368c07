//! The people and places: shared Practitioners and Organizations, and Patients
//! with names, identifiers, telecom and address drawn from one country each.

use super::parts::{FIRST_BIRTH_DAY, LAST_BIRTH_DAY, ascii, date, hl7_concept, reference};
use super::rng::Rng;
use super::vocab::{BLOOD_GROUPS, LOCALES, Locale, ORGANIZATION_KINDS};
use super::{
    MRN_SYSTEM, NATIONAL_ID_SYSTEM, PatientFacts, Plan, mrn, organization_id, patient_id,
    practitioner_id,
};
use serde_json::{Value, json};

/// The system of practitioner identifiers.
const PRACTITIONER_SYSTEM: &str = "http://hemolink.example.org/sid/practitioner";
/// The system of organization identifiers.
const ORGANIZATION_SYSTEM: &str = "http://hemolink.example.org/sid/organization";

/// A postal code of a pattern: each `#` becomes a random digit.
fn postal_code(rng: &mut Rng, pattern: &str) -> String {
    pattern
        .chars()
        .map(|c| {
            if c == '#' {
                char::from(b'0' + rng.range(0, 9) as u8)
            } else {
                c
            }
        })
        .collect()
}

/// A telephone number of the country: `+47 412 345 678`.
fn phone(rng: &mut Rng, locale: &Locale) -> String {
    format!(
        "{} {} {:03} {:03}",
        locale.phone,
        rng.range(200, 999),
        rng.range(0, 999),
        rng.range(0, 999)
    )
}

/// A street address, city, postal code and country.
fn address(rng: &mut Rng, locale: &Locale) -> (Value, &'static str, String) {
    let (city, pattern) = *rng.pick(locale.cities);
    let postal = postal_code(rng, pattern);
    let line = format!("{} {}", rng.pick(locale.streets), rng.range(1, 180));
    let value = json!({
        "use": "home",
        "type": "both",
        "line": [line],
        "city": city,
        "postalCode": postal,
        "country": locale.country,
    });
    (value, city, postal)
}

/// A gender and given names that go with it.
fn gender_and_given(rng: &mut Rng, locale: &Locale) -> (&'static str, Vec<&'static str>) {
    let gender = *rng.weighted(&[(49, "female"), (49, "male"), (1, "other"), (1, "unknown")]);
    let names = match gender {
        "female" => locale.female,
        "male" => locale.male,
        _ => *rng.pick(&[locale.female, locale.male]),
    };
    let mut given = vec![*rng.pick(names)];
    if rng.percent(30) {
        let second = *rng.pick(names);
        if second != given[0] {
            given.push(second);
        }
    }
    (gender, given)
}

/// Practitioner `k`: a doctor with an identifier, name and work telephone.
pub fn practitioner(rng: &mut Rng, k: u64) -> Value {
    let locale = rng.pick(LOCALES);
    let (gender, given) = gender_and_given(rng, locale);
    json!({
        "resourceType": "Practitioner",
        "id": practitioner_id(k),
        "identifier": [{"system": PRACTITIONER_SYSTEM, "value": format!("P{k:06}")}],
        "active": true,
        "name": [{"use": "official", "family": rng.pick(locale.family), "given": given, "prefix": ["Dr."]}],
        "telecom": [{"system": "phone", "value": phone(rng, locale), "use": "work"}],
        "gender": gender,
    })
}

/// Organization `k`: a hospital or blood centre in a city.
pub fn organization(rng: &mut Rng, k: u64) -> Value {
    let locale = rng.pick(LOCALES);
    let (mut address, city, _) = address(rng, locale);
    address["use"] = json!("work");
    json!({
        "resourceType": "Organization",
        "id": organization_id(k),
        "identifier": [{"system": ORGANIZATION_SYSTEM, "value": format!("O{k:06}")}],
        "active": true,
        "type": [hl7_concept("organization-type", ("prov", "Healthcare Provider"))],
        "name": format!("{city} {}", rng.pick(ORGANIZATION_KINDS)),
        "telecom": [{"system": "phone", "value": phone(rng, locale), "use": "work"}],
        "address": [address],
    })
}

/// An identifier of a v2-0203 type.
fn identifier(use_: &str, type_code: (&str, &str), system: &str, value: &str) -> Value {
    json!({
        "use": use_,
        "type": hl7_concept("v2-0203", type_code),
        "system": system,
        "value": value,
    })
}

/// The national id of patient `n`: nine digits, a bijection of `n` (below 10⁹),
/// so unique.
fn national_id(n: u64) -> String {
    format!("{:09}", (n * 387_420_489 + 123_456_789) % 1_000_000_000)
}

/// Patient `n` of the plan, and what is known about it.
pub fn patient(rng: &mut Rng, plan: &Plan, n: u64) -> (Value, PatientFacts) {
    let id = patient_id(n);
    let locale = rng.pick(LOCALES);
    let (gender, given) = gender_and_given(rng, locale);
    let family = *rng.pick(locale.family);
    let birth_date = date(rng.range(FIRST_BIRTH_DAY, LAST_BIRTH_DAY));
    let (address, city, postal_code) = address(rng, locale);
    let user = format!("{}.{}", ascii(given[0]), ascii(family));
    let user = if user == "." {
        "patient"
    } else {
        user.as_str()
    };
    let email = format!("{user}.{n}@example.org");
    let general_practitioner = practitioner_id(rng.range(1, plan.practitioners() as i64) as u64);
    let organization = organization_id(rng.range(1, plan.organizations() as i64) as u64);
    let blood_group = *rng.weighted(BLOOD_GROUPS);
    let (mrn, national_id) = (mrn(n), national_id(n));
    let resource = json!({
        "resourceType": "Patient",
        "id": id,
        "identifier": [
            identifier("usual", ("MR", "Medical record number"), MRN_SYSTEM, &mrn),
            identifier("official", ("NI", "National unique individual identifier"), NATIONAL_ID_SYSTEM, &national_id),
        ],
        "active": true,
        "name": [{"use": "official", "family": family, "given": given}],
        "telecom": [
            {"system": "phone", "value": phone(rng, locale), "use": "mobile"},
            {"system": "email", "value": email, "use": "home"},
        ],
        "gender": gender,
        "birthDate": birth_date,
        "address": [address],
        "communication": [{
            "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": locale.language}]},
            "preferred": true,
        }],
        "generalPractitioner": [reference("Practitioner", &general_practitioner)],
        "managingOrganization": reference("Organization", &organization),
    });
    let facts = PatientFacts {
        id,
        mrn,
        national_id,
        family,
        given,
        gender,
        birth_date,
        email,
        city,
        postal_code,
        country: locale.country,
        general_practitioner,
        organization,
        blood_group,
        conditions: Vec::new(),
    };
    (resource, facts)
}
