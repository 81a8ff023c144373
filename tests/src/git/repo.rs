//! The source repository of a git test: a work repository the test edits and commits in, and the
//! bare `origin.git` it pushes every change to, which the servers serve. Hostile commits (a
//! symlink out of the tree, a file under a name that was a symlink, `.git` and `..` entries) are
//! made with git's plumbing where porcelain refuses them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use crate::run::{installed, run, run_with_input};
use crate::servers::Scratch;

use super::{git, GIT};

/// A work repository (`work/`, branch `main`, remote `origin`) and the bare repository it
/// pushes to (`served/origin.git`), in a scratch directory of their own removed when the last
/// repository sharing it ([`GitRepo::sibling`]) is dropped. Every method that makes a commit, a
/// branch or a tag pushes it: what the servers serve is always what the test made.
pub struct GitRepo {
    scratch: Arc<Scratch>,
    home: PathBuf,
    work: PathBuf,
    served: PathBuf,
    /// The bare repository's name in `served/`, without `.git`.
    name: String,
}

/// What a tree entry made with plumbing ([`GitRepo::commit_entry`]) holds.
#[derive(Clone, Copy, Debug)]
pub enum Blob<'a> {
    /// A regular file (mode 100644).
    File(&'a [u8]),
    /// An executable file (mode 100755).
    Executable(&'a [u8]),
    /// A symbolic link to the target (mode 120000).
    Symlink(&'a str),
}

impl GitRepo {
    /// A new, empty pair (no commit yet). `None`, with the skip reported, when Debian's git is
    /// not installed.
    pub fn new(test: &str) -> Option<GitRepo> {
        if !installed(test, GIT, &["--version"], "git") {
            return None;
        }
        let scratch = Arc::new(Scratch::new("git"));
        let (home, served) = (scratch.join("home"), scratch.join("served"));
        for dir in [&home, &served] {
            std::fs::create_dir(dir).expect("create a directory of the repository's scratch");
        }
        Some(GitRepo::init(scratch, "origin", "work"))
    }

    /// Another pair beside this one, sharing its scratch directory and HOME: a work repository
    /// `work-NAME/` pushing to `served/NAME.git`, which the servers of this repository serve too
    /// (`url_of(NAME)`), so that a submodule can be added with the relative URL `../NAME.git`.
    pub fn sibling(&self, name: &str) -> GitRepo {
        assert_ne!(name, "origin", "origin.git is the first repository's");
        GitRepo::init(self.scratch.clone(), name, &format!("work-{name}"))
    }

    /// `git init` of `served/NAME.git` and of the work repository `WORK`, which pushes to it.
    fn init(scratch: Arc<Scratch>, name: &str, work: &str) -> GitRepo {
        let repo = GitRepo {
            home: scratch.join("home"),
            work: scratch.join(work),
            served: scratch.join("served"),
            name: name.to_owned(),
            scratch,
        };
        repo.run_in(
            &repo.served,
            &["init", "-q", "--bare", &format!("{name}.git")],
        );
        repo.run_in(&repo.scratch.path, &["init", "-q", work]);
        let origin = repo.bare_path().display().to_string();
        repo.run(&["remote", "add", "origin", &origin]);
        repo
    }

    /// The bare repository the servers serve, `.../served/origin.git` (`NAME.git` for a
    /// [`sibling`](GitRepo::sibling)).
    pub fn bare_path(&self) -> PathBuf {
        self.served.join(format!("{}.git", self.name))
    }

    /// The name the servers serve the bare repository under: `origin.git`, or `NAME.git`.
    pub fn served_name(&self) -> String {
        format!("{}.git", self.name)
    }

    /// The directory the servers serve from (their base path): it holds `origin.git` and the
    /// siblings' bare repositories.
    pub fn serve_root(&self) -> &Path {
        &self.served
    }

    /// The work repository the test edits.
    pub fn work_path(&self) -> &Path {
        &self.work
    }

    /// The HOME every git command of this repository runs with (empty of configuration).
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// `NAME` in this repository's scratch directory, a place for the test's clones and the
    /// directories podkit-git syncs to; removed with the repository.
    pub fn dir(&self, name: &str) -> PathBuf {
        self.scratch.join(name)
    }

    /// [`git`](super::git) in the work repository; the caller adds the subcommand.
    pub fn git(&self) -> Command {
        self.git_in(&self.work)
    }

    /// [`git`](super::git) in `dir` (a clone the test made), with this repository's HOME.
    pub fn git_in(&self, dir: &Path) -> Command {
        let mut command = git(&self.home);
        command.current_dir(dir);
        command
    }

    /// Runs `git ARGS` in the work repository, fails the test unless it succeeds, and returns
    /// its stdout without the final newline.
    pub fn run(&self, args: &[&str]) -> String {
        self.run_in(&self.work, args)
    }

    /// As [`GitRepo::run`], in `dir`.
    pub fn run_in(&self, dir: &Path, args: &[&str]) -> String {
        let done = run(self.git_in(dir).args(args));
        let stdout = done.stdout_of_success();
        stdout.strip_suffix('\n').unwrap_or(stdout).to_owned()
    }

    /// The full sha `rev` names in the work repository (`HEAD`, a branch, `v1^{commit}`).
    pub fn rev_parse(&self, rev: &str) -> String {
        self.run(&["rev-parse", "--verify", "--end-of-options", rev])
    }

    /// The branch checked out in the work repository.
    pub fn current_branch(&self) -> String {
        self.run(&["symbolic-ref", "--short", "HEAD"])
    }

    /// Writes `contents` to `path` (relative to the work tree, `/`-separated), making its
    /// directories; a symlink already at `path` is replaced, not written through.
    pub fn write(&self, path: &str, contents: impl AsRef<[u8]>) {
        let file = self.prepare(path);
        std::fs::write(&file, contents).unwrap_or_else(|e| panic!("write {file:?}: {e}"));
    }

    /// Makes `path` a symbolic link to `target`, replacing whatever was there.
    pub fn symlink(&self, path: &str, target: &str) {
        let link = self.prepare(path);
        std::os::unix::fs::symlink(target, &link)
            .unwrap_or_else(|e| panic!("symlink {link:?} -> {target}: {e}"));
    }

    /// Sets or clears the executable bits of the file at `path`.
    pub fn set_executable(&self, path: &str, executable: bool) {
        use std::os::unix::fs::PermissionsExt;
        let file = self.work.join(path);
        let mode = match executable {
            true => 0o755,
            false => 0o644,
        };
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {file:?}: {e}"));
    }

    /// Removes `path` from the work tree: a file, a symlink (not what it points to), or a
    /// directory with everything in it.
    pub fn remove(&self, path: &str) {
        let target = self.work.join(path);
        let removed = match std::fs::symlink_metadata(&target) {
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&target),
            Ok(_) => std::fs::remove_file(&target),
            Err(e) => Err(e),
        };
        removed.unwrap_or_else(|e| panic!("remove {target:?}: {e}"));
    }

    /// Commits the whole work tree as it is (even unchanged) on the current branch, pushes the
    /// branch (forced: a test may have rewritten it), and returns the commit's full sha.
    pub fn commit(&self, message: &str) -> String {
        self.run(&["add", "-A"]);
        self.run(&[
            "commit",
            "-q",
            "--allow-empty",
            "--no-verify",
            "-m",
            message,
        ]);
        self.push_current();
        self.rev_parse("HEAD")
    }

    /// Tags `HEAD` as `name` (moving the tag if it exists), annotated (a tag object, message
    /// `name`) or lightweight, and pushes the tag.
    pub fn tag(&self, name: &str, annotated: bool) {
        match annotated {
            true => self.run(&["tag", "-f", "-a", "-m", name, name]),
            false => self.run(&["tag", "-f", name]),
        };
        self.run(&[
            "push",
            "-q",
            "--force",
            "origin",
            &format!("refs/tags/{name}"),
        ]);
    }

    /// Makes branch `name` at `HEAD` (moving it if it exists), without checking it out, and
    /// pushes it.
    pub fn branch(&self, name: &str) {
        self.run(&["branch", "-f", name]);
        self.run(&[
            "push",
            "-q",
            "--force",
            "origin",
            &format!("refs/heads/{name}"),
        ]);
    }

    /// Checks out branch (or tag, or sha) `name` in the work repository.
    pub fn checkout(&self, name: &str) {
        self.run(&["checkout", "-q", name]);
    }

    /// Makes the bare repository's branches and tags exactly the work repository's: forced,
    /// and deleting those the work repository no longer has.
    pub fn push_all(&self) {
        self.run(&[
            "push",
            "-q",
            "--force",
            "--prune",
            "origin",
            "refs/heads/*:refs/heads/*",
            "refs/tags/*:refs/tags/*",
        ]);
    }

    /// Pushes the current branch, forced.
    fn push_current(&self) {
        let branch = self.current_branch();
        self.run(&[
            "push",
            "-q",
            "--force",
            "origin",
            &format!("refs/heads/{branch}"),
        ]);
    }

    /// The work tree's path for `path`, with its directories made and whatever was at it
    /// removed.
    fn prepare(&self, path: &str) -> PathBuf {
        let file = self.work.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir {parent:?}: {e}"));
        }
        if std::fs::symlink_metadata(&file).is_ok() {
            self.remove(path);
        }
        file
    }
}

