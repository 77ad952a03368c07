//! FHIRPath (N1, with the FHIR R4 additions) over resources held as
//! `serde_json::Value`: parse an [`Expression`] once, check it against the
//! type model if wanted, and evaluate it on any number of resources. Results
//! are [`Item`]s that borrow the resource's JSON (with each node's FHIR type,
//! from the model) or carry computed [`SystemValue`]s; nothing of the input
//! is copied on the way.
//!
//! ```
//! use hemolink::fhirpath::{Environment, Expression, Item};
//! let patient = serde_json::json!({"resourceType": "Patient", "birthDate": "1974-12-25"});
//! let expr = Expression::parse("Patient.birthDate").unwrap();
//! let items = expr.evaluate(&patient, &Environment::default()).unwrap();
//! assert!(matches!(items[0], Item::Node { type_name: Some("date"), .. }));
//! ```
//!
//! The parts: `lexer` and `parser` build the tree (`ast`), `check` compares
//! it with the model, `eval` walks it with `navigate` (JSON and model),
//! `compare` and `arith` (operators) and `functions` (by theme), over the
//! value types of `value`, `decimal`, `temporal` and `quantity`.

mod arith;
mod ast;
mod check;
mod compare;
mod decimal;
mod error;
mod eval;
mod functions;
mod lexer;
mod navigate;
mod parser;
mod pattern;
mod quantity;
mod temporal;
mod types;
mod value;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_search;

pub use decimal::Decimal;
pub use error::{Error, ErrorKind};
pub use quantity::Quantity;
pub use temporal::{Precision, Temporal, TemporalKind};
pub use value::{Item, Shape, SystemValue};

use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// A parsed expression: reusable and shareable between threads.
pub struct Expression {
    text: String,
    root: ast::Expr,
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Expression").field(&self.text).finish()
    }
}

impl Expression {
    /// Parses an expression; unknown functions and types are errors here.
    pub fn parse(text: &str) -> Result<Expression, Error> {
        Ok(Expression {
            text: text.to_string(),
            root: parser::parse(text)?,
        })
    }

    /// The text the expression was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Checks the expression against the model for a context of type
    /// `root_type` (`Patient`, `Resource`, …): paths must name elements that
    /// exist. `strict` adds the rules of the specification's strict mode.
    pub fn check(&self, root_type: &str, strict: bool) -> Result<(), Error> {
        check::Checker::new(root_type, strict)?.check(&self.root)
    }

    /// Evaluates the expression on a resource (`Value::Null` for no input).
    pub fn evaluate<'a>(
        &self,
        resource: &'a Value,
        env: &Environment,
    ) -> Result<Vec<Item<'a>>, Error> {
        self.run(None, resource, env)
    }

    /// Evaluates the expression with `item` as its context (`$this`) and
    /// `resource` as `%resource`: what a composite search parameter's
    /// components do, relative to each element its own expression selects.
    pub fn evaluate_item<'a>(
        &self,
        item: &Item<'a>,
        resource: &'a Value,
        env: &Environment,
    ) -> Result<Vec<Item<'a>>, Error> {
        self.run(Some(item.clone()), resource, env)
    }

    /// Evaluates with `this` as the context (the resource when `None`).
    fn run<'a>(
        &self,
        this: Option<Item<'a>>,
        resource: &'a Value,
        env: &Environment,
    ) -> Result<Vec<Item<'a>>, Error> {
        let root = (!resource.is_null()).then(|| {
            let (type_name, shape) = navigate::resource_type(resource);
            Item::Node {
                value: resource,
                extension: None,
                type_name,
                shape,
            }
        });
        let evaluator = eval::Evaluator {
            env,
            root: root.clone(),
            clock: Default::default(),
        };
        let scope = eval::Scope {
            this: this.or(root),
            ..Default::default()
        };
        evaluator.eval(&self.root, &scope)
    }
}

/// Finds the resource a reference points to, for `resolve()`.
pub trait Resolver: Send + Sync {
    /// The resource for a reference as written (`Patient/1`, an absolute URL, …).
    fn resolve(&self, reference: &str) -> Option<Value>;
}

/// An external constant's value.
#[derive(Debug, Clone)]
pub(crate) enum Constant {
    Value(SystemValue),
    Json(Arc<Value>),
}

/// What an evaluation may use besides the resource: a resolver for
/// `resolve()`, external `%constants`, and a fixed `now()` for tests.
///
/// Without a resolver, `resolve()` still answers contained (`#id`) and
/// same-Bundle references, and gives a stand-in `{resourceType, id}` for
/// `Type/id` references, so that `where(resolve() is Patient)` works when
/// indexing.
#[derive(Clone, Default)]
pub struct Environment {
    pub(crate) resolver: Option<Arc<dyn Resolver>>,
    pub(crate) constants: HashMap<String, Vec<Constant>>,
    pub(crate) now: Option<Temporal>,
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Environment")
            .field("resolver", &self.resolver.is_some())
            .field("constants", &self.constants.keys().collect::<Vec<_>>())
            .field("now", &self.now)
            .finish()
    }
}

impl Environment {
    /// Resolves references with `resolver`.
    pub fn with_resolver(mut self, resolver: Arc<dyn Resolver>) -> Environment {
        self.resolver = Some(resolver);
        self
    }

    /// Defines `%name` as a collection of values.
    pub fn set_constant(&mut self, name: &str, values: Vec<SystemValue>) {
        let values = values.into_iter().map(Constant::Value).collect();
        self.constants.insert(name.to_string(), values);
    }

    /// Defines `%name` as a resource (or any JSON element).
    pub fn set_json_constant(&mut self, name: &str, value: Value) {
        let values = vec![Constant::Json(Arc::new(value))];
        self.constants.insert(name.to_string(), values);
    }

    /// Fixes what `now()`, `today()` and `timeOfDay()` return (a FHIR dateTime).
    pub fn with_now(mut self, now: &str) -> Result<Environment, Error> {
        let t = Temporal::parse_datetime(now)
            .ok_or_else(|| Error::execution(format!("{now:?} is not a date-time")))?;
        self.now = Some(t);
        Ok(self)
    }
}
