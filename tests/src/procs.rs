//! Processes as the host's /proc shows them: the tests look into a namespace from outside.

use std::fs;

/// One process: its pid and parent as the host numbers them, its state letter and command name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub parent: i32,
    pub state: char,
    pub name: String,
}

impl Proc {
    pub fn is_zombie(&self) -> bool {
        self.state == 'Z'
    }
}

/// The process `pid`, if it exists.
pub fn get(pid: i32) -> Option<Proc> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let mut fields = stat[close + 1..].split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some(Proc {
        pid,
        parent,
        state,
        name: stat[open + 1..close].to_owned(),
    })
}

/// Every process on the host.
pub fn all() -> Vec<Proc> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| get(entry.ok()?.file_name().to_str()?.parse().ok()?))
        .collect()
}

/// The descendants of `root` (not `root` itself), by parent links.
pub fn descendants(root: i32) -> Vec<Proc> {
    let table = all();
    let mut found: Vec<Proc> = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for proc in table.iter().filter(|p| p.parent == parent) {
            frontier.push(proc.pid);
            found.push(proc.clone());
        }
    }
    found
}

/// The direct children of `parent`.
pub fn children(parent: i32) -> Vec<Proc> {
    all().into_iter().filter(|p| p.parent == parent).collect()
}
