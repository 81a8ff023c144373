//! StatsD over a Unix datagram socket (`--statsd-unixgram PATH`): what a sidecar sharing an
//! `emptyDir` with its application offers instead of a port. The datagrams are read exactly as
//! UDP's are ([`crate::statsd::udp::spawn`]: many per system call, on a thread of their own).
//!
//! The path is ours to make: a socket file left by an earlier run (a container restarted in the
//! same pod, its volume kept) is removed, since nobody can be bound to it any more once we are
//! the one configured to own it; anything else at that path (a file, a directory) is refused, so
//! a wrong flag never deletes someone's data.

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

/// Binds `path`, removing a stale socket there first; anything there that is not a socket is
/// an error naming what it is.
pub fn bind(path: &Path) -> io::Result<UnixDatagram> {
    match std::fs::symlink_metadata(path) {
        Ok(found) if found.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(found) => {
            let what = if found.is_dir() {
                "a directory"
            } else {
                "a file that is not a socket"
            };
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} is {what}: refusing to replace it", path.display()),
            ));
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let socket = UnixDatagram::bind(path)?;
    crate::statsd::udp::enlarge_receive_buffer(std::os::fd::AsFd::as_fd(&socket));
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("podkit-unixgram-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_stale_socket_is_replaced_and_a_plain_file_is_refused() {
        let dir = scratch("stale");
        let path = dir.join("statsd.sock");
        drop(bind(&path).expect("a fresh path"));
        assert!(path.exists(), "the socket file outlives its socket");
        let socket = bind(&path).expect("the stale socket is replaced");
        drop(socket);

        let file = dir.join("data.txt");
        std::fs::write(&file, "keep me").unwrap();
        let refused = bind(&file).unwrap_err();
        assert!(refused.to_string().contains("not a socket"), "{refused}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
        assert!(bind(&dir).unwrap_err().to_string().contains("a directory"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
