//! Function libraries: Go's builtins, Sprig as Helm ships it, and Helm's own.

use std::sync::Arc;

use crate::exec::Ctx;
use crate::names::NameMap;
use crate::value::Value;

mod builtin;
mod conv;
mod crypto;
pub mod dates;
mod dicts;
mod encoding;
mod helm;
mod lists;
mod math;
mod misc;
mod regex;
pub mod semver;
mod strings;
pub mod yaml;
pub mod yaml_block;

pub use conv::{to_float, to_int, to_string};

/// What a function returns; the error becomes `error calling NAME: …`.
pub type FuncResult = Result<Value, String>;
/// A template function.
pub type FuncFn = Arc<dyn Fn(&Ctx, Vec<Value>) -> FuncResult + Send + Sync>;

/// Go parameter types a function declares; the executor converts and checks
/// arguments as Go's reflection-based call does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// `interface{}`
    Any,
    Str,
    Int,
    Float,
    Bool,
    /// `[]interface{}`
    List,
    /// `map[string]interface{}`
    Map,
}

impl Kind {
    pub fn go_name(self) -> &'static str {
        match self {
            Kind::Any => "interface {}",
            Kind::Str => "string",
            Kind::Int => "int",
            Kind::Float => "float64",
            Kind::Bool => "bool",
            Kind::List => "[]interface {}",
            Kind::Map => "map[string]interface {}",
        }
    }
    pub fn short_name(self) -> &'static str {
        match self {
            Kind::Int => "integer",
            Kind::Float => "float",
            k => k.go_name(),
        }
    }
    pub fn zero(self) -> Value {
        match self {
            Kind::List => Value::list(Vec::new()),
            Kind::Map => Value::empty_map(),
            _ => Value::Nil,
        }
    }
}

/// A function with its Go signature.
pub struct FuncDef {
    pub params: Vec<Kind>,
    pub variadic: Option<Kind>,
    pub f: FuncFn,
}

/// A function map (Go's `template.FuncMap`).
#[derive(Clone, Default)]
pub struct Funcs(NameMap<Arc<FuncDef>>);

impl Funcs {
    pub fn get(&self, name: &str) -> Option<&Arc<FuncDef>> {
        self.0.get(name)
    }
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
    /// Adds (or replaces) a function with fixed parameters and an optional variadic tail.
    pub fn add(
        &mut self,
        name: &str,
        params: &[Kind],
        variadic: Option<Kind>,
        f: impl Fn(&Ctx, Vec<Value>) -> FuncResult + Send + Sync + 'static,
    ) {
        self.0.insert(
            name.to_string(),
            Arc::new(FuncDef { params: params.to_vec(), variadic, f: Arc::new(f) }),
        );
    }
    /// A function that does not need the execution context.
    pub fn pure(
        &mut self,
        name: &str,
        params: &[Kind],
        variadic: Option<Kind>,
        f: impl Fn(Vec<Value>) -> FuncResult + Send + Sync + 'static,
    ) {
        self.add(name, params, variadic, move |_, a| f(a));
    }
    /// Registers `mustX` as `X` and `X` as a version that turns errors into a zero value.
    pub fn must_pair(
        &mut self,
        name: &str,
        params: &[Kind],
        variadic: Option<Kind>,
        zero: Value,
        f: impl Fn(Vec<Value>) -> FuncResult + Send + Sync + 'static,
    ) {
        let f = Arc::new(f);
        let g = f.clone();
        let must = format!("must{}{}", name[..1].to_uppercase(), &name[1..]);
        self.pure(&must, params, variadic, move |a| g(a));
        self.pure(name, params, variadic, move |a| Ok(f(a).unwrap_or_else(|_| zero.clone())));
    }

    /// Go's text/template builtins only.
    pub fn go_builtins() -> Funcs {
        let mut f = Funcs::default();
        builtin::register(&mut f);
        f
    }

    /// Builtins, Sprig (as Helm ships it) and Helm's functions.
    pub fn helm() -> Funcs {
        let mut f = Funcs::go_builtins();
        strings::register(&mut f);
        lists::register(&mut f);
        dicts::register(&mut f);
        math::register(&mut f);
        conv::register(&mut f);
        encoding::register(&mut f);
        regex::register(&mut f);
        misc::register(&mut f);
        semver::register(&mut f);
        dates::register(&mut f);
        crypto::register(&mut f);
        helm::register(&mut f);
        f
    }
}

/// Helper: the string in a value that must be one (checked by the executor).
pub(crate) fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// Helper: the int in a value that must be one.
pub(crate) fn i(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        _ => 0,
    }
}
