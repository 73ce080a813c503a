//! Two threads, a few fixed buffers: one thread produces buffers in order
//! (read and decrypt, or read and hash), the other consumes them in the same
//! order (hash and write, or encrypt and write).
//!
//! Why: on this work the CPU is the limit, not the disk. AES-GCM and
//! SHA-256 each run at 1.5 to 2.5 GB/s on one core; done one after the
//! other they add up, done on two cores they overlap. Memory stays constant:
//! exactly `depth` buffers exist, passed back and forth over two bounded
//! channels, whatever the file size.

use std::sync::mpsc::sync_channel;

/// How many buffers circulate: one being produced, one being consumed, one
/// in flight, so neither side waits on the other's hand-over.
pub const DEPTH: usize = 3;

/// Runs `produce` on the calling thread and `consume` on a second one.
///
/// `produce` fills a buffer of `buf_len` bytes and returns how many bytes of
/// it to hand over, or `None` when there is nothing more. `consume` gets
/// those bytes, in order. The first error from either side stops both and
/// is returned (the producer's first, since it is usually the cause).
pub fn run<E: Send>(
    buf_len: usize,
    mut produce: impl FnMut(&mut [u8]) -> Result<Option<usize>, E>,
    mut consume: impl FnMut(&mut [u8]) -> Result<(), E> + Send,
) -> Result<(), E> {
    let (full_tx, full_rx) = sync_channel::<(Vec<u8>, usize)>(DEPTH);
    let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(DEPTH);
    for _ in 0..DEPTH {
        empty_tx
            .send(vec![0u8; buf_len])
            .expect("the channel holds DEPTH buffers");
    }
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || -> Result<(), E> {
            for (mut buf, len) in full_rx {
                consume(&mut buf[..len])?;
                if empty_tx.send(buf).is_err() {
                    break;
                }
            }
            Ok(())
        });
        let produced = loop {
            // Fails only when the worker has stopped, on an error it returns.
            let Ok(mut buf) = empty_rx.recv() else {
                break Ok(());
            };
            match produce(&mut buf) {
                Ok(Some(len)) => {
                    if full_tx.send((buf, len)).is_err() {
                        break Ok(());
                    }
                }
                Ok(None) => break Ok(()),
                Err(err) => break Err(err),
            }
        };
        drop(full_tx);
        let consumed = match worker.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        produced.and(consumed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_arrive_in_order_and_errors_stop_both_sides() {
        let mut next = 0u32;
        let mut seen = Vec::new();
        run::<String>(
            4,
            |buf| {
                next += 1;
                if next > 100 {
                    return Ok(None);
                }
                buf.copy_from_slice(&next.to_be_bytes());
                Ok(Some(4))
            },
            |buf| {
                seen.push(u32::from_be_bytes(buf.try_into().unwrap()));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, (1..=100).collect::<Vec<_>>());

        let err = run::<String>(1, |_| Ok(Some(1)), |_| Err("disk full".into())).unwrap_err();
        assert_eq!(err, "disk full");
        let mut calls = 0;
        let err = run::<String>(
            1,
            |_| {
                calls += 1;
                if calls == 5 {
                    Err("bad chunk".into())
                } else {
                    Ok(Some(1))
                }
            },
            |_| Ok(()),
        )
        .unwrap_err();
        assert_eq!(err, "bad chunk");
    }
}
