//! The FHIRPath lexer: turns expression text into tokens (identifiers,
//! `` `delimited` `` identifiers, strings with escapes, numbers, `@` date/time
//! literals, `%` constants, `$` variables and operators), skipping whitespace
//! and both comment forms.

use super::error::Error;
use super::temporal::Temporal;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A plain identifier (keywords too: the parser decides by position).
    Ident(String),
    /// A `` `delimited` `` identifier (never a keyword).
    Delimited(String),
    Str(String),
    /// A number as written (`12`, `0.50`).
    Number(String),
    Temporal(Temporal),
    /// `%name`, ``%`name` ``, `%'name'`.
    Constant(String),
    /// `$this`, `$index`, `$total`.
    Variable(String),
    /// Punctuation and symbolic operators.
    Sym(&'static str),
    Eof,
}

/// A token and where it starts (byte offset).
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

const SYMBOLS: &[&str] = &[
    "<=", ">=", "!=", "!~", ".", ",", "(", ")", "[", "]", "{", "}", "+", "-", "*", "/", "&", "|",
    "=", "~", "<", ">",
];

struct Lexer<'s> {
    text: &'s str,
    pos: usize,
}

/// Splits an expression into tokens, ending with [`Tok::Eof`].
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, Error> {
    let mut lexer = Lexer { text, pos: 0 };
    let mut out = Vec::new();
    loop {
        lexer.skip_space()?;
        let pos = lexer.pos;
        let tok = lexer.next_token()?;
        let end = tok == Tok::Eof;
        out.push(Token { tok, pos });
        if end {
            return Ok(out);
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn error(&self, message: &str) -> Error {
        Error::syntax(format!("{message} at offset {}", self.pos))
    }

    fn skip_space(&mut self) -> Result<(), Error> {
        loop {
            let rest = self.rest();
            if rest.starts_with("//") {
                self.pos += rest.find('\n').unwrap_or(rest.len());
            } else if let Some(body) = rest.strip_prefix("/*") {
                match body.find("*/") {
                    Some(end) => self.pos += end + 4,
                    None => return Err(self.error("unterminated comment")),
                }
            } else if let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
                self.pos += c.len_utf8();
            } else {
                return Ok(());
            }
        }
    }

    fn next_token(&mut self) -> Result<Tok, Error> {
        let Some(c) = self.peek() else {
            return Ok(Tok::Eof);
        };
        match c {
            '\'' => {
                self.bump();
                Ok(Tok::Str(self.quoted('\'')?))
            }
            '`' => {
                self.bump();
                Ok(Tok::Delimited(self.quoted('`')?))
            }
            '@' => {
                self.bump();
                self.temporal()
            }
            '%' => {
                self.bump();
                let name = match self.peek() {
                    Some('`') => {
                        self.bump();
                        self.quoted('`')?
                    }
                    Some('\'') => {
                        self.bump();
                        self.quoted('\'')?
                    }
                    Some(c) if is_ident_start(c) => self.identifier(),
                    _ => return Err(self.error("a constant name must follow %")),
                };
                Ok(Tok::Constant(name))
            }
            '$' => {
                self.bump();
                match self.peek() {
                    Some(c) if is_ident_start(c) => Ok(Tok::Variable(self.identifier())),
                    _ => Err(self.error("a variable name must follow $")),
                }
            }
            c if c.is_ascii_digit() => Ok(Tok::Number(self.number())),
            c if is_ident_start(c) => Ok(Tok::Ident(self.identifier())),
            _ => {
                let rest = self.rest();
                match SYMBOLS.iter().find(|s| rest.starts_with(*s)) {
                    Some(s) => {
                        self.pos += s.len();
                        Ok(Tok::Sym(s))
                    }
                    None => Err(self.error(&format!("unexpected character {c:?}"))),
                }
            }
        }
    }

    fn identifier(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_ident_char) {
            self.pos += 1;
        }
        self.text[start..self.pos].to_string()
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    fn number(&mut self) -> String {
        let start = self.pos;
        self.digits();
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
            self.digits();
        }
        self.text[start..self.pos].to_string()
    }

    /// The text of a quoted string or identifier after its opening quote, escapes decoded.
    fn quoted(&mut self, quote: char) -> Result<String, Error> {
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error("unterminated string")),
                Some(c) if c == quote => return Ok(out),
                Some('\\') => out.push(self.escape()?),
                Some(c) => out.push(c),
            }
        }
    }

    fn escape(&mut self) -> Result<char, Error> {
        Ok(match self.bump() {
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('f') => '\u{c}',
            Some('u') => {
                let high = self.hex4()?;
                if (0xD800..0xDC00).contains(&high) && self.rest().starts_with("\\u") {
                    self.pos += 2;
                    let low = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(self.error("invalid surrogate pair"));
                    }
                    let c = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                    return char::from_u32(c).ok_or_else(|| self.error("invalid surrogate pair"));
                }
                return char::from_u32(high).ok_or_else(|| self.error("invalid \\u escape"));
            }
            Some(c @ ('\\' | '/' | '\'' | '"' | '`')) => c,
            _ => return Err(self.error("invalid escape")),
        })
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let hex = self
            .rest()
            .get(..4)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
        let value = hex
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.error("\\u needs four hexadecimal digits"))?;
        self.pos += 4;
        Ok(value)
    }

    /// Consumes `n` digits exactly, or nothing.
    fn exact_digits(&mut self, n: usize) -> bool {
        let ok = self
            .rest()
            .get(..n)
            .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()));
        if ok {
            self.pos += n;
        }
        ok
    }

    /// `-DD` / `:DD` style parts: a separator followed by two digits.
    fn part(&mut self, sep: char) -> bool {
        if self.peek() == Some(sep) && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
            return self.exact_digits(2);
        }
        false
    }

    /// `HH(:mm(:ss(.fff)?)?)?`
    fn clock(&mut self) {
        if !self.exact_digits(2) {
            return;
        }
        if self.part(':')
            && self.part(':')
            && self.peek() == Some('.')
            && self.peek_at(1).is_some_and(|c| c.is_ascii_digit())
        {
            self.pos += 1;
            self.digits();
        }
    }

    fn zone(&mut self) -> bool {
        match self.peek() {
            Some('Z') => {
                self.pos += 1;
                true
            }
            Some('+' | '-') if self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) => {
                self.pos += 1;
                self.exact_digits(2);
                self.part(':');
                true
            }
            _ => false,
        }
    }

    /// A literal after `@`: a date, a date-time or (`@T…`) a time.
    fn temporal(&mut self) -> Result<Tok, Error> {
        let start = self.pos;
        if self.peek() == Some('T') {
            self.pos += 1;
            self.clock();
            let text = &self.text[start + 1..self.pos];
            if self.zone() {
                return Err(self.error("a time literal cannot have a time zone"));
            }
            return Temporal::parse_time(text)
                .map(Tok::Temporal)
                .ok_or_else(|| self.error("invalid time literal"));
        }
        if !self.exact_digits(4) {
            return Err(self.error("invalid date literal"));
        }
        let _ = self.part('-') && self.part('-');
        let is_datetime = self.peek() == Some('T');
        if is_datetime {
            self.pos += 1;
            if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.clock();
                self.zone();
            }
        }
        let text = &self.text[start..self.pos];
        let parsed = if is_datetime {
            Temporal::parse_datetime(text)
        } else {
            Temporal::parse_date(text)
        };
        parsed
            .map(Tok::Temporal)
            .ok_or_else(|| self.error("invalid date or date-time literal"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens() {
        assert_eq!(
            toks("1.convertsToInteger()"),
            vec![
                Tok::Number("1".into()),
                Tok::Sym("."),
                Tok::Ident("convertsToInteger".into()),
                Tok::Sym("("),
                Tok::Sym(")"),
                Tok::Eof
            ]
        );
        assert_eq!(toks("'P\\u0065ter'")[0], Tok::Str("Peter".into()));
        assert_eq!(toks("%`vs-x`")[0], Tok::Constant("vs-x".into()));
        assert!(matches!(
            toks("@2015-02-04T14:34:28.123.is(DateTime)")[0],
            Tok::Temporal(_)
        ));
        assert_eq!(toks("@2015T.is(DateTime)")[1], Tok::Sym("."));
        assert!(tokenize("@T14:34:28Z").is_err());
        assert!(tokenize("2 + 2 /* open").is_err());
        assert_eq!(toks("a <= b // c")[1], Tok::Sym("<="));
    }
}
