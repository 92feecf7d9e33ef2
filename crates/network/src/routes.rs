//! Routes to other nodes' pod ranges through those nodes' addresses, as flannel's
//! host-gw backend makes them: a node whose address is on a directly connected network
//! gets `ip route replace <podCIDR> via <address>`; a node behind a gateway is left to
//! the host's own routes. Nodes sharing this host's network namespace need none (their
//! bridges are connected routes).

use std::net::Ipv4Addr;
use std::process::Command;

use crate::{run, Error};

/// Whether `address` is reached without a gateway (`ip route get` names no `via`) and
/// is not one of this host's own.
pub fn directly_reachable(address: Ipv4Addr) -> bool {
    let Ok(out) = Command::new("ip").args(["-o", "route", "get", &address.to_string()]).output() else {
        return false;
    };
    let route = String::from_utf8_lossy(&out.stdout);
    out.status.success() && !route.starts_with("local ") && !route.contains(" via ")
}

/// Routes `cidr` through `via`, replacing any route to it.
pub fn add(cidr: &str, via: Ipv4Addr) -> Result<(), Error> {
    run("ip", &["route", "replace", cidr, "via", &via.to_string()])
}

/// Removes the route to `cidr` through `via`, if there is one.
pub fn remove(cidr: &str, via: Ipv4Addr) {
    let _ = run("ip", &["route", "del", cidr, "via", &via.to_string()]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_own_addresses_are_not_routes_to_other_nodes() {
        if Command::new("ip").arg("-V").output().is_err() {
            return;
        }
        assert!(!directly_reachable(Ipv4Addr::LOCALHOST));
    }
}
