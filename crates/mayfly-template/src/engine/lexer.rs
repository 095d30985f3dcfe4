//! Splits Go text/template source into text runs and action tokens.
//!
//! Handles `{{-`/`-}}` whitespace trimming and `{{/* comments */}}` here, so the parser
//! only sees meaningful tokens. Every token carries its byte offset for error positions.

/// One lexical token with the byte offset where it starts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub kind: Tok,
    pub pos: usize,
}

/// Token kinds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// Literal text between actions (already trimmed).
    Text(String),
    /// `{{`
    Open,
    /// `}}`
    Close,
    /// A bare identifier: keyword or function name.
    Ident(String),
    /// `.Name` (one field step).
    Field(String),
    /// `.` alone.
    Dot,
    /// `$name` or `$`.
    Var(String),
    /// String literal (quoted or raw), unescaped.
    Str(String),
    /// Integer literal.
    Int(i64),
    /// Floating-point literal.
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `nil`.
    Nil,
    /// `|`
    Pipe,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `:=`
    Declare,
    /// `=`
    Assign,
    /// `,`
    Comma,
}

/// A lexing failure at a byte offset.
pub(crate) type LexError = (usize, String);

/// Tokenizes the whole template.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, LexError> {
    let mut out = Vec::new();
    let bytes = src.as_bytes();
    let mut i = 0;
    let mut trim_next = false;
    while i < src.len() {
        let open = src[i..].find("{{").map(|o| o + i);
        let text_end = open.unwrap_or(src.len());
        let mut text = &src[i..text_end];
        if trim_next {
            text = text.trim_start_matches(is_space);
        }
        let trim_left = open.is_some_and(|o| is_trim_ws(src, o));
        if trim_left {
            text = text.trim_end_matches(is_space);
        }
        if !text.is_empty() {
            out.push(Token {
                kind: Tok::Text(text.to_owned()),
                pos: i,
            });
        }
        let Some(open) = open else { break };
        let mut j = open + 2;
        if trim_left {
            j += 1;
        }
        // Comments: {{/* ... */}} with optional trim markers.
        let after_ws = skip_space(bytes, j);
        if src[after_ws..].starts_with("/*") {
            let end = src[after_ws..]
                .find("*/")
                .map(|e| e + after_ws + 2)
                .ok_or((open, "unclosed comment".to_owned()))?;
            let k = skip_space(bytes, end);
            let (close_at, trims) = if src[k..].starts_with("-}}") {
                (k + 3, true)
            } else if src[end..].starts_with("}}") {
                (end + 2, false)
            } else {
                return Err((end, "comment ends before closing delimiter".to_owned()));
            };
            trim_next = trims;
            i = close_at;
            continue;
        }
        out.push(Token {
            kind: Tok::Open,
            pos: open,
        });
        let (next, trims) = lex_action(src, j, &mut out)?;
        trim_next = trims;
        i = next;
    }
    Ok(out)
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// `{{-` followed by a whitespace character (Go requires the space).
fn is_trim_ws(src: &str, open: usize) -> bool {
    let rest = &src[open + 2..];
    rest.starts_with('-') && rest[1..].starts_with(is_space)
}

