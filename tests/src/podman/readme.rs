//! The Secrets an example's README has the user make by hand, made as it says: the `openssl`
//! commands of its first `sh` block run for real (bash, in a scratch directory), and each of its
//! `kubectl create secret generic NAME --from-file=KEY=FILE` lines read as the Secret it creates.
//! The README's commands are the test's, so a README whose commands no longer make working
//! certificates fails the test that plays its manifests.

use std::collections::BTreeMap;
use std::path::Path;

use crate::run::{command, run};
use crate::servers::Scratch;

use super::volumes::Payload;

/// The Secrets, by name, that a README's commands made.
pub struct ReadmeSecrets {
    pub(super) secrets: BTreeMap<String, Payload>,
}

impl ReadmeSecrets {
    /// Runs the README at `readme`'s openssl commands, once (both sides of an mTLS pair need the
    /// one CA they make), and reads the Secrets its `kubectl create secret generic` lines name.
    pub fn of(readme: &Path) -> ReadmeSecrets {
        let text = std::fs::read_to_string(readme)
            .unwrap_or_else(|e| panic!("read {}: {e}", readme.display()));
        let commands = shell_commands(&text);
        let dir = Scratch::new("readme-secrets");
        let openssl: Vec<&str> = commands
            .iter()
            .map(String::as_str)
            .filter(|c| c.starts_with("openssl "))
            .collect();
        assert!(
            !openssl.is_empty(),
            "{}: no openssl command",
            readme.display()
        );
        let script = format!("set -eu\n{}\n", openssl.join("\n"));
        let done = run(command("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(&dir.path));
        assert!(
            done.succeeded(),
            "{}'s openssl commands: {done:#?}",
            readme.display()
        );
        let mut secrets = BTreeMap::new();
        for line in commands
            .iter()
            .filter(|c| c.contains(" create secret generic "))
        {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "generic").expect("generic");
            let name = words.get(at + 1).expect("a Secret's name");
            let mut payload = Payload::new();
            for file in words.iter().filter_map(|w| w.strip_prefix("--from-file=")) {
                let (key, path) = file.split_once('=').expect("--from-file=KEY=FILE");
                let bytes = std::fs::read(dir.join(path))
                    .unwrap_or_else(|e| panic!("{name}: read {path} the README made: {e}"));
                payload.insert(key.to_owned(), bytes);
            }
            secrets.insert((*name).to_owned(), payload);
        }
        assert!(
            !secrets.is_empty(),
            "{}: no kubectl create secret",
            readme.display()
        );
        ReadmeSecrets { secrets }
    }
}

/// The commands of the first ```` ```sh ```` block of `markdown`, continuation lines joined.
fn shell_commands(markdown: &str) -> Vec<String> {
    let block = markdown
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .map(|(block, _)| block)
        .expect("a ```sh block");
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in block.lines() {
        match line.strip_suffix('\\') {
            Some(start) => current.push_str(start),
            None => {
                current.push_str(line);
                commands.push(std::mem::take(&mut current).trim().to_owned());
            }
        }
    }
    commands
}
