//! Strict JSON parsing for FHIR request bodies.
//!
//! `serde_json` keeps the last of two duplicate object keys without a word and
//! recurses once per nesting level. [`parse`] instead reads RFC 8259 JSON with
//! an explicit stack (so its own recursion depth is constant), refuses
//! duplicate keys, invalid UTF-8, unpaired surrogates and anything else the
//! grammar forbids, bounds nesting, and reports each refusal as a
//! [`JsonError`] with a line, a column and a FHIRPath-style location. Numbers
//! keep their text through `serde_json::Number` (built with the
//! `arbitrary_precision` feature), so `1.50` stays `1.50`.

use serde_json::{Map, Number, Value};
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

/// The deepest nesting the server accepts in a request body (FHIR resources
/// stay far below it).
pub const MAX_DEPTH: usize = 128;

/// Where and why a JSON document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Human-readable reason, e.g. "duplicate key \"family\"", "invalid UTF-8",
    /// "nesting deeper than 64 levels", "expected ',' or '}'".
    pub message: String,
    /// FHIRPath-style location of the offending value relative to the root,
    /// e.g. `name[0].family`; empty at the root or when no key has been read yet.
    pub path: String,
    /// 1-based line where the error was detected.
    pub line: usize,
    /// 1-based column, counted in characters, where the error was detected.
    pub column: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.message, self.line, self.column
        )?;
        if !self.path.is_empty() {
            write!(f, " ({})", self.path)?;
        }
        Ok(())
    }
}

impl std::error::Error for JsonError {}

/// Parses one JSON document (RFC 8259) strictly. `max_depth` bounds nesting of
/// arrays+objects: `0` admits only a scalar, `1` a flat array or object.
///
/// One leading UTF-8 byte order mark is skipped. Keep `max_depth` modest (the
/// server uses tens, not millions): parsing itself never recurses, but dropping
/// the returned `Value` recurses once per level inside `serde_json`.
pub fn parse(bytes: &[u8], max_depth: usize) -> Result<Value, JsonError> {
    parse_with(bytes, max_depth, None)
}

/// Receives the items of a root object's `entry` array (see [`parse_entries`]).
pub type OnEntry<'f> = &'f mut dyn FnMut(Value, Range<usize>);

/// Parses like [`parse`], except that each item of the root object's `entry`
/// array (a Bundle's entries) is handed to `on_entry` as soon as it is
/// complete, with its byte range in `bytes`, and not kept: the value returned
/// has an empty `entry` array. The whole document is still checked, and an
/// error still names the entry it is in, so a Bundle can be read one entry at
/// a time without ever holding the tree of all of them.
pub fn parse_entries(
    bytes: &[u8],
    max_depth: usize,
    on_entry: OnEntry<'_>,
) -> Result<Value, JsonError> {
    parse_with(bytes, max_depth, Some(on_entry))
}

fn parse_with(
    bytes: &[u8],
    max_depth: usize,
    on_entry: Option<OnEntry<'_>>,
) -> Result<Value, JsonError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let offset = bytes.len() - body.len();
    // Parse only the valid UTF-8 prefix; reaching its end early means the
    // next byte is the invalid one, which `Parser::error` then reports.
    let (text, truncated) = match std::str::from_utf8(body) {
        Ok(text) => (text, false),
        Err(e) => {
            let valid = body.get(..e.valid_up_to()).unwrap_or_default();
            (std::str::from_utf8(valid).unwrap_or_default(), true)
        }
    };
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        truncated,
        max_depth,
        stack: Vec::new(),
        entries: on_entry.map(|f| Entries {
            f,
            offset,
            start: 0,
            count: 0,
        }),
    };
    parser.run()
}

/// Where the items of the root's `entry` array go, and how far they are.
struct Entries<'f> {
    f: OnEntry<'f>,
    /// Bytes before the parsed text (a byte order mark).
    offset: usize,
    /// Where the item being parsed starts.
    start: usize,
    /// Items handed out so far.
    count: usize,
}

/// A byte of 1 in every lane of a `u64`, and the same for ' ', '"' and '\\'.
const ONES: u64 = u64::MAX / 255;
const SPACES: u64 = ONES * b' ' as u64;
const QUOTES: u64 = ONES * b'"' as u64;
const BACKSLASHES: u64 = ONES * b'\\' as u64;

