//! FHIR search: the registry of search parameters, the extraction of index
//! entries at write time, the value semantics of each parameter type, the
//! parsing of a search request into a [`query::Search`], compartments, and
//! the filters that narrow a search to what an access token may see.
//! Backends execute a `Search` over the entries they stored.

pub mod compartment;
pub mod cursor;
pub mod entry;
pub mod extract;
pub mod filter;
pub mod parse;
pub mod query;
pub mod registry;
pub mod value;
