//! Compiling a search's conditions to SQL over the index tables. Every
//! condition becomes a test of a `rid` column against a subquery
//! (`col IN (SELECT rid FROM ix_… WHERE …)`); every subquery reads the rows
//! valid at the snapshot, bound as `?1`. Values are always bound, never spliced
//! into the text, so `%`, `_` and quotes in a search value are literal.

use crate::search::entry::{QuantityKind, TokenKind};
use crate::search::query::*;
use crate::search::registry::{Kind, Param};
use crate::search::value::date::DateRange;
use crate::search::value::decimal::Decimal;
use crate::search::value::number::NumRange;
use crate::search::value::prefix::{Column, Condition, Prefix};
use crate::search::value::{date, normalize, number};
use rusqlite::types::Value as Sql;

/// The database number of a parameter (of component `i` when given); `-1`,
/// which matches no row, for a slot the database does not know.
pub fn pid_of(pids: &[i64], param: &Param, component: Option<usize>) -> i64 {
    let slot = param.slot + component.map_or(0, |i| i + 1);
    pids.get(slot).copied().unwrap_or(-1)
}

/// The rows of an index table valid at the snapshot.
pub fn snap(alias: &str) -> String {
    format!("{alias}.seq <= ?1 AND {alias}.until > ?1")
}

/// SQL text under construction with its bound values.
pub struct Builder<'p> {
    pub binds: Vec<Sql>,
    pids: &'p [i64],
    aliases: usize,
}

impl<'p> Builder<'p> {
    /// A builder whose first bound value is the snapshot.
    pub fn new(pids: &'p [i64], snapshot: i64) -> Builder<'p> {
        Builder {
            binds: vec![Sql::Integer(snapshot)],
            pids,
            aliases: 0,
        }
    }

    /// Binds a value and returns its placeholder.
    pub fn bind(&mut self, v: impl Into<Sql>) -> String {
        self.binds.push(v.into());
        format!("?{}", self.binds.len())
    }

    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("a{}", self.aliases)
    }

    /// The database number of a parameter (of component `i` when given).
    pub fn pid(&self, param: &Param, component: Option<usize>) -> i64 {
        pid_of(self.pids, param, component)
    }

    /// A boolean SQL expression: the condition holds for the resource `col`.
    pub fn cond(&mut self, c: &Cond, resource_type: &str, col: &str) -> String {
        match c {
            Cond::Id(id) => {
                let t = self.bind(resource_type.to_string());
                let i = self.bind(id.clone());
                format!("{col} IN (SELECT rid FROM search_resource WHERE type = {t} AND id = {i})")
            }
            Cond::Index { param, test } => {
                let q = self.test_query(param, test);
                format!("{col} IN ({q})")
            }
            // These only ever drive when nothing better does; a check per
            // candidate of the type is what they cost either way.
            Cond::LastUpdated(..) | Cond::Not { .. } | Cond::Missing { .. } => {
                self.check(c, resource_type, col)
            }
            Cond::Chain { param, targets } => {
                let mut parts = Vec::new();
                for (target, inner) in targets {
                    let f = self.alias();
                    let t = self.alias();
                    let pid = self.pid(param, None);
                    let tt = self.bind(target.clone());
                    let inner_sql = self.cond(inner, target, &format!("{t}.rid"));
                    // From the targets that meet the inner condition to the
                    // references to them (the key of ix_reference starts with
                    // pid, target_id, target_type).
                    parts.push(format!(
                        "SELECT {f}.rid FROM search_resource {t} CROSS JOIN ix_reference {f} \
                         ON {f}.pid = {pid} AND {f}.target_id = {t}.id AND {f}.target_type = {t}.type \
                         WHERE {t}.type = {tt} AND {inner_sql} AND {}",
                        snap(&f)
                    ));
                }
                format!("{col} IN ({})", parts.join(" UNION "))
            }
            Cond::Has {
                source_type,
                param,
                inner,
            } => {
                let f = self.alias();
                let t = self.alias();
                let pid = self.pid(param, None);
                let tt = self.bind(resource_type.to_string());
                let inner_sql = self.cond(inner, source_type, &format!("{f}.rid"));
                // From the sources that meet the inner condition, through
                // their references (by rid and pid), to the targets.
                format!(
                    "{col} IN (SELECT {t}.rid FROM ix_reference {f} CROSS JOIN search_resource {t} \
                     ON {t}.type = {f}.target_type AND {t}.id = {f}.target_id \
                     WHERE {inner_sql} AND {f}.pid = {pid} AND {f}.target_type = {tt} AND {})",
                    snap(&f)
                )
            }
            Cond::Any(conds) => any(conds
                .iter()
                .map(|c| self.cond(c, resource_type, col))
                .collect()),
            // The parts that pick from an index select; the others are
            // checked per resource those select.
            Cond::All(conds) => all(conds
                .iter()
                .map(|c| {
                    if drives(c) {
                        self.cond(c, resource_type, col)
                    } else {
                        self.check(c, resource_type, col)
                    }
                })
                .collect()),
        }
    }

