//! Reading `/etc/hosts` and `/etc/resolv.conf` without ever blocking or stalling the loop:
//! both are read again for every lookup, from inside the poll loop.
//!
//! - opened with `O_NONBLOCK` (a FIFO opens at once instead of waiting for a writer), and
//!   only a regular file is read (a FIFO, `/dev/zero` or a directory is ignored: a read could
//!   wait forever or never end);
//! - read through a fixed [`LINE_MAX`]-byte buffer, a line at a time, never whole;
//! - at most a bound of bytes per lookup ([`HOSTS_MAX`], [`RESOLV_CONF_MAX`]): what lies
//!   beyond is not seen;
//! - a line longer than the buffer is skipped.
//!
//! What was ignored is recorded once per file and reason ([`take_notes`]) for the caller to
//! say once: the loop's output is not this module's to write.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicU8, Ordering};

/// Longest line read (the buffer's size); a longer one is skipped. A hosts line is an address
/// and a few names (at most 253 bytes each): 4 KiB is over a dozen of the longest names.
pub(crate) const LINE_MAX: usize = 4096;

/// Bytes of `/etc/hosts` read per lookup. 1 MiB is some 25,000 lines, hundreds of times the
/// hosts files containers and lab machines have (Docker's is a dozen lines), and a pass over
/// it costs about 2.5 ms (release build, 40-byte lines, read and matched), so even several
/// lookups in one loop turn stay far below the 1 s cadence. An ad-block hosts file (several
/// MB) is seen only in its first MiB.
pub(crate) const HOSTS_MAX: u64 = 1 << 20;

/// Bytes of `/etc/resolv.conf` read per lookup: only 3 nameservers and 6 search domains are
/// used, a real file is a few hundred bytes.
pub(crate) const RESOLV_CONF_MAX: u64 = 64 << 10;

/// Which file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    /// `/etc/hosts`.
    Hosts = 0,
    /// `/etc/resolv.conf`.
    ResolvConf = 1,
}

impl Which {
    /// The file's path.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Which::Hosts => "/etc/hosts",
            Which::ResolvConf => "/etc/resolv.conf",
        }
    }

    fn max(self) -> u64 {
        match self {
            Which::Hosts => HOSTS_MAX,
            Which::ResolvConf => RESOLV_CONF_MAX,
        }
    }
}

/// Not a regular file (a FIFO, a device, a directory): ignored.
pub(crate) const NOT_REGULAR: u8 = 1;
/// Longer than the bound: the rest not read.
pub(crate) const CUT: u8 = 2;
/// A line longer than [`LINE_MAX`]: skipped.
pub(crate) const LONG_LINE: u8 = 4;

/// Reasons seen, per file (bits `4 * which`), and those already taken by [`take_notes`].
static SEEN: AtomicU8 = AtomicU8::new(0);
static TAKEN: AtomicU8 = AtomicU8::new(0);

/// Something ignored in one of the files, to be said once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Note {
    /// The file.
    pub(crate) which: Which,
    /// [`NOT_REGULAR`], [`CUT`] or [`LONG_LINE`].
    pub(crate) what: u8,
}

impl core::fmt::Display for Note {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let path = self.which.path();
        match self.what {
            NOT_REGULAR => write!(
                f,
                "{path} is not a regular file (a directory, a FIFO or a device?): ignored"
            ),
            CUT => write!(
                f,
                "{path} is over {} KiB: only its first {} KiB are read ({} beyond are not seen)",
                self.which.max() >> 10,
                self.which.max() >> 10,
                match self.which {
                    Which::Hosts => "names",
                    Which::ResolvConf => "lines",
                }
            ),
            _ => write!(
                f,
                "{path} has a line over {LINE_MAX} bytes: such lines are skipped"
            ),
        }
    }
}

/// The next reason not said yet, if any (each is returned once per process).
pub(crate) fn take_notes() -> Option<Note> {
    let fresh = SEEN.load(Ordering::Relaxed) & !TAKEN.load(Ordering::Relaxed);
    if fresh == 0 {
        return None;
    }
    let bit = fresh.trailing_zeros() as u8;
    TAKEN.fetch_or(1 << bit, Ordering::Relaxed);
    let which = if bit >= 4 {
        Which::ResolvConf
    } else {
        Which::Hosts
    };
    Some(Note {
        which,
        what: 1 << (bit % 4),
    })
}

/// Calls `f` on every line of `which` (without its newline) within the bound; returns the
/// reasons found (also recorded for [`take_notes`]). A missing or unreadable file has no
/// lines.
pub(crate) fn for_each_line(which: Which, f: impl FnMut(&[u8])) -> u8 {
    let notes = read_lines(which.path(), which.max(), f);
    if notes != 0 {
        SEEN.fetch_or(notes << (4 * which as u8), Ordering::Relaxed);
    }
    notes
}

