//! `vault.*`: HashiCorp Vault and OpenBao through their HTTP API.
//!
//! Every kind speaks the HTTP API through reqwest (no CLI), so it works
//! against Vault and OpenBao alike; the differences are listed below.
//!
//! # Connection (every kind but `vault.snapshot.inspect`)
//! Flat in `with:` next to the kind's own fields:
//!
//! | field | default | meaning |
//! |---|---|---|
//! | `addr` | `VAULT_ADDR`, then `BAO_ADDR` | API address, `http(s)://host:port` |
//! | `token` | `VAULT_TOKEN`, then `BAO_TOKEN` | token, rendered from a secret input; never echoed |
//! | `namespace` | `VAULT_NAMESPACE`, then `BAO_NAMESPACE` | sent as `X-Vault-Namespace` |
//! | `ca_file` | system roots | PEM CA bundle to trust as well (relative to the run's work dir) |
//! | `tls_skip_verify` | `false` | skip certificate checks; prints a warning every time |
//!
//! Errors name the address and the fix: connection refused, "permission
//! denied: the token was refused by <addr> (is it expired or revoked?)",
//! "<addr> is sealed; unseal it first (vault.unseal)", standby answers.
//!
//! # Kinds
//! | kind | parameters | outputs | effect / rerun |
//! |---|---|---|---|
//! | `vault.health` | `expect?: {initialized?, sealed?, standby?}` | `initialized, sealed, standby, version, cluster_id, status` (`active`/`standby`/`sealed`/`uninitialized`) | read / safe |
//! | `vault.leader` | `nodes?` (list, instead of `addr`: the active one by each node's own health, all asked at once, 2 s each; none active is `leader_address: ""`) | `leader_address, is_self, ha_enabled`; with `nodes`: `states: {address: active/standby/sealed/uninitialized/unreachable}` | read / safe |
//! | `vault.init` | `secret_shares` (5), `secret_threshold` (3), `output_file?` | secret `keys` (base64), secret `root_token`, `key_count`, `recovered`, `path` (with `output_file`) | mutating / never |
//! | `vault.unseal` | `keys` (list, or string: JSON list or newline/comma separated) | `sealed, progress, threshold, changed` | mutating / safe |
//! | `vault.seal` | — | `sealed, changed` | mutating / check |
//! | `vault.seal_status` | `expect?: {sealed?, initialized?, shares?, threshold?}`, `keys?` (counted against the threshold, never sent) | `sealed, initialized, shares, threshold, progress, type, version, cluster_id, keys_given?`; no token needed | read / safe |
//! | `vault.raft.peers` | — | `peers: [{node_id, address, leader, voter}], count, voters` | read / safe |
//! | `vault.raft.join` | `leader_api_addr`, `leader_ca_cert?`, `retry` (false), `non_voter` (false) | `joined` (OpenBao answers `joined: true` again for a member) | mutating / check |
//! | `vault.raft.remove_peer` | `server_id` | `removed, server_id, count` | mutating / check |
//! | `vault.raft.autopilot` | `expect_failure_tolerance?` (at least), `expect_healthy?`, `server?` (a node id), `wait_unhealthy?` (with `server`: watch it up to this long, every 500 ms, until it is unhealthy or gone, or its last contact goes back down: alive) | `healthy, failure_tolerance, leader, voters`; with `server`: `server: {node_id, present, healthy, alive, last_contact, status}` | read / safe |
//! | `vault.snapshot.save` | `path` | `path, bytes, sha256, index, term` | read / safe |
//! | `vault.snapshot.restore` | `path`, `force` (false) | `restored, forced, index, term, size, peers, sha256, bytes, verified` | mutating / never |
//! | `vault.snapshot.inspect` | `path` (no connection fields) | `index, term, size, peers: [{node_id, address, voter}], sha256, bytes, verified` | read / safe |
//! | `vault.kv.get` | `mount` (`secret`), one of `path` (with `version?`) or `paths` (list, read 16 at a time) | with `path`: secret `data`, `version, created_time`; with `paths`: `found, absent` (no readable latest version: a 404; any other answer fails the step), `versions: {path: version}`, no value | read / safe |
//! | `vault.kv.put` | `mount`, `path`, `data` (map), `cas?` | `version` | mutating / check |
//! | `vault.kv.list` | `mount`, `path` (`""`) | `keys, count` | read / safe |
//! | `vault.kv.metadata` | `mount`, one of `path` or `paths` (list) | `path`: `exists, state` (`live`/`deleted`/`destroyed`/`missing`), `current_version, oldest_version, latest_live_version` (null if none), `versions: {"N": {created_time, deletion_time, destroyed}}`, `created_time, updated_time`; `paths`: `secrets: {path: …the same…}` and the paths grouped in `live, deleted, destroyed, missing` | read / safe |
//! | `vault.kv.recover` | `mount`, `paths` | `recovered` (brought back or intact), `unrecoverable` (for a backup), `intact`, `undeleted: {path: version}`, `rolled_back: {path: {from, version}}` | mutating / safe |
//! | `vault.kv.copy` | `mount`, `paths`, `source: {addr, token?, namespace?, ca_file?, tls_skip_verify?, mount?}` | `written, unchanged, versions: {path: version}` | mutating / safe |
//! | `vault.kv.rotate` | `mount`, `paths`, `bytes` (32; 16–1024) | `rotated, versions: {path: version}` (new values: CSPRNG, base64url, check-and-set, in no output) | mutating / safe |
//! | `vault.kv.delete` | `mount`, `path`, `versions?` (latest), `destroy` (false; needs `versions`) | `versions, destroyed` | mutating / check |
//! | `vault.kv.undelete` | `mount`, `path`, `versions?` (latest deleted) | `versions` | mutating / safe |
//! | `vault.kv.export` | `mount`, `prefix` (`""`), `output`, `concurrency` (16; 1–256) | `path, count, digest, skipped` | read / safe |
//! | `vault.kv.verify` | `mount`, `manifest`, `prefix` (`""`) or `paths` (only those entries of the manifest; each must be in it; no walk, `extra` empty), `concurrency` (16; 1–256) | `checked, missing, mismatched, version_changed, extra` | read / safe |
//! | `vault.token.revoke` | one of `revoke_token`, `accessor`, `accessors` (list), `self: true` | `revoked, by`; with `accessors`: `revoked_accessors, already_gone` | mutating / check |
//! | `vault.token.check` | `capabilities?: {api_path: [capability]}` or `[{path, capabilities}]` (for templated paths: mapping keys are not rendered), `min_ttl?` | `valid, ttl` (0: never expires), `expire_time, policies, display_name, renewable, type, capabilities: {api_path: [granted]}` | read / safe |
//! | `vault.token.lookup` | `accessors`, `expect_revoked` (false) | `valid, revoked` (accessors) | read / safe |
//! | `vault.auth.enable` | `path`, `type?` (= path), `description?` | `path, changed` | mutating / check |
//! | `vault.auth.disable` | one of `path`, `paths` (list) | `path, changed`; with `paths`: `disabled, absent, changed` | mutating / check |
//! | `vault.auth.list` | `expect_absent?` (mount paths) | `methods: {path: type}, paths` | read / safe |
//! | `vault.rotate_keys` | `keys`, `secret_shares?`, `secret_threshold?` (current), `output_file?` | secret `keys`, `key_count, secret_threshold, path?` | mutating / never |
//!
//! Secret outputs (`keys`, `root_token`, `data`) never reach the journal or
//! timeline. `output_file` files hold the JSON of `bao operator init
//! -format=json` (`unseal_keys_b64`, `unseal_keys_hex`, `unseal_shares`,
//! `unseal_threshold`, `root_token`) and are written through an exclusive
//! 0600 temporary file reserved *before* the server is asked, fsynced and
//! linked to their name as soon as the answer arrives (see
//! `secret_file.rs`). `vault.init` run again with an existing, complete file
//! against an initialised node returns the file's answer (see `init.rs`).
//!
//! `vault.kv.export` manifests are a JSON list of `{path, version, sha256}`
//! sorted by path, where `sha256` is over the secret's data map as compact
//! JSON with keys sorted at every level. Secrets whose latest version is
//! deleted are listed in `skipped`. `vault.kv.verify` fails when a listed
//! secret is missing or its digest differs; changed versions with equal
//! data (`version_changed`) and unlisted secrets (`extra`) are reported but
//! do not fail.
//!
//! Both read `concurrency` secrets at a time (default 16, 1 to 256): at most
//! that many requests are in flight, the walk's listings included, and
//! memory does not grow with the mount (export walks it as it reads and
//! writes each manifest entry as its turn comes; verify holds the manifest
//! it was given). The manifest is the same, byte for byte, at every
//! `concurrency`. The first read that fails stops the step at once, with
//! the secret it was about (``cannot read `secret/app/db`: permission
//! denied: …``); a failed export leaves no manifest behind. A progress line
//! says how far it is (`read 1200 of 10000 secrets`, `compared …`).
//! `steps/benches/kv_concurrency.rs` measures both through a proxy that
//! adds 5 ms each way, against the floor `requests × RTT / concurrency`
//! plus the time without the proxy (`cargo bench -p lifeboat-steps --bench
//! kv_concurrency`). Measured 2026-12-01 on a busy 2-core machine, 10,000
//! secrets in 100 folders (10,101 requests), 10.5 ms of round trip through
//! the proxy: at concurrency 1, 119.6 s for export and 119.4 s for verify
//! (floor 103.8 s, 1.15×); at 16, 8.4 s and 7.1 s (floors 9.6 s and
//! 8.7 s; without the proxy 3.3 s and 2.4 s).
//!
//! # Where Vault and OpenBao differ
//! - **Key rotation.** OpenBao: `sys/rotate/root/init` + `/update` (`bao
//!   operator rotate-keys`); `sys/rekey/*` answers 405. Vault: "rekey",
//!   `sys/rekey/init` + `/update` (`vault operator rekey`). `vault.rotate_keys`
//!   tries OpenBao's endpoints and falls back to Vault's on 404/405. OpenBao
//!   wraps the answers in `data`; Vault does not. (Vault's `sys/rotate` and
//!   OpenBao's `sys/rotate/keyring` rotate the *encryption* key, not the
//!   unseal keys.)
//! - **Snapshot inspect.** Vault has `vault operator raft snapshot
//!   inspect`; OpenBao 2.7 has no inspect command. `vault.snapshot.inspect`
//!   reads the archive itself (gzip tar: `meta.json`, `state.bin`,
//!   `SHA256SUMS`) and checks the sums, offline, for both. It cannot check
//!   `SHA256SUMS.sealed`, which needs the cluster's keys; the server checks
//!   it on a non-forced restore.
//! - **Force restore.** Both need `snapshot-force` for a snapshot from
//!   another cluster. After it, OpenBao's node seals itself and unseals only
//!   with the *old* cluster's keys; the old root token is the one that works.
//! - **Standbys right after a key rotation.** In one test run out of three,
//!   a standby sealed seconds after `vault.rotate_keys` (and just after it
//!   had itself been unsealed) still unsealed with the *old* keys, and in
//!   another rejected the new ones: its local Raft copy lagged. Runbooks
//!   should wait for `vault.raft.autopilot` with `expect_healthy: true`
//!   after rotating before sealing or restarting standbys. (Measured on
//!   OpenBao 2.7.2; a single node behaves exactly.)
//! - **Unseal progress.** OpenBao counts a stale or wrong key as progress;
//!   `vault.unseal` resets progress before the first key and after any
//!   failure, which is harmless on Vault.

