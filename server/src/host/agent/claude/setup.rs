//! What the host hands Claude Code before it starts (docs/architecture.md, "Agent state"): a
//! directory of its own (0700, under the state directory, never the shared temp dir) with the
//! hook endpoint (a loopback address and a per-host secret, 0600) and a settings file whose
//! hooks run `coopmux agent-hook <dir>` for every event; the command gets
//! `--settings <that file>`, merged with a `--settings` the operator gave.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::fs::{DirBuilder, OpenOptions};
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// The file that tells the hook command where the host listens and its secret.
pub const ENDPOINT_FILE: &str = "endpoint.json";
/// The settings file given to Claude Code.
const SETTINGS_FILE: &str = "settings.json";
/// The subcommand Claude Code runs for each hook event.
pub const HOOK_SUBCOMMAND: &str = "agent-hook";
/// Hook events the host listens to; `true` where Claude Code filters by a matcher (the empty
/// matcher takes every tool or notification).
const HOOK_EVENTS: [(&str, bool); 10] = [
    ("SessionStart", true),
    ("UserPromptSubmit", false),
    ("PreToolUse", true),
    ("PermissionRequest", true),
    ("PostToolUse", true),
    ("PostToolUseFailure", true),
    ("Notification", true),
    ("PreCompact", true),
    ("Stop", false),
    ("SessionEnd", false),
];

/// Where the hook command delivers (the content of [`ENDPOINT_FILE`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    /// The loopback address of the host's hook listener.
    pub addr: SocketAddr,
    /// The per-host secret, sent as a bearer token.
    pub token: String,
}

/// The host's private directory; removed when dropped.
#[derive(Debug)]
pub struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    /// A fresh directory under `base/hooks` (both 0700; a `hooks` someone else owns or opened
    /// up is refused).
    pub fn create(base: &Path) -> std::io::Result<Self> {
        let parent = base.join("hooks");
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&parent)?;
        let path = parent.join(uuid::Uuid::new_v4().to_string());
        // Not recursive: a name that exists already is an error, never reused.
        DirBuilder::new().mode(0o700).create(&path)?;
        let dir = Self { path };
        // What we just created is ours: its owner is who we are.
        let ours = std::fs::symlink_metadata(&dir.path)?.uid();
        let meta = std::fs::symlink_metadata(&parent)?;
        if !meta.is_dir() || meta.uid() != ours || meta.mode() & 0o077 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{} must be a directory of ours with mode 0700",
                    parent.display()
                ),
            ));
        }
        Ok(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a new file readable by us only.
    fn write(&self, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
        let path = self.path.join(name);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(bytes)?;
        Ok(path)
    }
}

