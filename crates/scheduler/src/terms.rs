//! Pod (anti-)affinity terms: which pods a term selects, and in which topology
//! domains those pods are found.

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm};

use crate::cache::Cache;
use crate::selectors::{self, Labels};

/// The namespaces a term of `owner` applies to: its list, plus those its selector picks
/// (an empty selector picks all); the owner's own namespace when neither is given.
pub enum Namespaces {
    All,
    Some(HashSet<String>),
}

impl Namespaces {
    pub fn of(term: &PodAffinityTerm, owner: &Pod, cache: &Cache) -> Namespaces {
        let listed: HashSet<String> = term.namespaces.iter().flatten().cloned().collect();
        match &term.namespace_selector {
            Some(s) if s.match_labels.as_ref().is_none_or(|m| m.is_empty()) && s.match_expressions.as_ref().is_none_or(|e| e.is_empty()) => Namespaces::All,
            Some(s) => {
                let mut names = listed;
                names.extend(cache.namespaces().filter(|(_, l)| selectors::matches(s, l)).map(|(n, _)| n.clone()));
                Namespaces::Some(names)
            }
            None if listed.is_empty() => Namespaces::Some(HashSet::from([owner.metadata.namespace.clone().unwrap_or_default()])),
            None => Namespaces::Some(listed),
        }
    }

    fn contains(&self, namespace: &str) -> bool {
        match self {
            Namespaces::All => true,
            Namespaces::Some(set) => set.contains(namespace),
        }
    }
}

/// A term ready to match pods.
pub struct Term<'a> {
    pub term: &'a PodAffinityTerm,
    namespaces: Namespaces,
}

static NO_LABELS: std::sync::LazyLock<Labels> = std::sync::LazyLock::new(Labels::new);

impl<'a> Term<'a> {
    pub fn new(term: &'a PodAffinityTerm, owner: &Pod, cache: &Cache) -> Term<'a> {
        Term { term, namespaces: Namespaces::of(term, owner, cache) }
    }

    pub fn topology_key(&self) -> &str {
        &self.term.topology_key
    }

    /// Whether `pod` is one the term selects (a term without a selector selects nothing).
    pub fn selects(&self, pod: &Pod) -> bool {
        let Some(selector) = &self.term.label_selector else {
            return false;
        };
        self.namespaces.contains(pod.metadata.namespace.as_deref().unwrap_or_default())
            && selectors::matches(selector, pod.metadata.labels.as_ref().unwrap_or(&NO_LABELS))
    }

    /// How many selected pods each topology domain (value of the term's key) holds.
    pub fn domains(&self, cache: &Cache) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for node in cache.nodes() {
            let Some(value) = node.label(self.topology_key()) else {
                continue;
            };
            let n = node.pods.values().filter(|p| self.selects(p)).count();
            if n > 0 {
                *counts.entry(value.to_string()).or_insert(0) += n;
            }
        }
        counts
    }
}
