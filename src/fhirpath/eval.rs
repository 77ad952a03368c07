//! The evaluator: walks an [`Expr`] over the input, collection in, collection
//! out. Paths navigate the JSON without copying it, operators follow the
//! empty-propagation and singleton rules, `and`/`or`/`xor`/`implies` use
//! three-valued logic, and `$this`, `$index`, `$total` and `%constants` come
//! from the scope and the [`Environment`].

use super::arith;
use super::ast::{BinOp, Expr, TypeOp, Var};
use super::compare;
use super::error::Error;
use super::functions;
use super::navigate::{self, Child};
use super::temporal::Temporal;
use super::types::is_subtype;
use super::value::{Item, Prim, SystemValue};
use super::{Constant, Environment};
use std::cell::OnceCell;
use std::sync::Arc;

/// A collection.
pub(crate) type Items<'a> = Vec<Item<'a>>;

/// No collection may grow beyond this many items.
pub(crate) const MAX_ITEMS: usize = 1_000_000;

/// The variables in scope: `$this`, `$index` and, in `aggregate`, `$total`.
#[derive(Clone, Default)]
pub(crate) struct Scope<'a> {
    pub this: Option<Item<'a>>,
    pub index: Option<usize>,
    pub total: Option<Items<'a>>,
}

/// One evaluation: the environment and the resource it runs on.
pub(crate) struct Evaluator<'e, 'a> {
    pub env: &'e Environment,
    /// `%resource`, `%rootResource` and `%context`.
    pub root: Option<Item<'a>>,
    /// The moment `now()` reads, fixed at its first use.
    pub clock: OnceCell<Temporal>,
}

/// The single item of a collection, `None` if empty, an error if more.
pub(crate) fn single<'x, 'a>(
    items: &'x [Item<'a>],
    what: &str,
) -> Result<Option<&'x Item<'a>>, Error> {
    match items {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(Error::execution(format!(
            "{what} expects a single item, got {}",
            items.len()
        ))),
    }
}

/// A collection as a Boolean: empty, the Boolean it holds, or `true` for one
/// item of another type (singleton evaluation); an error for several items.
pub(crate) fn to_bool(items: &[Item<'_>], what: &str) -> Result<Option<bool>, Error> {
    Ok(single(items, what)?.map(|item| match item.prim() {
        Some(Prim::Boolean(b)) => b,
        _ => true,
    }))
}

/// A collection of one Boolean.
pub(crate) fn boolean<'a>(b: bool) -> Items<'a> {
    vec![Item::boolean(b)]
}

/// An optional Boolean as a collection.
pub(crate) fn maybe_bool<'a>(b: Option<bool>) -> Items<'a> {
    b.map(boolean).unwrap_or_default()
}

/// Appends the items of `more` that `out` does not hold yet (`|`, `union`).
pub(crate) fn union_into<'a>(out: &mut Items<'a>, more: Items<'a>) {
    for item in more {
        if !out.iter().any(|o| o.same_node(&item)) && !compare::contains(out, &item) {
            out.push(item);
        }
    }
}

