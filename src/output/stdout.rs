//! Standard output that never blocks the loop. A reader that stops reading (`| sleep 40`, a
//! detached terminal) fills the pipe; a blocking write would then stop the broadcasts, the
//! health answers and even SIGTERM. So stdout is opened as its own non-blocking description
//! where it can block (a pipe, a terminal, a socket), the driver polls it for writable
//! readiness, and [`Output`](super::Output) keeps what does not fit in a bounded buffer.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

/// The process's standard output, as a writer the loop can poll.
#[derive(Debug)]
pub struct Stdout {
    file: File,
    /// Writes may return `WouldBlock`: poll this descriptor for writable readiness.
    nonblocking: bool,
}

impl Stdout {
    /// Opens standard output. A pipe or a terminal is opened again through
    /// `/proc/self/fd/1` as a new, non-blocking open file description (on a terminal, stdin,
    /// stdout and stderr share one description: making it non-blocking in place would make
    /// the shell's output non-blocking too); a socket is made non-blocking (it has no other
    /// path); a file or `/dev/null` stays as it is (writing to it does not wait for a reader).
    pub(crate) fn open() -> io::Result<Stdout> {
        let dup =
            || -> io::Result<File> { Ok(File::from(io::stdout().as_fd().try_clone_to_owned()?)) };
        let kind = std::fs::metadata("/proc/self/fd/1").map(|m| m.file_type());
        match kind {
            Ok(t) if t.is_fifo() || t.is_char_device() => {
                let reopened = std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open("/proc/self/fd/1");
                match reopened {
                    Ok(file) => Ok(Stdout {
                        file,
                        nonblocking: true,
                    }),
                    // E.g. a terminal owned by another user: blocking, as before.
                    Err(_) => Ok(Stdout {
                        file: dup()?,
                        nonblocking: false,
                    }),
                }
            }
            Ok(t) if t.is_socket() => {
                let file = dup()?;
                socket2::SockRef::from(&file).set_nonblocking(true)?;
                Ok(Stdout {
                    file,
                    nonblocking: true,
                })
            }
            _ => Ok(Stdout {
                file: dup()?,
                nonblocking: false,
            }),
        }
    }

    /// The descriptor to poll for writable readiness, if writes can return `WouldBlock`.
    pub(crate) fn watch_fd(&self) -> Option<RawFd> {
        self.nonblocking.then(|| self.file.as_raw_fd())
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
