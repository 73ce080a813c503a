//! The shipped Vault runbooks on a real 5-node OpenBao Raft cluster (issue
//! 16, "any cluster size"): the same scenarios as `vault_runbooks.rs` (3
//! nodes), with `nodes` a list of five, through the same helpers.

mod util;
mod vault_fixture;

use vault_fixture::*;

const NODES: usize = 5;

/// Every node is lost; the restore sub-runbook rebuilds five voters
/// (failure tolerance 2) from the backup, and every secret reads back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_cluster_loss_rebuilds_five_voters_from_the_backup() {
    let mut world = VaultWorld::start_with(NODES).await;
    world.backup();
    let inputs = lose_the_cluster(&mut world).await;

    let (run_id, ran) = run_with_answers(
        &world,
        "full-cluster-loss",
        &inputs,
        &["approve_restore", "switch_traffic"],
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.dump(), world.failures(&run_id));

    // Every node after the first joined and was unsealed by a loop item.
    let journal = world.sandbox.journal(&run_id);
    for i in 1..NODES {
        for step in ["join", "unseal_others"] {
            let item = format!("restore/{step}[{}]", world.cluster.addr(i));
            assert!(
                journal
                    .iter()
                    .any(|r| r["type"] == "step_succeeded" && r["step"] == item.as_str()),
                "no success of `{item}`"
            );
        }
    }
    let token = world.root_token();
    let active = world.cluster.wait_active_addr().await.unwrap();
    let (voters, ft) = wait_voters(&active, &token, NODES).await;
    assert_eq!((voters, ft), (5, 2));
    let verified = world.assert_all_secrets(&active, &token).await;
    assert_eq!(verified, SECRETS);
    report(&world, "full-cluster-loss-5-nodes", &run_id, verified);
    assert!(!world.work_dir(&run_id).join("backup.snap").exists());
    assert!(!world.work_dir(&run_id).join("fresh-init.json").exists());
}

/// A standby of five dies and loses its disk; single-node-failure replaces
/// it and the tolerance of five (2) is back, with no voter count given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_node_failure_replaces_a_dead_peer_of_five() {
    single_node_failure_scenario(VaultWorld::start_with(NODES).await).await;
}

/// compromise seals all five nodes before the approval, then contains and
/// rotates; the rotated keys unseal a standby of five.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compromise_seals_five_nodes_then_contains_and_rotates() {
    compromise_scenario(&VaultWorld::start_with(NODES).await).await;
}
