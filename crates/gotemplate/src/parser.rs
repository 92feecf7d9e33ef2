//! Tokens to trees: the top-level template of a source plus every `define`/`block` in it.

use std::sync::Arc;

use crate::ast::{Branch, Command, Expr, Fields, Node, Number, Pipe, Pos, Tree};
use crate::lexer::{Kw, Lexer, Tok, Token};

/// A parse failure at a byte position of the source.
#[derive(Debug)]
pub struct ParseFailure {
    pub pos: Pos,
    pub msg: String,
}

type PResult<T> = Result<T, ParseFailure>;

/// Parses `source` named `name`; returns the top-level tree first, then the defines.
pub fn parse(
    name: &str,
    source: &str,
    delims: (&str, &str),
    has_func: &dyn Fn(&str) -> bool,
) -> Result<Vec<Tree>, ParseFailure> {
    let tokens = Lexer::new(source, delims.0, delims.1, spare_tokens())
        .run()
        .map_err(|e| ParseFailure { pos: e.pos, msg: e.msg })?;
    let src: Arc<str> = Arc::from(source);
    let mut p = Parser {
        tokens,
        i: 0,
        has_func,
        vars: vec!["$".to_string()],
        range_depth: 0,
        defines: Vec::new(),
        nodes: Vec::new(),
        cmds: Vec::new(),
        args: Vec::new(),
        name: name.to_string(),
        source: src.clone(),
        base: source.as_ptr() as usize,
    };
    let parsed = p.list(true);
    keep_tokens(std::mem::take(&mut p.tokens));
    let (root, end) = parsed?;
    if let Some(t) = end {
        return Err(ParseFailure { pos: t.pos, msg: format!("unexpected {}", describe_end(&t.tok)) });
    }
    let mut trees = vec![Tree { name: name.to_string(), parse_name: name.to_string(), source: src, root }];
    trees.append(&mut p.defines);
    Ok(trees)
}

thread_local! {
    /// The token list of this thread's last parse, emptied: its memory serves the next
    /// parse, so parsing many sources touches fresh pages only for the largest one.
    static SPARE_TOKENS: std::cell::Cell<Vec<Token<'static>>> = const { std::cell::Cell::new(Vec::new()) };
}

fn spare_tokens<'a>() -> Vec<Token<'a>> {
    recycle(SPARE_TOKENS.take())
}

fn keep_tokens(tokens: Vec<Token<'_>>) {
    SPARE_TOKENS.set(recycle(tokens));
}

/// An empty list of tokens borrowing another source, in the same memory: collecting
/// a vector's own iterator into a vector of an equally sized type reuses its buffer.
fn recycle<'b>(mut tokens: Vec<Token<'_>>) -> Vec<Token<'b>> {
    tokens.clear();
    tokens.into_iter().map(|_| unreachable!("the list was emptied")).collect()
}

fn describe_end(t: &Tok<'_>) -> String {
    match t {
        Tok::Keyword(k) => format!("{{{{{}}}}}", k.name()),
        t => describe(t),
    }
}

fn describe(t: &Tok<'_>) -> String {
    match t {
        Tok::Text(_) => "text".into(),
        Tok::LeftDelim => "\"{{\"".into(),
        Tok::RightDelim => "\"}}\"".into(),
        Tok::Space => "space".into(),
        Tok::Ident(s) | Tok::Field(s) | Tok::Variable(s) | Tok::Str(s) | Tok::Char(s) | Tok::Number(s) => {
            format!("<{s}>")
        }
        Tok::Bool(b) => format!("<{b}>"),
        Tok::Nil => "<nil>".into(),
        Tok::Dot => "<.>".into(),
        Tok::Pipe => "<|>".into(),
        Tok::LParen => "<(>".into(),
        Tok::RParen => "<)>".into(),
        Tok::Declare => "<:=>".into(),
        Tok::Assign => "<=>".into(),
        Tok::Comma => "<,>".into(),
        Tok::Keyword(k) => format!("<{}>", k.name()),
        Tok::Eof => "EOF".into(),
    }
}

