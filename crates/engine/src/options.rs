//! What `tug run` (`create`) asks for, with Docker's flag syntaxes parsed and checked
//! here, so a malformed flag is refused before anything is made.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A container's network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Its own namespace with loopback only.
    None,
    /// Its own namespace on the default bridge `tug0`, an address from 10.88.0.0/16.
    #[default]
    Bridge,
    /// The host's network namespace.
    Host,
    /// Another container's namespace (by name or ID as given; the ID once created).
    Container(String),
}

/// `-v HOST:CTR[:ro]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub host: PathBuf,
    pub container: String,
    pub read_only: bool,
}

/// `-p [IP:]HOSTPORT:CTRPORT[/tcp]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_port: u16,
}

/// Everything `tug run` / `tug create` takes besides the image.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunOptions {
    pub image: String,
    /// CMD override (empty: the image's).
    pub command: Vec<String>,
    pub name: Option<String>,
    /// `K=V` entries, after `--env-file` ones (later wins).
    pub env: Vec<String>,
    pub volumes: Vec<Volume>,
    pub ports: Vec<Port>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub entrypoint: Option<String>,
    /// Bytes.
    pub memory: Option<i64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    pub read_only: bool,
    pub network: NetworkMode,
    pub hostname: Option<String>,
    pub auto_remove: bool,
    pub interactive: bool,
}

fn invalid(flag: &'static str, value: &str, reason: impl Into<String>) -> Error {
    Error::InvalidFlag { flag, value: value.to_string(), reason: reason.into() }
}

/// `-e K=V`, or `-e K` taking K from this process's environment (left out when unset).
pub fn parse_env(value: &str) -> Result<Option<String>> {
    match value.split_once('=') {
        Some(("", _)) => Err(invalid("-e", value, "the variable name is empty: use -e NAME=VALUE")),
        Some(_) => Ok(Some(value.to_string())),
        None if value.is_empty() => Err(invalid("-e", value, "use -e NAME=VALUE")),
        None => Ok(std::env::var(value).ok().map(|v| format!("{value}={v}"))),
    }
}

/// `--env-file FILE`: one `K=V` (or `K`) per line, `#` comments and blank lines skipped.
pub fn parse_env_file(path: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("--env-file {}", path.display()), e))?;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        out.extend(parse_env(line)?);
    }
    Ok(out)
}

/// `-v HOST:CTR[:ro|rw]`; HOST must be an absolute path that exists.
pub fn parse_volume(value: &str) -> Result<Volume> {
    let parts: Vec<&str> = value.split(':').collect();
    let (host, container, mode) = match parts[..] {
        [h, c] => (h, c, "rw"),
        [h, c, m] => (h, c, m),
        _ => return Err(invalid("-v", value, "use -v HOST_PATH:CONTAINER_PATH[:ro]")),
    };
    if !host.starts_with('/') {
        return Err(invalid("-v", value, "the host path must be absolute (named volumes are not supported)"));
    }
    if !container.starts_with('/') {
        return Err(invalid("-v", value, "the container path must be absolute"));
    }
    if !std::path::Path::new(host).exists() {
        return Err(invalid("-v", value, format!("host path {host} does not exist")));
    }
    let read_only = match mode {
        "ro" => true,
        "rw" => false,
        other => return Err(invalid("-v", value, format!("unknown mode {other:?}: use ro or rw"))),
    };
    Ok(Volume { host: PathBuf::from(host), container: container.to_string(), read_only })
}

