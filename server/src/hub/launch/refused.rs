//! The variables a launch request (and a credential's `env_key`) may not set, by family
//! (docs/security.md, "The launch environment"): each runs code in the launch shell or in a
//! tool the agent runs, or redirects the agent's traffic, its trust in certificates or the key
//! the broker injects. Names are compared in upper case, so `https_proxy` is `HTTPS_PROXY`.
//!
//! Whole families are refused by prefix or suffix rather than by known names, because every
//! tool keeps adding variables; a few harmless members (identity, the launch script's own
//! `GIT_REPO`/`GIT_BRANCH`, `NODE_ENV`) are let through by name.

/// Exact names: the loader and shells, home and configuration directories, pagers and editors,
/// language runtimes' code hooks, Rust and Go build hooks, and certificate trust.
const NAMES: &[&str] = &[
    // Loader and shells.
    "PATH",
    "IFS",
    "ENV",
    "BASH_ENV",
    "SHELLOPTS",
    "BASHOPTS",
    "PS0",
    "PS1",
    "PS2",
    "PS3",
    "PS4",
    "PROMPT_COMMAND",
    "ZDOTDIR",
    "GCONV_PATH",
    "SHELL",
    // Where tools read their configuration (git, ssh, npm, claude, … under HOME or XDG_*).
    "HOME",
    "CLAUDE_CONFIG_DIR",
    "CODEX_HOME",
    "GNUPGHOME",
    // Programs that tools start: pagers, editors, password prompts, browsers.
    "PAGER",
    "MANPAGER",
    "EDITOR",
    "VISUAL",
    "BROWSER",
    "SSH_ASKPASS",
    "SSH_ASKPASS_REQUIRE",
    "SUDO_ASKPASS",
    // Perl, Ruby, Java.
    "PERL5OPT",
    "PERL5LIB",
    "PERLLIB",
    "PERL5DB",
    "RUBYOPT",
    "RUBYLIB",
    "GEM_HOME",
    "GEM_PATH",
    "BUNDLE_GEMFILE",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    // Rust and Go builds.
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTDOC",
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "GOFLAGS",
    "GOPROXY",
    "GOENV",
    "GOTOOLCHAIN",
    "GONOSUMDB",
    "GONOSUMCHECK",
    "GOSUMDB",
    "GOINSECURE",
    "GOPRIVATE",
    "GONOPROXY",
    // Which certificates TLS clients trust, and where they log session keys.
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "SSLKEYLOGFILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "AWS_CA_BUNDLE",
    "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
    "HTTPLIB2_CA_CERTS",
];

/// Name prefixes: the dynamic loader, exported shell functions, and every variable of git,
/// less, node and npm/yarn, python and pip/uv, OpenSSL, cargo/rustup and the XDG directories.
const PREFIXES: &[&str] = &[
    "LD_",
    "DYLD_",
    "BASH_FUNC_",
    "GIT_",
    "LESS",
    "NODE_",
    "NPM_CONFIG_",
    "YARN_",
    "COREPACK_",
    "PYTHON",
    "PIP_",
    "UV_",
    "OPENSSL_",
    "CARGO_",
    "RUSTUP_",
    "XDG_",
    "DENO_",
];

/// Name suffixes: proxies (`HTTPS_PROXY`, `all_proxy`, …) and provider endpoints
/// (`ANTHROPIC_BASE_URL`, `OPENAI_API_BASE`, …), which would send the injected key elsewhere.
const SUFFIXES: &[&str] = &["_PROXY", "_BASE_URL", "_API_BASE"];

/// Members of a refused family that only describe, never run or redirect anything.
const LET_THROUGH: &[&str] = &[
    "GIT_REPO",
    "GIT_BRANCH",
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "NODE_ENV",
    "NODE_AUTH_TOKEN",
];

/// Whether a launch may not set `name` (any case).
pub fn is_refused(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let upper = upper.as_str();
    if LET_THROUGH.contains(&upper) {
        return false;
    }
    NAMES.contains(&upper)
        || PREFIXES.iter().any(|p| upper.starts_with(p))
        || SUFFIXES.iter().any(|s| upper.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::is_refused;

    #[test]
    fn families_are_refused_in_any_case() {
        for name in [
            "GIT_EXTERNAL_DIFF",
            "GIT_DIR",
            "git_pager",
            "LESSOPEN",
            "LessClose",
            "https_proxy",
            "ALL_PROXY",
            "NODE_EXTRA_CA_CERTS",
            "npm_config_script_shell",
            "PYTHONWARNINGS",
            "SSL_CERT_FILE",
            "REQUESTS_CA_BUNDLE",
            "RUSTC_WRAPPER",
            "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER",
            "HOME",
            "XDG_CONFIG_HOME",
            "ANTHROPIC_BASE_URL",
            "OPENAI_API_BASE",
            "OPENSSL_CONF",
        ] {
            assert!(is_refused(name), "{name}");
        }
        for name in [
            "GIT_REPO",
            "git_branch",
            "WORKING_DIR",
            "NODE_ENV",
            "GITHUB_TOKEN",
            "ANTHROPIC_MODEL",
        ] {
            assert!(!is_refused(name), "{name}");
        }
    }
}
