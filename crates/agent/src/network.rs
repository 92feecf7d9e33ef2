//! The pod network of one node: a bridge named for the node (so several agents
//! on one machine never share one) holding the first address of the node's
//! `spec.podCIDR`, a veth pair per pod (the pod's end is `eth0` in the sandbox's
//! network namespace) and an address per pod from the node's range, recorded
//! under the data dir so a restarted agent never hands one out twice. Links are
//! managed with `ip` from iproute2.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// Runs a command, turning a failure into an error naming it and its output.
pub fn run(program: &str, args: &[&str]) -> Result<(), Error> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| Error::Internal(format!("run {program}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Internal(format!("{program} {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
    }
}

/// A short stable hash for interface names (at most 15 bytes).
fn short_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    format!("{:08x}", h as u32)
}

/// The node's pod network.
#[derive(Debug, Clone)]
pub struct Network {
    pub bridge: String,
    pub gateway: Ipv4Addr,
    network: u32,
    prefix: u8,
    ips: PathBuf,
}

impl Network {
    /// The network of `node` over `cidr` (`10.42.N.0/24`); addresses recorded under `state_dir`.
    pub fn new(node: &str, cidr: &str, state_dir: &Path) -> Result<Network, Error> {
        let bad = || Error::Internal(format!("node {node} has an invalid spec.podCIDR {cidr:?}"));
        let (addr, prefix) = cidr.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(bad());
        }
        let network = u32::from(addr) & (u32::MAX << (32 - prefix));
        Ok(Network {
            bridge: format!("tug{}", short_hash(node)),
            gateway: Ipv4Addr::from(network + 1),
            network,
            prefix,
            ips: state_dir.join("ips"),
        })
    }

    /// Creates the bridge with the gateway address, unless it is there.
    pub fn ensure_bridge(&self) -> Result<(), Error> {
        if Path::new("/sys/class/net").join(&self.bridge).exists() {
            return Ok(());
        }
        run("ip", &["link", "add", &self.bridge, "type", "bridge"])?;
        run("ip", &["addr", "add", &format!("{}/{}", self.gateway, self.prefix), "dev", &self.bridge])?;
        run("ip", &["link", "set", &self.bridge, "up"])
    }

    /// Removes the bridge (when the node goes away for good).
    pub fn remove_bridge(&self) {
        let _ = run("ip", &["link", "del", &self.bridge]);
    }

    /// The host end of a pod's veth pair.
    pub fn host_veth(pod_uid: &str) -> String {
        format!("veth{}", short_hash(pod_uid))
    }

    /// Claims a free address for `pod_uid` (the same one again if it has one).
    pub fn allocate(&self, pod_uid: &str) -> Result<Ipv4Addr, Error> {
        std::fs::create_dir_all(&self.ips).map_err(|e| Error::Internal(format!("create {}: {e}", self.ips.display())))?;
        let size = 1u32 << (32 - self.prefix);
        for offset in 2..size - 1 {
            let ip = Ipv4Addr::from(self.network + offset);
            let path = self.ips.join(ip.to_string());
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => {
                    std::fs::write(&path, pod_uid).map_err(|e| Error::Internal(format!("write {}: {e}", path.display())))?;
                    return Ok(ip);
                }
                Err(_) if std::fs::read_to_string(&path).is_ok_and(|owner| owner == pod_uid) => return Ok(ip),
                Err(_) => continue,
            }
        }
        Err(Error::Internal(format!("no free pod address left in {}/{}", Ipv4Addr::from(self.network), self.prefix)))
    }

    /// Frees every address held by `pod_uid`.
    pub fn release(&self, pod_uid: &str) {
        if let Ok(entries) = std::fs::read_dir(&self.ips) {
            for entry in entries.flatten() {
                if std::fs::read_to_string(entry.path()).is_ok_and(|owner| owner == pod_uid) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }

    /// Wires the sandbox `pid` to the bridge with `ip`, its default route via the gateway.
    pub fn attach(&self, pod_uid: &str, pid: i32, ip: Ipv4Addr) -> Result<(), Error> {
        let host = Network::host_veth(pod_uid);
        let pid = pid.to_string();
        let _ = run("ip", &["link", "del", &host]);
        run("ip", &["link", "add", &host, "type", "veth", "peer", "name", "eth0", "netns", &pid])?;
        run("ip", &["link", "set", &host, "master", &self.bridge, "up"])?;
        let in_pod = |args: &[&str]| {
            let mut all = vec!["-t", pid.as_str(), "-n", "ip"];
            all.extend_from_slice(args);
            run("nsenter", &all)
        };
        in_pod(&["addr", "add", &format!("{ip}/{}", self.prefix), "dev", "eth0"])?;
        in_pod(&["link", "set", "eth0", "up"])?;
        in_pod(&["route", "add", "default", "via", &self.gateway.to_string()])
    }

    /// Removes the pod's veth pair (its peer goes with it) and frees its address.
    pub fn detach(&self, pod_uid: &str) {
        let host = Network::host_veth(pod_uid);
        if Path::new("/sys/class/net").join(&host).exists() {
            let _ = run("ip", &["link", "del", &host]);
        }
        self.release(pod_uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_in_an_interface_name_and_addresses_are_handed_out_once() {
        let dir = tempfile::tempdir().unwrap();
        let net = Network::new("node-with-a-very-long-name", "10.42.7.0/24", dir.path()).unwrap();
        assert!(net.bridge.len() <= 15 && Network::host_veth("0e9f-uid").len() <= 15);
        assert_eq!(net.gateway, Ipv4Addr::new(10, 42, 7, 1));
        let a = net.allocate("pod-a").unwrap();
        let b = net.allocate("pod-b").unwrap();
        assert_eq!((a, b), (Ipv4Addr::new(10, 42, 7, 2), Ipv4Addr::new(10, 42, 7, 3)));
        assert_eq!(net.allocate("pod-a").unwrap(), a);
        net.release("pod-a");
        assert_eq!(net.allocate("pod-c").unwrap(), a);
        assert!(Network::new("n", "10.42.0.0", dir.path()).is_err());
    }
}