    /// The condition as a test of the one resource `col` (a correlated
    /// subquery over the `(rid, pid)` index of a table), for the clauses that
    /// do not drive the search: each costs a few lookups per candidate rather
    /// than a scan of every value of its parameter.
    pub fn check(&mut self, c: &Cond, resource_type: &str, col: &str) -> String {
        match c {
            Cond::Index { param, test } => format!("EXISTS ({})", self.probe(param, test, col)),
            Cond::Not { param, test } => format!("NOT EXISTS ({})", self.probe(param, test, col)),
            Cond::Missing { param, missing } => {
                let table = table_of(param.kind);
                let comp = (param.kind == Kind::Composite).then_some(0);
                let pid = self.pid(param, comp);
                let a = self.alias();
                let q = format!(
                    "SELECT 1 FROM {table} {a} WHERE {a}.rid = {col} AND {a}.pid = {pid} AND {}",
                    snap(&a)
                );
                if *missing {
                    format!("NOT EXISTS ({q})")
                } else {
                    format!("EXISTS ({q})")
                }
            }
            Cond::LastUpdated(prefix, range) => {
                let (a, test) = self.last_updated(*prefix, range);
                format!(
                    "EXISTS (SELECT 1 FROM ix_resource {a} WHERE {a}.rid = {col} AND {} AND {test})",
                    snap(&a)
                )
            }
            Cond::Any(conds) => any(conds
                .iter()
                .map(|c| self.check(c, resource_type, col))
                .collect()),
            Cond::All(conds) => all(conds
                .iter()
                .map(|c| self.check(c, resource_type, col))
                .collect()),
            Cond::Id(_) | Cond::Chain { .. } | Cond::Has { .. } => self.cond(c, resource_type, col),
        }
    }

    /// A new alias of `ix_resource` and the test of its `last_updated` (a
    /// point: both ends of the stored range).
    fn last_updated(&mut self, prefix: Prefix, range: &DateRange) -> (String, String) {
        let a = self.alias();
        let col = format!("{a}.last_updated");
        let test = self.range_test(prefix, range.lo, range.hi, &col, &col);
        (a, test)
    }

    /// `SELECT 1 FROM …` of the rows of `param` of the resource `col` that pass `test`.
    fn probe(&mut self, param: &Param, test: &Test, col: &str) -> String {
        self.rows(param, test, Some(col))
    }

    /// `SELECT rid FROM …` of the rows of `param` that pass `test`.
    fn test_query(&mut self, param: &Param, test: &Test) -> String {
        self.rows(param, test, None)
    }

