//! Logging as the original product's operators expect: everything to stdout and to
//! `<log.dir>/app-default.log`, errors also to `<log.dir>/common-error.log`. The files keep
//! their names; each day's previous file is rotated to `name.YYYYMMDD` and old ones pruned.

use file_rotate::{
    ContentLimit, FileRotate, TimeFrequency,
    compression::Compression,
    suffix::{AppendTimestamp, DateFrom, FileLimit},
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::{EnvFilter, Layer, Registry, filter::LevelFilter, layer::SubscriberExt};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Directory for `app-default.log` and `common-error.log`; empty: stdout only.
    pub dir: PathBuf,
    /// An `EnvFilter` directive, e.g. `info` or `info,acmangkut=debug`.
    pub level: String,
    pub format: LogFormat,
    /// Also log to stdout.
    pub stdout: bool,
    /// Rotated files to keep per log.
    pub keep_days: usize,
}

impl LogConfig {
    pub fn with_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            level: "info".into(),
            format: LogFormat::Text,
            stdout: true,
            keep_days: 14,
        }
    }
}

/// Keeps the background writers alive; drop it last (it flushes).
#[must_use]
pub struct TelemetryGuard {
    _guards: Vec<WorkerGuard>,
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

fn fmt_layer<W>(format: LogFormat, writer: W, ansi: bool) -> BoxedLayer
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let base = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => base.boxed(),
        LogFormat::Json => base
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
    }
}

fn rotating(dir: &Path, name: &str, keep: usize) -> FileRotate<AppendTimestamp> {
    FileRotate::new(
        dir.join(name),
        AppendTimestamp::with_format(
            "%Y%m%d",
            FileLimit::MaxFiles(keep.max(1)),
            DateFrom::DateYesterday,
        ),
        ContentLimit::Time(TimeFrequency::Daily),
        Compression::None,
        None,
    )
}

/// Targets capped at `warn` unless the configured level names them: chromiumoxide logs raw
/// DevTools messages at debug/trace, which would include values typed into login forms.
const QUIET_TARGETS: [&str; 2] = ["chromiumoxide", "tungstenite"];

/// The configured filter plus the caps of [`QUIET_TARGETS`] it does not mention itself.
pub fn effective_filter(level: &str) -> String {
    let mut out = level.to_string();
    for target in QUIET_TARGETS {
        if !level.contains(target) {
            out.push_str(&format!(",{target}=warn"));
        }
    }
    out
}

/// Installs the global subscriber. Fails if the log directory cannot be created, or if a
/// subscriber is already installed (tests call [`init_for_tests`] instead).
pub fn init(config: &LogConfig) -> Result<TelemetryGuard, String> {
    let filter = EnvFilter::try_new(effective_filter(&config.level))
        .map_err(|e| format!("config key `log.level`: {e}"))?;
    let mut layers: Vec<BoxedLayer> = Vec::new();
    let mut guards = Vec::new();
    if config.stdout {
        let (w, g) = tracing_appender::non_blocking(std::io::stdout());
        layers.push(fmt_layer(config.format, w, false));
        guards.push(g);
    }
    if !config.dir.as_os_str().is_empty() {
        std::fs::create_dir_all(&config.dir).map_err(|e| {
            format!(
                "config key `log.dir`: cannot create {}: {e}",
                config.dir.display()
            )
        })?;
        let (w, g) = tracing_appender::non_blocking(rotating(
            &config.dir,
            "app-default.log",
            config.keep_days,
        ));
        layers.push(fmt_layer(config.format, w, false));
        guards.push(g);
        let (w, g) = tracing_appender::non_blocking(rotating(
            &config.dir,
            "common-error.log",
            config.keep_days,
        ));
        layers.push(
            fmt_layer(config.format, w, false)
                .with_filter(LevelFilter::ERROR)
                .boxed(),
        );
        guards.push(g);
    }
    let subscriber = Registry::default().with(layers).with(filter);
    tracing::subscriber::set_global_default(subscriber).map_err(|e| e.to_string())?;
    Ok(TelemetryGuard { _guards: guards })
}

/// For tests: log to the test writer at `warn` (or `RUST_LOG`), once per process.
pub fn init_for_tests() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devtools_traffic_stays_quiet_unless_asked_for() {
        assert_eq!(
            effective_filter("trace"),
            "trace,chromiumoxide=warn,tungstenite=warn"
        );
        assert_eq!(
            effective_filter("info,chromiumoxide=debug"),
            "info,chromiumoxide=debug,tungstenite=warn"
        );
        assert!(EnvFilter::try_new(effective_filter("debug")).is_ok());
    }

    #[test]
    fn errors_reach_both_files_and_info_only_the_default_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (w_all, g1) =
            tracing_appender::non_blocking(rotating(dir.path(), "app-default.log", 3));
        let (w_err, g2) =
            tracing_appender::non_blocking(rotating(dir.path(), "common-error.log", 3));
        let layers: Vec<BoxedLayer> = vec![
            fmt_layer(LogFormat::Json, w_all, false),
            fmt_layer(LogFormat::Text, w_err, false)
                .with_filter(LevelFilter::ERROR)
                .boxed(),
        ];
        let subscriber = Registry::default().with(layers);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(answer = 42, "hello");
            tracing::error!("boom");
        });
        drop((g1, g2));
        let all = std::fs::read_to_string(dir.path().join("app-default.log")).expect("read");
        let err = std::fs::read_to_string(dir.path().join("common-error.log")).expect("read");
        assert!(
            all.contains("\"answer\":42") && all.contains("boom"),
            "{all}"
        );
        assert!(err.contains("boom") && !err.contains("hello"), "{err}");
    }
}
