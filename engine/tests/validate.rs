//! What `lifeboat validate` tells runbook authors, pinned down exactly.

mod util;

use std::path::Path;

use util::{workspace, Sandbox};

/// Runs `validate` on a fixture and returns stderr with the path shortened.
fn validate_fixture(name: &str) -> (i32, String) {
    let sandbox = Sandbox::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/invalid")
        .join(name);
    let text = std::fs::read_to_string(&src).unwrap();
    sandbox.write(name, &text);
    let ran = sandbox.run(&["validate", name]);
    (ran.code, ran.stderr)
}

#[test]
fn many_mistakes_are_all_reported_in_one_pass() {
    let (code, stderr) = validate_fixture("many-mistakes.yaml");
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr);
}

#[test]
fn cycles_are_drawn() {
    let (code, stderr) = validate_fixture("cycle.yaml");
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr);
}

#[test]
fn yaml_syntax_errors_point_at_the_line() {
    let (code, stderr) = validate_fixture("bad-yaml.yaml");
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr);
}

#[test]
fn scope_and_reference_errors() {
    let (code, stderr) = validate_fixture("scope.yaml");
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr);
}

#[test]
fn json_output_lists_diagnostics_with_positions() {
    let sandbox = Sandbox::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid/cycle.yaml");
    sandbox.write("cycle.yaml", &std::fs::read_to_string(src).unwrap());
    let ran = sandbox.run(&["validate", "cycle.yaml", "--output", "json"]);
    ran.expect_code(2);
    let doc: serde_json::Value = serde_json::from_str(&ran.stdout).expect("JSON on stdout");
    let d = &doc["files"][0]["diagnostics"][0];
    assert_eq!(doc["files"][0]["valid"], false);
    assert_eq!(d["message"], "dependency cycle: a -> b -> c -> a");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(10), Some(13))
    );
}

#[test]
fn every_shipped_runbook_is_valid() {
    let mut files = Vec::new();
    collect_yaml(&workspace().join("runbooks"), &mut files);
    assert!(!files.is_empty(), "no runbooks found under runbooks/");
    let sandbox = Sandbox::new();
    for file in files {
        let ran = sandbox.run(&["validate", file.to_str().unwrap()]);
        assert_eq!(ran.code, 0, "{}", ran.dump());
    }
}

fn collect_yaml(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_yaml(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml")
            && !path.to_string_lossy().contains(".inputs.")
        {
            out.push(path);
        }
    }
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let sandbox = Sandbox::new();
    let ran = sandbox.run(&["validate", "nope.yaml"]);
    ran.expect_code(2);
    assert!(
        ran.stderr.contains("cannot read `nope.yaml`"),
        "{}",
        ran.dump()
    );
}

/// No input makes validation panic: every prefix of a real runbook (cut at
/// every byte), and the runbook with each of its bytes overwritten in turn,
/// is loaded and validated in process. Each position gets one of 13 bytes
/// that mean something to YAML, taken in rotation (position `i` gets
/// `NASTY[i % 13]`); all 13 at every position would take 13 times as long,
/// over 20 s in a debug build. `fuzz_runbook_reader.rs` mutates at random.
#[test]
fn no_input_makes_validation_panic() {
    const NASTY: [u8; 13] = [
        b'{', b'}', b'[', b'-', b':', b'"', b'\'', b'\n', b' ', b'*', b'&', b'!', b'%',
    ];
    let text =
        std::fs::read_to_string(workspace().join("runbooks/examples/restore-drill.yaml")).unwrap();
    let registry = lifeboat::registry();
    let templates = lifeboat::Templates::new();
    let check = |what: &dyn Fn() -> String, input: &[u8]| {
        let source = lifeboat::SourceFile::new("fuzz.yaml", String::from_utf8_lossy(input));
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = lifeboat::check_text(source, &registry, &templates);
        }));
        assert!(checked.is_ok(), "validation panicked on {}", what());
    };
    let bytes = text.as_bytes();
    for cut in 0..=bytes.len() {
        check(&|| format!("the first {cut} bytes"), &bytes[..cut]);
    }
    for pos in 0..bytes.len() {
        let mut b = bytes.to_vec();
        b[pos] = NASTY[pos % NASTY.len()];
        check(
            &|| {
                format!(
                    "byte {pos} overwritten with {:?}",
                    NASTY[pos % NASTY.len()] as char
                )
            },
            &b,
        );
    }
}