mod auth;
mod client;
mod connection;
mod health;
mod init;
mod key_list;
mod kv;
mod leader;
mod raft;
mod rotate_keys;
mod seal;
mod seal_status;
pub mod secret_file;
pub mod snapshot_archive;
mod snapshot_inspect;
mod snapshot_restore;
mod snapshot_save;
mod token;
mod token_check;
mod unseal;

use std::sync::Arc;

use serde_json::Value;

pub use auth::{AuthDisable, AuthEnable, AuthList};
pub use connection::{Connection, CONNECTION_FIELDS};
pub use health::Health;
pub use init::Init;
pub use kv::{
    KvCopy, KvDelete, KvExport, KvGet, KvList, KvMetadata, KvPut, KvRecover, KvRotate, KvUndelete,
    KvVerify,
};
pub use leader::Leader;
pub use raft::{RaftAutopilot, RaftJoin, RaftPeers, RaftRemovePeer};
pub use rotate_keys::RotateKeys;
pub use seal::Seal;
pub use seal_status::SealStatus;
pub use snapshot_archive::{SnapshotArchive, SnapshotError, SnapshotPeer};
pub use snapshot_inspect::SnapshotInspect;
pub use snapshot_restore::SnapshotRestore;
pub use snapshot_save::SnapshotSave;
pub use token::{TokenLookup, TokenRevoke};
pub use token_check::TokenCheck;
pub use unseal::Unseal;

