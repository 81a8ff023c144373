//! Where the commits come from: the repository URL, parsed once, its credentials taken out of
//! it (so that no log, error nor metric can carry them), and what `--ref` names.

use std::fmt;
use std::path::PathBuf;

use gix::bstr::{BStr, ByteSlice};

/// The repository to sync from.
#[derive(Debug)]
pub enum Source {
    /// Fetched over the network (https, http, git) into `--root`'s own repository.
    Remote {
        url: gix::Url,
        /// The URL as logs show it: without credentials.
        shown: String,
        credentials: Option<Credentials>,
    },
    /// A repository on a local file system (`file://`), opened directly: gix's file transport
    /// would run `git-upload-pack`, which a scratch image does not have.
    Local { path: PathBuf, shown: String },
}

/// `user:password` found in the URL, to be merged with the flags.
pub type UrlCredentials = Option<(String, String)>;

impl Source {
    /// `https://`, `http://`, `git://` or `file://` (and a bare absolute path, as git takes one).
    pub fn parse(text: &str) -> Result<(Source, UrlCredentials), String> {
        // gix quotes its input back in its error: a password in it is masked.
        let mut url = gix::url::parse(BStr::new(text)).map_err(|e| {
            format!(
                "not a repository URL: {}",
                podkit::log::redact_userinfo(first_line(&e.to_string()))
            )
        })?;
        let user = url.set_user(None);
        let password = url.set_password(None);
        let shown = url.to_bstring().to_string();
        // Before the user name is looked at: an ssh URL has one (git@host:repo). Not quoted
        // back: in the scp-like form a password may be anywhere ("u:pw@host:repo" reads as
        // host "u" and path "pw@host:repo").
        if url.scheme == gix::url::Scheme::Ssh {
            return Err(
                "an ssh URL (ssh:// or host:path): ssh needs an ssh program, which \
                 podkit-git's image does not have: use https:// with --username and \
                 --password-file"
                    .to_owned(),
            );
        }
        let in_url = match (user, password) {
            (Some(user), Some(password)) => Some((user, password)),
            (Some(_), None) => {
                return Err(format!("{shown}: a user name without a password in the URL: give --username and --password-file"))
            }
            (None, _) => None,
        };
        let source = match url.scheme {
            gix::url::Scheme::Https | gix::url::Scheme::Http | gix::url::Scheme::Git => {
                if url.host().is_none() {
                    return Err(format!("{shown}: no host"));
                }
                Source::Remote {
                    url,
                    shown,
                    credentials: None,
                }
            }
            gix::url::Scheme::File => Source::Local {
                path: gix::path::from_bstr(url.path.as_bstr())
                    .map_err(|e| format!("{shown}: {e}"))?
                    .into_owned(),
                shown,
            },
            other => {
                return Err(format!(
                    "{shown}: the {} scheme is not supported: give https://, http://, git:// or file://",
                    other.as_str()
                ))
            }
        };
        if in_url.is_some() && !matches!(source, Source::Remote { .. }) {
            return Err(format!("{source}: credentials only go with https://"));
        }
        Ok((source, in_url))
    }

    /// The same source, authenticating with `credentials`: only over https, where they cannot
    /// be read on the way.
    pub fn with_credentials(self, credentials: Option<Credentials>) -> Result<Source, String> {
        let Some(credentials) = credentials else {
            return Ok(self);
        };
        match self {
            Source::Remote { url, shown, .. } if url.scheme == gix::url::Scheme::Https => {
                Ok(Source::Remote {
                    url,
                    shown,
                    credentials: Some(credentials),
                })
            }
            other => Err(format!(
                "{other}: credentials are sent only over https://, where they cannot be read on the way"
            )),
        }
    }

    /// The repository's name: the last part of its path without `.git`, the default --link.
    pub fn name(&self) -> &str {
        let path = match self {
            Source::Remote { url, .. } => url.path.to_str().unwrap_or(""),
            Source::Local { path, .. } => path.to_str().unwrap_or(""),
        };
        let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        let name = last.strip_suffix(".git").unwrap_or(last);
        if name.is_empty() {
            "repo"
        } else {
            name
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Remote { shown, .. } | Source::Local { shown, .. } => f.write_str(shown),
        }
    }
}

/// HTTPS basic authentication.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: Password,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Where the password is.
#[derive(Clone)]
pub enum Password {
    /// Read before each sync: a Secret volume the kubelet updates (git-sync #975).
    File(PathBuf),
    /// From the environment or the URL, once.
    Fixed(String),
}

