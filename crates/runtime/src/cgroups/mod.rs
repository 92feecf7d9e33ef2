//! Container cgroups: temporary interface stand-in, replaced by the cgroups branch.
use std::path::{Path, PathBuf};
#[derive(Debug, thiserror::Error)]
pub enum CgroupError { #[error("{0}")] Other(String) }
pub type Result<T> = std::result::Result<T, CgroupError>;
#[derive(Debug, Clone)]
pub struct Cgroup { path: PathBuf }
#[derive(Debug, Clone)]
pub struct Hierarchy { pub controllers: String, pub name: String, pub mount_point: PathBuf, pub dir: PathBuf, pub v2: bool }
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Stats {}
impl Cgroup {
    pub fn resolve(cgroups_path: Option<&Path>, id: &str) -> Result<Cgroup> { Ok(Cgroup { path: cgroups_path.map(|p| p.to_path_buf()).unwrap_or_else(|| PathBuf::from(format!("/tug/{id}"))) }) }
    pub fn path(&self) -> &Path { &self.path }
    pub fn open(path: &Path) -> Result<Cgroup> { Ok(Cgroup { path: path.into() }) }
    pub fn create(&self, _r: Option<&oci_spec::runtime::LinuxResources>) -> Result<()> { Ok(()) }
    pub fn apply(&self, _r: &oci_spec::runtime::LinuxResources) -> Result<()> { Ok(()) }
    pub fn add_process(&self, _pid: i32) -> Result<()> { Ok(()) }
    pub fn freeze(&self) -> Result<()> { Ok(()) }
    pub fn thaw(&self) -> Result<()> { Ok(()) }
    pub fn is_frozen(&self) -> Result<bool> { Ok(false) }
    pub fn pids(&self) -> Result<Vec<i32>> { Ok(vec![]) }
    pub fn kill_all(&self, _signal: i32) -> Result<()> { Ok(()) }
    pub fn oom_killed(&self) -> Result<bool> { Ok(false) }
    pub fn stats(&self) -> Result<Stats> { Ok(Stats {}) }
    pub fn remove(&self) -> Result<()> { Ok(()) }
    pub fn hierarchies(&self) -> Vec<Hierarchy> { vec![] }
    pub fn is_unified(&self) -> bool { false }
}
