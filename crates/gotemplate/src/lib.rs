//! Go's text/template language, with the Sprig function library as Helm ships it
//! and Helm's own template functions (`include`, `tpl`, `required`, `toYaml`, …).
//!
//! This room owns the template language only: lexing ([`lexer`]), parsing to trees
//! ([`parser`], [`ast`]), execution over dynamic [`Value`]s ([`exec`]), Go's value
//! formatting ([`format`]) and the function libraries ([`funcs`]). It does no I/O and
//! calls no other Tugboat crate; the `chart` crate builds charts on it.
//!
//! A [`Template`] is a set of named templates sharing one function map, as Helm's
//! engine uses one: every parsed source adds its top-level template and its
//! `define`s, and any template can call any other.
//!
//! ```
//! use tug_gotemplate::{Template, Value};
//! let mut t = Template::new("chart");
//! t.parse("a.yaml", r#"{{ define "x" }}hi {{ . }}{{ end }}{{ include "x" .name | upper }}"#).unwrap();
//! let data = Value::from(&serde_json::json!({"name": "bob"}));
//! assert_eq!(t.execute("a.yaml", &data).unwrap(), "HI BOB");
//! ```

pub mod ast;
pub mod error;
pub mod exec;
pub mod format;
pub mod funcs;
pub mod lexer;
mod names;
pub mod parser;
pub mod value;

use std::sync::Arc;

pub use error::Error;
pub use exec::Ctx;
pub use funcs::{FuncResult, Funcs, Kind};
use names::NameMap;
pub use value::{Fence, Map, Object, Value};

/// The templates of one source, parsed by [`Template::parse_only`] and not yet added.
pub struct Parsed(Vec<ast::Tree>);

/// What a missing map key yields (Go's `missingkey` option).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MissingKey {
    /// Go's default: an invalid value, printed `<no value>`; chaining through it is no error.
    #[default]
    Default,
    /// `missingkey=zero`: nil (Helm's non-strict mode); a field of it is a nil-pointer error.
    Zero,
    /// `missingkey=error`: execution stops (Helm's strict mode).
    Error,
}

/// A set of named templates with one function map and options.
///
/// Cloning is cheap (Helm's `tpl` clones the whole set for every call): a clone
/// shares the trees it was made from and keeps what is parsed into it afterwards
/// apart, in `overlay`, which shadows the shared trees.
#[derive(Clone)]
pub struct Template {
    name: String,
    trees: Arc<NameMap<Arc<ast::Tree>>>,
    overlay: NameMap<Arc<ast::Tree>>,
    pub(crate) funcs: Arc<Funcs>,
    pub(crate) missing_key: MissingKey,
    delims: (String, String),
}

impl Template {
    /// A set with Go's builtins, Sprig and Helm's functions.
    pub fn new(name: &str) -> Template {
        Template::with_funcs(name, Funcs::helm())
    }

    /// A set with only Go's builtin functions.
    pub fn go(name: &str) -> Template {
        Template::with_funcs(name, Funcs::go_builtins())
    }

    pub fn with_funcs(name: &str, funcs: Funcs) -> Template {
        Template {
            name: name.to_string(),
            trees: Arc::default(),
            overlay: NameMap::default(),
            funcs: Arc::new(funcs),
            missing_key: MissingKey::Default,
            delims: ("{{".into(), "}}".into()),
        }
    }

    /// The set's own name (used in "no template … associated with" errors).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn missing_key(mut self, mk: MissingKey) -> Template {
        self.missing_key = mk;
        self
    }

    pub fn set_missing_key(&mut self, mk: MissingKey) {
        self.missing_key = mk;
    }

    /// Action delimiters other than `{{` `}}`.
    pub fn delims(mut self, left: &str, right: &str) -> Template {
        self.delims = (left.to_string(), right.to_string());
        self
    }

    /// Adds or replaces a function.
    pub fn add_func(
        &mut self,
        name: &str,
        params: &[Kind],
        variadic: Option<Kind>,
        f: impl Fn(&Ctx, Vec<Value>) -> FuncResult + Send + Sync + 'static,
    ) {
        Arc::make_mut(&mut self.funcs).add(name, params, variadic, f);
    }

    pub fn funcs(&self) -> &Funcs {
        &self.funcs
    }

    /// Parses `source` as template `name`, adding its `define`s and `block`s to the set.
    /// As in Go, a template that is empty (only space and defines) does not replace
    /// an existing one of the same name.
    pub fn parse(&mut self, name: &str, source: &str) -> Result<(), Error> {
        let parsed = self.parse_only(name, source)?;
        self.add(parsed);
        Ok(())
    }

    /// Parses `source` as [`Template::parse`] does without adding it to the set, so that
    /// several sources can be parsed at once (on several threads) and then added in
    /// their order with [`Template::add`].
    pub fn parse_only(&self, name: &str, source: &str) -> Result<Parsed, Error> {
        let funcs = &self.funcs;
        parser::parse(name, source, (&self.delims.0, &self.delims.1), &|f| funcs.contains(f))
            .map(Parsed)
            .map_err(|e| {
                let line = 1 + source.as_bytes()[..e.pos.min(source.len())].iter().filter(|&&b| b == b'\n').count();
                Error::Parse { name: name.to_string(), line, msg: e.msg }
            })
    }

    /// Adds the templates of one parsed source, as [`Template::parse`] would have.
    pub fn add(&mut self, parsed: Parsed) {
        for t in parsed.0 {
            let empty = is_empty_tree(&t);
            if empty && self.has(&t.name) {
                continue;
            }
            let own = match Arc::get_mut(&mut self.trees) {
                Some(own) if self.overlay.is_empty() => own,
                _ => &mut self.overlay,
            };
            own.insert(t.name.clone(), Arc::new(t));
        }
    }

    /// Whether a template of that name is defined.
    pub fn has(&self, name: &str) -> bool {
        self.overlay.contains_key(name) || self.trees.contains_key(name)
    }

    /// Names of all templates, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.trees.keys().chain(self.overlay.keys()).cloned().collect();
        v.sort();
        v.dedup();
        v
    }

    pub(crate) fn tree(&self, name: &str) -> Option<Arc<ast::Tree>> {
        self.overlay.get(name).or_else(|| self.trees.get(name)).cloned()
    }

    /// Executes template `name` with `data` as dot and `$`.
    pub fn execute(&self, name: &str, data: &Value) -> Result<String, Error> {
        exec::execute_in(self, name, data, 0)
    }
}

fn is_empty_tree(tree: &ast::Tree) -> bool {
    tree.root
        .iter()
        .all(|n| matches!(n, ast::Node::Text(range) if tree.source[range.clone()].trim().is_empty()))
}

/// Parses and runs a one-off template with Go's builtins, Sprig and Helm functions.
pub fn render(source: &str, data: &Value) -> Result<String, Error> {
    let mut t = Template::new("t");
    t.parse("t", source)?;
    t.execute("t", data)
}
