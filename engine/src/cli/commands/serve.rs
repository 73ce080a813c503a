use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};

use tokio_util::sync::CancellationToken;

use crate::cli::error::{exit, CliError};
use crate::cli::ServeArgs;
use crate::serve::{serve, ServeConfig};

/// `lifeboat serve`: the read-only live status page, until Ctrl-C.
pub fn run(args: ServeArgs) -> Result<i32, CliError> {
    let stores = args.location.stores()?;
    let addr = bind_address(&args.bind)?;
    if !addr.ip().is_loopback() {
        eprintln!(
            "warning: serving on {addr}, which other machines can reach: anyone who can connect sees every run's status, steps, inputs and events \
             (never a secret: the journal is redacted), with no login. Unless this network is trusted, serve on 127.0.0.1 (the default) \
             and watch through a tunnel: `ssh -L 8080:127.0.0.1:{} HOST`",
            addr.port()
        );
    }
    let listener = std::net::TcpListener::bind(addr).map_err(|e| bind_error(addr, &e))?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::failed(format!("cannot tell which port {addr} got: {e}")))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| CliError::failed(format!("cannot listen on {local}: {e}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("cannot start the server's runtime: {e}")))?;
    let config = ServeConfig {
        interval: args.interval,
        loopback_only: local.ip().is_loopback(),
        stores: stores.clone(),
    };
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| CliError::failed(format!("cannot listen on {local}: {e}")))?;
        // The URL first, alone on stdout, for scripts and tests.
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "http://{local}/");
        let _ = stdout.flush();
        eprintln!(
            "serving the runs in {} at http://{local}/ (read-only; Ctrl-C stops)",
            stores.describe()
        );
        let stop = CancellationToken::new();
        let signals = stop.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut term) = signal(SignalKind::terminate()) else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            eprintln!("stopping: open pages are disconnected");
            signals.cancel();
        });
        serve(listener, config, stop).await;
        Ok::<_, CliError>(())
    })?;
    Ok(exit::SUCCESS)
}

/// `--bind`: `ADDR:PORT`, or a name that resolves (`localhost:8080`).
fn bind_address(text: &str) -> Result<SocketAddr, CliError> {
    let invalid = |why: String| {
        CliError::invalid(format!(
            "--bind `{text}`: {why}; write an address and a port, e.g. `127.0.0.1:8080` (this machine only) or `0.0.0.0:8080` (every interface)"
        ))
    };
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if !text.contains(':') {
        return Err(invalid("no port".into()));
    }
    text.to_socket_addrs()
        .map_err(|e| invalid(e.to_string()))?
        .next()
        .ok_or_else(|| invalid("the name has no address".into()))
}

fn bind_error(addr: SocketAddr, e: &std::io::Error) -> CliError {
    use std::io::ErrorKind;
    let next = SocketAddr::new(addr.ip(), addr.port().wrapping_add(1).max(1024));
    let how = match e.kind() {
        ErrorKind::AddrInUse => format!(
            "the port is already in use (another `lifeboat serve`, or another server); pick another with `--bind {next}`, or `--bind {}` for any free port",
            SocketAddr::new(addr.ip(), 0)
        ),
        ErrorKind::PermissionDenied => format!(
            "permission denied (ports below 1024 need privileges); pick a higher port, e.g. `--bind {}`",
            SocketAddr::new(addr.ip(), 8080)
        ),
        ErrorKind::AddrNotAvailable => format!(
            "this machine has no address {}; use `127.0.0.1` (this machine only) or `0.0.0.0` (every interface)",
            addr.ip()
        ),
        _ => e.to_string(),
    };
    CliError::invalid(format!("cannot listen on {addr}: {how}"))
}
