//! The Vault scenarios run at more than one cluster size (3 nodes in
//! `vault_runbooks.rs`, 5 in `vault_five_nodes.rs`): each takes a world of
//! any size and asserts what the runbook's guide promises for it.

use serde_json::{json, Value};

use super::*;

/// single-node-failure: a standby dies and loses its disk, the runbook
/// replaces it; a run naming a node that is not a peer changes nothing.
pub async fn single_node_failure_scenario(mut world: VaultWorld) {
    let n = world.cluster.len();
    let want = (n, ((n - 1) / 2) as u64);
    world.backup();
    let token = world.root_token();
    let active = world.cluster.wait_active_addr().await.unwrap();
    // A standby dies and loses its disk; the platform starts an empty
    // replacement on the same address (the harness names node `i` `node{i}`).
    let dead = (0..n).find(|&i| world.cluster.addr(i) != active).unwrap();
    let healthy = (0..n).find(|&i| i != dead).unwrap();
    world.cluster.kill(dead);
    world.cluster.wipe(dead);
    world.cluster.start_node(dead).await.unwrap();

    let inputs = vec![
        ("healthy_addr".to_string(), world.cluster.addr(healthy)),
        ("dead_node_id".to_string(), format!("node{dead}")),
        ("replacement_addr".to_string(), world.cluster.addr(dead)),
    ];
    let ran = world.run_runbook("single-node-failure", &inputs);
    assert_eq!(
        ran.code,
        0,
        "{}\n{}",
        ran.dump(),
        world.failures(&ran.run_id())
    );
    let run_id = ran.run_id();

    let active = world.cluster.wait_active_addr().await.unwrap();
    let (voters, ft) = wait_voters(&active, &token, n).await;
    assert_eq!((voters, ft), want);
    // The replacement serves reads of its own (a standby answers locally).
    let verified = world
        .assert_all_secrets(&world.cluster.addr(dead), &token)
        .await;
    assert_eq!(verified, 100);
    report(
        &world,
        &format!("single-node-failure-{n}-nodes"),
        &run_id,
        verified,
    );

    // The guard: naming a node that is not a peer is refused before
    // anything is removed.
    let inputs = vec![
        ("healthy_addr".to_string(), world.cluster.addr(healthy)),
        ("dead_node_id".to_string(), "node9".to_string()),
        ("replacement_addr".to_string(), world.cluster.addr(dead)),
    ];
    let ran = world.run_runbook("single-node-failure", &inputs);
    assert_eq!(ran.code, 1, "{}", ran.dump());
    let all = format!("{}{}", ran.stdout, ran.stderr);
    assert!(all.contains("`node9` is not a Raft peer"), "{}", ran.dump());
    let (voters, ft, _) = autopilot(&active, &token).await;
    assert_eq!((voters, ft), want, "the refused run changed the cluster");
}

