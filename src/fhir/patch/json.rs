//! JSON Patch (RFC 6902) over JSON Pointer (RFC 6901).
//!
//! A patch is an array of operations (`add`, `remove`, `replace`, `move`,
//! `copy`, `test`) applied in order to a copy of the document; the first
//! failure ends the patch and the caller keeps its document unchanged.
//! Pointers decode `~1` to `/` and `~0` to `~` (in that order, so `~01` is
//! `~1`); an array index is `0` or digits without a leading zero and must
//! name an element, except that `add` may also name the end (the array's
//! length, or `-`). `move` refuses to move a value into its own child.
//! `test` compares by value: objects as sets of members, arrays in order,
//! numbers as exact decimals (`1`, `1.0` and `1e0` are equal), never
//! through binary floating point. Members an operation does not use are
//! ignored, as the RFC asks.
//!
//! Two limits keep a small patch from making a huge document: the result may
//! not nest deeper than [`MAX_DEPTH`], and `copy` operations may together
//! copy at most as much as the input document and the patch hold (without
//! it, `copy` of the root into itself doubles the document at every step).

use super::{MAX_DEPTH, PatchError, depth};
use serde_json::{Number, Value};

/// Applies `patch` (a JSON Patch document) to `doc` and returns the result.
/// Errors name the operation (`[2]`, `[2].path`) and why it failed.
pub fn apply(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Array(operations) = patch else {
        return Err(PatchError::invalid(
            None,
            "a JSON Patch document is an array of operations",
        ));
    };
    let mut out = doc.clone();
    let mut budget = Budget {
        doc,
        patch,
        left: None,
    };
    for (index, operation) in operations.iter().enumerate() {
        Operation::read(operation, index)?.apply(&mut out, &mut budget)?;
    }
    Ok(out)
}

/// How much `copy` operations may still copy: as much as the input document
/// and the patch hold together, counted on the first `copy`.
struct Budget<'a> {
    doc: &'a Value,
    patch: &'a Value,
    left: Option<usize>,
}

impl Budget<'_> {
    /// Takes `amount` from the budget; false when too little is left.
    fn spend(&mut self, amount: usize) -> bool {
        let left = self
            .left
            .get_or_insert_with(|| size(self.doc).saturating_add(size(self.patch)));
        if amount > *left {
            return false;
        }
        *left -= amount;
        true
    }
}

