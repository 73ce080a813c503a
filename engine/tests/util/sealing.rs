//! Sealed secret outputs in tests: keys made by `ssh-keygen`, a step's
//! sealed copy opened with a recipient's identity, and where a secret could
//! have come to rest (every file under a directory, every object in an S3
//! bucket) searched for values in clear.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use lifeboat_harness::s3_server::S3Server;
use lifeboat_steps::StepKind;
use serde_json::json;

/// An SSH key pair made by `ssh-keygen -t ed25519` at `path` (and
/// `path.pub`, whose line it returns).
pub fn ssh_keygen(path: &Path, passphrase: &str) -> String {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            passphrase,
            "-C",
            "test@sealed",
            "-f",
        ])
        .arg(path)
        .output()
        .expect("ssh-keygen is installed");
    assert!(out.status.success(), "{out:?}");
    std::fs::read_to_string(path.with_extension("pub")).unwrap()
}

/// An unencrypted OpenSSH private key as an age identity.
pub fn ssh_identity(path: &Path) -> age::ssh::Identity {
    let text = std::fs::read(path).unwrap();
    age::ssh::Identity::from_buffer(&text[..], None).expect("an OpenSSH private key")
}

/// The secret outputs `step` sealed into its `step_succeeded` record,
/// opened with a recipient's identity (the test checks what is at rest
/// against them). The record itself shows them `«redacted»`.
pub fn open_sealed(
    journal: &[serde_json::Value],
    step: &str,
    identity: &dyn age::Identity,
) -> serde_json::Value {
    let record = journal
        .iter()
        .find(|r| r["type"] == "step_succeeded" && r["step"] == step)
        .unwrap_or_else(|| panic!("`{step}` succeeded"));
    for name in record["secret_outputs"].as_array().expect("secret_outputs") {
        let name = name.as_str().unwrap();
        assert_eq!(record["outputs"][name], "«redacted»", "{record}");
    }
    let armored = record["sealed_outputs"].as_str().expect("sealed_outputs");
    assert!(
        armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{armored}"
    );
    let decryptor =
        age::Decryptor::new_buffered(age::armor::ArmoredReader::new(armored.as_bytes())).unwrap();
    let mut plain = Vec::new();
    decryptor
        .decrypt(std::iter::once(identity))
        .expect("a recipient opens it")
        .read_to_end(&mut plain)
        .unwrap();
    serde_json::from_slice(&plain).unwrap()
}

/// `vault.init`'s opened outputs as labelled needles: the root token and
/// every unseal key.
pub fn init_secrets(opened: &serde_json::Value) -> Vec<(String, String)> {
    let mut secrets = vec![(
        "throwaway root token".to_string(),
        opened["root_token"].as_str().unwrap().to_string(),
    )];
    for key in opened["keys"].as_array().unwrap() {
        secrets.push((
            "throwaway unseal key".into(),
            key.as_str().unwrap().to_string(),
        ));
    }
    assert!(secrets[0].1.len() > 10 && secrets.len() > 1, "{opened}");
    secrets
}

/// Every file under `root` (recursively) whose bytes contain one of
/// `needles`, with the needle's label.
pub fn files_containing(root: &Path, needles: &[(String, String)]) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                let bytes = std::fs::read(&path).unwrap_or_default();
                for (label, needle) in needles {
                    if contains(&bytes, needle.as_bytes()) {
                        found.push((path.clone(), label.clone()));
                    }
                }
            }
        }
    }
    found.sort();
    found
}

/// Every object in `s3`'s bucket, downloaded with the `s3.list` and
/// `s3.get` kinds (signed, as moto wants), that contains one of `needles`;
/// and how many objects there were.
pub async fn objects_containing(
    s3: &S3Server,
    needles: &[(String, String)],
) -> (usize, Vec<(String, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let ctx = lifeboat_steps::StepContext::standalone("search", dir.path());
    let listed = lifeboat_steps::s3::S3List
        .run(&ctx, s3.connection())
        .await
        .unwrap_or_else(|e| panic!("s3.list: {e:?}"));
    let keys: Vec<String> = listed.outputs["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["key"].as_str().unwrap().to_string())
        .collect();
    let mut found = Vec::new();
    for key in &keys {
        let mut with = s3.connection();
        with["key"] = json!(key);
        with["path"] = json!("object");
        let _ = std::fs::remove_file(dir.path().join("object"));
        lifeboat_steps::s3::S3Get
            .run(&ctx, with)
            .await
            .unwrap_or_else(|e| panic!("s3.get `{key}`: {e:?}"));
        let bytes = std::fs::read(dir.path().join("object")).unwrap();
        for (label, needle) in needles {
            if contains(&bytes, needle.as_bytes()) {
                found.push((key.clone(), label.clone()));
            }
        }
    }
    (keys.len(), found)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