    /// The rows of `param` that pass `test`; of the resource `of` when given.
    fn rows(&mut self, param: &Param, test: &Test, of: Option<&str>) -> String {
        if let Test::Composite(tests) = test {
            return self.composite(param, tests, of);
        }
        let a = self.alias();
        let table = table_of_test(test);
        let pid = self.pid(param, None);
        let w = self.test_where(test, &a);
        let (select, tie) = match of {
            Some(col) => ("1".to_string(), format!("{a}.rid = {col} AND ")),
            None => (format!("{a}.rid"), String::new()),
        };
        format!(
            "SELECT {select} FROM {table} {a} WHERE {tie}{a}.pid = {pid} AND {} AND {w}",
            snap(&a)
        )
    }

    /// The resources whose rows of the components of `param` (one row per
    /// component, in one group) pass `tests`; only `of` when given.
    fn composite(&mut self, param: &Param, tests: &[Test], of: Option<&str>) -> String {
        let mut from = String::new();
        let mut wheres = Vec::new();
        let mut first = String::new();
        for (i, test) in tests.iter().enumerate() {
            let a = self.alias();
            let pid = self.pid(param, Some(i));
            let table = table_of_test(test);
            let w = self.test_where(test, &a);
            if i == 0 {
                from = format!("{table} {a}");
                first = a.clone();
            } else {
                from.push_str(&format!(
                    " JOIN {table} {a} ON {a}.rid = {first}.rid AND {a}.grp = {first}.grp"
                ));
            }
            wheres.push(format!("{a}.pid = {pid} AND {} AND {w}", snap(&a)));
        }
        if let Some(col) = of {
            wheres.push(format!("{first}.rid = {col}"));
        }
        format!(
            "SELECT {first}.rid FROM {from} WHERE {}",
            wheres.join(" AND ")
        )
    }

    /// The part of the WHERE clause that tests the value columns of alias `a`.
    fn test_where(&mut self, test: &Test, a: &str) -> String {
        match test {
            Test::String { key, mode } => match mode {
                StringMode::StartsWith => {
                    let lo = self.bind(key.clone());
                    let hi = self.bind(normalize::prefix_upper_bound(key));
                    if key.is_empty() {
                        "1".to_string()
                    } else {
                        format!("{a}.norm >= {lo} AND {a}.norm < {hi}")
                    }
                }
                StringMode::Contains => {
                    let k = self.bind(key.clone());
                    format!("instr({a}.norm, {k}) > 0")
                }
                StringMode::Exact => {
                    let n = self.bind(normalize::normalize(key));
                    let e = self.bind(key.clone());
                    format!("{a}.norm = {n} AND {a}.exact = {e}")
                }
            },
            Test::Token { system, code } => {
                let mut w = format!("{a}.kind = {}", TokenKind::Code as i64);
                if let Some(c) = code {
                    let c = self.bind(c.clone());
                    w.push_str(&format!(" AND {a}.code = {c}"));
                }
                if let Some(s) = system {
                    let s = self.bind(s.clone());
                    w.push_str(&format!(" AND {a}.system = {s}"));
                }
                w
            }
            Test::TokenText(key) => {
                let lo = self.bind(key.clone());
                let hi = self.bind(normalize::prefix_upper_bound(key));
                format!(
                    "{a}.kind = {} AND {a}.code >= {lo} AND {a}.code < {hi}",
                    TokenKind::Text as i64
                )
            }
            Test::OfType {
                type_system,
                type_code,
                value,
            } => {
                let v = self.bind(value.clone());
                let s = self.bind(format!("{type_system}|{type_code}"));
                format!(
                    "{a}.kind = {} AND {a}.code = {v} AND {a}.system = {s}",
                    TokenKind::OfType as i64
                )
            }
            Test::Date(prefix, range) => self.range_test(
                *prefix,
                range.lo,
                range.hi,
                &format!("{a}.lo"),
                &format!("{a}.hi"),
            ),
            Test::Number(prefix, n) => self.number_test(*prefix, n, a),
            Test::Quantity {
                prefix,
                number,
                system,
                code,
                canonical,
            } => {
                let stated = {
                    let mut w = format!("{a}.kind = {}", QuantityKind::Stated as i64);
                    if let Some(c) = code {
                        let c = self.bind(c.clone());
                        w.push_str(&format!(" AND {a}.code = {c}"));
                    }
                    if let Some(s) = system {
                        let s = self.bind(s.clone());
                        w.push_str(&format!(" AND {a}.system = {s}"));
                    }
                    let n = self.number_test(*prefix, number, a);
                    format!("({w} AND {n})")
                };
                match canonical {
                    Some((c, unit)) => {
                        let u = self.bind(unit.to_string());
                        let c = to_real(c);
                        let t = self.render(&c, &format!("{a}.lo"), &format!("{a}.hi"));
                        format!(
                            "({stated} OR ({a}.kind = {} AND {a}.code = {u} AND {t}))",
                            QuantityKind::Canonical as i64
                        )
                    }
                    None => stated,
                }
            }
            Test::Reference(target) => match target {
                RefTarget::Local { resource_type, id } => {
                    let i = self.bind(id.clone());
                    match resource_type {
                        Some(t) => {
                            let t = self.bind(t.clone());
                            format!("{a}.target_id = {i} AND {a}.target_type = {t}")
                        }
                        None => format!("{a}.target_id = {i} AND {a}.target_type <> ''"),
                    }
                }
                RefTarget::Url(url) => {
                    let u = self.bind(url.clone());
                    format!("{a}.target_id = '' AND {a}.target_type = '' AND {a}.url = {u}")
                }
                RefTarget::Identifier { system, value } => self.test_where(
                    &Test::Token {
                        system: system.clone(),
                        code: value.clone(),
                    },
                    a,
                ),
            },
            Test::Uri { value, mode } => match mode {
                UriMode::Exact => {
                    let v = self.bind(value.clone());
                    format!("{a}.uri = {v}")
                }
                UriMode::Below => {
                    let lo = self.bind(value.clone());
                    let hi = self.bind(normalize::prefix_upper_bound(value));
                    format!("{a}.uri >= {lo} AND {a}.uri < {hi}")
                }
                UriMode::Above => {
                    let list: Vec<String> = uri_prefixes(value)
                        .into_iter()
                        .map(|p| self.bind(p))
                        .collect();
                    format!("{a}.uri IN ({})", list.join(", "))
                }
            },
            Test::Composite(_) => "0".to_string(),
        }
    }

