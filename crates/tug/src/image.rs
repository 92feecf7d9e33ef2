//! `tug pull`, `tug push`, `tug login` and `tug image …`: the Docker-style image
//! commands over `tug_image` (store, archives, registry client).
//!
//! Images live in `<data-dir>/image` (data dir default `/var/lib/tug`, or
//! `$TUG_DATA_DIR`). Progress goes to stderr as bars on a terminal, as plain lines
//! otherwise; results (tables, JSON, digests) go to stdout.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use oci_spec::image::Digest;
use serde_json::{json, Value};
use tug_image::archive::{self, Format as ArchiveFormat, LoadOptions};
use tug_image::registry::{self, BlobKind, Credentials, Event, Options};
use tug_image::{PruneOptions, Reference, Store};

/// Where the data dir is unless `--data-dir` or `$TUG_DATA_DIR` says otherwise.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/tug";

#[derive(Args, Debug, Clone)]
pub struct DataDir {
    /// Data directory (images under <DATA_DIR>/image)
    #[arg(long, global = true, env = "TUG_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

impl DataDir {
    pub(crate) fn at(data_dir: PathBuf) -> DataDir {
        DataDir { data_dir }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.data_dir
    }

    /// The images `tug run` containers are made from: garbage collection keeps them.
    fn in_use(&self, store: &Store) -> Vec<Digest> {
        let engine = tug_engine::Engine::new(&self.data_dir, store.clone(), PathBuf::new());
        engine
            .list()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(r, _)| r.image_manifest.parse().ok())
            .collect()
    }

    pub(crate) fn store(&self) -> Result<Store> {
        // The same directory name the image crate's own default uses.
        let sub = Path::new(tug_image::DEFAULT_DATA_DIR)
            .file_name()
            .unwrap_or_else(|| "image".as_ref());
        let dir = self.data_dir.join(sub);
        Store::open(&dir).with_context(|| format!("failed to open image store {}", dir.display()))
    }
}

/// How to reach a registry (shared by pull, push and login).
#[derive(Args, Debug, Clone)]
pub struct RegistryArgs {
    /// Registry user name
    #[arg(short = 'u', long)]
    username: Option<String>,
    /// Registry password or token
    #[arg(short = 'p', long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from stdin
    #[arg(long)]
    password_stdin: bool,
    /// Auths file to read credentials from (default: $REGISTRY_AUTH_FILE,
    /// $XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json)
    #[arg(long, alias = "registry-config")]
    auth_file: Option<PathBuf>,
    /// Talk plain http to the registry
    #[arg(long)]
    plain_http: bool,
    /// Accept any TLS certificate and fall back to plain http
    #[arg(long, alias = "insecure-skip-tls-verify")]
    insecure: bool,
}

impl RegistryArgs {
    pub(crate) fn options(&self) -> Result<Options> {
        let password = if self.password_stdin {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("failed to read password from stdin")?;
            Some(s.trim_end_matches(['\n', '\r']).to_string())
        } else {
            self.password.clone()
        };
        let credentials = match (&self.username, password) {
            (Some(u), Some(p)) => Some(Credentials::new(u, p)),
            (None, None) => None,
            (Some(_), None) => bail!("--username needs --password or --password-stdin"),
            (None, Some(_)) => bail!("--password needs --username"),
        };
        Ok(Options {
            credentials,
            auth_file: self.auth_file.clone(),
            plain_http: self.plain_http,
            insecure: self.insecure,
            ..Options::default()
        })
    }
}

#[derive(Args, Debug)]
pub struct PullArgs {
    #[command(flatten)]
    data: DataDir,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print only the image reference
    #[arg(short, long)]
    quiet: bool,
    /// Image to pull (NAME[:TAG|@DIGEST])
    reference: String,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    #[command(flatten)]
    data: DataDir,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Upload blobs larger than this many bytes in chunks of this size (0: one request)
    #[arg(long, default_value_t = 16 << 20)]
    chunk_size: u64,
    /// Print only the pushed digest
    #[arg(short, long)]
    quiet: bool,
    /// Local image (name, ID or digest)
    source: String,
    /// Where to push (default: the source name)
    destination: Option<String>,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    #[command(flatten)]
    registry: RegistryArgs,
    /// Registry (host[:port]; default docker.io)
    server: Option<String>,
}

