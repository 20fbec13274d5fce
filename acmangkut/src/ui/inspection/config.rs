//! `/inspection/config`: config as code. Shows the current definitions as the YAML document
//! the API exports, and applies a pasted document (optionally as a dry run) with the same
//! parse and apply as `POST /api/v1/inspection/config:apply`: one transaction, matched by name,
//! nothing deleted.

use super::{Read, Write};
use crate::engine::config::{self as code, ApplyResult, Kind, Outcome};
use crate::ui::fields::{Fields, Form};
use crate::ui::i18n::Tr;
use crate::ui::views::Chrome;
use crate::ui::{Ui, UiError};
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;
use shared::ApiError;

/// Keys this page looks up by value (a test checks both catalogs have them).
pub const DYNAMIC_KEYS: [&str; 4] = ["insp.plugins", "insp.channels", "insp.rules", "insp.tasks"];

/// What one kind of object did.
pub struct KindOutcome {
    pub kind: &'static str,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
}

pub struct Applied {
    pub dry_run: bool,
    pub kinds: Vec<KindOutcome>,
}

/// Why a document was not applied.
pub struct Problem {
    /// Where in the document (`rules[2].level`), when known.
    pub field: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "inspection/config.html")]
pub struct ConfigPage {
    pub c: Chrome,
    pub t: Tr,
    /// The current definitions as YAML.
    pub yaml: String,
    /// The document as pasted (kept when it failed).
    pub typed: String,
    pub dry_run: bool,
    pub applied: Option<Applied>,
    pub problem: Option<Problem>,
}

pub fn applied_view(t: Tr, r: ApplyResult) -> Applied {
    let kind = |key: &'static str, o: Outcome| KindOutcome {
        kind: t.get(key),
        created: o.created,
        updated: o.updated,
        unchanged: o.unchanged,
    };
    Applied {
        dry_run: r.dry_run,
        kinds: vec![
            kind(DYNAMIC_KEYS[0], r.plugins),
            kind(DYNAMIC_KEYS[1], r.channels),
            kind(DYNAMIC_KEYS[2], r.rules),
            kind(DYNAMIC_KEYS[3], r.tasks),
        ],
    }
}

pub fn problem_view(e: &ApiError) -> Problem {
    Problem {
        field: e.field.clone().unwrap_or_default(),
        detail: e.detail.clone(),
    }
}

/// A checkbox's value means "on".
fn checked(v: &str) -> bool {
    matches!(v, "on" | "1" | "true" | "yes")
}

/// The current definitions as the API exports them.
async fn export(store: &crate::store::Store, ui: &Ui) -> Result<String, UiError> {
    store
        .run(|c| code::render(&code::export(c, &[Kind::Inspection])?))
        .await
        .map_err(|e| ui.fail(e))
}

pub async fn show(auth: Read, ui: Ui) -> Result<HttpResponse, UiError> {
    let yaml = export(&auth.store, &ui).await?;
    let t = ui.tr();
    ui.render(&ConfigPage {
        c: ui.chrome(t.get("insp.config"), "inspection"),
        t,
        yaml,
        typed: String::new(),
        dry_run: true,
        applied: None,
        problem: None,
    })
}

pub async fn apply(auth: Write, Form { ui, body }: Form) -> Result<HttpResponse, UiError> {
    let t = ui.tr();
    let fields = Fields::parse(&body);
    let typed = fields.get("yaml").to_string();
    let dry_run = checked(fields.get("dry_run"));
    let outcome = if typed.trim().is_empty() {
        Err(ApiError::invalid("yaml", t.get("insp.config.empty")))
    } else {
        match code::parse(typed.as_bytes()).and_then(|d| code::only_inspection(&d).map(|_| d)) {
            Err(e) => Err(ApiError::from(e)),
            Ok(doc) => {
                let (actor, engines) = (auth.actor(), auth.plan_context());
                auth.store
                    .run(move |c| {
                        let ctx = code::Context {
                            engines: &engines,
                            actor: &actor,
                        };
                        let applied = code::apply(c, &ctx, &doc, dry_run);
                        Ok::<_, ApiError>(applied.map_err(ApiError::from))
                    })
                    .await
                    .map_err(|e| ui.fail(e))?
            }
        }
    };
    let (status, applied, problem) = match outcome {
        Ok(r) => {
            tracing::info!(dry_run, "inspection config applied from the console");
            (StatusCode::OK, Some(applied_view(t, r)), None)
        }
        Err(e) if e.code.http_status().is_client_error() => {
            (StatusCode::BAD_REQUEST, None, Some(problem_view(&e)))
        }
        Err(e) => return Err(ui.fail(e)),
    };
    let yaml = export(&auth.store, &ui).await?;
    let page = ConfigPage {
        c: ui.chrome(t.get("insp.config"), "inspection"),
        t,
        yaml,
        // A document that applied is in the export now; one that did not is given back.
        typed: if problem.is_some() || dry_run {
            typed
        } else {
            String::new()
        },
        dry_run,
        applied,
        problem,
    };
    ui.render_status(status, &page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::i18n::Lang;

    #[test]
    fn an_apply_result_lists_every_kind_in_document_order() {
        let mut r = ApplyResult {
            dry_run: true,
            ..Default::default()
        };
        r.rules.created.push("disk".into());
        r.tasks.unchanged.push("nightly".into());
        let v = applied_view(Tr(Lang::En), r);
        assert!(v.dry_run);
        let kinds: Vec<&str> = v.kinds.iter().map(|k| k.kind).collect();
        assert_eq!(kinds, ["Plugins", "Channels", "Rules", "Tasks"]);
        assert_eq!(v.kinds[2].created, ["disk"]);
        assert_eq!(v.kinds[3].unchanged, ["nightly"]);
    }

    #[test]
    fn a_bad_document_names_the_field_and_line() {
        let e = code::parse(b"rules:\n  - name: a\n    plugin: tcp\n    level: urgent\n")
            .expect_err("bad level");
        let p = problem_view(&ApiError::from(e));
        assert_eq!(p.field, "rules[0].level");
        assert!(p.detail.contains("line 4"), "{}", p.detail);
    }

    #[test]
    fn only_a_ticked_box_is_a_dry_run() {
        assert!(checked("on") && checked("1"));
        assert!(!checked("") && !checked("off"));
    }
}