struct Parser<'a, 'f> {
    tokens: Vec<Token<'a>>,
    i: usize,
    has_func: &'f dyn Fn(&str) -> bool,
    vars: Vec<String>,
    range_depth: usize,
    defines: Vec<Tree>,
    /// Stacks the lists being parsed grow on (nested lists above their parents'), so
    /// each finished list is copied once into an allocation of its exact size.
    nodes: Vec<Node>,
    cmds: Vec<Command>,
    args: Vec<Expr>,
    name: String,
    source: Arc<str>,
    /// Where the parsed text starts in memory: tokens borrow it, so a token's offset
    /// is its address minus this.
    base: usize,
}

/// How a nested list ended: `{{end}}` or `{{else}}` (with the token after `else`).
struct EndTok<'a> {
    pos: Pos,
    tok: Tok<'a>,
}

impl<'a> Parser<'a, '_> {
    fn peek(&self) -> Token<'a> {
        self.tokens[self.i.min(self.tokens.len() - 1)]
    }
    fn next(&mut self) -> Token<'a> {
        let t = self.peek();
        if self.i < self.tokens.len() - 1 {
            self.i += 1;
        }
        t
    }
    fn next_non_space(&mut self) -> Token<'a> {
        loop {
            let t = self.next();
            if !matches!(t.tok, Tok::Space) {
                return t;
            }
        }
    }
    fn peek_non_space(&mut self) -> Token<'a> {
        let save = self.i;
        let t = self.next_non_space();
        self.i = save;
        t
    }
    fn fail<T>(&self, pos: Pos, msg: impl Into<String>) -> PResult<T> {
        Err(ParseFailure { pos, msg: msg.into() })
    }

    /// Nodes until EOF (top level) or `{{end}}`/`{{else …}}` (returned, delimiter consumed
    /// up to the keyword).
    fn list(&mut self, top: bool) -> PResult<(Box<[Node]>, Option<EndTok<'a>>)> {
        let base = self.nodes.len();
        loop {
            let t = self.next();
            match t.tok {
                Tok::Eof => {
                    if top {
                        return Ok((self.nodes.drain(base..).collect(), None));
                    }
                    return self.fail(t.pos, "unexpected EOF");
                }
                Tok::Text(s) => {
                    let start = s.as_ptr() as usize - self.base;
                    self.nodes.push(Node::Text(start..start + s.len()));
                }
                Tok::LeftDelim => {
                    let kw = self.peek_non_space();
                    if let Tok::Keyword(Kw::End | Kw::Else) = kw.tok {
                        self.next_non_space();
                        let end = EndTok { pos: kw.pos, tok: kw.tok };
                        return Ok((self.nodes.drain(base..).collect(), Some(end)));
                    }
                    if let Some(n) = self.action(top)? {
                        self.nodes.push(n);
                    }
                }
                other => return self.fail(t.pos, format!("unexpected {}", describe(&other))),
            }
        }
    }

    fn expect_right(&mut self, context: &str) -> PResult<()> {
        let t = self.next_non_space();
        if !matches!(t.tok, Tok::RightDelim) {
            return self.fail(t.pos, format!("unexpected {} in {context}", describe(&t.tok)));
        }
        Ok(())
    }

    fn action(&mut self, top: bool) -> PResult<Option<Node>> {
        let t = self.peek_non_space();
        match t.tok {
            Tok::Keyword(Kw::If) => {
                self.next_non_space();
                Ok(Some(Node::If(Box::new(self.branch("if", t.pos)?))))
            }
            Tok::Keyword(Kw::With) => {
                self.next_non_space();
                Ok(Some(Node::With(Box::new(self.branch("with", t.pos)?))))
            }
            Tok::Keyword(Kw::Range) => {
                self.next_non_space();
                self.range_depth += 1;
                let b = self.branch("range", t.pos);
                self.range_depth -= 1;
                Ok(Some(Node::Range(Box::new(b?))))
            }
            Tok::Keyword(k @ (Kw::Break | Kw::Continue)) => {
                self.next_non_space();
                let kw = k.name();
                if self.range_depth == 0 {
                    return self.fail(t.pos, format!("{{{{{kw}}}}} outside {{{{range}}}}"));
                }
                self.expect_right(&format!("{{{{{kw}}}}}"))?;
                Ok(Some(if kw == "break" { Node::Break(t.pos) } else { Node::Continue(t.pos) }))
            }
            Tok::Keyword(Kw::Template) => {
                self.next_non_space();
                let (pos, name, pipe) = self.template_clause("template")?;
                Ok(Some(Node::Template { pos, name: name.into(), pipe: pipe.map(Box::new) }))
            }
            Tok::Keyword(Kw::Block) => {
                self.next_non_space();
                let (pos, name, pipe) = self.template_clause("block")?;
                self.define_body(&name)?;
                Ok(Some(Node::Template { pos, name: name.into(), pipe: pipe.map(Box::new) }))
            }
            Tok::Keyword(Kw::Define) => {
                self.next_non_space();
                if !top {
                    return self.fail(t.pos, "unexpected <define> in command");
                }
                let nt = self.next_non_space();
                let name = match &nt.tok {
                    Tok::Str(s) => unquote(s).map_err(|m| ParseFailure { pos: nt.pos, msg: m })?,
                    other => {
                        return self.fail(nt.pos, format!("unexpected {} in define clause", describe(other)))
                    }
                };
                self.expect_right("define clause")?;
                self.define_body(&name)?;
                Ok(None)
            }
            _ => {
                let pipe = self.pipeline("command", false)?;
                Ok(Some(Node::Action(pipe)))
            }
        }
    }

    /// The body of a `define`/`block` up to its `{{end}}`, stored as a new tree.
    fn define_body(&mut self, name: &str) -> PResult<()> {
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let saved_range = std::mem::replace(&mut self.range_depth, 0);
        let res = self.list(false);
        self.vars = saved_vars;
        self.range_depth = saved_range;
        let (root, end) = res?;
        match end {
            Some(EndTok { tok: Tok::Keyword(Kw::End), .. }) => self.expect_right("end")?,
            Some(e) => return self.fail(e.pos, format!("unexpected {}", describe_end(&e.tok))),
            None => return self.fail(self.source.len(), "unexpected EOF"),
        }
        self.defines.push(Tree {
            name: name.to_string(),
            parse_name: self.name.clone(),
            source: self.source.clone(),
            root,
        });
        Ok(())
    }

    fn template_clause(&mut self, context: &str) -> PResult<(Pos, String, Option<Pipe>)> {
        let nt = self.next_non_space();
        let name = match &nt.tok {
            Tok::Str(s) => unquote(s).map_err(|m| ParseFailure { pos: nt.pos, msg: m })?,
            other => return self.fail(nt.pos, format!("unexpected {} in {context} clause", describe(other))),
        };
        let after = self.peek_non_space();
        if matches!(after.tok, Tok::RightDelim) {
            self.next_non_space();
            if context == "block" {
                return self.fail(after.pos, "missing value for block clause");
            }
            return Ok((nt.pos, name, None));
        }
        let pipe = self.pipeline(&format!("{context} clause"), false)?;
        Ok((nt.pos, name, Some(pipe)))
    }

    /// `if`/`with`/`range`: pipeline, list, optional else (possibly `else if`/`else with`).
    fn branch(&mut self, kind: &str, pos: Pos) -> PResult<Branch> {
        let scope = self.vars.len();
        let res = self.branch_inner(kind, pos);
        self.vars.truncate(scope);
        res
    }

    fn branch_inner(&mut self, kind: &str, pos: Pos) -> PResult<Branch> {
        let pipe = self.pipeline(kind, kind == "range")?;
        let in_scope = self.vars.len();
        let (list, end) = self.list(false)?;
        self.vars.truncate(in_scope);
        let mut else_list = None;
        match end {
            Some(EndTok { tok: Tok::Keyword(Kw::End), .. }) => self.expect_right("end")?,
            Some(EndTok { tok: Tok::Keyword(Kw::Else), pos: else_pos }) => {
                let nt = self.peek_non_space();
                match nt.tok {
                    Tok::Keyword(k @ (Kw::If | Kw::With)) if kind != "range" || k == Kw::If => {
                        // `{{else if …}}`: a nested branch that shares our {{end}}.
                        self.next_non_space();
                        let nested = self.branch(k.name(), nt.pos)?;
                        let nested = Box::new(nested);
                        let node = if k == Kw::If { Node::If(nested) } else { Node::With(nested) };
                        else_list = Some(Box::new([node]) as Box<[Node]>);
                    }
                    _ => {
                        self.expect_right("else")?;
                        let (l, end2) = self.list(false)?;
                        match end2 {
                            Some(EndTok { tok: Tok::Keyword(Kw::End), .. }) => self.expect_right("end")?,
                            Some(e) => return self.fail(e.pos, "expected end; found {{else}}"),
                            None => return self.fail(else_pos, "unexpected EOF"),
                        }
                        else_list = Some(l);
                    }
                }
            }
            _ => return self.fail(pos, "unexpected EOF"),
        }
        Ok(Branch { pos, pipe, list, else_list })
    }

    /// A pipeline up to `}}` (or `)` when `context` is "parenthesized pipeline").
    fn pipeline(&mut self, context: &str, allow_two_vars: bool) -> PResult<Pipe> {
        let start = self.peek_non_space().pos;
        let mut decl = Vec::new();
        let mut is_assign = false;
        // Declarations: `$x :=`, `$x =`, `$i, $e :=`.
        let save = self.i;
        let t = self.next_non_space();
        if let Tok::Variable(v) = &t.tok {
            let n = self.next_non_space();
            match n.tok {
                Tok::Declare | Tok::Assign => {
                    is_assign = matches!(n.tok, Tok::Assign);
                    decl.push(v.to_string());
                }
                Tok::Comma if allow_two_vars => {
                    let v2 = self.next_non_space();
                    let Tok::Variable(v2name) = v2.tok else {
                        return self.fail(v2.pos, "range can only initialize variables");
                    };
                    let d = self.next_non_space();
                    if !matches!(d.tok, Tok::Declare | Tok::Assign) {
                        return self.fail(d.pos, format!("unexpected {} in range", describe(&d.tok)));
                    }
                    is_assign = matches!(d.tok, Tok::Assign);
                    decl.push(v.to_string());
                    decl.push(v2name.to_string());
                }
                _ => self.i = save,
            }
        } else {
            self.i = save;
        }
        if is_assign {
            for v in &decl {
                if !self.vars.contains(v) {
                    return self.fail(t.pos, format!("undefined variable {v:?}"));
                }
            }
        }
        let in_parens = context == "parenthesized pipeline";
        let base = self.cmds.len();
        loop {
            let t = self.peek_non_space();
            if is_end(&t.tok, in_parens) {
                self.next_non_space();
                break;
            }
            match t.tok {
                Tok::Eof | Tok::RightDelim | Tok::RParen => {
                    return self.fail(t.pos, format!("unexpected {} in {context}", describe(&t.tok)));
                }
                _ => {}
            }
            let cmd = self.command(in_parens)?;
            self.cmds.push(cmd);
        }
        let cmds: Box<[Command]> = self.cmds.drain(base..).collect();
        if cmds.is_empty() {
            return self.fail(start, format!("missing value for {context}"));
        }
        for (i, c) in cmds.iter().enumerate().skip(1) {
            if let Some(Expr::Bool(..) | Expr::Dot(_) | Expr::Nil(_) | Expr::Number(..) | Expr::String(..)) =
                c.args.first()
            {
                return self.fail(c.pos, format!("non executable command in pipeline stage {}", i + 1));
            }
        }
        if !is_assign {
            for v in &decl {
                self.vars.push(v.clone());
            }
        }
        Ok(Pipe { pos: start, decl: decl.into(), is_assign, cmds })
    }

    fn command(&mut self, in_parens: bool) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let base = self.args.len();
        loop {
            let t = self.peek_non_space();
            if is_end(&t.tok, in_parens) {
                break;
            }
            if matches!(t.tok, Tok::Pipe) {
                self.next_non_space();
                if self.args.len() == base {
                    return self.fail(t.pos, "missing value for command");
                }
                return Ok(Command { pos, args: self.args.drain(base..).collect() });
            }
            // Operands must be separated by space.
            if self.args.len() > base && !matches!(self.peek().tok, Tok::Space) {
                return self.fail(t.pos, format!("unexpected {} in operand", describe(&t.tok)));
            }
            self.skip_space();
            let op = self.operand()?;
            self.args.push(op);
        }
        if self.args.len() == base {
            return self.fail(pos, "empty command");
        }
        Ok(Command { pos, args: self.args.drain(base..).collect() })
    }

    fn skip_space(&mut self) {
        while matches!(self.peek().tok, Tok::Space) {
            self.next();
        }
    }

    /// A term and the fields chained to it. As in Go, a chained node is positioned at
    /// its first trailing field (`.Values.a.b` is reported at `.a`).
    fn operand(&mut self) -> PResult<Expr> {
        let term = self.term()?;
        let chain_pos = self.peek().pos;
        let mut joined = String::new();
        while let Tok::Field(f) = self.peek().tok {
            if !joined.is_empty() {
                joined.push('.');
            }
            joined.push_str(f);
            self.next();
        }
        if joined.is_empty() {
            return Ok(term);
        }
        let fields = Fields::new(joined);
        Ok(match term {
            Expr::Field(_, names) => Expr::Field(chain_pos, names.then(&fields)),
            Expr::Variable(_, name, names) => Expr::Variable(chain_pos, name, names.then(&fields)),
            Expr::Bool(p, _) | Expr::String(p, ..) | Expr::Number(p, _) | Expr::Nil(p) | Expr::Dot(p) => {
                return self.fail(p, format!("unexpected . after term {:?}", term.to_string()));
            }
            other => Expr::Chain(chain_pos, Box::new(other), fields),
        })
    }

    fn term(&mut self) -> PResult<Expr> {
        let t = self.next();
        let p = t.pos;
        Ok(match t.tok {
            Tok::Ident(name) => {
                if !(self.has_func)(name) {
                    return self.fail(p, format!("function {name:?} not defined"));
                }
                Expr::Identifier(p, name.to_string())
            }
            Tok::Dot => Expr::Dot(p),
            Tok::Nil => Expr::Nil(p),
            Tok::Variable(v) => {
                if !self.vars.iter().any(|x| x == v) {
                    return self.fail(p, format!("undefined variable {v:?}"));
                }
                Expr::Variable(p, v.to_string(), Fields::default())
            }
            Tok::Field(f) => Expr::Field(p, Fields::new(f)),
            Tok::Bool(b) => Expr::Bool(p, b),
            Tok::Char(s) => {
                let n = parse_char(s).map_err(|m| ParseFailure { pos: p, msg: m })?;
                Expr::Number(p, Box::new(n))
            }
            Tok::Number(s) => {
                let n = parse_number(s).map_err(|m| ParseFailure { pos: p, msg: m })?;
                Expr::Number(p, Box::new(n))
            }
            Tok::Str(s) => {
                let v = unquote(s).map_err(|m| ParseFailure { pos: p, msg: m })?;
                let plain = s.starts_with('"') && !s.contains('\\');
                Expr::String(p, v.into(), (!plain).then(|| s.into()))
            }
            Tok::LParen => {
                let pipe = self.pipeline("parenthesized pipeline", false)?;
                Expr::Pipe(p, Box::new(pipe))
            }
            other => return self.fail(p, format!("unexpected {} in operand", describe(&other))),
        })
    }
}

