//! Whether the client of a request is still connected. actix-web keeps running a handler
//! after its client has gone (actix/actix-web#3462); a long-polling acquire must not take a
//! job for a daemon that is no longer listening, or the job would sit "running" until reaped.

use std::any::Any;

use actix_web::HttpRequest;
use actix_web::dev::Extensions;

/// The connection's socket, recorded when it is accepted. The dispatcher owns the socket
/// until every handler on it has finished, so the descriptor is valid while a handler runs.
#[derive(Debug, Clone, Copy)]
struct PeerSocket(#[cfg(unix)] std::os::fd::RawFd);

/// `HttpServer::on_connect` hook.
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

/// True when the peer has closed its side (or reset the connection). Peeks without
/// consuming anything, so the request stream is untouched. Unknown means connected.
pub fn client_gone(req: &HttpRequest) -> bool {
    let Some(socket) = req.conn_data::<PeerSocket>() else {
        return false;
    };
    socket.closed_by_peer()
}

impl PeerSocket {
    #[cfg(unix)]
    fn closed_by_peer(self) -> bool {
        let mut byte = [0u8; 1];
        // SAFETY: the descriptor is open for the handler's whole life (see `PeerSocket`), the
        // buffer is valid for one byte, and MSG_PEEK | MSG_DONTWAIT neither consumes nor blocks.
        let read =
            unsafe { libc::recv(self.0, byte.as_mut_ptr().cast(), byte.len(), libc::MSG_PEEK | libc::MSG_DONTWAIT) };
        if read == 0 {
            return true;
        }
        if read < 0 {
            let error = std::io::Error::last_os_error();
            return !matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted);
        }
        false
    }

    #[cfg(not(unix))]
    fn closed_by_peer(self) -> bool {
        false
    }
}
