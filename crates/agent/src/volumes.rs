//! A pod's volumes on the node, under `<pod dir>/volumes/<kind>/<name>`:
//! emptyDir (a directory, or a tmpfs for `medium: Memory`, sized by `sizeLimit`),
//! hostPath (the host's path, checked by `type`), configMap, secret and
//! downwardAPI (files written from the API, `items` and modes honoured), and
//! persistentVolumeClaim (the bound volume's `hostPath` or `local` path on this node).
//! Teardown unmounts what was mounted and removes the directories.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, KeyToPath, Pod, ProjectedVolumeSource, Volume};

use crate::env::{self, ConfigError, Sources};

/// Host paths of the pod's volumes by name.
pub type Prepared = HashMap<String, PathBuf>;

fn io(what: &str, path: &Path, e: std::io::Error) -> ConfigError {
    ConfigError(format!("failed to {what} {}: {e}", path.display()))
}

fn mount_tmpfs(target: &Path, size: Option<&str>) -> Result<(), ConfigError> {
    use std::os::unix::ffi::OsStrExt;
    let c = |s: &[u8]| std::ffi::CString::new(s).map_err(|_| ConfigError(format!("bad path {}", target.display())));
    let target_c = c(target.as_os_str().as_bytes())?;
    let options = c(size.map(|s| format!("mode=0777,size={s}")).unwrap_or_else(|| "mode=0777".into()).as_bytes())?;
    let fstype = c(b"tmpfs")?;
    // SAFETY: all pointers are NUL-terminated strings living across the call.
    let rc = unsafe { libc::mount(fstype.as_ptr(), target_c.as_ptr(), fstype.as_ptr(), libc::MS_NOSUID | libc::MS_NODEV, options.as_ptr().cast()) };
    if rc != 0 {
        return Err(io("mount tmpfs on", target, std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Whether something is mounted exactly at `path` (per /proc/self/mountinfo).
fn is_mount_point(path: &Path) -> bool {
    let wanted = path.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|info| info.lines().any(|l| l.split(' ').nth(4) == Some(&*wanted)))
}

/// Makes `dir` hold exactly `files` (relative path, bytes, mode), in place: the directory
/// stays the one containers have mounted; a changed file is written beside and renamed
/// over, so readers see the old or the new contents, never a mix; files no longer wanted go.
fn write_files(dir: &Path, files: &[(String, Vec<u8>, i32)]) -> Result<(), ConfigError> {
    std::fs::create_dir_all(dir).map_err(|e| io("create", dir, e))?;
    for (rel, bytes, mode) in files {
        if rel.split('/').any(|p| p == ".." || p.is_empty()) {
            return Err(ConfigError(format!("invalid volume item path {rel:?}")));
        }
        let path = dir.join(rel);
        let unchanged = std::fs::read(&path).is_ok_and(|b| b == *bytes)
            && std::fs::metadata(&path).is_ok_and(|m| m.permissions().mode() & 0o7777 == *mode as u32);
        if unchanged {
            continue;
        }
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).map_err(|e| io("create", parent, e))?;
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let temporary = parent.join(format!("..{file_name}.tmp"));
        std::fs::write(&temporary, bytes).map_err(|e| io("write", &temporary, e))?;
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(*mode as u32)).map_err(|e| io("chmod", &temporary, e))?;
        std::fs::rename(&temporary, &path).map_err(|e| io("replace", &path, e))?;
    }
    let wanted: std::collections::HashSet<PathBuf> = files.iter().map(|(rel, _, _)| dir.join(rel)).collect();
    remove_unwanted(dir, &wanted);
    Ok(())
}

/// Removes the files under `dir` not in `wanted`, and directories left empty.
fn remove_unwanted(dir: &Path, wanted: &std::collections::HashSet<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_unwanted(&path, wanted);
            let _ = std::fs::remove_dir(&path);
        } else if !wanted.contains(&path) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// The files of a configMap/secret volume: every key, or just `items`.
fn select(data: Vec<(String, Vec<u8>)>, items: Option<&Vec<KeyToPath>>, default_mode: i32, missing: &str) -> Result<Vec<(String, Vec<u8>, i32)>, ConfigError> {
    match items {
        None => Ok(data.into_iter().map(|(k, v)| (k, v, default_mode)).collect()),
        Some(items) => items
            .iter()
            .map(|item| {
                let bytes = data.iter().find(|(k, _)| *k == item.key).map(|(_, v)| v.clone());
                let bytes = bytes.ok_or_else(|| ConfigError(format!("{missing}: {}", item.key)))?;
                Ok((item.path.clone(), bytes, item.mode.unwrap_or(default_mode)))
            })
            .collect(),
    }
}

/// The files of downwardAPI items.
fn downward_files(pod: &Pod, items: &[DownwardAPIVolumeFile], mode: i32) -> Vec<(String, Vec<u8>, i32)> {
    let containers = pod.spec.as_ref().map(|s| s.containers.as_slice()).unwrap_or_default();
    items
        .iter()
        .map(|item| {
            let value = match (&item.field_ref, &item.resource_field_ref) {
                (Some(f), _) => env::field(pod, &f.field_path).unwrap_or_default(),
                (None, Some(r)) => {
                    let target = containers.iter().find(|c| Some(c.name.as_str()) == r.container_name.as_deref()).or(containers.first());
                    target.and_then(|c| env::resource_field(c, &r.resource, r.divisor.as_ref().map(|d| d.0.as_str()), 0, 0)).unwrap_or_default()
                }
                (None, None) => String::new(),
            };
            (item.path.clone(), value.into_bytes(), item.mode.unwrap_or(mode))
        })
        .collect()
}

/// The files of a projected volume: a bound service-account token, configMap, secret and downwardAPI sources.
async fn projected_files(pod: &Pod, projected: &ProjectedVolumeSource, sources: &Sources) -> Result<Vec<(String, Vec<u8>, i32)>, ConfigError> {
    let mode = projected.default_mode.unwrap_or(0o644);
    let mut files = Vec::new();
    for source in projected.sources.iter().flatten() {
        if let Some(token) = &source.service_account_token {
            let account = pod.spec.as_ref().and_then(|s| s.service_account_name.clone()).unwrap_or_else(|| "default".into());
            let value = sources.token(&account, pod, token.audience.as_deref(), token.expiration_seconds.unwrap_or(3607)).await?;
            files.push((token.path.clone(), value.into_bytes(), mode));
        }
        if let Some(cm) = &source.config_map {
            match sources.config_map(&cm.name).await? {
                Some(data) => files.extend(select(data.into_iter().map(|(k, v)| (k, v.into_bytes())).collect(), cm.items.as_ref(), mode, "configmap references non-existent config key")?),
                None if cm.optional == Some(true) => {}
                None => return Err(ConfigError(format!("configmap \"{}\" not found", cm.name))),
            }
        }
        if let Some(secret) = &source.secret {
            match sources.secret(&secret.name).await? {
                Some(data) => files.extend(select(data.into_iter().collect(), secret.items.as_ref(), mode, "references non-existent secret key")?),
                None if secret.optional == Some(true) => {}
                None => return Err(ConfigError(format!("secret \"{}\" not found", secret.name))),
            }
        }
        if let Some(downward) = &source.downward_api {
            files.extend(downward_files(pod, downward.items.as_deref().unwrap_or_default(), mode));
        }
    }
    Ok(files)
}

/// Makes every volume of the pod ready on the host.
pub async fn prepare(pod: &Pod, pod_dir: &Path, sources: &Sources) -> Result<Prepared, ConfigError> {
    let mut prepared = Prepared::new();
    let volumes: &[Volume] = pod.spec.as_ref().and_then(|s| s.volumes.as_deref()).unwrap_or_default();
    for volume in volumes {
        match prepare_one(pod, pod_dir, sources, volume).await {
            Ok(Some(path)) => {
                prepared.insert(volume.name.clone(), path);
            }
            Ok(None) => {}
            Err(ConfigError(message)) => {
                return Err(ConfigError(format!("MountVolume.SetUp failed for volume \"{}\" : {message}", volume.name)));
            }
        }
    }
    Ok(prepared)
}

/// Rewrites the pod's configMap and secret volumes from the API's current data, so
/// running containers see changes (as kubelet's periodic sync does); a source that cannot
/// be read now leaves the files as they are. Projected volumes are written at start only
/// (their tokens are renewed by their own expiry, not on every change).
pub async fn refresh(pod: &Pod, pod_dir: &Path, sources: &Sources) {
    let volumes: &[Volume] = pod.spec.as_ref().and_then(|s| s.volumes.as_deref()).unwrap_or_default();
    for volume in volumes.iter().filter(|v| v.config_map.is_some() || v.secret.is_some()) {
        let _ = prepare_one(pod, pod_dir, sources, volume).await;
    }
}

/// One volume's host directory (`None` for a kind this agent does not prepare).
async fn prepare_one(pod: &Pod, pod_dir: &Path, sources: &Sources, volume: &Volume) -> Result<Option<PathBuf>, ConfigError> {
    let dir = |kind: &str| pod_dir.join("volumes").join(kind).join(&volume.name);
    let path = if let Some(empty) = &volume.empty_dir {
        let path = dir("empty-dir");
        std::fs::create_dir_all(&path).map_err(|e| io("create", &path, e))?;
        if empty.medium.as_deref() == Some("Memory") && !is_mount_point(&path) {
            mount_tmpfs(&path, empty.size_limit.as_ref().map(|q| q.0.as_str()))?;
        } else {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).map_err(|e| io("chmod", &path, e))?;
        }
        path
    } else if let Some(host) = &volume.host_path {
        host_path(&host.path, host.type_.as_deref())?
    } else if let Some(claim) = &volume.persistent_volume_claim {
        let pv = sources.persistent_volume(&claim.claim_name).await?;
        let spec = pv.spec.as_ref();
        match (spec.and_then(|s| s.host_path.as_ref()), spec.and_then(|s| s.local.as_ref())) {
            (Some(host), _) => host_path(&host.path, host.type_.as_deref())?,
            (None, Some(local)) => host_path(&local.path, Some("Directory"))?,
            (None, None) => {
                let name = pv.metadata.name.unwrap_or_default();
                return Err(ConfigError(format!("persistentvolume \"{name}\" is neither hostPath nor local: this node cannot mount it")));
            }
        }
    } else if let Some(cm) = &volume.config_map {
        let path = dir("configmap");
        let mode = cm.default_mode.unwrap_or(0o644);
        let files = match sources.config_map(&cm.name).await? {
            Some(data) => select(data.into_iter().map(|(k, v)| (k, v.into_bytes())).collect(), cm.items.as_ref(), mode, "configmap references non-existent config key")?,
            None if cm.optional == Some(true) => Vec::new(),
            None => return Err(ConfigError(format!("configmap \"{}\" not found", cm.name))),
        };
        write_files(&path, &files)?;
        path
    } else if let Some(secret) = &volume.secret {
        let path = dir("secret");
        let name = secret.secret_name.clone().unwrap_or_default();
        let mode = secret.default_mode.unwrap_or(0o644);
        let files = match sources.secret(&name).await? {
            Some(data) => select(data.into_iter().collect(), secret.items.as_ref(), mode, "references non-existent secret key")?,
            None if secret.optional == Some(true) => Vec::new(),
            None => return Err(ConfigError(format!("secret \"{name}\" not found"))),
        };
        write_files(&path, &files)?;
        path
    } else if let Some(downward) = &volume.downward_api {
        let path = dir("downward-api");
        let files = downward_files(pod, downward.items.as_deref().unwrap_or_default(), downward.default_mode.unwrap_or(0o644));
        write_files(&path, &files)?;
        path
    } else if let Some(projected) = &volume.projected {
        let path = dir("projected");
        let files = projected_files(pod, projected, sources).await?;
        write_files(&path, &files)?;
        path
    } else {
        return Ok(None);
    };
    Ok(Some(path))
}