/// What an operation does, with its pointers decoded.
enum Action<'p> {
    Add(&'p Value),
    Remove,
    Replace(&'p Value),
    Move(Vec<String>),
    Copy(Vec<String>),
    Test(&'p Value),
}

/// One operation of the patch.
struct Operation<'p> {
    index: usize,
    name: &'p str,
    path: Vec<String>,
    path_text: &'p str,
    from_text: &'p str,
    action: Action<'p>,
}

impl<'p> Operation<'p> {
    /// Reads operation `index`; a malformed one is an invalid patch.
    fn read(operation: &'p Value, index: usize) -> Result<Operation<'p>, PatchError> {
        let at = |member: &str| Some(format!("[{index}]{member}"));
        let Value::Object(members) = operation else {
            return Err(PatchError::invalid(
                at(""),
                format!("operation {index} is not a JSON object"),
            ));
        };
        let name = match members.get("op") {
            Some(Value::String(s)) => s.as_str(),
            Some(_) => {
                return Err(PatchError::invalid(
                    at(".op"),
                    format!("operation {index}: op is not a string"),
                ));
            }
            None => {
                return Err(PatchError::invalid(
                    at(""),
                    format!("operation {index} has no op"),
                ));
            }
        };
        let pointer = |member: &'static str| -> Result<(&'p str, Vec<String>), PatchError> {
            let text = match members.get(member) {
                Some(Value::String(s)) => s.as_str(),
                Some(_) => {
                    return Err(PatchError::invalid(
                        at(&format!(".{member}")),
                        format!("operation {index} ({name}): {member} is not a string"),
                    ));
                }
                None => {
                    return Err(PatchError::invalid(
                        at(""),
                        format!("operation {index} ({name}) has no {member}"),
                    ));
                }
            };
            let tokens = parse_pointer(text).map_err(|why| {
                PatchError::invalid(
                    at(&format!(".{member}")),
                    format!("operation {index} ({name}): {member} {text:?} {why}"),
                )
            })?;
            Ok((text, tokens))
        };
        let value = || {
            members.get("value").ok_or_else(|| {
                PatchError::invalid(at(""), format!("operation {index} ({name}) has no value"))
            })
        };
        let known = ["add", "remove", "replace", "move", "copy", "test"];
        if !known.contains(&name) {
            return Err(PatchError::invalid(
                at(".op"),
                format!(
                    "operation {index}: unknown op {name:?} (expected one of {})",
                    known.join(", ")
                ),
            ));
        }
        let (path_text, path) = pointer("path")?;
        let mut from_text = "";
        let action = match name {
            "add" => Action::Add(value()?),
            "remove" => Action::Remove,
            "replace" => Action::Replace(value()?),
            "test" => Action::Test(value()?),
            _ => {
                let (text, from) = pointer("from")?;
                from_text = text;
                if name == "copy" {
                    Action::Copy(from)
                } else if from.len() < path.len() && path.starts_with(&from) {
                    return Err(PatchError::invalid(
                        at(".path"),
                        format!(
                            "operation {index} (move): {path_text:?} is inside {text:?}: \
                             a value cannot be moved into its own child"
                        ),
                    ));
                } else {
                    Action::Move(from)
                }
            }
        };
        Ok(Operation {
            index,
            name,
            path,
            path_text,
            from_text,
            action,
        })
    }

    /// Applies the operation to `doc`.
    fn apply(&self, doc: &mut Value, budget: &mut Budget<'_>) -> Result<(), PatchError> {
        let fail = |member: &str, why: String| {
            PatchError::unprocessable(
                Some(format!("[{}].{member}", self.index)),
                format!("operation {} ({}): {why}", self.index, self.name),
            )
        };
        let on_path = |why: String| fail("path", why);
        let on_from = |why: String| fail("from", why);
        let fits = |value: &Value| {
            if self.path.len().saturating_add(depth(value)) > MAX_DEPTH {
                Err(on_path(format!(
                    "the result would nest deeper than {MAX_DEPTH} levels"
                )))
            } else {
                Ok(())
            }
        };
        match &self.action {
            Action::Add(value) => {
                fits(value)?;
                add(doc, &self.path, (*value).clone()).map_err(on_path)?;
            }
            Action::Remove => {
                remove(doc, &self.path).map_err(on_path)?;
            }
            Action::Replace(value) => {
                fits(value)?;
                *get_mut(doc, &self.path).map_err(on_path)? = (*value).clone();
            }
            Action::Move(from) => {
                // Moving a value onto itself changes nothing, if it exists;
                // otherwise `remove` finds what is missing.
                if *from == self.path {
                    get(doc, from).map_err(on_from)?;
                } else {
                    let value = remove(doc, from).map_err(on_from)?;
                    fits(&value)?;
                    add(doc, &self.path, value).map_err(on_path)?;
                }
            }
            Action::Copy(from) => {
                let value = get(doc, from).map_err(on_from)?;
                if !budget.spend(size(value)) {
                    return Err(on_from(format!(
                        "copying {:?} is refused: copy operations may together copy no more \
                         than the document and the patch hold",
                        self.from_text
                    )));
                }
                let value = value.clone();
                fits(&value)?;
                add(doc, &self.path, value).map_err(on_path)?;
            }
            Action::Test(expected) => {
                let actual = get(doc, &self.path).map_err(on_path)?;
                if !equal(actual, expected) {
                    return Err(fail(
                        "value",
                        format!("the value at {:?} is not the one tested", self.path_text),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The reference tokens of a JSON Pointer, `~1` and `~0` decoded.
fn parse_pointer(text: &str) -> Result<Vec<String>, &'static str> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = text.strip_prefix('/') else {
        return Err("is not a JSON Pointer: it must be empty or start with /");
    };
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                match c {
                    '~' => match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => return Err("is not a JSON Pointer: ~ must be followed by 0 or 1"),
                    },
                    c => out.push(c),
                }
            }
            Ok(out)
        })
        .collect()
}

/// A pointer's text again, for messages.
fn pointer_text(tokens: &[String]) -> String {
    tokens
        .iter()
        .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// The array index a token names in an array of `len` items: an element, or
/// with `end` also the position after the last one (`len` or `-`).
fn array_index(token: &str, len: usize, end: bool) -> Result<usize, String> {
    if token == "-" {
        return if end {
            Ok(len)
        } else {
            Err("- names the end of the array, after its last element".into())
        };
    }
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    if !digits || (token.len() > 1 && token.starts_with('0')) {
        return Err(format!(
            "{token:?} is not an array index (digits without a leading zero)"
        ));
    }
    let limit = if end { len } else { len.saturating_sub(1) };
    match token.parse::<usize>() {
        Ok(i) if i <= limit && (end || len > 0) => Ok(i),
        _ => Err(format!(
            "index {token} is out of range (the array has {len} items)"
        )),
    }
}

/// The array index the last token of `tokens` names, in an array of `len`
/// items (`end`: the position after the last item may be named); the error
/// names the pointer.
fn index_at(tokens: &[String], len: usize, end: bool) -> Result<usize, String> {
    let token = tokens.last().map_or("", String::as_str);
    array_index(token, len, end).map_err(|why| format!("{}: {why}", pointer_text(tokens)))
}

/// The value a pointer names.
fn get<'v>(doc: &'v Value, tokens: &[String]) -> Result<&'v Value, String> {
    let mut current = doc;
    for (n, token) in tokens.iter().enumerate() {
        let next = match current {
            Value::Object(members) => members.get(token),
            Value::Array(items) => items.get(index_at(&tokens[..=n], items.len(), false)?),
            _ => None,
        };
        current = next.ok_or_else(|| format!("{} does not exist", pointer_text(&tokens[..=n])))?;
    }
    Ok(current)
}

/// The value a pointer names, to change it.
fn get_mut<'v>(doc: &'v mut Value, tokens: &[String]) -> Result<&'v mut Value, String> {
    let mut current = doc;
    for (n, token) in tokens.iter().enumerate() {
        let next = match current {
            Value::Object(members) => members.get_mut(token),
            Value::Array(items) => {
                let i = index_at(&tokens[..=n], items.len(), false)?;
                items.get_mut(i)
            }
            _ => None,
        };
        current = next.ok_or_else(|| format!("{} does not exist", pointer_text(&tokens[..=n])))?;
    }
    Ok(current)
}

