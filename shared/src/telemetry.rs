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
    /// Most bytes written to each log file per day (UTC); past it, lines are dropped until
    /// the next day and one line says so. Anyone who can reach the port can make the service
    /// log, so the disk a day's logs take is bounded. 0: no cap.
    pub max_mb_per_day: u64,
}

impl LogConfig {
    pub fn with_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            level: "info".into(),
            format: LogFormat::Text,
            stdout: true,
            keep_days: 14,
            max_mb_per_day: 256,
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

/// A log file that takes at most `limit` bytes a day (UTC); 0 is no limit. Lines past it are
/// dropped (the writer still answers success, logging must not fail the service) and one line
/// says from when.
pub struct Capped<W> {
    inner: W,
    limit: u64,
    day: chrono::NaiveDate,
    written: u64,
    noted: bool,
}

impl<W: std::io::Write> Capped<W> {
    pub fn new(inner: W, limit: u64) -> Self {
        Self {
            inner,
            limit,
            day: chrono::Utc::now().date_naive(),
            written: 0,
            noted: false,
        }
    }
}

impl<W: std::io::Write> std::io::Write for Capped<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let today = chrono::Utc::now().date_naive();
        if today != self.day {
            (self.day, self.written, self.noted) = (today, 0, false);
        }
        if self.limit == 0 || self.written + buf.len() as u64 <= self.limit {
            self.written += buf.len() as u64;
            return self.inner.write_all(buf).map(|()| buf.len());
        }
        if !self.noted {
            self.noted = true;
            let note = format!(
                "{} log.max_mb_per_day reached: dropping lines until the next day (UTC)\n",
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            );
            self.inner.write_all(note.as_bytes())?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// `name` in `dir`, rotated daily and capped per [`LogConfig::max_mb_per_day`].
fn log_file(config: &LogConfig, name: &str) -> Capped<FileRotate<AppendTimestamp>> {
    let limit = config.max_mb_per_day.saturating_mul(1024 * 1024);
    Capped::new(rotating(&config.dir, name, config.keep_days), limit)
}

/// The filter of `log.level`, as configured: nothing is added (pageinspect speaks DevTools
/// itself and logs no DevTools message, so no library needs capping).
fn filter(level: &str) -> Result<EnvFilter, String> {
    EnvFilter::try_new(level).map_err(|e| format!("config key `log.level`: {e}"))
}

/// Installs the global subscriber. Fails if the log directory cannot be created, or if a
/// subscriber is already installed (tests call [`init_for_tests`] instead).
pub fn init(config: &LogConfig) -> Result<TelemetryGuard, String> {
    let filter = filter(&config.level)?;
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
        let (w, g) = tracing_appender::non_blocking(log_file(config, "app-default.log"));
        layers.push(fmt_layer(config.format, w, false));
        guards.push(g);
        let (w, g) = tracing_appender::non_blocking(log_file(config, "common-error.log"));
        layers.push(
            fmt_layer(config.format, w, false)
                .with_filter(LevelFilter::ERROR)
                .boxed(),
        );
        guards.push(g);
    }
    let subscriber = Registry::default().with(layers).with(filter);
    tracing::subscriber::set_global_default(subscriber).map_err(|e| e.to_string())?;
    for line in crate::config::take_ignored() {
        tracing::debug!("configuration variable ignored: {line}");
    }
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
    fn the_log_filter_is_the_configured_level_and_nothing_else() {
        for level in ["trace", "info", "acmangkut=debug"] {
            assert_eq!(filter(level).expect(level).to_string(), level);
        }
        let e = filter("info,acmangkut=loud").expect_err("bad").to_string();
        assert!(e.contains("log.level"), "{e}");
    }

    #[test]
    fn a_capped_file_takes_its_limit_a_day_and_says_when_it_drops() {
        use std::io::Write;
        let mut w = Capped::new(Vec::new(), 100);
        for _ in 0..50 {
            w.write_all(b"0123456789\n")
                .expect("a dropped line is no error");
        }
        let text = String::from_utf8(w.inner.clone()).expect("utf-8");
        assert_eq!(text.matches("0123456789").count(), 9, "{text}");
        assert_eq!(text.matches("max_mb_per_day reached").count(), 1, "{text}");
        // A new day starts a new budget.
        w.day = w.day.pred_opt().expect("yesterday");
        w.write_all(b"next day\n").expect("write");
        assert!(String::from_utf8_lossy(&w.inner).ends_with("next day\n"));
        let mut unlimited = Capped::new(Vec::new(), 0);
        for _ in 0..1000 {
            unlimited.write_all(b"0123456789\n").expect("write");
        }
        assert_eq!(unlimited.inner.len(), 11_000);
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
