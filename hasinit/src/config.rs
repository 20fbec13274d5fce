//! hasinit's configuration: one typed struct, loaded as built-in defaults < TOML file <
//! `HAS_…` environment (see [`shared::config`]). Unknown keys are rejected with the key named.

use serde::{Deserialize, Serialize};
use shared::Secret;
use shared::config::ConfigError;
use shared::telemetry::LogConfig;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HasinitConfig {
    pub acmangkut: AcmangkutConfig,
    pub wait: WaitConfig,
    /// Defaulted: an unset path leaves an empty table, which the loader drops.
    #[serde(default)]
    pub manifest: ManifestConfig,
    pub admin: AdminConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmangkutConfig {
    /// Base URL of acmangkut (`http://acmangkut:8080`).
    pub url: String,
    /// The bootstrap token acmangkut was started with (`HAS_IAM__BOOTSTRAP_TOKEN` there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// A file holding the bootstrap token (a mounted Kubernetes Secret); trailing whitespace is
    /// ignored. Set this or `token`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitConfig {
    /// How long to wait for acmangkut's `/readyz` before giving up (exit 3).
    pub max_seconds: u64,
    /// The first pause between `/readyz` attempts; it doubles (with jitter) up to 5 s.
    pub initial_backoff_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestConfig {
    /// A manifest file to apply instead of the embedded default; `--manifest` wins over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// The first admin's username, created when no user holds the `admin` role.
    pub username: String,
    /// Its password; unset: a strong one is generated and printed once on stdout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
}

impl HasinitConfig {
    /// The built-in defaults, the lowest configuration layer.
    pub fn defaults() -> Self {
        Self {
            acmangkut: AcmangkutConfig {
                url: "http://127.0.0.1:8080".into(),
                token: None,
                token_file: None,
            },
            wait: WaitConfig {
                max_seconds: 120,
                initial_backoff_ms: 250,
            },
            manifest: ManifestConfig::default(),
            admin: AdminConfig {
                username: "admin".into(),
                password: None,
            },
            // A one-shot job: its logs belong on stdout (collected with the Job's pod); no
            // files unless `log.dir` is set.
            log: LogConfig::with_dir(""),
        }
    }

    /// Loads defaults < `file` < environment, then checks what serde cannot.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let config: Self =
            shared::config::load(shared::config::App::Hasinit, &Self::defaults(), file)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values serde accepts but hasinit cannot run with; names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match url::Url::parse(&self.acmangkut.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
            _ => return Err(bad("acmangkut.url", "must be an http:// or https:// URL")),
        }
        if self.acmangkut.token.is_some() && self.acmangkut.token_file.is_some() {
            return Err(bad(
                "acmangkut.token",
                "set acmangkut.token or acmangkut.token_file, not both",
            ));
        }
        if self.acmangkut.token.as_ref().is_some_and(blank) {
            return Err(bad("acmangkut.token", "must not be empty when set"));
        }
        if self.wait.initial_backoff_ms == 0 {
            return Err(bad("wait.initial_backoff_ms", "must be at least 1"));
        }
        if self.admin.username.trim().is_empty() {
            return Err(bad("admin.username", "must not be empty"));
        }
        if self.admin.password.as_ref().is_some_and(blank) {
            return Err(bad("admin.password", "must not be empty when set"));
        }
        Ok(())
    }

    /// The bootstrap token, from `acmangkut.token` or read from `acmangkut.token_file`.
    pub fn token(&self) -> Result<Secret, ConfigError> {
        if let Some(token) = &self.acmangkut.token {
            return Ok(token.clone());
        }
        let Some(path) = &self.acmangkut.token_file else {
            return Err(bad(
                "acmangkut.token",
                "the bootstrap token is required (HAS_ACMANGKUT__TOKEN, or acmangkut.token_file)",
            ));
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            bad(
                "acmangkut.token_file",
                &format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let token = text.trim_end();
        if token.trim().is_empty() {
            return Err(bad(
                "acmangkut.token_file",
                &format!("{} is empty", path.display()),
            ));
        }
        Ok(Secret::new(token))
    }

    pub fn max_wait(&self) -> Duration {
        Duration::from_secs(self.wait.max_seconds)
    }

    pub fn initial_backoff(&self) -> Duration {
        Duration::from_millis(self.wait.initial_backoff_ms)
    }
}

fn blank(s: &Secret) -> bool {
    s.expose().trim().is_empty()
}

fn bad(key: &str, message: &str) -> ConfigError {
    ConfigError::Key {
        key: key.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_known_as_hasinits_so_a_shared_environment_can_feed_all_binaries() {
        let defaults = serde_json::to_value(HasinitConfig::defaults()).expect("json");
        shared::config::App::Hasinit
            .check_against(&defaults, &[])
            .expect("owners table");
    }

    fn load_env(pairs: &[(&str, &str)]) -> Result<HasinitConfig, ConfigError> {
        let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let c: HasinitConfig =
            shared::config::load_with_env(&HasinitConfig::defaults(), None, env)?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn defaults_load_unchanged() {
        let c = load_env(&[]).expect("defaults load");
        assert_eq!(c.acmangkut.url, "http://127.0.0.1:8080");
        assert_eq!(c.wait.max_seconds, 120);
        assert_eq!(c.admin.username, "admin");
        assert!(c.acmangkut.token.is_none() && c.admin.password.is_none());
        assert!(c.manifest.path.is_none());
    }

    #[test]
    fn secrets_come_from_the_environment_and_never_print() {
        let c = load_env(&[
            ("HAS_ACMANGKUT__TOKEN", "boot-s3cret"),
            ("HAS_ADMIN__PASSWORD", "pw-s3cret"),
        ])
        .expect("loads");
        assert_eq!(c.token().expect("token").expose(), "boot-s3cret");
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn the_token_is_read_from_a_file_without_its_trailing_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").expect("write");
        let path = file.display().to_string();
        let c = load_env(&[("HAS_ACMANGKUT__TOKEN_FILE", &path)]).expect("loads");
        assert_eq!(c.token().expect("token").expose(), "from-file");
    }

    #[test]
    fn bad_values_are_named_by_their_key() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("HAS_ACMANGKUT__URL", "127.0.0.1:8080")], "acmangkut.url"),
            (&[("HAS_WAIT__MAX_SECONDS", "soon")], "wait.max_seconds"),
            (
                &[("HAS_WAIT__INITIAL_BACKOFF_MS", "0")],
                "wait.initial_backoff_ms",
            ),
            (&[("HAS_ADMIN__USERNAME", " ")], "admin.username"),
            (&[("HAS_ADMIN__PASSWORD", "")], "admin.password"),
            (
                &[
                    ("HAS_ACMANGKUT__TOKEN", "a"),
                    ("HAS_ACMANGKUT__TOKEN_FILE", "/x"),
                ],
                "acmangkut.token",
            ),
        ];
        for (env, key) in cases {
            let e = load_env(env).expect_err(key);
            assert_eq!(e.key(), Some(*key), "{e}");
        }
    }

    #[test]
    fn a_missing_token_or_unreadable_token_file_is_named() {
        let c = load_env(&[]).expect("loads");
        assert_eq!(c.token().expect_err("none").key(), Some("acmangkut.token"));
        let c = load_env(&[("HAS_ACMANGKUT__TOKEN_FILE", "/nonexistent/token")]).expect("loads");
        assert_eq!(
            c.token().expect_err("unreadable").key(),
            Some("acmangkut.token_file")
        );
    }
}
