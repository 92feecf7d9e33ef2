//! Capabilities: temporary interface stand-in, replaced by the seccomp branch.
#[derive(Debug, thiserror::Error)]
pub enum CapabilityError { #[error("{0}")] Other(String) }
pub fn drop_bounding(_c: &oci_spec::runtime::LinuxCapabilities) -> Result<(), CapabilityError> { Ok(()) }
pub fn apply(_c: &oci_spec::runtime::LinuxCapabilities) -> Result<(), CapabilityError> { Ok(()) }
pub fn set_keep_caps(_on: bool) -> Result<(), CapabilityError> { Ok(()) }