    /// A prefix test of the stored range `[lo_col, hi_col]` (both ends
    /// inclusive) against a date search range (R4 search.html#prefix; the
    /// rules are those of [`date::date_condition`]).
    fn range_test(
        &mut self,
        prefix: Prefix,
        lo: i64,
        hi: i64,
        lo_col: &str,
        hi_col: &str,
    ) -> String {
        let now = crate::fhir::instant::now_micros();
        let c = date::date_condition(prefix, date::DateRange { lo, hi }, now);
        self.render(&c.map(Sql::Integer), lo_col, hi_col)
    }

    /// A prefix test of the stored `[lo, hi]` of alias `a` against a number as
    /// searched (the rules of [`number::number_condition`]).
    fn number_test(&mut self, prefix: Prefix, n: &NumRange, a: &str) -> String {
        let c = to_real(&number::number_condition(prefix, n));
        self.render(&c, &format!("{a}.lo"), &format!("{a}.hi"))
    }

    /// A condition on a stored range as SQL, its constants bound.
    fn render(&mut self, c: &Condition<Sql>, lo_col: &str, hi_col: &str) -> String {
        if c.any_of.is_empty() {
            return "0".to_string();
        }
        let mut ors = Vec::new();
        for all in &c.any_of {
            if all.is_empty() {
                return "1".to_string();
            }
            let mut ands = Vec::new();
            for t in all {
                let col = match t.column {
                    Column::Lo => lo_col,
                    Column::Hi => hi_col,
                };
                let v = self.bind(t.value.clone());
                ands.push(format!("{col} {} {v}", t.op.sql()));
            }
            ors.push(format!("({})", ands.join(" AND ")));
        }
        format!("({})", ors.join(" OR "))
    }
}

