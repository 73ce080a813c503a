//! A missing `moto_server` is an error that says how to install it. In its
//! own test binary because it changes the process environment.

use lifeboat_harness::s3_server::S3Server;

#[tokio::test]
async fn a_missing_moto_server_says_how_to_install_it() {
    std::env::set_var("LIFEBOAT_MOTO_SERVER", "/nonexistent/moto_server");
    let err = match S3Server::start().await {
        Ok(_) => panic!("started a server from a path that does not exist"),
        Err(e) => e,
    };
    assert!(
        err.contains("LIFEBOAT_MOTO_SERVER=/nonexistent/moto_server does not name a file"),
        "{err}"
    );
    assert!(err.contains("pip install 'moto[server]'"), "{err}");
    assert!(err.contains("tests/run"), "{err}");
}
