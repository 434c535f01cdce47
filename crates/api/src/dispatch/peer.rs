//! Whether the client of a waiting request is still connected.

use std::any::Any;

use actix_web::HttpRequest;
use actix_web::dev::Extensions;

/// The socket of a connection, recorded when it is accepted.
///
/// Why peek at a socket at all: actix-web keeps running a handler after its client has gone
/// (actix/actix-web#3462), and a long-polling acquire must not take a job for a daemon that
/// no longer listens, or the job would sit "running" until the reaper fails it.
#[derive(Debug, Clone, Copy)]
pub struct PeerSocket(#[cfg(unix)] std::os::fd::RawFd);

impl PeerSocket {
    /// `HttpServer::on_connect` hook: remembers the socket of every plain TCP connection.
    pub fn on_connect(connection: &dyn Any, extensions: &mut Extensions) {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            if let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
                extensions.insert(PeerSocket(stream.as_raw_fd()));
            }
        }
        #[cfg(not(unix))]
        {
            let _ = (connection, extensions);
        }
    }

    /// The socket the request came in on, when it was recorded.
    pub fn of(req: &HttpRequest) -> Option<Self> {
        req.conn_data::<PeerSocket>().copied()
    }

    /// True when the peer has closed its side or reset the connection. Reads nothing, so
    /// the request stream is untouched; an unknown state counts as connected.
    #[cfg(unix)]
    pub fn hung_up(self) -> bool {
        let mut byte = [0u8; 1];
        // SAFETY: the dispatcher owns the socket until every handler on the connection has
        // finished, so the descriptor is open while a handler asks; the buffer holds one
        // byte; MSG_PEEK | MSG_DONTWAIT neither consumes data nor blocks.
        let read =
            unsafe { libc::recv(self.0, byte.as_mut_ptr().cast(), byte.len(), libc::MSG_PEEK | libc::MSG_DONTWAIT) };
        match read {
            0 => true,
            n if n > 0 => false,
            _ => {
                let error = std::io::Error::last_os_error();
                !matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted)
            }
        }
    }

    #[cfg(not(unix))]
    pub fn hung_up(self) -> bool {
        false
    }
}
