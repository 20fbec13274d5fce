//! acmangkut's configuration: one typed struct, defaults < TOML file < `HAS_…` environment.
//! Every key is documented in `acmangkut/config.example.toml` and `docs/configuration.md`.

use serde::{Deserialize, Serialize};
use shared::Secret;
use shared::telemetry::LogConfig;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub pageinspect: PageinspectConfig,
    pub scheduler: SchedulerConfig,
    pub retention: RetentionConfig,
    pub metric_log: MetricLogConfig,
    pub iam: IamConfig,
    pub inspection: InspectionConfig,
    /// Where plan and drill actions run: the hosts reachable over SSH.
    #[serde(default)]
    pub executor: ExecutorConfig,
    /// The execution engine of disaster-recovery plans.
    #[serde(default)]
    pub plans: PlansConfig,
    /// Config-as-code documents applied at start-up.
    #[serde(default)]
    pub config: CodeConfig,
    /// The reconcile loop of fault drills.
    #[serde(default)]
    pub drills: DrillsConfig,
    /// HAS's own HTTP clients (webhooks, checks, pageinspect, the identity provider).
    pub outbound: shared::outbound::OutboundConfig,
    pub log: LogConfig,
}

/// `[config]`: config as code applied at start-up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CodeConfig {
    /// A directory whose `*.yaml` files (the format of `GET /api/v1/config`) are applied, in
    /// name order, before the server answers; empty: none. A bad document stops the start.
    pub apply_dir: String,
}

/// `[plans]`: how this replica drives plan executions (claimed by lease, like inspection runs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlansConfig {
    pub enabled: bool,
    /// How often to claim executions, renew their leases and look at operators' changes.
    pub tick_ms: u64,
    /// An execution whose replica stops renewing its lease this long is taken over.
    pub lease_seconds: u64,
    /// Executions driven at once by this replica.
    pub max_executions: usize,
    /// Publish the built-in fault operations at start-up (each created when its code is
    /// absent; see `engine::operations::builtin`).
    pub builtin_faults: bool,
}

impl Default for PlansConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            tick_ms: 500,
            lease_seconds: 30,
            max_executions: 32,
            builtin_faults: true,
        }
    }
}

impl PlansConfig {
    fn validate(&self) -> anyhow::Result<()> {
        let bad = |key: &str, msg: &str| Err(anyhow::anyhow!("config key `plans.{key}`: {msg}"));
        if self.tick_ms == 0 {
            return bad("tick_ms", "must be at least 1");
        }
        if self.lease_seconds < 2 {
            return bad("lease_seconds", "must be at least 2");
        }
        if self.max_executions == 0 {
            return bad("max_executions", "must be at least 1");
        }
        Ok(())
    }
}

/// `[drills]`: how this replica drives drill runs (claimed by lease; each target's faults
/// reconciled towards their desired phase).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrillsConfig {
    pub enabled: bool,
    /// How often to claim runs, renew their leases and reconcile their targets.
    pub tick_ms: u64,
    /// A run whose replica stops renewing its lease this long is taken over (and recovered).
    pub lease_seconds: u64,
    /// Runs driven at once by this replica.
    pub max_runs: usize,
    /// The upper bound of any fault's `max_duration` (`30m`, `1h`; at most `1d`).
    pub max_fault_duration: shared::plan::Duration,
}

impl Default for DrillsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            tick_ms: 100,
            lease_seconds: 30,
            max_runs: 32,
            max_fault_duration: shared::plan::Duration::from_millis(3_600_000),
        }
    }
}

impl DrillsConfig {
    fn validate(&self) -> anyhow::Result<()> {
        let bad = |key: &str, msg: &str| Err(anyhow::anyhow!("config key `drills.{key}`: {msg}"));
        if self.tick_ms == 0 {
            return bad("tick_ms", "must be at least 1");
        }
        if self.lease_seconds < 2 {
            return bad("lease_seconds", "must be at least 2");
        }
        if self.max_runs == 0 {
            return bad("max_runs", "must be at least 1");
        }
        let max = self.max_fault_duration.as_millis();
        if max == 0 || max > shared::drill::MAX_FAULT_MS {
            return bad("max_fault_duration", "must be more than 0s and at most 1d");
        }
        Ok(())
    }
}

