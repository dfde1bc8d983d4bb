//! A tolerant tokenizer for DDL text as servers write it into QUERY events: comments are
//! dropped, MySQL/MariaDB versioned comments (`/*!50100 … */`, `/*M!100301 … */`) are unwrapped
//! (their content is part of the statement the server executed), and identifiers quoted with
//! backticks (or double quotes, as under `ANSI_QUOTES`) keep their exact spelling.
//!
//! Grammar facts: MySQL manual 11.2 "Schema Object Names" (quoting, doubled backticks), 11.7
//! "Comments" (`#`, `-- `, `/* */`, `/*!NNNNN */`), MariaDB KB "Comment Syntax" (`/*M!NNNNNN */`).
//!
//! The tokens keep byte spans into [`Lexed::text`] (the statement with comments removed), so a
//! piece of the statement (one column definition) can be handed to `sqlparser` verbatim.

use std::ops::Range;

/// One token of a DDL statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// An unquoted word (keyword or identifier), as written.
    Word(String),
    /// A backtick- or double-quote-quoted identifier, unescaped.
    Quoted(String),
    /// A single-quoted string literal, unescaped (doubled quotes and backslash escapes).
    Str(String),
    /// A number literal as written.
    Num(String),
    /// Any other character (`(`, `)`, `,`, `.`, `=`, `;` …).
    Punct(char),
}

/// A token with its byte span in [`Lexed::text`].
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) span: Range<usize>,
}

impl Token {
    /// True when the token is the unquoted keyword `kw` (ASCII case-insensitive).
    pub(crate) fn is(&self, kw: &str) -> bool {
        matches!(&self.tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    /// True for the punctuation character `c`.
    pub(crate) fn is_punct(&self, c: char) -> bool {
        self.tok == Tok::Punct(c)
    }

    /// The identifier this token names (a word or a quoted identifier).
    pub(crate) fn ident(&self) -> Option<&str> {
        match &self.tok {
            Tok::Word(w) | Tok::Quoted(w) => Some(w),
            _ => None,
        }
    }

    /// The text of a word, identifier, string or number token.
    pub(crate) fn text(&self) -> Option<&str> {
        match &self.tok {
            Tok::Word(w) | Tok::Quoted(w) | Tok::Str(w) | Tok::Num(w) => Some(w),
            Tok::Punct(_) => None,
        }
    }
}

/// A statement with its comments removed and its tokens.
#[derive(Debug, Clone)]
pub(crate) struct Lexed {
    /// The statement without comments (versioned comments unwrapped).
    pub(crate) text: String,
    /// The tokens of `text`.
    pub(crate) tokens: Vec<Token>,
}

/// Why a statement could not be tokenized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexError(pub(crate) String);

/// Removes comments (keeping the content of versioned ones) and tokenizes `sql`.
///
/// Errors: an unterminated string, quoted identifier or comment.
pub(crate) fn lex(sql: &str) -> Result<Lexed, LexError> {
    let text = strip_comments(sql)?;
    let tokens = tokenize(&text)?;
    Ok(Lexed { text, tokens })
}

fn strip_comments(sql: &str) -> Result<String, LexError> {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    // Depth of open versioned comments whose closing `*/` must be dropped.
    let mut versioned = 0usize;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' | b'"' | b'`' => {
                let end = quoted_end(b, i)?;
                out.push_str(&sql[i..end]);
                i = end;
            }
            b'#' => i = line_end(b, i),
            b'-' if b.get(i + 1) == Some(&b'-') && b.get(i + 2).is_none_or(|c| c.is_ascii_whitespace()) => {
                i = line_end(b, i)
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let versioned_start = match (b.get(i + 2), b.get(i + 3)) {
                    (Some(b'!'), _) => Some(i + 3),
                    (Some(b'M'), Some(b'!')) => Some(i + 4),
                    _ => None,
                };
                if let Some(mut j) = versioned_start {
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    versioned += 1;
                    out.push(' ');
                    i = j;
                } else {
                    let close = sql[i + 2..].find("*/").ok_or_else(|| LexError("unterminated /* comment".into()))?;
                    out.push(' ');
                    i = i + 2 + close + 2;
                }
            }
            b'*' if versioned > 0 && b.get(i + 1) == Some(&b'/') => {
                versioned -= 1;
                out.push(' ');
                i += 2;
            }
            _ => {
                let ch = sql[i..].chars().next().expect("in bounds");
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    if versioned > 0 {
        return Err(LexError("unterminated /*! comment".into()));
    }
    Ok(out)
}

fn line_end(b: &[u8], i: usize) -> usize {
    b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |p| i + p + 1)
}

/// End (exclusive) of the quoted token starting at `i`: the quote character doubled inside
/// is an escaped quote; in strings a backslash escapes the next byte.
fn quoted_end(b: &[u8], i: usize) -> Result<usize, LexError> {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() {
        if b[j] == b'\\' && q != b'`' {
            j += 2;
            continue;
        }
        if b[j] == q {
            if b.get(j + 1) == Some(&q) {
                j += 2;
                continue;
            }
            return Ok(j + 1);
        }
        j += 1;
    }
    Err(LexError(format!("unterminated {} quote", q as char)))
}

fn unquote(raw: &str, q: char) -> String {
    let inner = &raw[1..raw.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut it = inner.chars().peekable();
    while let Some(c) = it.next() {
        if c == q && it.peek() == Some(&q) {
            it.next();
            out.push(q);
        } else if c == '\\' && q != '`' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('0') => out.push('\0'),
                Some('Z') => out.push('\x1a'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn tokenize(text: &str) -> Result<Vec<Token>, LexError> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = if c == b'\'' || c == b'"' || c == b'`' {
            i = quoted_end(b, i)?;
            let s = unquote(&text[start..i], c as char);
            if c == b'\'' {
                Tok::Str(s)
            } else {
                Tok::Quoted(s)
            }
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_' || b[i] == b'$') {
                i += 1;
            }
            let s = &text[start..i];
            // `1col` is an identifier in MySQL (names may begin with a digit).
            if s.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
                Tok::Num(s.to_string())
            } else {
                Tok::Word(s.to_string())
            }
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c >= 0x80 {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80) {
                i += 1;
            }
            Tok::Word(text[start..i].to_string())
        } else {
            let ch = text[i..].chars().next().expect("in bounds");
            i += ch.len_utf8();
            Tok::Punct(ch)
        };
        out.push(Token { tok, span: start..i });
    }
    Ok(out)
}

/// Splits `tokens` at commas outside parentheses.
pub(crate) fn split_top_level(tokens: &[Token]) -> Vec<&[Token]> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, t) in tokens.iter().enumerate() {
        match t.tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            Tok::Punct(',') if depth == 0 => {
                parts.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tokens[start..]);
    parts
}

