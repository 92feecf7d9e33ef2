//! Reading a chart from a directory or a gzipped tar archive into a [`Chart`].
//!
//! Both sources become a list of files relative to the chart root; one function
//! sorts them into metadata, values, schema, templates, other files and subcharts
//! (`charts/<dir>/` and `charts/*.tgz`, loaded recursively).

use std::io::Read;
use std::path::{Path, PathBuf};

use tug_gotemplate::Value;

use crate::chartfile::{parse_requirements, Metadata};
use crate::glob::IgnoreRules;
use crate::Error;

/// A file of a chart: its path relative to the chart root (`/`-separated) and content.
#[derive(Clone, Debug)]
pub struct ChartFile {
    pub name: String,
    pub data: std::sync::Arc<[u8]>,
}

/// A loaded chart.
#[derive(Clone, Debug)]
pub struct Chart {
    pub metadata: Metadata,
    /// `values.yaml`, parsed (an empty map when absent).
    pub values: Value,
    /// `values.yaml` as written (for `show values`).
    pub raw_values: String,
    /// `values.schema.json`, as written.
    pub schema: Option<String>,
    /// `templates/**`.
    pub templates: Vec<ChartFile>,
    /// Every other file (README, crds/, LICENSE, data files): what `.Files` sees.
    pub files: Vec<ChartFile>,
    /// Subcharts from `charts/`.
    pub dependencies: Vec<Chart>,
}