/// `[executor]`: the hosts `ssh` actions may run on, and the secrets actions name. Local
/// `command` actions use `inspection.commands`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorConfig {
    /// The OpenSSH client; empty: `ssh` from `/usr/bin` or `/usr/local/bin`.
    #[serde(default)]
    pub ssh_program: PathBuf,
    /// Target hosts by name; an `ssh` action names one, never an address.
    #[serde(default)]
    pub hosts: std::collections::BTreeMap<String, SshHost>,
    /// `{{ secret.NAME }}` reads `<secrets_dir>/NAME` (trailing newline trimmed), at each run.
    #[serde(default = "executor_secrets_dir")]
    pub secrets_dir: PathBuf,
    /// Secrets given in config (or `HAS_EXECUTOR__SECRETS__NAME`); a name here wins over
    /// a file of that name.
    #[serde(default)]
    pub secrets: std::collections::BTreeMap<String, Secret>,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            ssh_program: PathBuf::new(),
            hosts: Default::default(),
            secrets_dir: executor_secrets_dir(),
            secrets: Default::default(),
        }
    }
}

/// Not pageinspect's `/run/secrets/has`: its secrets are bound to the origins a browser may
/// type them on, and an action may send a secret to any URL.
fn executor_secrets_dir() -> PathBuf {
    "/run/secrets/acmangkut".into()
}

/// A host `ssh` actions run on. Its key is pinned: an unknown or changed host key is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshHost {
    pub address: String,
    #[serde(default = "ssh_port")]
    pub port: u16,
    pub user: String,
    /// The private key acmangkut logs in with (readable by acmangkut only).
    pub key_file: PathBuf,
    /// The host's public key as in `known_hosts` or `ssh-keyscan`: `ssh-ed25519 AAAA…`.
    pub host_key: String,
    /// Actions running on this host at once; more wait their turn.
    #[serde(default = "ssh_max_concurrent")]
    pub max_concurrent: usize,
    /// What may run there: name → absolute path on the host, or `{path, args}`.
    #[serde(default)]
    pub commands: std::collections::BTreeMap<String, AllowedCommand>,
}

fn ssh_port() -> u16 {
    22
}

fn ssh_max_concurrent() -> usize {
    4
}

