//! Sending while receiving: a channel's queued output is written while the
//! socket goes on being read into the receive buffer, so a peer that blocks
//! writing to us before it reads again is drained instead of deadlocked
//! (both sides waiting on full socket buffers). Generic over the stream and
//! the reader so it is tested on in-memory pipes.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use crate::client::error::ClientError;

/// What one read attempt beside a pending write gave.
pub(crate) enum ReadPoll {
    /// Bytes arrived: try again.
    Progress,
    /// Nothing now; the waker is registered.
    Pending,
    /// No more reading during this write: the buffer is full, the peer
    /// closed its side, or the read failed (the next ordinary read reports it).
    Stopped,
    /// The buffer refused to grow (protocol or budget): the channel ends.
    Failed(ClientError),
}

/// One read attempt into `vec` (cancel-safe: a fresh `read_buf` polled once).
pub(crate) fn poll_read_into<S: AsyncRead + Unpin + ?Sized>(
    stream: &mut S,
    cx: &mut Context<'_>,
    vec: &mut Vec<u8>,
) -> ReadPoll {
    let fut = stream.read_buf(vec);
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(cx) {
        Poll::Ready(Ok(0) | Err(_)) => ReadPoll::Stopped,
        Poll::Ready(Ok(_)) => ReadPoll::Progress,
        Poll::Pending => ReadPoll::Pending,
    }
}

/// Writes `bytes` and flushes, calling `read` whenever the write cannot go
/// on, until reading stops. The outer error is the write's; the inner one a
/// failure `read` reported.
pub(crate) async fn write_reading<S, R>(
    stream: &mut S,
    bytes: &[u8],
    read: &mut R,
) -> std::io::Result<Option<ClientError>>
where
    S: AsyncWrite + Unpin + ?Sized,
    R: FnMut(&mut S, &mut Context<'_>) -> ReadPoll,
{
    let mut written = 0usize;
    let mut reading = true;
    std::future::poll_fn(|cx| {
        loop {
            // Write (then flush) as far as the stream takes it...
            match bytes.get(written..) {
                Some(rest) if !rest.is_empty() => match Pin::new(&mut *stream).poll_write(cx, rest) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => {
                        written = written.saturating_add(n);
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                },
                _ => {
                    if let Poll::Ready(r) = Pin::new(&mut *stream).poll_flush(cx) {
                        return Poll::Ready(r.map(|()| None));
                    }
                }
            }
            // ...and while it waits, read what the peer sends.
            if !reading {
                return Poll::Pending;
            }
            match read(stream, cx) {
                ReadPoll::Progress => {}
                ReadPoll::Pending => return Poll::Pending,
                ReadPoll::Stopped => reading = false,
                ReadPoll::Failed(e) => return Poll::Ready(Ok(Some(e))),
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncWriteExt, duplex};

    fn pattern(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    /// The peer writes 2 MiB before reading anything, through pipes that
    /// hold 64 KiB: a writer that does not read while it waits never finishes.
    #[tokio::test(flavor = "current_thread")]
    async fn a_peer_that_writes_before_reading_is_drained() {
        let (mut ours, mut peer) = duplex(64 << 10);
        let to_peer = pattern(4 << 20, 7);
        let from_peer = pattern(2 << 20, 3);
        let sent = from_peer.clone();
        let expect = to_peer.clone();
        let peer_task = tokio::spawn(async move {
            peer.write_all(&sent).await.unwrap();
            let mut got = vec![0u8; expect.len()];
            peer.read_exact(&mut got).await.unwrap();
            assert!(got == expect, "the peer got other bytes");
        });
        let mut received = Vec::new();
        let mut read = |s: &mut tokio::io::DuplexStream, cx: &mut Context<'_>| poll_read_into(s, cx, &mut received);
        let r = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            write_reading(&mut ours, &to_peer, &mut read),
        )
        .await
        .expect("the write finished (no deadlock)");
        assert!(matches!(r, Ok(None)));
        peer_task.await.unwrap();
        // Whatever the write did not read is still in the pipe, in order.
        let mut rest = vec![0u8; from_peer.len() - received.len()];
        ours.read_exact(&mut rest).await.unwrap();
        received.extend_from_slice(&rest);
        assert!(
            received == from_peer,
            "the bytes read meanwhile are the peer's, in order"
        );
    }

    /// A reader that stops (buffer full) leaves the write waiting for the peer.
    #[tokio::test(flavor = "current_thread")]
    async fn reading_stops_when_the_reader_says_so() {
        let (mut ours, mut peer) = duplex(1024);
        let data = pattern(64 << 10, 1);
        let expect = data.clone();
        let mut calls = 0u32;
        let mut read = |_: &mut tokio::io::DuplexStream, _: &mut Context<'_>| {
            calls += 1;
            ReadPoll::Stopped
        };
        let peer_task = tokio::spawn(async move {
            let mut got = vec![0u8; expect.len()];
            peer.read_exact(&mut got).await.unwrap();
            got == expect
        });
        assert!(matches!(write_reading(&mut ours, &data, &mut read).await, Ok(None)));
        assert!(peer_task.await.unwrap());
        assert_eq!(calls, 1, "a stopped reader is not asked again");
    }

    /// A reader failure (over budget) ends the write with that error.
    #[tokio::test(flavor = "current_thread")]
    async fn a_reader_failure_is_returned() {
        let (mut ours, _peer) = duplex(16);
        let mut read =
            |_: &mut tokio::io::DuplexStream, _: &mut Context<'_>| ReadPoll::Failed(ClientError::Timeout { secs: 7 });
        let r = write_reading(&mut ours, &[0u8; 1024], &mut read).await;
        assert!(matches!(r, Ok(Some(ClientError::Timeout { secs: 7 }))));
    }
}
