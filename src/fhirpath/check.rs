//! Static checking of an expression against the type model, before any data:
//! every path step must name an element of the type it is applied to
//! (`Patient.name.given1`, `Observation.valueQuantity` and
//! `(Observation.value as Period).unit` are semantic errors), following
//! types through `where`, `select`, `ofType`, `as`, unions and the like.
//! Where a type cannot be known (`resolve()`, `children()`, contained
//! resources) checking stops rather than guess. In strict mode an expression
//! that starts with another resource type than the context's, a non-Boolean
//! literal as `iif` criterion, and order-dependent functions on the unordered
//! results of `children()`/`descendants()` are errors too.

use super::ast::{Args, BinOp, Call, Expr, Func, TypeOp, Var};
use super::error::Error;
use super::navigate::{child_type, type_shape};
use super::types::{TypeSpec, is_subtype};
use super::value::Shape;
use crate::fhir::model::Element;

/// A FHIR type a collection's items may have.
#[derive(Clone, Copy)]
struct NodeType {
    name: &'static str,
    shape: Shape,
}

/// What is known of a collection's items.
#[derive(Clone)]
enum Known {
    /// Anything: no checks below.
    Any,
    /// Nothing at all (a path on another resource type).
    Nothing,
    /// Nodes of these FHIR types.
    Nodes(Vec<NodeType>),
    /// Computed values, of this System type when known.
    Values(Option<&'static str>),
}

fn merge(a: Known, b: Known) -> Known {
    match (a, b) {
        (Known::Nothing, x) | (x, Known::Nothing) => x,
        (Known::Nodes(mut x), Known::Nodes(y)) => {
            x.extend(y);
            Known::Nodes(x)
        }
        (Known::Values(x), Known::Values(y)) if x == y => Known::Values(x),
        _ => Known::Any,
    }
}

fn node(name: &'static str) -> Known {
    Known::Nodes(vec![NodeType {
        name,
        shape: type_shape(name),
    }])
}

/// The types an element's values may have (`Any` for resources).
fn element_types(parent: &'static [Element], el: &'static Element) -> Option<Vec<NodeType>> {
    let codes: Vec<&'static str> = if el.choice {
        el.types.iter().map(String::as_str).collect()
    } else {
        vec![el.types.first().map_or("", String::as_str)]
    };
    let mut out = Vec::new();
    for code in codes {
        if matches!(code, "Resource" | "DomainResource") {
            return None;
        }
        match child_type(parent, el, code) {
            (Some(name), shape) => out.push(NodeType { name, shape }),
            (None, _) => return None,
        }
    }
    Some(out)
}

pub(crate) struct Checker {
    pub strict: bool,
    root: Known,
}

impl Checker {
    /// A checker for expressions evaluated on resources of type `root`.
    pub(crate) fn new(root: &str, strict: bool) -> Result<Checker, Error> {
        let name = super::types::fhir_type(root)
            .ok_or_else(|| Error::semantic(format!("unknown type {root}")))?;
        Ok(Checker {
            strict,
            root: node(name),
        })
    }

    pub(crate) fn check(&self, expr: &Expr) -> Result<(), Error> {
        self.visit(expr, &self.root.clone()).map(|_| ())
    }

