//! Where a secret could have come to rest: every file under a directory and
//! every object in an S3 bucket, searched for values in clear.

use std::path::{Path, PathBuf};

use lifeboat_harness::s3_server::S3Server;
use lifeboat_steps::StepKind;
use serde_json::json;

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
