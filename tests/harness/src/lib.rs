//! Test helpers that start real servers on 127.0.0.1 for Lifeboat's tests.
//!
//! Nothing here is mocked. Each helper finds the server's binary (installed
//! by `tests/run` from the project's own files), starts it on free loopback
//! ports in a temporary directory, waits until it is ready and stops it when
//! dropped. A missing binary is an error that says how to install it: a
//! test that needs a server fails, it never skips.
//!
//! # Layout
//! - `tools.rs`: locating binaries (`bao`, `moto_server`) and free ports.
//! - `openbao.rs`: an OpenBao dev server and a 3-node Raft cluster.
//! - `s3_server.rs`: an S3-compatible server (moto) with a bucket.
//! - `pushgateway.rs`: a Prometheus pushgateway (Debian's package).
//! - `latency_proxy.rs`: a TCP proxy that adds a delay each way (a far
//!   server on loopback) and counts HTTP/1 requests in flight.
//! - `webhook_receiver.rs`: an HTTP receiver of webhooks that records each
//!   request and accepts, fails N times then accepts, or hangs.

pub mod latency_proxy;
pub mod openbao;
pub mod pushgateway;
pub mod s3_server;
pub mod tools;
pub mod webhook_receiver;
