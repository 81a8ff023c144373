//! The `serve-files` connection handler: a static file server over a directory, enough to serve
//! a volume the way nginx would in a pod. The path is looked up anew for each request, through
//! whatever symlinks the directory holds, so a symlink swapped under it (podkit-git's publish) is
//! seen by the next request.

use std::io;
use std::net::TcpStream;
use std::path::{Component, Path, PathBuf};

use crate::http::{read_request, reply};

/// Answers one request with the file its path names under `root`: `404` when there is none, a
/// `/` at the end standing for `index.html`. A path that would leave `root` (a `..`) is refused
/// with `404` too, as nginx does.
pub fn serve_file(root: &Path, mut stream: TcpStream) -> io::Result<()> {
    let Some(request) = read_request(&mut stream)? else {
        return Ok(());
    };
    if request.method != "GET" && request.method != "HEAD" {
        return reply(
            &mut stream,
            &request,
            "405 Method Not Allowed",
            "text/plain",
            b"GET or HEAD\n",
        );
    }
    let found = file_path(root, &request.target).and_then(|path| std::fs::read(&path).ok());
    match found {
        Some(body) => {
            let kind = content_type(&request.target);
            reply(&mut stream, &request, "200 OK", kind, &body)
        }
        None => reply(
            &mut stream,
            &request,
            "404 Not Found",
            "text/plain",
            b"not found\n",
        ),
    }
}

/// The file under `root` that `target` names, or `None` when it would be outside `root`.
fn file_path(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let relative = path.strip_prefix('/')?;
    let mut file = root.to_path_buf();
    for component in Path::new(relative).components() {
        match component {
            Component::Normal(part) => file.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if path.ends_with('/') {
        file.push("index.html");
    }
    Some(file)
}

fn content_type(target: &str) -> &'static str {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if path.ends_with('/') || path.ends_with(".html") {
        "text/html"
    } else {
        "text/plain"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_under_the_root() {
        let root = Path::new("/srv");
        assert_eq!(
            file_path(root, "/site/index.html?x=1"),
            Some(PathBuf::from("/srv/site/index.html"))
        );
        assert_eq!(
            file_path(root, "/site/"),
            Some(PathBuf::from("/srv/site/index.html"))
        );
        assert_eq!(file_path(root, "/site/../../etc/passwd"), None);
        assert_eq!(file_path(root, "site"), None);
    }
}
