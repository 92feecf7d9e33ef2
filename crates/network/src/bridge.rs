//! One bridged network: a bridge named for the network (so several agents or engines
//! on one machine never share one) holding the first address of its range, a veth pair
//! per sandbox (the sandbox's end is `eth0` in its network namespace) and an address per
//! sandbox from the range, recorded under a state dir so a restarted owner never hands
//! one out twice. A node's pod network is one of these over the node's `spec.podCIDR`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// Whether this network namespace has a link `name` (through /proc, which, unlike
/// /sys, always shows the caller's own namespace).
fn link_exists(name: &str) -> bool {
    Path::new("/proc/sys/net/ipv4/conf").join(name).exists()
}

/// Runs a command, turning a failure into an error naming it and its output.
pub fn run(program: &str, args: &[&str]) -> Result<(), Error> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| Error::Io(format!("run {program}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Io(format!("{program} {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
    }
}

/// [`run`] with `input` on the command's stdin.
fn run_with_input(program: &str, args: &[&str], input: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::Io(format!("run {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| Error::Io(format!("run {program}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Io(format!("{program} {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
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

/// A bridged network.
#[derive(Debug, Clone)]
pub struct Network {
    pub bridge: String,
    pub gateway: Ipv4Addr,
    network: u32,
    prefix: u8,
    ips: PathBuf,
}

impl Network {
    /// The network `name` (a node's name for a pod network) over `cidr` (`10.42.N.0/24`);
    /// addresses recorded under `state_dir`.
    pub fn new(name: &str, cidr: &str, state_dir: &Path) -> Result<Network, Error> {
        Network::with_bridge(&format!("tug{}", short_hash(name)), name, cidr, state_dir)
    }

    /// A network whose bridge has a fixed name (the engine's default `tug0`, which
    /// cannot clash with the `tug` + 8 hex digits of [`Network::new`]).
    pub fn with_bridge(bridge: &str, name: &str, cidr: &str, state_dir: &Path) -> Result<Network, Error> {
        let bad = || Error::InvalidRange { name: name.to_string(), cidr: cidr.to_string() };
        let (addr, prefix) = cidr.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(bad());
        }
        let network = u32::from(addr) & (u32::MAX << (32 - prefix));
        Ok(Network {
            bridge: bridge.to_string(),
            gateway: Ipv4Addr::from(network + 1),
            network,
            prefix,
            ips: state_dir.join("ips"),
        })
    }

    /// Creates the bridge with the gateway address, unless it is there.
    pub fn ensure_bridge(&self) -> Result<(), Error> {
        if link_exists(&self.bridge) {
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

    /// The host end of a sandbox's veth pair.
    pub fn host_veth(id: &str) -> String {
        format!("veth{}", short_hash(id))
    }

    /// Claims a free address for `id` (the same one again if it has one).
    pub fn allocate(&self, id: &str) -> Result<Ipv4Addr, Error> {
        std::fs::create_dir_all(&self.ips).map_err(|e| Error::Io(format!("create {}: {e}", self.ips.display())))?;
        let size = 1u32 << (32 - self.prefix);
        for offset in 2..size - 1 {
            let ip = Ipv4Addr::from(self.network + offset);
            let path = self.ips.join(ip.to_string());
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => {
                    std::fs::write(&path, id).map_err(|e| Error::Io(format!("write {}: {e}", path.display())))?;
                    return Ok(ip);
                }
                Err(_) if std::fs::read_to_string(&path).is_ok_and(|owner| owner == id) => return Ok(ip),
                Err(_) => continue,
            }
        }
        Err(Error::Exhausted(format!("{}/{}", Ipv4Addr::from(self.network), self.prefix)))
    }

    /// Frees every address held by `id`.
    pub fn release(&self, id: &str) {
        if let Ok(entries) = std::fs::read_dir(&self.ips) {
            for entry in entries.flatten() {
                if std::fs::read_to_string(entry.path()).is_ok_and(|owner| owner == id) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }

    /// Wires the sandbox `id` (a process `pid` in its network namespace) to the bridge with `ip`, its default route via the gateway.
    pub fn attach(&self, id: &str, pid: i32, ip: Ipv4Addr) -> Result<(), Error> {
        let target = pid.to_string();
        let host = Network::host_veth(id);
        if link_exists(&host) {
            let _ = run("ip", &["link", "del", &host]);
        }
        // Two `ip -batch` runs in all: one on the host, one in the namespace.
        // Hairpin: a sandbox reaching a service that picks the sandbox itself gets its own
        // (masqueraded) packets back through the port they came in on.
        let outside = format!("link add {host} type veth peer name eth0 netns {target}\nlink set {host} master {} up\nlink set {host} type bridge_slave hairpin on\n", self.bridge);
        run_with_input("ip", &["-batch", "-"], &outside)?;
        let gateway = self.gateway.to_string();
        let address = format!("{ip}/{}", self.prefix);
        // One `ip -batch` inside the namespace: address, link up, default route.
        let all = ["-t", target.as_str(), "-n", "ip", "-batch", "-"];
        let batch = format!("addr add {address} dev eth0\nlink set eth0 up\nroute add default via {gateway}\n");
        run_with_input("nsenter", &all, &batch)
    }

    /// Removes the sandbox's veth pair (its peer goes with it) and frees its address.
    pub fn detach(&self, id: &str) {
        let host = Network::host_veth(id);
        if link_exists(&host) {
            let _ = run("ip", &["link", "del", &host]);
        }
        self.release(id);
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
