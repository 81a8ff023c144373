//! The `serve-files` connection handler: a static file server over a directory, enough to serve
//! a volume the way nginx would in a pod. The path is looked up anew for each request, through
//! whatever symlinks the directory holds, so a symlink swapped under it (podkit-git's publish) is
//! seen by the next request. What the app adds around it (its log, StatsD, its configuration) is
//! app.rs.

use std::io;
use std::net::TcpStream;
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use crate::app::App;
use crate::http::{read_request, reply};

/// Answers one request with the file its path names under `root`: `404` when there is none, a
/// `/` at the end standing for `index.html`. A path that would leave `root` (a `..`) is refused
/// with `404` too, as nginx does. A page of the app's own (`/-/config`) comes first; then the
/// app is told what was served.
pub fn serve_file(root: &Path, app: &App, mut stream: TcpStream) -> io::Result<()> {
    let Some(request) = read_request(&mut stream)? else {
        return Ok(());
    };
    let started = Instant::now();
    let (status, kind, body) = if request.method != "GET" && request.method != "HEAD" {
        (
            "405 Method Not Allowed",
            "text/plain",
            b"GET or HEAD\n".to_vec(),
        )
    } else if let Some(page) = app.own_page(&request) {
        ("200 OK", "text/plain", page)
    } else {
        match file_path(root, &request.target).and_then(|path| std::fs::read(&path).ok()) {
            Some(body) => ("200 OK", content_type(&request.target), body),
            None => ("404 Not Found", "text/plain", b"not found\n".to_vec()),
        }
    };
    reply(&mut stream, &request, status, kind, &body)?;
    let code = status[..3].parse().unwrap_or(0);
    let sent = if request.method == "HEAD" {
        0
    } else {
        body.len()
    };
    app.served(&request, code, sent, started.elapsed());
    Ok(())
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
