//! PromQL checks: an instant query against a configured Prometheus; every sample must hold.

use crate::config::PrometheusSource;
use crate::engine::Error;
use serde::Deserialize;
use shared::check::{CheckOutcome, CheckStatus, CmpOp, OnEmpty, PromqlCheck, Threshold, excerpt};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Series listed in the evidence; the rest are counted.
const SHOWN: usize = 20;
/// A bigger answer is not read: a check that selects that much is a mistake.
const MAX_BODY: usize = 16 * 1024 * 1024;

pub(super) struct Prometheus {
    sources: BTreeMap<String, PrometheusSource>,
    http: reqwest::Client,
}

impl Prometheus {
    pub(super) fn new(
        sources: &BTreeMap<String, PrometheusSource>,
        outbound: &shared::outbound::Outbound,
    ) -> Result<Self, reqwest::Error> {
        let http = outbound
            .client()
            .connect_timeout(Duration::from_secs(3))
            .build()?;
        Ok(Self {
            sources: sources.clone(),
            http,
        })
    }

    pub(super) fn knows(&self, name: &str, field: &str) -> Result<(), Error> {
        if self.sources.contains_key(name) {
            return Ok(());
        }
        Err(Error::invalid(
            field,
            format!(
                "no Prometheus named `{name}` in inspection.prometheus (configured: {})",
                crate::engine::names(self.sources.keys())
            ),
        ))
    }

    pub(super) async fn evaluate(&self, check: &PromqlCheck) -> CheckOutcome {
        let threshold = match Threshold::parse(&check.condition) {
            Ok(t) => t,
            Err(e) => return CheckOutcome::error(e, 0),
        };
        match self.query(check).await {
            Ok(samples) => judge(&samples, &threshold, check.on_empty),
            Err(e) => CheckOutcome::error(e, 0),
        }
    }

    async fn query(&self, check: &PromqlCheck) -> Result<Vec<Sample>, String> {
        let source = self
            .sources
            .get(&check.source)
            .ok_or_else(|| format!("no Prometheus named `{}` is configured", check.source))?;
        let mut url = url::Url::parse(&format!(
            "{}/api/v1/query",
            source.url.trim_end_matches('/')
        ))
        .map_err(|e| format!("bad Prometheus URL: {e}"))?;
        url.query_pairs_mut()
            .append_pair("query", &check.query)
            .append_pair("timeout", &format!("{}ms", check.timeout_ms));
        let mut req = self
            .http
            .get(url)
            .timeout(Duration::from_millis(check.timeout_ms));
        if let Some(t) = &source.bearer_token {
            req = req.bearer_auth(t.expose());
        }
        // Errors without the URL: it may carry credentials (`http://user:pass@…`).
        let mut resp = req.send().await.map_err(|e| {
            format!(
                "Prometheus `{}` unreachable: {}",
                check.source,
                crate::engine::chain(e.without_url())
            )
        })?;
        let status = resp.status();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| {
            format!(
                "reading the answer: {}",
                crate::engine::chain(e.without_url())
            )
        })? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!("the answer is larger than {} MiB", MAX_BODY >> 20));
            }
            body.extend_from_slice(&chunk);
        }
        parse(status.as_u16(), &body)
    }
}

/// One sample: its labels rendered as `name{k="v"}` and its value as Prometheus wrote it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Sample {
    series: String,
    value: String,
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<VectorSample>),
    Scalar((f64, String)),
    Matrix(serde::de::IgnoredAny),
    String(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct VectorSample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// Reads Prometheus' answer (also its error answers, which carry the reason).
fn parse(status: u16, body: &[u8]) -> Result<Vec<Sample>, String> {
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        format!(
            "Prometheus answered {status} with no readable result ({e}): {}",
            excerpt(&String::from_utf8_lossy(body))
        )
    })?;
    if answer.status != "success" {
        return Err(format!(
            "Prometheus answered {status}: {}",
            answer.error.as_deref().unwrap_or("no error message")
        ));
    }
    match answer.data {
        Some(Data::Vector(v)) => Ok(v
            .into_iter()
            .map(|s| Sample {
                series: series(&s.metric),
                value: s.value.1,
            })
            .collect()),
        Some(Data::Scalar((_, value))) => Ok(vec![Sample {
            series: "scalar".into(),
            value,
        }]),
        Some(Data::Matrix(_)) => Err("the query returns a range vector; write an instant vector \
             (e.g. wrap it in max_over_time)"
            .into()),
        Some(Data::String(_)) => Err("the query returns a string, not numbers".into()),
        None => Err("Prometheus answered success with no data".into()),
    }
}

