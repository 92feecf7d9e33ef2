//! Executes parsed trees against data, following Go's text/template semantics.

use std::sync::Arc;

use crate::ast::{Branch, Command, Expr, Fields, Node, Number, Pipe, Pos, Tree};
use crate::error::Error;
use crate::format;
use crate::funcs::{FuncDef, Kind};
use crate::value::Value;
use crate::{MissingKey, Template};

/// Nested template calls (`template`, `include`, `tpl`) allowed before giving up.
pub const MAX_DEPTH: usize = 100;

/// What a function sees of the running execution: the template set (for `include`
/// and `tpl`) and the call depth.
pub struct Ctx<'a> {
    pub set: &'a Template,
    pub depth: usize,
}

impl Ctx<'_> {
    /// Runs the named template of the set with `data` at one level deeper.
    pub fn execute(&self, name: &str, data: &Value) -> Result<String, Error> {
        execute_in(self.set, name, data, self.depth + 1)
    }
}

/// Runs template `name` of `set`.
pub fn execute_in(set: &Template, name: &str, data: &Value, depth: usize) -> Result<String, Error> {
    let tree = set.tree(name).ok_or_else(|| Error::NoTemplate {
        name: name.to_string(),
        set: set.name().to_string(),
    })?;
    if depth > MAX_DEPTH {
        return Err(Error::ExecNoNode {
            template: name.to_string(),
            msg: format!("exceeded maximum template depth ({MAX_DEPTH})"),
        });
    }
    let mut out = String::new();
    let mut st = State { set, tree: &tree, vars: vec![("$".into(), data.clone())], at: At::None, depth };
    st.walk_list(data, &tree.root, &mut out)?;
    Ok(out)
}

