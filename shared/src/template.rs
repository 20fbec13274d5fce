//! Rule parameters templated with target variables: `{{ name }}` is replaced by the variable's
//! value. Deliberately small: no expressions, loops or filters, so a parameter can never run
//! code, and an unknown variable is an error that names it (never an empty string).
//! `{{` followed by no closing `}}` is an error too; there is no escape because no parameter of
//! ours needs a literal `{{`.

use serde_json::Value;
use std::collections::BTreeMap;

pub const MAX_VAR_NAME: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    Unclosed { position: usize },
    BadName { position: usize, name: String },
    Unknown { name: String },
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unclosed { position } => write!(f, "`{{{{` at {position} is never closed"),
            Self::BadName { position, name } => write!(
                f,
                "`{name}` at {position} is not a variable name (a-z, A-Z, 0-9, '_', '-', '.')"
            ),
            Self::Unknown { name } => write!(f, "the target defines no variable `{name}`"),
        }
    }
}

/// A variable name: 1-64 characters of a-z, A-Z, 0-9, '_', '-', '.'.
pub fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= MAX_VAR_NAME
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

/// Splits `s` into literal text and variable names, in order.
fn parse(s: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = s;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unclosed {
            position: offset + start,
        })?;
        let name = after[..end].trim();
        if !valid_name(name) {
            return Err(TemplateError::BadName {
                position: offset + start,
                name: name.to_string(),
            });
        }
        out.push(Piece::Var(name));
        let consumed = start + 2 + end + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// The variables `s` uses, in order of first use.
pub fn variables(s: &str) -> Result<Vec<String>, TemplateError> {
    let mut names: Vec<String> = Vec::new();
    for p in parse(s)? {
        if let Piece::Var(n) = p
            && !names.iter().any(|x| x == n)
        {
            names.push(n.to_string());
        }
    }
    Ok(names)
}

/// Renders `s` with `vars`.
pub fn render(s: &str, vars: &BTreeMap<String, String>) -> Result<String, TemplateError> {
    if !s.contains("{{") {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    for p in parse(s)? {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(n) => out.push_str(vars.get(n).ok_or_else(|| TemplateError::Unknown {
                name: n.to_string(),
            })?),
        }
    }
    Ok(out)
}