fn series(labels: &BTreeMap<String, String>) -> String {
    let name = labels.get("__name__").map_or("", String::as_str);
    let rest: Vec<String> = labels
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    if rest.is_empty() && !name.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{}}}", rest.join(","))
    }
}

/// pass when every sample holds; the value is the worst sample (the first failing one for
/// `==`/`!=`, the extreme one for orderings).
pub(super) fn judge(samples: &[Sample], t: &Threshold, on_empty: OnEmpty) -> CheckOutcome {
    if samples.is_empty() {
        let status = match on_empty {
            OnEmpty::Pass => CheckStatus::Pass,
            OnEmpty::Fail => CheckStatus::Fail,
            OnEmpty::Error => CheckStatus::Error,
        };
        return CheckOutcome {
            status,
            value: None,
            evidence: format!(
                "the query returned no series (on_empty: {})",
                status.as_str()
            ),
            duration_ms: 0,
        };
    }
    let (failing, passing): (Vec<&Sample>, Vec<&Sample>) =
        samples.iter().partition(|s| !t.holds(&s.value));
    let worst = worst(
        if failing.is_empty() {
            &passing
        } else {
            &failing
        },
        t.op,
    );
    let mut evidence = format!(
        "{} series, {} not satisfying `{}`",
        samples.len(),
        failing.len(),
        describe(t)
    );
    for s in failing.iter().chain(&passing).take(SHOWN) {
        let _ = write!(evidence, "\n{} = {}", s.series, s.value);
    }
    if samples.len() > SHOWN {
        let _ = write!(evidence, "\n… and {} more", samples.len() - SHOWN);
    }
    CheckOutcome {
        status: if failing.is_empty() {
            CheckStatus::Pass
        } else {
            CheckStatus::Fail
        },
        value: worst.map(|s| s.value.clone()),
        evidence: excerpt(&evidence),
        duration_ms: 0,
    }
}

fn worst<'a>(pool: &[&'a Sample], op: CmpOp) -> Option<&'a Sample> {
    let num = |s: &Sample| s.value.trim().parse::<f64>().ok().filter(|n| !n.is_nan());
    // A value that is not a number fails every ordering: it is the worst there is.
    if let Some(odd) = pool.iter().find(|s| num(s).is_none()) {
        return Some(odd);
    }
    let by = |a: &&&Sample, b: &&&Sample| {
        num(a)
            .partial_cmp(&num(b))
            .unwrap_or(std::cmp::Ordering::Equal)
    };
    match op {
        CmpOp::Lt | CmpOp::Le => pool.iter().max_by(by).copied(),
        CmpOp::Gt | CmpOp::Ge => pool.iter().min_by(by).copied(),
        CmpOp::Eq | CmpOp::Ne => pool.first().copied(),
    }
}

