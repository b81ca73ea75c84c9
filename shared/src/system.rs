//! The one module of `portico-shared` that does I/O: it reads the process environment and asks
//! the system resolver (`getaddrinfo`). Every environment read and host name lookup of this crate
//! goes through these functions, so the model, the compiler's logic, the snapshot and the router
//! stay pure: they call here, or take what was read here as input (`CompileContext` carries the
//! account, the region and the Lambda settings read once). `shared/tests/tidy.rs` fails when
//! another module of the crate names `std::env`, `std::fs`, `ToSocketAddrs` or a socket type.

use std::net::{SocketAddr, ToSocketAddrs};

/// The environment variable `name`, `None` when unset or not Unicode.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The environment variable `name`, `None` when unset, empty or not Unicode.
pub fn env_var_set(name: &str) -> Option<String> {
    env_var(name).filter(|v| !v.is_empty())
}

/// Every address `host:port` resolves to, through the system resolver (blocking).
pub fn lookup(host: &str, port: u16) -> std::io::Result<impl Iterator<Item = SocketAddr>> {
    (host, port).to_socket_addrs()
}

/// Resolves `host:port` once, IPv4 first: `localhost` resolving to ::1 while the upstream
/// listens on 127.0.0.1 only is the common mismatch.
pub fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    match lookup(host, port) {
        Ok(addrs) => prefer_ipv4(addrs).ok_or_else(|| format!("'{host}' did not resolve")),
        Err(e) => Err(format!("'{host}' did not resolve: {e}")),
    }
}

/// The first IPv4 address of `addrs`, else the first one.
pub(crate) fn prefer_ipv4(addrs: impl Iterator<Item = SocketAddr>) -> Option<SocketAddr> {
    let all: Vec<SocketAddr> = addrs.collect();
    all.iter().find(|a| a.is_ipv4()).or(all.first()).copied()
}
