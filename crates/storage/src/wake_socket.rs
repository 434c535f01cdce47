//! A PostgreSQL connection that sleeps until a notice arrives.
//!
//! diesel's connection can only be asked whether notices have come, so a listener on it has
//! to ask again and again: a notice then waits for the next asking, and an idle server wakes
//! dozens of times a second for nothing. libpq itself exposes the connection's socket, so this
//! connection is libpq's, used directly: the listener sleeps in `poll` on the socket, and on a
//! second descriptor that tells it the store is gone.

use std::ffi::{CStr, CString, c_char, c_void};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;
use std::time::Duration;

use pq_sys::{
    ConnStatusType, ExecStatusType, PGconn, PQclear, PQconnectdb, PQconsumeInput, PQerrorMessage, PQexec, PQfinish,
    PQfreemem, PQnotifies, PQresultStatus, PQsetNoticeProcessor, PQsocket, PQstatus,
};

/// One notice: its channel and its payload.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Notice {
    pub(crate) channel: String,
    pub(crate) payload: String,
}

/// What a wait ended with.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Woken {
    Notices(Vec<Notice>),
    /// Nothing came for the whole wait.
    Quiet,
    /// The other end of the stop descriptor was closed.
    Stopped,
}

/// An open libpq connection, owned: used from one thread at a time, closed on drop.
pub(crate) struct WakeSocket {
    conn: NonNull<PGconn>,
}

// libpq connections may move between threads as long as one is used by one thread at a time,
// which `&mut self` on every use guarantees.
unsafe impl Send for WakeSocket {}

impl WakeSocket {
    /// Connects with libpq's own reading of the URL, as diesel's connections do.
    pub(crate) fn connect(url: &str) -> Result<Self, String> {
        let url = CString::new(url).map_err(|_| "the database URL holds a NUL byte".to_owned())?;
        // SAFETY: `url` is a NUL-terminated string that outlives the call.
        let raw = unsafe { PQconnectdb(url.as_ptr()) };
        let conn = NonNull::new(raw).ok_or_else(|| "libpq could not allocate a connection".to_owned())?;
        let socket = Self { conn };
        // SAFETY: `conn` is a live connection owned by `socket`.
        if unsafe { PQstatus(socket.conn.as_ptr()) } != ConnStatusType::CONNECTION_OK {
            return Err(socket.error());
        }
        // SAFETY: as above; the processor reads only the message it is given.
        unsafe { PQsetNoticeProcessor(socket.conn.as_ptr(), Some(log_notice), std::ptr::null_mut()) };
        Ok(socket)
    }

    /// Runs statements whose results are not needed (`LISTEN`, a keep-alive).
    pub(crate) fn execute(&mut self, sql: &str) -> Result<(), String> {
        let sql = CString::new(sql).map_err(|_| "a statement holds a NUL byte".to_owned())?;
        // SAFETY: the connection is live and `sql` is NUL-terminated; the result, if any, is
        // read and freed here and nowhere else.
        unsafe {
            let result = PQexec(self.conn.as_ptr(), sql.as_ptr());
            if result.is_null() {
                return Err(self.error());
            }
            let status = PQresultStatus(result);
            PQclear(result);
            match status {
                ExecStatusType::PGRES_COMMAND_OK | ExecStatusType::PGRES_TUPLES_OK => Ok(()),
                _ => Err(self.error()),
            }
        }
    }