impl Password {
    /// The password now; a file's trailing newline (as `echo` writes one) is not part of it.
    pub fn read(&self) -> Result<String, String> {
        match self {
            Password::Fixed(text) => Ok(text.clone()),
            Password::File(path) => read_capped(path)
                .map(|text| text.trim_end_matches(['\n', '\r']).to_owned())
                .map_err(|e| format!("--password-file {}: {e}", path.display())),
        }
    }
}

/// The most a password file may hold: a token is a few hundred bytes; `/dev/zero` named by
/// mistake must not fill the memory.
const PASSWORD_MOST: u64 = 64 * 1024;

fn read_capped(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(PASSWORD_MOST + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > PASSWORD_MOST {
        return Err(std::io::Error::other("more than 64 KiB: not a password"));
    }
    Ok(text)
}

impl Credentials {
    /// The flags' credentials and the URL's, at most one of the two.
    pub fn combine(
        username: Option<String>,
        password: Option<Password>,
        in_url: UrlCredentials,
    ) -> Result<Option<Credentials>, String> {
        match (username, password, in_url) {
            (None, None, None) => Ok(None),
            (None, None, Some((username, password))) => Ok(Some(Credentials {
                username,
                password: Password::Fixed(password),
            })),
            (Some(_), _, Some(_)) | (None, Some(_), Some(_)) => {
                Err("credentials given in --repo and by flags: give them one way".to_owned())
            }
            (Some(username), Some(password), None) => Ok(Some(Credentials { username, password })),
            (Some(_), None, None) => {
                Err("needs a password: --password-file FILE or PODKIT_PASSWORD".to_owned())
            }
            (None, Some(_), None) => Err("a password needs --username".to_owned()),
        }
    }
}

/// What `--ref` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefSpec {
    /// The remote's HEAD: its default branch.
    Head,
    /// A full commit SHA.
    Commit(gix::ObjectId),
    /// A branch or a tag, as `git clone --branch` takes it (`main`, `v1.2`,
    /// `refs/heads/main`).
    Name(String),
}

impl RefSpec {
    pub fn parse(text: &str) -> Result<RefSpec, String> {
        if text == "HEAD" {
            return Ok(RefSpec::Head);
        }
        if text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return gix::ObjectId::from_hex(text.as_bytes())
                .map(RefSpec::Commit)
                .map_err(|e| format!("{text:?}: {e}"));
        }
        let name: Result<&gix::refs::PartialNameRef, _> = text.try_into();
        match name {
            Ok(_) if !text.starts_with('-') => Ok(RefSpec::Name(text.to_owned())),
            _ => Err(format!("{text:?} is not a valid branch, tag or commit SHA")),
        }
    }
}

impl fmt::Display for RefSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefSpec::Head => f.write_str("HEAD"),
            RefSpec::Commit(id) => write!(f, "{id}"),
            RefSpec::Name(name) => f.write_str(name),
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url_and_never_show() {
        let (source, in_url) =
            Source::parse("https://bob:s3cret@example.com/team/site.git").unwrap();
        assert_eq!(in_url, Some(("bob".to_owned(), "s3cret".to_owned())));
        assert_eq!(source.to_string(), "https://example.com/team/site.git");
        assert_eq!(source.name(), "site");
        assert!(!format!("{source:?}").contains("s3cret"));
    }

    #[test]
    fn ssh_and_unknown_schemes_are_refused_with_the_reason() {
        let error = Source::parse("ssh://git@example.com/a.git").unwrap_err();
        assert!(error.contains("ssh program"), "{error}");
        assert!(Source::parse("git@example.com:a.git")
            .unwrap_err()
            .contains("ssh"));
    }

    #[test]
    fn credentials_only_go_over_https() {
        let (source, _) = Source::parse("http://example.com/a.git").unwrap();
        let credentials = Credentials {
            username: "u".into(),
            password: Password::Fixed("p".into()),
        };
        let error = source.with_credentials(Some(credentials)).unwrap_err();
        assert!(error.contains("only over https"), "{error}");
        assert!(!error.contains('p') || !error.contains(":p"));
    }

    #[test]
    fn refs_read_as_git_sync_takes_them() {
        assert_eq!(RefSpec::parse("HEAD"), Ok(RefSpec::Head));
        assert_eq!(RefSpec::parse("main"), Ok(RefSpec::Name("main".into())));
        assert_eq!(RefSpec::parse("v1.0"), Ok(RefSpec::Name("v1.0".into())));
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert!(matches!(RefSpec::parse(sha), Ok(RefSpec::Commit(_))));
        // A tag named by a date, or a short SHA: the server says which.
        assert_eq!(
            RefSpec::parse("20240101"),
            Ok(RefSpec::Name("20240101".into()))
        );
        assert!(RefSpec::parse("a..b").is_err());
        assert!(RefSpec::parse("").is_err());
    }
}