/// `-p [IP:]HOSTPORT:CTRPORT[/tcp]` (host address 0.0.0.0 unless given).
pub fn parse_port(value: &str) -> Result<Port> {
    let spec = match value.rsplit_once('/') {
        Some((spec, "tcp")) => spec,
        Some((_, proto)) => return Err(invalid("-p", value, format!("protocol {proto:?} is not supported: only tcp"))),
        None => value,
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (ip, host, ctr) = match parts[..] {
        [h, c] => ("0.0.0.0", h, c),
        [ip, h, c] => (ip, h, c),
        _ => return Err(invalid("-p", value, "use -p [IP:]HOST_PORT:CONTAINER_PORT")),
    };
    let port = |p: &str, which: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| invalid("-p", value, format!("{which} port {p:?} is not a number from 1 to 65535")))
    };
    let host_ip = ip.parse().map_err(|_| invalid("-p", value, format!("{ip:?} is not an IPv4 address")))?;
    Ok(Port { host_ip, host_port: port(host, "host")?, container_port: port(ctr, "container")? })
}

/// `--memory 64m` (b, k, m, g suffixes, at least 6 MiB as Docker requires).
pub fn parse_memory(value: &str) -> Result<i64> {
    let lower = value.to_ascii_lowercase();
    let (digits, unit) = match lower.trim_end_matches('b').char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&lower[..i], c),
        _ => (lower.trim_end_matches('b'), 'b'),
    };
    let scale: i64 = match unit {
        'b' => 1,
        'k' => 1 << 10,
        'm' => 1 << 20,
        'g' => 1 << 30,
        _ => return Err(invalid("--memory", value, "use a number with an optional b, k, m or g suffix")),
    };
    let n: f64 = digits.parse().map_err(|_| invalid("--memory", value, "use a number with an optional b, k, m or g suffix"))?;
    let bytes = (n * scale as f64) as i64;
    if bytes < 6 << 20 {
        return Err(invalid("--memory", value, "the minimum memory limit is 6m"));
    }
    Ok(bytes)
}

/// `--cpus 1.5`.
pub fn parse_cpus(value: &str) -> Result<f64> {
    value
        .parse::<f64>()
        .ok()
        .filter(|c| *c > 0.0 && c.is_finite())
        .ok_or_else(|| invalid("--cpus", value, "use a positive number of CPUs such as 0.5 or 2"))
}

/// `--network none|bridge|host|container:NAME`.
pub fn parse_network(value: &str) -> Result<NetworkMode> {
    match value {
        "none" => Ok(NetworkMode::None),
        "bridge" | "default" => Ok(NetworkMode::Bridge),
        "host" => Ok(NetworkMode::Host),
        other => match other.strip_prefix("container:") {
            Some(name) if !name.is_empty() => Ok(NetworkMode::Container(name.to_string())),
            _ => Err(invalid("--network", value, "use none, bridge, host or container:NAME")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_as_docker_writes_them_and_bad_ones_say_why() {
        assert_eq!(parse_port("8080:80").unwrap(), Port { host_ip: Ipv4Addr::UNSPECIFIED, host_port: 8080, container_port: 80 });
        assert_eq!(parse_port("127.0.0.1:8080:80/tcp").unwrap().host_ip, Ipv4Addr::LOCALHOST);
        assert!(parse_port("80").unwrap_err().to_string().contains("HOST_PORT:CONTAINER_PORT"));
        assert!(parse_port("x:80").unwrap_err().to_string().contains("host port \"x\""));
        assert!(parse_port("1:2/udp").unwrap_err().to_string().contains("only tcp"));
        assert_eq!(parse_memory("64m").unwrap(), 64 << 20);
        assert_eq!(parse_memory("1g").unwrap(), 1 << 30);
        assert!(parse_memory("1k").is_err() && parse_memory("lots").is_err());
        assert_eq!(parse_cpus("0.5").unwrap(), 0.5);
        assert!(parse_cpus("-1").is_err());
        assert_eq!(parse_network("container:web").unwrap(), NetworkMode::Container("web".into()));
        assert!(parse_network("overlay").is_err());
        assert_eq!(parse_env("A=1").unwrap(), Some("A=1".into()));
        assert!(parse_env("=1").is_err());
        assert!(parse_volume("rel:/x").is_err() && parse_volume("/:/x:rx").is_err());
        assert!(parse_volume("/:/host:ro").unwrap().read_only);
    }
}
