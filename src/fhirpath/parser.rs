//! The FHIRPath parser: a precedence-climbing parser over the lexer's tokens
//! that builds the [`Expr`] tree, with the N1 operator precedence (`.` and
//! `[]`, unary `+`/`-`, `* / div mod`, `+ - &`, `is as`, `|`, comparisons,
//! equality, `in contains`, `and`, `or xor`, `implies`). Function names and
//! type names are resolved here; unknown ones are syntax errors. The tree's
//! depth is bounded so that evaluating or dropping it cannot exhaust the stack.

use super::ast::{BinOp, Call, Expr, Func, POLARITY_PRECEDENCE, TYPE_OP_PRECEDENCE, TypeOp, Var};
use super::decimal::Decimal;
use super::error::Error;
use super::lexer::{Tok, Token, tokenize};
use super::pattern::compile;
use super::quantity::{Quantity, calendar_keyword};
use super::types::{TypeSpec, fhir_type};
use super::value::SystemValue;

/// How deep the expression tree may be.
const MAX_DEPTH: usize = 200;

/// Keywords that are operators and never identifiers.
const RESERVED: &[&str] = &["and", "or", "xor", "implies", "div", "mod", "true", "false"];

/// Parses an expression.
pub(crate) fn parse(text: &str) -> Result<Expr, Error> {
    let tokens = tokenize(text)?;
    let mut p = Parser { tokens, pos: 0 };
    let (expr, _) = p.expression(0, 0)?;
    match &p.peek().tok {
        Tok::Eof => Ok(expr),
        other => Err(p.error(&format!("unexpected {}", describe(other)))),
    }
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Delimited(s) => format!("`{s}`"),
        Tok::Str(s) => format!("string '{s}'"),
        Tok::Number(n) => format!("number {n}"),
        Tok::Temporal(t) => format!("@{t}"),
        Tok::Constant(c) => format!("%{c}"),
        Tok::Variable(v) => format!("${v}"),
        Tok::Sym(s) => format!("'{s}'"),
        Tok::Eof => "end of expression".to_string(),
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

/// An expression and the depth of its tree.
type Parsed = (Expr, usize);

impl Parser {
    fn peek(&self) -> &Token {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[self.pos.min(last)]
    }

    fn advance(&mut self) -> Tok {
        let tok = self.peek().tok.clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        tok
    }

    fn error(&self, message: &str) -> Error {
        Error::syntax(format!("{message} at offset {}", self.peek().pos))
    }

    fn expect(&mut self, sym: &'static str) -> Result<(), Error> {
        if self.peek().tok == Tok::Sym(sym) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!(
                "expected '{sym}', found {}",
                describe(&self.peek().tok)
            )))
        }
    }

    fn check_depth(&self, depth: usize) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            Err(self.error("expression nested too deeply"))
        } else {
            Ok(())
        }
    }

    /// An infix operator at the current token, with its precedence.
    fn infix(&self) -> Option<(Infix, u8)> {
        match &self.peek().tok {
            Tok::Sym(".") | Tok::Sym("[") => Some((Infix::Postfix, 13)),
            Tok::Sym(s) => BinOp::lookup(s).map(|(op, p)| (Infix::Binary(op), p)),
            Tok::Ident(s) if s == "is" => Some((Infix::Type(TypeOp::Is), TYPE_OP_PRECEDENCE)),
            Tok::Ident(s) if s == "as" => Some((Infix::Type(TypeOp::As), TYPE_OP_PRECEDENCE)),
            Tok::Ident(s) => BinOp::lookup(s).map(|(op, p)| (Infix::Binary(op), p)),
            _ => None,
        }
    }

    /// An expression whose operators all bind tighter than `min`.
    fn expression(&mut self, min: u8, depth: usize) -> Result<Parsed, Error> {
        self.check_depth(depth)?;
        let (mut left, mut d) = self.prefix(depth)?;
        while let Some((infix, prec)) = self.infix() {
            if prec <= min {
                break;
            }
            (left, d) = match infix {
                Infix::Postfix => self.postfix(left, d, depth)?,
                Infix::Type(op) => {
                    self.pos += 1;
                    let name = self.qualified_name()?;
                    let ty = TypeSpec::resolve(&name)?;
                    let target = Some(Box::new(left));
                    // The `as` operator filters like `ofType()` rather than
                    // failing on several items: search parameters apply it
                    // to repeating elements (`Observation.component.value as
                    // Quantity`). The function `as()` keeps the strict rule.
                    let op = if op == TypeOp::As { TypeOp::OfType } else { op };
                    (Expr::TypeOp { target, op, ty }, d + 1)
                }
                Infix::Binary(op) => {
                    self.pos += 1;
                    let (right, rd) = self.expression(prec, depth + 1)?;
                    (
                        Expr::Binary(op, Box::new(left), Box::new(right)),
                        d.max(rd) + 1,
                    )
                }
            };
            self.check_depth(d)?;
        }
        Ok((left, d))
    }

    /// `.member`, `.function(…)` or `[index]` after `left`.
    fn postfix(&mut self, left: Expr, d: usize, depth: usize) -> Result<Parsed, Error> {
        if self.advance() == Tok::Sym("[") {
            let (index, id) = self.expression(0, depth + 1)?;
            self.expect("]")?;
            return Ok((Expr::Index(Box::new(left), Box::new(index)), d.max(id) + 1));
        }
        let name = match self.advance() {
            // After a dot a keyword is a name too (`text.div`).
            Tok::Ident(s) | Tok::Delimited(s) => s,
            other => {
                self.pos -= 1;
                return Err(self.error(&format!(
                    "expected a name after '.', found {}",
                    describe(&other)
                )));
            }
        };
        if self.peek().tok == Tok::Sym("(") {
            return self.call(Some((left, d)), &name, depth);
        }
        let target = Some(Box::new(left));
        Ok((Expr::Member { target, name }, d + 1))
    }

    /// `Name`, `FHIR.Name` or `System.Name` after `is`/`as`.
    fn qualified_name(&mut self) -> Result<String, Error> {
        let mut name = self.type_part()?;
        if (name == "FHIR" || name == "System") && self.peek().tok == Tok::Sym(".") {
            self.pos += 1;
            name.push('.');
            name.push_str(&self.type_part()?);
        }
        Ok(name)
    }

    fn type_part(&mut self) -> Result<String, Error> {
        match self.advance() {
            Tok::Ident(s) | Tok::Delimited(s) => Ok(s),
            other => {
                self.pos -= 1;
                Err(self.error(&format!("expected a type name, found {}", describe(&other))))
            }
        }
    }

    fn prefix(&mut self, depth: usize) -> Result<Parsed, Error> {
        let tok = self.advance();
        let expr = match tok {
            Tok::Number(n) => return self.number(&n),
            Tok::Str(s) => Expr::Literal(SystemValue::string(&s)),
            Tok::Temporal(t) => Expr::Literal(SystemValue::temporal(t)),
            Tok::Constant(c) => Expr::Constant(c),
            Tok::Variable(v) => Expr::Variable(match v.as_str() {
                "this" => Var::This,
                "index" => Var::Index,
                "total" => Var::Total,
                _ => {
                    self.pos -= 1;
                    return Err(self.error(&format!("unknown variable ${v}")));
                }
            }),
            Tok::Sym("(") => {
                let (inner, d) = self.expression(0, depth + 1)?;
                self.expect(")")?;
                return Ok((inner, d));
            }
            Tok::Sym("{") => {
                self.expect("}")?;
                Expr::Empty
            }
            Tok::Sym(sign @ ("+" | "-")) => {
                let (operand, d) = self.expression(POLARITY_PRECEDENCE, depth + 1)?;
                // Unary plus negates twice: the operand must still be a number.
                let expr = if sign == "-" {
                    Expr::Negate(Box::new(operand))
                } else {
                    Expr::Negate(Box::new(Expr::Negate(Box::new(operand))))
                };
                return Ok((expr, d + 2));
            }
            Tok::Ident(s) if s == "true" || s == "false" => {
                Expr::Literal(SystemValue::Boolean(s == "true"))
            }
            Tok::Ident(s) if !RESERVED.contains(&s.as_str()) => return self.identifier(s, depth),
            Tok::Delimited(s) => return self.identifier(s, depth),
            other => {
                self.pos -= 1;
                return Err(self.error(&format!("unexpected {}", describe(&other))));
            }
        };
        Ok((expr, 1))
    }

    /// An identifier at the start of a path: a function call, a type name or a member.
    fn identifier(&mut self, name: String, depth: usize) -> Result<Parsed, Error> {
        if self.peek().tok == Tok::Sym("(") {
            return self.call(None, &name, depth);
        }
        let type_name = name
            .starts_with(|c: char| c.is_ascii_uppercase())
            .then(|| fhir_type(&name))
            .flatten();
        match type_name {
            Some(t) => Ok((Expr::TypeName(t), 1)),
            None => Ok((Expr::Member { target: None, name }, 1)),
        }
    }

    /// A number, and the unit that makes it a quantity (`4 'mg'`, `1 year`).
    fn number(&mut self, text: &str) -> Result<Parsed, Error> {
        let unit = match self.peek().tok.clone() {
            Tok::Str(u) => Some(u),
            Tok::Ident(u) if calendar_keyword(&u).is_some() => Some(u),
            _ => None,
        };
        let decimal = Decimal::parse(text).ok_or_else(|| self.error("number out of range"))?;
        let value = match unit {
            Some(u) => {
                self.pos += 1;
                SystemValue::Quantity(Quantity::new(decimal, u))
            }
            None if text.contains('.') => SystemValue::Decimal(decimal),
            None => SystemValue::Integer(
                decimal
                    .to_i64()
                    .ok_or_else(|| self.error("integer out of range"))?,
            ),
        };
        Ok((Expr::Literal(value), 1))
    }

    /// `name(args)`, on `target` or on the focus.
    fn call(&mut self, target: Option<Parsed>, name: &str, depth: usize) -> Result<Parsed, Error> {
        self.expect("(")?;
        let mut args = Vec::new();
        let mut d = target.as_ref().map_or(0, |t| t.1);
        if self.peek().tok != Tok::Sym(")") {
            loop {
                let (arg, ad) = self.expression(0, depth + 1)?;
                d = d.max(ad);
                args.push(arg);
                if self.peek().tok == Tok::Sym(",") {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }
        self.expect(")")?;
        let target = target.map(|t| t.0);
        let type_op = match name {
            "is" => Some(TypeOp::Is),
            "as" => Some(TypeOp::As),
            "ofType" => Some(TypeOp::OfType),
            _ => None,
        };
        if let Some(op) = type_op {
            let [arg] = <[Expr; 1]>::try_from(args)
                .map_err(|_| self.error(&format!("{name}() takes one type")))?;
            let ty = TypeSpec::resolve(&type_name_of(&arg).ok_or_else(|| {
                self.error(&format!("the argument of {name}() must be a type name"))
            })?)?;
            let target = target.map(Box::new);
            return Ok((Expr::TypeOp { target, op, ty }, d + 1));
        }
        let (func, min, max) =
            Func::lookup(name).ok_or_else(|| self.error(&format!("unknown function {name}()")))?;
        if args.len() < min || args.len() > max {
            return Err(self.error(&format!(
                "{name}() takes {min}{} arguments, not {}",
                if max > min {
                    format!(" to {max}")
                } else {
                    String::new()
                },
                args.len()
            )));
        }
        let regex = match (func, args.first()) {
            (
                Func::Matches | Func::MatchesFull | Func::ReplaceMatches,
                Some(Expr::Literal(SystemValue::String(p))),
            ) => Some(compile(p, func == Func::MatchesFull)?),
            _ => None,
        };
        let call = Call {
            target,
            func,
            args,
            regex,
        };
        Ok((Expr::Call(Box::new(call)), d + 1))
    }
}

/// What follows a complete operand.
enum Infix {
    Postfix,
    Binary(BinOp),
    Type(TypeOp),
}

/// The type name an argument of `is()`, `as()` or `ofType()` spells.
fn type_name_of(expr: &Expr) -> Option<String> {
    match expr {
        Expr::TypeName(t) => Some((*t).to_string()),
        Expr::Member { target: None, name } => Some(name.clone()),
        Expr::Member {
            target: Some(ns),
            name,
        } => match ns.as_ref() {
            Expr::Member {
                target: None,
                name: ns,
            } if ns == "FHIR" || ns == "System" => Some(format!("{ns}.{name}")),
            _ => None,
        },
        _ => None,
    }
}