fn skip_space(bytes: &[u8], mut j: usize) -> usize {
    while j < bytes.len() && matches!(bytes[j], b' ' | b'\t' | b'\r' | b'\n') {
        j += 1;
    }
    j
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Lexes one action body starting at `j`; returns the offset after `}}` and whether `-}}` trims.
fn lex_action(src: &str, mut j: usize, out: &mut Vec<Token>) -> Result<(usize, bool), LexError> {
    let bytes = src.as_bytes();
    let mut depth = 0usize;
    loop {
        j = skip_space(bytes, j);
        if j >= bytes.len() {
            return Err((j, "unclosed action".to_owned()));
        }
        let rest = &src[j..];
        if rest.starts_with("-}}") && j > 0 && is_space_byte(bytes[j - 1]) {
            out.push(Token {
                kind: Tok::Close,
                pos: j,
            });
            return Ok((j + 3, true));
        }
        if rest.starts_with("}}") {
            if depth > 0 {
                return Err((j, "unclosed left paren".to_owned()));
            }
            out.push(Token {
                kind: Tok::Close,
                pos: j,
            });
            return Ok((j + 2, false));
        }
        let start = j;
        let c = bytes[j];
        let kind = match c {
            b'|' => {
                j += 1;
                Tok::Pipe
            }
            b'(' => {
                depth += 1;
                j += 1;
                Tok::LParen
            }
            b')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or((j, "unexpected right paren".to_owned()))?;
                j += 1;
                Tok::RParen
            }
            b',' => {
                j += 1;
                Tok::Comma
            }
            b':' if rest.starts_with(":=") => {
                j += 2;
                Tok::Declare
            }
            b'=' => {
                j += 1;
                Tok::Assign
            }
            b'"' => {
                let (s, end) = lex_quoted(src, j)?;
                j = end;
                Tok::Str(s)
            }
            b'`' => {
                let end = src[j + 1..]
                    .find('`')
                    .map(|e| e + j + 1)
                    .ok_or((j, "unterminated raw string".to_owned()))?;
                let s = src[j + 1..end].to_owned();
                j = end + 1;
                Tok::Str(s)
            }
            b'.' if bytes.get(j + 1).is_some_and(|b| b.is_ascii_digit()) => {
                let (t, end) = lex_number(src, j)?;
                j = end;
                t
            }
            b'.' => {
                j += 1;
                let name_end = ident_end(bytes, j);
                if name_end == j {
                    Tok::Dot
                } else {
                    let name = src[j..name_end].to_owned();
                    j = name_end;
                    Tok::Field(name)
                }
            }
            b'$' => {
                let name_end = ident_end(bytes, j + 1);
                let name = src[j..name_end].to_owned();
                j = name_end;
                Tok::Var(name)
            }
            b'-' | b'+' | b'0'..=b'9' => {
                let (t, end) = lex_number(src, j)?;
                j = end;
                t
            }
            c if is_ident_char(c) => {
                let end = ident_end(bytes, j);
                let word = &src[j..end];
                j = end;
                match word {
                    "true" => Tok::Bool(true),
                    "false" => Tok::Bool(false),
                    "nil" => Tok::Nil,
                    w => Tok::Ident(w.to_owned()),
                }
            }
            _ => {
                let ch = rest.chars().next().unwrap_or('?');
                return Err((j, format!("unexpected {ch:?} in action")));
            }
        };
        out.push(Token { kind, pos: start });
    }
}

fn is_space_byte(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn ident_end(bytes: &[u8], mut j: usize) -> usize {
    while j < bytes.len() && is_ident_char(bytes[j]) {
        j += 1;
    }
    j
}

fn lex_number(src: &str, start: usize) -> Result<(Tok, usize), LexError> {
    let bytes = src.as_bytes();
    let mut j = start;
    if matches!(bytes[j], b'-' | b'+') {
        j += 1;
    }
    while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || matches!(bytes[j], b'.' | b'_')) {
        j += 1;
    }
    let text = src[start..j].replace('_', "");
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.trim_start_matches('+')),
    };
    let int = if let Some(hex) = digits.strip_prefix("0x").or(digits.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()
    } else {
        digits.parse::<i64>().ok()
    };
    if let Some(v) = int {
        return Ok((Tok::Int(if neg { -v } else { v }), j));
    }
    text.parse::<f64>()
        .map(|f| (Tok::Float(f), j))
        .map_err(|_| (start, format!("bad number syntax: {:?}", &src[start..j])))
}

fn lex_quoted(src: &str, start: usize) -> Result<(String, usize), LexError> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((k, c)) = chars.next() {
        match c {
            '"' => return Ok((out, start + 1 + k + 1)),
            '\n' => break,
            '\\' => {
                let (_, e) = chars
                    .next()
                    .ok_or((start, "unterminated quoted string".to_owned()))?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    '0' => out.push('\0'),
                    other => {
                        return Err((start + 1 + k, format!("unknown escape \\{other}")));
                    }
                }
            }
            c => out.push(c),
        }
    }
    Err((start, "unterminated quoted string".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        lex(src)
            .map(|t| t.into_iter().map(|t| t.kind).collect())
            .unwrap_or_default()
    }

    #[test]
    fn trims_and_comments() {
        assert_eq!(
            kinds("a  {{- /* c */ -}}  b"),
            vec![Tok::Text("a".into()), Tok::Text("b".into())]
        );
        assert_eq!(
            kinds("x {{- .A.B -}} y"),
            vec![
                Tok::Text("x".into()),
                Tok::Open,
                Tok::Field("A".into()),
                Tok::Field("B".into()),
                Tok::Close,
                Tok::Text("y".into())
            ]
        );
    }

    #[test]
    fn literals() {
        assert_eq!(
            kinds(r#"{{ $x := "a\"b" 3 -1.5 true nil `r\n` }}"#),
            vec![
                Tok::Open,
                Tok::Var("$x".into()),
                Tok::Declare,
                Tok::Str("a\"b".into()),
                Tok::Int(3),
                Tok::Float(-1.5),
                Tok::Bool(true),
                Tok::Nil,
                Tok::Str("r\\n".into()),
                Tok::Close
            ]
        );
    }

    #[test]
    fn unclosed_action_is_an_error() {
        assert!(lex("{{ .A ").is_err());
        assert!(lex("{{ \"abc }}").is_err());
    }
}