impl Chart {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// Files under `crds/`, in name order.
    pub fn crds(&self) -> Vec<&ChartFile> {
        let mut v: Vec<&ChartFile> = self
            .files
            .iter()
            .filter(|f| {
                f.name.starts_with("crds/")
                    && (f.name.ends_with(".yaml")
                        || f.name.ends_with(".yml")
                        || f.name.ends_with(".json"))
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// A file's text, if the chart has it.
    pub fn file_text(&self, name: &str) -> Option<String> {
        self.files
            .iter()
            .find(|f| f.name == name)
            .map(|f| String::from_utf8_lossy(&f.data).into_owned())
    }
}

/// Loads a chart from a directory or a `.tgz`/`.tar.gz` archive.
pub fn load(path: &Path) -> Result<Chart, Error> {
    let io = |e: std::io::Error| Error::Io {
        path: path.display().to_string(),
        source: e,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        load_dir(path)
    } else {
        let bytes = std::fs::read(path).map_err(io)?;
        load_archive(&path.display().to_string(), &bytes)
    }
}

/// The root `values.yaml` of a chart directory, parsed as it was read.
type EarlyValues = Result<Value, String>;

fn load_dir(root: &Path) -> Result<Chart, Error> {
    // Each entry of the top directory is one job on two threads: a subdirectory is
    // listed and read, a file read; values.yaml (most of the parsing a chart needs
    // before rendering) is parsed too, by the thread that reads it. That is the longest
    // job, so it goes first, then the directories, then the other files.
    let rules = ignore_rules(root);
    let mut top = Vec::new();
    walk(root, "", &rules, &mut top, false)?;
    let cost = |e: &Entry| match e {
        Entry::File(rel, _) if rel == "values.yaml" => 2,
        Entry::Dir(..) => 1,
        Entry::File(..) => 0,
    };
    let read = crate::parallel::map_alongside(
        &top,
        cost,
        |entry| match entry {
            Entry::File(rel, path) => {
                let file = read_file(rel, path)?;
                let parsed = (rel == "values.yaml").then(|| parse_values(&text(&file.data)));
                Ok((vec![file], parsed))
            }
            Entry::Dir(rel, path) => {
                let mut inside = Vec::new();
                walk(path, rel, &rules, &mut inside, true)?;
                Ok((read_files(&inside)?, None))
            }
        },
        || (),
    )
    .0;
    let mut early = None;
    let mut files = Vec::new();
    for r in read {
        let (read, parsed): (Vec<ChartFile>, _) = r?;
        early = early.or(parsed);
        files.extend(read);
    }
    from_files_with(files, early)
}

/// A chart directory's files, relative to it, without those `.helmignore` excludes.
pub fn read_dir_files(root: &Path) -> Result<Vec<ChartFile>, Error> {
    let mut list = Vec::new();
    walk(root, "", &ignore_rules(root), &mut list, true)?;
    read_files(&list)
}

/// Reads listed files (no directories are listed when walking deep).
fn read_files(list: &[Entry]) -> Result<Vec<ChartFile>, Error> {
    list.iter()
        .filter_map(|e| match e {
            Entry::File(rel, path) => Some(read_file(rel, path)),
            Entry::Dir(..) => None,
        })
        .collect()
}

fn read_file(rel: &str, path: &Path) -> Result<ChartFile, Error> {
    match std::fs::read(path) {
        Ok(data) => Ok(ChartFile {
            name: rel.to_string(),
            data: data.into(),
        }),
        Err(e) => Err(Error::Io {
            path: path.display().to_string(),
            source: e,
        }),
    }
}

/// A chart directory's `.helmignore` (none: nothing ignored).
fn ignore_rules(root: &Path) -> IgnoreRules {
    match std::fs::read_to_string(root.join(".helmignore")) {
        Ok(t) => IgnoreRules::parse(&t),
        Err(_) => IgnoreRules::parse(""),
    }
}

/// A file or directory of a chart, by its path relative to the chart and on disk.
enum Entry {
    File(String, PathBuf),
    Dir(String, PathBuf),
}

/// Lists what `.helmignore` keeps of directory `dir` (at `prefix` in the chart) in
/// Helm's order (sorted, depth first): its files, and its subdirectories' files when
/// `deep`, else the subdirectories themselves.
fn walk(dir: &Path, prefix: &str, rules: &IgnoreRules, out: &mut Vec<Entry>, deep: bool) -> Result<(), Error> {
    let io = |p: &Path, e: std::io::Error| Error::Io {
        path: p.display().to_string(),
        source: e,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let path = e.path();
        // The directory entry tells the type without a stat, except for links: those
        // are followed, as Helm does, and a dangling link or a special file is an error.
        let kind = match e.file_type() {
            Ok(t) if !t.is_symlink() => t,
            _ => std::fs::metadata(&path).map_err(|err| io(&path, err))?.file_type(),
        };
        if kind.is_dir() {
            if rules.ignored(&rel, true) {
                continue;
            }
            if deep {
                walk(&path, &rel, rules, out, true)?;
            } else {
                out.push(Entry::Dir(rel, path));
            }
        } else if rules.ignored(&rel, false) {
            continue;
        } else if !kind.is_file() {
            return Err(Error::Parse {
                file: rel,
                msg: "cannot load irregular file as it has file mode type bits set".into(),
            });
        } else {
            out.push(Entry::File(rel, path));
        }
    }
    Ok(())
}

/// Loads a chart from gzipped tar bytes. Entries sit under one top directory (the
/// chart's name); an entry that is absolute or climbs out with `..` is refused.
pub fn load_archive(name: &str, bytes: &[u8]) -> Result<Chart, Error> {
    let mut files = archive_files(name, bytes)?;
    let rules = files
        .iter()
        .find(|f| f.name == ".helmignore")
        .map(|f| IgnoreRules::parse(&String::from_utf8_lossy(&f.data)))
        .unwrap_or_else(|| IgnoreRules::parse(""));
    files.retain(|f| !ignored_with_parents(&rules, &f.name));
    from_files(files)
}

/// The files of a chart archive relative to its top directory (checked as
/// [`load_archive`] checks them; `.helmignore` not applied).
pub fn archive_files(name: &str, bytes: &[u8]) -> Result<Vec<ChartFile>, Error> {
    let bad = |msg: String| Error::Archive {
        name: name.to_string(),
        msg,
    };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut files = Vec::new();
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let kind = entry.header().entry_type();
        let raw = entry.path_bytes().into_owned();
        let path = String::from_utf8_lossy(&raw).replace('\\', "/");
        if path.starts_with('/') || path.split('/').any(|seg| seg == "..") {
            return Err(Error::PathEscape(path));
        }
        if kind.is_dir()
            || kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
        {
            continue;
        }
        if !kind.is_file() {
            return Err(bad(format!(
                "{path}: only regular files are allowed in a chart archive"
            )));
        }
        // Drop the top directory (the chart's name).
        let Some((_, rel)) = path.trim_start_matches("./").split_once('/') else {
            continue;
        };
        if rel.is_empty() {
            continue;
        }
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .map_err(|e| bad(e.to_string()))?;
        files.push(ChartFile {
            name: rel.to_string(),
            data: data.into(),
        });
    }
    if files.is_empty() {
        return Err(bad("no files in chart archive".into()));
    }
    Ok(files)
}

fn ignored_with_parents(rules: &IgnoreRules, path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    (1..parts.len()).any(|i| rules.ignored(&parts[..i].join("/"), true))
        || rules.ignored(path, false)
}

/// A file's bytes as text, invalid UTF-8 replaced as Go's conversions do; checking
/// valid text first is several times faster than the replacing decoder.
pub(crate) fn utf8(data: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(data) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(data),
    }
}

/// A text file's content, without a byte-order mark.
fn text(data: &[u8]) -> String {
    let s = utf8(data);
    s.strip_prefix('\u{feff}').unwrap_or(&s).to_string()
}

/// A values file's content as a map (empty for an empty file).
fn parse_values(text: &str) -> Result<Value, String> {
    match tug_gotemplate::funcs::yaml::from_yaml(text)? {
        v @ Value::Map(_) => Ok(v),
        Value::Nil | Value::Missing => Ok(Value::empty_map()),
        _ => Err("values must be a map".into()),
    }
}

/// Sorts a chart's files into a [`Chart`], loading subcharts from `charts/`.
pub fn from_files(files: Vec<ChartFile>) -> Result<Chart, Error> {
    from_files_with(files, None)
}

/// [`from_files`], with `values.yaml` perhaps already parsed.
fn from_files_with(files: Vec<ChartFile>, early: Option<EarlyValues>) -> Result<Chart, Error> {
    let mut metadata = None;
    let mut raw_values = String::new();
    let mut schema = None;
    let mut requirements = None;
    let mut templates = Vec::new();
    let mut other = Vec::new();
    let mut sub_dirs: std::collections::BTreeMap<String, Vec<ChartFile>> = Default::default();
    let mut sub_archives = Vec::new();
    for f in files {
        match f.name.as_str() {
            "Chart.yaml" => metadata = Some(Metadata::parse(&text(&f.data))?),
            "values.yaml" => raw_values = text(&f.data),
            "values.schema.json" => schema = Some(text(&f.data)),
            "requirements.yaml" => {
                requirements = Some(parse_requirements(&text(&f.data))?);
                other.push(f);
            }
            n if n.starts_with("templates/") => templates.push(f),
            n if n.starts_with("charts/") => {
                let rest = &n["charts/".len()..];
                match rest.split_once('/') {
                    Some((dir, inner)) => {
                        sub_dirs
                            .entry(dir.to_string())
                            .or_default()
                            .push(ChartFile {
                                name: inner.to_string(),
                                data: f.data,
                            })
                    }
                    None if rest.ends_with(".tgz") || rest.ends_with(".tar.gz") => {
                        sub_archives.push(f)
                    }
                    None => other.push(f),
                }
            }
            _ => other.push(f),
        }
    }
    let mut metadata = metadata.ok_or(Error::MissingChartYaml)?;
    if metadata.api_version.is_empty() {
        metadata.api_version = "v1".into();
    }
    if metadata.api_version == "v1" {
        if let Some(deps) = requirements {
            metadata.dependencies = deps;
        }
    }
    metadata.validate()?;
    let values = match early {
        Some(parsed) => parsed,
        None => parse_values(&raw_values),
    }
    .map_err(|msg| Error::Parse {
        file: format!("{}/values.yaml", metadata.name),
        msg,
    })?;
    let mut dependencies = Vec::new();
    for (dir, files) in sub_dirs {
        let sub = from_files(files).map_err(|e| match e {
            Error::MissingChartYaml => Error::Parse {
                file: format!("charts/{dir}"),
                msg: "Chart.yaml file is missing".into(),
            },
            e => e,
        })?;
        dependencies.push(sub);
    }
    for f in sub_archives {
        dependencies.push(load_archive(&f.name, &f.data)?);
    }
    Ok(Chart {
        metadata,
        values,
        raw_values,
        schema,
        templates,
        files: other,
        dependencies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tgz(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (path, body) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // Write the name bytes directly so hostile paths are not normalised away.
            let name = &mut h.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            b.append(&h, body.as_bytes()).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn archive_with_path_escape_is_refused() {
        let bytes = tgz(&[
            (
                "evil/Chart.yaml",
                "apiVersion: v2\nname: evil\nversion: 1.0.0\n",
            ),
            ("evil/../../etc/passwd", "x"),
        ]);
        let err = load_archive("evil.tgz", &bytes).unwrap_err();
        assert!(matches!(err, Error::PathEscape(_)), "{err}");
        assert!(err.to_string().contains("outside the chart"), "{err}");
        let abs = tgz(&[("/etc/passwd", "x")]);
        assert!(matches!(
            load_archive("abs.tgz", &abs).unwrap_err(),
            Error::PathEscape(_)
        ));
    }

    #[test]
    fn archive_loads_with_subchart_dirs() {
        let bytes = tgz(&[
            (
                "app/Chart.yaml",
                "apiVersion: v2\nname: app\nversion: 1.0.0\n",
            ),
            ("app/values.yaml", "a: 1\n"),
            ("app/templates/cm.yaml", "x"),
            (
                "app/charts/sub/Chart.yaml",
                "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
            ),
            ("app/README.md", "hi"),
        ]);
        let c = load_archive("app.tgz", &bytes).unwrap();
        assert_eq!(c.name(), "app");
        assert_eq!(c.templates.len(), 1);
        assert_eq!(c.dependencies[0].name(), "sub");
        assert_eq!(c.file_text("README.md").as_deref(), Some("hi"));
    }

    #[test]
    fn missing_chart_yaml_is_an_error() {
        assert!(matches!(
            from_files(vec![ChartFile {
                name: "values.yaml".into(),
                data: Vec::new().into()
            }]),
            Err(Error::MissingChartYaml)
        ));
    }
}