/// A condition on exact decimals as one on the `REAL` columns the values are
/// stored in (rounding is monotonic, so the two agree whenever the stored value
/// and a bound differ within the first 15 significant digits).
fn to_real(c: &Condition<Decimal>) -> Condition<Sql> {
    c.clone().map(|d| Sql::Real(d.to_f64()))
}

/// An OR of conditions (never true when there are none).
fn any(parts: Vec<String>) -> String {
    if parts.is_empty() {
        "0".to_string()
    } else {
        format!("({})", parts.join(" OR "))
    }
}

fn all(parts: Vec<String>) -> String {
    if parts.is_empty() {
        "1".to_string()
    } else {
        format!("({})", parts.join(" AND "))
    }
}

/// Whether a condition picks few resources straight from an index (an
/// equality, a prefix, a join): such a clause drives a search; the others
/// are checked per candidate.
pub fn drives(c: &Cond) -> bool {
    match c {
        Cond::Id(_) | Cond::Chain { .. } | Cond::Has { .. } => true,
        Cond::Index { test, .. } => match test {
            Test::String { key, mode } => *mode != StringMode::Contains && !key.is_empty(),
            Test::Token { code, .. } => code.is_some(),
            Test::TokenText(key) => !key.is_empty(),
            Test::OfType { .. } | Test::Reference(_) => true,
            Test::Uri { mode, .. } => *mode != UriMode::Below,
            Test::Composite(tests) => {
                matches!(tests.first(), Some(Test::Token { code: Some(_), .. }))
            }
            Test::Date(..) | Test::Number(..) | Test::Quantity { .. } => false,
        },
        Cond::Any(conds) => !conds.is_empty() && conds.iter().all(drives),
        Cond::All(conds) => conds.iter().any(drives),
        Cond::Not { .. } | Cond::Missing { .. } | Cond::LastUpdated(..) => false,
    }
}

/// The table of a parameter kind.
pub fn table_of(kind: Kind) -> &'static str {
    match kind {
        Kind::String => "ix_string",
        Kind::Token => "ix_token",
        Kind::Date => "ix_date",
        Kind::Number => "ix_number",
        Kind::Quantity => "ix_quantity",
        Kind::Reference => "ix_reference",
        Kind::Uri => "ix_uri",
        Kind::Composite | Kind::Special => "ix_token",
    }
}

fn table_of_test(test: &Test) -> &'static str {
    match test {
        Test::String { .. } => "ix_string",
        Test::Token { .. } | Test::TokenText(_) | Test::OfType { .. } => "ix_token",
        Test::Date(..) => "ix_date",
        Test::Number(..) => "ix_number",
        Test::Quantity { .. } => "ix_quantity",
        Test::Reference(RefTarget::Identifier { .. }) => "ix_token",
        Test::Reference(_) => "ix_reference",
        Test::Uri { .. } => "ix_uri",
        Test::Composite(_) => "ix_token",
    }
}

/// `value` and every shorter URI above it along `/`, down to the authority
/// (`http://a.org/fhir/ValueSet/1` → itself, `http://a.org/fhir/ValueSet`,
/// `http://a.org/fhir`, `http://a.org`).
pub fn uri_prefixes(value: &str) -> Vec<String> {
    let mut out = vec![value.to_string()];
    let floor = value.find("://").map(|i| i + 3).unwrap_or(0);
    let mut end = value.len();
    while let Some(i) = value[..end].rfind('/') {
        if i < floor || i == 0 {
            break;
        }
        if !value[floor..i].is_empty() {
            out.push(value[..i].to_string());
        }
        end = i;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_prefixes_stop_at_the_authority() {
        assert_eq!(
            uri_prefixes("http://acme.org/fhir/ValueSet/123"),
            vec![
                "http://acme.org/fhir/ValueSet/123",
                "http://acme.org/fhir/ValueSet",
                "http://acme.org/fhir",
                "http://acme.org"
            ]
        );
        assert_eq!(uri_prefixes("urn:oid:1.2.3"), vec!["urn:oid:1.2.3"]);
    }
}
