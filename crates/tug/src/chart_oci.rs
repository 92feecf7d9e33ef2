//! `oci://` charts: the chart crate's Helm layout ([`tug_chart::oci`]) moved through the
//! image crate's registry client ([`tug_image::registry::artifact`]).

use std::path::Path;

use anyhow::Context;
use tug_chart::oci::{self, OciRef};
use tug_image::registry::{self, Artifact, Blob, Options};
use tug_image::Reference;

/// The largest chart archive or provenance file accepted from a registry (Helm refuses
/// charts larger than this too).
const CHART_LIMIT: u64 = 20 << 20;

/// `chart push CHART.tgz oci://HOST/PATH`: the archive (and `CHART.tgz.prov` beside it,
/// when present) under `HOST/PATH/NAME:VERSION`. Returns the reference and digest.
pub fn push(archive: &Path, remote: &str, options: &Options) -> anyhow::Result<(String, String)> {
    let bytes = std::fs::read(archive).with_context(|| format!("reading {}", archive.display()))?;
    let file_name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let chart = tug_chart::load_archive(&file_name, &bytes)?;
    let target = oci::push_reference(remote, &chart.metadata)?;
    let mut layers = vec![Blob {
        media_type: oci::CHART_MEDIA_TYPE.into(),
        bytes,
    }];
    let prov = archive.with_file_name(format!("{file_name}.prov"));
    if prov.exists() {
        layers.push(Blob {
            media_type: oci::PROV_MEDIA_TYPE.into(),
            bytes: std::fs::read(&prov).with_context(|| format!("reading {}", prov.display()))?,
        });
    }
    let created = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let artifact = Artifact {
        config: Some(Blob {
            media_type: oci::CONFIG_MEDIA_TYPE.into(),
            bytes: oci::config(&chart.metadata)?,
        }),
        layers,
        annotations: oci::annotations(&chart.metadata, &created),
    };
    let dest = Reference::parse(&target)?;
    let pushed = registry::push_artifact(&dest, &artifact, options)?;
    Ok((target, pushed.digest.to_string()))
}

/// A chart from `oci://HOST/PATH/NAME[:TAG]`: the tag given, or the newest matching
/// `version` (an exact version, a constraint, or empty for the newest stable).
pub fn pull(reference: &str, version: &str, options: &Options) -> anyhow::Result<oci::Pulled> {
    let r = OciRef::parse(reference)?;
    let target = match &r.digest {
        Some(d) => format!("{}@{d}", r.repository),
        None => {
            let tag = oci::resolve_tag(&r, version, || {
                let repo = Reference::parse(&r.repository)
                    .map_err(|e| tug_chart::Error::Repo(e.to_string()))?;
                registry::list_tags(&repo, options)
                    .map_err(|e| tug_chart::Error::Repo(e.to_string()))
            })?;
            r.with_tag(&tag)
        }
    };
    let pulled = registry::pull_artifact(&Reference::parse(&target)?, options, CHART_LIMIT)?;
    let layers: Vec<(&str, &[u8])> = pulled
        .layers
        .iter()
        .map(|b| (b.media_type.as_str(), b.bytes.as_slice()))
        .collect();
    let chart = oci::read_pulled(
        &format!("{}{target}", oci::SCHEME),
        (&pulled.config.media_type, &pulled.config.bytes),
        &layers,
    )?;
    Ok(chart)
}
