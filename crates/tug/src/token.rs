//! `tug token create|list|delete`: bootstrap ("join") tokens, kept as Secrets
//! in kube-system as kubeadm keeps them, managed through the API with the
//! kubeconfig. The token format and Secret are `tug_apiserver::authn::bootstrap`'s.

use std::path::PathBuf;

use anyhow::{bail, Context};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use tug_apiserver::authn::bootstrap;

#[derive(clap::Args, Debug)]
pub struct TokenCli {
    /// The kubeconfig to reach the API server with (default: as kubectl finds it)
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(clap::Subcommand, Debug)]
enum TokenCommand {
    /// Create a bootstrap token and print it
    Create {
        /// The token to create (default: a random one), as [a-z0-9]{6}.[a-z0-9]{16}
        token: Option<String>,
        /// How long the token is valid, e.g. 24h, 90m, 1h30m; 0 never expires
        #[arg(long, default_value = "24h")]
        ttl: String,
        /// A human-readable note on what the token is for
        #[arg(long)]
        description: Option<String>,
        /// Extra groups the token authenticates as, comma-separated (system:bootstrappers:...)
        #[arg(long, value_delimiter = ',', default_value = bootstrap::NODE_GROUP)]
        groups: Vec<String>,
    },
    /// List the bootstrap tokens
    #[command(alias = "ls")]
    List,
    /// Delete bootstrap tokens by id or whole token
    #[command(alias = "rm")]
    Delete {
        #[arg(required = true)]
        tokens: Vec<String>,
    },
}

pub fn run(cli: TokenCli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(async {
        let connect = tug_client::config::ConnectOptions {
            kubeconfig: cli.kubeconfig,
            context: None,
        };
        let client = kube::Client::try_from(tug_client::config::load(&connect).await?)
            .context("failed to build the API client")?;
        let secrets: Api<Secret> = Api::namespaced(client, bootstrap::NAMESPACE);
        match cli.command {
            TokenCommand::Create {
                token,
                ttl,
                description,
                groups,
            } => create(&secrets, token, &ttl, description.as_deref(), &groups).await,
            TokenCommand::List => list(&secrets).await,
            TokenCommand::Delete { tokens } => delete(&secrets, &tokens).await,
        }
    })
}

async fn create(
    secrets: &Api<Secret>,
    token: Option<String>,
    ttl: &str,
    description: Option<&str>,
    groups: &[String],
) -> anyhow::Result<()> {
    let seconds = parse_duration(ttl).with_context(|| format!("invalid --ttl {ttl:?}"))?;
    let token = token.unwrap_or_else(bootstrap::generate_token);
    let groups: Vec<String> = groups.iter().filter(|g| !g.is_empty()).cloned().collect();
    let secret = bootstrap::token_secret(&token, (seconds > 0).then_some(seconds), description, &groups)
        .map_err(anyhow::Error::msg)?;
    let secret: Secret = serde_json::from_value(secret).context("failed to build the token's Secret")?;
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .context("failed to create the token's Secret")?;
    println!("{token}");
    Ok(())
}

async fn list(secrets: &Api<Secret>) -> anyhow::Result<()> {
    let list = secrets
        .list(&ListParams::default())
        .await
        .context("failed to list Secrets in kube-system")?;
    let mut rows = vec![[
        "TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS",
    ]
    .map(String::from)];
    for secret in list.items.iter().filter(|s| s.type_.as_deref() == Some(bootstrap::SECRET_TYPE)) {
        let value = serde_json::to_value(secret).context("failed to read a token's Secret")?;
        let field = |f: &str| bootstrap::secret_field(&value, f);
        let (Some(id), Some(secret_part)) = (field("token-id"), field("token-secret")) else {
            continue;
        };
        let (ttl, expires) = match field("expiration") {
            Some(e) => (remaining(&e), e),
            None => ("<forever>".to_string(), "<never>".to_string()),
        };
        let usages: Vec<&str> = ["authentication", "signing"]
            .into_iter()
            .filter(|u| field(&format!("usage-bootstrap-{u}")).as_deref() == Some("true"))
            .collect();
        rows.push([
            format!("{id}.{secret_part}"),
            ttl,
            expires,
            or_none(usages.join(",")),
            or_none(field("description").unwrap_or_default()),
            or_none(field("auth-extra-groups").unwrap_or_default()),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", line.join("   ").trim_end());
    }
    Ok(())
}

async fn delete(secrets: &Api<Secret>, tokens: &[String]) -> anyhow::Result<()> {
    for token in tokens {
        let id = match bootstrap::parse_token(token) {
            Some((id, _)) => id,
            None if bootstrap::is_token_id(token) => token.as_str(),
            None => bail!("{token:?} is neither a token id ([a-z0-9]{{6}}) nor a token ([a-z0-9]{{6}}.[a-z0-9]{{16}})"),
        };
        let name = format!("{}{id}", bootstrap::NAME_PREFIX);
        secrets
            .delete(&name, &DeleteParams::default())
            .await
            .with_context(|| format!("failed to delete bootstrap token {id}"))?;
        println!("bootstrap token \"{id}\" deleted");
    }
    Ok(())
}

fn or_none(s: String) -> String {
    if s.is_empty() {
        "<none>".into()
    } else {
        s
    }
}

/// What is left of a token's life, as kubeadm prints it (`23h`, `59m`, `<invalid>`).
fn remaining(expiration: &str) -> String {
    let Ok(at) = expiration.parse::<jiff::Timestamp>() else {
        return "<invalid>".into();
    };
    let left = at.as_second() - jiff::Timestamp::now().as_second();
    match left {
        l if l <= 0 => "<invalid>".into(),
        l if l >= 3600 => format!("{}h", l / 3600),
        l if l >= 60 => format!("{}m", l / 60),
        l => format!("{l}s"),
    }
}

/// A Go-style duration (`24h`, `1h30m`, `90s`, `0`) in whole seconds.
pub(crate) fn parse_duration(text: &str) -> anyhow::Result<i64> {
    if text == "0" {
        return Ok(0);
    }
    let mut total = 0i64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            other => bail!("unknown unit {other:?}: use h, m or s, e.g. 24h or 1h30m"),
        };
        let n: i64 = number.parse().context("a unit must follow a number, e.g. 24h")?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .context("the duration is too long")?;
        number.clear();
    }
    if !number.is_empty() {
        bail!("{number} has no unit: use h, m or s, e.g. 24h");
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_go_writes_them() {
        assert_eq!(parse_duration("24h").unwrap(), 86400);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400);
        assert_eq!(parse_duration("0").unwrap(), 0);
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("3d").is_err());
    }
}
