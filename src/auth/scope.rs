//! SMART scopes as text: the clinical scopes of SMART v2
//! (`patient/Observation.rs?category=laboratory`) and v1 (`user/*.read`,
//! read as their v2 equivalents), and the launch and identity scopes
//! (`openid`, `fhirUser`, `launch/patient`, `offline_access`, …). Parsing
//! refuses what the specification does not define: an unknown resource type,
//! permissions out of `c r u d s` order, a query constraint on a v1 scope.

use crate::fhir::model::model;
use std::fmt;

/// Who a clinical scope speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Patient,
    User,
    System,
}

/// Create, read, update, delete, search: the permissions of a clinical scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions {
    pub create: bool,
    pub read: bool,
    pub update: bool,
    pub delete: bool,
    pub search: bool,
}

/// One scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `patient|user|system / Type|* . permissions [? query]`.
    Clinical {
        context: Context,
        /// `None` for `*`.
        resource_type: Option<String>,
        permissions: Permissions,
        /// The query constraint's `name=value` pairs, in order.
        query: Vec<(String, String)>,
        /// Written in SMART v1 (`.read`, `.write`, `.*`): printed back so,
        /// as a client that asked in v1 expects (its permissions are the v2
        /// ones it stands for).
        v1: bool,
    },
    /// `openid`, `fhirUser`, `profile`, `launch`, `launch/patient`,
    /// `launch/encounter`, `offline_access`, `online_access`.
    Other(String),
}

/// The non-clinical scopes this server knows.
const OTHER: &[&str] = &[
    "openid",
    "fhirUser",
    "profile",
    "launch",
    "launch/patient",
    "launch/encounter",
    "offline_access",
    "online_access",
];

impl Scope {
    /// Parses one scope; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Scope, String> {
        if OTHER.contains(&text) {
            return Ok(Scope::Other(text.to_string()));
        }
        let (context, rest) = text
            .split_once('/')
            .ok_or_else(|| format!("'{text}' is not a SMART scope"))?;
        let context = match context {
            "patient" => Context::Patient,
            "user" => Context::User,
            "system" => Context::System,
            _ => {
                return Err(format!(
                    "'{text}': the context must be patient, user or system"
                ));
            }
        };
        let (target, rest) = rest
            .split_once('.')
            .ok_or_else(|| format!("'{text}': a '.' and permissions must follow the type"))?;
        let resource_type = match target {
            "*" => None,
            t if model().resource(t).is_some() => Some(t.to_string()),
            t => return Err(format!("'{text}': '{t}' is not an R4 resource type")),
        };
        let (permissions, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let (permissions, v1) = match permissions {
            "read" => (Permissions::parse("rs"), true),
            "write" => (Permissions::parse("cud"), true),
            "*" => (Permissions::parse("cruds"), true),
            p => (Permissions::parse(p), false),
        };
        let permissions = permissions.ok_or_else(|| {
            format!("'{text}': permissions are some of c, r, u, d, s in that order")
        })?;
        let query = match query {
            None => Vec::new(),
            Some(_) if v1 => {
                return Err(format!(
                    "'{text}': only SMART v2 permissions take a query constraint"
                ));
            }
            Some(q) => parse_query(text, q)?,
        };
        Ok(Scope::Clinical {
            context,
            resource_type,
            permissions,
            query,
            v1,
        })
    }

    /// Whether granting `self` already grants everything `other` asks for:
    /// the same context, the same type or `*`, at least its permissions, and
    /// no query constraint or the same one.
    pub fn covers(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::Other(a), Scope::Other(b)) => a == b,
            (
                Scope::Clinical {
                    context,
                    resource_type,
                    permissions: p,
                    query,
                    ..
                },
                Scope::Clinical {
                    context: c2,
                    resource_type: t2,
                    permissions: q,
                    query: query2,
                    ..
                },
            ) => {
                context == c2
                    && (resource_type.is_none() || resource_type == t2)
                    && (query.is_empty() || query == query2)
                    && (!q.create || p.create)
                    && (!q.read || p.read)
                    && (!q.update || p.update)
                    && (!q.delete || p.delete)
                    && (!q.search || p.search)
            }
            _ => false,
        }
    }

    /// Parses a space-separated list of scopes.
    pub fn parse_list(text: &str) -> Result<Vec<Scope>, String> {
        text.split_ascii_whitespace().map(Scope::parse).collect()
    }
}

fn parse_query(scope: &str, query: &str) -> Result<Vec<(String, String)>, String> {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !name.is_empty() && !value.is_empty() => {
                Ok((name.to_string(), value.to_string()))
            }
            _ => Err(format!(
                "'{scope}': the query constraint must be name=value pairs joined by &"
            )),
        })
        .collect()
}

impl Permissions {
    /// `cruds` or any of its letters in that order, at least one.
    fn parse(text: &str) -> Option<Permissions> {
        let mut p = Permissions::default();
        let mut letters = text.chars().peekable();
        for (letter, flag) in [
            ('c', &mut p.create),
            ('r', &mut p.read),
            ('u', &mut p.update),
            ('d', &mut p.delete),
            ('s', &mut p.search),
        ] {
            if letters.peek() == Some(&letter) {
                *flag = true;
                letters.next();
            }
        }
        (letters.next().is_none() && p != Permissions::default()).then_some(p)
    }
}

