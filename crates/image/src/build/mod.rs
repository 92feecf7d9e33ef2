//! Containerfile builds: a Containerfile and a context directory → an image in the
//! store, step by step, each step cached.
//!
//! - [`parser`]: the Containerfile's syntax (directives, continuations, flags, forms);
//! - [`expand`]: variable substitution with Docker's quoting rules;
//! - `pattern` and `ignore`: globs and `.dockerignore`;
//! - `copy`: COPY/ADD sources → a layer directory, and their content hash;
//! - `run`: RUN in a container of `tug-runtime` on an overlay of the image below;
//! - `cache`: step key → image state, so an unchanged rebuild does no work;
//! - `config`: the image config as JSON (Env, Shell, history, HEALTHCHECK);
//! - `layers` and `users`: questions about the image below a step without mounting it;
//! - `workdir`: the build's private directory, and sweeping those of killed builds.
//!
//! Each instruction is one history entry in the image config, written as Docker's
//! classic builder writes it (`/bin/sh -c #(nop)  CMD ["sh"]` for metadata-only steps,
//! with `empty_layer`; `/bin/sh -c <command>` for RUN). Work happens under
//! `<store>/build-tmp/<unique>/`, removed (mounts first) when the build ends, however it
//! ends.

pub mod expand;
pub mod parser;

mod cache;
pub(crate) mod config;
mod copy;
mod ignore;
pub(crate) mod layers;
mod pattern;
mod run;
pub mod users;
mod workdir;

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, Digest};
use serde_json::{json, Value};

use crate::diff::{create_layer, LayerCompression};
use crate::error::{Error, IoContext, Result};
use crate::overlay::{self, Mount};
use crate::reference::Reference;
use crate::store::Store;
use crate::unpack::UnpackOptions;
use cache::State;
use config::{env_of, healthcheck, pairs, push_history, set_env, shell_of};
use copy::{CopyPlan, SourceRoot};
use ignore::Ignore;
use layers::Tree;
use parser::{Command, Instruction, Keyword};
use workdir::WorkDir;

pub use run::{make_workdir, CAPABILITIES};

/// The PATH a RUN step gets when the image sets none (Docker's default).
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What to build.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// The context directory COPY and ADD read from.
    pub context: PathBuf,
    /// The Containerfile; default `CONTEXT/Containerfile`, else `CONTEXT/Dockerfile`.
    pub containerfile: Option<PathBuf>,
    /// Names for the result (none: kept untagged).
    pub tags: Vec<Reference>,
    /// `--build-arg K=V`.
    pub build_args: Vec<(String, String)>,
    /// Stop after this stage (by name or index).
    pub target: Option<String>,
    /// Run every step even when the cache has it.
    pub no_cache: bool,
    /// RUN output goes to /dev/null instead of this process's stdout and stderr.
    pub quiet: bool,
}