/// RFC 6902 `add`: sets a member (replacing one of that name), inserts into
/// an array, or replaces the whole document. The parent must exist.
fn add(doc: &mut Value, tokens: &[String], value: Value) -> Result<(), String> {
    let Some((last, parent)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match get_mut(doc, parent)? {
        Value::Object(members) => {
            members.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            let i = index_at(tokens, items.len(), true)?;
            items.insert(i, value);
            Ok(())
        }
        _ => Err(format!(
            "{} is neither an object nor an array",
            if parent.is_empty() {
                "the document".to_string()
            } else {
                pointer_text(parent)
            }
        )),
    }
}

/// RFC 6902 `remove`: takes the value out and returns it.
fn remove(doc: &mut Value, tokens: &[String]) -> Result<Value, String> {
    let Some((last, parent)) = tokens.split_last() else {
        return Err("the whole document cannot be removed".into());
    };
    let missing = || format!("{} does not exist", pointer_text(tokens));
    match get_mut(doc, parent)? {
        Value::Object(members) => members.shift_remove(last).ok_or_else(missing),
        Value::Array(items) => {
            let i = index_at(tokens, items.len(), false)?;
            Ok(items.remove(i))
        }
        _ => Err(missing()),
    }
}

/// Equality by value (RFC 6902 section 4.6): numbers as exact decimals,
/// objects whatever the order of their members, arrays item by item.
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => same_number(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => false,
    }
}