impl fmt::Display for Scope {
    /// The scope as written: v2, or v1 for a scope asked in v1.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Other(s) => f.write_str(s),
            Scope::Clinical {
                context,
                resource_type,
                permissions: p,
                query,
                v1,
            } => {
                let context = match context {
                    Context::Patient => "patient",
                    Context::User => "user",
                    Context::System => "system",
                };
                write!(f, "{context}/{}.", resource_type.as_deref().unwrap_or("*"))?;
                let letters: String = [
                    (p.create, 'c'),
                    (p.read, 'r'),
                    (p.update, 'u'),
                    (p.delete, 'd'),
                    (p.search, 's'),
                ]
                .into_iter()
                .filter_map(|(on, letter)| on.then_some(letter))
                .collect();
                let v1_form = match letters.as_str() {
                    "rs" => Some("read"),
                    "cud" => Some("write"),
                    "cruds" => Some("*"),
                    _ => None,
                };
                match v1_form.filter(|_| *v1) {
                    Some(word) => f.write_str(word)?,
                    None => f.write_str(&letters)?,
                }
                for (i, (name, value)) in query.iter().enumerate() {
                    write!(f, "{}{name}={value}", if i == 0 { '?' } else { '&' })?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(text: &str) -> String {
        Scope::parse(text).unwrap().to_string()
    }

    #[test]
    fn v2_scopes_with_and_without_query_constraints() {
        assert_eq!(v2("patient/Observation.rs"), "patient/Observation.rs");
        assert_eq!(v2("user/*.cruds"), "user/*.cruds");
        assert_eq!(v2("system/Patient.r"), "system/Patient.r");
        assert_eq!(
            v2("patient/Observation.rs?category=laboratory"),
            "patient/Observation.rs?category=laboratory"
        );
        let Scope::Clinical { query, .. } =
            Scope::parse("user/Observation.rs?category=vital-signs&status=final").unwrap()
        else {
            panic!("not clinical")
        };
        assert_eq!(
            query,
            vec![
                ("category".to_string(), "vital-signs".to_string()),
                ("status".to_string(), "final".to_string())
            ]
        );
    }

    #[test]
    fn v1_scopes_mean_their_v2_permissions_and_are_written_back_in_v1() {
        for (v1, v2) in [
            ("patient/Observation.read", "patient/Observation.rs"),
            ("user/*.write", "user/*.cud"),
            ("system/*.*", "system/*.cruds"),
        ] {
            let (a, b) = (Scope::parse(v1).unwrap(), Scope::parse(v2).unwrap());
            assert_eq!(a.to_string(), v1, "asked in v1, written in v1");
            assert_eq!(b.to_string(), v2);
            assert!(a.covers(&b) && b.covers(&a), "{v1} means {v2}");
        }
    }

    #[test]
    fn launch_and_identity_scopes() {
        for s in OTHER {
            assert_eq!(Scope::parse(s).unwrap(), Scope::Other(s.to_string()));
        }
        assert_eq!(
            Scope::parse_list(" openid  fhirUser launch/patient ")
                .unwrap()
                .len(),
            3
        );
    }

    #[test]
    fn a_scope_covers_the_narrower_ones() {
        let covers = |a: &str, b: &str| Scope::parse(a).unwrap().covers(&Scope::parse(b).unwrap());
        assert!(covers("system/*.cruds", "system/Observation.rs"));
        assert!(covers("system/Observation.rs", "system/Observation.r"));
        assert!(covers(
            "system/Observation.rs",
            "system/Observation.rs?category=laboratory"
        ));
        assert!(!covers("system/Observation.r", "system/Observation.rs"));
        assert!(!covers("system/Observation.rs", "system/Patient.rs"));
        assert!(!covers("user/*.rs", "system/Observation.rs"));
        assert!(!covers(
            "system/Observation.rs?category=laboratory",
            "system/Observation.rs"
        ));
        assert!(!covers(
            "system/Observation.rs?category=laboratory",
            "system/Observation.rs?category=vital-signs"
        ));
        assert!(covers("openid", "openid"));
        assert!(!covers("openid", "fhirUser"));
    }

    #[test]
    fn malformed_scopes_are_refused_with_a_reason() {
        for (bad, why) in [
            ("patient/Unicorn.rs", "not an R4 resource type"),
            ("patient/Observation.sr", "in that order"),
            ("patient/Observation.rx", "in that order"),
            ("patient/Observation.", "in that order"),
            ("patient/Observation.rr", "in that order"),
            ("doctor/Observation.rs", "patient, user or system"),
            ("patient/Observation", "permissions must follow"),
            ("patient/Observation.read?code=1", "only SMART v2"),
            ("patient/Observation.rs?code", "name=value"),
            ("patient/Observation.rs?=x", "name=value"),
            ("admin", "not a SMART scope"),
            ("launch/practitioner", "patient, user or system"),
        ] {
            let e = Scope::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
