//! Index entries: the values a resource offers to search, one per value of each
//! search parameter, extracted at write time and stored in the same unit of work
//! as the resource.

/// One indexed value of one parameter of a resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The parameter's slot in the registry (a composite's component `i` uses
    /// the composite's slot plus `1 + i`).
    pub slot: usize,
    /// Which element a composite's components came from, so that components of
    /// different elements are never combined; 0 outside composites.
    pub group: u32,
    pub value: Value,
}

/// What kind of token row an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A code, with its system (`""` when it has none).
    Code = 0,
    /// Text for `:text`: `CodeableConcept.text` or `Coding.display`, normalized.
    Text = 1,
    /// An identifier with its type for `:of-type`: the system is `type-system|type-code`.
    OfType = 2,
}

/// What kind of quantity row an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityKind {
    /// The value in the unit it was written with.
    Stated = 0,
    /// The value converted to the canonical UCUM unit.
    Canonical = 1,
}

/// An indexed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `norm` is the case- and accent-insensitive key, `exact` the text as written.
    String {
        norm: String,
        exact: String,
    },
    Token {
        kind: TokenKind,
        system: String,
        code: String,
    },
    /// A range of instants in microseconds, both ends inclusive
    /// (`i64::MIN`/`i64::MAX` for an open end).
    Date {
        lo: i64,
        hi: i64,
    },
    /// A number: its value and the range its written precision implies.
    Number {
        value: f64,
        lo: f64,
        hi: f64,
    },
    Quantity {
        kind: QuantityKind,
        value: f64,
        lo: f64,
        hi: f64,
        system: String,
        code: String,
    },
    /// A reference to a resource of this server.
    Local {
        target_type: String,
        target_id: String,
    },
    /// A reference that is not to this server (absolute URL, canonical, `urn:`).
    Url(String),
    Uri(String),
}
