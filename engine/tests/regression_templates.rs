//! One test per reported bug in how templates reach shells and argv, named
//! after the finding. Each failed before its fix.

mod util;

use util::Sandbox;

/// Finding 1: bash evaluates a quoted variable as arithmetic inside
/// `[[ … -lt … ]]`, and an array subscript in the value runs a command.
#[test]
fn finding_1_a_template_value_runs_a_command_through_bash_arithmetic() {
    let sb = Sandbox::new();
    sb.write(
        "arith.yaml",
        r#"version: 1
name: arith
steps:
  - id: status
    kind: shell
    with: { run: ["echo", "{\"progress\": \"PWD[$(id > pwned)0]\"}"] }
  - id: wait
    kind: shell
    needs: [status]
    with:
      script: |
        if [[ {{ steps.status.outputs.json.progress }} -lt 5 ]]; then echo low; fi
"#,
    );
    let ran = sb.run(&["run", "arith.yaml"]);
    ran.expect_code(1);
    let work = sb.work_dir(&ran.run_id());
    assert!(
        !work.join("pwned").exists(),
        "the value ran a command\n{}",
        ran.dump()
    );
    let failed = sb
        .journal(&ran.run_id())
        .into_iter()
        .find(|r| r["type"] == "step_failed")
        .expect("a step failed");
    assert_eq!(failed["step"], "wait");
    assert_eq!(
        failed["error"],
        "template error in `with`: `script` line 1: `{{ steps.status.outputs.json.progress }}` is evaluated as bash arithmetic (`[[ … -lt … ]]`), so its value must be an integer, and it is not; bash would run any command in a value such as `a[$(cmd)]`; check the value before this step, e.g. with an `assert` step"
    );
    let step_started = sb
        .journal(&ran.run_id())
        .into_iter()
        .any(|r| r["type"] == "step_started" && r["step"] == "wait");
    assert!(!step_started, "the refused step never starts");

    // `validate` warns about the construct, pointing at the template.
    let ran = sb.run(&["validate", "arith.yaml"]);
    ran.expect_code(0);
    assert!(
        ran.stderr.contains(
            "warning: step `wait`: `with.script`: `{{ steps.status.outputs.json.progress }}` is evaluated as bash arithmetic (`[[ … -lt … ]]`)\n  --> arith.yaml:12:15\n"
        ),
        "{}",
        ran.dump()
    );
    assert!(
        ran.stderr.contains(
            "= help: a value such as `a[$(cmd)]` would run `cmd` here, so the step is refused at run time unless the value is an integer; check the value before this step, e.g. with an `assert` step (`that: [\"steps.status.outputs.json.progress is integer\"]`) or a `when`"
        ),
        "{}",
        ran.dump()
    );
}

/// Finding 1, the other arithmetic contexts: integers pass and compute.
#[test]
fn finding_1_integers_still_work_in_every_arithmetic_context() {
    let sb = Sandbox::new();
    sb.write(
        "ints.yaml",
        r#"version: 1
name: ints
inputs:
  n: { type: integer, default: 3 }
steps:
  - id: count
    kind: shell
    with:
      script: |
        (( {{ inputs.n }} > 2 )) && echo "gt"
        echo "sum=$(( {{ inputs.n }} + 1 ))"
        let m={{ inputs.n }}*2; echo "m=$m"
        a=(x y z w); echo "a=${a[{{ inputs.n }}]}"
        [[ "{{ inputs.n }}" -eq 3 ]] && echo eq
"#,
    );
    let ran = sb.run(&["run", "ints.yaml"]);
    ran.expect_code(0);
    let out = sb
        .journal(&ran.run_id())
        .into_iter()
        .find(|r| r["type"] == "step_succeeded")
        .expect("succeeded")["outputs"]["stdout"]
        .clone();
    assert_eq!(out, "gt\nsum=4\nm=6\na=w\neq", "{}", ran.dump());
}

