//! Value-level semantics of FHIR R4 search, independent of storage: how a
//! search value is split and read, what range of values it stands for, and
//! which stored values each comparison prefix selects, with every condition
//! also given in a form that maps onto SQL.
//!
//! - [`normalize`]: the case- and accent-insensitive key of `string` search,
//!   and the bounds of a prefix range scan.
//! - [`date`]: date, dateTime, instant and Period as ranges; date prefixes.
//! - [`decimal`]: exact decimals, read from text.
//! - [`number`]: implicit precision ranges; number (and quantity) prefixes.
//! - [`ucum`]: conversion of quantities to canonical units.
//! - [`prefix`]: the prefixes and the SQL-shaped [`prefix::Condition`].
//! - [`token`]: escaping, OR-splitting, and the token, quantity and
//!   reference value forms.
//! - [`phonetic`]: Soundex for `phonetic` parameters.
//! - [`geo`]: `near` for Location.

pub mod date;
pub mod decimal;
pub mod geo;
mod key_table;
pub mod normalize;
pub mod number;
pub mod phonetic;
pub mod prefix;
#[cfg(test)]
mod test_rng;
pub mod token;
pub mod ucum;