impl<'a> Evaluator<'_, 'a> {
    /// `now()`: the environment's fixed moment, or the clock read once.
    pub(crate) fn now(&self) -> Temporal {
        *self
            .clock
            .get_or_init(|| self.env.now.unwrap_or_else(Temporal::now))
    }

    pub(crate) fn eval(&self, expr: &Expr, scope: &Scope<'a>) -> Result<Items<'a>, Error> {
        let out = match expr {
            Expr::Literal(v) => vec![Item::Value(v.clone())],
            Expr::Empty => Vec::new(),
            Expr::Member { target, name } => {
                let input = self.focus(target.as_deref(), scope)?;
                self.member(&input, name)
            }
            Expr::TypeName(t) => self
                .focus(None, scope)?
                .into_iter()
                .filter(|i| i.type_name().is_some_and(|n| is_subtype(n, t)))
                .collect(),
            Expr::Call(call) => functions::call(self, call, scope)?,
            Expr::TypeOp { target, op, ty } => {
                let input = self.focus(target.as_deref(), scope)?;
                match op {
                    TypeOp::Is => {
                        let item = single(&input, "is")?;
                        maybe_bool(item.map(|i| ty.matches(i, false)))
                    }
                    TypeOp::As => match single(&input, "as")? {
                        Some(i) if ty.matches(i, true) => input,
                        _ => Vec::new(),
                    },
                    TypeOp::OfType => input.into_iter().filter(|i| ty.matches(i, true)).collect(),
                }
            }
            Expr::Index(target, index) => {
                let input = self.eval(target, scope)?;
                let index = self.eval(index, scope)?;
                match single(&index, "an index")?.map(Item::prim) {
                    None => Vec::new(),
                    Some(Some(Prim::Integer(i))) => usize::try_from(i)
                        .ok()
                        .and_then(|i| input.into_iter().nth(i))
                        .into_iter()
                        .collect(),
                    Some(_) => return Err(Error::execution("an index must be an integer")),
                }
            }
            Expr::Negate(operand) => self.negate(&self.eval(operand, scope)?)?,
            Expr::Binary(op, left, right) => self.binary(*op, left, right, scope)?,
            Expr::Variable(Var::This) => scope.this.iter().cloned().collect(),
            Expr::Variable(Var::Index) => scope
                .index
                .and_then(|i| i64::try_from(i).ok())
                .map(|i| Item::Value(SystemValue::Integer(i)))
                .into_iter()
                .collect(),
            Expr::Variable(Var::Total) => scope.total.clone().unwrap_or_default(),
            Expr::Constant(name) => self.constant(name)?,
        };
        if out.len() > MAX_ITEMS {
            return Err(Error::execution("the result grew beyond a million items"));
        }
        Ok(out)
    }

    /// The input of a step: its target's result, or the focus (`$this`).
    pub(crate) fn focus(
        &self,
        target: Option<&Expr>,
        scope: &Scope<'a>,
    ) -> Result<Items<'a>, Error> {
        match target {
            Some(t) => self.eval(t, scope),
            None => Ok(scope.this.iter().cloned().collect()),
        }
    }

    /// Evaluates `expr` with `$this` set to `item` (a lambda argument).
    pub(crate) fn eval_on(
        &self,
        expr: &Expr,
        item: &Item<'a>,
        index: usize,
    ) -> Result<Items<'a>, Error> {
        let scope = Scope {
            this: Some(item.clone()),
            index: Some(index),
            total: None,
        };
        self.eval(expr, &scope)
    }

    /// `name` on every item of `input`.
    pub(crate) fn member(&self, input: &[Item<'a>], name: &str) -> Items<'a> {
        let mut out = Vec::new();
        for item in input {
            step(item, &mut out, |v, e, s, kids| {
                navigate::member(v, e, s, name, kids)
            });
        }
        out
    }

    fn negate(&self, input: &[Item<'a>]) -> Result<Items<'a>, Error> {
        let Some(item) = single(input, "unary minus")? else {
            return Ok(Vec::new());
        };
        let value = match item.prim() {
            Some(Prim::Integer(i)) => i.checked_neg().map(SystemValue::Integer),
            Some(Prim::Decimal(d)) => Some(SystemValue::Decimal(d.neg())),
            Some(Prim::Quantity(q)) => Some(SystemValue::Quantity(q.scaled(q.value.neg()))),
            _ => return Err(Error::execution("unary minus needs a number or a quantity")),
        };
        Ok(value.map(Item::Value).into_iter().collect())
    }

    fn constant(&self, name: &str) -> Result<Items<'a>, Error> {
        if matches!(name, "resource" | "rootResource" | "context") {
            return Ok(self.root.iter().cloned().collect());
        }
        if let Some(values) = self.env.constants.get(name) {
            return Ok(values
                .iter()
                .map(|c| match c {
                    Constant::Value(v) => Item::Value(v.clone()),
                    Constant::Json(j) => {
                        let (type_name, shape) = navigate::resource_type(j);
                        Item::Owned {
                            value: Arc::clone(j),
                            extension: None,
                            type_name,
                            shape,
                        }
                    }
                })
                .collect());
        }
        let text = match name {
            "ucum" => "http://unitsofmeasure.org".to_string(),
            "sct" => "http://snomed.info/sct".to_string(),
            "loinc" => "http://loinc.org".to_string(),
            _ => {
                if let Some(vs) = name.strip_prefix("vs-") {
                    format!("http://hl7.org/fhir/ValueSet/{vs}")
                } else if let Some(ext) = name.strip_prefix("ext-") {
                    format!("http://hl7.org/fhir/StructureDefinition/{ext}")
                } else {
                    return Err(Error::execution(format!("unknown constant %{name}")));
                }
            }
        };
        Ok(vec![Item::string(&text)])
    }

    fn binary(
        &self,
        op: BinOp,
        left: &Expr,
        right: &Expr,
        scope: &Scope<'a>,
    ) -> Result<Items<'a>, Error> {
        let l = self.eval(left, scope)?;
        match op {
            BinOp::And | BinOp::Or | BinOp::Implies => {
                let a = to_bool(&l, "a Boolean operator")?;
                let short = match op {
                    BinOp::And => a == Some(false),
                    BinOp::Or => a == Some(true),
                    _ => a == Some(false),
                };
                if short {
                    return Ok(boolean(op != BinOp::And));
                }
                let b = to_bool(&self.eval(right, scope)?, "a Boolean operator")?;
                return Ok(maybe_bool(match (op, a, b) {
                    (BinOp::And, _, Some(false)) => Some(false),
                    (BinOp::And, Some(true), Some(true)) => Some(true),
                    (BinOp::Or, _, Some(true)) => Some(true),
                    (BinOp::Or, Some(false), Some(false)) => Some(false),
                    (BinOp::Implies, Some(true), b) => b,
                    (BinOp::Implies, None, Some(true)) => Some(true),
                    _ => None,
                }));
            }
            _ => {}
        }
        let r = self.eval(right, scope)?;
        Ok(match op {
            BinOp::Xor => {
                let a = to_bool(&l, "xor")?;
                let b = to_bool(&r, "xor")?;
                maybe_bool(a.zip(b).map(|(a, b)| a != b))
            }
            BinOp::Union => {
                let mut out = Vec::with_capacity(l.len() + r.len());
                union_into(&mut out, l);
                union_into(&mut out, r);
                out
            }
            BinOp::Eq => maybe_bool(compare::collections_equal(&l, &r)),
            BinOp::Ne => maybe_bool(compare::collections_equal(&l, &r).map(|b| !b)),
            BinOp::Equiv => boolean(compare::collections_equivalent(&l, &r)),
            BinOp::NotEquiv => boolean(!compare::collections_equivalent(&l, &r)),
            BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge => {
                let (Some(a), Some(b)) = (single(&l, "a comparison")?, single(&r, "a comparison")?)
                else {
                    return Ok(Vec::new());
                };
                maybe_bool(compare::order(a, b)?.map(|o| match op {
                    BinOp::Lt => o.is_lt(),
                    BinOp::Gt => o.is_gt(),
                    BinOp::Le => o.is_le(),
                    _ => o.is_ge(),
                }))
            }
            BinOp::In | BinOp::Contains => {
                let (needle, haystack) = if op == BinOp::In { (&l, &r) } else { (&r, &l) };
                match single(needle, "in/contains")? {
                    None => Vec::new(),
                    Some(item) => boolean(compare::contains(haystack, item)),
                }
            }
            BinOp::Concat => {
                let text = |items: &[Item<'_>]| -> Result<String, Error> {
                    Ok(single(items, "&")?
                        .and_then(Item::prim)
                        .map(|p| p.to_text().into_owned())
                        .unwrap_or_default())
                };
                vec![Item::string(&(text(&l)? + &text(&r)?))]
            }
            _ => {
                let (Some(a), Some(b)) = (single(&l, "arithmetic")?, single(&r, "arithmetic")?)
                else {
                    return Ok(Vec::new());
                };
                let (Some(x), Some(y)) = (a.prim(), b.prim()) else {
                    return Err(Error::execution("arithmetic needs primitive values"));
                };
                arith::apply(op, &x, &y)?
                    .map(Item::Value)
                    .into_iter()
                    .collect()
            }
        })
    }
}

/// Applies a navigation (`member`, `children`) to one item, adding the
/// children: borrowed nodes stay borrowed, nodes of an owned resource are
/// copied out of it.
pub(crate) fn step<'a>(
    item: &Item<'a>,
    out: &mut Items<'a>,
    navigate: impl for<'v> Fn(
        &'v serde_json::Value,
        Option<&'v serde_json::Value>,
        super::value::Shape,
        &mut Vec<Child<'v>>,
    ),
) {
    match item {
        Item::Node {
            value,
            extension,
            shape,
            ..
        } => {
            let mut kids = Vec::new();
            navigate(value, *extension, *shape, &mut kids);
            out.extend(kids.into_iter().map(|c| Item::Node {
                value: c.value,
                extension: c.extension,
                type_name: c.type_name,
                shape: c.shape,
            }));
        }
        Item::Owned {
            value,
            extension,
            shape,
            ..
        } => {
            let mut kids = Vec::new();
            navigate(value, extension.as_deref(), *shape, &mut kids);
            out.extend(kids.into_iter().map(|c| Item::Owned {
                value: Arc::new(c.value.clone()),
                extension: c.extension.map(|e| Arc::new(e.clone())),
                type_name: c.type_name,
                shape: c.shape,
            }));
        }
        Item::Value(_) => {}
    }
}