/// compromise: a breach (an intruder's userpass login, a leaked token, two
/// exposed secrets); the run seals every node before its four-eyes
/// approval, then contains and rotates.
pub async fn compromise_scenario(world: &VaultWorld) {
    let n = world.cluster.len();
    world.backup();
    let root = world.root_token();
    let active = world.cluster.wait_active_addr().await.unwrap();
    let post = |url: String, token: Option<String>, body: Value| async move {
        call(reqwest::Method::POST, &url, token.as_deref(), Some(body)).await
    };

    // The breach: an intruder's userpass login and a leaked token, and two
    // secrets they read.
    let (s, b) = post(
        format!("{active}/v1/sys/auth/userpass"),
        Some(root.clone()),
        json!({"type": "userpass"}),
    )
    .await;
    assert!(s == 204 || s == 200, "{b}");
    let (s, b) = post(
        format!("{active}/v1/auth/userpass/users/intruder"),
        Some(root.clone()),
        json!({"password": "hunter2", "token_policies": "default"}),
    )
    .await;
    assert!(s == 204 || s == 200, "{b}");
    let (s, b) = post(
        format!("{active}/v1/auth/userpass/login/intruder"),
        None,
        json!({"password": "hunter2"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let intruder_token = b["auth"]["client_token"].as_str().unwrap().to_string();
    let (s, b) = post(
        format!("{active}/v1/auth/token/create"),
        Some(root.clone()),
        json!({"policies": ["default"]}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let leaked_token = b["auth"]["client_token"].as_str().unwrap().to_string();
    let leaked_accessor = b["auth"]["accessor"].as_str().unwrap().to_string();
    let exposed = ["compromised/db", "compromised/api"];
    let mut before = Vec::new();
    for p in exposed {
        let data = json!({"password": format!("old-{p}"), "user": "app"});
        let (s, b) = post(
            format!("{active}/v1/secret/data/{p}"),
            Some(root.clone()),
            json!({"data": data}),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        before.push(data);
    }
    let lookup = |token: String| {
        let active = active.clone();
        async move {
            call(
                reqwest::Method::GET,
                &format!("{active}/v1/auth/token/lookup-self"),
                Some(&token),
                None,
            )
            .await
            .0
        }
    };
    assert_eq!(lookup(intruder_token.clone()).await, 200);
    assert_eq!(lookup(leaked_token.clone()).await, 200);

    let addrs: Vec<String> = (0..n).map(|i| world.cluster.addr(i)).collect();
    let inputs = vec![
        ("nodes".to_string(), nodes_input(&addrs)),
        ("incident_id".to_string(), "INC-TEST-7".to_string()),
        ("auth_methods".to_string(), json!(["userpass"]).to_string()),
        (
            "token_accessors".to_string(),
            json!([leaked_accessor]).to_string(),
        ),
        ("rotate_paths".to_string(), json!(exposed).to_string()),
    ];
    // The run seals everything before it stops for the approval.
    let ran = world.run_runbook("compromise", &inputs);
    let run_id = ran.run_id();
    assert_paused_at(&ran, "approve_recovery");
    for addr in &addrs {
        let h = lifeboat_harness::openbao::health(addr).await.unwrap();
        assert_eq!(
            h["sealed"], true,
            "{addr} is not sealed while the approval waits: {h}"
        );
    }
    // Four eyes: the operator who started the run cannot approve it.
    let own = world.lifeboat(
        &[
            "approve".into(),
            run_id.clone(),
            "approve_recovery".into(),
            "--as".into(),
            OPERATOR.into(),
        ],
        &[],
    );
    assert_eq!(
        own.code,
        2,
        "the initiator approved their own run\n{}",
        own.dump()
    );
    let ran = world.approve_and_resume(&run_id, "approve_recovery");
    assert_eq!(ran.code, 0, "{}\n{}", ran.dump(), world.failures(&run_id));

    // Containment.
    let active = world.cluster.wait_active_addr().await.unwrap();
    let dead = |token: String| {
        let active = active.clone();
        async move {
            call(
                reqwest::Method::GET,
                &format!("{active}/v1/auth/token/lookup-self"),
                Some(&token),
                None,
            )
            .await
            .0
        }
    };
    assert_eq!(
        dead(intruder_token).await,
        403,
        "the intruder's token still works"
    );
    assert_eq!(
        dead(leaked_token).await,
        403,
        "the leaked token still works"
    );
    let (_, auths) = call(
        reqwest::Method::GET,
        &format!("{active}/v1/sys/auth"),
        Some(&root),
        None,
    )
    .await;
    assert!(
        auths["data"].get("userpass/").is_none(),
        "userpass is still enabled: {auths}"
    );
    for (p, old) in exposed.iter().zip(&before) {
        let (s, b) = call(
            reqwest::Method::GET,
            &format!("{active}/v1/secret/data/{p}"),
            Some(&root),
            None,
        )
        .await;
        assert_eq!(s, 200, "{b}");
        let new = &b["data"]["data"];
        assert_ne!(new, old, "`{p}` was not rotated");
        let names = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(new), names(old), "`{p}` lost or gained keys");
        assert!(new["password"].as_str().unwrap().len() >= 32);
        // The new values are in Vault only: not in the run's journal,
        // timeline or work directory.
        for value in new.as_object().unwrap().values() {
            let hits = crate::util::files_containing(
                &world.sandbox.run_dir(&run_id),
                value.as_str().unwrap(),
            );
            assert!(hits.is_empty(), "a rotated value of `{p}` is in {hits:?}");
        }
    }
    let verified = world.assert_all_secrets(&active, &root).await;
    assert_eq!(verified, 100);
    let (voters, ft) = wait_voters(&active, &root, n).await;
    assert_eq!((voters, ft), (n, ((n - 1) / 2) as u64));

    // The new keys work and the old ones are refused, on a sealed standby.
    let keys_file = world.work_dir(&run_id).join("rotated-unseal-keys.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&keys_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let new_keys: Vec<String> =
        serde_json::from_slice::<Value>(&std::fs::read(&keys_file).unwrap()).unwrap()
            ["unseal_keys_b64"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect();
    let old_keys = world.cluster.unseal_keys().to_vec();
    assert!(new_keys.iter().all(|k| !old_keys.contains(k)));
    let standby = addrs.iter().find(|a| **a != active).unwrap().clone();
    let (s, b) = call(
        reqwest::Method::PUT,
        &format!("{standby}/v1/sys/seal"),
        Some(&root),
        None,
    )
    .await;
    assert!(s == 204 || s == 200, "sealing {standby}: {b}");
    assert!(
        !try_unseal(&standby, &old_keys).await,
        "the old unseal keys still unseal {standby}"
    );
    assert!(
        try_unseal(&standby, &new_keys).await,
        "the new unseal keys do not unseal {standby}"
    );
    let (voters, ft) = wait_voters(&active, &root, n).await;
    assert_eq!((voters, ft), (n, ((n - 1) / 2) as u64));

    let report_md =
        std::fs::read_to_string(world.work_dir(&run_id).join("incident-report.md")).unwrap();
    assert!(
        report_md.contains("INC-TEST-7") && report_md.contains(APPROVER),
        "{report_md}"
    );
    report(world, &format!("compromise-{n}-nodes"), &run_id, verified);
}

/// Unseal progress from submitting `keys` to `addr` (after a reset):
/// whether the node ended unsealed.
async fn try_unseal(addr: &str, keys: &[String]) -> bool {
    let url = format!("{addr}/v1/sys/unseal");
    call(
        reqwest::Method::POST,
        &url,
        None,
        Some(json!({"reset": true})),
    )
    .await;
    let mut sealed = true;
    for key in keys {
        let (status, body) =
            call(reqwest::Method::POST, &url, None, Some(json!({"key": key}))).await;
        if status == 200 {
            sealed = body["sealed"] != false;
            if !sealed {
                break;
            }
        }
    }
    if sealed {
        call(
            reqwest::Method::POST,
            &url,
            None,
            Some(json!({"reset": true})),
        )
        .await;
    }
    !sealed
}
