//! Charts in OCI registries, laid out as Helm 3.8+ stores them: one manifest per chart
//! version under `HOST/PATH/NAME:VERSION` (`+` in a version becomes `_` in the tag),
//! whose config is the chart's metadata as JSON
//! (`application/vnd.cncf.helm.config.v1+json`) and whose layers are the chart archive
//! (`application/vnd.cncf.helm.chart.content.v1.tar+gzip`) and, when signed, its
//! provenance file (`application/vnd.cncf.helm.chart.provenance.v1.prov`).
//!
//! This module is pure: it names what to push and reads what was pulled; the bytes move
//! through the image crate's registry client, wired in by the caller.

use std::collections::BTreeMap;

use tug_gotemplate::funcs::semver::{Constraints, Version};

use crate::chartfile::Metadata;
use crate::Error;

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
pub const CHART_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
pub const PROV_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";
/// The scheme that marks a chart reference as a registry's.
pub const SCHEME: &str = "oci://";

/// Whether a chart reference names a registry (`oci://…`).
pub fn is_oci(reference: &str) -> bool {
    reference.starts_with(SCHEME)
}

/// The tag a chart version is stored under: OCI tags may not hold `+`.
pub fn tag_of(version: &str) -> String {
    version.replace('+', "_")
}

/// The chart version a tag stands for.
pub fn version_of_tag(tag: &str) -> String {
    tag.replace('_', "+")
}

/// A chart reference in a registry: `oci://HOST/PATH/NAME[:TAG][@DIGEST]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OciRef {
    /// `HOST/PATH/NAME`, without scheme, tag or digest.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl OciRef {
    pub fn parse(reference: &str) -> Result<OciRef, Error> {
        let bad = |why: &str| {
            Error::Repo(format!(
                "invalid OCI chart reference {reference:?}: {why} (expected oci://HOST/PATH/NAME[:VERSION])"
            ))
        };
        let rest = reference
            .strip_prefix(SCHEME)
            .ok_or_else(|| bad("it does not start with oci://"))?;
        let (rest, digest) = match rest.split_once('@') {
            Some((r, d)) => (r, Some(d.to_string())),
            None => (rest, None),
        };
        // A tag follows the last `:` after the last `/` (a `:` before it is a port).
        let slash = rest.rfind('/').ok_or_else(|| bad("no repository path"))?;
        let (repository, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(rest[slash + i + 1..].to_string())),
            None => (rest, None),
        };
        if repository[..slash.min(repository.len())].is_empty()
            || repository.ends_with('/')
            || tag.as_deref() == Some("")
        {
            return Err(bad("empty host, name or tag"));
        }
        Ok(OciRef {
            repository: repository.to_string(),
            tag,
            digest,
        })
    }

    /// The chart name: the repository's last path element.
    pub fn name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }

    /// `HOST/PATH/NAME:TAG` (or `@DIGEST`), as the registry client takes it.
    pub fn with_tag(&self, tag: &str) -> String {
        format!("{}:{tag}", self.repository)
    }
}

/// Where `helm push CHART oci://HOST/PATH` puts a chart: `HOST/PATH/NAME:VERSION`.
/// The remote names a place, not a chart, so it may carry no tag or digest.
pub fn push_reference(remote: &str, metadata: &Metadata) -> Result<String, Error> {
    let base = remote.strip_prefix(SCHEME).ok_or_else(|| {
        Error::Repo(format!(
            "invalid OCI remote {remote:?}: it must start with oci:// (e.g. oci://localhost:5000/charts)"
        ))
    })?;
    let base = base.trim_end_matches('/');
    let last = base.rsplit('/').next().unwrap_or(base);
    if base.is_empty() || base.contains('@') || (base.contains('/') && last.contains(':')) {
        return Err(Error::Repo(format!(
            "invalid OCI remote {remote:?}: give the repository without a chart tag or digest; \
             the chart's name and version are appended"
        )));
    }
    Ok(format!(
        "{base}/{}:{}",
        metadata.name,
        tag_of(&metadata.version)
    ))
}

/// The config blob: the chart's metadata as JSON, as Helm writes it.
pub fn config(metadata: &Metadata) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(metadata).map_err(|e| Error::Repo(format!("encoding Chart.yaml: {e}")))
}

