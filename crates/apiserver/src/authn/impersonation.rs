//! Impersonation: an authenticated user acting as another with the
//! `Impersonate-User`, `Impersonate-Group`, `Impersonate-Uid` and
//! `Impersonate-Extra-<key>` headers (`kubectl --as`, `--as-group`,
//! `--as-uid`). Each part must be allowed by the authorizer as the verb
//! `impersonate` on `users`, `groups`, `serviceaccounts` (core group) or
//! `uids`, `userextras/<key>` (`authentication.k8s.io`), as Kubernetes checks it.

use std::collections::BTreeMap;

use axum::http::HeaderMap;

use super::{serviceaccount, User, ANONYMOUS, AUTHENTICATED, UNAUTHENTICATED};
use crate::authz::{Attributes, Authorizer, Decision, Target};
use crate::status::{ApiError, ApiResult};

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA_PREFIX: &str = "impersonate-extra-";

/// Whether the request asks to impersonate anyone.
pub fn requested(headers: &HeaderMap) -> bool {
    headers
        .keys()
        .any(|k| k.as_str().starts_with("impersonate-"))
}

/// The user `requester` acts as: itself without impersonation headers, the impersonated
/// user if the authorizer allows every part of it; 403 if it does not, 400 for headers
/// that make no sense.
pub async fn impersonate(
    authorizer: &dyn Authorizer,
    requester: User,
    headers: &HeaderMap,
) -> ApiResult<User> {
    if !requested(headers) {
        return Ok(requester);
    }
    let text = |value: &axum::http::HeaderValue, header: &str| {
        value
            .to_str()
            .map(str::to_string)
            .map_err(|_| ApiError::bad_request(format!("the {header} header is not visible ASCII")))
    };
    let name = headers
        .get(USER)
        .map(|v| text(v, "Impersonate-User"))
        .transpose()?;
    let groups = headers
        .get_all(GROUP)
        .iter()
        .map(|v| text(v, "Impersonate-Group"))
        .collect::<ApiResult<Vec<_>>>()?;
    let uid = headers
        .get(UID)
        .map(|v| text(v, "Impersonate-Uid"))
        .transpose()?;
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (header, value) in headers {
        if let Some(key) = header.as_str().strip_prefix(EXTRA_PREFIX) {
            let key = crate::request::percent_decode(key).to_ascii_lowercase();
            extra
                .entry(key)
                .or_default()
                .push(text(value, header.as_str())?);
        }
    }
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Err(ApiError::bad_request(
            "impersonating groups, a uid or extra fields requires impersonating a user: add the Impersonate-User header (kubectl --as)",
        ));
    };

    let mut checks = Vec::new();
    match serviceaccount::parse_user(&name) {
        Some((namespace, sa)) => {
            checks.push(target("", "serviceaccounts", None, Some(namespace), sa))
        }
        None => checks.push(target("", "users", None, None, &name)),
    }
    for group in &groups {
        checks.push(target("", "groups", None, None, group));
    }
    if let Some(uid) = &uid {
        checks.push(target("authentication.k8s.io", "uids", None, None, uid));
    }
    for (key, values) in &extra {
        for value in values {
            checks.push(target(
                "authentication.k8s.io",
                "userextras",
                Some(key),
                None,
                value,
            ));
        }
    }
    for check in checks {
        let attributes = Attributes {
            user: requester.clone(),
            verb: "impersonate".into(),
            target: check,
        };
        match authorizer.authorize(&attributes).await {
            Decision::Allow => {}
            Decision::Deny(reason) => return Err(attributes.forbidden(&reason)),
            Decision::NoOpinion => return Err(attributes.forbidden("")),
        }
    }

    let mut user = User {
        name,
        uid: uid.unwrap_or_default(),
        groups,
        extra,
    };
    if user.groups.is_empty() {
        if let Some((namespace, _)) = serviceaccount::parse_user(&user.name) {
            user.groups = serviceaccount::sa_groups(namespace);
        }
    }
    if user.name == ANONYMOUS {
        user.add_group(UNAUTHENTICATED);
    } else {
        user.add_group(AUTHENTICATED);
    }
    Ok(user)
}

fn target(
    group: &str,
    resource: &str,
    subresource: Option<&str>,
    namespace: Option<&str>,
    name: &str,
) -> Target {
    Target::Resource {
        group: group.into(),
        resource: resource.into(),
        subresource: subresource.map(str::to_string),
        namespace: namespace.map(str::to_string),
        name: Some(name.into()),
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::BoxFuture;

    /// Allows everything.
    struct AlwaysAllow;

    impl Authorizer for AlwaysAllow {
        fn authorize<'a>(&'a self, _: &'a Attributes) -> BoxFuture<'a, Decision> {
            Box::pin(async { Decision::Allow })
        }
    }

    /// Allows impersonating users but not groups.
    struct UsersOnly;

    impl Authorizer for UsersOnly {
        fn authorize<'a>(&'a self, a: &'a Attributes) -> BoxFuture<'a, Decision> {
            let allowed =
                matches!(&a.target, Target::Resource { resource, .. } if resource == "users");
            Box::pin(async move {
                if allowed {
                    Decision::Allow
                } else {
                    Decision::NoOpinion
                }
            })
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn run(authorizer: &dyn Authorizer, h: &HeaderMap) -> ApiResult<User> {
        let admin = User::new("admin", vec!["system:masters".into()]);
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(impersonate(authorizer, admin, h))
    }

    #[test]
    fn the_impersonated_user_replaces_the_requester() {
        let h = headers(&[
            ("Impersonate-User", "jane"),
            ("Impersonate-Group", "dev"),
            ("Impersonate-Group", "ops"),
            ("Impersonate-Uid", "42"),
            ("Impersonate-Extra-example.com%2Fteam", "blue"),
        ]);
        let user = run(&AlwaysAllow, &h).unwrap();
        assert_eq!(user.name, "jane");
        assert_eq!(user.uid, "42");
        assert_eq!(user.groups, vec!["dev", "ops", AUTHENTICATED]);
        assert_eq!(user.extra["example.com/team"], vec!["blue".to_string()]);
        let sa = run(
            &AlwaysAllow,
            &headers(&[("Impersonate-User", "system:serviceaccount:ns:bot")]),
        )
        .unwrap();
        assert_eq!(
            sa.groups,
            vec![
                "system:serviceaccounts",
                "system:serviceaccounts:ns",
                AUTHENTICATED
            ]
        );
        assert_eq!(run(&AlwaysAllow, &HeaderMap::new()).unwrap().name, "admin");
    }

    #[test]
    fn each_part_needs_the_authorizer_and_a_user() {
        assert_eq!(
            run(&UsersOnly, &headers(&[("Impersonate-User", "jane")]))
                .unwrap()
                .name,
            "jane"
        );
        let e = run(
            &UsersOnly,
            &headers(&[("Impersonate-User", "jane"), ("Impersonate-Group", "dev")]),
        )
        .unwrap_err();
        assert_eq!(e.code, 403);
        assert!(
            e.message.contains("cannot impersonate resource \"groups\""),
            "{}",
            e.message
        );
        assert_eq!(
            run(&AlwaysAllow, &headers(&[("Impersonate-Group", "dev")]))
                .unwrap_err()
                .code,
            400
        );
    }
}
