//! Comparison prefixes of ordered search values (`eq`, `gt`, `sa`, …) and the
//! SQL-shaped [`Condition`] that the date and number semantics produce.
//!
//! Every ordered value is stored as a closed range `[lo, hi]` in two columns
//! (a point has `lo == hi`). A prefix applied to a search value becomes a
//! condition on those two columns, in disjunctive normal form: an OR of ANDs
//! of `column op constant`. [`Condition::matches`] evaluates it in Rust;
//! [`Condition::to_sql`] renders it with `?` placeholders; both read the same
//! terms, so what the tests prove of one holds for the other.

use std::fmt::Write as _;

/// A comparison prefix (FHIR R4 search, "Prefixes"). Without a prefix a value
/// means [`Prefix::Eq`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prefix {
    /// `eq`: equal (the search range contains the target).
    Eq,
    /// `ne`: not equal.
    Ne,
    /// `gt`: greater than.
    Gt,
    /// `lt`: less than.
    Lt,
    /// `ge`: greater or equal.
    Ge,
    /// `le`: less or equal.
    Le,
    /// `sa`: starts after.
    Sa,
    /// `eb`: ends before.
    Eb,
    /// `ap`: approximately.
    Ap,
}

impl Prefix {
    /// Every prefix, in the order of the specification's table.
    pub const ALL: [Prefix; 9] = [
        Prefix::Eq,
        Prefix::Ne,
        Prefix::Gt,
        Prefix::Lt,
        Prefix::Ge,
        Prefix::Le,
        Prefix::Sa,
        Prefix::Eb,
        Prefix::Ap,
    ];

    /// The two-letter code (`"eq"`, …).
    pub fn code(self) -> &'static str {
        match self {
            Prefix::Eq => "eq",
            Prefix::Ne => "ne",
            Prefix::Gt => "gt",
            Prefix::Lt => "lt",
            Prefix::Ge => "ge",
            Prefix::Le => "le",
            Prefix::Sa => "sa",
            Prefix::Eb => "eb",
            Prefix::Ap => "ap",
        }
    }

    /// The prefix with this code (lower case only, as the specification writes them).
    pub fn from_code(code: &str) -> Option<Prefix> {
        Prefix::ALL.into_iter().find(|p| p.code() == code)
    }
}

/// Splits a leading prefix off an ordered search value: `"ge2013"` →
/// `(Ge, "2013")`, `"2013"` → `(Eq, "2013")`. Only the nine lower-case codes
/// count, so `"2013"`, `"-5"` or `"Ge5"` are returned whole with `Eq`.
pub fn split_prefix(value: &str) -> (Prefix, &str) {
    match value.get(..2).and_then(Prefix::from_code) {
        Some(prefix) => (prefix, &value[2..]),
        None => (Prefix::Eq, value),
    }
}

/// One of the two columns of a stored range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    /// The low end (inclusive).
    Lo,
    /// The high end (inclusive).
    Hi,
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    /// The SQL operator.
    pub fn sql(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    /// Whether `a op b` holds.
    pub fn holds<T: PartialOrd>(self, a: &T, b: &T) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
        }
    }
}

/// `column op value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Term<T> {
    /// The stored column compared.
    pub column: Column,
    /// The operator, with the column on its left.
    pub op: Op,
    /// The constant on the right.
    pub value: T,
}

/// A condition on a stored range `[lo, hi]`: true when any of the
/// conjunctions in `any_of` has all its terms true. No conjunction means
/// "never"; an empty conjunction means "always".
#[derive(Clone, Debug, PartialEq)]
pub struct Condition<T> {
    /// The alternatives (OR), each a list of terms (AND).
    pub any_of: Vec<Vec<Term<T>>>,
}

impl<T> Condition<T> {
    /// Whether a stored range `[lo, hi]` satisfies the condition.
    pub fn matches(&self, lo: &T, hi: &T) -> bool
    where
        T: PartialOrd,
    {
        self.any_of.iter().any(|all| {
            all.iter().all(|t| {
                let stored = match t.column {
                    Column::Lo => lo,
                    Column::Hi => hi,
                };
                t.op.holds(stored, &t.value)
            })
        })
    }

    /// The same condition with every constant converted by `f`, which must
    /// be monotonic non-decreasing (a unit conversion, `Decimal::to_f64`).
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Condition<U> {
        Condition {
            any_of: self
                .any_of
                .into_iter()
                .map(|all| {
                    all.into_iter()
                        .map(|t| Term {
                            column: t.column,
                            op: t.op,
                            value: f(t.value),
                        })
                        .collect()
                })
                .collect(),
        }
    }

    /// Like [`Condition::map`] with a conversion that may fail; `None` if it
    /// fails for any constant.
    pub fn try_map<U>(self, mut f: impl FnMut(T) -> Option<U>) -> Option<Condition<U>> {
        let mut any_of = Vec::with_capacity(self.any_of.len());
        for all in self.any_of {
            let mut terms = Vec::with_capacity(all.len());
            for t in all {
                terms.push(Term {
                    column: t.column,
                    op: t.op,
                    value: f(t.value)?,
                });
            }
            any_of.push(terms);
        }
        Some(Condition { any_of })
    }

