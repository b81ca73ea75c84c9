//! Upstream host names, resolved off the request path.
//!
//! Each `host:port` an HTTP integration names gets one [`HostSlot`], shared by every snapshot
//! that names it (the [`HostRegistry`] keeps slots by name while any snapshot holds one). The
//! admin side's resolver (`portico_admin::dns`) fills a slot's address and looks the name up
//! again when the record's TTL runs out (bounded by `DNS_TTL_FLOOR_MS` and
//! `DNS_TTL_CEILING_MS`); workers read it with one atomic load ([`HostSlot::addr`]) and never
//! do DNS. A name that does not resolve (yet) still compiles: its slot stays empty and its
//! requests are answered 500 until an address arrives.
//!
//! Pure but for the fallback: lookups go through the [`Lookup`] the resolver installs; without
//! one (unit tests, tools) a new name is resolved once with the system's `getaddrinfo`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock, Mutex, OnceLock, Weak};

use arc_swap::ArcSwapOption;

/// One upstream `host:port` and its current address.
#[derive(Debug)]
pub struct HostSlot {
    /// The name as the integration URI spells it (an IP literal never changes).
    pub host: Box<str>,
    pub port: u16,
    /// `None` until the name first resolved. Replaced whole, so a reader sees an old or a new
    /// address, never a torn one.
    addr: ArcSwapOption<SocketAddr>,
    /// An IP literal: never looked up.
    pub fixed: bool,
}

/// A blocking, bounded lookup of a name's addresses (what a compilation calls for a new name).
pub trait Lookup: Send + Sync {
    fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, String>;
}

/// A slot's name: the host in lowercase and the port.
type HostKey = (Box<str>, u16);

/// Slots by `(host, port)`, kept while any snapshot uses them, so a recompile keeps the
/// addresses already resolved; and the lookup compilations use.
#[derive(Default)]
pub struct HostRegistry {
    slots: Mutex<HashMap<HostKey, Weak<HostSlot>>>,
    lookup: OnceLock<Arc<dyn Lookup>>,
}

static REGISTRY: LazyLock<HostRegistry> = LazyLock::new(HostRegistry::default);

/// The process's registry: one resolver serves every compilation.
pub fn registry() -> &'static HostRegistry {
    &REGISTRY
}

// === impl HostSlot ===

impl HostSlot {
    /// The address to connect to now; `None` while the name has never resolved.
    #[inline]
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr.load().as_deref().copied()
    }

    /// Publishes a lookup's answer: the current address is kept while the answer still lists
    /// it (round-robin DNS does not move traffic around), else the first IPv4 address, else
    /// the first one. An empty answer changes nothing. True when the address changed.
    pub fn publish(&self, ips: &[IpAddr]) -> bool {
        if self.fixed || ips.is_empty() {
            return false;
        }
        if let Some(now) = self.addr() {
            if ips.contains(&now.ip()) {
                return false;
            }
        }
        let ip = ips.iter().find(|ip| ip.is_ipv4()).unwrap_or(&ips[0]);
        self.addr
            .store(Some(Arc::new(SocketAddr::new(*ip, self.port))));
        true
    }

    /// A slot that always holds `addr` (an IP literal, a VPC link pool's first target).
    pub fn fixed(addr: SocketAddr) -> Arc<HostSlot> {
        let slot = HostSlot {
            fixed: true,
            ..HostSlot::new(&addr.ip().to_string(), addr.port())
        };
        slot.addr.store(Some(Arc::new(addr)));
        Arc::new(slot)
    }

    fn new(host: &str, port: u16) -> HostSlot {
        HostSlot {
            host: host.into(),
            port,
            addr: ArcSwapOption::empty(),
            fixed: false,
        }
    }
}

// === impl HostRegistry ===

impl HostRegistry {
    /// Installs the lookup compilations use for new names (the admin side's resolver). Once.
    pub fn set_lookup(&self, lookup: Arc<dyn Lookup>) {
        let _ = self.lookup.set(lookup);
    }

    /// The slot of `host:port`: an IP literal's own, or the one shared with earlier
    /// compilations, or a new one looked up once now (bounded by the lookup). Never fails: a
    /// name that does not resolve gets an empty slot, filled later by the resolver.
    pub fn slot(&self, host: &str, port: u16) -> Arc<HostSlot> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return HostSlot::fixed(SocketAddr::new(ip, port));
        }
        let key = (Box::<str>::from(host.to_ascii_lowercase()), port);
        {
            let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(s) = slots.get(&key).and_then(Weak::upgrade) {
                return s;
            }
        }
        // Looked up outside the lock: a slow name does not hold up other compilations' names.
        let slot = Arc::new(HostSlot::new(host, port));
        let ips = match self.lookup.get() {
            Some(l) => l.lookup(host).unwrap_or_default(),
            None => crate::system::lookup(host, port)
                .map(|a| a.map(|a| a.ip()).collect())
                .unwrap_or_default(),
        };
        slot.publish(&ips);
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.retain(|_, w| w.strong_count() > 0);
        if let Some(s) = slots.get(&key).and_then(Weak::upgrade) {
            return s;
        }
        slots.insert(key, Arc::downgrade(&slot));
        slot
    }

    /// Every slot some snapshot still holds: what the resolver keeps fresh.
    pub fn live(&self) -> Vec<Arc<HostSlot>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.retain(|_, w| w.strong_count() > 0);
        slots.values().filter_map(Weak::upgrade).collect()
    }
}

impl std::fmt::Debug for HostRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostRegistry").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_fixed_and_names_are_shared_and_kept() {
        let r = HostRegistry::default();
        let lit = r.slot("127.0.0.9", 81);
        assert!(lit.fixed);
        assert_eq!(lit.addr(), Some("127.0.0.9:81".parse().unwrap()));
        assert!(!lit.publish(&["127.0.0.1".parse().unwrap()]));
        let a = r.slot("localhost", 80);
        let b = r.slot("LOCALHOST", 80);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(r.live().len(), 1);
        // The current address is kept while an answer still lists it.
        let two: [IpAddr; 2] = ["127.0.0.3".parse().unwrap(), "127.0.0.2".parse().unwrap()];
        a.publish(&two[1..]);
        assert!(!a.publish(&two));
        assert_eq!(a.addr(), Some("127.0.0.2:80".parse().unwrap()));
        assert!(a.publish(&two[..1]));
        assert_eq!(a.addr(), Some("127.0.0.3:80".parse().unwrap()));
        drop((a, b));
        assert!(r.live().is_empty());
    }
}