#[derive(Clone, Copy)]
enum At<'t> {
    None,
    Expr(&'t Expr),
    Cmd(&'t Command),
    Pipe(&'t Pipe),
    Template(Pos, &'t str, Option<&'t Pipe>),
}

enum Flow {
    Normal,
    Break,
    Continue,
}

struct State<'s, 't> {
    set: &'s Template,
    tree: &'t Tree,
    vars: Vec<(String, Value)>,
    at: At<'t>,
    depth: usize,
}

type R<T> = Result<T, Error>;

impl<'s, 't> State<'s, 't> {
    fn errorf(&self, msg: impl Into<String>) -> Error {
        let msg = msg.into();
        let (pos, context) = match self.at {
            At::None => {
                return Error::ExecNoNode { template: self.tree.name.clone(), msg };
            }
            At::Expr(e) => (e.pos(), e.to_string()),
            At::Cmd(c) => (c.pos, c.to_string()),
            At::Pipe(p) => (p.pos, p.to_string()),
            At::Template(pos, name, pipe) => (
                pos,
                match pipe {
                    Some(p) => format!("{{{{template {name:?} {p}}}}}"),
                    None => format!("{{{{template {name:?}}}}}"),
                },
            ),
        };
        Error::Exec { location: self.tree.location(pos), template: self.tree.name.clone(), context, msg }
    }

    fn walk_list(&mut self, dot: &Value, list: &'t [Node], out: &mut String) -> R<Flow> {
        for n in list {
            match self.walk(dot, n, out)? {
                Flow::Normal => {}
                f => return Ok(f),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, node: &'t Node, out: &mut String) -> R<Flow> {
        match node {
            Node::Text(range) => out.push_str(&self.tree.source[range.clone()]),
            Node::Action(pipe) => {
                let v = self.eval_pipe(dot, pipe)?;
                if pipe.decl.is_empty() {
                    format::print_value(&v, out);
                }
            }
            Node::If(b) | Node::With(b) => {
                let is_with = matches!(node, Node::With(_));
                let mark = self.vars.len();
                let v = self.eval_pipe(dot, &b.pipe)?;
                let flow = if v.truthy() {
                    if is_with {
                        self.walk_list(&v, &b.list, out)?
                    } else {
                        self.walk_list(dot, &b.list, out)?
                    }
                } else if let Some(e) = &b.else_list {
                    self.walk_list(dot, e, out)?
                } else {
                    Flow::Normal
                };
                self.vars.truncate(mark);
                return Ok(flow);
            }
            Node::Range(b) => return self.walk_range(dot, b, out),
            Node::Template { pos, name, pipe } => {
                self.at = At::Template(*pos, name, pipe.as_deref());
                let Some(tree) = self.set.tree(name) else {
                    return Err(self.errorf(format!("template {name:?} not defined")));
                };
                let new_dot = match pipe {
                    Some(p) => self.eval_pipe(dot, p)?,
                    None => Value::Nil,
                };
                if self.depth + 1 > MAX_DEPTH {
                    return Err(self.errorf(format!("exceeded maximum template depth ({MAX_DEPTH})")));
                }
                let mut st = State {
                    set: self.set,
                    tree: &tree,
                    vars: vec![("$".into(), new_dot.clone())],
                    at: At::None,
                    depth: self.depth + 1,
                };
                st.walk_list(&new_dot, &tree.root, out)?;
            }
            Node::Break(_) => return Ok(Flow::Break),
            Node::Continue(_) => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn walk_range(&mut self, dot: &Value, b: &'t Branch, out: &mut String) -> R<Flow> {
        let mark = self.vars.len();
        self.at = At::Pipe(&b.pipe);
        let val = self.eval_cmds(dot, &b.pipe)?;
        let decl = &b.pipe.decl;
        let mut items: Vec<(Value, Value)> = Vec::new();
        match &val {
            Value::List(l) => {
                items = l.iter().enumerate().map(|(i, e)| (Value::Int(i as i64), e.clone())).collect()
            }
            Value::Map(m) => items = m.entries().into_iter().map(|(k, v)| (Value::from(k), v)).collect(),
            Value::Int(n) => {
                if decl.len() > 1 {
                    return Err(self.errorf(format!("can't use {n} to iterate over more than one variable")));
                }
                items = (0..*n).map(|i| (Value::Int(i), Value::Int(i))).collect();
            }
            Value::Missing | Value::Nil => {}
            v => return Err(self.errorf(format!("range can't iterate over {}", format::to_v(v)))),
        }
        let mut ran = false;
        for (idx, elem) in items {
            ran = true;
            let iter_mark = self.vars.len();
            if b.pipe.is_assign {
                if let Some(v) = decl.first() {
                    self.set_var(v, if decl.len() > 1 { idx.clone() } else { elem.clone() })?;
                }
                if let Some(v) = decl.get(1) {
                    self.set_var(v, elem.clone())?;
                }
            } else if decl.len() == 1 {
                self.vars.push((decl[0].clone(), elem.clone()));
            } else if decl.len() == 2 {
                self.vars.push((decl[0].clone(), idx));
                self.vars.push((decl[1].clone(), elem.clone()));
            }
            let flow = self.walk_list(&elem, &b.list, out)?;
            self.vars.truncate(iter_mark);
            if let Flow::Break = flow {
                break;
            }
        }
        if !ran {
            if let Some(e) = &b.else_list {
                self.walk_list(dot, e, out)?;
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    fn set_var(&mut self, name: &str, v: Value) -> R<()> {
        for (n, slot) in self.vars.iter_mut().rev() {
            if n == name {
                *slot = v;
                return Ok(());
            }
        }
        Err(self.errorf(format!("undefined variable: {name}")))
    }

    fn var(&self, name: &str) -> R<Value> {
        for (n, v) in self.vars.iter().rev() {
            if n == name {
                return Ok(v.clone());
            }
        }
        Err(self.errorf(format!("undefined variable: {name}")))
    }

    /// The commands of a pipeline, without its declarations.
    fn eval_cmds(&mut self, dot: &Value, pipe: &'t Pipe) -> R<Value> {
        let mut val: Option<Value> = None;
        for cmd in &pipe.cmds {
            val = Some(self.eval_command(dot, cmd, val)?);
        }
        Ok(val.unwrap_or(Value::Missing))
    }

    fn eval_pipe(&mut self, dot: &Value, pipe: &'t Pipe) -> R<Value> {
        self.at = At::Pipe(pipe);
        let v = self.eval_cmds(dot, pipe)?;
        for d in &pipe.decl {
            if pipe.is_assign {
                self.set_var(d, v.clone())?;
            } else {
                self.vars.push((d.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn not_a_function(&self, args: &[Expr], fin: &Option<Value>) -> R<()> {
        if args.len() > 1 || fin.is_some() {
            return Err(self.errorf(format!("can't give argument to non-function {}", args[0])));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &'t Command, fin: Option<Value>) -> R<Value> {
        let first = &cmd.args[0];
        self.at = At::Expr(first);
        match first {
            Expr::Field(_, names) => self.eval_field_chain(dot, dot.clone(), first, names, &cmd.args, fin),
            Expr::Chain(_, node, names) => {
                let recv = self.eval_arg_any(dot, node)?;
                self.at = At::Expr(first);
                self.eval_field_chain(dot, recv, first, names, &cmd.args, fin)
            }
            Expr::Identifier(_, name) => self.eval_function(dot, name, cmd, fin),
            Expr::Pipe(_, p) => {
                self.not_a_function(&cmd.args, &fin)?;
                self.eval_pipe_expr(dot, p)
            }
            Expr::Variable(_, name, fields) => {
                let v = self.var(name)?;
                if fields.is_empty() {
                    self.not_a_function(&cmd.args, &fin)?;
                    return Ok(v);
                }
                self.eval_field_chain(dot, v, first, fields, &cmd.args, fin)
            }
            Expr::Nil(_) => Err(self.errorf("nil is not a command")),
            Expr::Bool(_, b) => {
                self.not_a_function(&cmd.args, &fin)?;
                Ok(Value::Bool(*b))
            }
            Expr::Dot(_) => {
                self.not_a_function(&cmd.args, &fin)?;
                Ok(dot.clone())
            }
            Expr::Number(_, n) => {
                self.not_a_function(&cmd.args, &fin)?;
                Ok(ideal_constant(n))
            }
            Expr::String(_, s, _) => {
                self.not_a_function(&cmd.args, &fin)?;
                Ok(Value::String(s.clone()))
            }
        }
    }

    fn eval_pipe_expr(&mut self, dot: &Value, p: &'t Pipe) -> R<Value> {
        let mark = self.vars.len();
        let v = self.eval_pipe(dot, p);
        // Declarations inside parentheses stay visible, as in Go; only pop on error paths.
        if v.is_err() {
            self.vars.truncate(mark);
        }
        v
    }

    fn eval_field_chain(
        &mut self,
        dot: &Value,
        mut recv: Value,
        node: &'t Expr,
        names: &Fields,
        args: &'t [Expr],
        fin: Option<Value>,
    ) -> R<Value> {
        let mut names = names.iter().peekable();
        while let Some(name) = names.next() {
            self.at = At::Expr(node);
            if names.peek().is_some() {
                recv = self.eval_field(dot, recv, name, &[], None, node)?;
            } else {
                return self.eval_field(dot, recv, name, &args[1..], fin, node);
            }
        }
        Ok(recv)
    }

    fn eval_field(
        &mut self,
        dot: &Value,
        recv: Value,
        name: &str,
        args: &'t [Expr],
        fin: Option<Value>,
        node: &'t Expr,
    ) -> R<Value> {
        let has_args = !args.is_empty() || fin.is_some();
        match recv {
            Value::Missing => {
                if self.set.missing_key == MissingKey::Error {
                    return Err(self.errorf(format!("nil data; no entry for key {name:?}")));
                }
                Ok(Value::Missing)
            }
            Value::Nil => Err(self.errorf(format!("nil pointer evaluating interface {{}}.{name}"))),
            Value::Map(m) => match m.get(name) {
                Some(v) => {
                    if has_args {
                        return Err(self.errorf(format!("{name} is not a method but has arguments")));
                    }
                    Ok(v)
                }
                None => match self.set.missing_key {
                    MissingKey::Default => Ok(Value::Missing),
                    MissingKey::Zero => Ok(Value::Nil),
                    MissingKey::Error => Err(self.errorf(format!("map has no entry for key {name:?}"))),
                },
            },
            Value::Object(o) => {
                let mut vals = Vec::with_capacity(args.len() + 1);
                for a in args {
                    vals.push(self.eval_arg_any(dot, a)?.or_nil());
                }
                if let Some(f) = fin {
                    vals.push(f.or_nil());
                }
                self.at = At::Expr(node);
                match o.call(name, &vals) {
                    Some(Ok(v)) => Ok(v),
                    Some(Err(e)) => Err(self.errorf(format!("error calling {name}: {e}"))),
                    None => Err(self.errorf(format!("can't evaluate field {name} in type {}", o.type_name()))),
                }
            }
            other => Err(self.errorf(format!("can't evaluate field {name} in type {}", other.type_name()))),
        }
    }

    /// An argument for an interface{} parameter.
    fn eval_arg_any(&mut self, dot: &Value, e: &'t Expr) -> R<Value> {
        self.at = At::Expr(e);
        match e {
            Expr::Dot(_) => Ok(dot.clone()),
            Expr::Nil(_) => Ok(Value::Nil),
            Expr::Bool(_, b) => Ok(Value::Bool(*b)),
            Expr::Number(_, n) => Ok(ideal_constant(n)),
            Expr::String(_, s, _) => Ok(Value::String(s.clone())),
            Expr::Field(_, names) => self.eval_field_chain(dot, dot.clone(), e, names, std::slice::from_ref(e), None),
            Expr::Variable(_, name, fields) => {
                let v = self.var(name)?;
                if fields.is_empty() {
                    return Ok(v);
                }
                self.eval_field_chain(dot, v, e, fields, std::slice::from_ref(e), None)
            }
            Expr::Pipe(_, p) => self.eval_pipe_expr(dot, p),
            Expr::Identifier(_, name) => {
                // A function used as an argument is called with no arguments.
                let cmd_args = std::slice::from_ref(e);
                self.call_function(dot, name, cmd_args, None, None)
            }
            Expr::Chain(_, node, names) => {
                let recv = self.eval_arg_any(dot, node)?;
                self.eval_field_chain(dot, recv, e, names, std::slice::from_ref(e), None)
            }
        }
    }

    /// An argument checked against a parameter kind, with Go's conversion errors.
    fn eval_arg(&mut self, dot: &Value, kind: Kind, e: &'t Expr) -> R<Value> {
        self.at = At::Expr(e);
        match (kind, e) {
            (Kind::Any, _) => return Ok(self.eval_arg_any(dot, e)?.or_nil()),
            (Kind::Int, Expr::Number(_, n)) => {
                return match (n.int, n.is_char || n.float.is_none_or(|f| f.fract() == 0.0)) {
                    (Some(i), true) => Ok(Value::Int(i)),
                    _ => Err(self.errorf(format!("expected integer; found {}", n.text))),
                }
            }
            (Kind::Float, Expr::Number(_, n)) => {
                return match n.float {
                    Some(f) if !n.is_char => Ok(Value::Float(f)),
                    _ => Err(self.errorf(format!("expected float; found {}", n.text))),
                }
            }
            (Kind::List | Kind::Map, Expr::Nil(_)) => return Ok(kind.zero()),
            (_, Expr::Nil(_)) => return Err(self.errorf(format!("cannot assign nil to {}", kind.go_name()))),
            (Kind::Int | Kind::Float | Kind::Bool | Kind::List | Kind::Map, Expr::String(..)) => {
                return Err(self.errorf(format!("expected {}; found {e}", kind.short_name())))
            }
            (Kind::Str | Kind::Bool | Kind::List | Kind::Map, Expr::Number(..)) => {
                return Err(self.errorf(format!("expected {}; found {e}", kind.short_name())))
            }
            _ => {}
        }
        let v = self.eval_arg_any(dot, e)?;
        self.at = At::Expr(e);
        self.validate(kind, v)
    }

    fn validate(&self, kind: Kind, v: Value) -> R<Value> {
        if v.is_nil() {
            return match kind {
                Kind::Any => Ok(Value::Nil),
                Kind::List | Kind::Map => Ok(kind.zero()),
                _ => Err(self.errorf(format!("invalid value; expected {}", kind.go_name()))),
            };
        }
        let ok = match kind {
            Kind::Any => true,
            Kind::Str => matches!(v, Value::String(_)),
            Kind::Int => matches!(v, Value::Int(_)),
            Kind::Float => matches!(v, Value::Float(_)),
            Kind::Bool => matches!(v, Value::Bool(_)),
            Kind::List => matches!(v, Value::List(_)),
            Kind::Map => matches!(v, Value::Map(_)),
        };
        if !ok {
            return Err(self.errorf(format!(
                "wrong type for value; expected {}; got {}",
                kind.go_name(),
                v.type_name()
            )));
        }
        Ok(v)
    }

    fn eval_function(&mut self, dot: &Value, name: &str, cmd: &'t Command, fin: Option<Value>) -> R<Value> {
        self.call_function(dot, name, &cmd.args, fin, Some(cmd))
    }

    fn call_function(
        &mut self,
        dot: &Value,
        name: &str,
        args: &'t [Expr],
        fin: Option<Value>,
        cmd: Option<&'t Command>,
    ) -> R<Value> {
        let ident = &args[0];
        self.at = At::Expr(ident);
        let rest = &args[1..];
        // `and`/`or` evaluate lazily.
        if name == "and" || name == "or" {
            if rest.is_empty() && fin.is_none() {
                return Err(self.errorf(format!("wrong number of args for {name}: want at least 1 got 0")));
            }
            let want = name == "or";
            let mut last = Value::Nil;
            for a in rest {
                last = self.eval_arg_any(dot, a)?.or_nil();
                if last.truthy() == want {
                    return Ok(last);
                }
            }
            if let Some(f) = fin {
                last = f.or_nil();
            }
            return Ok(last);
        }
        let Some(def) = self.set.funcs.get(name) else {
            return Err(self.errorf(format!("{name:?} is not a defined function")));
        };
        let def: Arc<FuncDef> = def.clone();
        let nargs = rest.len() + usize::from(fin.is_some());
        let fixed = def.params.len();
        match def.variadic {
            Some(_) if nargs < fixed => {
                return Err(self.errorf(format!(
                    "wrong number of args for {name}: want at least {fixed} got {nargs}"
                )))
            }
            None if nargs != fixed => {
                return Err(self.errorf(format!("wrong number of args for {name}: want {fixed} got {nargs}")))
            }
            _ => {}
        }
        let kind_at = |i: usize| -> Kind {
            if i < fixed {
                def.params[i]
            } else {
                def.variadic.unwrap_or(Kind::Any)
            }
        };
        let mut vals = Vec::with_capacity(nargs);
        for (i, a) in rest.iter().enumerate() {
            vals.push(self.eval_arg(dot, kind_at(i), a)?);
        }
        if let Some(f) = fin {
            let k = kind_at(rest.len());
            vals.push(self.validate(k, f)?);
        }
        match cmd {
            Some(c) => self.at = At::Cmd(c),
            None => self.at = At::Expr(ident),
        }
        let ctx = Ctx { set: self.set, depth: self.depth };
        (def.f)(&ctx, vals).map_err(|e| self.errorf(format!("error calling {name}: {e}")))
    }
}

/// A numeric literal used where any type is accepted (Go's `idealConstant`).
fn ideal_constant(n: &Number) -> Value {
    let looks_float = n.text.contains(['.', 'e', 'E', 'p', 'P']) && !n.text.to_ascii_lowercase().starts_with("0x");
    match (n.int, n.float) {
        (Some(i), _) if n.is_char => Value::Int(i),
        (_, Some(f)) if looks_float => Value::Float(f),
        (Some(i), _) => Value::Int(i),
        (None, Some(f)) => Value::Float(f),
        (None, None) => Value::Nil,
    }
}