    /// The condition as an SQL expression over the two given column
    /// expressions (trusted text, not user input), with a `?` placeholder per
    /// term and the constants to bind in order. Always parenthesised; `0`
    /// for "never" and `1` for "always".
    pub fn to_sql(&self, lo_column: &str, hi_column: &str) -> (String, Vec<&T>) {
        let mut params = Vec::new();
        if self.any_of.is_empty() {
            return ("(0)".to_string(), params);
        }
        let mut sql = String::from("(");
        for (i, all) in self.any_of.iter().enumerate() {
            if i > 0 {
                sql.push_str(" OR ");
            }
            sql.push('(');
            if all.is_empty() {
                sql.push('1');
            }
            for (j, t) in all.iter().enumerate() {
                if j > 0 {
                    sql.push_str(" AND ");
                }
                let column = match t.column {
                    Column::Lo => lo_column,
                    Column::Hi => hi_column,
                };
                let _ = write!(sql, "{column} {} ?", t.op.sql());
                params.push(&t.value);
            }
            sql.push(')');
        }
        sql.push(')');
        (sql, params)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_rng::{ALPHABET, Rng};
    use super::*;

    #[test]
    fn split_prefix_only_takes_known_codes() {
        assert_eq!(split_prefix("ge2013-01-01"), (Prefix::Ge, "2013-01-01"));
        assert_eq!(split_prefix("2013"), (Prefix::Eq, "2013"));
        assert_eq!(split_prefix("eq"), (Prefix::Eq, ""));
        assert_eq!(
            split_prefix("ap5.4|http://unitsofmeasure.org|mg"),
            (Prefix::Ap, "5.4|http://unitsofmeasure.org|mg")
        );
        assert_eq!(split_prefix("Ge5"), (Prefix::Eq, "Ge5"));
        assert_eq!(split_prefix("-5"), (Prefix::Eq, "-5"));
        assert_eq!(split_prefix("e"), (Prefix::Eq, "e"));
        assert_eq!(split_prefix("eé"), (Prefix::Eq, "eé"));
        assert_eq!(split_prefix("éa"), (Prefix::Eq, "éa"));
        for p in Prefix::ALL {
            assert_eq!(split_prefix(&format!("{}1", p.code())), (p, "1"));
            assert_eq!(Prefix::from_code(p.code()), Some(p));
        }
        assert_eq!(Prefix::from_code("EQ"), None);
    }

    #[test]
    fn split_prefix_never_panics() {
        let mut rng = Rng::new(3);
        for _ in 0..5000 {
            let text = rng.mutate("sa2013", ALPHABET);
            let (_, rest) = split_prefix(&text);
            assert!(text.ends_with(rest));
        }
    }

    fn cond() -> Condition<i64> {
        Condition {
            any_of: vec![
                vec![
                    Term {
                        column: Column::Lo,
                        op: Op::Ge,
                        value: 10,
                    },
                    Term {
                        column: Column::Hi,
                        op: Op::Lt,
                        value: 20,
                    },
                ],
                vec![Term {
                    column: Column::Hi,
                    op: Op::Gt,
                    value: 100,
                }],
            ],
        }
    }

    #[test]
    fn condition_matches_is_an_or_of_ands() {
        let c = cond();
        assert!(c.matches(&10, &19));
        assert!(!c.matches(&10, &20));
        assert!(!c.matches(&9, &19));
        assert!(c.matches(&-5, &101));
        assert!(!c.matches(&-5, &100));
        assert!(!Condition::<i64> { any_of: vec![] }.matches(&0, &0));
        assert!(
            Condition::<i64> {
                any_of: vec![vec![]]
            }
            .matches(&0, &0)
        );
    }

    #[test]
    fn condition_to_sql_and_map() {
        let c = cond();
        let (sql, params) = c.to_sql("v.lo", "v.hi");
        assert_eq!(sql, "((v.lo >= ? AND v.hi < ?) OR (v.hi > ?))");
        assert_eq!(params, vec![&10, &20, &100]);
        assert_eq!(
            Condition::<i64> { any_of: vec![] }.to_sql("a", "b").0,
            "(0)"
        );
        assert_eq!(
            Condition::<i64> {
                any_of: vec![vec![]]
            }
            .to_sql("a", "b")
            .0,
            "((1))"
        );
        let doubled = c.clone().map(|v| v * 2);
        assert!(doubled.matches(&20, &39) && !doubled.matches(&20, &40));
        assert_eq!(c.clone().try_map(|v| (v != 100).then_some(v)), None);
        assert_eq!(c.clone().try_map(Some), Some(c));
    }

    #[test]
    fn op_holds_and_sql_agree() {
        for (op, sql, a, b, expected) in [
            (Op::Lt, "<", 1, 2, true),
            (Op::Lt, "<", 2, 2, false),
            (Op::Le, "<=", 2, 2, true),
            (Op::Gt, ">", 2, 2, false),
            (Op::Ge, ">=", 2, 2, true),
            (Op::Ge, ">=", 1, 2, false),
        ] {
            assert_eq!(op.sql(), sql);
            assert_eq!(op.holds(&a, &b), expected, "{a} {sql} {b}");
        }
    }
}