/// Unmounts memory-backed emptyDirs and removes the pod's volume directories.
pub fn teardown(pod_dir: &Path) {
    let empty = pod_dir.join("volumes").join("empty-dir");
    if let Ok(entries) = std::fs::read_dir(&empty) {
        for entry in entries.flatten() {
            if is_mount_point(&entry.path()) {
                use std::os::unix::ffi::OsStrExt;
                if let Ok(c) = std::ffi::CString::new(entry.path().as_os_str().as_bytes()) {
                    // SAFETY: c is a NUL-terminated path.
                    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(pod_dir.join("volumes"));
}

/// A host path checked (or made) as its `type` says.
fn host_path(path_text: &str, type_: Option<&str>) -> Result<PathBuf, ConfigError> {
    let path = PathBuf::from(path_text);
    match type_.unwrap_or_default() {
        "DirectoryOrCreate" => std::fs::create_dir_all(&path).map_err(|e| io("create", &path, e))?,
        "FileOrCreate" if !path.exists() => {
            std::fs::write(&path, b"").map_err(|e| io("create", &path, e))?;
        }
        "Directory" if !path.is_dir() => {
            return Err(ConfigError(format!("hostPath type check failed: {} is not a directory", path_text)));
        }
        "File" if !path.is_file() => {
            return Err(ConfigError(format!("hostPath type check failed: {} is not a file", path_text)));
        }
        "Socket" | "CharDevice" | "BlockDevice" if !path.exists() => {
            return Err(ConfigError(format!("hostPath type check failed: {} does not exist", path_text)));
        }
        _ => {}
    }
    Ok(path)
}
