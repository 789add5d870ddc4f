//! Connections the server can cut when its shutdown grace period ends.
//!
//! A graceful stop asks each connection to finish (HTTP/2 GOAWAY) and waits
//! for them, which a client streaming on and on would make forever; and
//! giving up on the server future does not end the connections, which run
//! as tasks of their own. So every accepted socket is wrapped: once the
//! server cuts them, their reads and writes fail, each connection ends, and
//! the calls on it are dropped, rolling back whatever they had not
//! committed.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// An accepted socket that fails once `cut` is cancelled.
pub struct Severable {
    stream: TcpStream,
    cut: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl Severable {
    /// `stream`, cut when `cut` is cancelled.
    pub fn new(stream: TcpStream, cut: &CancellationToken) -> Self {
        Severable {
            stream,
            cut: Box::pin(cut.clone().cancelled_owned()),
        }
    }

    /// The error every operation returns once cut; it also wakes the
    /// connection's task when the cut comes while it waits.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.cut.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the server stopped: its shutdown grace period is over",
            )),
            Poll::Pending => Ok(()),
        }
    }
}

impl AsyncRead for Severable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.check(cx)?;
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Severable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check(cx)?;
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check(cx)?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl Connected for Severable {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}
