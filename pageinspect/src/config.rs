//! pageinspect's configuration: one typed struct, loaded as built-in defaults < TOML file <
//! `HAS_…` environment (see [`shared::config`]). Unknown keys are rejected with the key named.

use serde::{Deserialize, Serialize};
use shared::Secret;
use shared::config::ConfigError;
use shared::telemetry::LogConfig;
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageinspectConfig {
    pub server: ServerConfig,
    pub probe: ProbeConfig,
    pub log: LogConfig,
    /// Defaulted: an unset token leaves an empty table, which the loader drops.
    #[serde(default)]
    pub auth: AuthConfig,
    /// A label naming where this replica probes from (`eu-west`, `dc2`); echoed in logs.
    pub location: String,
    /// Where probes may not connect.
    #[serde(default)]
    pub egress: EgressConfig,
    /// How probes (and the browser's proxy) resolve names.
    #[serde(default)]
    pub resolver: ResolverSection,
    /// Browser probes: the pool of headless Chromium processes.
    #[serde(default)]
    pub browser: BrowserConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowserConfig {
    /// Run browser probes; when false they fail with `browser_error`.
    pub enabled: bool,
    /// The Chromium (or Chrome) binary; never downloaded. Started through `/bin/sh` with
    /// `--remote-debugging-pipe` (the DevTools connection is a pipe on its fds 3 and 4).
    pub executable: std::path::PathBuf,
    /// Browser processes in the pool (started on first use).
    pub pool_size: usize,
    /// Most probes one browser serves at once; a probe waits (within its timeout) for a slot.
    pub max_concurrent_pages: usize,
    /// A browser is replaced after serving this many probes, to bound its memory.
    pub recycle_after: u64,
    /// Where `fill` steps read `secret` values from: `<secrets_dir>/<name>`.
    pub secrets_dir: std::path::PathBuf,
    /// Largest screenshot kept (decoded PNG bytes); a larger one is dropped and the error says so.
    pub max_screenshot_bytes: usize,
}

impl Default for BrowserConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            // Debian's headless shell: no browser UI or windows, about a third of the CPU per
            // probe of the full `chromium` in headless mode (docs/performance.md).
            executable: "/usr/lib/chromium/chromium-headless-shell".into(),
            pool_size: 2,
            max_concurrent_pages: 8,
            recycle_after: 500,
            secrets_dir: "/run/secrets/has".into(),
            max_screenshot_bytes: 2 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressConfig {
    /// CIDRs (or single addresses) probes must never connect to, checked after resolution.
    /// A list in TOML; a comma-separated string in `HAS_EGRESS__DENY_CIDRS`. Empty: no guard.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub deny_cidrs: Vec<String>,
}

impl Default for EgressConfig {
    fn default() -> Self {
        Self {
            deny_cidrs: crate::egress::DEFAULT_DENY_CIDRS
                .iter()
                .map(|c| c.to_string())
                .collect(),
        }
    }
}

impl EgressConfig {
    /// The parsed guard; a bad entry is a [`ConfigError`] naming `egress.deny_cidrs` and it.
    pub fn guard(&self) -> Result<crate::egress::Guard, ConfigError> {
        crate::egress::Guard::new(&self.deny_cidrs).map_err(|e| ConfigError::Key {
            key: "egress.deny_cidrs".into(),
            message: e.to_string(),
        })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolverSection {
    /// DNS servers (`ip` or `ip:port`, port 53 by default) that http, tcp and tls probes and the
    /// browser's proxy resolve names with; empty: the system resolver. A list in TOML; a
    /// comma-separated string in `HAS_RESOLVER__SERVERS`.
    #[serde(default, deserialize_with = "list_or_comma_separated")]
    pub servers: Vec<String>,
}

impl ResolverSection {
    /// The servers as socket addresses; a bad entry is a [`ConfigError`] naming
    /// `resolver.servers` and it.
    pub fn addresses(&self) -> Result<Vec<std::net::SocketAddr>, ConfigError> {
        self.servers
            .iter()
            .map(|entry| {
                let s = entry.trim();
                s.parse::<std::net::SocketAddr>()
                    .or_else(|_| {
                        s.parse::<std::net::IpAddr>()
                            .map(|ip| std::net::SocketAddr::new(ip, 53))
                    })
                    .map_err(|_| ConfigError::Key {
                        key: "resolver.servers".into(),
                        message: format!("{entry:?} is not an address like 10.0.0.53 or ip:port"),
                    })
            })
            .collect()
    }

    /// The resolver probes use.
    pub fn resolver(&self) -> Result<crate::egress::NameResolver, ConfigError> {
        crate::egress::NameResolver::new(&self.addresses()?).map_err(|e| ConfigError::Key {
            key: "resolver.servers".into(),
            message: e.to_string(),
        })
    }
}

/// A TOML list of strings, or one string of comma-separated entries (environment variables).
fn list_or_comma_separated<'de, D>(d: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Entries {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Entries::deserialize(d)? {
        Entries::List(list) => list,
        Entries::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// `ip:port` to listen on; port 0 picks a free port (tests).
    pub listen: String,
    /// actix worker threads; `None`: one per CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    /// The largest request body accepted (413 beyond).
    pub max_request_bytes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Most probes in one `POST /api/v1/probes:batch`.
    pub max_batch: usize,
    /// Most probes in flight across all requests; beyond it requests get 429.
    pub max_concurrency: usize,
    /// Most bytes of a probed response body read; beyond it the probe fails `body_too_large`.
    pub max_body_bytes: usize,
    /// `User-Agent` of http probes that set none.
    pub default_user_agent: String,
}

/// Who may call `/api/`. pageinspect does not start unless a credential is configured
/// ([`AuthConfig::service_token`] and/or [`AuthConfig::oidc`]) or
/// [`AuthConfig::allow_anonymous`] is set explicitly.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// A static bearer token callers present (`HAS_AUTH__SERVICE_TOKEN`); acmangkut sends its
    /// `pageinspect.token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_token: Option<Secret>,
    /// Bearer JWTs from this OpenID Connect provider are accepted when their `aud` is
    /// `oidc.audience` (acmangkut's client-credentials tokens). Only `issuer` and `audience`
    /// are needed to verify; the provider may be down at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<shared::oidc::OidcConfig>,
    /// Accept callers that present no credential. For local experiments only: anyone who can
    /// reach the port can make pageinspect connect anywhere its egress guard allows.
    #[serde(default)]
    pub allow_anonymous: bool,
}

impl AuthConfig {
    /// Whether some credential is configured (a service token or an OIDC audience).
    pub fn has_credential(&self) -> bool {
        self.service_token.is_some() || self.oidc.is_some()
    }

    /// pageinspect's start policy: a credential, or `allow_anonymous` said out loud.
    pub fn require_credential(&self) -> Result<(), ConfigError> {
        if self.has_credential() || self.allow_anonymous {
            return Ok(());
        }
        Err(ConfigError::Key {
            key: "auth".into(),
            message: "pageinspect accepts only authenticated callers: set auth.service_token \
                      (HAS_AUTH__SERVICE_TOKEN) or auth.oidc.issuer and auth.oidc.audience \
                      (HAS_AUTH__OIDC__ISSUER, HAS_AUTH__OIDC__AUDIENCE); for a local \
                      experiment only, auth.allow_anonymous = true"
                .into(),
        })
    }
}

impl PageinspectConfig {
    /// The built-in defaults, the lowest configuration layer.
    pub fn defaults() -> Self {
        Self {
            server: ServerConfig {
                listen: "0.0.0.0:8081".into(),
                workers: None,
                max_request_bytes: 2 * 1024 * 1024,
            },
            probe: ProbeConfig {
                max_batch: 256,
                max_concurrency: 512,
                max_body_bytes: 1024 * 1024,
                default_user_agent: format!("HAS-pageinspect/{}", env!("CARGO_PKG_VERSION")),
            },
            log: LogConfig::with_dir("logs/pageinspect"),
            auth: AuthConfig::default(),
            location: "default".into(),
            egress: EgressConfig::default(),
            resolver: ResolverSection::default(),
            browser: BrowserConfig::default(),
        }
    }

    /// Loads defaults < `file` < environment, then checks what serde cannot, and that callers
    /// will have to authenticate ([`AuthConfig::require_credential`]).
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let config: Self =
            shared::config::load(shared::config::App::Pageinspect, &Self::defaults(), file)?;
        config.validate()?;
        config.auth.require_credential()?;
        Ok(config)
    }

    /// Checks values serde accepts but pageinspect cannot run with; names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| {
            Err(ConfigError::Key {
                key: key.into(),
                message: message.into(),
            })
        };
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            return bad("server.listen", "must be ip:port");
        }
        if self.server.workers == Some(0) {
            return bad("server.workers", "must be at least 1");
        }
        if self.server.max_request_bytes == 0 {
            return bad("server.max_request_bytes", "must be at least 1");
        }
        if self.probe.max_batch == 0 {
            return bad("probe.max_batch", "must be at least 1");
        }
        if self.probe.max_concurrency == 0 {
            return bad("probe.max_concurrency", "must be at least 1");
        }
        if self.probe.max_body_bytes == 0 {
            return bad("probe.max_body_bytes", "must be at least 1");
        }
        if self
            .auth
            .service_token
            .as_ref()
            .is_some_and(|t| t.expose().trim().is_empty())
        {
            return bad("auth.service_token", "must not be empty when set");
        }
        if let Some(oidc) = &self.auth.oidc {
            if url::Url::parse(&oidc.issuer).is_err() {
                return bad(
                    "auth.oidc.issuer",
                    "must be the provider's issuer URL, exactly as its tokens' `iss`",
                );
            }
            if oidc.audience.trim().is_empty() {
                return bad(
                    "auth.oidc.audience",
                    "must name pageinspect's audience (the `aud` its callers' tokens carry)",
                );
            }
        }
        self.egress.guard()?;
        self.resolver.addresses()?;
        if self.browser.pool_size == 0 {
            return bad("browser.pool_size", "must be at least 1");
        }
        if self.browser.max_concurrent_pages == 0 {
            return bad("browser.max_concurrent_pages", "must be at least 1");
        }
        if self.browser.recycle_after == 0 {
            return bad("browser.recycle_after", "must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_known_as_pageinspects_so_a_shared_environment_can_feed_all_binaries() {
        let defaults = serde_json::to_value(PageinspectConfig::defaults()).expect("json");
        shared::config::App::Pageinspect
            .check_against(&defaults, &["server.workers"])
            .expect("owners table");
    }

    fn load_env(pairs: &[(&str, &str)]) -> Result<PageinspectConfig, ConfigError> {
        let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let c: PageinspectConfig =
            shared::config::load_with_env(&PageinspectConfig::defaults(), None, env)?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn defaults_load_unchanged() {
        let c = load_env(&[]).expect("defaults load");
        assert_eq!(c.server.listen, "0.0.0.0:8081");
        assert_eq!(c.probe.max_batch, 256);
        assert_eq!(c.probe.max_concurrency, 512);
        assert_eq!(c.probe.max_body_bytes, 1024 * 1024);
        assert_eq!(c.location, "default");
        assert!(c.auth.service_token.is_none());
    }

    #[test]
    fn the_service_token_comes_from_the_environment_and_never_prints() {
        let c = load_env(&[("HAS_AUTH__SERVICE_TOKEN", "s3cret")]).expect("loads");
        let token = c.auth.service_token.as_ref().expect("token set");
        assert_eq!(token.expose(), "s3cret");
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn without_a_credential_pageinspect_refuses_to_start_unless_anonymous_callers_are_allowed() {
        let e = load_env(&[])
            .expect("the defaults are valid values")
            .auth
            .require_credential()
            .expect_err("no credential: no start");
        assert_eq!(e.key(), Some("auth"));
        assert!(e.to_string().contains("allow_anonymous"), "{e}");
        for allowed in [
            vec![("HAS_AUTH__ALLOW_ANONYMOUS", "true")],
            vec![("HAS_AUTH__SERVICE_TOKEN", "s3cret")],
            vec![
                ("HAS_AUTH__OIDC__ISSUER", "http://127.0.0.1:1"),
                ("HAS_AUTH__OIDC__AUDIENCE", "pageinspect"),
            ],
        ] {
            let c = load_env(&allowed).expect("loads");
            assert!(c.auth.require_credential().is_ok(), "{allowed:?}");
        }
    }

    #[test]
    fn an_oidc_section_needs_an_issuer_url_and_an_audience() {
        for (env, key) in [
            (
                vec![("HAS_AUTH__OIDC__AUDIENCE", "pageinspect")],
                "auth.oidc.issuer",
            ),
            (
                vec![("HAS_AUTH__OIDC__ISSUER", "http://id.example")],
                "auth.oidc.audience",
            ),
        ] {
            let e = load_env(&env).expect_err("incomplete oidc section");
            assert_eq!(e.key(), Some(key), "{env:?}: {e}");
        }
        let c = load_env(&[
            ("HAS_AUTH__OIDC__ISSUER", "http://id.example"),
            ("HAS_AUTH__OIDC__AUDIENCE", "pageinspect"),
        ])
        .expect("loads");
        let oidc = c.auth.oidc.expect("oidc section");
        assert_eq!(
            (oidc.audience.as_str(), oidc.leeway_seconds),
            ("pageinspect", 60)
        );
        assert!(!c.auth.allow_anonymous, "anonymous callers stay refused");
    }

    #[test]
    fn an_unknown_key_is_named() {
        let e = load_env(&[("HAS_PROBE__MAX_BATCHES", "3")]).expect_err("unknown key");
        assert!(e.to_string().contains("max_batches"), "{e}");
    }

    #[test]
    fn the_egress_deny_list_defaults_to_metadata_ranges_and_comes_from_the_environment() {
        let c = load_env(&[]).expect("defaults load");
        assert_eq!(c.egress.deny_cidrs, crate::egress::DEFAULT_DENY_CIDRS);
        let c = load_env(&[("HAS_EGRESS__DENY_CIDRS", "127.0.0.0/8, ::1/128")]).expect("loads");
        assert_eq!(c.egress.deny_cidrs, ["127.0.0.0/8", "::1/128"]);
        let c = load_env(&[("HAS_EGRESS__DENY_CIDRS", "")]).expect("empty list");
        assert!(c.egress.deny_cidrs.is_empty());
    }

    #[test]
    fn a_bad_cidr_fails_naming_the_key_and_the_entry() {
        let e = load_env(&[("HAS_EGRESS__DENY_CIDRS", "10.0.0.0/8,10.0.0/33")]).expect_err("bad");
        assert_eq!(e.key(), Some("egress.deny_cidrs"));
        assert!(e.to_string().contains("10.0.0/33"), "{e}");
    }

    #[test]
    fn a_deny_list_in_a_file_replaces_the_default_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("p.toml");
        std::fs::write(&file, "[egress]\ndeny_cidrs = [\"127.0.0.0/8\"]\n").expect("write");
        let c: PageinspectConfig = shared::config::load_with_env(
            &PageinspectConfig::defaults(),
            Some(&file),
            Vec::<(String, String)>::new(),
        )
        .expect("loads");
        assert_eq!(c.egress.deny_cidrs, ["127.0.0.0/8"]);
    }

    #[test]
    fn a_zero_concurrency_is_rejected_by_key() {
        let e = load_env(&[("HAS_PROBE__MAX_CONCURRENCY", "0")]).expect_err("zero");
        assert_eq!(e.key(), Some("probe.max_concurrency"));
    }
}
