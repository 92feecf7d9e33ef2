//! The parse tree of a template, with byte positions for error messages.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// Byte offset into the template source.
pub type Pos = usize;

/// One named template: its body and where it was parsed from.
#[derive(Debug)]
pub struct Tree {
    /// The template's name (`define "name"` or the file name).
    pub name: String,
    /// The name of the source it was parsed from (file name); errors cite it.
    pub parse_name: String,
    /// The source text, for line and column numbers.
    pub source: Arc<str>,
    pub root: Box<[Node]>,
}

impl Tree {
    /// `parse_name:line:col` of a position, as Go's `ErrorContext` reports it
    /// (the column counts bytes from the start of the line, starting at 0 after a
    /// newline and at the absolute offset on the first line).
    pub fn location(&self, pos: Pos) -> String {
        let pos = pos.min(self.source.len());
        let before = &self.source.as_bytes()[..pos];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let col = match before.iter().rposition(|&b| b == b'\n') {
            Some(nl) => pos - nl - 1,
            None => pos,
        };
        format!("{}:{}:{}", self.parse_name, line, col)
    }
}

#[derive(Debug)]
pub enum Node {
    /// Literal text: a byte range of the tree's source.
    Text(Range<usize>),
    /// `{{pipeline}}`
    Action(Pipe),
    If(Box<Branch>),
    With(Box<Branch>),
    Range(Box<Branch>),
    /// `{{template "name" pipeline}}`
    Template { pos: Pos, name: Box<str>, pipe: Option<Box<Pipe>> },
    Break(Pos),
    Continue(Pos),
}

/// The shared shape of `if`, `with` and `range`.
#[derive(Debug)]
pub struct Branch {
    pub pos: Pos,
    pub pipe: Pipe,
    pub list: Box<[Node]>,
    pub else_list: Option<Box<[Node]>>,
}

/// `$x := a | b c` — declarations and commands.
#[derive(Debug)]
pub struct Pipe {
    pub pos: Pos,
    pub decl: Box<[String]>,
    /// `=` rather than `:=`.
    pub is_assign: bool,
    pub cmds: Box<[Command]>,
}

#[derive(Debug)]
pub struct Command {
    pub pos: Pos,
    pub args: Box<[Expr]>,
}

/// A numeric literal and what Go's parser makes of it.
#[derive(Debug, Clone)]
pub struct Number {
    pub text: String,
    pub int: Option<i64>,
    pub float: Option<f64>,
    /// A character constant `'a'` or a hex/rune integer: never treated as float.
    pub is_char: bool,
}

#[derive(Debug)]
pub enum Expr {
    /// `.` alone
    Dot(Pos),
    Nil(Pos),
    Bool(Pos, bool),
    Number(Pos, Box<Number>),
    /// The decoded string, and its source form unless that is the string in double
    /// quotes.
    String(Pos, Arc<str>, Option<Box<str>>),
    /// `.A.B`
    Field(Pos, Fields),
    /// `$x.A.B` (`$` alone is the root)
    Variable(Pos, String, Fields),
    /// A function name.
    Identifier(Pos, String),
    /// `(pipeline)`
    Pipe(Pos, Box<Pipe>),
    /// `(pipeline).A.B` or `ident.A` etc.
    Chain(Pos, Box<Expr>, Fields),
}

/// The names of a field chain (`.A.B.C`), kept as one string `A.B.C` (a name has no
/// dot), so a chain costs one allocation.
#[derive(Debug, Default)]
pub struct Fields(Box<str>);

impl Fields {
    /// A chain of the names in `joined`, separated by dots.
    pub fn new(joined: impl Into<Box<str>>) -> Fields {
        Fields(joined.into())
    }

    /// The chain followed by `more`.
    pub fn then(self, more: &Fields) -> Fields {
        match (self.0.is_empty(), more.0.is_empty()) {
            (_, true) => self,
            (true, false) => Fields(more.0.clone()),
            (false, false) => Fields(format!("{}.{}", self.0, more.0).into()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The names in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split('.').filter(|n| !n.is_empty())
    }
}

impl fmt::Display for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for n in self.iter() {
            write!(f, ".{n}")?;
        }
        Ok(())
    }
}

impl Expr {
    pub fn pos(&self) -> Pos {
        match self {
            Expr::Dot(p)
            | Expr::Nil(p)
            | Expr::Bool(p, _)
            | Expr::Number(p, _)
            | Expr::String(p, _, _)
            | Expr::Field(p, _)
            | Expr::Variable(p, _, _)
            | Expr::Identifier(p, _)
            | Expr::Pipe(p, _)
            | Expr::Chain(p, _, _) => *p,
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Dot(_) => write!(f, "."),
            Expr::Nil(_) => write!(f, "nil"),
            Expr::Bool(_, b) => write!(f, "{b}"),
            Expr::Number(_, n) => write!(f, "{}", n.text),
            Expr::String(_, s, q) => match q {
                Some(q) => write!(f, "{q}"),
                None => write!(f, "\"{s}\""),
            },
            Expr::Field(_, names) => write!(f, "{names}"),
            Expr::Variable(_, name, fields) => write!(f, "{name}{fields}"),
            Expr::Identifier(_, name) => write!(f, "{name}"),
            Expr::Pipe(_, p) => write!(f, "({p})"),
            Expr::Chain(_, node, fields) => {
                match node.as_ref() {
                    Expr::Pipe(_, p) => write!(f, "({p})")?,
                    other => write!(f, "{other}")?,
                }
                write!(f, "{fields}")
            }
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                write!(f, " ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            write!(f, "{} {} ", self.decl.join(", "), if self.is_assign { "=" } else { ":=" })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                write!(f, " | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}