/// Whether any byte of `word` is below `n` (for `n` up to 128).
fn has_byte_below(word: u64, n: u8) -> bool {
    word.wrapping_sub(ONES * u64::from(n)) & !word & (ONES << 7) != 0
}

/// Whether `root` is an object reading the value of its `entry` member.
fn is_entry(root: &Frame) -> bool {
    matches!(root, Frame::Object(_, Some(key)) if key == "entry")
}

/// An array or object whose closing bracket has not been read yet.
enum Frame {
    Array(Vec<Value>),
    /// The map so far and the key whose value is being parsed, if any.
    Object(Map<String, Value>, Option<String>),
}

struct Parser<'a, 'f> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// The input went on past `bytes` with invalid UTF-8.
    truncated: bool,
    max_depth: usize,
    stack: Vec<Frame>,
    entries: Option<Entries<'f>>,
}

impl<'a> Parser<'a, '_> {
    fn run(&mut self) -> Result<Value, JsonError> {
        'value: loop {
            self.skip_ws();
            if self.stack.len() == 2
                && let Some(entries) = &mut self.entries
            {
                entries.start = self.pos;
            }
            let mut value = match self.peek() {
                Some(b'{') => {
                    self.open()?;
                    self.stack.push(Frame::Object(Map::new(), None));
                    self.skip_ws();
                    if self.peek() != Some(b'}') {
                        self.key()?;
                        continue 'value;
                    }
                    self.pos += 1;
                    self.close()
                }
                Some(b'[') => {
                    self.open()?;
                    self.stack.push(Frame::Array(Vec::new()));
                    self.skip_ws();
                    if self.peek() != Some(b']') {
                        continue 'value;
                    }
                    self.pos += 1;
                    self.close()
                }
                Some(b'"') => Value::String(self.string()?),
                Some(b't') => self.literal("true", Value::Bool(true))?,
                Some(b'f') => self.literal("false", Value::Bool(false))?,
                Some(b'n') => self.literal("null", Value::Null)?,
                Some(b'-' | b'0'..=b'9') => Value::Number(self.number()?),
                Some(_) => return Err(self.error("expected value", self.pos)),
                None if self.stack.is_empty() => {
                    return Err(self.error("empty document", self.pos));
                }
                None => return Err(self.error("unexpected end of input", self.pos)),
            };
            // A value is complete: hand it to its container, closing as many
            // containers as the input closes.
            loop {
                let handed_out =
                    self.entries.is_some() && self.stack.len() == 2 && is_entry(&self.stack[0]);
                let (close, expected) = match self.stack.last_mut() {
                    None => return self.finish(value),
                    Some(Frame::Array(items)) => {
                        match self.entries.as_mut() {
                            Some(entries) if handed_out => {
                                let start = entries.offset + entries.start;
                                (entries.f)(value, start..entries.offset + self.pos);
                                entries.count += 1;
                            }
                            _ => items.push(value),
                        }
                        (b']', "expected ',' or ']'")
                    }
                    Some(Frame::Object(map, key)) => {
                        map.insert(key.take().unwrap_or_default(), value);
                        (b'}', "expected ',' or '}'")
                    }
                };
                self.skip_ws();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if close == b'}' {
                            self.skip_ws();
                            self.key()?;
                        }
                        continue 'value;
                    }
                    Some(c) if c == close => {
                        self.pos += 1;
                        value = self.close();
                    }
                    _ => return Err(self.expected(expected)),
                }
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\n' => {
                    self.pos += 1;
                    // Indentation follows a line break: count spaces 8 at a time.
                    while let Some(chunk) = self.bytes.get(self.pos..self.pos + 8) {
                        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
                        let spaces = (word ^ SPACES).trailing_zeros() / 8;
                        self.pos += spaces as usize;
                        if spaces < 8 {
                            break;
                        }
                    }
                }
                _ => return,
            }
        }
    }

    /// Consumes an opening bracket if one more level of nesting is allowed.
    fn open(&mut self) -> Result<(), JsonError> {
        if self.stack.len() >= self.max_depth {
            let message = format!("nesting deeper than {} levels", self.max_depth);
            return Err(self.error(message, self.pos));
        }
        self.pos += 1;
        Ok(())
    }

    fn close(&mut self) -> Value {
        match self.stack.pop() {
            Some(Frame::Array(items)) => Value::Array(items),
            Some(Frame::Object(map, _)) => Value::Object(map),
            None => Value::Null,
        }
    }

    /// Reads `"key" :` into the innermost object, refusing a repeated key.
    fn key(&mut self) -> Result<(), JsonError> {
        let start = self.pos;
        if self.peek() != Some(b'"') {
            return Err(self.expected("expected '\"' to start an object key"));
        }
        let key = self.string()?;
        let mut duplicate = None;
        if let Some(Frame::Object(map, slot)) = self.stack.last_mut() {
            if map.contains_key(&key) {
                duplicate = Some(format!("duplicate key {key:?}"));
            }
            *slot = Some(key);
        }
        if let Some(message) = duplicate {
            return Err(self.error(message, start));
        }
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.expected("expected ':'"));
        }
        self.pos += 1;
        Ok(())
    }

    /// Reads a string starting at its opening quote. Runs without escapes
    /// are copied as whole slices; nothing is allocated per character.
    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1;
        let mut run_start = self.pos;
        let mut unescaped: Option<String> = None;
        loop {
            let mut i = self.pos;
            // Eight bytes at a time while none is '"', '\\' or below 0x20.
            while let Some(chunk) = self.bytes.get(i..i + 8) {
                let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
                if has_byte_below(word, 0x20)
                    || has_byte_below(word ^ QUOTES, 1)
                    || has_byte_below(word ^ BACKSLASHES, 1)
                {
                    break;
                }
                i += 8;
            }
            while let Some(&b) = self.bytes.get(i) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                i += 1;
            }
            self.pos = i;
            let run = self.slice(run_start, i)?;
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(match unescaped {
                        Some(mut out) => {
                            out.push_str(run);
                            out
                        }
                        None => run.to_owned(),
                    });
                }
                Some(b'\\') => {
                    let out =
                        unescaped.get_or_insert_with(|| String::with_capacity(run.len() + 16));
                    out.push_str(run);
                    // Escapes often come in runs (`\n\t\t`): decode them together.
                    while self.peek() == Some(b'\\') {
                        out.push(self.escape()?);
                    }
                    run_start = self.pos;
                }
                Some(b) => {
                    let message = format!("unescaped control character U+{b:04X} in string");
                    return Err(self.error(message, i));
                }
                None => return Err(self.error("unterminated string", i)),
            }
        }
    }

    fn slice(&self, start: usize, end: usize) -> Result<&'a str, JsonError> {
        self.text
            .get(start..end)
            .ok_or_else(|| self.error("invalid UTF-8", start))
    }

    /// Decodes the escape at `self.pos` (a backslash), including surrogate pairs.
    fn escape(&mut self) -> Result<char, JsonError> {
        let at = self.pos;
        let c = match self.bytes.get(at + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let high = self.hex4(at + 2)?;
                self.pos = at + 6;
                let code = match high {
                    0xD800..=0xDBFF if self.bytes.get(at + 6..at + 8) == Some(b"\\u") => {
                        let low = self.hex4(at + 8)?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(self.error("unpaired surrogate in \\u escape", at));
                        }
                        self.pos = at + 12;
                        0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                    }
                    0xD800..=0xDFFF => {
                        return Err(self.error("unpaired surrogate in \\u escape", at));
                    }
                    _ => high,
                };
                return char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape", at));
            }
            Some(_) => return Err(self.error("invalid escape sequence", at)),
            None => return Err(self.error("unterminated string", at + 1)),
        };
        self.pos = at + 2;
        Ok(c)
    }

    /// Reads four hex digits starting at `start`.
    fn hex4(&self, start: usize) -> Result<u32, JsonError> {
        let mut code = 0;
        for i in start..start + 4 {
            let digit = match self.bytes.get(i) {
                Some(&b) => (b as char).to_digit(16),
                None => return Err(self.error("unterminated string", i)),
            };
            match digit {
                Some(d) => code = code * 16 + d,
                None => return Err(self.error("invalid \\u escape", start - 2)),
            }
        }
        Ok(code)
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, JsonError> {
        for (i, &expected) in word.as_bytes().iter().enumerate() {
            match self.bytes.get(self.pos + i) {
                Some(&b) if b == expected => {}
                Some(_) => {
                    return Err(self.error(format!("invalid literal, expected '{word}'"), self.pos));
                }
                None => return Err(self.error("unexpected end of input", self.pos + i)),
            }
        }
        self.pos += word.len();
        Ok(value)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Checks the RFC 8259 number grammar, then keeps the text in a `Number`.
    fn number(&mut self) -> Result<Number, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.error("leading zeros are not allowed", start));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("expected digit", self.pos)),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.error("expected digit after decimal point", self.pos));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("expected digit in exponent", self.pos));
            }
        }
        let text = self.slice(start, self.pos)?;
        Number::from_str(text).map_err(|_| self.error("invalid number", start))
    }

    fn finish(&mut self, value: Value) -> Result<Value, JsonError> {
        self.skip_ws();
        if self.pos < self.bytes.len() || self.truncated {
            return Err(self.error("trailing characters after the JSON value", self.pos));
        }
        Ok(value)
    }

    /// An error at the current position, or "unexpected end of input" there.
    fn expected(&self, message: &str) -> JsonError {
        let message = if self.pos < self.bytes.len() {
            message
        } else {
            "unexpected end of input"
        };
        self.error(message, self.pos)
    }

    /// Builds an error at byte offset `pos` with the current path. At the end
    /// of a truncated input the real cause is the invalid UTF-8 that follows.
    fn error(&self, message: impl Into<String>, pos: usize) -> JsonError {
        let pos = pos.min(self.bytes.len());
        let message = if pos == self.bytes.len() && self.truncated {
            "invalid UTF-8".to_owned()
        } else {
            message.into()
        };
        let before = self.bytes.get(..pos).unwrap_or(self.bytes);
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let this_line = before.get(line_start..).unwrap_or_default();
        let column = 1 + this_line.iter().filter(|&&b| b & 0xC0 != 0x80).count();
        let mut path = String::new();
        for (depth, frame) in self.stack.iter().enumerate() {
            match frame {
                Frame::Array(_)
                    if depth == 1
                        && is_entry(&self.stack[0])
                        && let Some(entries) = &self.entries =>
                {
                    path.push_str(&format!("[{}]", entries.count));
                }
                Frame::Array(items) => path.push_str(&format!("[{}]", items.len())),
                Frame::Object(_, Some(key)) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Frame::Object(_, None) => {}
            }
        }
        JsonError {
            message,
            path,
            line,
            column,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str) -> Value {
        parse(input.as_bytes(), 64).unwrap_or_else(|e| panic!("{input:?}: {e}"))
    }

    fn err(input: &[u8]) -> JsonError {
        match parse(input, 64) {
            Ok(v) => panic!("{:?} was accepted as {v}", String::from_utf8_lossy(input)),
            Err(e) => e,
        }
    }

    fn same_as_serde(input: &[u8]) {
        let ours = parse(input, 128).unwrap_or_else(|e| panic!("{e}"));
        let theirs: Value = serde_json::from_slice(input).expect("serde_json");
        assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(input));
    }

    #[test]
    fn accepts_valid_documents_like_serde() {
        for doc in [
            r#"{"resourceType":"Patient","active":true,"deceasedBoolean":false,"x":null}"#,
            r#" [1, -2, 0.5, 1e5, -0.0e-3, "a\"b\\c\/d\b\f\n\r\t", [], {}, [[{}]]] "#,
            "\t\r\n{\"a\" : [ 1 , { \"b\" : \"é\" } ] }\n",
            r#""\u00e9\u0000\uD83D\uDE00 \ud83d\ude00""#,
            "0",
            "\"plain\"",
        ] {
            same_as_serde(doc.as_bytes());
        }
        let v = ok(r#"{"z":1,"a":2,"m":3}"#);
        let keys: Vec<&String> = v
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["z", "a", "m"]);
        assert_eq!(ok(r#""\uD83D\uDE00""#), Value::String("😀".into()));
    }

    #[test]
    fn numbers_keep_their_text() {
        for (input, text) in [
            ("1.50", "1.50"),
            ("-0", "-0"),
            ("-0.0", "-0.0"),
            ("12345678901234567890123", "12345678901234567890123"),
            (
                "0.000000000000000000000000001",
                "0.000000000000000000000000001",
            ),
            ("1e400", "1e+400"),
            // serde_json rewrites the exponent marker as `e` and adds a '+'.
            ("1e2", "1e+2"),
            ("1E-2", "1e-2"),
        ] {
            let v = ok(input);
            assert_eq!(
                serde_json::to_string(&v).ok().as_deref(),
                Some(text),
                "{input}"
            );
            same_as_serde(input.as_bytes());
        }
        assert_ne!(ok("1.0"), ok("1"));
    }

    #[test]
    fn refusals_name_their_reason() {
        let unpaired = "unpaired surrogate in \\u escape";
        let trailing = "trailing characters after the JSON value";
        let no_key = "expected '\"' to start an object key";
        for (input, message) in [
            ("01", "leading zeros are not allowed"),
            ("-01", "leading zeros are not allowed"),
            ("+1", "expected value"),
            (".5", "expected value"),
            ("1.", "expected digit after decimal point"),
            ("1.e3", "expected digit after decimal point"),
            ("1e", "expected digit in exponent"),
            ("1e+", "expected digit in exponent"),
            ("-", "expected digit"),
            ("NaN", "expected value"),
            ("Infinity", "expected value"),
            ("-Infinity", "expected digit"),
            ("0x10", trailing),
            ("", "empty document"),
            (" \n\t ", "empty document"),
            ("\u{feff}", "empty document"),
            ("{} {}", trailing),
            ("[1]\u{0}", trailing),
            ("[1,]", "expected value"),
            ("[1 2]", "expected ',' or ']'"),
            ("{\"a\":1,}", no_key),
            ("{a:1}", no_key),
            ("{\"a\" 1}", "expected ':'"),
            ("{\"a\":1 \"b\":2}", "expected ',' or '}'"),
            ("[1", "unexpected end of input"),
            ("{\"a\"", "unexpected end of input"),
            ("{\"a\":", "unexpected end of input"),
            ("{\"a\":1,", "unexpected end of input"),
            ("tru", "unexpected end of input"),
            ("nul1", "invalid literal, expected 'null'"),
            ("True", "expected value"),
            ("\u{c}1", "expected value"),
            ("\u{a0}1", "expected value"),
            ("\"a\u{1}\"", "unescaped control character U+0001 in string"),
            ("\"a\tb\"", "unescaped control character U+0009 in string"),
            ("\"a\nb\"", "unescaped control character U+000A in string"),
            (r#""\x""#, "invalid escape sequence"),
            (r#""\u12G4""#, "invalid \\u escape"),
            (r#""\uD800""#, unpaired),
            (r#""\uD800\u0041""#, unpaired),
            (r#""\uDC00\uD800""#, unpaired),
            (r#""\uD800\n""#, unpaired),
            (r#""abc"#, "unterminated string"),
            (r#""\u12"#, "unterminated string"),
            ("\"\\", "unterminated string"),
        ] {
            assert_eq!(err(input.as_bytes()).message, message, "{input:?}");
        }
        let e = err(br#"["ok", "bad \uDE00"]"#);
        assert_eq!((e.path.as_str(), e.line, e.column), ("[1]", 1, 13));
        assert_eq!(parse(b"\xEF\xBB\xBF{\"a\":1}", 64), parse(b"{\"a\":1}", 64));
        assert!(parse(b"\xEF\xBB\xBF\xEF\xBB\xBF{}", 64).is_err());
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_path() {
        let e = err(br#"{"name":[{"family":"A","given":["B"],"family":"C"}]}"#);
        assert_eq!(e.message, "duplicate key \"family\"");
        assert_eq!(e.path, "name[0].family");
        assert_eq!((e.line, e.column), (1, 38));
        let e = err(br#"{"a":1,"\u0061":2}"#);
        assert_eq!(
            (e.message.as_str(), e.path.as_str()),
            ("duplicate key \"a\"", "a")
        );
        assert_eq!(
            ok(r#"[{"a":1},{"a":2}]"#).to_string(),
            r#"[{"a":1},{"a":2}]"#
        );
        let e = err(b"{\n  \"id\": \"x\",\n  \"id\": \"y\"\n}");
        assert_eq!((e.line, e.column, e.path.as_str()), (3, 3, "id"));
        assert_eq!(
            e.to_string(),
            "duplicate key \"id\" at line 3 column 3 (id)"
        );
    }

    #[test]
    fn paths_and_positions() {
        let doc = br#"{"contained":[{"name":[{},{"given":["a", 01]}]}]}"#;
        let e = err(doc);
        assert_eq!(e.path, "contained[0].name[1].given[1]");
        assert_eq!((e.line, e.column), (1, 42));
        let e = err("[\"é\", x]".as_bytes());
        assert_eq!((e.line, e.column, e.path.as_str()), (1, 7, "[1]"));
        let e = err(b"{\"a\":\r\n  [true,\n   nope]}");
        assert_eq!((e.line, e.column, e.path.as_str()), (3, 4, "a[1]"));
        let e = err(b"  x");
        assert_eq!((e.line, e.column, e.path.as_str()), (1, 3, ""));
        assert_eq!(e.to_string(), "expected value at line 1 column 3");
    }

    #[test]
    fn invalid_utf8_is_refused_where_it_occurs() {
        let e = err(b"{\"a\":\"x\xFFy\"}");
        assert_eq!(
            (e.message.as_str(), e.path.as_str()),
            ("invalid UTF-8", "a")
        );
        assert_eq!((e.line, e.column), (1, 8));
        for input in [
            &b"\xFF"[..],
            b"[1,\n\xC3]",
            b"\"\xC0\x80\"",
            b"\"\xED\xA0\x80\"",
            b"\"\xF4\x90\x80\x80\"",
            b"{}\xFF",
            b"{} \xE2\x82",
            b"[tr\xFF",
            b"12\xFF",
            b"[\"\\u12\xFF\"]",
        ] {
            assert_eq!(err(input).message, "invalid UTF-8", "{input:?}");
        }
        let e = err(b"[1,\n\xC3]");
        assert_eq!((e.line, e.column, e.path.as_str()), (2, 1, "[1]"));
        // A syntax error before the bad byte is reported first.
        assert_eq!(err(b"[1 2, \xFF]").message, "expected ',' or ']'");
    }

    #[test]
    fn nesting_is_bounded_without_recursion() {
        assert!(parse(b"[[[]]]", 3).is_ok());
        let e = parse(b"[[[[]]]]", 3).err();
        let e = e.unwrap_or_else(|| panic!("depth 4 accepted"));
        assert_eq!(
            (e.message.as_str(), e.path.as_str()),
            ("nesting deeper than 3 levels", "[0][0][0]")
        );
        assert_eq!(e.column, 4);
        assert!(parse(b"1", 0).is_ok());
        assert!(parse(b"[]", 0).is_err());
        assert_eq!(
            parse(br#"{"a":{"b":{}}}"#, 2).err().map(|e| e.path),
            Some("a.b".into())
        );
        for n in [10_000, 1_000_000] {
            let deep = "[".repeat(n);
            let e = parse(deep.as_bytes(), 64).err();
            assert_eq!(
                e.map(|e| e.message),
                Some("nesting deeper than 64 levels".into())
            );
            let balanced = format!("{deep}{}", "]".repeat(n));
            assert!(parse(balanced.as_bytes(), 64).is_err());
        }
        let objects = "{\"a\":".repeat(100_000);
        assert!(parse(objects.as_bytes(), 64).is_err());
        // With no practical limit the explicit stack still copes.
        let e = parse(objects.as_bytes(), usize::MAX).err();
        assert_eq!(e.map(|e| e.message), Some("unexpected end of input".into()));
    }

    #[test]
    fn agrees_with_serde_on_fhir_examples() {
        let dirs = [
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../shared/data/fhir-r4/examples"
            ),
            "/work/shared/data/fhir-r4/examples",
        ];
        let Some(entries) = dirs.iter().find_map(|d| std::fs::read_dir(d).ok()) else {
            return;
        };
        let mut checked = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                let bytes = std::fs::read(&path).unwrap_or_default();
                checked += 1;
                let ours = parse(&bytes, 128).unwrap_or_else(|e| panic!("{path:?}: {e}"));
                let theirs: Value = serde_json::from_slice(&bytes).expect("serde_json");
                assert_eq!(ours, theirs, "{path:?}");
            }
        }
        assert!(checked > 0, "no *.json file in the examples folder");
    }

    #[test]
    fn mutated_documents_never_panic() {
        let seeds: [&[u8]; 5] = [
            br#"{"resourceType":"Bundle","entry":[{"resource":{"id":"a"}},{"request":{"url":"x"}}],"type":"batch"}"#,
            br#"{"resourceType":"Observation","id":"x1","valueQuantity":{"value":1.50,"unit":"g/dL"},"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"718-7"}]},"valueInteger":-0}],"note":[{"text":"caf\u00e9 \uD83D\uDE00 \"q\""}],"flag":true,"none":null}"#,
            "[\"é\", 1e-3, [[], {}], {\"a\": [false, 12345678901234567890]}]".as_bytes(),
            b"\xEF\xBB\xBF {\"k\":\"v\\n\\t\\/\"}\r\n",
            b"[[[[{\"a\":[{\"b\":[0.0]}]}]]]]",
        ];
        let alphabet = b"{}[],:\"\\ u0123456789eE.+-tfnlDdA\n\t\x00\x1f\x80\xBF\xC3\xED\xF0\xFF";
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut accepted = 0;
        for round in 0..200_000 {
            let mut doc = seeds[round % seeds.len()].to_vec();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % (doc.len() + 1);
                let byte = alphabet[(next() as usize) % alphabet.len()];
                match next() % 5 {
                    0 if at < doc.len() => doc[at] = byte,
                    1 => doc.insert(at, byte),
                    2 if at < doc.len() => drop(doc.remove(at)),
                    3 => doc.truncate(at),
                    _ => {
                        let end = (at + (next() as usize) % 16).min(doc.len());
                        let piece = doc[at..end].to_vec();
                        doc.splice(at..at, piece);
                    }
                }
            }
            // Apart from duplicate keys (and the BOM, which serde_json does not
            // skip), both parsers must draw the same line.
            let body = doc.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&doc);
            let theirs: Result<Value, _> = serde_json::from_slice(body);
            // Reading a Bundle entry by entry accepts and refuses the same
            // documents, and each entry's range parses to the entry.
            let mut entries = Vec::new();
            let split = parse_entries(&doc, 32, &mut |v, range| entries.push((v, range)));
            assert_eq!(split.is_ok(), parse(&doc, 32).is_ok());
            for (value, range) in entries.iter().filter(|_| split.is_ok()) {
                assert_eq!(&parse(&doc[range.clone()], 32).unwrap(), value);
            }
            match (parse(&doc, 32), theirs) {
                (Ok(ours), Ok(theirs)) => {
                    assert_eq!(ours, theirs);
                    accepted += 1;
                }
                (Err(e), Ok(_)) => assert!(e.message.starts_with("duplicate key"), "{e}"),
                (Ok(v), Err(e)) => panic!("accepted {v} that serde_json refuses: {e}"),
                (Err(_), Err(_)) => {}
            }
        }
        assert!(accepted > 1_000, "only {accepted} mutants were valid JSON");
    }

    /// The entries of a root `entry` array come out one by one with their
    /// byte ranges; everything else, nested `entry` members included, stays.
    #[test]
    fn entries_are_handed_out() {
        let doc = b"\xEF\xBB\xBF{\"a\":1, \"entry\": [ {\"x\":[1]} ,{\"entry\":[2]}], \"b\":[3]}";
        let mut seen = Vec::new();
        let shell = parse_entries(doc, 8, &mut |v, range| seen.push((v, range))).unwrap();
        assert_eq!(shell, serde_json::json!({"a": 1, "entry": [], "b": [3]}));
        assert_eq!(seen.len(), 2);
        for (value, range) in &seen {
            assert_eq!(&parse(&doc[range.clone()], 8).unwrap(), value);
        }
        assert_eq!(seen[1].0, serde_json::json!({"entry": [2]}));
        // Errors still name the entry they are in.
        let bad = b"{\"entry\": [{}, {}, {\"x\": [1,]}]}";
        let e = parse_entries(bad, 8, &mut |_, _| {}).unwrap_err();
        assert_eq!(e.path, "entry[2].x[1]");
        assert_eq!(parse(bad, 8).unwrap_err(), e);
        // Without an object at the root, nothing is handed out.
        let mut n = 0;
        let list = parse_entries(b"[[1],[2]]", 8, &mut |_, _| n += 1).unwrap();
        assert_eq!((list, n), (serde_json::json!([[1], [2]]), 0));
    }
}
