//! `hemolink generate`: realistic synthetic FHIR R4 data written straight into
//! the store (not over HTTP), for the search benchmark.
//!
//! A [`Plan`] (a seed and a number of patients) fixes everything: shared
//! Practitioners and Organizations (one of each per [`PATIENTS_PER_SHARED`]
//! patients), then per patient a Patient, one to three Encounters, up to four
//! Conditions and twelve to eighteen Observations, about twenty resources in
//! all. Ids are deterministic (`gen-pat-000123`), every reference resolves, and
//! any one patient can be rebuilt from the plan alone ([`Plan::patient`]), so a
//! benchmark knows which ids, names, identifiers and codes to search for.
//!
//! The command must not run beside `hemolink serve` on the same data directory:
//! the store has no lock that would stop it, and two writers would interleave
//! their `meta.lastUpdated` clocks.

mod clinical;
mod load;
mod observations;
mod parts;
mod people;
mod rng;
mod vocab;

#[cfg(test)]
mod tests;

pub use load::{Counts, Generated, run};
pub use vocab::{
    ABO_RH, BLOOD_PRESSURE, BODY_TEMPERATURE, BODY_WEIGHT, CONDITIONS, DIASTOLIC, HAEMOGLOBIN,
    HEART_RATE, PLATELETS, RARE_CONDITION, SYSTOLIC,
};

use rng::Rng;
use serde_json::Value;

/// The seed used when `--seed` is not given.
pub const DEFAULT_SEED: u64 = 1;

/// One Practitioner and one Organization are shared by this many patients.
pub const PATIENTS_PER_SHARED: u64 = 100;

/// The system of the medical record numbers (`Patient.identifier`, type MR).
pub const MRN_SYSTEM: &str = "urn:oid:1.2.36.146.595.217.0.1";
/// The system of the national ids (`Patient.identifier`, type NI).
pub const NATIONAL_ID_SYSTEM: &str = "http://hemolink.example.org/sid/national-id";

/// Options of `hemolink generate`.
#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    /// Patients to generate, each with about twenty resources.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub patients: u64,
    /// Seed of the pseudo-random generator: the same seed gives the same data.
    #[arg(long, value_name = "S", default_value_t = DEFAULT_SEED)]
    pub seed: u64,
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub seed: u64,
    pub patients: u64,
}

/// What a benchmark may search for about one generated patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientFacts {
    /// `gen-pat-000123`.
    pub id: String,
    /// The medical record number, of system [`MRN_SYSTEM`].
    pub mrn: String,
    /// The national id, of system [`NATIONAL_ID_SYSTEM`].
    pub national_id: String,
    pub family: &'static str,
    pub given: Vec<&'static str>,
    /// `female`, `male`, `other` or `unknown`.
    pub gender: &'static str,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    pub email: String,
    pub city: &'static str,
    pub postal_code: String,
    /// ISO 3166 alpha-2.
    pub country: &'static str,
    /// Id of the Practitioner of `generalPractitioner`.
    pub general_practitioner: String,
    /// Id of the Organization of `managingOrganization`.
    pub organization: String,
    /// The ABO/Rh group, SNOMED CT (code, display): the value of the 882-1 Observation.
    pub blood_group: (&'static str, &'static str),
    /// SNOMED CT codes of the patient's Conditions.
    pub conditions: Vec<&'static str>,
}

/// One patient's resources (Patient first), which reference each other and the
/// shared Practitioners and Organizations.
#[derive(Debug, Clone)]
pub struct PatientSet {
    pub facts: PatientFacts,
    pub resources: Vec<Value>,
}

/// The kinds of random streams, so that each draws independently.
const STREAM_PATIENT: u64 = 1;
const STREAM_PRACTITIONER: u64 = 2;
const STREAM_ORGANIZATION: u64 = 3;

/// The id of patient `n` (from 1).
pub fn patient_id(n: u64) -> String {
    format!("gen-pat-{n:06}")
}

/// The id of practitioner `k` (from 1).
pub fn practitioner_id(k: u64) -> String {
    format!("gen-prac-{k:06}")
}

/// The id of organization `k` (from 1).
pub fn organization_id(k: u64) -> String {
    format!("gen-org-{k:06}")
}

/// The medical record number of patient `n`: unique, independent of the seed.
pub fn mrn(n: u64) -> String {
    format!("{}", 10_000_000 + n)
}

impl Plan {
    /// A plan of `patients` patients with the seed `seed`.
    pub fn new(seed: u64, patients: u64) -> Plan {
        Plan { seed, patients }
    }

    /// How many Practitioners are shared (at least one).
    pub fn practitioners(&self) -> u64 {
        self.patients.div_ceil(PATIENTS_PER_SHARED).max(1)
    }

    /// How many Organizations are shared (at least one).
    pub fn organizations(&self) -> u64 {
        self.practitioners()
    }

    /// Practitioner `k` (1 ≤ k ≤ [`Plan::practitioners`]).
    pub fn practitioner(&self, k: u64) -> Value {
        people::practitioner(&mut Rng::stream(self.seed, STREAM_PRACTITIONER, k), k)
    }

    /// Organization `k` (1 ≤ k ≤ [`Plan::organizations`]).
    pub fn organization(&self, k: u64) -> Value {
        people::organization(&mut Rng::stream(self.seed, STREAM_ORGANIZATION, k), k)
    }

    /// Every shared resource: the Practitioners, then the Organizations.
    pub fn shared(&self) -> impl Iterator<Item = Value> + '_ {
        let practitioners = (1..=self.practitioners()).map(|k| self.practitioner(k));
        practitioners.chain((1..=self.organizations()).map(|k| self.organization(k)))
    }

    /// Patient `n` (1 ≤ n ≤ `patients`) with its Encounters, Conditions and
    /// Observations.
    pub fn patient(&self, n: u64) -> PatientSet {
        let mut rng = Rng::stream(self.seed, STREAM_PATIENT, n);
        let (patient, mut facts) = people::patient(&mut rng, self, n);
        let mut resources = vec![patient];
        clinical::records(&mut rng, n, &mut facts, &mut resources);
        PatientSet { facts, resources }
    }
}
