//! Key ranges: a single key, a prefix, or `[start, end)` in byte order.

/// A set of keys: those from `start` (inclusive) up to `end` (exclusive), or
/// only `start` when `end` is `None`. An empty `end` is no upper bound. Keys
/// compare as bytes, as in etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub start: String,
    pub end: Option<String>,
}

impl KeyRange {
    /// Just `key`.
    pub fn key(key: impl Into<String>) -> KeyRange {
        KeyRange {
            start: key.into(),
            end: None,
        }
    }

    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: impl Into<String>) -> KeyRange {
        let start = prefix.into();
        let end = prefix_end(&start);
        KeyRange {
            start,
            end: Some(end),
        }
    }

    /// The keys in `[start, end)`.
    pub fn between(start: impl Into<String>, end: impl Into<String>) -> KeyRange {
        KeyRange {
            start: start.into(),
            end: Some(end.into()),
        }
    }

    /// The rest of this range after `key`: how a paged list continues from
    /// the last key it returned.
    pub fn after(&self, key: &str) -> KeyRange {
        let mut start = String::with_capacity(key.len() + 1);
        start.push_str(key);
        start.push('\0');
        KeyRange {
            start,
            end: self.end.clone(),
        }
    }

    /// Whether `key` is in the range.
    pub fn contains(&self, key: &str) -> bool {
        match &self.end {
            None => key == self.start,
            Some(end) => key >= self.start.as_str() && (end.is_empty() || key < end.as_str()),
        }
    }
}

/// The least string greater than every string that starts with `prefix`, or
/// the empty string ("no upper bound") when there is none.
///
/// UTF-8 orders as code points do, so raising the last character that can
/// be raised bounds the prefix; an empty `prefix` has no bound.
fn prefix_end(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return chars.into_iter().collect();
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_covers_exactly_the_keys_that_start_with_it() {
        let range = KeyRange::prefix("/registry/pods/");
        assert_eq!(range.end.as_deref(), Some("/registry/pods0"));
        assert!(range.contains("/registry/pods/default/a"));
        assert!(range.contains("/registry/pods/"));
        assert!(!range.contains("/registry/pods"));
        assert!(!range.contains("/registry/podsx"));
        assert!(!range.contains("/registry/services/default/a"));
    }

    #[test]
    fn prefix_end_skips_characters_that_cannot_be_raised() {
        assert_eq!(prefix_end("a\u{10FFFF}"), "b");
        assert_eq!(prefix_end("a\u{D7FF}"), "a\u{E000}");
        assert_eq!(prefix_end("\u{10FFFF}"), "");
        assert_eq!(prefix_end(""), "");
    }

    #[test]
    fn empty_end_means_no_upper_bound() {
        let all = KeyRange::prefix("");
        assert!(all.contains("anything"));
        assert!(all.contains(""));
    }

    #[test]
    fn after_continues_past_the_last_key_only() {
        let range = KeyRange::prefix("/a/");
        let rest = range.after("/a/x");
        assert!(!rest.contains("/a/x"));
        assert!(rest.contains("/a/x\0"));
        assert!(rest.contains("/a/xa"));
        assert!(rest.contains("/a/y"));
        assert!(!rest.contains("/b"));
    }
}