#[derive(Args, Debug)]
pub struct ImageCli {
    #[command(flatten)]
    data: DataDir,
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum ListFormat {
    Table,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum SaveFormat {
    OciArchive,
    DockerArchive,
}

#[derive(Subcommand, Debug)]
enum ImageCommand {
    /// List images
    #[command(alias = "list")]
    Ls {
        /// Show image IDs only
        #[arg(short, long)]
        quiet: bool,
        /// Do not truncate IDs
        #[arg(long)]
        no_trunc: bool,
        /// Show manifest digests
        #[arg(long)]
        digests: bool,
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Remove image names (and the image once it has none); frees unreferenced blobs
    #[command(alias = "remove")]
    Rm {
        /// Remove an image ID even if several names point at it
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Remove unused images and blobs
    Prune {
        /// Remove every image, not only unnamed ones
        #[arg(short, long)]
        all: bool,
        /// Do not ask for confirmation
        #[arg(short, long)]
        force: bool,
    },
    /// Give an image another name
    Tag { source: String, target: String },
    /// Show an image's history: one row per build step, newest first
    History {
        /// Do not truncate IDs and commands
        #[arg(long)]
        no_trunc: bool,
        /// Show image IDs only
        #[arg(short, long)]
        quiet: bool,
        image: String,
    },
    /// Show images' details as JSON
    Inspect {
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Write images to an archive
    Save {
        /// Output file (default stdout, when it is not a terminal)
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = SaveFormat::DockerArchive)]
        format: SaveFormat,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// List the files added (A), changed (C) and deleted (D) from one image to another
    Diff { from: String, to: String },
    /// Point a tag back at the image it named before
    Rollback { name: String },
    /// Show every image a tag has named, newest first
    TagsHistory { name: String },
    /// Load images from an archive (docker-archive or oci-archive, plain or gzip)
    Load {
        /// Input file (default stdin)
        #[arg(short, long)]
        input: Option<PathBuf>,
        /// Print only the loaded names
        #[arg(short, long)]
        quiet: bool,
    },
}

pub fn pull(args: PullArgs) -> Result<()> {
    let store = args.data.store()?;
    let reference = Reference::parse(&args.reference)?;
    let options = args.registry.options()?;
    let shown = reference.familiar();
    let reporter = Reporter::new(Direction::Pull, args.quiet);
    if !args.quiet {
        println!("Pulling {shown}");
    }
    let pulled = registry::pull(&store, &reference, &options, &|e| reporter.event(e))
        .with_context(|| format!("failed to pull {shown}"));
    reporter.finish();
    let pulled = pulled?;
    if args.quiet {
        println!("{}", reference);
    } else {
        println!("Digest: {}", pulled.descriptor.digest());
        if pulled.downloaded > 0 {
            println!("Status: Downloaded newer image for {shown}");
        } else {
            println!("Status: Image is up to date for {shown}");
        }
        println!("{reference}");
    }
    Ok(())
}

pub fn push(args: PushArgs) -> Result<()> {
    let store = args.data.store()?;
    let dest_input = args.destination.as_deref().unwrap_or(&args.source);
    let dest = Reference::parse(dest_input)?;
    let mut options = args.registry.options()?;
    options.chunk_size = args.chunk_size;
    let shown = dest.familiar();
    if !args.quiet {
        println!("Pushing {shown}");
    }
    let reporter = Reporter::new(Direction::Push, args.quiet);
    let pushed = registry::push(&store, &args.source, &dest, &options, &|e| {
        reporter.event(e)
    })
    .with_context(|| format!("failed to push {shown}"));
    reporter.finish();
    let pushed = pushed?;
    if args.quiet {
        println!("{}", pushed.digest);
    } else {
        println!(
            "{}: digest: {} size: {}",
            dest.tag().unwrap_or("latest"),
            pushed.digest,
            pushed.size
        );
    }
    Ok(())
}

pub fn login(args: LoginArgs) -> Result<()> {
    let server = args
        .server
        .as_deref()
        .map(|s| {
            let s = s
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            let host = s.split('/').next().unwrap_or(s);
            match host {
                "index.docker.io" | "registry-1.docker.io" => "docker.io",
                h => h,
            }
            .to_string()
        })
        .unwrap_or_else(|| "docker.io".to_string());
    let mut options = args.registry.options()?;
    let credentials = match options.credentials.clone() {
        Some(c) => c,
        None => {
            let username = match &args.registry.username {
                Some(u) => u.clone(),
                None => prompt("Username: ")?,
            };
            let password = prompt("Password: ")?;
            Credentials::new(username, password)
        }
    };
    options.credentials = Some(credentials.clone());
    registry::login(&server, &options).with_context(|| format!("login to {server} failed"))?;
    let file = match &args.registry.auth_file {
        Some(f) => f.clone(),
        None => registry::auth::default_auth_files()
            .into_iter()
            .last()
            .context("no auth file location: set $HOME or --auth-file")?,
    };
    registry::auth::store_credentials(&file, &server, &credentials)?;
    println!("Login Succeeded (credentials saved in {})", file.display());
    Ok(())
}

fn prompt(label: &str) -> Result<String> {
    eprint!("{label}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub fn image(cli: ImageCli) -> Result<()> {
    let store = cli.data.store()?;
    match cli.command {
        ImageCommand::Ls {
            quiet,
            no_trunc,
            digests,
            format,
        } => list(&store, quiet, no_trunc, digests, format),
        ImageCommand::Rm { force, images } => remove(&store, &images, force, cli.data.in_use(&store)),
        ImageCommand::Prune { all, force } => prune(&store, all, force, cli.data.in_use(&store)),
        ImageCommand::Tag { source, target } => tag(&cli.data, &source, &target),
        ImageCommand::Diff { from, to } => {
            let layers = |input: &str| -> Result<Vec<PathBuf>> {
                let image = store.image(input)?;
                Ok(store.unpack(&image, &tug_image::UnpackOptions::default(), &mut |_| {})?)
            };
            for change in tug_image::changes::image_changes(&layers(&from)?, &layers(&to)?)? {
                println!("{change}");
            }
            Ok(())
        }
        ImageCommand::Rollback { name } => {
            let reference = Reference::parse(&name)?;
            let descriptor = store.rollback(&reference)?;
            let image = store.image(descriptor.digest().as_ref())?;
            println!("{} now names {}", reference.familiar(), image.id());
            Ok(())
        }
        ImageCommand::TagsHistory { name } => {
            let reference = Reference::parse(&name)?;
            let now = SystemTime::now();
            let history = store.tag_history(&reference)?;
            let mut rows = vec![["IMAGE ID", "DIGEST", "TAGGED", "CURRENT"].map(String::from)];
            for (i, entry) in history.iter().enumerate().rev() {
                let id = entry
                    .descriptor()
                    .ok()
                    .and_then(|d| store.image(d.digest().as_ref()).ok())
                    .map_or_else(|| "<pruned>".to_string(), |img| short_id(img.id()));
                let tagged = parse_rfc3339(&entry.time).map_or_else(|| entry.time.clone(), |t| ago(now, t));
                let current = if i + 1 == history.len() { "*" } else { "" };
                rows.push([id, entry.digest.clone(), tagged, current.to_string()]);
            }
            crate::runtime::print_table(&rows);
            Ok(())
        }
        ImageCommand::Inspect { images } => inspect(&store, &images),
        ImageCommand::History {
            no_trunc,
            quiet,
            image,
        } => crate::build::history(&store, &image, no_trunc, quiet),
        ImageCommand::Save {
            output,
            format,
            images,
        } => {
            let format = match format {
                SaveFormat::OciArchive => ArchiveFormat::OciArchive,
                SaveFormat::DockerArchive => ArchiveFormat::DockerArchive,
            };
            let names: Vec<&str> = images.iter().map(String::as_str).collect();
            match output {
                Some(path) => {
                    let tmp = path.with_extension("tug-partial");
                    let file = std::fs::File::create(&tmp)
                        .with_context(|| format!("failed to create {}", tmp.display()))?;
                    let mut out = std::io::BufWriter::new(file);
                    let result = archive::save(&store, &names, format, &mut out)
                        .map_err(anyhow::Error::from)
                        .and_then(|()| out.flush().map_err(Into::into))
                        .and_then(|()| std::fs::rename(&tmp, &path).map_err(Into::into));
                    if result.is_err() {
                        let _ = std::fs::remove_file(&tmp);
                    }
                    result.with_context(|| format!("failed to save to {}", path.display()))
                }
                None => {
                    if std::io::stdout().is_terminal() {
                        bail!(
                            "refusing to write an archive to a terminal: use -o FILE or redirect"
                        );
                    }
                    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                    archive::save(&store, &names, format, &mut out)?;
                    out.flush()?;
                    Ok(())
                }
            }
        }
        ImageCommand::Load { input, quiet } => {
            let loaded = match &input {
                Some(p) => archive::load_file(&store, p, &LoadOptions::default())?,
                None => archive::load(&store, std::io::stdin().lock(), &LoadOptions::default())?,
            };
            for l in loaded {
                match (&l.name, quiet) {
                    (Some(n), false) => println!("Loaded image: {}", n.familiar()),
                    (Some(n), true) => println!("{}", n.familiar()),
                    (None, _) => println!("Loaded image ID: {}", l.descriptor.digest()),
                }
            }
            Ok(())
        }
    }
}

/// `tug tag` / `tug image tag`.
pub(crate) fn tag(data: &DataDir, source: &str, target: &str) -> Result<()> {
    let store = data.store()?;
    let (_, descriptor) = store.resolve(source)?;
    let target = Reference::parse(target)?;
    if target.digest().is_some() {
        bail!("cannot tag with a digest: {target}");
    }
    store.tag(&target, &descriptor)?;
    Ok(())
}

/// `tug images`.
pub(crate) fn list_images(data: &DataDir, quiet: bool, no_trunc: bool) -> Result<()> {
    list(&data.store()?, quiet, no_trunc, false, ListFormat::Table)
}

/// `tug rmi`.
pub(crate) fn remove_images(data: &DataDir, images: &[String], force: bool) -> Result<()> {
    let store = data.store()?;
    let keep = data.in_use(&store);
    remove(&store, images, force, keep)
}

// ---- ls ----

fn short_id(d: &Digest) -> String {
    d.digest().chars().take(12).collect()
}

/// `busybox:latest` → (`busybox`, `latest`); names in the store always carry a tag.
fn repo_and_tag(name: &Reference) -> (String, String) {
    let familiar = name.familiar();
    match (name.tag(), familiar.rsplit_once(':')) {
        (Some(t), Some((repo, _))) => (repo.to_string(), t.to_string()),
        _ => (familiar, "<none>".into()),
    }
}

fn list(
    store: &Store,
    quiet: bool,
    no_trunc: bool,
    digests: bool,
    format: ListFormat,
) -> Result<()> {
    let mut images = store.images()?;
    // Newest first, as docker lists them.
    images.sort_by(|a, b| b.created.cmp(&a.created));
    let now = SystemTime::now();
    if quiet {
        let mut seen = std::collections::HashSet::new();
        for i in &images {
            let Some(id) = &i.id else { continue };
            let shown = if no_trunc {
                id.to_string()
            } else {
                short_id(id)
            };
            if seen.insert(shown.clone()) {
                println!("{shown}");
            }
        }
        return Ok(());
    }
    let rows: Vec<[String; 6]> = images
        .iter()
        .map(|i| {
            let (repo, tag) = match &i.name {
                Some(n) => repo_and_tag(n),
                None => ("<none>".into(), "<none>".into()),
            };
            let id = match &i.id {
                Some(id) if no_trunc => id.to_string(),
                Some(id) => short_id(id),
                None => "<missing>".into(),
            };
            let created = i
                .created
                .as_deref()
                .and_then(parse_rfc3339)
                .map_or_else(|| "N/A".to_string(), |t| ago(now, t));
            [
                repo,
                tag,
                i.descriptor.digest().to_string(),
                id,
                created,
                human_size(i.size),
            ]
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if format == ListFormat::Json {
        for (i, row) in images.iter().zip(&rows) {
            let v = json!({
                "Repository": row[0],
                "Tag": row[1],
                "Digest": row[2],
                "ID": row[3],
                "CreatedAt": i.created.clone().unwrap_or_default(),
                "CreatedSince": row[4],
                "Size": row[5],
            });
            writeln!(out, "{v}")?;
        }
        return Ok(());
    }
    let mut header = vec!["REPOSITORY", "TAG"];
    let mut cols = vec![0usize, 1];
    if digests {
        header.push("DIGEST");
        cols.push(2);
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    cols.extend([3, 4, 5]);
    let widths: Vec<usize> = cols
        .iter()
        .zip(&header)
        .map(|(&c, h)| {
            rows.iter()
                .map(|r| r[c].len())
                .max()
                .unwrap_or(0)
                .max(h.len())
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}   "));
            }
        }
        s
    };
    writeln!(out, "{}", line(header.clone()))?;
    for r in &rows {
        writeln!(
            out,
            "{}",
            line(cols.iter().map(|&c| r[c].as_str()).collect())
        )?;
    }
    Ok(())
}

// ---- rm, prune ----

fn remove(store: &Store, inputs: &[String], force: bool, keep: Vec<Digest>) -> Result<()> {
    let mut failed = false;
    for input in inputs {
        match remove_one(store, input, force) {
            Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
            Err(e) => {
                eprintln!("error: {e:#}");
                failed = true;
            }
        }
    }
    // Content no name reaches any more goes now, as docker rmi frees it.
    let report = store.prune(&PruneOptions { keep, ..PruneOptions::default() })?;
    for d in &report.blobs {
        println!("Deleted: {d}");
    }
    if failed {
        bail!("some images were not removed");
    }
    Ok(())
}

fn remove_one(store: &Store, input: &str, force: bool) -> Result<Vec<String>> {
    let (name, descriptor) = store.resolve(input)?;
    if let Some(name) = name.filter(|n| n.tag().is_some() && n.digest().is_none()) {
        store.untag(&name)?;
        return Ok(vec![format!("Untagged: {}", name.familiar())]);
    }
    // An ID or digest: every entry for it.
    let names: Vec<String> = store
        .images()?
        .into_iter()
        .filter(|i| i.descriptor.digest() == descriptor.digest())
        .filter_map(|i| i.name.map(|n| n.familiar()))
        .collect();
    if names.len() > 1 && !force {
        bail!(
            "image {input} is named {}: remove the names or use --force",
            names.join(", ")
        );
    }
    store.remove(descriptor.digest())?;
    Ok(names
        .into_iter()
        .map(|n| format!("Untagged: {n}"))
        .collect())
}

fn prune(store: &Store, all: bool, force: bool, keep: Vec<Digest>) -> Result<()> {
    if !force {
        let what = if all {
            "all images (no container is known to use them)"
        } else {
            "all dangling images"
        };
        eprint!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
        std::io::stderr().flush().ok();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(());
        }
    }
    let mut untagged = Vec::new();
    if all {
        for i in store.images()? {
            if let Some(n) = i.name {
                store.untag(&n)?;
                untagged.push(n.familiar());
            }
        }
    }
    let report = store.prune(&PruneOptions {
        untagged: true,
        keep,
        ..PruneOptions::default()
    })?;
    if !untagged.is_empty() || !report.blobs.is_empty() || !report.untagged.is_empty() {
        println!("Deleted Images:");
        for n in &untagged {
            println!("untagged: {n}");
        }
        for d in &report.untagged {
            println!("untagged: {d}");
        }
        for d in &report.blobs {
            println!("deleted: {d}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(report.bytes_freed));
    Ok(())
}

// ---- inspect ----

fn inspect(store: &Store, inputs: &[String]) -> Result<()> {
    let all = store.images()?;
    let mut out = Vec::new();
    let mut failed = Vec::new();
    for input in inputs {
        let image = match store.image(input) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("error: {e}");
                failed.push(input.clone());
                continue;
            }
        };
        let (_, top) = store.resolve(input)?;
        let names: Vec<&Reference> = all
            .iter()
            .filter(|i| i.descriptor.digest() == top.digest())
            .filter_map(|i| i.name.as_ref())
            .collect();
        let repo_tags: Vec<String> = names.iter().map(|n| n.familiar()).collect();
        let repo_digests: Vec<String> = names
            .iter()
            .map(|n| {
                let (repo, _) = repo_and_tag(n);
                format!("{repo}@{}", top.digest())
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let config = serde_json::to_value(&image.config)?;
        out.push(json!({
            "Id": image.id().to_string(),
            "RepoTags": repo_tags,
            "RepoDigests": repo_digests,
            "Created": config.get("created").cloned().unwrap_or(Value::Null),
            "Author": config.get("author").cloned().unwrap_or(Value::Null),
            "Architecture": config.get("architecture").cloned().unwrap_or(Value::Null),
            "Variant": config.get("variant").cloned().unwrap_or(Value::Null),
            "Os": config.get("os").cloned().unwrap_or(Value::Null),
            "Size": image.size(),
            "Config": config.get("config").cloned().unwrap_or(json!({})),
            "RootFS": config.get("rootfs").cloned().unwrap_or(Value::Null),
            "History": config.get("history").cloned().unwrap_or(json!([])),
            "Manifest": {
                "Digest": image.descriptor.digest().to_string(),
                "MediaType": image.descriptor.media_type().to_string(),
                "Layers": image.manifest.layers().iter().map(|l| json!({
                    "Digest": l.digest().to_string(),
                    "MediaType": l.media_type().to_string(),
                    "Size": l.size(),
                })).collect::<Vec<_>>(),
            },
        }));
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    if !failed.is_empty() {
        bail!("no such image: {}", failed.join(", "));
    }
    Ok(())
}

// ---- progress ----

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Pull,
    Push,
}

/// Shows [`Event`]s: one bar per blob on a terminal, plain lines otherwise.
struct Reporter {
    direction: Direction,
    quiet: bool,
    bars: Option<MultiProgress>,
    active: Mutex<HashMap<String, ProgressBar>>,
}

impl Reporter {
    fn new(direction: Direction, quiet: bool) -> Reporter {
        let bars = (!quiet && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Reporter {
            direction,
            quiet,
            bars,
            active: Mutex::new(HashMap::new()),
        }
    }

    fn line(&self, id: &str, text: &str) {
        if self.quiet {
            return;
        }
        match &self.bars {
            Some(m) => {
                let _ = m.println(format!("{id}: {text}"));
            }
            None => eprintln!("{id}: {text}"),
        }
    }

    fn event(&self, e: &Event) {
        let pull = self.direction == Direction::Pull;
        match e {
            Event::Resolved { .. } => {}
            Event::BlobExists { digest, kind, .. } => {
                let text = match (pull, kind) {
                    (true, _) => "Already exists",
                    (false, BlobKind::Config) => "Config already exists",
                    (false, BlobKind::Layer) => "Layer already exists",
                };
                self.line(&short_id(digest), text);
            }
            Event::BlobMounted { digest, from, .. } => {
                self.line(&short_id(digest), &format!("Mounted from {from}"));
            }
            Event::BlobStarted { digest, size, .. } => {
                let id = short_id(digest);
                let verb = if pull { "Downloading" } else { "Pushing" };
                match &self.bars {
                    Some(m) => {
                        let bar = m.add(ProgressBar::new(*size));
                        bar.set_style(
                            ProgressStyle::with_template(
                                "{prefix}: {msg:11} [{bar:30}] {bytes}/{total_bytes}",
                            )
                            .expect("static template")
                            .progress_chars("=> "),
                        );
                        bar.set_prefix(id.clone());
                        bar.set_message(verb);
                        self.active
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(id, bar);
                    }
                    None => self.line(&id, &format!("{verb} {}", human_size(*size))),
                }
            }
            Event::BlobProgress { digest, done, .. } => {
                if let Some(bar) = self
                    .active
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&short_id(digest))
                {
                    bar.set_position(*done);
                }
            }
            Event::BlobDone { digest, .. } => {
                let id = short_id(digest);
                let text = if pull { "Pull complete" } else { "Pushed" };
                let bar = self
                    .active
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                match bar {
                    Some(bar) => {
                        bar.set_message(text);
                        bar.finish();
                    }
                    None => self.line(&id, text),
                }
            }
            Event::ManifestPushed { .. } => {}
        }
    }

    fn finish(&self) {
        for (_, bar) in self
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
        {
            bar.abandon();
        }
    }
}

// ---- formatting ----

/// Docker's sizes: decimal units, three significant digits (`4.26MB`).
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        return format!("{bytes}B");
    }
    let s = format!("{v:.3}");
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{:.*}", digits, s.parse::<f64>().unwrap_or(v));
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{}", UNITS[u])
}

/// Seconds since the epoch of an RFC 3339 time (`2026-11-26T00:00:00.5+01:00`).
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" | "" => 0,
        _ => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            let hh: i64 = rest.get(1..3)?.parse().ok()?;
            let mm: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (hh * 3600 + mm * 60)
        }
    };
    // Days from the civil date (proleptic Gregorian), as in Howard Hinnant's algorithm.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + h * 3600 + mi * 60 + se - offset;
    if secs >= 0 {
        Some(UNIX_EPOCH + Duration::from_secs(secs as u64))
    } else {
        None
    }
}

/// `3 days ago`, as docker says it.
pub(crate) fn ago(now: SystemTime, then: SystemTime) -> String {
    let s = now.duration_since(then).map_or(0, |d| d.as_secs());
    let (n, unit) = match s {
        0..=59 => return "Less than a minute ago".into(),
        60..=3599 => (s / 60, "minute"),
        3600..=86_399 => (s / 3600, "hour"),
        86_400..=1_209_599 => (s / 86_400, "day"),
        1_209_600..=5_183_999 => (s / 604_800, "week"),
        5_184_000..=31_535_999 => (s / 2_592_000, "month"),
        _ => (s / 31_536_000, "year"),
    };
    let unit = if n == 1 {
        unit.to_string()
    } else {
        format!("{unit}s")
    };
    if n == 1 && unit == "hour" {
        "About an hour ago".into()
    } else {
        format!("{n} {unit} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_docker() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(12_345_678), "12.3MB");
        assert_eq!(human_size(123_456_789), "123MB");
        assert_eq!(human_size(1_000), "1kB");
    }

    #[test]
    fn rfc3339_times_parse_with_fractions_and_offsets() {
        let t = |s| {
            parse_rfc3339(s)
                .unwrap()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
        };
        assert_eq!(t("1970-01-01T00:00:00Z"), 0);
        assert_eq!(t("2026-11-26T00:00:00Z"), 1_795_651_200);
        assert_eq!(t("2026-11-26T01:00:00.123456789+01:00"), 1_795_651_200);
        assert!(parse_rfc3339("yesterday").is_none());
    }

    #[test]
    fn ages_read_like_docker() {
        let now = UNIX_EPOCH + Duration::from_secs(10_000_000);
        let back = |s| ago(now, now - Duration::from_secs(s));
        assert_eq!(back(5), "Less than a minute ago");
        assert_eq!(back(120), "2 minutes ago");
        assert_eq!(back(3600), "About an hour ago");
        assert_eq!(back(3 * 86_400), "3 days ago");
        assert_eq!(back(21 * 86_400), "3 weeks ago");
    }
}