/// Index of the `)` closing the `(` at `open`, if any.
pub(crate) fn matching_paren(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(sql: &str) -> Vec<String> {
        lex(sql)
            .unwrap()
            .tokens
            .iter()
            .map(|t| t.text().map(str::to_string).unwrap_or_else(|| format!("{:?}", t.tok)))
            .collect()
    }

    #[test]
    fn comments_are_dropped_and_versioned_comments_unwrapped() {
        assert_eq!(
            words("ALTER /* gh-ost */ TABLE `a``b` -- x\n ADD c INT # y\n /*!50100 FIRST */ /*M!100301 , ALGORITHM=INPLACE*/"),
            ["ALTER", "TABLE", "a`b", "ADD", "c", "INT", "FIRST", "Punct(',')", "ALGORITHM", "Punct('=')", "INPLACE"]
        );
    }

    #[test]
    fn strings_keep_comment_like_text() {
        assert_eq!(words("COMMENT 'a -- b /* c */ ''d'' \\'e'"), ["COMMENT", "a -- b /* c */ 'd' 'e"]);
    }

    #[test]
    fn unterminated_input_is_an_error() {
        assert!(lex("ALTER TABLE `t").is_err());
        assert!(lex("ALTER TABLE t /* x").is_err());
        assert!(lex("ALTER TABLE t COMMENT 'x").is_err());
    }

    #[test]
    fn split_respects_parentheses() {
        let l = lex("a INT, b DECIMAL(10,2), PRIMARY KEY (a, b)").unwrap();
        assert_eq!(split_top_level(&l.tokens).len(), 3);
    }
}