/// Renders every string inside a JSON value (object keys stay as they are). On error, the
/// second element is the JSON path of the string at fault (`target`, `args[1]`).
pub fn render_json(
    v: &Value,
    vars: &BTreeMap<String, String>,
) -> Result<Value, (String, TemplateError)> {
    fn walk(
        v: &Value,
        vars: &BTreeMap<String, String>,
        path: &mut String,
    ) -> Result<Value, (String, TemplateError)> {
        Ok(match v {
            Value::String(s) => Value::String(render(s, vars).map_err(|e| (path.clone(), e))?),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    out.push(walk(item, vars, path)?);
                    path.truncate(len);
                }
                Value::Array(out)
            }
            Value::Object(map) => {
                let mut out = serde_json::Map::with_capacity(map.len());
                for (k, item) in map {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    out.insert(k.clone(), walk(item, vars, path)?);
                    path.truncate(len);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
    walk(v, vars, &mut String::new())
}

/// The value at `path` of a JSON value, `path` as [`render_json`] names them (`host`,
/// `args[1]`, `headers.X-Token`).
pub fn value_at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |at, part| {
        let (key, indices) = part.split_once('[').unwrap_or((part, ""));
        let at = if key.is_empty() { at } else { at.get(key)? };
        indices
            .split('[')
            .filter(|s| !s.is_empty())
            .try_fold(at, |at, i| {
                at.get(i.trim_end_matches(']').parse::<usize>().ok()?)
            })
    })
}

/// Every variable used anywhere in a JSON value; the error carries the path at fault.
pub fn json_variables(v: &Value) -> Result<Vec<String>, (String, TemplateError)> {
    let mut names: Vec<String> = Vec::new();
    for (_, n) in json_uses(v)? {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    Ok(names)
}

/// Each use of a variable in a JSON value, as `(path of the string, name)`, in document order
/// (`headers.Authorization`, `secret.token`); the error carries the path at fault.
pub fn json_uses(v: &Value) -> Result<Vec<(String, String)>, (String, TemplateError)> {
    fn collect(
        v: &Value,
        path: String,
        uses: &mut Vec<(String, String)>,
    ) -> Result<(), (String, TemplateError)> {
        match v {
            Value::String(s) => {
                for n in variables(s).map_err(|e| (path.clone(), e))? {
                    uses.push((path.clone(), n));
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    collect(item, format!("{path}[{i}]"), uses)?;
                }
            }
            Value::Object(map) => {
                for (k, item) in map {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    collect(item, p, uses)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
    let mut uses = Vec::new();
    collect(v, String::new(), &mut uses)?;
    Ok(uses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn renders_and_names_what_is_wrong() {
        let v = vars(&[("host", "10.0.0.1"), ("port", "443")]);
        assert_eq!(
            render("https://{{host}}:{{ port }}/x", &v).expect("ok"),
            "https://10.0.0.1:443/x"
        );
        assert_eq!(
            render("{{nope}}", &v),
            Err(TemplateError::Unknown {
                name: "nope".into()
            })
        );
        assert!(matches!(
            render("a {{host", &v),
            Err(TemplateError::Unclosed { position: 2 })
        ));
        assert!(matches!(
            render("{{ a b }}", &v),
            Err(TemplateError::BadName { .. })
        ));
        assert_eq!(
            variables("{{a}}{{b}}{{a}}").expect("ok"),
            vec!["a".to_string(), "b".to_string()]
        );
    }

    #[test]
    fn json_rendering_names_the_path() {
        let v = vars(&[("host", "h")]);
        let params = json!({"target": "{{host}}:1", "args": ["x", "{{port}}"], "n": 3});
        let (path, e) = render_json(&params, &v).expect_err("port unknown");
        assert_eq!(path, "args[1]");
        assert!(matches!(e, TemplateError::Unknown { .. }));
        let ok = render_json(&json!({"target": "{{host}}:1", "n": 3}), &v).expect("ok");
        assert_eq!(ok, json!({"target": "h:1", "n": 3}));
        // In the map's key order, which serde_json features decide: compare as a set.
        assert_eq!(value_at(&params, "args[1]"), Some(&json!("{{port}}")));
        assert_eq!(value_at(&params, "target"), Some(&json!("{{host}}:1")));
        assert_eq!(value_at(&params, "args[5]"), None);
        let mut names = json_variables(&params).expect("ok");
        names.sort();
        assert_eq!(names, vec!["host".to_string(), "port".to_string()]);
        let mut uses = json_uses(&params).expect("ok");
        uses.sort();
        let at = |p: &str, n: &str| (p.to_string(), n.to_string());
        assert_eq!(uses, vec![at("args[1]", "port"), at("target", "host")]);
    }

    proptest::proptest! {
        #[test]
        fn render_never_panics(s in ".{0,60}") {
            let v = vars(&[("a", "1")]);
            let _ = render(&s, &v);
            let _ = variables(&s);
        }

        #[test]
        fn text_without_braces_is_unchanged(s in "[^{}]{0,60}") {
            proptest::prop_assert_eq!(render(&s, &BTreeMap::new()).expect("plain"), s);
        }

        #[test]
        fn every_known_variable_is_substituted(
            name in "[a-z][a-z0-9_]{0,10}", value in "[^{}]{0,20}", pre in "[^{}]{0,10}",
        ) {
            let v = vars(&[(name.as_str(), value.as_str())]);
            let out = render(&format!("{pre}{{{{ {name} }}}}{pre}"), &v).expect("renders");
            proptest::prop_assert_eq!(out, format!("{pre}{value}{pre}"));
        }
    }
}