/// Every `vault.*` kind, for [`crate::Registry::builtin`].
pub fn kinds() -> Vec<Arc<dyn crate::StepKind>> {
    vec![
        Arc::new(Health),
        Arc::new(Leader),
        Arc::new(Init),
        Arc::new(Unseal),
        Arc::new(Seal),
        Arc::new(SealStatus),
        Arc::new(RaftPeers),
        Arc::new(RaftJoin),
        Arc::new(RaftRemovePeer),
        Arc::new(RaftAutopilot),
        Arc::new(SnapshotSave),
        Arc::new(SnapshotRestore),
        Arc::new(SnapshotInspect),
        Arc::new(KvGet),
        Arc::new(KvPut),
        Arc::new(KvList),
        Arc::new(KvMetadata),
        Arc::new(KvRecover),
        Arc::new(KvCopy),
        Arc::new(KvRotate),
        Arc::new(KvDelete),
        Arc::new(KvUndelete),
        Arc::new(KvExport),
        Arc::new(KvVerify),
        Arc::new(TokenRevoke),
        Arc::new(TokenLookup),
        Arc::new(TokenCheck),
        Arc::new(AuthEnable),
        Arc::new(AuthDisable),
        Arc::new(AuthList),
        Arc::new(RotateKeys),
    ]
}

