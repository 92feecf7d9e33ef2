//! Splits template source into text and action tokens, applying `{{-`/`-}}` trimming.

use crate::ast::Pos;

/// A token; its text borrows the source (lexing allocates nothing but the token list).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tok<'a> {
    Text(&'a str),
    LeftDelim,
    RightDelim,
    Space,
    Ident(&'a str),
    /// `.Name` (the name without its dot)
    Field(&'a str),
    /// `$name` or `$`
    Variable(&'a str),
    /// Source form of a quoted or raw string.
    Str(&'a str),
    /// Source form of a character constant.
    Char(&'a str),
    Number(&'a str),
    Bool(bool),
    Nil,
    Dot,
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
    Keyword(Kw),
    Eof,
}

/// The keywords of the action language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kw {
    Block,
    Break,
    Continue,
    Define,
    Else,
    End,
    If,
    Range,
    Template,
    With,
}

impl Kw {
    fn of(word: &str) -> Option<Kw> {
        Some(match word {
            "block" => Kw::Block,
            "break" => Kw::Break,
            "continue" => Kw::Continue,
            "define" => Kw::Define,
            "else" => Kw::Else,
            "end" => Kw::End,
            "if" => Kw::If,
            "range" => Kw::Range,
            "template" => Kw::Template,
            "with" => Kw::With,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Kw::Block => "block",
            Kw::Break => "break",
            Kw::Continue => "continue",
            Kw::Define => "define",
            Kw::Else => "else",
            Kw::End => "end",
            Kw::If => "if",
            Kw::Range => "range",
            Kw::Template => "template",
            Kw::With => "with",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Token<'a> {
    pub tok: Tok<'a>,
    pub pos: Pos,
}

/// A lexing error at a byte position.
#[derive(Debug)]
pub struct LexError {
    pub pos: Pos,
    pub msg: String,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

pub struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    left: &'a str,
    right: &'a str,
    tokens: Vec<Token<'a>>,
    paren_depth: usize,
}

impl<'a> Lexer<'a> {
    /// A lexer that appends to `tokens` (an emptied list, reused for its memory).
    pub fn new(src: &'a str, left: &'a str, right: &'a str, mut tokens: Vec<Token<'a>>) -> Self {
        // About one token for every eight bytes of a Helm template: sized once, the
        // list is not copied as it grows.
        tokens.reserve(src.len() / 8 + 8);
        Lexer { src, pos: 0, left, right, tokens, paren_depth: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn emit(&mut self, tok: Tok<'a>, pos: Pos) {
        self.tokens.push(Token { tok, pos });
    }

    fn err<T>(&self, pos: Pos, msg: impl Into<String>) -> Result<T, LexError> {
        Err(LexError { pos, msg: msg.into() })
    }

    /// Lex the whole source.
    pub fn run(mut self) -> Result<Vec<Token<'a>>, LexError> {
        let mut trim_next_text = false;
        loop {
            let rest = self.rest();
            let text_end = find_delim(rest, self.left).map(|i| self.pos + i).unwrap_or(self.src.len());
            let mut text = &self.src[self.pos..text_end];
            let text_pos = self.pos;
            if trim_next_text {
                let trimmed = text.trim_start_matches([' ', '\t', '\r', '\n']);
                text = trimmed;
            }
            self.pos = text_end;
            if self.pos >= self.src.len() {
                if !text.is_empty() {
                    self.emit(Tok::Text(text), text_pos);
                }
                let end = self.src.len();
                self.emit(Tok::Eof, end);
                return Ok(self.tokens);
            }
            // At a left delimiter: is there a trim marker?
            let after = &self.src[self.pos + self.left.len()..];
            let trim_left = after.len() >= 2
                && after.as_bytes()[0] == b'-'
                && is_space(after.as_bytes()[1]);
            if trim_left {
                text = text.trim_end_matches([' ', '\t', '\r', '\n']);
            }
            if !text.is_empty() {
                self.emit(Tok::Text(text), text_pos);
            }
            let delim_pos = self.pos;
            self.pos += self.left.len();
            if trim_left {
                self.pos += 2;
            }
            // Comments.
            if self.rest().starts_with("/*") {
                let Some(end) = self.rest().find("*/") else {
                    return self.err(delim_pos, "unclosed comment");
                };
                self.pos += end + 2;
                let (_, trim_right) = self.at_right_delim();
                match self.at_right_delim() {
                    (true, t) => {
                        self.pos += if t { 2 } else { 0 } + self.right.len();
                        trim_next_text = trim_right;
                    }
                    (false, _) => return self.err(delim_pos, "comment ends before closing delimiter"),
                }
                continue;
            }
            self.emit(Tok::LeftDelim, delim_pos);
            self.paren_depth = 0;
            trim_next_text = self.lex_action()?;
        }
    }

    /// Whether the input is at a right delimiter, and whether it carries a trim marker.
    fn at_right_delim(&self) -> (bool, bool) {
        let b = self.rest().as_bytes();
        let right = self.right.as_bytes();
        if b.len() >= 2 && is_space(b[0]) && b[1] == b'-' && b[2..].starts_with(right) {
            return (true, true);
        }
        // The first byte decides most calls (one per token and per space) without
        // comparing the whole delimiter.
        (b.first() == right.first() && b.starts_with(right), false)
    }

    /// Lex inside `{{ … }}`; returns whether the right delimiter trims following text.
    fn lex_action(&mut self) -> Result<bool, LexError> {
        let start = self.pos;
        loop {
            let (at_right, trim) = self.at_right_delim();
            if at_right {
                if self.paren_depth > 0 {
                    return self.err(self.pos, "unclosed left paren");
                }
                let p = self.pos;
                self.pos += if trim { 2 } else { 0 } + self.right.len();
                self.emit(Tok::RightDelim, p);
                return Ok(trim);
            }
            let Some(c) = self.rest().chars().next() else {
                return self.err(start, "unclosed action");
            };
            let p = self.pos;
            match c {
                ' ' | '\t' | '\r' | '\n' => {
                    while let Some(b) = self.rest().as_bytes().first() {
                        if !is_space(*b) {
                            break;
                        }
                        if self.at_right_delim() == (true, true) {
                            break;
                        }
                        self.pos += 1;
                    }
                    self.emit(Tok::Space, p);
                }
                '=' => {
                    self.pos += 1;
                    self.emit(Tok::Assign, p);
                }
                ':' => {
                    if !self.rest().starts_with(":=") {
                        return self.err(p, "expected :=");
                    }
                    self.pos += 2;
                    self.emit(Tok::Declare, p);
                }
                '|' => {
                    self.pos += 1;
                    self.emit(Tok::Pipe, p);
                }
                ',' => {
                    self.pos += 1;
                    self.emit(Tok::Comma, p);
                }
                '"' => {
                    let s = self.scan_quoted('"', "unterminated quoted string")?;
                    self.emit(Tok::Str(s), p);
                }
                '`' => {
                    let Some(end) = self.rest()[1..].find('`') else {
                        return self.err(p, "unterminated raw quoted string");
                    };
                    let s = &self.rest()[..end + 2];
                    self.pos += end + 2;
                    self.emit(Tok::Str(s), p);
                }
                '\'' => {
                    let s = self.scan_quoted('\'', "unterminated character constant")?;
                    self.emit(Tok::Char(s), p);
                }
                '$' => {
                    self.pos += 1;
                    self.scan_ident();
                    self.emit(Tok::Variable(&self.src[p..self.pos]), p);
                }
                '.' => {
                    let next = self.rest()[1..].chars().next();
                    if next.is_some_and(|c| c.is_ascii_digit()) {
                        let n = self.scan_number()?;
                        self.emit(Tok::Number(n), p);
                    } else if next.is_some_and(is_alnum) {
                        self.pos += 1;
                        let name = self.scan_ident();
                        self.emit(Tok::Field(name), p);
                    } else {
                        self.pos += 1;
                        self.emit(Tok::Dot, p);
                    }
                }
                '+' | '-' | '0'..='9' => {
                    let n = self.scan_number()?;
                    self.emit(Tok::Number(n), p);
                }
                '(' => {
                    self.pos += 1;
                    self.paren_depth += 1;
                    self.emit(Tok::LParen, p);
                }
                ')' => {
                    if self.paren_depth == 0 {
                        return self.err(p, "unexpected right paren");
                    }
                    self.pos += 1;
                    self.paren_depth -= 1;
                    self.emit(Tok::RParen, p);
                }
                c if is_alnum(c) => {
                    let word = self.scan_ident();
                    let tok = match word {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        w => match Kw::of(w) {
                            Some(k) => Tok::Keyword(k),
                            None => Tok::Ident(word),
                        },
                    };
                    self.emit(tok, p);
                }
                c => return self.err(p, format!("bad character U+{:04X} '{c}'", c as u32)),
            }
        }
    }

    fn scan_ident(&mut self) -> &'a str {
        let rest = self.rest();
        let ascii = rest.bytes().position(|b| !(b == b'_' || b.is_ascii_alphanumeric())).unwrap_or(rest.len());
        let end = if rest.as_bytes().get(ascii).is_some_and(|b| !b.is_ascii()) {
            // A letter or digit beyond ASCII continues the name.
            rest.char_indices().find(|(_, c)| !is_alnum(*c)).map(|(i, _)| i).unwrap_or(rest.len())
        } else {
            ascii
        };
        self.pos += end;
        &rest[..end]
    }

    fn scan_quoted(&mut self, q: char, unterminated: &str) -> Result<&'a str, LexError> {
        let start = self.pos;
        let mut chars = self.rest().char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '\\'
                    if chars.next().is_none_or(|(_, c)| c == '\n') => {
                        return self.err(start, unterminated);
                    }
                '\n' => return self.err(start, unterminated),
                c if c == q => {
                    let s = &self.rest()[..i + 1];
                    self.pos += i + 1;
                    return Ok(s);
                }
                _ => {}
            }
        }
        self.err(start, unterminated)
    }

    fn scan_number(&mut self) -> Result<&'a str, LexError> {
        let start = self.pos;
        let b = self.rest().as_bytes();
        let mut i = 0;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let mut digits: &[u8] = b"0123456789_";
        let mut exp: &[u8] = b"eE";
        if i + 1 < b.len() && b[i] == b'0' {
            match b[i + 1] {
                b'x' | b'X' => {
                    i += 2;
                    digits = b"0123456789abcdefABCDEF_";
                    exp = b"pP";
                }
                b'o' | b'O' => {
                    i += 2;
                    digits = b"01234567_";
                    exp = b"";
                }
                b'b' | b'B' => {
                    i += 2;
                    digits = b"01_";
                    exp = b"";
                }
                _ => {}
            }
        }
        while i < b.len() && digits.contains(&b[i]) {
            i += 1;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            while i < b.len() && digits.contains(&b[i]) {
                i += 1;
            }
        }
        if !exp.is_empty() && i < b.len() && exp.contains(&b[i]) {
            i += 1;
            if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                i += 1;
            }
            while i < b.len() && b"0123456789_".contains(&b[i]) {
                i += 1;
            }
        }
        if i < b.len() && b[i] == b'i' {
            i += 1;
        }
        let text = &self.rest()[..i];
        let next = self.rest()[i..].chars().next();
        if next.is_some_and(|c| is_alnum(c) || c == '.') || text.is_empty() || text == "+" || text == "-" {
            let bad_end = self.rest()[i..]
                .char_indices()
                .find(|(_, c)| !is_alnum(*c) && *c != '.')
                .map(|(j, _)| i + j)
                .unwrap_or(self.rest().len());
            return self.err(start, format!("bad number syntax: {:?}", &self.rest()[..bad_end]));
        }
        self.pos += i;
        Ok(text)
    }
}

/// Where `delim` first occurs in `text`: a `memchr` for its first byte, then a
/// comparison (faster than a substring search for the two-byte delimiters).
fn find_delim(text: &str, delim: &str) -> Option<usize> {
    let first = *delim.as_bytes().first()?;
    if !first.is_ascii() {
        return text.find(delim);
    }
    let mut from = 0;
    while let Some(i) = text[from..].find(first as char) {
        let at = from + i;
        if text[at..].starts_with(delim) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}