/// Whether a token ends a pipeline: `)` inside parentheses, `}}` elsewhere.
fn is_end(t: &Tok<'_>, in_parens: bool) -> bool {
    if in_parens {
        matches!(t, Tok::RParen)
    } else {
        matches!(t, Tok::RightDelim)
    }
}

fn parse_char(s: &str) -> Result<Number, String> {
    let decoded = unquote_with(&s[1..s.len() - 1], '\'')?;
    let mut chars = decoded.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(Number {
            text: s.to_string(),
            int: Some(c as i64),
            float: Some(c as u32 as f64),
            is_char: true,
        }),
        _ => Err(format!("malformed character constant: {s}")),
    }
}

/// Go's number literal rules: ints (with 0x/0o/0b/0 prefixes and `_`), floats, and
/// floats that are whole numbers counting as ints too.
pub fn parse_number(text: &str) -> Result<Number, String> {
    if text.ends_with('i') {
        return Err(format!("complex numbers are not supported: {text:?}"));
    }
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean).to_string()),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        if h.contains('p') || h.contains('.') { None } else { u64::from_str_radix(h, 16).ok() }
    } else if let Some(o) = lower.strip_prefix("0o") {
        u64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        u64::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit()) {
        u64::from_str_radix(&lower[1..], 8).ok()
    } else if lower.bytes().all(|b| b.is_ascii_digit()) {
        lower.parse::<u64>().ok()
    } else {
        None
    };
    let is_hex_int = lower.starts_with("0x") && !lower.contains('p');
    if let Some(u) = int {
        let i = if neg { 0i64.checked_sub_unsigned(u) } else { i64::try_from(u).ok() };
        return match i {
            Some(i) => Ok(Number { text: text.to_string(), int: Some(i), float: Some(i as f64), is_char: is_hex_int }),
            None => {
                let f = if neg { -(u as f64) } else { u as f64 };
                Ok(Number { text: text.to_string(), int: None, float: Some(f), is_char: false })
            }
        };
    }
    let f = if lower.starts_with("0x") {
        None
    } else {
        let s = if neg { format!("-{body}") } else { body.clone() };
        s.parse::<f64>().ok()
    };
    match f {
        Some(f) => {
            if !lower.contains(['.', 'e', 'p']) {
                return Err(format!("integer overflow: {text:?}"));
            }
            let int = if f.fract() == 0.0 && f.abs() < 9.2e18 { Some(f as i64) } else { None };
            Ok(Number { text: text.to_string(), int, float: Some(f), is_char: false })
        }
        None => Err(format!("illegal number syntax: {text:?}")),
    }
}