    /// Sleeps until notices arrive, `stop`'s other end is closed, or `quiet` passes.
    pub(crate) fn wait(&mut self, stop: BorrowedFd<'_>, quiet: Duration) -> Result<Woken, String> {
        // Notices may have come in with the answer to the last statement.
        let mut notices = self.take_notices();
        if !notices.is_empty() {
            return Ok(Woken::Notices(notices));
        }
        // SAFETY: the connection is live.
        let socket = unsafe { PQsocket(self.conn.as_ptr()) };
        if socket < 0 {
            return Err(self.error());
        }
        let mut watched = [
            libc::pollfd { fd: socket, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: stop.as_raw_fd(), events: libc::POLLIN, revents: 0 },
        ];
        let timeout = libc::c_int::try_from(quiet.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `watched` is a valid array of two `pollfd`s for the duration of the call.
        let ready = unsafe { libc::poll(watched.as_mut_ptr(), 2, timeout) };
        if ready < 0 {
            let error = std::io::Error::last_os_error();
            return match error.kind() {
                // A signal: the caller simply waits again.
                std::io::ErrorKind::Interrupted => Ok(Woken::Quiet),
                _ => Err(error.to_string()),
            };
        }
        if watched[1].revents != 0 {
            return Ok(Woken::Stopped);
        }
        if watched[0].revents == 0 {
            return Ok(Woken::Quiet);
        }
        // SAFETY: the connection is live.
        if unsafe { PQconsumeInput(self.conn.as_ptr()) } == 0 {
            return Err(self.error());
        }
        notices = self.take_notices();
        Ok(if notices.is_empty() { Woken::Quiet } else { Woken::Notices(notices) })
    }

    /// The notices libpq has read so far.
    fn take_notices(&mut self) -> Vec<Notice> {
        let mut notices = Vec::new();
        loop {
            // SAFETY: the connection is live; each notice is read, then freed with libpq's
            // own `PQfreemem`, once.
            let Some(notice) = NonNull::new(unsafe { PQnotifies(self.conn.as_ptr()) }) else {
                return notices;
            };
            unsafe {
                let raw = notice.as_ref();
                notices.push(Notice { channel: text(raw.relname), payload: text(raw.extra) });
                PQfreemem(notice.as_ptr().cast());
            }
        }
    }

    /// libpq's account of the last failure.
    fn error(&self) -> String {
        // SAFETY: the connection is live; the message belongs to it and is copied at once.
        let message = unsafe { text(PQerrorMessage(self.conn.as_ptr())) };
        match message.trim() {
            "" => "the connection to the database failed".to_owned(),
            reason => reason.to_owned(),
        }
    }
}

impl Drop for WakeSocket {
    fn drop(&mut self) {
        // SAFETY: the connection is owned here and not used after.
        unsafe { PQfinish(self.conn.as_ptr()) }
    }
}

/// libpq's default prints the server's messages to standard error, among them the one that
/// comes when the server ends the connection; the loss is logged by the listener already.
unsafe extern "C" fn log_notice(_: *mut c_void, message: *const c_char) {
    // SAFETY: libpq passes a NUL-terminated message alive for the call.
    let message = unsafe { text(message) };
    tracing::debug!(message = message.trim(), "database message on the listener's connection");
}

/// A C string libpq handed over, copied; empty when there is none.
///
/// SAFETY: `raw` is null or a NUL-terminated string alive for the call.
unsafe fn text(raw: *const c_char) -> String {
    if raw.is_null() {
        return String::new();
    }
    // SAFETY: see the function's contract.
    unsafe { CStr::from_ptr(raw) }.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    use super::*;
    use crate::testing::{Backend, TestDatabase};

    /// A listener on `channel`, the stream that stops it (keep the first end to keep it
    /// going), and a second connection to send with.
    fn listening(db: &TestDatabase, channel: &str) -> (WakeSocket, UnixStream, UnixStream, WakeSocket) {
        let connect = || WakeSocket::connect(db.url()).unwrap_or_else(|e| panic!("{e}"));
        let mut listener = connect();
        listener.execute(&format!("LISTEN {channel}")).unwrap_or_else(|e| panic!("{e}"));
        let (stop, stopped) = UnixStream::pair().unwrap_or_else(|e| panic!("{e}"));
        (listener, stop, stopped, connect())
    }

    /// A burst of notices larger than libpq reads at once (over TLS, more than one record's
    /// worth) is all passed on without waiting for the next traffic on the socket.
    #[test]
    fn a_burst_of_notices_is_read_whole() {
        let Some(db) = TestDatabase::new(Backend::Postgres) else { return };
        let (mut listener, _stop, stopped, mut sender) = listening(&db, "wake_socket_burst");
        let sent = 200;
        sender
            .execute(&format!(
                "SELECT pg_notify('wake_socket_burst', n::text || repeat('x', 1000)) FROM generate_series(1, {sent}) n"
            ))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut heard = 0;
        while heard < sent {
            match listener.wait(stopped.as_fd(), Duration::from_secs(10)) {
                Ok(Woken::Notices(notices)) => heard += notices.len(),
                other => panic!("{heard} of {sent} notices heard, then {other:?}"),
            }
        }
        assert_eq!(heard, sent);
    }

    /// A notice wakes the sleeper, a closed stop descriptor ends its sleep, and a connection
    /// the server ends is reported, not waited on.
    #[test]
    fn sleeps_until_a_notice_or_the_stop_and_reports_a_lost_connection() {
        let Some(db) = TestDatabase::new(Backend::Postgres) else { return };
        let (mut listener, stop, stopped, mut sender) = listening(&db, "wake_socket_test");
        assert_eq!(listener.wait(stopped.as_fd(), Duration::from_millis(50)), Ok(Woken::Quiet));

        sender.execute("SELECT pg_notify('wake_socket_test', 'it''s here')").unwrap_or_else(|e| panic!("{e}"));
        let heard = listener.wait(stopped.as_fd(), Duration::from_secs(10));
        let expected = Notice { channel: "wake_socket_test".into(), payload: "it's here".into() };
        assert_eq!(heard, Ok(Woken::Notices(vec![expected])));

        drop(stop);
        assert_eq!(listener.wait(stopped.as_fd(), Duration::from_secs(10)), Ok(Woken::Stopped));

        sender
            .execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN wake_socket_test'")
            .unwrap_or_else(|e| panic!("{e}"));
        let (_stop, stopped) = UnixStream::pair().unwrap_or_else(|e| panic!("{e}"));
        // The server's goodbye may be read, without notices, before the closed connection is.
        let outcome = (0..3)
            .map(|_| listener.wait(stopped.as_fd(), Duration::from_secs(10)))
            .find(|outcome| *outcome != Ok(Woken::Quiet));
        assert!(matches!(outcome, Some(Err(_))), "a lost connection was not reported: {outcome:?}");
    }
}
