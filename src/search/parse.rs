//! Parsing a search request (`name[:modifier][.chain]=value[,value]` pairs and
//! the `_` result parameters) into a [`Search`]. Every parameter, modifier and
//! prefix is either understood or reported: in strict handling the report is an
//! error; in lenient handling the parameter is dropped, left out of the `self`
//! link and named in an OperationOutcome entry.

use super::cursor::decode_cursor;
use super::query::*;
use super::registry::{Kind, Param, Registry};
use super::value::prefix::{Prefix, split_prefix};
use super::value::{date, normalize, number, token, ucum};
use crate::fhir::model::model;
use std::sync::Arc;

/// Limits and defaults from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub default_count: usize,
    pub max_count: usize,
    /// Included resources per page (see [`Search::max_included`]).
    pub max_included: usize,
}

/// What the parser made of a request.
#[derive(Debug)]
pub struct Parsed {
    pub search: Search,
    /// The parameters used, for the `self` link.
    pub used: Vec<(String, String)>,
    /// Parameters dropped (lenient handling), with the reason.
    pub ignored: Vec<Problem>,
}

/// A parameter the server cannot honour, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub parameter: String,
    pub message: String,
}

/// Parameters that shape the response rather than select resources; the REST
/// layer handles them (`_format`, `_pretty`, `_summary`, `_elements`).
const RESPONSE_PARAMS: &[&str] = &["_format", "_pretty", "_summary", "_elements"];

/// Parses `params` for a search over `types`. `base` is the server's base URL.
pub fn parse(
    registry: &Registry,
    types: &[String],
    params: &[(String, String)],
    base: &str,
    strict: bool,
    limits: Limits,
) -> Result<Parsed, Vec<Problem>> {
    let mut p = Parser {
        registry,
        types,
        base: base.trim_end_matches('/'),
        problems: Vec::new(),
        used: Vec::new(),
    };
    let mut search = Search {
        branches: types
            .iter()
            .map(|t| Branch {
                resource_type: t.clone(),
                clauses: Vec::new(),
            })
            .collect(),
        sort: Vec::new(),
        count: limits.default_count,
        total: Total::Accurate,
        includes: Vec::new(),
        max_included: limits.max_included,
        page: None,
    };
    for (name, value) in params {
        if value.is_empty() {
            // search.html#errors: "Empty parameters are not an error - they are just ignored".
            continue;
        }
        let before = p.problems.len();
        p.one(&mut search, name, value, limits);
        if p.problems.len() == before
            && !RESPONSE_PARAMS.contains(&name.as_str())
            && name != "_cursor"
        {
            p.used.push((name.clone(), value.clone()));
        }
    }
    if strict && !p.problems.is_empty() {
        return Err(p.problems);
    }
    if search.count != limits.default_count && !p.used.iter().any(|(k, _)| k == "_count") {
        p.used
            .push(("_count".to_string(), search.count.to_string()));
    }
    Ok(Parsed {
        search,
        used: p.used,
        ignored: p.problems,
    })
}

struct Parser<'a> {
    registry: &'a Registry,
    types: &'a [String],
    base: &'a str,
    problems: Vec<Problem>,
    used: Vec<(String, String)>,
}

fn problem(parameter: &str, message: impl Into<String>) -> Problem {
    Problem {
        parameter: parameter.to_string(),
        message: message.into(),
    }
}

