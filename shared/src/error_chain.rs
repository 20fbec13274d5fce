//! An error and its causes on one line, for messages that cross a process boundary (a peer's
//! transport failure in a problem's detail, the OIDC client's "unreachable").

/// `outer: inner: innermost`.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}