/// What the build reports as it goes (RUN output goes straight to the caller's
/// stdout and stderr, which the container inherits).
#[derive(Debug)]
pub enum BuildEvent<'a> {
    /// Step `number` of `count` starts: the instruction as written.
    Step {
        number: usize,
        count: usize,
        text: &'a str,
    },
    /// The step's result came from the cache.
    Cached,
    /// The step made a layer with this (blob) digest.
    Done { digest: &'a Digest },
    /// Something the user should know (an ignored flag, an unused build arg).
    Note(&'a str),
    /// The image got this name.
    Tagged(&'a Reference),
}

/// The built image.
#[derive(Clone, Debug)]
pub struct Built {
    pub descriptor: Descriptor,
    /// The image ID (config digest).
    pub id: Digest,
}

/// Builds the image `options` describes into `store`.
pub fn build(
    store: &Store,
    options: &BuildOptions,
    events: &mut dyn FnMut(&BuildEvent),
) -> Result<Built> {
    let file = match &options.containerfile {
        Some(f) => f.clone(),
        None => ["Containerfile", "Dockerfile"]
            .iter()
            .map(|n| options.context.join(n))
            .find(|p| p.is_file())
            .unwrap_or_else(|| options.context.join("Containerfile")),
    };
    let text = fs::read_to_string(&file).ctx("read Containerfile", &file)?;
    let display = file.display().to_string();
    let instructions = parser::parse(&text).map_err(|e| Error::Containerfile {
        file: display.clone(),
        line: e.line,
        message: e.message,
    })?;
    let ignore_path = options.context.join(".dockerignore");
    let ignore = match fs::read_to_string(&ignore_path) {
        Ok(t) => Ignore::parse(&t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ignore::default(),
        Err(e) => {
            return Err(Error::io(
                format!("failed to read {}", ignore_path.display()),
                e,
            ))
        }
    };
    let _hold = store.hold()?;
    let work = WorkDir::create(store)?;
    let mut builder = Builder {
        store,
        options,
        file: display,
        ignore,
        work: work.path(),
        events,
        stages: Vec::new(),
        used_args: Vec::new(),
        step: 0,
        count: 0,
        runs: 0,
    };
    let state = builder.build(&instructions)?;
    let unused: Vec<&str> = options
        .build_args
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !builder.used_args.iter().any(|u| u == k))
        .collect();
    if !unused.is_empty() {
        let note = format!(
            "one or more build args were not consumed: {}",
            unused.join(", ")
        );
        (builder.events)(&BuildEvent::Note(&note));
    }
    let descriptor = store.write_image_json(&state.config, &state.layers)?;
    let id = store
        .manifest(descriptor.digest())?
        .config()
        .digest()
        .clone();
    if options.tags.is_empty() {
        store.add_untagged(&descriptor)?;
    }
    for tag in &options.tags {
        store.tag(tag, &descriptor)?;
        (builder.events)(&BuildEvent::Tagged(tag));
    }
    Ok(Built { descriptor, id })
}

/// A finished (or in-progress) stage.
struct Stage {
    name: Option<String>,
    state: State,
    key: Digest,
}

struct Builder<'a> {
    store: &'a Store,
    options: &'a BuildOptions,
    file: String,
    ignore: Ignore,
    work: &'a Path,
    events: &'a mut dyn FnMut(&BuildEvent),
    stages: Vec<Stage>,
    used_args: Vec<String>,
    step: usize,
    count: usize,
    runs: usize,
}

/// The stage being built: its state, cache key, declared ARGs, and whether it set CMD.
struct Current {
    state: State,
    key: Digest,
    args: Vec<(String, Option<String>)>,
    cmd_set: bool,
}

impl Builder<'_> {
    fn fail(&self, ins: &Instruction, message: impl std::fmt::Display) -> Error {
        Error::Containerfile {
            file: self.file.clone(),
            line: ins.line,
            message: format!("{}: {message}", ins.keyword),
        }
    }

    fn build(&mut self, instructions: &[Instruction]) -> Result<State> {
        // ARGs before the first FROM are global: usable in FROM lines.
        let first_from = instructions.iter().position(|i| i.keyword == Keyword::From);
        let Some(first_from) = first_from else {
            return Err(Error::Containerfile {
                file: self.file.clone(),
                line: instructions.first().map_or(1, |i| i.line),
                message:
                    "no FROM instruction: a Containerfile starts with FROM (ARG may come first)"
                        .into(),
            });
        };
        let mut global: Vec<(String, Option<String>)> = Vec::new();
        for ins in &instructions[..first_from] {
            if ins.keyword != Keyword::Arg {
                return Err(self.fail(ins, "only ARG may come before the first FROM"));
            }
            self.declare_args(ins, &mut global, &[])?;
        }
        let mut stages: Vec<&[Instruction]> = Vec::new();
        let mut start = first_from;
        for (i, ins) in instructions.iter().enumerate().skip(first_from + 1) {
            if ins.keyword == Keyword::From {
                stages.push(&instructions[start..i]);
                start = i;
            }
        }
        stages.push(&instructions[start..]);
        let last = match &self.options.target {
            None => stages.len() - 1,
            Some(t) => stages
                .iter()
                .position(|s| stage_name(&s[0]).is_some_and(|n| n.eq_ignore_ascii_case(t)))
                .or_else(|| t.parse::<usize>().ok().filter(|i| *i < stages.len()))
                .ok_or_else(|| {
                    Error::Build(format!(
                        "target stage {t:?} could not be found in {}",
                        self.file
                    ))
                })?,
        };
        self.count = stages[..=last].iter().map(|s| s.len()).sum();
        for stage in &stages[..=last] {
            let done = self.stage(stage, &global)?;
            self.stages.push(done);
        }
        Ok(self.stages.pop().map(|s| s.state).unwrap_or_else(|| State {
            config: json!({}),
            layers: Vec::new(),
        }))
    }

    fn announce(&mut self, ins: &Instruction) {
        self.step += 1;
        let text = ins.text();
        (self.events)(&BuildEvent::Step {
            number: self.step,
            count: self.count,
            text: &text,
        });
    }

    fn stage(
        &mut self,
        body: &[Instruction],
        global: &[(String, Option<String>)],
    ) -> Result<Stage> {
        let from = &body[0];
        self.announce(from);
        let lookup = |name: &str| lookup_in(global, &[], name);
        let words =
            expand::words(&from.rest, &lookup, from.escape).map_err(|e| self.fail(from, e))?;
        let (image, name) = match words.as_slice() {
            [image] => (image.clone(), None),
            [image, as_, name] if as_.eq_ignore_ascii_case("as") => {
                (image.clone(), Some(name.to_ascii_lowercase()))
            }
            _ => return Err(self.fail(from, "expected FROM IMAGE [AS NAME]")),
        };
        if from.flag("platform").is_some() {
            (self.events)(&BuildEvent::Note(
                "FROM --platform is ignored: tug builds for this machine's platform",
            ));
        }
        let (state, key) = self.base(from, &image)?;
        let mut cur = Current {
            state,
            key,
            args: Vec::new(),
            cmd_set: false,
        };
        for ins in &body[1..] {
            self.announce(ins);
            self.instruction(ins, &mut cur, global)?;
        }
        Ok(Stage {
            name,
            state: cur.state,
            key: cur.key,
        })
    }

    /// The state FROM starts with: scratch, an earlier stage, or an image.
    fn base(&mut self, from: &Instruction, image: &str) -> Result<(State, Digest)> {
        if image == "scratch" {
            let config = json!({
                "architecture": crate::platform_arch(),
                "os": "linux",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": []},
                "history": [],
            });
            return Ok((
                State {
                    config,
                    layers: Vec::new(),
                },
                crate::digest::of_bytes(b"scratch"),
            ));
        }
        if let Some(stage) = self.find_stage(image) {
            return Ok((stage.state.clone(), stage.key.clone()));
        }
        let found = match self.store.image(image) {
            Ok(found) => found,
            Err(e) if e.is_not_found() => self.pull(from, image)?,
            Err(e) => return Err(e),
        };
        let raw = self.store.read_blob(found.manifest.config().digest())?;
        let config: Value = serde_json::from_slice(&raw)
            .map_err(|e| self.fail(from, format!("config of {image}: {e}")))?;
        let layers = found.layers()?;
        let key = cache::key(found.descriptor.digest(), "FROM");
        Ok((State { config, layers }, key))
    }

    /// Pulls a base image the store does not have (with the default registry options).
    fn pull(&mut self, from: &Instruction, image: &str) -> Result<crate::store::Image> {
        let reference = Reference::parse(image).map_err(|e| self.fail(from, e))?;
        (self.events)(&BuildEvent::Note(&format!(
            "{image} is not in the store: pulling {reference}"
        )));
        crate::registry::pull(self.store, &reference, &crate::registry::Options::default(), &|_| {}).map_err(|e| {
            self.fail(
                from,
                format!("base image {image} is not in the store and pulling it failed ({e}): pull it with tug pull, load it, or build it"),
            )
        })?;
        self.store.image(image)
    }

    fn find_stage(&self, name: &str) -> Option<&Stage> {
        self.stages
            .iter()
            .find(|s| {
                s.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .or_else(|| name.parse::<usize>().ok().and_then(|i| self.stages.get(i)))
    }

    /// Declares the ARGs of `ins` into `args` (values: --build-arg, else the default,
    /// else the global ARG's value).
    fn declare_args(
        &mut self,
        ins: &Instruction,
        args: &mut Vec<(String, Option<String>)>,
        global: &[(String, Option<String>)],
    ) -> Result<()> {
        let snapshot = args.clone();
        let lookup = |n: &str| lookup_in(&snapshot, &[], n);
        let words = expand::words(&ins.rest, &lookup, ins.escape).map_err(|e| self.fail(ins, e))?;
        if words.is_empty() {
            return Err(self.fail(ins, "ARG requires a name"));
        }
        for w in words {
            let (name, default) = match w.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (w.clone(), None),
            };
            let given = self
                .options
                .build_args
                .iter()
                .rev()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone());
            if given.is_some() {
                self.used_args.push(name.clone());
            }
            let inherited = global
                .iter()
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| v.clone());
            let value = given.or(default).or(inherited);
            args.retain(|(k, _)| *k != name);
            args.push((name, value));
        }
        Ok(())
    }

    fn instruction(
        &mut self,
        ins: &Instruction,
        cur: &mut Current,
        global: &[(String, Option<String>)],
    ) -> Result<()> {
        let env = env_of(&cur.state.config);
        let args = cur.args.clone();
        let lookup = move |n: &str| lookup_in(&args, &env, n);
        let word =
            |text: &str| expand::word(text, &lookup, ins.escape).map_err(|e| self.fail(ins, e));
        let words =
            |text: &str| expand::words(text, &lookup, ins.escape).map_err(|e| self.fail(ins, e));
        match ins.keyword {
            // Stages are split at FROM, so a body never holds one.
            Keyword::From => Err(self.fail(ins, "FROM starts a new stage")),
            Keyword::Arg => {
                self.declare_args(ins, &mut cur.args, global)?;
                let text = format!("ARG {}", ins.rest);
                self.meta(cur, &text, |_| Ok(()))
            }
            Keyword::Env | Keyword::Label => {
                let pairs = pairs(&words(&ins.rest)?, ins).map_err(|e| self.fail(ins, e))?;
                let shown: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let text = format!("{} {}", ins.keyword, shown.join(" "));
                let is_env = ins.keyword == Keyword::Env;
                self.meta(cur, &text, |c| {
                    for (k, v) in &pairs {
                        if is_env {
                            set_env(c, k, v);
                        } else {
                            c["config"]["Labels"][k] = json!(v);
                        }
                    }
                    Ok(())
                })
            }
            Keyword::Workdir => {
                let dir = word(&ins.rest)?;
                let base = cur.state.config["config"]["WorkingDir"]
                    .as_str()
                    .unwrap_or("/")
                    .to_string();
                let joined = if dir.starts_with('/') {
                    dir
                } else {
                    format!("{base}/{dir}")
                };
                let dir = format!("/{}", ignore::clean(&joined));
                self.workdir(cur, dir)
            }
            Keyword::User => {
                let user = word(&ins.rest)?;
                self.meta(cur, &format!("USER {user}"), |c| {
                    c["config"]["User"] = json!(user);
                    Ok(())
                })
            }
            Keyword::Cmd | Keyword::Entrypoint => {
                let argv = self.command_args(ins, &cur.state.config);
                let field = if ins.keyword == Keyword::Cmd {
                    "Cmd"
                } else {
                    "Entrypoint"
                };
                let clear_cmd = ins.keyword == Keyword::Entrypoint && !cur.cmd_set;
                if ins.keyword == Keyword::Cmd {
                    cur.cmd_set = true;
                }
                let text = format!("{} {}", ins.keyword, json!(argv));
                self.meta(cur, &text, |c| {
                    c["config"][field] = json!(argv);
                    if clear_cmd {
                        c["config"]["Cmd"] = Value::Null;
                    }
                    Ok(())
                })
            }
            Keyword::Expose => {
                let ports: Vec<String> = words(&ins.rest)?
                    .into_iter()
                    .map(|p| {
                        if p.contains('/') {
                            p.to_ascii_lowercase()
                        } else {
                            format!("{p}/tcp")
                        }
                    })
                    .collect();
                if let Some(bad) = ports.iter().find(|p| {
                    p.split('/')
                        .next()
                        .is_none_or(|n| n.split('-').any(|x| x.parse::<u16>().is_err()))
                }) {
                    return Err(self.fail(ins, format!("invalid port {bad:?}")));
                }
                self.meta(cur, &format!("EXPOSE {}", ports.join(" ")), |c| {
                    for p in &ports {
                        c["config"]["ExposedPorts"][p] = json!({});
                    }
                    Ok(())
                })
            }
            Keyword::Volume => {
                let vols = match parser::json_array(&ins.rest) {
                    Some(v) => v,
                    None => words(&ins.rest)?,
                };
                self.meta(cur, &format!("VOLUME {}", json!(vols)), |c| {
                    for v in &vols {
                        c["config"]["Volumes"][v] = json!({});
                    }
                    Ok(())
                })
            }
            Keyword::Stopsignal => {
                let sig = word(&ins.rest)?;
                self.meta(cur, &format!("STOPSIGNAL {sig}"), |c| {
                    c["config"]["StopSignal"] = json!(sig);
                    Ok(())
                })
            }
            Keyword::Healthcheck => {
                let check = healthcheck(ins).map_err(|e| self.fail(ins, e))?;
                self.meta(cur, &format!("HEALTHCHECK {}", ins.rest), |c| {
                    c["config"]["Healthcheck"] = check;
                    Ok(())
                })
            }
            Keyword::Shell => {
                let Command::Exec(shell) = ins.command() else {
                    return Err(self.fail(ins, "SHELL requires the arguments as a JSON array, e.g. SHELL [\"/bin/sh\", \"-c\"]"));
                };
                self.meta(cur, &format!("SHELL {}", json!(shell)), |c| {
                    c["config"]["Shell"] = json!(shell);
                    Ok(())
                })
            }
            Keyword::Onbuild => {
                let trigger = ins.rest.clone();
                if trigger.is_empty() {
                    return Err(self.fail(ins, "ONBUILD requires an instruction"));
                }
                self.meta(cur, &format!("ONBUILD {trigger}"), |c| {
                    let list = c["config"]["OnBuild"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    let mut list = list;
                    list.push(json!(trigger));
                    c["config"]["OnBuild"] = json!(list);
                    Ok(())
                })
            }
            Keyword::Maintainer => {
                let who = ins.rest.clone();
                self.meta(cur, &format!("MAINTAINER {who}"), |c| {
                    c["author"] = json!(who);
                    Ok(())
                })
            }
            Keyword::Run => self.run(ins, cur),
            Keyword::Copy | Keyword::Add => {
                let mut w = words(&ins.rest)?;
                if let Some(list) = parser::json_array(&ins.rest) {
                    w = list.iter().map(|s| word(s)).collect::<Result<_>>()?;
                }
                // --from, --chown and --chmod take variables too.
                let flag = |name: &str| ins.flag(name).map(word).transpose();
                let flags = CopyFlags {
                    from: flag("from")?,
                    chown: flag("chown")?,
                    chmod: flag("chmod")?,
                };
                self.copy(ins, cur, w, flags)
            }
        }
    }

    /// WORKDIR: sets the directory and, when the image lacks it, adds a layer holding it
    /// (as Docker does, so the container can start there).
    fn workdir(&mut self, cur: &mut Current, dir: String) -> Result<()> {
        let text = format!("WORKDIR {dir}");
        let below =
            self.store
                .unpack_layers(&cur.state.layers, &UnpackOptions::default(), &mut |_| {})?;
        let rel = dir.trim_start_matches('/').to_string();
        if rel.is_empty()
            || (Tree { snapshots: &below })
                .lookup(Path::new(&rel))
                .is_some()
        {
            return self.meta(cur, &text, |c| {
                c["config"]["WorkingDir"] = json!(dir);
                Ok(())
            });
        }
        let key = cache::key(&cur.key, &text);
        if let Some(state) = self.cached(&key) {
            cur.state = state;
            cur.key = key;
            return Ok(());
        }
        self.runs += 1;
        let layer_dir = self.work.join(format!("workdir-{}", self.runs));
        fs::create_dir_all(&layer_dir).ctx("create", &layer_dir)?;
        let made = copy::make_parents(
            &layer_dir,
            Path::new(&rel),
            &Tree { snapshots: &below },
            None,
            true,
        )
        .ctx("create WORKDIR in", &layer_dir)
        .and_then(|()| create_layer(self.store, &layer_dir, LayerCompression::Gzip));
        let _ = fs::remove_dir_all(&layer_dir);
        let mut state = cur.state.clone();
        state.layers.push(made?);
        state.config["config"]["WorkingDir"] = json!(dir);
        push_history(
            &mut state.config,
            &format!("/bin/sh -c #(nop)  {text}"),
            false,
        );
        self.commit(cur, key, state)
    }

    /// The exec-form arguments of CMD/ENTRYPOINT (shell form wrapped in the SHELL).
    fn command_args(&self, ins: &Instruction, config: &Value) -> Vec<String> {
        match ins.command() {
            Command::Exec(a) => a,
            Command::Shell(s) => {
                let mut a = shell_of(config);
                a.push(s);
                a
            }
        }
    }

    /// A metadata-only step: `apply` changes the config; history gets an empty layer.
    fn meta(
        &mut self,
        cur: &mut Current,
        text: &str,
        apply: impl FnOnce(&mut Value) -> Result<()>,
    ) -> Result<()> {
        let key = cache::key(&cur.key, text);
        if let Some(state) = self.cached(&key) {
            cur.state = state;
            cur.key = key;
            return Ok(());
        }
        let mut state = cur.state.clone();
        apply(&mut state.config)?;
        push_history(
            &mut state.config,
            &format!("/bin/sh -c #(nop)  {text}"),
            true,
        );
        self.commit(cur, key, state)
    }

    fn cached(&mut self, key: &Digest) -> Option<State> {
        if self.options.no_cache {
            return None;
        }
        let state = cache::get(self.store, key)?;
        (self.events)(&BuildEvent::Cached);
        Some(state)
    }

    fn commit(&mut self, cur: &mut Current, key: Digest, state: State) -> Result<()> {
        cache::put(self.store, &key, &state)?;
        if state.layers.len() > cur.state.layers.len() {
            if let Some((layer, _)) = state.layers.last() {
                (self.events)(&BuildEvent::Done {
                    digest: layer.digest(),
                });
            }
        }
        cur.state = state;
        cur.key = key;
        Ok(())
    }

    fn run(&mut self, ins: &Instruction, cur: &mut Current) -> Result<()> {
        let argv = self.command_args(ins, &cur.state.config);
        let env = env_of(&cur.state.config);
        // Build args not overridden by ENV are in the command's environment too.
        let arg_env: Vec<String> = cur
            .args
            .iter()
            .filter_map(|(k, v)| Some((k, v.as_ref()?)))
            .filter(|(k, _)| !env.iter().any(|(e, _)| e == *k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut created_by = run::created_by(&argv);
        if !arg_env.is_empty() {
            created_by = format!("|{} {} {created_by}", arg_env.len(), arg_env.join(" "));
        }
        let key = cache::key(&cur.key, &format!("RUN {}", json!([&created_by, &argv])));
        if let Some(state) = self.cached(&key) {
            cur.state = state;
            cur.key = key;
            return Ok(());
        }
        let mut full_env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !env.iter().any(|(k, _)| k == "PATH") {
            full_env.push(DEFAULT_PATH.to_string());
        }
        full_env.extend(arg_env);
        let user = cur.state.config["config"]["User"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let cwd = cur.state.config["config"]["WorkingDir"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("/")
            .to_string();
        let snapshots =
            self.store
                .unpack_layers(&cur.state.layers, &UnpackOptions::default(), &mut |_| {})?;
        self.runs += 1;
        let dir = self.work.join(format!("run-{}", self.runs));
        let id = format!("tug-build-{}", crate::unique_suffix());
        let spec = run::RunSpec {
            args: argv,
            env: full_env,
            user: &user,
            cwd: &cwd,
            quiet: self.options.quiet,
        };
        let at = format!("{}:{}: ", self.file, ins.line);
        let result = run::run(&snapshots, &dir, &id, &spec)
            .map_err(|e| match e {
                Error::RunFailed { command, code, .. } => Error::RunFailed { at, command, code },
                e => e,
            })
            .and_then(|upper| create_layer(self.store, &upper, LayerCompression::Gzip));
        let _ = fs::remove_dir_all(&dir);
        let layer = result?;
        let mut state = cur.state.clone();
        state.layers.push(layer);
        push_history(&mut state.config, &created_by, false);
        self.commit(cur, key, state)
    }

    fn copy(
        &mut self,
        ins: &Instruction,
        cur: &mut Current,
        mut words: Vec<String>,
        flags: CopyFlags,
    ) -> Result<()> {
        if words.len() < 2 {
            return Err(self.fail(ins, "requires at least two arguments: SOURCE... DEST"));
        }
        if ins.flag("link").is_some() {
            (self.events)(&BuildEvent::Note(
                "--link is ignored: layers are always independent here",
            ));
        }
        let dest_word = words.pop().unwrap_or_default();
        let below =
            self.store
                .unpack_layers(&cur.state.layers, &UnpackOptions::default(), &mut |_| {})?;
        let tree = Tree { snapshots: &below };
        let chown = match flags.chown.as_deref() {
            Some(spec) => {
                Some(users::resolve(spec, &|p| tree.read(p)).map_err(|e| self.fail(ins, e))?)
            }
            None => None,
        };
        let chmod = match flags.chmod.as_deref() {
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| {
                        self.fail(
                            ins,
                            format!("invalid --chmod={m}: give octal permission bits such as 755"),
                        )
                    })?,
            ),
            None => None,
        };
        let workdir = cur.state.config["config"]["WorkingDir"]
            .as_str()
            .unwrap_or("/")
            .to_string();
        let dest_abs = if dest_word.starts_with('/') {
            dest_word.clone()
        } else {
            format!("{workdir}/{dest_word}")
        };
        let dest = ignore::clean(&dest_abs);
        let dest_is_dir = dest_word.ends_with('/')
            || words.len() > 1
            || words.iter().any(|w| pattern::has_glob(w));

        // Where the sources come from: the context, an earlier stage, or an image.
        let mut mount: Option<Mount> = None;
        let from_root = match flags.from.as_deref() {
            None => None,
            Some(from) => {
                let layers = match self.find_stage(from) {
                    Some(stage) => stage.state.layers.clone(),
                    None => match self.store.image(from) {
                        Ok(img) => img.layers()?,
                        Err(e) if e.is_not_found() => {
                            return Err(self.fail(
                                ins,
                                format!("--from={from}: no stage or image named {from}"),
                            ))
                        }
                        Err(e) => return Err(e),
                    },
                };
                let snaps =
                    self.store
                        .unpack_layers(&layers, &UnpackOptions::default(), &mut |_| {})?;
                self.runs += 1;
                let m =
                    overlay::mount_layers(&snaps, &self.work.join(format!("from-{}", self.runs)))?;
                let root = m.target().to_path_buf();
                mount = Some(m);
                Some(root)
            }
        };
        let ignore = self.ignore.clone();
        let context = self.options.context.clone();
        let result = (|| -> Result<(Digest, State, bool)> {
            let src = match &from_root {
                Some(root) => SourceRoot {
                    root,
                    ignore: None,
                    keep_owner: true,
                },
                None => SourceRoot {
                    root: &context,
                    ignore: Some(&ignore),
                    keep_owner: false,
                },
            };
            let sources = src.resolve(&words).map_err(|e| self.fail(ins, e))?;
            let hash = src
                .hash(&sources)
                .map_err(|e| self.fail(ins, format!("failed to read sources: {e}")))?;
            let text = format!("{} {}", ins.text(), dest);
            let key = cache::key(&cur.key, &format!("{text}\n{hash}"));
            if let Some(state) = self.cached(&key) {
                return Ok((key, state, true));
            }
            self.runs += 1;
            let layer_dir = self.work.join(format!("copy-{}", self.runs));
            fs::create_dir_all(&layer_dir).ctx("create", &layer_dir)?;
            let plan = CopyPlan {
                dest: dest.clone(),
                dest_is_dir,
                chown,
                chmod,
                extract: ins.keyword == Keyword::Add,
                below: &tree,
            };
            copy::copy(&src, &sources, &plan, &layer_dir)
                .map_err(|e| self.fail(ins, format!("failed to copy: {e}")))?;
            let layer = create_layer(self.store, &layer_dir, LayerCompression::Gzip);
            let _ = fs::remove_dir_all(&layer_dir);
            let mut state = cur.state.clone();
            state.layers.push(layer?);
            let srcs = words.join(" ");
            push_history(
                &mut state.config,
                &format!("/bin/sh -c #(nop) {} {srcs} in /{dest} ", ins.keyword),
                false,
            );
            Ok((key, state, false))
        })();
        if let Some(m) = mount {
            m.unmount()?;
        }
        let (key, state, cached) = result?;
        if cached {
            cur.state = state;
            cur.key = key;
            return Ok(());
        }
        self.commit(cur, key, state)
    }
}

/// The expanded `--from`, `--chown` and `--chmod` of a COPY or ADD.
struct CopyFlags {
    from: Option<String>,
    chown: Option<String>,
    chmod: Option<String>,
}

/// A stage's name from its FROM line (`FROM image AS name`), unexpanded.
fn stage_name(from: &Instruction) -> Option<&str> {
    let w: Vec<&str> = from.rest.split_whitespace().collect();
    match w.as_slice() {
        [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name),
        _ => None,
    }
}

/// Variable lookup: ENV first, then ARGs.
fn lookup_in(
    args: &[(String, Option<String>)],
    env: &[(String, String)],
    name: &str,
) -> Option<String> {
    env.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .or_else(|| {
            args.iter()
                .rev()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.clone())
        })
}
