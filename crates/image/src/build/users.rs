//! `USER` and `--chown` values (`name`, `uid`, `name:group`, `uid:gid`) → numeric ids,
//! looked up in the image's own `/etc/passwd` and `/etc/group`, as Docker does.

/// Resolves `spec` against the image files in `layers` (snapshots bottom first; a
/// container's upper directory may come last), never following a symlink out of them.
pub fn resolve_in(layers: &[std::path::PathBuf], spec: &str) -> Result<(u32, u32), String> {
    let tree = super::layers::Tree { snapshots: layers };
    resolve(spec, &|p| tree.read(p))
}

/// Resolves `spec` with `read` giving the image's files (`etc/passwd`, `etc/group`).
/// A user without a group takes the primary group from passwd (0 when unknown and
/// numeric).
pub fn resolve(spec: &str, read: &dyn Fn(&str) -> Option<String>) -> Result<(u32, u32), String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read("etc/passwd").unwrap_or_default();
    let entry = passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4 && (f[0] == user || f[2] == user))
            .then(|| (f[2].parse::<u32>(), f[3].parse::<u32>()))
    });
    let (uid, primary) = match (user.parse::<u32>(), entry) {
        (Ok(uid), Some((_, Ok(gid)))) => (uid, gid),
        (Ok(uid), _) => (uid, 0),
        (Err(_), Some((Ok(uid), Ok(gid)))) => (uid, gid),
        (Err(_), _) => {
            return Err(format!(
                "unable to find user {user}: no matching entries in passwd file"
            ))
        }
    };
    let gid = match group {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => read("etc/group")
                .unwrap_or_default()
                .lines()
                .find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() >= 3 && f[0] == g)
                        .then(|| f[2].parse::<u32>().ok())
                        .flatten()
                })
                .ok_or_else(|| {
                    format!("unable to find group {g}: no matching entries in group file")
                })?,
        },
    };
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(name: &str) -> Option<String> {
        match name {
            "etc/passwd" => {
                Some("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n".into())
            }
            "etc/group" => Some("root:x:0:\nstaff:x:50:\n".into()),
            _ => None,
        }
    }

    #[test]
    fn names_and_numbers_resolve_from_the_image() {
        assert_eq!(resolve("app", &files), Ok((1000, 1001)));
        assert_eq!(resolve("1000", &files), Ok((1000, 1001)));
        assert_eq!(resolve("app:staff", &files), Ok((1000, 50)));
        assert_eq!(resolve("4242:7", &files), Ok((4242, 7)));
        assert_eq!(resolve("4242", &files), Ok((4242, 0)));
        assert!(resolve("nobody", &files)
            .unwrap_err()
            .contains("unable to find user nobody"));
        assert!(resolve("app:wheel", &files)
            .unwrap_err()
            .contains("unable to find group wheel"));
    }
}