/// The address for `describe()`: the parameter, else the environment.
fn describe_addr(with: &Value) -> String {
    with.get("addr")
        .and_then(Value::as_str)
        .map(|a| a.trim_end_matches('/').to_string())
        .or_else(|| connection::env_first(&["VAULT_ADDR", "BAO_ADDR"]))
        .unwrap_or_else(|| "$VAULT_ADDR".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_is_named_vault_dot_and_unique() {
        let names: Vec<&str> = kinds().iter().map(|k| k.name()).collect();
        let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len());
        assert!(names.iter().all(|n| n.starts_with("vault.")));
        assert_eq!(names.len(), 31);
    }

    #[test]
    fn describe_and_check_cope_with_anything_and_hide_secret_values() {
        for kind in kinds() {
            for with in [json!(null), json!({}), json!([1]), json!({"path": 3})] {
                let _ = kind.describe(&with);
                let _ = kind.check(&with);
            }
        }
        let registry = crate::Registry::builtin();
        let put = registry.get("vault.kv.put").unwrap().describe(&json!({
            "path": "app/db", "data": {"password": "hunter2-secret"}
        }));
        assert_eq!(put, "write secret secret/app/db with keys [password]");
        let revoke = registry
            .get("vault.token.revoke")
            .unwrap()
            .describe(&json!({"addr": "http://v:8200", "revoke_token": "hvs.secret-token"}));
        assert!(!revoke.contains("hvs.secret-token"), "{revoke}");
        let missing = registry
            .get("vault.kv.get")
            .unwrap()
            .check(&json!({"mount": "kv"}));
        assert!(
            missing[0].message.contains("give exactly one of `path`"),
            "{missing:?}"
        );
    }

    #[test]
    fn key_producing_and_restoring_kinds_never_rerun_on_their_own() {
        for kind in kinds() {
            let rerun = kind.default_rerun();
            match kind.name() {
                "vault.init" | "vault.snapshot.restore" | "vault.rotate_keys" => {
                    assert_eq!(rerun, crate::Rerun::Never, "{}", kind.name())
                }
                _ => assert_ne!(rerun, crate::Rerun::Never, "{}", kind.name()),
            }
        }
    }
}
