//! FHIR R4: the type model derived from the vendored definitions, and everything
//! that reads, checks and writes resources.

pub mod model;

pub mod calendar;
pub mod error;
pub mod instant;
pub mod json;
pub mod outcome;
pub mod patch;
pub mod rest;
pub mod sample;
pub mod summary;
#[cfg(test)]
pub(crate) mod testdata;
pub mod validate;
pub mod xml;