/// Go's `strconv.Unquote` for `"…"` and raw strings.
pub fn unquote(s: &str) -> Result<String, String> {
    if s.len() >= 2 && s.starts_with('`') && s.ends_with('`') {
        return Ok(s[1..s.len() - 1].replace('\r', ""));
    }
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        return unquote_with(&s[1..s.len() - 1], '"');
    }
    Err(format!("invalid syntax: {s}"))
}

fn unquote_with(body: &str, quote: char) -> Result<String, String> {
    if !body.contains(['\\', quote]) {
        return Ok(body.to_string());
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    let bad = || "invalid syntax".to_string();
    while let Some(c) = chars.next() {
        if c != '\\' {
            if c == quote {
                return Err(bad());
            }
            out.push(c);
            continue;
        }
        let e = chars.next().ok_or_else(bad)?;
        match e {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '\'' | '"' => {
                if e != quote {
                    return Err(bad());
                }
                out.push(e)
            }
            'x' | 'u' | 'U' => {
                let n = match e { 'x' => 2, 'u' => 4, _ => 8 };
                let hex: String = (0..n).filter_map(|_| chars.next()).collect();
                if hex.len() != n {
                    return Err(bad());
                }
                let v = u32::from_str_radix(&hex, 16).map_err(|_| bad())?;
                if e == 'x' {
                    // A byte; only ASCII keeps the string valid UTF-8.
                    out.push(char::from_u32(v).ok_or_else(bad)?);
                } else {
                    out.push(char::from_u32(v).ok_or_else(bad)?);
                }
            }
            '0'..='7' => {
                let mut oct = String::from(e);
                for _ in 0..2 {
                    oct.push(chars.next().ok_or_else(bad)?);
                }
                let v = u32::from_str_radix(&oct, 8).map_err(|_| bad())?;
                if v > 255 {
                    return Err(bad());
                }
                out.push(char::from_u32(v).ok_or_else(bad)?);
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_token_list_keeps_its_memory() {
        let src = String::from("{{ .a }}");
        let mut tokens = Lexer::new(&src, "{{", "}}", Vec::new()).run().expect("lexes");
        tokens.reserve(1000);
        let (at, capacity) = (tokens.as_ptr() as usize, tokens.capacity());
        let other = String::from("text");
        let again: Vec<Token<'_>> = recycle(tokens);
        assert!(again.is_empty());
        assert_eq!((again.as_ptr() as usize, again.capacity()), (at, capacity));
        let parsed = Lexer::new(&other, "{{", "}}", again).run().expect("lexes");
        assert_eq!(parsed.as_ptr() as usize, at);
    }

    #[test]
    fn parses_on_one_thread_reuse_the_token_list() {
        let has = |_: &str| true;
        let big = "{{ .a }} text ".repeat(500);
        parse("big", &big, ("{{", "}}"), &has).expect("parses");
        let spare = SPARE_TOKENS.take();
        assert!(spare.capacity() >= big.len() / 8, "the big parse left its list");
        SPARE_TOKENS.set(spare);
        let trees = parse("small", "{{ .b }}", ("{{", "}}"), &has).expect("parses");
        assert_eq!(trees[0].root.len(), 1);
        assert!(SPARE_TOKENS.take().capacity() >= big.len() / 8, "the small parse reused it");
    }
}
