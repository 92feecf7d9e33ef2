//! `tug build` (Containerfile builds, podman-style step output) and `tug image history`
//! over `tug_image::build` and the image store.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::Value;
use tug_image::build::{self, BuildEvent, BuildOptions};
use tug_image::{Reference, Store};

use crate::image::{ago, human_size, parse_rfc3339, DataDir};

#[derive(Args, Debug)]
pub struct BuildArgs {
    #[command(flatten)]
    data: DataDir,
    /// Name (and optionally tag) for the image, NAME[:TAG]; may repeat
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// The Containerfile (default CONTEXT/Containerfile, else CONTEXT/Dockerfile)
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Build-time variable K=V (K alone takes the value from the environment)
    #[arg(long = "build-arg")]
    build_args: Vec<String>,
    /// Build up to this stage
    #[arg(long)]
    target: Option<String>,
    /// Run every step, ignoring the layer cache
    #[arg(long)]
    no_cache: bool,
    /// Print only the image ID
    #[arg(short, long)]
    quiet: bool,
    /// The build context directory
    context: PathBuf,
}

pub fn build(args: BuildArgs) -> Result<()> {
    let store = args.data.store()?;
    let tags = args
        .tags
        .iter()
        .map(|t| {
            let r = Reference::parse(t)?;
            if r.digest().is_some() {
                bail!("invalid tag {t}: a build names an image NAME[:TAG], not a digest");
            }
            Ok(r)
        })
        .collect::<Result<Vec<_>>>()?;
    let build_args = args
        .build_args
        .iter()
        .filter_map(|a| match a.split_once('=') {
            Some((k, v)) => Some((k.to_string(), v.to_string())),
            None => std::env::var(a).ok().map(|v| (a.clone(), v)),
        })
        .collect();
    if !args.context.is_dir() {
        bail!(
            "build context {} is not a directory",
            args.context.display()
        );
    }
    let options = BuildOptions {
        context: args.context.clone(),
        containerfile: args.file.clone(),
        tags,
        build_args,
        target: args.target.clone(),
        no_cache: args.no_cache,
        quiet: args.quiet,
    };
    let quiet = args.quiet;
    let mut show = |e: &BuildEvent| {
        if quiet {
            return;
        }
        match e {
            BuildEvent::Step {
                number,
                count,
                text,
            } => println!("STEP {number}/{count}: {text}"),
            BuildEvent::Cached => println!("--> CACHED"),
            BuildEvent::Done { digest } => println!("--> {}", short(digest.as_ref())),
            BuildEvent::Note(n) => eprintln!("note: {n}"),
            BuildEvent::Tagged(r) => println!("Successfully tagged {}", r.familiar()),
        }
    };
    let built = build::build(&store, &options, &mut show)?;
    let id = built.id.to_string();
    if !quiet {
        println!("Successfully built {}", short(&id));
    }
    println!("{}", id.trim_start_matches("sha256:"));
    Ok(())
}

/// `tug history IMAGE` (docker's top-level spelling of `tug image history`).
#[derive(Args, Debug)]
pub struct HistoryArgs {
    #[command(flatten)]
    data: DataDir,
    /// Do not truncate IDs and commands
    #[arg(long)]
    no_trunc: bool,
    /// Show image IDs only
    #[arg(short, long)]
    quiet: bool,
    image: String,
}

pub fn history_command(args: HistoryArgs) -> Result<()> {
    history(&args.data.store()?, &args.image, args.no_trunc, args.quiet)
}

/// The 12 hex digits Docker shows of a digest.
fn short(digest: &str) -> &str {
    let hex = digest.trim_start_matches("sha256:");
    &hex[..hex.len().min(12)]
}

/// `tug image history`: docker's table (IMAGE CREATED CREATED BY SIZE COMMENT), newest
/// first; the top row carries the image ID, the others `<missing>` as docker shows them.
pub fn history(store: &Store, image: &str, no_trunc: bool, quiet: bool) -> Result<()> {
    let img = store
        .image(image)
        .with_context(|| format!("no such image: {image}"))?;
    let raw = store.read_blob(img.manifest.config().digest())?;
    let config: Value = serde_json::from_slice(&raw).context("image config is not JSON")?;
    let history = config["history"].as_array().cloned().unwrap_or_default();
    let mut sizes = img.manifest.layers().iter().map(|l| l.size());
    let mut rows: Vec<[String; 5]> = Vec::new();
    for h in &history {
        let empty = h["empty_layer"].as_bool().unwrap_or(false);
        let size = if empty { 0 } else { sizes.next().unwrap_or(0) };
        let created = h["created"]
            .as_str()
            .and_then(parse_rfc3339)
            .map_or_else(String::new, |t| ago(SystemTime::now(), t));
        let mut by = h["created_by"].as_str().unwrap_or("").to_string();
        if !no_trunc && by.chars().count() > 45 {
            by = by.chars().take(44).collect::<String>() + "…";
        }
        rows.push([
            "<missing>".into(),
            created,
            by,
            human_size(size),
            h["comment"].as_str().unwrap_or("").to_string(),
        ]);
    }
    rows.reverse();
    let id = img.id().to_string();
    if let Some(top) = rows.first_mut() {
        top[0] = if no_trunc {
            id.clone()
        } else {
            short(&id).to_string()
        };
    }
    if quiet {
        for r in &rows {
            println!("{}", r[0]);
        }
        return Ok(());
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"][c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: [&str; 5]| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == 4 {
                out.push_str(c);
            } else {
                out.push_str(c);
                out.push_str(&" ".repeat(widths[i] - c.chars().count() + 3));
            }
        }
        println!("{}", out.trim_end());
    };
    line(["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3], &r[4]]);
    }
    Ok(())
}