/// Hostile commits: what a sync must refuse or contain, never follow out of its directory.
impl GitRepo {
    /// Commits a symbolic link `escape -> ../../..` (pointing out of any checkout), and returns
    /// the commit's sha. git makes it with no complaint: a symlink's target is just data.
    pub fn commit_escaping_symlink(&self) -> String {
        self.symlink("escape", "../../..");
        self.commit("a symlink out of the tree")
    }

    /// Two commits: the first makes `link` a symbolic link to `target`; the second replaces it
    /// with a directory holding `link/FILE` (contents `written through?\n`). A checkout that
    /// updates the first tree into the second without removing the link first writes `FILE`
    /// into `target`. Returns both shas, in order.
    pub fn commit_through_symlink(&self, link: &str, target: &str, file: &str) -> (String, String) {
        self.symlink(link, target);
        let first = self.commit("a symlink to a directory");
        self.remove(link);
        self.write(&format!("{link}/{file}"), "written through?\n");
        let second = self.commit("a file where the symlink was");
        (first, second)
    }

    /// Commits an executable `.git/hooks/post-checkout` at the top of the tree (git's own
    /// checkout refuses the path), and returns the sha. See [`GitRepo::commit_entry`].
    pub fn commit_dot_git(&self) -> String {
        let hook = b"#!/bin/sh\necho hook ran >&2\nexit 1\n";
        self.commit_entry(
            &[".git", "hooks", "post-checkout"],
            Blob::Executable(hook),
            "a .git entry",
        )
    }

