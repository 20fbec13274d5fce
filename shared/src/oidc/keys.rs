//! The provider's signing keys (its JWKS), cached. Which key verifies a token is decided
//! here; when to fetch is decided by the client (`verify.rs`).

use jsonwebtoken::{Algorithm, DecodingKey, jwk::Jwk};
use serde_json::Value;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// One usable public key.
#[derive(Clone)]
pub(crate) struct Key {
    kid: Option<String>,
    /// The JWK's own `alg`, when it pins one.
    alg: Option<Algorithm>,
    key: DecodingKey,
}

/// A JWKS as last fetched.
#[derive(Default)]
pub(crate) struct KeySet {
    keys: Vec<Key>,
    pub fetched_at: Option<Instant>,
}

impl KeySet {
    /// Keeps signature keys we can use; skips encryption keys, symmetric keys and unknown
    /// types instead of failing the whole set (providers publish more than we need).
    pub fn parse(jwks: &Value) -> Result<Self, String> {
        let list = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("JWKS has no `keys` array")?;
        let keys = list.iter().filter_map(usable_key).collect();
        Ok(Self {
            keys,
            fetched_at: Some(Instant::now()),
        })
    }

    /// The key for a token: by `kid`, or the only key of the algorithm's family when the
    /// token names none.
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
        let fits = |k: &&Key| k.alg.is_none_or(|a| a == alg) && k.key.family() == alg.family();
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .filter(fits),
            None => {
                let mut candidates = self.keys.iter().filter(fits);
                candidates.next().filter(|_| candidates.next().is_none())
            }
        }
        .map(|k| k.key.clone())
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }
}

fn usable_key(v: &Value) -> Option<Key> {
    let text = |name| v.get(name).and_then(Value::as_str);
    if text("use").is_some_and(|u| u != "sig") || matches!(text("kty"), Some("oct") | None) {
        return None;
    }
    let alg = match text("alg") {
        Some(name) => Some(super::jws::algorithm(name)?),
        None => None,
    };
    let jwk: Jwk = serde_json::from_value(v.clone()).ok()?;
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some(Key {
        kid: text("kid").map(String::from),
        alg,
        key,
    })
}

/// The cache shared by clones of an `OidcClient`.
#[derive(Default)]
pub(crate) struct KeyCache {
    current: RwLock<Arc<KeySet>>,
    /// Set after a failed fetch or a refetch for an unknown `kid`: no fetch before then.
    quiet_until: RwLock<Option<Instant>>,
    /// One fetch at a time; waiters reuse its result.
    pub fetching: tokio::sync::Mutex<()>,
}

impl KeyCache {
    pub fn current(&self) -> Arc<KeySet> {
        self.current.read().map(|g| g.clone()).unwrap_or_default()
    }

    pub fn replace(&self, set: KeySet) {
        if let Ok(mut g) = self.current.write() {
            *g = Arc::new(set);
        }
    }

    pub fn may_fetch(&self) -> bool {
        let until = self.quiet_until.read().ok().and_then(|g| *g);
        until.is_none_or(|t| Instant::now() >= t)
    }

    pub fn hold_off(&self, period: Duration) {
        if let Ok(mut g) = self.quiet_until.write() {
            *g = Some(Instant::now() + period);
        }
    }
}