fn same_number(a: &Number, b: &Number) -> bool {
    let (a, b) = (a.to_string(), b.to_string());
    a == b
        || match (exact(&a), exact(&b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        }
}

/// A number's text as an exact decimal: sign, significant digits (no
/// leading or trailing zeros) and the power of ten they are scaled by. Zero
/// is `(false, "", 0)`. `None` when the text is not a JSON number or its
/// exponent is beyond `i64`.
fn exact(text: &str) -> Option<(bool, String, i64)> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = int.chars().chain(frac.chars()).collect();
    let significant = digits.trim_start_matches('0');
    let trimmed = significant.trim_end_matches('0');
    if trimmed.is_empty() {
        return Some((false, String::new(), 0));
    }
    let trailing = i64::try_from(significant.len() - trimmed.len()).ok()?;
    let scale = exponent
        .checked_sub(i64::try_from(frac.len()).ok()?)?
        .checked_add(trailing)?;
    Some((negative, trimmed.to_string(), scale))
}

/// Roughly how many bytes a value takes: one per node, plus its text.
fn size(value: &Value) -> usize {
    let mut total = 0usize;
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        total = total.saturating_add(1);
        match v {
            Value::String(s) => total = total.saturating_add(s.len()),
            Value::Array(items) => stack.extend(items),
            Value::Object(members) => {
                for (k, v) in members {
                    total = total.saturating_add(k.len());
                    stack.push(v);
                }
            }
            _ => {}
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::patch::ErrorKind;
    use crate::testing::{Roll, mutations};
    use serde_json::json;

    fn patched(doc: Value, patch: Value) -> Value {
        apply(&doc, &patch).unwrap_or_else(|e| panic!("{e}"))
    }

    fn error(doc: Value, patch: Value) -> PatchError {
        match apply(&doc, &patch) {
            Ok(v) => panic!("expected an error, got {v}"),
            Err(e) => e,
        }
    }

    #[test]
    fn rfc_6902_appendix_a() {
        assert_eq!(
            patched(
                json!({"foo": "bar"}),
                json!([{"op": "add", "path": "/baz", "value": "qux"}])
            ),
            json!({"foo": "bar", "baz": "qux"})
        );
        assert_eq!(
            patched(
                json!({"foo": ["bar", "baz"]}),
                json!([{"op": "add", "path": "/foo/1", "value": "qux"}])
            ),
            json!({"foo": ["bar", "qux", "baz"]})
        );
        assert_eq!(
            patched(
                json!({"baz": "qux", "foo": "bar"}),
                json!([{"op": "remove", "path": "/baz"}])
            ),
            json!({"foo": "bar"})
        );
        assert_eq!(
            patched(
                json!({"foo": ["bar", "qux", "baz"]}),
                json!([{"op": "remove", "path": "/foo/1"}])
            ),
            json!({"foo": ["bar", "baz"]})
        );
        assert_eq!(
            patched(
                json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}),
                json!([{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}])
            ),
            json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}})
        );
        assert_eq!(
            patched(
                json!({"foo": ["all", "grass", "cows", "eat"]}),
                json!([{"op": "move", "from": "/foo/1", "path": "/foo/3"}])
            ),
            json!({"foo": ["all", "cows", "eat", "grass"]})
        );
        assert_eq!(
            patched(
                json!({"foo": ["bar"]}),
                json!([{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}])
            ),
            json!({"foo": ["bar", ["abc", "def"]]})
        );
        let e = error(
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz/bat", "value": "qux"}]),
        );
        assert_eq!(e.kind, ErrorKind::Unprocessable);
        assert_eq!(e.expression.as_deref(), Some("[0].path"));
        assert!(e.message.contains("/baz does not exist"), "{e}");
    }

    #[test]
    fn pointers_decode_escapes_in_order() {
        let doc = json!({"/": 9, "~1": 10, "a/b": {"m~n": 1}});
        patched(
            doc.clone(),
            json!([{"op": "test", "path": "/~01", "value": 10}]),
        );
        patched(
            doc.clone(),
            json!([{"op": "test", "path": "/~1", "value": 9}]),
        );
        assert_eq!(
            patched(
                doc.clone(),
                json!([{"op": "replace", "path": "/a~1b/m~0n", "value": 2}])
            )["a/b"]["m~n"],
            json!(2)
        );
        assert_eq!(parse_pointer(""), Ok(vec![]));
        assert_eq!(parse_pointer("/"), Ok(vec![String::new()]));
        assert_eq!(parse_pointer("//x"), Ok(vec![String::new(), "x".into()]));
        assert!(parse_pointer("a").is_err());
        assert!(parse_pointer("/~2").is_err());
        assert!(parse_pointer("/a~").is_err());
        let e = error(doc, json!([{"op": "test", "path": "/~", "value": 1}]));
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert_eq!(e.expression.as_deref(), Some("[0].path"));
    }

    #[test]
    fn the_root_and_the_empty_key() {
        let doc = json!({"": 1, "a": 2});
        assert_eq!(
            patched(
                doc.clone(),
                json!([{"op": "replace", "path": "", "value": [1]}])
            ),
            json!([1])
        );
        assert_eq!(
            patched(doc.clone(), json!([{"op": "add", "path": "", "value": 3}])),
            json!(3)
        );
        assert_eq!(
            patched(doc.clone(), json!([{"op": "remove", "path": "/"}])),
            json!({"a": 2})
        );
        error(doc, json!([{"op": "remove", "path": ""}]));
    }

    #[test]
    fn array_indexes() {
        let doc = json!({"a": [0, 1, 2]});
        for bad in [
            "/a/01", "/a/3", "/a/-", "/a/-1", "/a/1.0", "/a/ 1", "/a/x", "/a/",
        ] {
            let e = error(doc.clone(), json!([{"op": "remove", "path": bad}]));
            assert_eq!(e.expression.as_deref(), Some("[0].path"), "{bad}");
            error(
                doc.clone(),
                json!([{"op": "replace", "path": bad, "value": 9}]),
            );
        }
        assert_eq!(
            patched(
                doc.clone(),
                json!([{"op": "add", "path": "/a/3", "value": 3}])
            ),
            json!({"a": [0, 1, 2, 3]})
        );
        assert_eq!(
            patched(
                doc.clone(),
                json!([{"op": "add", "path": "/a/0", "value": 9}])
            ),
            json!({"a": [9, 0, 1, 2]})
        );
        error(
            doc.clone(),
            json!([{"op": "add", "path": "/a/4", "value": 3}]),
        );
        error(
            doc.clone(),
            json!([{"op": "add", "path": "/a/99999999999999999999999", "value": 3}]),
        );
        error(json!({"a": []}), json!([{"op": "remove", "path": "/a/0"}]));
        // An index on an object is a member name.
        assert_eq!(
            patched(json!({"0": 1}), json!([{"op": "remove", "path": "/0"}])),
            json!({})
        );
        // Below a scalar there is nothing.
        error(
            json!({"a": 1}),
            json!([{"op": "add", "path": "/a/b", "value": 3}]),
        );
    }

    #[test]
    fn move_and_copy() {
        let doc = json!({"a": {"b": {"c": 1}}, "l": [1, 2]});
        let e = error(
            doc.clone(),
            json!([{"op": "move", "from": "/a", "path": "/a/b/x"}]),
        );
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert!(e.message.contains("its own child"), "{e}");
        assert_eq!(
            patched(
                doc.clone(),
                json!([{"op": "move", "from": "/a", "path": "/a"}])
            ),
            doc
        );
        error(
            doc.clone(),
            json!([{"op": "move", "from": "/zz", "path": "/zz"}]),
        );
        // A sibling whose name starts with the same characters is not a child.
        assert_eq!(
            patched(
                json!({"a": 1, "ab": {}}),
                json!([{"op": "move", "from": "/a", "path": "/ab/x"}])
            ),
            json!({"ab": {"x": 1}})
        );
        assert_eq!(
            patched(
                doc.clone(),
                json!([{"op": "copy", "from": "/a/b", "path": "/l/-"}])
            ),
            json!({"a": {"b": {"c": 1}}, "l": [1, 2, {"c": 1}]})
        );
        let e = error(
            doc.clone(),
            json!([{"op": "copy", "from": "/x", "path": "/y"}]),
        );
        assert_eq!(e.expression.as_deref(), Some("[0].from"));
        // The root may be copied into itself, but not again and again.
        patched(
            doc.clone(),
            json!([{"op": "copy", "from": "", "path": "/copy"}]),
        );
        let doubling: Vec<Value> = (0..40)
            .map(|_| json!({"op": "copy", "from": "", "path": "/copy"}))
            .collect();
        let e = error(doc, Value::Array(doubling));
        assert!(e.message.contains("no more than"), "{e}");
    }

    #[test]
    fn test_compares_by_value() {
        let doc = json!({"n": 1, "d": 1.50, "o": {"a": 1, "b": [1, "x"]}, "s": "1", "z": null});
        let ok = |path: &str, value: Value| {
            patched(
                doc.clone(),
                json!([{"op": "test", "path": path, "value": value}]),
            );
        };
        let fails = |path: &str, value: Value| {
            let e = error(
                doc.clone(),
                json!([{"op": "test", "path": path, "value": value}]),
            );
            assert_eq!(e.expression.as_deref(), Some("[0].value"));
            assert_eq!(e.kind, ErrorKind::Unprocessable);
        };
        let number = |text: &str| -> Value { serde_json::from_str(text).expect("a number") };
        for same in ["1", "1.0", "1e0", "10e-1", "0.1E1", "1.000"] {
            ok("/n", number(same));
        }
        ok("/d", number("1.5"));
        ok("/d", number("15e-1"));
        fails("/d", number("1.51"));
        fails("/n", number("-1"));
        fails("/n", json!("1"));
        fails("/s", json!(1));
        ok("/o", json!({"b": [1, "x"], "a": 1.0}));
        fails("/o", json!({"b": ["x", 1], "a": 1}));
        fails("/o", json!({"a": 1}));
        ok("/z", Value::Null);
        fails("/z", json!(false));
        ok("", doc.clone());
        assert_eq!(exact("0"), exact("-0.000e5"));
        assert_eq!(exact("120"), Some((false, "12".into(), 1)));
        assert_eq!(exact("-0.0120"), Some((true, "12".into(), -3)));
        assert_eq!(exact("1e99999999999999999999"), None);
        assert_eq!(exact("abc"), None);
    }

    #[test]
    fn malformed_operations() {
        let doc = json!({"a": 1});
        let cases = [
            (json!({"op": "add"}), "[0]"),
            (json!({"op": "add", "path": "/b"}), "[0]"),
            (json!({"op": "replace", "path": "/a"}), "[0]"),
            (json!({"op": "test", "path": "/a"}), "[0]"),
            (json!({"op": "move", "path": "/b"}), "[0]"),
            (json!({"op": "copy", "path": "/b", "from": 1}), "[0].from"),
            (json!({"op": "remove", "path": 5}), "[0].path"),
            (json!({"op": "frobnicate", "path": "/a"}), "[0].op"),
            (json!({"op": 1, "path": "/a"}), "[0].op"),
            (json!({"path": "/a"}), "[0]"),
            (json!("add"), "[0]"),
            (json!(["op", "add"]), "[0]"),
        ];
        for (op, expression) in cases {
            let e = error(doc.clone(), json!([op]));
            assert_eq!(e.kind, ErrorKind::Invalid, "{e}");
            assert_eq!(e.expression.as_deref(), Some(expression), "{e}");
        }
        let e = error(doc.clone(), json!({"op": "add", "path": "/b", "value": 1}));
        assert_eq!(e.expression, None);
        // A null value is a value; unknown members are ignored.
        assert_eq!(
            patched(
                doc.clone(),
                json!([{"op": "add", "path": "/b", "value": null, "xyz": 1}])
            ),
            json!({"a": 1, "b": null})
        );
        assert_eq!(patched(doc.clone(), json!([])), doc);
    }

    #[test]
    fn a_failure_names_its_operation_and_keeps_the_input() {
        let doc = json!({"a": [1, 2]});
        let patch = json!([
            {"op": "add", "path": "/b", "value": 1},
            {"op": "remove", "path": "/a/0"},
            {"op": "test", "path": "/a/0", "value": 1},
        ]);
        let e = error(doc.clone(), patch);
        assert_eq!(e.expression.as_deref(), Some("[2].value"));
        assert!(e.message.starts_with("operation 2 (test)"), "{e}");
        assert_eq!(e.issue().code, "processing");
        assert_eq!(e.issue().expression.as_deref(), Some("[2].value"));
        assert_eq!(doc, json!({"a": [1, 2]}));
    }

    #[test]
    fn member_order_is_kept() {
        let doc: Value = serde_json::from_str(r#"{"a": 1, "b": 2, "c": 3}"#).expect("json");
        let out = patched(
            doc,
            json!([
                {"op": "replace", "path": "/a", "value": 0},
                {"op": "remove", "path": "/b"},
                {"op": "add", "path": "/c", "value": 4},
            ]),
        );
        assert_eq!(out.to_string(), r#"{"a":0,"c":4}"#);
    }

    #[test]
    fn nesting_is_bounded() {
        let mut deep = json!(1);
        for _ in 0..MAX_DEPTH {
            deep = json!([deep]);
        }
        let e = error(
            json!({}),
            json!([{"op": "add", "path": "/a", "value": deep}]),
        );
        assert!(e.message.contains("deeper"), "{e}");
        let mut ok = json!(1);
        for _ in 0..MAX_DEPTH - 1 {
            ok = json!([ok]);
        }
        patched(json!({}), json!([{"op": "add", "path": "/a", "value": ok}]));
    }

    #[test]
    fn random_operations_never_panic() {
        let doc = json!({"a": [0, {"b": "x"}, [1]], "c": {"~": 1, "/": 2, "": 3}, "d": null});
        let ops = ["add", "remove", "replace", "move", "copy", "test", "nope"];
        let paths = [
            "",
            "/",
            "/a",
            "/a/0",
            "/a/1/b",
            "/a/-",
            "/a/01",
            "/a/3",
            "/a/2/0",
            "/c/~0",
            "/c/~1",
            "/c/",
            "/c/~2",
            "/d/x",
            "/a/1/b/c",
            "x",
            "/a/18446744073709551616",
            "/e",
        ];
        let values = [
            json!(1),
            json!("x"),
            json!(null),
            json!([1, [2]]),
            json!({"k": {}}),
        ];
        let mut roll = Roll(0x9e37_79b9_7f4a_7c15);
        let mut applied = 0;
        for _ in 0..20_000 {
            let patch: Vec<Value> = (0..1 + roll.next(4))
                .map(|_| {
                    let mut op = serde_json::Map::new();
                    if roll.next(10) > 0 {
                        op.insert("op".into(), json!(ops[roll.next(ops.len())]));
                    }
                    if roll.next(10) > 0 {
                        op.insert("path".into(), json!(paths[roll.next(paths.len())]));
                    }
                    if roll.next(2) > 0 {
                        op.insert("from".into(), json!(paths[roll.next(paths.len())]));
                    }
                    if roll.next(2) > 0 {
                        op.insert("value".into(), values[roll.next(values.len())].clone());
                    }
                    Value::Object(op)
                })
                .collect();
            if let Ok(out) = apply(&doc, &Value::Array(patch)) {
                assert!(depth(&out) <= MAX_DEPTH);
                applied += usize::from(out != doc);
            }
        }
        // Enough of them apply for the test to mean something.
        assert!(applied > 300, "{applied}");
    }

    #[test]
    fn mutated_text_never_panics() {
        let doc = json!({"a": [0, {"b": "x"}], "c": {"~": 1}});
        let valid = r#"[{"op":"add","path":"/a/1/c","value":[1,{"x":2}]},{"op":"move","from":"/c/~0","path":"/a/-"},{"op":"test","path":"/a/0","value":0.0},{"op":"copy","from":"/a","path":"/d"}]"#;
        assert!(apply(&doc, &serde_json::from_str(valid).expect("json")).is_ok());
        let alphabet = b"{}[]\",:/~01-abcdopvmr";
        for bytes in mutations(valid, alphabet, 20_000, 0x2545_f491_4f6c_dd1d) {
            if let Ok(patch) = serde_json::from_slice::<Value>(&bytes) {
                let _ = apply(&doc, &patch);
            }
        }
    }
}