/// The manifest's annotations, as Helm sets them: the chart's own annotations, then the
/// OCI ones from its metadata (title, version, description, URL, source, authors,
/// created at `created`, RFC 3339).
pub fn annotations(metadata: &Metadata, created: &str) -> BTreeMap<String, String> {
    let mut out = metadata.annotations.clone();
    let mut set = |k: &str, v: &str| {
        if !v.is_empty() {
            out.insert(format!("org.opencontainers.image.{k}"), v.to_string());
        }
    };
    set("title", &metadata.name);
    set("version", &metadata.version);
    set("description", &metadata.description);
    set("url", &metadata.home);
    set(
        "source",
        metadata.sources.first().map(String::as_str).unwrap_or(""),
    );
    let authors: Vec<String> = metadata
        .maintainers
        .iter()
        .map(|m| {
            if m.email.is_empty() {
                m.name.clone()
            } else {
                format!("{} ({})", m.name, m.email)
            }
        })
        .collect();
    set("authors", &authors.join(", "));
    set("created", created);
    out
}

/// The tag to fetch: the reference's own, else the version asked for when it is an
/// exact version, else the newest of `tags` matching `constraint` (the newest stable
/// one when empty), as Helm resolves it. `tags` is only consulted in that last case;
/// pass a closure that lists them.
pub fn resolve_tag(
    reference: &OciRef,
    constraint: &str,
    tags: impl FnOnce() -> Result<Vec<String>, Error>,
) -> Result<String, Error> {
    if let Some(tag) = &reference.tag {
        if !constraint.is_empty() && version_of_tag(tag) != constraint {
            return Err(Error::Repo(format!(
                "chart reference {}:{tag} and --version {constraint} disagree: give one",
                reference.repository
            )));
        }
        return Ok(tag.clone());
    }
    if Version::parse(constraint).is_ok() {
        return Ok(tag_of(constraint));
    }
    let c = if constraint.is_empty() {
        None
    } else {
        Some(Constraints::parse(constraint).map_err(|e| {
            Error::Repo(format!(
                "invalid chart version constraint {constraint:?}: {e}"
            ))
        })?)
    };
    let mut best: Option<(Version, String)> = None;
    for tag in tags()? {
        let Ok(v) = Version::parse(&version_of_tag(&tag)) else {
            continue; // not a chart version (e.g. `latest`)
        };
        let fits = match &c {
            Some(c) => c.check(&v),
            None => v.pre.is_empty(),
        };
        if fits && best.as_ref().is_none_or(|(b, _)| v.compare(b).is_gt()) {
            best = Some((v, tag));
        }
    }
    best.map(|(_, t)| t).ok_or_else(|| {
        let wanted = if constraint.is_empty() {
            "a stable version".to_string()
        } else {
            format!("version {constraint:?}")
        };
        Error::Repo(format!(
            "{}{}: no tag is {wanted}",
            SCHEME, reference.repository
        ))
    })
}

/// A chart as pulled from a registry.
#[derive(Clone, Debug)]
pub struct Pulled {
    pub metadata: Metadata,
    /// The `.tgz`.
    pub archive: Vec<u8>,
    /// The `.prov`, when the chart was pushed signed.
    pub provenance: Option<Vec<u8>>,
}

impl Pulled {
    /// `NAME-VERSION.tgz`, as `helm pull` names the file.
    pub fn file_name(&self) -> String {
        format!("{}-{}.tgz", self.metadata.name, self.metadata.version)
    }
}

