//! StatsD over a Unix datagram socket (`--statsd-unixgram PATH`): what a sidecar sharing an
//! `emptyDir` with its application offers instead of a port. The datagrams are read exactly as
//! UDP's are ([`crate::statsd::udp::spawn`]: many per system call, on a thread of their own).
//!
//! The path is ours to make: a socket file left by an earlier run (a container restarted in the
//! same pod, its volume kept) is removed, since nobody can be bound to it any more once we are
//! the one configured to own it; anything else at that path (a file, a directory) is refused, so
//! a wrong flag never deletes someone's data. On a clean stop the socket file is removed, but
//! only while the path still holds the very file we made ([`SocketFile`]): a newer run may
//! already have replaced it with its own.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

/// The socket file [`bind`] made, known by its device and inode rather than by its path.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// Removes the file if the path still holds it; whether it did. Anything else there now (a
    /// newer run's socket, a file put there since) is left alone.
    pub fn remove(self) -> io::Result<bool> {
        match std::fs::symlink_metadata(&self.path) {
            Ok(found) if found.dev() == self.dev && found.ino() == self.ino => {
                std::fs::remove_file(&self.path)?;
                Ok(true)
            }
            Ok(_) => Ok(false),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(error),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Binds `path`, removing a stale socket there first; anything there that is not a socket is
/// an error naming what it is. Returns the socket and the file it made.
pub fn bind(path: &Path) -> io::Result<(UnixDatagram, SocketFile)> {
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
    // Looked at right after the bind: nothing else is configured to make this path.
    let made = std::fs::symlink_metadata(path)?;
    crate::statsd::udp::enlarge_receive_buffer(std::os::fd::AsFd::as_fd(&socket));
    let file = SocketFile {
        path: path.to_owned(),
        dev: made.dev(),
        ino: made.ino(),
    };
    Ok((socket, file))
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
        let bound = bind(&path).expect("the stale socket is replaced");
        drop(bound);

        let file = dir.join("data.txt");
        std::fs::write(&file, "keep me").unwrap();
        let refused = bind(&file).unwrap_err();
        assert!(refused.to_string().contains("not a socket"), "{refused}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
        assert!(bind(&dir).unwrap_err().to_string().contains("a directory"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_the_socket_file_it_made_is_removed() {
        let dir = scratch("remove");
        let path = dir.join("statsd.sock");
        let (_socket, file) = bind(&path).expect("bind");
        assert!(file.remove().expect("remove"), "its own file");
        assert!(std::fs::symlink_metadata(&path).is_err(), "gone");

        // A newer run replaced it (removed ours, bound its own): that one stays.
        let (_old, ours) = bind(&path).expect("bind");
        let (_new, _theirs) = bind(&path).expect("a newer run binds the same path");
        assert!(!ours.remove().expect("look"), "not ours any more");
        let kept = std::fs::symlink_metadata(&path).expect("the newer socket is kept");
        assert!(kept.file_type().is_socket());

        // Gone already: nothing to do.
        std::fs::remove_file(&path).unwrap();
        let (_socket, file) = bind(&path).expect("bind");
        std::fs::remove_file(&path).unwrap();
        assert!(!file.remove().expect("nothing there"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