impl Parser<'_> {
    fn fail(&mut self, parameter: &str, message: impl Into<String>) {
        self.problems.push(problem(parameter, message));
    }

    fn one(&mut self, search: &mut Search, name: &str, value: &str, limits: Limits) {
        match name {
            _ if RESPONSE_PARAMS.contains(&name) => {}
            "_count" => match value.parse::<usize>() {
                Ok(n) if n <= limits.max_count => search.count = n,
                Ok(_) => {
                    search.count = limits.max_count;
                    self.fail(
                        name,
                        format!(
                            "_count may be at most {} on this server (lowered to it)",
                            limits.max_count
                        ),
                    )
                }
                Err(_) => self.fail(name, "_count must be a whole number, 0 or more"),
            },
            "_total" => match value {
                "none" => search.total = Total::None,
                "estimate" => search.total = Total::Estimate,
                "accurate" => search.total = Total::Accurate,
                _ => self.fail(name, "_total is none, estimate or accurate"),
            },
            "_sort" => match self.sort(value) {
                Ok(s) => search.sort = s,
                Err(e) => self.problems.push(e),
            },
            "_cursor" => match decode_cursor(value) {
                Some(c) => search.page = Some(c),
                None => self.fail(name, "this page link is not valid"),
            },
            _ if name == "_include" || name.starts_with("_include:") => {
                self.include(search, name, value, false)
            }
            _ if name == "_revinclude" || name.starts_with("_revinclude:") => {
                self.include(search, name, value, true)
            }
            _ => {
                let mut clauses = Vec::new();
                for t in self.types {
                    match self.clause(t, name, value) {
                        Ok(c) => clauses.push(c),
                        Err(e) => {
                            self.problems.push(e);
                            return;
                        }
                    }
                }
                for (branch, clause) in search.branches.iter_mut().zip(clauses) {
                    branch.clauses.push(clause);
                }
            }
        }
    }

    fn sort(&self, value: &str) -> Result<Vec<Sort>, Problem> {
        let mut out = Vec::new();
        for part in value.split(',') {
            let (descending, code) = match part.strip_prefix('-') {
                Some(c) => (true, c),
                None => (false, part),
            };
            let key = match code {
                "_id" => SortKey::Id,
                "_lastUpdated" => SortKey::LastUpdated,
                _ => {
                    let mut params = Vec::new();
                    for t in self.types {
                        let p = self
                            .registry
                            .get(t, code)
                            .filter(|p| sortable(p.kind))
                            .ok_or_else(|| {
                                problem("_sort", format!("{t} cannot be sorted by '{code}'"))
                            })?;
                        params.push(p.clone());
                    }
                    SortKey::Param(params)
                }
            };
            out.push(Sort { key, descending });
        }
        Ok(out)
    }

    fn include(&mut self, search: &mut Search, name: &str, value: &str, reverse: bool) {
        let iterate = match name.split_once(':').map(|x| x.1) {
            None => false,
            Some("iterate" | "recurse") => true,
            Some(m) => return self.fail(name, format!("unknown modifier ':{m}'")),
        };
        let mut parts = value.split(':');
        let (source, code, target) = (parts.next(), parts.next(), parts.next());
        let (Some(source), Some(code)) = (source, code) else {
            return self.fail(
                name,
                "the value is [type]:[parameter] or [type]:[parameter]:[target type]",
            );
        };
        if model().resource(source).is_none() {
            return self.fail(name, format!("unknown resource type '{source}'"));
        }
        if !iterate && !reverse && !self.types.iter().any(|t| t == source) {
            return self.fail(
                name,
                format!("'{source}' is not the type searched; use _include:iterate to include from included resources"),
            );
        }
        if let Some(t) = target
            && model().resource(t).is_none()
        {
            return self.fail(name, format!("unknown resource type '{t}'"));
        }
        let params: Vec<Arc<Param>> = if code == "*" {
            self.registry
                .of_type(source)
                .filter(|p| p.kind == Kind::Reference)
                .cloned()
                .collect()
        } else {
            match self.registry.get(source, code) {
                Some(p) if p.kind == Kind::Reference => vec![p.clone()],
                Some(_) => {
                    return self.fail(
                        name,
                        format!("{source}:{code} is not a reference parameter"),
                    );
                }
                None => return self.fail(name, format!("{source} has no parameter '{code}'")),
            }
        };
        search.includes.push(Include {
            reverse,
            iterate,
            params,
            target_type: target.map(str::to_string),
        });
    }

    /// The clause for one `name=value` on resource type `t`.
    fn clause(&self, t: &str, name: &str, value: &str) -> Result<Clause, Problem> {
        let values = token::split_unescaped(value, ',');
        let mut conds = Vec::with_capacity(values.len());
        for v in values {
            conds.push(self.cond(t, name, v, name)?);
        }
        Ok(Clause(conds))
    }

    /// The condition for one value of `name` on type `t`. `whole` is the
    /// parameter as the client wrote it, for messages.
    fn cond(&self, t: &str, name: &str, value: &str, whole: &str) -> Result<Cond, Problem> {
        if let Some(rest) = name.strip_prefix("_has:") {
            return self.has(t, rest, value, whole);
        }
        let (head, chain) = match name.split_once('.') {
            Some((h, c)) => (h, Some(c)),
            None => (name, None),
        };
        let (code, modifier) = match head.split_once(':') {
            Some((c, m)) => (c, Some(m)),
            None => (head, None),
        };
        if code == "_id" && chain.is_none() {
            return match modifier {
                None => Ok(Cond::Id(token::unescape(value))),
                Some(m) => Err(problem(whole, format!("unknown modifier ':{m}' for _id"))),
            };
        }
        if code == "_lastUpdated" && chain.is_none() {
            if let Some(m) = modifier {
                return Err(problem(
                    whole,
                    format!("unknown modifier ':{m}' for _lastUpdated"),
                ));
            }
            let (prefix, range) = date_value(value).map_err(|m| problem(whole, m))?;
            return Ok(Cond::LastUpdated(prefix, range));
        }
        let param = self
            .registry
            .get(t, code)
            .ok_or_else(|| problem(whole, format!("unknown search parameter '{code}' for {t}")))?
            .clone();
        if let Some(chain) = chain {
            return self.chain(t, &param, modifier, chain, value, whole);
        }
        if param.expression.is_none() {
            return Err(problem(
                whole,
                format!("the parameter '{code}' is not supported"),
            ));
        }
        match modifier {
            Some("missing") => {
                let missing = match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(problem(whole, ":missing takes true or false")),
                };
                Ok(Cond::Missing { param, missing })
            }
            Some("not") if param.kind == Kind::Token => {
                let test = self.test(&param, None, value, whole)?;
                Ok(Cond::Not { param, test })
            }
            _ => {
                let test = self.test(&param, modifier, value, whole)?;
                Ok(Cond::Index { param, test })
            }
        }
    }

    fn test(
        &self,
        param: &Param,
        modifier: Option<&str>,
        value: &str,
        whole: &str,
    ) -> Result<Test, Problem> {
        let unknown = |m: &str| {
            problem(
                whole,
                format!(
                    "the modifier ':{m}' is not supported for {} parameters",
                    param.kind.code()
                ),
            )
        };
        match param.kind {
            Kind::String => {
                let mode = match modifier {
                    None => StringMode::StartsWith,
                    Some("exact") => StringMode::Exact,
                    Some("contains") => StringMode::Contains,
                    Some(m) => return Err(unknown(m)),
                };
                let value = token::unescape(value);
                let key = if mode == StringMode::Exact {
                    value
                } else if param.code == "phonetic" {
                    let codes = super::value::phonetic::phonetic_codes(&value);
                    codes.into_iter().next().unwrap_or_default()
                } else {
                    normalize::normalize(&value)
                };
                Ok(Test::String { key, mode })
            }
            Kind::Token => match modifier {
                None => {
                    let (system, code) = token_parts(value).ok_or_else(|| {
                        problem(whole, format!("'{value}' is not a token ([system]|[code])"))
                    })?;
                    Ok(Test::Token { system, code })
                }
                Some("text") => Ok(Test::TokenText(normalize::normalize(&token::unescape(
                    value,
                )))),
                Some("of-type") => {
                    let parts = token::split_unescaped(value, '|');
                    match parts.as_slice() {
                        [s, c, v] if !c.is_empty() && !v.is_empty() => Ok(Test::OfType {
                            type_system: token::unescape(s),
                            type_code: token::unescape(c),
                            value: token::unescape(v),
                        }),
                        _ => Err(problem(
                            whole,
                            ":of-type takes [type system]|[type code]|[value]",
                        )),
                    }
                }
                Some(m) => Err(unknown(m)),
            },
            Kind::Date => match modifier {
                None => {
                    let (prefix, range) = date_value(value).map_err(|m| problem(whole, m))?;
                    Ok(Test::Date(prefix, range))
                }
                Some(m) => Err(unknown(m)),
            },
            Kind::Number => match modifier {
                None => {
                    let (prefix, rest) = split_prefix(value);
                    let n = number::decimal_range(rest)
                        .ok_or_else(|| problem(whole, format!("'{rest}' is not a number")))?;
                    Ok(Test::Number(prefix, n))
                }
                Some(m) => Err(unknown(m)),
            },
            Kind::Quantity => match modifier {
                None => self.quantity(value, whole),
                Some(m) => Err(unknown(m)),
            },
            Kind::Reference => {
                let target = match modifier {
                    Some("identifier") => {
                        let (system, value) = token_parts(value).ok_or_else(|| {
                            problem(
                                whole,
                                format!("'{value}' is not an identifier ([system]|[value])"),
                            )
                        })?;
                        RefTarget::Identifier { system, value }
                    }
                    None => self.reference(value, None, param, whole)?,
                    Some(m) if model().resource(m).is_some() => {
                        self.reference(value, Some(m), param, whole)?
                    }
                    Some(m) => return Err(unknown(m)),
                };
                Ok(Test::Reference(target))
            }
            Kind::Uri => {
                let mode = match modifier {
                    None => UriMode::Exact,
                    Some("above") => UriMode::Above,
                    Some("below") => UriMode::Below,
                    Some(m) => return Err(unknown(m)),
                };
                Ok(Test::Uri {
                    value: token::unescape(value),
                    mode,
                })
            }
            Kind::Composite => {
                if let Some(m) = modifier {
                    return Err(unknown(m));
                }
                let parts = token::split_unescaped(value, '$');
                if parts.len() != param.components.len() {
                    return Err(problem(
                        whole,
                        format!(
                            "a value of '{}' has {} parts separated by '$'",
                            param.code,
                            param.components.len()
                        ),
                    ));
                }
                let mut tests = Vec::new();
                for (c, part) in param.components.iter().zip(parts) {
                    let pseudo = Param {
                        resource_type: param.resource_type.clone(),
                        code: param.code.clone(),
                        url: param.url.clone(),
                        kind: c.kind,
                        expression: None,
                        expression_text: None,
                        target: Vec::new(),
                        components: Vec::new(),
                        slot: 0,
                    };
                    tests.push(self.test(&pseudo, None, part, whole)?);
                }
                Ok(Test::Composite(tests))
            }
            Kind::Special => Err(problem(
                whole,
                format!("the parameter '{}' is not supported", param.code),
            )),
        }
    }

    fn quantity(&self, value: &str, whole: &str) -> Result<Test, Problem> {
        let q = token::parse_quantity(value).ok_or_else(|| {
            problem(
                whole,
                format!("'{value}' is not a quantity ([prefix][number]|[system]|[code])"),
            )
        })?;
        let canonical = match (&q.system, &q.code) {
            (Some(s), Some(c)) if s == ucum::UCUM_SYSTEM => {
                ucum::canonical_condition(q.prefix, &q.number, c)
            }
            _ => None,
        };
        Ok(Test::Quantity {
            prefix: q.prefix,
            number: q.number,
            system: q.system,
            code: q.code,
            canonical,
        })
    }

    fn reference(
        &self,
        value: &str,
        type_modifier: Option<&str>,
        param: &Param,
        whole: &str,
    ) -> Result<RefTarget, Problem> {
        let target = match token::parse_reference(value, self.base) {
            Some(token::Reference::Local {
                resource_type, id, ..
            }) => RefTarget::Local {
                resource_type: resource_type.or_else(|| type_modifier.map(str::to_string)),
                id,
            },
            Some(token::Reference::Absolute { url, .. }) => RefTarget::Url(url),
            None => return Err(problem(whole, format!("'{value}' is not a reference"))),
        };
        if let (
            Some(m),
            RefTarget::Local {
                resource_type: Some(t),
                ..
            },
        ) = (type_modifier, &target)
            && m != t
        {
            return Err(problem(
                whole,
                format!("':{m}' contradicts the reference '{value}'"),
            ));
        }
        if let RefTarget::Local {
            resource_type: Some(t),
            ..
        } = &target
            && !param.target.is_empty()
            && !param.target.contains(t)
        {
            return Err(problem(
                whole,
                format!("'{}' cannot refer to {t}", param.code),
            ));
        }
        Ok(target)
    }

    fn chain(
        &self,
        t: &str,
        param: &Arc<Param>,
        modifier: Option<&str>,
        rest: &str,
        value: &str,
        whole: &str,
    ) -> Result<Cond, Problem> {
        if param.kind != Kind::Reference {
            return Err(problem(
                whole,
                format!(
                    "'{}' of {t} is not a reference parameter: it cannot be chained",
                    param.code
                ),
            ));
        }
        let targets: Vec<String> = match modifier {
            Some(m) if model().resource(m).is_some() => {
                if !param.target.is_empty() && !param.target.iter().any(|x| x == m) {
                    return Err(problem(
                        whole,
                        format!("'{}' cannot refer to {m}", param.code),
                    ));
                }
                vec![m.to_string()]
            }
            Some(m) => {
                return Err(problem(
                    whole,
                    format!("unknown modifier ':{m}' in a chain"),
                ));
            }
            None if param.target.is_empty() => model().resource_types().to_vec(),
            None => param.target.clone(),
        };
        let chained_code = rest.split(['.', ':']).next().unwrap_or(rest);
        let mut branches = Vec::new();
        let mut last_error = None;
        for target in targets {
            if chained_code != "_id"
                && !chained_code.starts_with("_has")
                && self.registry.get(&target, chained_code).is_none()
            {
                continue;
            }
            match self.cond(&target, rest, value, whole) {
                Ok(c) => branches.push((target, Box::new(c))),
                Err(e) => last_error = Some(e),
            }
        }
        if branches.is_empty() {
            return Err(last_error.unwrap_or_else(|| {
                problem(
                    whole,
                    format!(
                        "no type '{}' refers to has a parameter '{chained_code}'",
                        param.code
                    ),
                )
            }));
        }
        Ok(Cond::Chain {
            param: param.clone(),
            targets: branches,
        })
    }

    /// `_has:[source type]:[reference parameter]:[rest]`.
    fn has(&self, t: &str, rest: &str, value: &str, whole: &str) -> Result<Cond, Problem> {
        let mut parts = rest.splitn(3, ':');
        let (Some(source), Some(code), Some(inner)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(problem(
                whole,
                "_has takes _has:[type]:[reference parameter]:[parameter]",
            ));
        };
        if model().resource(source).is_none() {
            return Err(problem(whole, format!("unknown resource type '{source}'")));
        }
        let param = self
            .registry
            .get(source, code)
            .filter(|p| p.kind == Kind::Reference)
            .ok_or_else(|| {
                problem(
                    whole,
                    format!("{source} has no reference parameter '{code}'"),
                )
            })?;
        if !param.target.is_empty() && !param.target.iter().any(|x| x == t) {
            return Err(problem(
                whole,
                format!("{source}.{code} cannot refer to {t}"),
            ));
        }
        let inner = self.cond(source, inner, value, whole)?;
        Ok(Cond::Has {
            source_type: source.to_string(),
            param: param.clone(),
            inner: Box::new(inner),
        })
    }
}

/// A token value as (system, code): system `None` for any, `Some("")` for none.
fn token_parts(value: &str) -> Option<(Option<String>, Option<String>)> {
    let t = token::parse_token(value)?;
    let system = match t.system {
        token::System::Any => None,
        token::System::Absent => Some(String::new()),
        token::System::Is(s) => Some(s),
    };
    Some((system, t.code))
}

/// Whether a parameter of this kind can sort.
fn sortable(kind: Kind) -> bool {
    !matches!(kind, Kind::Composite | Kind::Special)
}

/// A date search value: its prefix and range.
pub fn date_value(value: &str) -> Result<(Prefix, date::DateRange), String> {
    let (prefix, rest) = split_prefix(value);
    let range = date::range(rest)
        .ok_or_else(|| format!("'{rest}' is not a valid date, dateTime or instant"))?;
    Ok((prefix, range))
}