    /// Commits a tree entry named `..` holding the file `escaped` (a checkout that joins names
    /// without looking writes it next to its directory), and returns the sha. See
    /// [`GitRepo::commit_entry`].
    pub fn commit_dot_dot(&self) -> String {
        self.commit_entry(
            &["..", "escaped"],
            Blob::File(b"out of the tree\n"),
            "a .. entry",
        )
    }

    /// Commits, with plumbing (`hash-object`, `mktree`, `commit-tree`, `update-ref`), the tree of
    /// `HEAD` (if any) plus `blob` at the path whose components are `components`, any name git's
    /// porcelain would refuse (`.git`, `..`, `.`; not one holding `/`). The top-level entry of
    /// that name, if any, is replaced; the directories below it hold only this path. Moves the
    /// current branch to the commit, pushes it, and returns its sha.
    ///
    /// The index and the work tree are left as they were: the next [`GitRepo::commit`] builds
    /// on this one with the work tree's files, so the hostile entry is gone from it.
    pub fn commit_entry(&self, components: &[&str], blob: Blob<'_>, message: &str) -> String {
        let (last, directories) = components.split_last().expect("a path of one name or more");
        let (mode, contents) = match blob {
            Blob::File(bytes) => ("100644", bytes),
            Blob::Executable(bytes) => ("100755", bytes),
            Blob::Symlink(target) => ("120000", target.as_bytes()),
        };
        let stored = self.input(&["hash-object", "-w", "--stdin"], contents);
        let mut entry = tree_line(mode, "blob", &stored, last);
        for directory in directories.iter().rev() {
            let tree = self.input(&["mktree", "-z"], &entry);
            entry = tree_line("040000", "tree", &tree, directory);
        }
        let head = run(self
            .git()
            .args(["rev-parse", "--verify", "-q", "HEAD^{commit}"]));
        // None before the first commit.
        let parent = head.succeeded().then(|| head.stdout.trim().to_owned());
        let mut top = Vec::new();
        if parent.is_some() {
            let listing = run(self.git().args(["ls-tree", "-z", "HEAD"]));
            let listing = listing.stdout_of_success();
            let name = components[0];
            for line in listing.split_terminator('\0') {
                if line.split_once('\t').map(|(_, n)| n) != Some(name) {
                    top.extend_from_slice(line.as_bytes());
                    top.push(0);
                }
            }
        }
        top.extend_from_slice(&entry);
        let tree = self.input(&["mktree", "-z"], &top);
        let mut commit_tree = vec!["commit-tree", &tree, "-m", message];
        if let Some(parent) = &parent {
            commit_tree.extend_from_slice(&["-p", parent]);
        }
        let commit = self.run(&commit_tree);
        let branch = format!("refs/heads/{}", self.current_branch());
        self.run(&["update-ref", &branch, &commit]);
        self.push_current();
        commit
    }

    /// Runs `git ARGS` in the work repository with `input` on stdin; its stdout, trimmed.
    fn input(&self, args: &[&str], input: &[u8]) -> String {
        let done = run_with_input(self.git().args(args), input);
        done.stdout_of_success().trim().to_owned()
    }
}

/// One entry of `git mktree -z`'s input: `MODE TYPE SHA\tNAME\0`.
fn tree_line(mode: &str, kind: &str, sha: &str, name: &str) -> Vec<u8> {
    let mut line = Vec::new();
    write!(line, "{mode} {kind} {sha}\t{name}\0").expect("write to a Vec");
    line
}
