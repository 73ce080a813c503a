//! The S3 server helper starts a real moto on loopback, with its bucket,
//! and leaves nothing running once dropped.

use lifeboat_harness::s3_server::S3Server;

#[tokio::test]
async fn starts_with_a_bucket_and_stops_on_drop() {
    let server = S3Server::start().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(server.endpoint().starts_with("http://127.0.0.1:"));
    let listing = reqwest::get(format!(
        "{}/{}?list-type=2",
        server.endpoint(),
        server.bucket()
    ))
    .await
    .unwrap();
    assert_eq!(listing.status(), 200, "the bucket exists");
    let port = server.port();
    let dir = server.dir();
    drop(server);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "moto still listens on {port} after drop"
    );
    assert!(!dir.exists(), "the server's temp dir is removed");
}

#[tokio::test]
async fn two_servers_get_separate_ports() {
    let a = S3Server::start().await.unwrap_or_else(|e| panic!("{e}"));
    let b = S3Server::start().await.unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(a.port(), b.port());
}
