//! The text of a page link's `_cursor`: a [`Cursor`] written as URL-safe
//! fields joined by `~` (text in hexadecimal), and read back, refusing anything
//! this module did not write.
//!
//! The fields, in order: the snapshot; the total or `-`; `s` for a page that
//! starts at the first match, or `p`, the rid, `f`/`b` (forwards, backwards),
//! the number of sort keys and the keys (`i`, `r` or `s` then the value); then
//! `.` or, on a page that goes on with included resources, `i`, the number of
//! frames and each frame (source, include, parameter, and `-`, `t` type`.`id or
//! `r` url`.`rid).

use super::query::{Cursor, IncludeFrame, IncludeKey, KeyValue, Position};

/// The text of `c`.
pub fn encode_cursor(c: &Cursor) -> String {
    let mut f: Vec<String> = vec![
        c.snapshot.to_string(),
        c.total.map_or(String::from("-"), |t| t.to_string()),
    ];
    match &c.after {
        None => f.push("s".into()),
        Some(p) => {
            f.push("p".into());
            f.push(p.rid.to_string());
            f.push(if p.backwards { "b" } else { "f" }.into());
            f.push(p.keys.len().to_string());
            for k in &p.keys {
                f.push(match k {
                    KeyValue::Int(i) => format!("i{i}"),
                    KeyValue::Real(r) => format!("r{r:e}"),
                    KeyValue::Text(s) => format!("s{}", hex(s)),
                });
            }
        }
    }
    match &c.includes {
        None => f.push(".".into()),
        Some(frames) => {
            f.push("i".into());
            f.push(frames.len().to_string());
            for fr in frames {
                f.push(fr.source.to_string());
                f.push(fr.include.to_string());
                f.push(fr.param.to_string());
                f.push(match &fr.after {
                    None => "-".into(),
                    Some(IncludeKey::Target { resource_type, id }) => {
                        format!("t{}.{}", hex(resource_type), hex(id))
                    }
                    Some(IncludeKey::Referrer { url, rid }) => format!("r{}.{rid}", hex(url)),
                });
            }
        }
    }
    f.join("~")
}

/// The cursor `text` holds, if it is well formed.
pub fn decode_cursor(text: &str) -> Option<Cursor> {
    let mut parts = text.split('~');
    let mut next = || parts.next();
    let snapshot = next()?.parse().ok()?;
    let total = match next()? {
        "-" => None,
        t => Some(t.parse().ok()?),
    };
    let after = match next()? {
        "s" => None,
        "p" => {
            let rid = next()?.parse().ok()?;
            let backwards = match next()? {
                "b" => true,
                "f" => false,
                _ => return None,
            };
            let n: usize = next()?.parse().ok()?;
            let mut keys = Vec::new();
            for _ in 0..n {
                let (tag, rest) = next()?.split_at_checked(1)?;
                keys.push(match tag {
                    "i" => KeyValue::Int(rest.parse().ok()?),
                    "r" => KeyValue::Real(rest.parse().ok()?),
                    "s" => KeyValue::Text(unhex(rest)?),
                    _ => return None,
                });
            }
            Some(Position {
                keys,
                rid,
                backwards,
            })
        }
        _ => return None,
    };
    let includes = match next()? {
        "." => None,
        "i" => {
            let n: usize = next()?.parse().ok()?;
            let mut frames = Vec::new();
            for _ in 0..n {
                let source = next()?.parse().ok()?;
                let include = next()?.parse().ok()?;
                let param = next()?.parse().ok()?;
                let key = next()?;
                let after = match key.split_at_checked(1)? {
                    ("-", "") => None,
                    ("t", rest) => {
                        let (t, id) = rest.split_once('.')?;
                        Some(IncludeKey::Target {
                            resource_type: unhex(t)?,
                            id: unhex(id)?,
                        })
                    }
                    ("r", rest) => {
                        let (url, rid) = rest.split_once('.')?;
                        Some(IncludeKey::Referrer {
                            url: unhex(url)?,
                            rid: rid.parse().ok()?,
                        })
                    }
                    _ => return None,
                };
                frames.push(IncludeFrame {
                    source,
                    include,
                    param,
                    after,
                });
            }
            if frames.is_empty() {
                return None;
            }
            Some(frames)
        }
        _ => return None,
    };
    if next().is_some() {
        return None;
    }
    Some(Cursor {
        snapshot,
        total,
        after,
        includes,
    })
}

/// `s` as lowercase hexadecimal bytes.
fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The UTF-8 text `hex` wrote.
fn unhex(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    let bytes = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::mutations;

    fn round_trip(c: Cursor) {
        let text = encode_cursor(&c);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"~.-+_".contains(&b)),
            "{text}"
        );
        assert_eq!(decode_cursor(&text), Some(c), "{text}");
    }

    #[test]
    fn every_shape_reads_back() {
        round_trip(Cursor {
            snapshot: 7,
            total: None,
            after: None,
            includes: None,
        });
        round_trip(Cursor {
            snapshot: 12,
            total: Some(3),
            after: Some(Position {
                keys: vec![
                    KeyValue::Int(-4),
                    KeyValue::Real(2.5e-3),
                    KeyValue::Text("Zoë ~ & ?".into()),
                ],
                rid: 99,
                backwards: true,
            }),
            includes: Some(vec![
                IncludeFrame {
                    source: 1,
                    include: 0,
                    param: 2,
                    after: None,
                },
                IncludeFrame {
                    source: 5,
                    include: 1,
                    param: 0,
                    after: Some(IncludeKey::Referrer {
                        url: "Patient/a~b".into(),
                        rid: 8,
                    }),
                },
                IncludeFrame {
                    source: 6,
                    include: 3,
                    param: 0,
                    after: Some(IncludeKey::Target {
                        resource_type: "Patient".into(),
                        id: "x.y".into(),
                    }),
                },
            ]),
        });
    }

    #[test]
    fn mutated_text_never_panics() {
        let valid = "12~3~p~99~b~3~i-4~r2.5e-3~s5a6f~i~2~1~0~2~-~5~1~0~r50.8";
        assert!(decode_cursor(valid).is_some());
        let alphabet = b"0123456789abcdefrstipbf-~.+e";
        for bytes in mutations(valid, alphabet, 20_000, 0x9e37_79b9_7f4a_7c15) {
            let text = String::from_utf8(bytes).expect("ascii");
            if let Some(c) = decode_cursor(&text) {
                assert_eq!(decode_cursor(&encode_cursor(&c)), Some(c), "{text}");
            }
        }
    }

    #[test]
    fn malformed_text_is_refused() {
        for text in [
            "",
            "7",
            "7~-",
            "7~-~s",
            "7~-~s~.~extra",
            "7~-~q~.",
            "7~x~s~.",
            "7~-~p~1~f~2~i1~.",
            "7~-~p~1~z~0~.",
            "7~-~s~i~0",
            "7~-~s~i~1~1~0~0",
            "7~-~s~i~1~1~0~0~t61",
            "7~-~s~i~1~1~0~0~r6.1",
            "7~-~s~i~1~1~0~0~rzz.1",
            "7~-~p~1~f~1~sff~.",
        ] {
            assert_eq!(decode_cursor(text), None, "{text}");
        }
    }
}
