//! The safety lever on every drill page and the overview: where it stands, a prominent banner
//! while it is engaged, and (with `drills:run`) the form that pulls or releases it. A change
//! needs a comment (it is what the audit log and the banner say); it goes through the engine
//! function the API's `POST /api/v1/drills/lever` uses, so pulling it stops every run.

use super::Run;
use crate::engine::drills::runs as engine;
use crate::ui::fields::{Fields, Form};
use crate::ui::plans::Problem;
use crate::ui::{Ui, UiError, when};
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use shared::drill::Lever;

/// The lever as a page shows it.
pub struct LeverView {
    pub engaged: bool,
    pub changed_by: String,
    pub changed_at: String,
    pub comment: String,
    /// Where the form comes back to: the page it is on.
    pub next: String,
    /// Why the last change was refused.
    pub problem: Option<Problem>,
}

pub fn view(ui: &Ui, l: &Lever, next: &str, problem: Option<Problem>) -> LeverView {
    LeverView {
        engaged: l.engaged,
        changed_by: l.changed_by.clone(),
        changed_at: l
            .changed_at
            .map(|at| when(ui, Some(at)))
            .unwrap_or_default(),
        comment: l.comment.clone(),
        next: next.to_string(),
        problem,
    }
}

/// A console path to come back to; anything else (another site, `//host`) is the drills list.
fn back_to(next: &str) -> &str {
    let local = next.starts_with('/') && !next.starts_with("//") && !next.contains('\\');
    if local { next } else { "/drills" }
}

/// Pulls (`engaged=true`) or releases the lever, audited with the comment, then goes back to
/// the page the form was on. Without a comment: the drills list again, 400 naming `comment`.
pub async fn set(auth: Run, Form { ui, body }: Form) -> Result<HttpResponse, UiError> {
    let f = Fields::parse(&body);
    let engaged = f.get("engaged") == "true";
    let comment = f.get("comment").trim().to_string();
    if comment.is_empty() {
        let refused = Problem {
            field: "comment".into(),
            detail: ui.tr().get("lever.comment_required").into(),
        };
        return super::render_list(&auth, &ui, Some(refused), StatusCode::BAD_REQUEST).await;
    }
    engine::pull_lever(&auth.store, &auth.metrics, auth.actor(), engaged, comment)
        .await
        .map_err(|e| ui.fail(e))?;
    let notice = match engaged {
        true => "lever_pulled",
        false => "lever_released",
    };
    let next = back_to(f.get("next"));
    let sep = if next.contains('?') { '&' } else { '?' };
    Ok(ui.redirect(format!("{next}{sep}notice={notice}")))
}

#[cfg(test)]
mod tests {
    use super::back_to;

    #[test]
    fn the_lever_form_only_goes_back_to_a_console_page() {
        assert_eq!(back_to("/drills/3"), "/drills/3");
        assert_eq!(back_to("/"), "/");
        for foreign in ["https://evil.example/", "//evil.example", "/\\evil", ""] {
            assert_eq!(back_to(foreign), "/drills", "{foreign}");
        }
    }
}