/// Finding 2: `rm -f "{{ inputs.name }}"` became `rm -f ""${LIFEBOAT_V1}""`,
/// which splits and globs; the dry run showed a harmless single argument.
#[test]
fn finding_2_a_template_inside_double_quotes_is_expanded_unquoted() {
    let sb = Sandbox::new();
    let victim = sb.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("keep-me"), "x").unwrap();
    sb.write(
        "rm.yaml",
        r#"version: 1
name: rm
inputs:
  name: { type: string }
steps:
  - id: clean
    kind: shell
    with:
      script: |
        rm -f "{{ inputs.name }}"
        printf '[%s]\n' "{{ inputs.name }}" {{ inputs.name }} "n={{ inputs.name }}"
"#,
    );
    let name = format!("old.tmp {}/*", victim.display());
    let arg = format!("name={name}");
    let ran = sb.run(&["run", "rm.yaml", "--input", &arg]);
    ran.expect_code(0);
    assert!(
        victim.join("keep-me").exists(),
        "the value was split and globbed\n{}",
        ran.dump()
    );
    let journal = sb.journal(&ran.run_id());
    let done = journal
        .iter()
        .find(|r| r["type"] == "step_succeeded")
        .expect("succeeded");
    assert_eq!(
        done["outputs"]["stdout"],
        format!("[{name}]\n[{name}]\n[n={name}]")
    );

    // The dry run shows what bash receives: the value inside its quotes.
    let ran = sb.run(&["run", "rm.yaml", "--input", &arg, "--dry-run"]);
    ran.expect_code(0);
    let shown = format!("rm -f \"{name}\"\n    printf '[%s]\\n' \"{name}\" '{name}' \"n={name}\"");
    assert!(ran.stdout.contains(&shown), "{}", ran.dump());
}

/// Finding 2, the other quoting: a value in single quotes can never be
/// expanded, nor in a heredoc with a quoted delimiter; `validate` says so.
#[test]
fn finding_2_templates_where_bash_expands_nothing_are_refused_by_validate() {
    let sb = Sandbox::new();
    sb.write(
        "quotes.yaml",
        r#"version: 1
name: quotes
inputs:
  name: { type: string, default: x }
steps:
  - id: single
    kind: shell
    with:
      script: |
        echo 'name: {{ inputs.name }}'
  - id: heredoc
    kind: shell
    with:
      script: |
        cat <<'EOF'
        name: {{ inputs.name }}
        EOF
"#,
    );
    let ran = sb.run(&["validate", "quotes.yaml"]);
    ran.expect_code(2);
    assert!(
        ran.stderr.contains(
            "error: step `single`: `with.script`: `{{ inputs.name }}` sits inside single quotes, where bash expands nothing; remove the single quotes around it (the value is always passed as one word) or use double quotes\n  --> quotes.yaml:10:21\n"
        ),
        "{}",
        ran.dump()
    );
    assert!(
        ran.stderr.contains(
            "error: step `heredoc`: `with.script`: `{{ inputs.name }}` sits in a heredoc whose delimiter is quoted (`<<'EOF'`), where bash expands nothing; unquote the delimiter (`<<EOF`): the value is still expanded as data, never as shell syntax\n  --> quotes.yaml:16:15\n"
        ),
        "{}",
        ran.dump()
    );
    assert!(
        ran.stderr.contains("quotes.yaml: 2 errors"),
        "{}",
        ran.dump()
    );
}

/// Finding 2, heredocs: in an unquoted heredoc the value is expanded as
/// data, never run, and the dry run shows it escaped for the heredoc.
#[test]
fn finding_2_a_template_in_an_unquoted_heredoc_is_data() {
    let sb = Sandbox::new();
    sb.write(
        "doc.yaml",
        r#"version: 1
name: doc
inputs:
  note: { type: string }
steps:
  - id: write
    kind: shell
    with:
      script: |
        cat > note.txt <<EOF
        note: {{ inputs.note }}
        EOF
        cat note.txt
"#,
    );
    let note = "$(touch pwned) `touch pwned2` \"q\" \\";
    let arg = format!("note={note}");
    let ran = sb.run(&["run", "doc.yaml", "--input", &arg]);
    ran.expect_code(0);
    let work = sb.work_dir(&ran.run_id());
    assert!(!work.join("pwned").exists() && !work.join("pwned2").exists());
    assert_eq!(
        std::fs::read_to_string(work.join("note.txt")).unwrap(),
        format!("note: {note}\n")
    );
    let ran = sb.run(&["run", "doc.yaml", "--input", &arg, "--dry-run"]);
    ran.expect_code(0);
    assert!(
        ran.stdout
            .contains("note: \\$(touch pwned) \\`touch pwned2\\` \"q\" \\\\\n"),
        "{}",
        ran.dump()
    );
}

