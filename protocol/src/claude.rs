//! What Claude Code's hooks send (a hook command's stdin, as Claude Code documents it), as far as
//! the session host reads it (docs/architecture.md, "Claude Code").

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One hook event; Claude Code sends more fields, which are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HookInput {
    /// `SessionStart`, `UserPromptSubmit`, `PreToolUse`, `PermissionRequest`, `PostToolUse`,
    /// `PostToolUseFailure`, `Notification`, `PreCompact`, `Stop`, `SessionEnd`, …
    pub hook_event_name: String,
    /// The tool of a tool event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// The tool's input (for `Bash` `{command}`, for `Write` `{file_path, content}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_input: Option<Value>,
    /// A notification's kind: `permission_prompt`, `idle_prompt`, `elicitation_dialog`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_type: Option<String>,
    /// A notification's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
