//! Container networking on one host, shared by the node agent (pod networks) and the
//! single-host container engine (`tug run`): a bridge per network with the gateway
//! address, a veth pair per sandbox whose inner end is `eth0` in the sandbox's network
//! namespace, and addresses handed out from the network's range and recorded on disk so
//! a restarted owner never hands one out twice. Links are managed with iproute2's `ip`.
//! The node's service proxy rules ([`proxy`]) are nftables rules loaded with `nft`;
//! [`routes`] reach other nodes' pods through their addresses.
//!
//! Knows nothing of pods or containers: callers name sandboxes by an opaque id and
//! reach them by the PID of a process inside the namespace. Calls no other tug crate.

pub mod bridge;
pub mod proxy;
pub mod routes;

pub use bridge::{run, Network};

/// Why a network operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A network was asked for over a range that is not `A.B.C.D/N` with 8 ≤ N ≤ 30.
    #[error("network {name} has an invalid range {cidr:?}: use A.B.C.D/N with 8 <= N <= 30")]
    InvalidRange { name: String, cidr: String },
    /// Every address of the range is taken.
    #[error("no free address left in {0}")]
    Exhausted(String),
    /// A command or file operation failed.
    #[error("{0}")]
    Io(String),
}
