//! Target selectors: which resources a patch or replacement acts on.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::resource::Resource;

/// A selector by group/version/kind, name and namespace (regular
/// expressions matched against the whole value) and label/annotation selectors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub label_selector: String,
    #[serde(default)]
    pub annotation_selector: String,
    /// Kind, name and namespace are literal values, not regular expressions
    /// (the selector a patch's own id implies).
    #[serde(skip)]
    pub literal: bool,
}

impl Selector {
    /// Whether the resource, under its current or any earlier id, is selected.
    /// Errors carry a message about a bad regular expression or selector.
    pub fn matches(&self, res: &Resource) -> Result<bool, String> {
        if !self.group.is_empty() && self.group != res.group() {
            return Ok(false);
        }
        if !self.version.is_empty() && self.version != res.version() {
            return Ok(false);
        }
        let full_match = |pattern: &str, value: &str| -> Result<bool, String> {
            if self.literal {
                Ok(pattern == value)
            } else {
                full_match(pattern, value)
            }
        };
        if !self.kind.is_empty() && !full_match(&self.kind, res.kind())? {
            return Ok(false);
        }
        if !self.name.is_empty() {
            let mut any = false;
            for n in std::iter::once(res.name()).chain(res.prev_names.iter().map(String::as_str)) {
                if full_match(&self.name, n)? {
                    any = true;
                    break;
                }
            }
            if !any {
                return Ok(false);
            }
        }
        if !self.namespace.is_empty() {
            let mut any = false;
            for n in std::iter::once(res.namespace())
                .chain(res.prev_namespaces.iter().map(String::as_str))
            {
                if full_match(&self.namespace, n)? {
                    any = true;
                    break;
                }
            }
            if !any {
                return Ok(false);
            }
        }
        if !self.label_selector.is_empty()
            && !selector_matches(&self.label_selector, res.labels())?
        {
            return Ok(false);
        }
        if !self.annotation_selector.is_empty()
            && !selector_matches(&self.annotation_selector, res.annotations())?
        {
            return Ok(false);
        }
        Ok(true)
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("group", &self.group),
            ("version", &self.version),
            ("kind", &self.kind),
            ("name", &self.name),
            ("namespace", &self.namespace),
            ("labelSelector", &self.label_selector),
            ("annotationSelector", &self.annotation_selector),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={v}"));
            }
        }
        parts.join(" ")
    }
}

fn full_match(pattern: &str, value: &str) -> Result<bool, String> {
    if pattern == value {
        return Ok(true);
    }
    if !pattern.contains(|c: char| "\\.+*?()|[]{}^$".contains(c)) {
        return Ok(false);
    }
    let re = regex_lite::Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))?;
    Ok(re.is_match(value))
}

/// Matches a Kubernetes label selector string (`a=b,c!=d,e in (f,g),h,!i`).
pub fn selector_matches(selector: &str, labels: Option<&Map<String, Value>>) -> Result<bool, String> {
    let empty = Map::new();
    let labels = labels.unwrap_or(&empty);
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    for term in split_terms(selector) {
        let term = term.trim();
        if term.is_empty() {
            continue;
        }
        let ok = if let Some((k, rest)) = term.split_once(" notin ") {
            let set = parse_set(rest)?;
            get(k.trim()).is_none_or(|v| !set.contains(&v))
        } else if let Some((k, rest)) = term.split_once(" in ") {
            let set = parse_set(rest)?;
            get(k.trim()).is_some_and(|v| set.contains(&v))
        } else if let Some((k, v)) = term.split_once("!=") {
            get(k.trim()) != Some(v.trim())
        } else if let Some((k, v)) = term.split_once("==") {
            get(k.trim()) == Some(v.trim())
        } else if let Some((k, v)) = term.split_once('=') {
            get(k.trim()) == Some(v.trim())
        } else if let Some(k) = term.strip_prefix('!') {
            get(k.trim()).is_none()
        } else {
            get(term).is_some()
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Splits on commas that are not inside parentheses.
fn split_terms(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn parse_set(s: &str) -> Result<Vec<&str>, String> {
    let s = s.trim();
    let inner = s
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("invalid set in label selector: {s}"))?;
    Ok(inner.split(',').map(str::trim).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selector_supports_equality_sets_and_existence() {
        let l = json!({"app": "web", "tier": "front"});
        let m = l.as_object();
        assert!(selector_matches("app=web", m).unwrap());
        assert!(selector_matches("app==web,tier!=back", m).unwrap());
        assert!(selector_matches("tier in (front, back)", m).unwrap());
        assert!(!selector_matches("tier notin (front)", m).unwrap());
        assert!(selector_matches("app,!missing", m).unwrap());
        assert!(!selector_matches("app=db", m).unwrap());
    }

    #[test]
    fn name_is_matched_as_a_whole_regex_against_any_earlier_name() {
        let mut r = Resource::new(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a-cfg"}}));
        r.set_name("p-a-cfg");
        let sel = Selector { name: "a-.*".into(), ..Default::default() };
        assert!(sel.matches(&r).unwrap());
        let sel = Selector { name: "cfg".into(), ..Default::default() };
        assert!(!sel.matches(&r).unwrap());
    }
}