    fn visit(&self, expr: &Expr, focus: &Known) -> Result<Known, Error> {
        Ok(match expr {
            Expr::Literal(v) => Known::Values(Some(v.type_name())),
            Expr::Empty => Known::Nothing,
            Expr::Member { target, name } => {
                let input = match target {
                    Some(t) => self.visit(t, focus)?,
                    None => focus.clone(),
                };
                member(&input, name)?
            }
            Expr::TypeName(t) => match focus {
                Known::Nodes(types)
                    if types
                        .iter()
                        .any(|n| is_subtype(n.name, t) || is_subtype(t, n.name)) =>
                {
                    node(t)
                }
                Known::Nodes(types) if self.strict => {
                    let names: Vec<&str> = types.iter().map(|n| n.name).collect();
                    return Err(Error::semantic(format!(
                        "the expression is about {t}, but its context is {}",
                        names.join(" or ")
                    )));
                }
                Known::Nodes(_) => Known::Nothing,
                _ => node(t),
            },
            Expr::Call(call) => self.call(call, focus)?,
            Expr::TypeOp { target, op, ty } => {
                if let Some(t) = target {
                    self.visit(t, focus)?;
                }
                match (op, ty) {
                    (TypeOp::Is, _) => Known::Values(Some("Boolean")),
                    (_, TypeSpec::Fhir(name)) => node(name),
                    (_, TypeSpec::Quantity) => Known::Any,
                    (_, TypeSpec::System(name)) => Known::Values(Some(name)),
                    (_, TypeSpec::Nothing) => Known::Nothing,
                }
            }
            Expr::Index(target, index) => {
                self.visit(index, focus)?;
                if self.strict && unordered(target) {
                    return Err(Error::semantic("an indexer needs an ordered collection"));
                }
                self.visit(target, focus)?
            }
            Expr::Negate(operand) => {
                self.visit(operand, focus)?;
                Known::Values(None)
            }
            Expr::Binary(op, left, right) => {
                let l = self.visit(left, focus)?;
                let r = self.visit(right, focus)?;
                match op {
                    BinOp::Union => merge(l, r),
                    _ => Known::Values(None),
                }
            }
            Expr::Variable(Var::This) => focus.clone(),
            Expr::Variable(_) => Known::Any,
            Expr::Constant(name) => match name.as_str() {
                "resource" | "rootResource" | "context" => self.root.clone(),
                _ => Known::Any,
            },
        })
    }

    fn call(&self, call: &Call, focus: &Known) -> Result<Known, Error> {
        let input = match &call.target {
            Some(t) => self.visit(t, focus)?,
            None => focus.clone(),
        };
        let mut arg_types = Vec::with_capacity(call.args.len());
        for (i, arg) in call.args.iter().enumerate() {
            let lambda = call.func.args() == Args::Lambda
                && !(call.func == Func::Trace && i == 0)
                && !(call.func == Func::Aggregate && i == 1);
            arg_types.push(self.visit(arg, if lambda { &input } else { focus })?);
        }
        if self.strict {
            if call.func == Func::Iif
                && matches!(arg_types.first(), Some(Known::Values(Some(t))) if *t != "Boolean")
            {
                return Err(Error::semantic("the criterion of iif() must be a Boolean"));
            }
            let ordered = matches!(
                call.func,
                Func::First | Func::Last | Func::Tail | Func::Skip | Func::Take | Func::Single
            );
            if ordered && call.target.as_ref().is_some_and(unordered) {
                return Err(Error::semantic(format!(
                    "{}() needs an ordered collection",
                    call.func.name()
                )));
            }
        }
        let first_arg = || arg_types.first().cloned().unwrap_or(Known::Any);
        Ok(match call.func {
            Func::Where
            | Func::First
            | Func::Last
            | Func::Tail
            | Func::Skip
            | Func::Take
            | Func::Single
            | Func::Distinct
            | Func::Trace
            | Func::Intersect
            | Func::Exclude
            | Func::Sort => input,
            Func::Select => first_arg(),
            Func::Union | Func::Combine => merge(input, first_arg()),
            Func::Extension => node("Extension"),
            Func::Repeat
            | Func::Resolve
            | Func::Children
            | Func::Descendants
            | Func::Iif
            | Func::Aggregate
            | Func::Type => Known::Any,
            _ => Known::Values(None),
        })
    }
}

/// Whether an expression yields a collection without a defined order.
fn unordered(expr: &Expr) -> bool {
    matches!(expr, Expr::Call(c) if matches!(c.func, Func::Children | Func::Descendants))
}

/// The type of `name` on items of type `input`; an error if no type has it.
fn member(input: &Known, name: &str) -> Result<Known, Error> {
    let Known::Nodes(types) = input else {
        return Ok(match input {
            Known::Nothing => Known::Nothing,
            _ => Known::Any,
        });
    };
    let mut found = Vec::new();
    for t in types {
        let Some(elements) = t.shape.0 else {
            return Ok(Known::Any);
        };
        if let Some(el) = elements.iter().find(|e| e.name == name) {
            match element_types(elements, el) {
                Some(kinds) => found.extend(kinds),
                None => return Ok(Known::Any),
            }
        }
    }
    if found.is_empty() {
        let names: Vec<&str> = types.iter().map(|n| n.name).collect();
        return Err(Error::semantic(format!(
            "{} has no element '{name}'",
            names.join(" or ")
        )));
    }
    Ok(Known::Nodes(found))
}