/// Finding 13: `if {{ inputs.force }}` ran `True: command not found` and
/// silently took the other branch.
#[test]
fn finding_13_booleans_render_as_true_false_in_scripts() {
    let sb = Sandbox::new();
    sb.write(
        "force.yaml",
        r#"version: 1
name: force
inputs:
  force: { type: boolean, default: true }
  careful: { type: boolean, default: false }
steps:
  - id: decide
    kind: shell
    with:
      script: |
        if {{ inputs.force }}; then echo forced; else echo not-forced; fi
        if {{ inputs.careful }}; then echo careful; else echo reckless; fi
        echo "force={{ inputs.force }}"
  - id: argv
    kind: shell
    with: { run: ["echo", "{{ inputs.force }}", "f={{ inputs.force }}"] }
"#,
    );
    let ran = sb.run(&["run", "force.yaml"]);
    ran.expect_code(0);
    let journal = sb.journal(&ran.run_id());
    let stdout = |step: &str| {
        journal
            .iter()
            .find(|r| r["type"] == "step_succeeded" && r["step"] == step)
            .unwrap_or_else(|| panic!("{step} succeeded\n{}", ran.dump()))["outputs"]["stdout"]
            .clone()
    };
    assert_eq!(stdout("decide"), "forced\nreckless\nforce=true");
    assert_eq!(stdout("argv"), "true f=true");
    assert!(!ran.stdout.contains("command not found"), "{}", ran.dump());
}

/// Docs promise 2: with an integer input, `run: ["echo", "{{ inputs.nodes }}"]`
/// passed `validate`, the dry run showed `echo ''`, and the real run failed
/// with "invalid type: integer `3`, expected a string".
#[test]
fn promise_2_a_typed_template_breaks_shell_run() {
    let sb = Sandbox::new();
    sb.write(
        "typed.yaml",
        r#"version: 1
name: typed
inputs:
  nodes: { type: integer, default: 3 }
  force: { type: boolean, default: true }
steps:
  - id: argv
    kind: shell
    with:
      run: ["echo", "{{ inputs.nodes }}", "{{ inputs.force }}", "{{ (none) }}", "n={{ inputs.nodes }} f={{ inputs.force }}"]
      env: { NODES: "{{ inputs.nodes }}" }
  - id: env
    kind: shell
    with:
      run: ["printenv", "NODES"]
      env: { NODES: "{{ inputs.nodes }}" }
"#,
    );
    sb.run(&["validate", "typed.yaml"]).expect_code(0);
    let ran = sb.run(&["run", "typed.yaml"]);
    ran.expect_code(0);
    let journal = sb.journal(&ran.run_id());
    let stdout = |step: &str| {
        journal
            .iter()
            .find(|r| r["type"] == "step_succeeded" && r["step"] == step)
            .unwrap_or_else(|| panic!("{step} succeeded\n{}", ran.dump()))["outputs"]["stdout"]
            .clone()
    };
    assert_eq!(stdout("argv"), "3 true  n=3 f=true");
    assert_eq!(stdout("env"), "3");
    let ran = sb.run(&["run", "typed.yaml", "--dry-run"]);
    ran.expect_code(0);
    assert!(
        ran.stdout
            .contains("would run argv:\n    NODES=3 echo 3 true '' 'n=3 f=true'\n"),
        "{}",
        ran.dump()
    );
}
