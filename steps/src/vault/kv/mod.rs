//! `vault.kv.*`: a KV version 2 secrets engine.
//!
//! Every kind takes `mount` (default `secret`) and most take `path` (the
//! secret's path inside the mount, without `data/`). Secret values only
//! leave Vault as secret outputs (`vault.kv.get`) or as SHA-256 digests
//! (`vault.kv.export` / `vault.kv.verify`).

mod bulk;
mod copy;
mod delete;
mod export;
mod get;
mod list;
mod metadata;
mod put;
mod recover;
mod rotate;
mod undelete;
mod verify;

pub use copy::KvCopy;
pub use delete::KvDelete;
pub use export::KvExport;
pub use get::KvGet;
pub use list::KvList;
pub use metadata::KvMetadata;
pub use put::KvPut;
pub use recover::KvRecover;
pub use rotate::KvRotate;
pub use undelete::KvUndelete;
pub use verify::KvVerify;

use reqwest::Method;
use serde_json::{Map, Value};

use super::client::VaultClient;
use crate::{StepContext, StepError};

pub(crate) fn default_mount() -> String {
    "secret".to_string()
}

/// Percent-encodes what would otherwise end or change the URL path.
fn encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.trim_matches('/').chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3F"),
            '#' => out.push_str("%23"),
            ' ' => out.push_str("%20"),
            c => out.push(c),
        }
    }
    out
}

/// `<mount>/<area>/<path>`, e.g. `secret/data/app/db`.
pub(crate) fn api_path(mount: &str, area: &str, path: &str) -> String {
    let path = encode(path);
    let mount = encode(mount);
    if path.is_empty() {
        format!("{mount}/{area}")
    } else {
        format!("{mount}/{area}/{path}")
    }
}

/// `mount/path` as people write it, for messages.
pub(crate) fn display(mount: &str, path: &str) -> String {
    format!("{}/{}", mount.trim_matches('/'), path.trim_matches('/'))
}

/// Whether a 404 means "no such mount" rather than "no such secret".
fn no_mount(body: &Value) -> bool {
    body["errors"].as_array().is_some_and(|e| {
        e.iter().any(|e| {
            e.as_str()
                .is_some_and(|s| s.contains("no handler for route"))
        })
    })
}

/// One version of a secret as read.
pub(crate) struct Secret {
    pub data: Map<String, Value>,
    pub version: u64,
    pub created_time: String,
}

/// Why a read found no live data.
pub(crate) enum Absent {
    /// Nothing was ever written there (or all metadata was deleted).
    Missing,
    /// The version was soft-deleted at the given time.
    Deleted { version: u64, at: String },
    /// The version was destroyed.
    Destroyed { version: u64 },
}

impl Absent {
    pub fn message(&self, addr: &str, mount: &str, path: &str) -> String {
        let name = display(mount, path);
        match self {
            Absent::Missing => format!(
                "no secret at `{name}` on {addr} (check `mount` and `path`; vault.kv.list shows what exists)"
            ),
            Absent::Deleted { version, at } => format!(
                "version {version} of `{name}` was deleted at {at}; vault.kv.undelete restores it"
            ),
            Absent::Destroyed { version } => format!(
                "version {version} of `{name}` was destroyed permanently; read an older version or restore a snapshot"
            ),
        }
    }
}

/// Reads a secret (the latest version when `version` is `None`).
pub(crate) async fn read(
    ctx: &StepContext,
    client: &VaultClient,
    mount: &str,
    path: &str,
    version: Option<u64>,
) -> Result<Result<Secret, Absent>, StepError> {
    let mut api = api_path(mount, "data", path);
    if let Some(v) = version {
        api.push_str(&format!("?version={v}"));
    }
    let reply = client.call(ctx, Method::GET, &api, None).await?;
    let meta = &reply.body["data"]["metadata"];
    match reply.status {
        200 => Ok(Ok(Secret {
            data: reply.body["data"]["data"]
                .as_object()
                .cloned()
                .unwrap_or_default(),
            version: meta["version"].as_u64().unwrap_or(0),
            created_time: meta["created_time"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        })),
        404 if meta.is_object() => {
            let version = meta["version"].as_u64().unwrap_or(0);
            if meta["destroyed"] == true {
                Ok(Err(Absent::Destroyed { version }))
            } else {
                Ok(Err(Absent::Deleted {
                    version,
                    at: meta["deletion_time"].as_str().unwrap_or("?").to_string(),
                }))
            }
        }
        404 if !no_mount(&reply.body) => Ok(Err(Absent::Missing)),
        status => Err(client.error(ctx, &Method::GET, &api, status, &reply.body)),
    }
}

/// The keys directly under `path` (folders end in `/`); empty when none.
pub(crate) async fn list(
    ctx: &StepContext,
    client: &VaultClient,
    mount: &str,
    path: &str,
) -> Result<Vec<String>, StepError> {
    let api = format!("{}?list=true", api_path(mount, "metadata", path));
    let reply = client.call(ctx, Method::GET, &api, None).await?;
    match reply.status {
        200 => Ok(super::init::string_list(&reply.body["data"]["keys"])),
        404 if !no_mount(&reply.body) => Ok(Vec::new()),
        status => Err(client.error(ctx, &Method::GET, &api, status, &reply.body)),
    }
}

/// The JSON text of `value` with object keys sorted at every level and no
/// whitespace: the form whose SHA-256 the manifest records, independent of
/// the order the server sent keys in.
pub(crate) fn canonical_json(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String((*k).clone()).to_string());
                    out.push(':');
                    write(&map[*k], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// SHA-256 of a secret's data map in canonical form.
pub(crate) fn data_digest(data: &Map<String, Value>) -> String {
    crate::checksum::sha256_hex(canonical_json(&Value::Object(data.clone())).as_bytes())
}

/// The `mount`/`path` part of `describe()`.
pub(crate) fn describe_target(with: &Value) -> String {
    let mount = with
        .get("mount")
        .and_then(Value::as_str)
        .unwrap_or("secret");
    let path = with.get("path").and_then(Value::as_str).unwrap_or("");
    display(mount, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"z": [1, {"y": 2, "x": "s"}], "c": null}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"c":null,"z":[1,{"x":"s","y":2}]},"b":1}"#
        );
    }

    #[test]
    fn paths_are_encoded_and_trimmed() {
        assert_eq!(
            api_path("secret", "data", "/app/db pass?x/"),
            "secret/data/app/db%20pass%3Fx"
        );
        assert_eq!(api_path("kv/", "metadata", ""), "kv/metadata");
    }
}
