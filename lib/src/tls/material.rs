//! Loaded TLS material behind a handle that can be swapped while connections still use the old
//! one: a handshake takes the current configuration once, and a reload replaces it for the next.

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;

use super::certificate::Validity;

/// A rustls configuration (`ServerConfig` or `ClientConfig`) and the validity of the certificate
/// it presents, if it presents one.
#[derive(Debug)]
pub struct Material<C> {
    pub config: Arc<C>,
    pub validity: Option<Validity>,
}

impl<C> Material<C> {
    /// Whether the presented certificate (if any) is valid at `now`: a peer would refuse an
    /// expired one, so a tool serving it is not ready.
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        self.validity.is_none_or(|validity| validity.contains(now))
    }
}

/// The material in use. Reading it is one atomic load (no lock on the handshake path); a reload
/// stores a new one, and connections that took the old one keep it until they end.
#[derive(Debug)]
pub struct Reloadable<C> {
    current: ArcSwap<Material<C>>,
}

impl<C> Reloadable<C> {
    pub fn new(material: Material<C>) -> Reloadable<C> {
        Reloadable {
            current: ArcSwap::from_pointee(material),
        }
    }

    /// The material for the next handshake.
    pub fn current(&self) -> Arc<Material<C>> {
        self.current.load_full()
    }

    /// Puts `material` in use for every handshake from now on.
    pub fn replace(&self, material: Material<C>) {
        self.current.store(Arc::new(material));
    }
}