fn describe(t: &Threshold) -> String {
    let op = match t.op {
        CmpOp::Eq => "==",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    };
    format!("{op} {}", t.text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn samples(values: &[&str]) -> Vec<Sample> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Sample {
                series: format!("up{{instance=\"h{i}\"}}"),
                value: (*v).into(),
            })
            .collect()
    }

    fn threshold(s: &str) -> Threshold {
        Threshold::parse(s).expect("threshold")
    }

    #[test]
    fn every_sample_must_hold_and_the_worst_is_reported() {
        let cases = [
            (&["0.1", "0.5"][..], "< 0.9", CheckStatus::Pass, "0.5"),
            (
                &["0.1", "0.95", "0.99"][..],
                "< 0.9",
                CheckStatus::Fail,
                "0.99",
            ),
            (&["3", "1", "2"][..], ">= 2", CheckStatus::Fail, "1"),
            (&["3", "5"][..], ">= 2", CheckStatus::Pass, "3"),
            (&["1", "0", "0"][..], "== 1", CheckStatus::Fail, "0"),
            (&["0.2", "NaN"][..], "< 1", CheckStatus::Fail, "NaN"),
        ];
        for (values, cond, status, value) in cases {
            let o = judge(&samples(values), &threshold(cond), OnEmpty::Fail);
            assert_eq!(
                (o.status, o.value.as_deref()),
                (status, Some(value)),
                "{values:?} {cond}"
            );
        }
    }

    #[test]
    fn evidence_lists_failing_series_first_and_counts_the_rest() {
        let mut values = vec!["0"; 30];
        values[25] = "7";
        let o = judge(&samples(&values), &threshold("== 0"), OnEmpty::Fail);
        let first = o.evidence.lines().nth(1).expect("a series line");
        assert_eq!(first, "up{instance=\"h25\"} = 7");
        assert!(
            o.evidence.starts_with("30 series, 1 not satisfying `== 0`"),
            "{}",
            o.evidence
        );
        assert!(o.evidence.ends_with("… and 10 more"), "{}", o.evidence);
    }

    #[test]
    fn an_empty_result_is_what_on_empty_says() {
        for (on_empty, status) in [
            (OnEmpty::Pass, CheckStatus::Pass),
            (OnEmpty::Fail, CheckStatus::Fail),
            (OnEmpty::Error, CheckStatus::Error),
        ] {
            assert_eq!(judge(&[], &threshold("> 0"), on_empty).status, status);
        }
    }

    #[test]
    fn answers_parse_into_samples_or_say_why_not() {
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"up","job":"a"},"value":[1700000000.1,"1"]},
            {"metric":{},"value":[1700000000.1,"2"]}]}}"#;
        assert_eq!(
            parse(200, vector).expect("parses"),
            vec![
                Sample {
                    series: "up{job=\"a\"}".into(),
                    value: "1".into()
                },
                Sample {
                    series: "{}".into(),
                    value: "2".into()
                },
            ]
        );
        let scalar = br#"{"status":"success","data":{"resultType":"scalar","result":[1,"42"]}}"#;
        assert_eq!(parse(200, scalar).expect("parses")[0].value, "42");
        let bad = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#;
        assert!(
            parse(400, bad)
                .expect_err("error")
                .contains("parse error at char 3")
        );
        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(
            parse(200, matrix)
                .expect_err("error")
                .contains("range vector")
        );
        assert!(
            parse(502, b"<html>bad gateway</html>")
                .expect_err("error")
                .contains("502")
        );
    }
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<f64>().prop_map(|f| f.to_string()),
            (-1e3f64..1e3).prop_map(|f| f.to_string()),
            "[-+0-9.eEaNIinf]{0,6}",
        ]
    }

    proptest! {
        #[test]
        fn pass_exactly_when_every_sample_holds_and_a_failure_shows_a_failing_value(
            values in prop::collection::vec(value(), 1..30),
            op in prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">="]),
            bound in -1e3f64..1e3,
        ) {
            let t = threshold(&format!("{op} {bound}"));
            let s: Vec<Sample> = values
                .iter()
                .map(|v| Sample { series: "s".into(), value: v.clone() })
                .collect();
            let o = judge(&s, &t, OnEmpty::Error);
            let all_hold = values.iter().all(|v| t.holds(v));
            prop_assert_eq!(o.status == CheckStatus::Pass, all_hold);
            let shown = o.value.expect("a value");
            prop_assert!(values.contains(&shown));
            prop_assert_eq!(t.holds(&shown), all_hold);
        }

        #[test]
        fn any_answer_is_read_or_refused_without_panicking(
            body in prop::collection::vec(any::<u8>(), 0..200),
            status in 100u16..600,
        ) {
            let _ = parse(status, &body);
        }
    }
}