impl PrivateDir {
    /// Removes the directory and what it holds.
    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Why Claude Code could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The directory or a file could not be written.
    #[error("cannot prepare the hook directory: {0}")]
    Io(#[from] std::io::Error),
    /// The operator's `--settings` could not be read.
    #[error("cannot read --settings {given:?}: {reason}")]
    Settings {
        /// The argument.
        given: String,
        /// Why.
        reason: String,
    },
}

/// Writes the endpoint and the settings; returns the command to run.
pub fn write(
    dir: &PrivateDir,
    endpoint: &Endpoint,
    exe: &Path,
    command: &[String],
) -> Result<Vec<String>, SetupError> {
    let endpoint = serde_json::to_vec(endpoint).map_err(std::io::Error::other)?;
    dir.write(ENDPOINT_FILE, &endpoint)?;
    let (given, mut rest) = take_settings(command);
    let mut settings = match given {
        Some(given) => read_settings(&given).map_err(|reason| SetupError::Settings {
            given: given.clone(),
            reason,
        })?,
        None => Map::new(),
    };
    add_hooks(&mut settings, &hook_command(exe, dir.path()));
    let text = serde_json::to_vec_pretty(&settings).map_err(std::io::Error::other)?;
    let path = dir.write(SETTINGS_FILE, &text)?;
    let at = usize::from(!rest.is_empty());
    rest.splice(
        at..at,
        ["--settings".to_owned(), path.to_string_lossy().into_owned()],
    );
    Ok(rest)
}

/// Splits a `--settings X` / `--settings=X` off the command.
fn take_settings(command: &[String]) -> (Option<String>, Vec<String>) {
    let mut given = None;
    let mut rest = Vec::with_capacity(command.len() + 2);
    let mut args = command.iter();
    while let Some(arg) = args.next() {
        if arg == "--settings" {
            given = args.next().cloned();
        } else if let Some(value) = arg.strip_prefix("--settings=") {
            given = Some(value.to_owned());
        } else {
            rest.push(arg.clone());
        }
    }
    (given, rest)
}

/// A settings argument is inline JSON or a file, as Claude Code reads it.
fn read_settings(given: &str) -> Result<Map<String, Value>, String> {
    let text = if given.trim_start().starts_with('{') {
        given.to_owned()
    } else {
        std::fs::read_to_string(given).map_err(|e| e.to_string())?
    };
    match serde_json::from_str(&text).map_err(|e| e.to_string())? {
        Value::Object(map) => Ok(map),
        _ => Err("not a JSON object".into()),
    }
}

/// Adds the host's hook to each event, after any the operator configured: into their entry
/// with the same matcher when there is one (Claude Code runs every command of an entry; the
/// simulator keeps only the last of two entries with one matcher), else as a new entry.
fn add_hooks(settings: &mut Map<String, Value>, command: &str) {
    let hooks = settings
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()));
    if !hooks.is_object() {
        *hooks = Value::Object(Map::new());
    }
    let Value::Object(hooks) = hooks else {
        return;
    };
    let ours = json!({"type": "command", "command": command});
    for (event, matched) in HOOK_EVENTS {
        let matcher = matched.then(|| Value::String(String::new()));
        let list = hooks
            .entry(event)
            .or_insert_with(|| Value::Array(Vec::new()));
        if !list.is_array() {
            *list = Value::Array(Vec::new());
        }
        let Value::Array(list) = list else {
            continue;
        };
        let same = list.iter_mut().find_map(|entry| {
            let theirs = entry.get("matcher").filter(|m| !m.is_null());
            (theirs == matcher.as_ref())
                .then(|| entry.get_mut("hooks").and_then(Value::as_array_mut))
                .flatten()
        });
        match same {
            Some(commands) => commands.push(ours.clone()),
            None => {
                let mut entry = json!({"hooks": [ours.clone()]});
                if let Some(matcher) = &matcher {
                    entry["matcher"] = matcher.clone();
                }
                list.push(entry);
            }
        }
    }
}

/// `'<exe>' agent-hook '<dir>'`, quoted for the shell Claude Code runs hooks with. The
/// command holds no secret: Claude Code may write it where others can read it.
fn hook_command(exe: &Path, dir: &Path) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    format!(
        "{} {HOOK_SUBCOMMAND} {}",
        quote(&exe.to_string_lossy()),
        quote(&dir.to_string_lossy())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn settings_are_taken_off_the_command_in_both_spellings() {
        let (given, rest) = take_settings(&args(&["claude", "--settings", "a.json", "-c"]));
        assert_eq!(
            (given.as_deref(), rest),
            (Some("a.json"), args(&["claude", "-c"]))
        );
        let (given, rest) = take_settings(&args(&["claude", "--settings={}"]));
        assert_eq!((given.as_deref(), rest), (Some("{}"), args(&["claude"])));
    }

    #[test]
    fn hooks_are_added_after_the_operators_own() {
        let mut settings = read_settings(
            r#"{"model":"x","hooks":{"Stop":[{"hooks":[{"type":"command","command":"mine"}]}]}}"#,
        )
        .unwrap();
        add_hooks(&mut settings, "ours");
        assert_eq!(settings["model"], "x");
        // Into the operator's entry with the same (no) matcher.
        let stop = settings["hooks"]["Stop"].as_array().unwrap();
        assert_eq!(stop.len(), 1);
        assert_eq!(stop[0]["hooks"][0]["command"], "mine");
        assert_eq!(stop[0]["hooks"][1]["command"], "ours");
        let pre = settings["hooks"]["PreToolUse"].as_array().unwrap();
        assert_eq!((pre.len(), &pre[0]["matcher"]), (1, &json!("")));
        assert_eq!(pre[0]["hooks"][0]["command"], "ours");
    }

    #[test]
    fn the_hook_command_quotes_paths_for_the_shell() {
        let cmd = hook_command(Path::new("/opt/co op/coopmux"), Path::new("/s/it's"));
        assert_eq!(cmd, r"'/opt/co op/coopmux' agent-hook '/s/it'\''s'");
    }
}
