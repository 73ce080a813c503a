//! The OpenBao helpers start real servers that answer, and leave nothing behind.

use lifeboat_harness::openbao::{health, OpenBaoCluster, OpenBaoDev};

#[tokio::test]
async fn dev_server_answers_and_stops_on_drop() {
    let dev = OpenBaoDev::start().await;
    let h = health(dev.addr()).await.unwrap();
    assert_eq!(h["sealed"], false);
    assert!(!dev.unseal_key().is_empty());
    let addr = dev.addr().to_string();
    let dir = dev.dir().to_path_buf();
    drop(dev);
    assert!(
        health(&addr).await.is_err(),
        "the server still answers after drop"
    );
    assert!(!dir.exists(), "the temp dir is left behind");
}

#[tokio::test]
async fn three_node_cluster_survives_losing_a_node_and_takes_it_back() {
    let mut cluster = OpenBaoCluster::start(3).await;
    assert_eq!(cluster.unseal_keys().len(), 3);
    let active = cluster.wait_active_addr().await.unwrap();
    assert_eq!(active, cluster.addr(0));
    // Lose node 2's disk, bring it back empty, join and unseal it again.
    cluster.kill(2);
    cluster.wipe(2);
    cluster.start_node(2).await.unwrap();
    let h = health(&cluster.addr(2)).await.unwrap();
    assert_eq!(
        h["initialized"], false,
        "a wiped node comes back uninitialised"
    );
    cluster.join(2, 0).await.unwrap();
    cluster.unseal(2).await.unwrap();
    cluster.wait_healthy().await.unwrap();
}