/// [`for_each_line`] on any path, with the bound `max`, recording nothing.
pub(crate) fn read_lines(path: &str, max: u64, mut f: impl FnMut(&[u8])) -> u8 {
    // A FIFO with no writer would block open(2) without O_NONBLOCK; a device could do anything
    // on open, so its type is looked at first (and again on the opened file: it may have been
    // swapped in between).
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return NOT_REGULAR,
        Err(_) => return 0,
    }
    let Ok(mut file) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    else {
        return 0;
    };
    let len = match file.metadata() {
        Ok(m) if m.is_file() => m.len(),
        Ok(_) => return NOT_REGULAR,
        Err(_) => return 0,
    };
    let mut notes = if len > max { CUT } else { 0 };
    notes |= lines(&mut file, max, &mut f);
    notes
}

/// The line splitting, on any reader.
fn lines(file: &mut File, max: u64, f: &mut impl FnMut(&[u8])) -> u8 {
    let mut notes = 0;
    let mut buf = [0u8; LINE_MAX];
    let (mut start, mut end) = (0, 0);
    let mut total = 0u64;
    // Inside a line longer than the buffer: its bytes are dropped up to its newline.
    let mut skipping = false;
    loop {
        while let Some(nl) = buf[start..end].iter().position(|&b| b == b'\n') {
            if !skipping {
                f(&buf[start..start + nl]);
            }
            skipping = false;
            start += nl + 1;
        }
        if total >= max {
            // A line cut by the bound is not taken: its end could change its meaning.
            return notes;
        }
        buf.copy_within(start..end, 0);
        end -= start;
        start = 0;
        if end == buf.len() {
            notes |= LONG_LINE;
            skipping = true;
            end = 0;
        }
        let room = (buf.len() - end).min(usize::try_from(max - total).unwrap_or(usize::MAX));
        match file.read(&mut buf[end..end + room]) {
            Ok(0) => {
                if !skipping && end > 0 {
                    f(&buf[..end]); // the last line, without a newline
                }
                return notes;
            }
            Ok(n) => {
                end += n;
                total += n as u64;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return notes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn collect(path: &str, max: u64) -> (u8, Vec<String>) {
        let mut v = Vec::new();
        let n = read_lines(path, max, |l| {
            v.push(String::from_utf8_lossy(l).into_owned())
        });
        (n, v)
    }

    fn temp(name: &str, body: &[u8]) -> String {
        let p = std::env::temp_dir().join(format!("peerlab-sysfile-{}-{name}", std::process::id()));
        std::fs::File::create(&p).unwrap().write_all(body).unwrap();
        p.to_string_lossy().into_owned()
    }

    #[test]
    fn lines_long_lines_and_the_bound() {
        let long = "x".repeat(LINE_MAX + 10);
        let p = temp("a", format!("a 1\n{long}\nb 2\n\nc 3").as_bytes());
        assert_eq!(
            collect(&p, 1 << 20),
            (
                LONG_LINE,
                vec!["a 1".into(), "b 2".into(), "".into(), "c 3".into()]
            )
        );
        // Cut after 6 bytes: "a 1\nb " without its end is not taken.
        let q = temp("b", b"a 1\nb 2\nc 3\n");
        assert_eq!(collect(&q, 6), (CUT, vec!["a 1".into()]));
        let _ = std::fs::remove_file(p);
        let _ = std::fs::remove_file(q);
    }

    #[test]
    fn a_big_file_is_cut() {
        let line = format!("0.0.0.0 ads.{}.example\n", "x".repeat(70));
        let p = temp("big", line.repeat((8 << 20) / line.len()).as_bytes());
        let (n, v) = collect(&p, 1 << 20);
        let _ = std::fs::remove_file(p);
        assert_eq!((n, v.len()), (CUT, (1 << 20) / line.len()));
    }

    #[test]
    fn a_fifo_or_a_device_is_ignored_at_once() {
        let p = std::env::temp_dir().join(format!("peerlab-sysfile-{}-fifo", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let c = std::ffi::CString::new(p.to_string_lossy().as_bytes()).unwrap();
        #[allow(unsafe_code)]
        // SAFETY: a valid NUL-terminated path.
        let r = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
        assert_eq!(r, 0);
        let t = std::time::Instant::now();
        assert_eq!(
            collect(&p.to_string_lossy(), 1 << 20),
            (NOT_REGULAR, vec![])
        );
        assert!(t.elapsed() < std::time::Duration::from_millis(100));
        let _ = std::fs::remove_file(&p);
        assert_eq!(collect("/dev/zero", 1 << 20), (NOT_REGULAR, vec![]));
        assert_eq!(collect("/nonexistent/hosts", 1 << 20), (0, vec![]));
    }

    #[test]
    fn notes_are_taken_once() {
        SEEN.fetch_or(NOT_REGULAR << 4, Ordering::Relaxed);
        let mut got = Vec::new();
        while let Some(n) = take_notes() {
            got.push(n);
        }
        assert!(got.contains(&Note {
            which: Which::ResolvConf,
            what: NOT_REGULAR
        }));
        assert_eq!(
            got.iter()
                .find(|n| n.which == Which::ResolvConf)
                .unwrap()
                .to_string(),
            "/etc/resolv.conf is not a regular file (a directory, a FIFO or a device?): ignored"
        );
        assert_eq!(take_notes(), None);
    }
}