/// Reads a pulled manifest's config (media type and bytes) and layers: a Helm chart has
/// the Helm config type, exactly one chart layer and at most one provenance layer.
pub fn read_pulled(
    reference: &str,
    config: (&str, &[u8]),
    layers: &[(&str, &[u8])],
) -> Result<Pulled, Error> {
    let not_chart = |why: String| Error::Repo(format!("{reference} is not a Helm chart: {why}"));
    if config.0 != CONFIG_MEDIA_TYPE {
        return Err(not_chart(format!(
            "its config is {}, not {CONFIG_MEDIA_TYPE}",
            config.0
        )));
    }
    let metadata: Metadata = serde_json::from_slice(config.1)
        .map_err(|e| not_chart(format!("its config is not chart metadata: {e}")))?;
    let of = |t: &str| layers.iter().filter(|(m, _)| *m == t).collect::<Vec<_>>();
    let charts = of(CHART_MEDIA_TYPE);
    let provs = of(PROV_MEDIA_TYPE);
    let [chart] = charts.as_slice() else {
        return Err(not_chart(format!(
            "it has {} layers of type {CHART_MEDIA_TYPE}, not one",
            charts.len()
        )));
    };
    if provs.len() > 1 {
        return Err(not_chart(format!(
            "it has {} provenance layers",
            provs.len()
        )));
    }
    Ok(Pulled {
        metadata,
        archive: chart.1.to_vec(),
        provenance: provs.first().map(|p| p.1.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, version: &str) -> Metadata {
        Metadata {
            api_version: "v2".into(),
            name: name.into(),
            version: version.into(),
            ..Metadata::default()
        }
    }

    #[test]
    fn references_split_into_repository_tag_and_digest() {
        let r = OciRef::parse("oci://localhost:5000/charts/nginx:1.2.3_build").unwrap();
        assert_eq!(r.repository, "localhost:5000/charts/nginx");
        assert_eq!(r.tag.as_deref(), Some("1.2.3_build"));
        assert_eq!(r.name(), "nginx");
        let r = OciRef::parse("oci://localhost:5000/nginx@sha256:abc").unwrap();
        assert_eq!((r.tag, r.digest.as_deref()), (None, Some("sha256:abc")));
        let r = OciRef::parse("oci://reg.example/a/b").unwrap();
        assert_eq!((r.repository.as_str(), r.tag), ("reg.example/a/b", None));
        for bad in ["localhost/x", "oci://localhost", "oci://h/x:", "oci:///x"] {
            assert!(OciRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn push_goes_under_the_chart_name_with_the_version_as_tag() {
        let m = meta("web", "1.0.0+abc");
        assert_eq!(
            push_reference("oci://127.0.0.1:5000/charts/", &m).unwrap(),
            "127.0.0.1:5000/charts/web:1.0.0_abc"
        );
        assert_eq!(
            push_reference("oci://127.0.0.1:5000", &m).unwrap(),
            "127.0.0.1:5000/web:1.0.0_abc"
        );
        let e = push_reference("oci://h/charts/web:1.0", &m).unwrap_err();
        assert!(e.to_string().contains("without a chart tag"), "{e}");
        assert!(push_reference("h/charts", &m).is_err());
    }

    #[test]
    fn tags_resolve_as_helm_picks_versions() {
        let r = OciRef::parse("oci://h/c/app").unwrap();
        let tags = || {
            Ok(["0.9.0", "1.0.0", "1.2.0_meta", "2.0.0-rc.1", "latest"]
                .map(String::from)
                .to_vec())
        };
        assert_eq!(resolve_tag(&r, "", tags).unwrap(), "1.2.0_meta");
        assert_eq!(resolve_tag(&r, "~1.0", tags).unwrap(), "1.0.0");
        assert_eq!(resolve_tag(&r, ">=2.0.0-0", tags).unwrap(), "2.0.0-rc.1");
        // An exact version is a tag; no listing needed.
        assert_eq!(
            resolve_tag(&r, "3.0.0+x", || panic!("listed")).unwrap(),
            "3.0.0_x"
        );
        let e = resolve_tag(&r, "^5", tags).unwrap_err().to_string();
        assert!(e.contains("no tag is version \"^5\""), "{e}");
        let tagged = OciRef::parse("oci://h/c/app:1.0.0").unwrap();
        assert_eq!(resolve_tag(&tagged, "", tags).unwrap(), "1.0.0");
        assert!(resolve_tag(&tagged, "2.0.0", tags).is_err());
    }

    #[test]
    fn pulled_manifests_must_hold_one_chart_layer_under_helms_config() {
        let cfg = config(&meta("web", "1.0.0")).unwrap();
        let p = read_pulled(
            "r",
            (CONFIG_MEDIA_TYPE, &cfg),
            &[(CHART_MEDIA_TYPE, b"tgz"), (PROV_MEDIA_TYPE, b"prov")],
        )
        .unwrap();
        assert_eq!(p.file_name(), "web-1.0.0.tgz");
        assert_eq!(p.provenance.as_deref(), Some(&b"prov"[..]));
        let image = read_pulled(
            "r",
            ("application/vnd.oci.image.config.v1+json", b"{}"),
            &[],
        )
        .unwrap_err();
        assert!(image.to_string().contains("is not a Helm chart"), "{image}");
        let none = read_pulled("r", (CONFIG_MEDIA_TYPE, &cfg), &[]).unwrap_err();
        assert!(none.to_string().contains("0 layers"), "{none}");
    }

    #[test]
    fn annotations_carry_the_metadata() {
        let mut m = meta("web", "1.0.0");
        m.description = "A web server".into();
        m.maintainers = vec![crate::chartfile::Maintainer {
            name: "Ann".into(),
            email: "ann@example.com".into(),
            url: String::new(),
        }];
        let a = annotations(&m, "2026-11-27T00:00:00Z");
        assert_eq!(a["org.opencontainers.image.title"], "web");
        assert_eq!(a["org.opencontainers.image.version"], "1.0.0");
        assert_eq!(
            a["org.opencontainers.image.authors"],
            "Ann (ann@example.com)"
        );
        assert!(!a.contains_key("org.opencontainers.image.url"));
    }
}