impl ExecutorConfig {
    fn validate(&self) -> anyhow::Result<()> {
        let bad = |key: &str, msg: &str| Err(anyhow::anyhow!("config key `executor.{key}`: {msg}"));
        for name in self.secrets.keys() {
            if !shared::probe::valid_secret_name(name) {
                return bad(&format!("secrets.{name}"), shared::probe::SECRET_NAME_RULE);
            }
        }
        for (name, h) in &self.hosts {
            let key = |k: &str| format!("hosts.{name}.{k}");
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return bad(
                    &format!("hosts.{name}"),
                    "names are a-z, 0-9, '-', '_', '.'",
                );
            }
            if h.address.trim().is_empty() || h.address.starts_with('-') {
                return bad(&key("address"), "must be a host name or address");
            }
            if h.user.trim().is_empty() || h.user.starts_with('-') {
                return bad(&key("user"), "must name the user to log in as");
            }
            let mut parts = h.host_key.split_whitespace();
            let pinned = match (parts.next(), parts.next()) {
                (Some(kind), Some(key)) => {
                    (kind.starts_with("ssh-") || kind.starts_with("ecdsa-")) && !key.is_empty()
                }
                _ => false,
            };
            if !pinned {
                return bad(
                    &key("host_key"),
                    "must be a public key: `ssh-ed25519 AAAA…`",
                );
            }
            if h.max_concurrent == 0 {
                return bad(&key("max_concurrent"), "must be at least 1");
            }
            for (c, command) in &h.commands {
                if !command.path().is_absolute() {
                    return bad(&key(&format!("commands.{c}")), "must be an absolute path");
                }
                command.patterns(&format!("executor.{}", key(&format!("commands.{c}"))))?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// `host:port`; port 0 picks a free port (tests).
    pub listen: String,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://user@host/db`.
    pub url: Secret,
    pub pool_size: u32,
    /// SQLite: how long a writer waits for the lock.
    pub busy_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageinspectConfig {
    /// Base URL of the pageinspect of the `default` location.
    pub url: String,
    /// Bearer token presented to pageinspect (its `auth.service_token`). With `oidc_resource`
    /// set it is only the fallback for when no access token can be had from the provider.
    pub token: Option<Secret>,
    /// Present a client-credentials access token instead, asked of `iam.oidc`'s provider for
    /// this RFC 8707 resource indicator (e.g. `urn:has:pageinspect`), which pageinspect verifies
    /// with its `auth.oidc`. The `iam.oidc` client must be allowed the client-credentials grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_resource: Option<String>,
    /// More locations: name → base URL of the pageinspect there. Monitors list the locations
    /// they run from; `default` is `url`.
    #[serde(default)]
    pub locations: std::collections::BTreeMap<String, String>,
}

pub const DEFAULT_LOCATION: &str = "default";

impl PageinspectConfig {
    /// Every location with its URL, `default` first.
    pub fn endpoints(&self) -> Vec<(String, String)> {
        let mut out = vec![(DEFAULT_LOCATION.to_string(), self.url.clone())];
        out.extend(
            self.locations
                .iter()
                .filter(|(k, _)| k.as_str() != DEFAULT_LOCATION)
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        out
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    pub enabled: bool,
    /// Name of this replica in leases; empty: hostname + random suffix.
    pub replica_id: String,
    /// How often to look for due monitors.
    pub tick_ms: u64,
    /// Monitors claimed per tick.
    pub claim_limit: i64,
    /// Probes per request to pageinspect.
    pub batch_size: usize,
    /// Batches in flight to pageinspect at once.
    pub max_in_flight: usize,
    /// Probes out at once to one location's pageinspect: a batch waits here for room rather
    /// than send what pageinspect would refuse with 429 (keep it at or below pageinspect's
    /// `probe.max_concurrency`, shared by every replica that uses it).
    pub max_probes_in_flight: usize,
    /// A claimed monitor's lease; its owner renews it every third of this while the probe is
    /// out, so it expires only when the owner is gone: then another replica takes it over.
    pub lease_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Raw probe results are kept this many days.
    pub raw_days: u32,
    /// Hourly rollups (availability, latency histograms) are kept this many days.
    pub rollup_days: u32,
    pub prune_interval_seconds: u64,
    /// Rows deleted per pruning transaction.
    pub prune_batch: i64,
    /// Failure screenshots of browser probes are kept this many days…
    pub screenshot_days: u32,
    /// …and at most this many per monitor (the newest).
    pub screenshots_per_monitor: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricLogConfig {
    /// Folder of `YYYYMMDD.log`; empty disables the metric log.
    pub dir: PathBuf,
    pub interval_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamConfig {
    /// A bearer token with every permission, for hasinit and automation
    /// (`HAS_IAM__BOOTSTRAP_TOKEN`); unset disables it. Every use is audited; rotate it after
    /// install.
    #[serde(default)]
    pub bootstrap_token: Option<Secret>,
    /// Browser sessions end this long after sign-in.
    pub session_hours: u64,
    /// Longest lifetime of an API token.
    pub token_max_days: u64,
    /// Sign-in attempts allowed per account and per client address (per replica).
    pub sign_in_per_account_per_minute: u32,
    pub sign_in_per_address_per_minute: u32,
    /// Start with this instance's emergency switch closed (IAM degraded).
    pub start_degraded: bool,
    /// acmangkut's external base URL (`https://has.example.com`): the OIDC redirect URI and
    /// links in notifications. Required with `oidc` (never taken from a request's Host).
    pub public_url: String,
    /// The external OpenID Connect provider ("IAM"); unset: built-in accounts only.
    #[serde(default)]
    pub oidc: Option<shared::oidc::OidcConfig>,
}

impl IamConfig {
    /// `public_url` is an absolute URL, and set when OIDC is: the redirect URI sent to the
    /// provider is built from it, never from a request's `Host` or `X-Forwarded-*` headers
    /// (which a client chooses).
    pub fn check_public_url(&self) -> anyhow::Result<()> {
        let bad = |msg: &str| Err(anyhow::anyhow!("config key `iam.public_url`: {msg}"));
        if self.public_url.is_empty() {
            if self.oidc.is_some() {
                return bad("required when iam.oidc is set: the OIDC redirect URI is \
                     `<iam.public_url>/auth/oidc/callback` (e.g. https://has.example.com)");
            }
        } else if url::Url::parse(&self.public_url).is_err() {
            return bad("must be an absolute URL, e.g. https://has.example.com");
        }
        Ok(())
    }
}

/// The inspection center: its engine, the data sources its checks may query, the commands they
/// may run, and how notifications are retried.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectionConfig {
    pub enabled: bool,
    /// How often to look for due tasks, queued runs and due notifications.
    pub tick_ms: u64,
    /// A run whose replica stops renewing its lease this long is marked interrupted.
    pub lease_seconds: u64,
    /// Runs executing at once on this replica.
    pub max_concurrent_runs: usize,
    /// Probe checks per request to pageinspect.
    pub probe_batch_size: usize,
    /// Reports (runs and their findings) are kept this many days.
    pub report_days: u32,
    /// Prometheus HTTP APIs PromQL checks query, by name (`default` when a rule names none).
    #[serde(default)]
    pub prometheus: std::collections::BTreeMap<String, PrometheusSource>,
    /// Databases SQL checks query, by name: `postgres://…` or `mysql://…` (MariaDB too).
    #[serde(default)]
    pub datasources: std::collections::BTreeMap<String, DataSource>,
    /// Executables command checks may run: name → absolute path, or `{path, args}` to restrict
    /// the arguments too. Empty: command checks off.
    #[serde(default)]
    pub commands: std::collections::BTreeMap<String, AllowedCommand>,
    pub notify: NotifyConfig,
}

/// One entry of `inspection.commands`: an absolute path (any arguments), or a path with one
/// pattern per argument position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AllowedCommand {
    /// `df = "/usr/bin/df"`: the executable, with whatever arguments a rule gives it.
    Path(PathBuf),
    /// `systemctl = { path = "/usr/bin/systemctl", args = ["is-active", "[a-z0-9@.-]+"] }`.
    Restricted(RestrictedCommand),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestrictedCommand {
    pub path: PathBuf,
    /// A regular expression per argument, matched against the whole argument; a check must
    /// give exactly this many arguments. `[]`: no arguments at all.
    pub args: Vec<String>,
}

impl From<&str> for AllowedCommand {
    fn from(path: &str) -> Self {
        Self::Path(path.into())
    }
}

impl AllowedCommand {
    pub fn path(&self) -> &Path {
        match self {
            Self::Path(p) => p,
            Self::Restricted(r) => &r.path,
        }
    }

    /// The argument patterns, compiled (anchored at both ends); `None`: any arguments. Errors
    /// name the entry's config key `key` (`inspection.commands.<name>`).
    pub fn patterns(&self, key: &str) -> anyhow::Result<Option<Vec<regex::Regex>>> {
        let Self::Restricted(r) = self else {
            return Ok(None);
        };
        let compiled = r.args.iter().enumerate().map(|(i, p)| {
            regex::Regex::new(&format!("^(?:{p})$"))
                .map_err(|e| anyhow::anyhow!("config key `{key}.args[{i}]`: {e}"))
        });
        compiled.collect::<anyhow::Result<Vec<_>>>().map(Some)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSource {
    /// Base URL of the HTTP API, e.g. `http://prometheus:9090`.
    pub url: String,
    #[serde(default)]
    pub bearer_token: Option<Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSource {
    /// `postgres://user:pass@host/db` or `mysql://user:pass@host:3306/db`; use a read-only
    /// account: queries also run in read-only transactions.
    pub url: Secret,
    /// Rows read at most; the excerpt in reports shows the first few.
    #[serde(default = "default_max_rows")]
    pub max_rows: usize,
}

fn default_max_rows() -> usize {
    100
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Delivery attempts per notification before it is marked failed.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled after each failure.
    pub retry_base_seconds: u64,
    /// Timeout of one delivery attempt.
    pub timeout_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig {
                listen: "0.0.0.0:8080".into(),
                workers: 0,
                max_body_bytes: 256 * 1024,
            },
            database: DatabaseConfig {
                url: Secret::new("sqlite://data/has.db"),
                pool_size: 8,
                busy_timeout_ms: 5_000,
            },
            pageinspect: PageinspectConfig {
                url: "http://127.0.0.1:8081".into(),
                token: None,
                oidc_resource: None,
                locations: Default::default(),
            },
            scheduler: SchedulerConfig {
                enabled: true,
                replica_id: String::new(),
                tick_ms: 250,
                claim_limit: 1_000,
                batch_size: 100,
                max_in_flight: 16,
                max_probes_in_flight: 512,
                lease_seconds: 6,
            },
            retention: RetentionConfig {
                raw_days: 7,
                rollup_days: 400,
                prune_interval_seconds: 600,
                prune_batch: 5_000,
                screenshot_days: 3,
                screenshots_per_monitor: 20,
            },
            metric_log: MetricLogConfig {
                dir: "logs/metric".into(),
                interval_seconds: 60,
            },
            iam: IamConfig {
                bootstrap_token: None,
                session_hours: 12,
                token_max_days: 365,
                sign_in_per_account_per_minute: 5,
                sign_in_per_address_per_minute: 30,
                start_degraded: false,
                public_url: String::new(),
                oidc: None,
            },
            inspection: InspectionConfig {
                enabled: true,
                tick_ms: 1_000,
                lease_seconds: 60,
                max_concurrent_runs: 4,
                probe_batch_size: 100,
                report_days: 90,
                prometheus: Default::default(),
                datasources: Default::default(),
                commands: Default::default(),
                notify: NotifyConfig {
                    max_attempts: 5,
                    retry_base_seconds: 10,
                    timeout_ms: 10_000,
                },
            },
            executor: Default::default(),
            plans: Default::default(),
            config: Default::default(),
            drills: Default::default(),
            outbound: Default::default(),
            log: LogConfig::with_dir("logs/acmangkut"),
        }
    }
}

impl Config {
    /// Loads and validates; errors name the key.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let c: Self = shared::config::load(shared::config::App::Acmangkut, &Self::default(), file)?;
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let bad = |key: &str, msg: &str| Err(anyhow::anyhow!("config key `{key}`: {msg}"));
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            return bad("server.listen", "must be host:port, e.g. 0.0.0.0:8080");
        }
        if let Err(e) = crate::store::DbUrl::parse(self.database.url.expose()) {
            return bad("database.url", &e);
        }
        if self.database.pool_size == 0 {
            return bad("database.pool_size", "must be at least 1");
        }
        if url::Url::parse(&self.pageinspect.url).is_err() {
            return bad(
                "pageinspect.url",
                "must be an absolute URL, e.g. http://127.0.0.1:8081",
            );
        }
        for (name, u) in &self.pageinspect.locations {
            let key = format!("pageinspect.locations.{name}");
            if !shared::monitor::valid_label_key(name) {
                return bad(&key, "location names are a-z, 0-9, '-', '_', '.', '/'");
            }
            if url::Url::parse(u).is_err() {
                return bad(&key, "must be an absolute URL");
            }
        }
        if let Some(resource) = &self.pageinspect.oidc_resource {
            if self.iam.oidc.is_none() {
                return bad(
                    "pageinspect.oidc_resource",
                    "needs iam.oidc: its client asks the provider for the access token",
                );
            }
            if url::Url::parse(resource).is_err() {
                return bad(
                    "pageinspect.oidc_resource",
                    "must be an absolute URI (an RFC 8707 resource indicator), e.g. \
                    urn:has:pageinspect",
                );
            }
        }
        if self.retention.screenshots_per_monitor < 1 {
            return bad("retention.screenshots_per_monitor", "must be at least 1");
        }
        if self.scheduler.tick_ms == 0
            || self.scheduler.batch_size == 0
            || self.scheduler.max_in_flight == 0
            || self.scheduler.max_probes_in_flight == 0
        {
            return bad(
                "scheduler",
                "tick_ms, batch_size, max_in_flight and max_probes_in_flight must be at least 1",
            );
        }
        if self.scheduler.lease_seconds < 2 {
            return bad("scheduler.lease_seconds", "must be at least 2");
        }
        if self.retention.raw_days == 0 || self.retention.rollup_days < self.retention.raw_days {
            return bad(
                "retention",
                "raw_days must be ≥ 1 and rollup_days ≥ raw_days",
            );
        }
        if let Some(t) = &self.iam.bootstrap_token
            && t.expose().len() < 16
        {
            return bad("iam.bootstrap_token", "must be at least 16 characters");
        }
        if self.iam.session_hours == 0 || self.iam.token_max_days == 0 {
            return bad("iam", "session_hours and token_max_days must be at least 1");
        }
        self.iam.check_public_url()?;
        self.inspection.validate()?;
        self.executor.validate()?;
        self.plans.validate()?;
        self.drills.validate()?;
        if self.metric_log.interval_seconds == 0 {
            return bad("metric_log.interval_seconds", "must be at least 1");
        }
        Ok(())
    }
}

impl InspectionConfig {
    fn validate(&self) -> anyhow::Result<()> {
        let bad =
            |key: &str, msg: &str| Err(anyhow::anyhow!("config key `inspection.{key}`: {msg}"));
        if self.tick_ms == 0 || self.max_concurrent_runs == 0 || self.probe_batch_size == 0 {
            return bad(
                "tick_ms",
                "tick_ms, max_concurrent_runs and probe_batch_size must be at least 1",
            );
        }
        if self.lease_seconds < 2 {
            return bad("lease_seconds", "must be at least 2");
        }
        if self.report_days == 0 {
            return bad("report_days", "must be at least 1");
        }
        for (name, p) in &self.prometheus {
            if url::Url::parse(&p.url).is_err() {
                return bad(&format!("prometheus.{name}.url"), "must be an absolute URL");
            }
        }
        for (name, d) in &self.datasources {
            let u = d.url.expose();
            if !["postgres://", "postgresql://", "mysql://", "mariadb://"]
                .iter()
                .any(|p| u.starts_with(p))
            {
                return bad(
                    &format!("datasources.{name}.url"),
                    "must start with postgres:// or mysql://",
                );
            }
            if d.max_rows == 0 {
                return bad(
                    &format!("datasources.{name}.max_rows"),
                    "must be at least 1",
                );
            }
        }
        for (name, command) in &self.commands {
            if !command.path().is_absolute() {
                return bad(&format!("commands.{name}"), "must be an absolute path");
            }
            command.patterns(&format!("inspection.commands.{name}"))?;
        }
        if self.notify.max_attempts == 0 || self.notify.timeout_ms == 0 {
            return bad("notify", "max_attempts and timeout_ms must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_known_as_acmangkuts_so_a_shared_environment_can_feed_all_binaries() {
        let defaults = serde_json::to_value(Config::default()).expect("json");
        shared::config::App::Acmangkut
            .check_against(&defaults, &[])
            .expect("owners table");
    }

    #[test]
    fn the_example_config_loads_and_validates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        let c: Config = shared::config::load_with_env(&Config::default(), Some(&path), Vec::new())
            .expect("example loads");
        c.validate().expect("example validates");
    }

    #[test]
    fn an_ssh_host_needs_a_pinned_key_and_errors_name_the_key() {
        let mut c = Config::default();
        let host = SshHost {
            address: "10.0.0.11".into(),
            port: 22,
            user: "has".into(),
            key_file: "/etc/has/id".into(),
            host_key: "ssh-ed25519 AAAAC3Nza".into(),
            max_concurrent: 4,
            commands: [("pg_ctl".to_string(), "/usr/bin/pg_ctl".into())].into(),
        };
        c.executor.hosts.insert("db-1".into(), host.clone());
        c.validate().expect("valid");
        let refused = |h: SshHost| {
            let mut c = Config::default();
            c.executor.hosts.insert("db-1".into(), h);
            c.validate().expect_err("refused").to_string()
        };
        let e = refused(SshHost {
            host_key: String::new(),
            ..host.clone()
        });
        assert!(e.contains("`executor.hosts.db-1.host_key`"), "{e}");
        let e = refused(SshHost {
            address: "-oProxyCommand=x".into(),
            ..host.clone()
        });
        assert!(e.contains("`executor.hosts.db-1.address`"), "{e}");
        let relative = [("pg_ctl".to_string(), "pg_ctl".into())].into();
        let e = refused(SshHost {
            commands: relative,
            ..host
        });
        assert!(e.contains("`executor.hosts.db-1.commands.pg_ctl`"), "{e}");
    }

    #[test]
    fn locations_are_named_and_checked() {
        let mut c = Config::default();
        c.pageinspect
            .locations
            .insert("eu-west".into(), "http://pi-eu:8081".into());
        c.validate().expect("valid");
        assert_eq!(c.pageinspect.endpoints()[0].0, "default");
        assert_eq!(
            c.pageinspect.endpoints()[1],
            ("eu-west".to_string(), "http://pi-eu:8081".to_string())
        );
        c.pageinspect
            .locations
            .insert("Bad Name".into(), "http://x".into());
        let e = c.validate().expect_err("bad name");
        assert!(
            e.to_string().contains("pageinspect.locations.Bad Name"),
            "{e}"
        );
    }

    #[test]
    fn a_pageinspect_resource_needs_an_identity_provider_and_is_a_uri() {
        let mut c = Config::default();
        c.pageinspect.oidc_resource = Some("urn:has:pageinspect".into());
        let e = c.validate().expect_err("no iam.oidc");
        assert!(e.to_string().contains("pageinspect.oidc_resource"), "{e}");
        c.iam.oidc = Some(shared::oidc::OidcConfig {
            issuer: "http://id.example".into(),
            ..Default::default()
        });
        c.iam.public_url = "https://has.example.com".into();
        c.validate().expect("valid with a provider");
        c.pageinspect.oidc_resource = Some("pageinspect".into());
        let e = c.validate().expect_err("not a URI");
        assert!(e.to_string().contains("resource indicator"), "{e}");
    }

    #[test]
    fn oidc_needs_a_public_url_and_the_error_names_the_key() {
        let mut c = Config::default();
        c.iam.oidc = Some(shared::oidc::OidcConfig {
            issuer: "http://id.example".into(),
            ..Default::default()
        });
        let e = c.validate().expect_err("no public_url").to_string();
        assert!(
            e.contains("`iam.public_url`") && e.contains("iam.oidc"),
            "{e}"
        );
        c.iam.public_url = "has.example.com".into();
        let e = c.validate().expect_err("not absolute").to_string();
        assert!(e.contains("`iam.public_url`"), "{e}");
        c.iam.public_url = "https://has.example.com/".into();
        c.validate().expect("valid");
    }

    #[test]
    fn secrets_do_not_print() {
        let mut c = Config::default();
        c.database.url = Secret::new("postgres://admin:pa55word@db/has");
        assert!(!format!("{c:?}").contains("pa55word"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = shared::config::load_with_env(
            &Config::default(),
            None,
            vec![(
                "HAS_SCHEDULER__LEASE_SECONDS".to_string(),
                "soon".to_string(),
            )],
        )
        .expect_err("bad");
        assert_eq!(e.key(), Some("scheduler.lease_seconds"));
        let mut c = Config::default();
        c.database.url = Secret::new("mysql://x");
        assert!(
            c.validate()
                .expect_err("bad")
                .to_string()
                .contains("database.url")
        );
    }
}
