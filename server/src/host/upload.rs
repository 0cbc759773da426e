//! `POST /upload`: writes a base64 file under `uploads/` in the session's directory.

use super::error::HostError;
use base64::Engine as _;
use protocol::coop;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Largest decoded upload.
pub const MAX_UPLOAD_BYTES: usize = 10 << 20; // 10 MiB
/// Longest sanitised file name kept.
const MAX_NAME_CHARS: usize = 128; // characters
/// Attempts at finding a free name before giving up.
const MAX_NAME_ATTEMPTS: u32 = 1000; // attempts

/// Keeps the last path component and only `[A-Za-z0-9._-]`; never empty, never hidden.
pub fn sanitize_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME_CHARS)
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    if cleaned.is_empty() {
        "upload".to_owned()
    } else {
        cleaned.to_owned()
    }
}

/// `name`, then `stem-1.ext`, `stem-2.ext`, …
fn candidate(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_owned();
    }
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}-{n}.{ext}"),
        _ => format!("{name}-{n}"),
    }
}

/// Decodes and writes the upload into `dir/uploads/`, never overwriting an existing file.
pub fn save(dir: &Path, upload: &coop::Upload) -> Result<coop::Uploaded, HostError> {
    // Reject on the encoded length first so a huge body is not decoded just to be refused.
    if upload.data.len() / 4 * 3 > MAX_UPLOAD_BYTES + 3 {
        return Err(too_large());
    }
    let data = base64::engine::general_purpose::STANDARD
        .decode(upload.data.as_bytes())
        .map_err(|e| HostError::BadRequest(format!("data is not valid base64: {e}")))?;
    if data.len() > MAX_UPLOAD_BYTES {
        return Err(too_large());
    }
    let uploads = dir.join("uploads");
    std::fs::create_dir_all(&uploads)
        .map_err(|e| HostError::Internal(format!("cannot create {}: {e}", uploads.display())))?;
    let name = sanitize_filename(&upload.filename);
    for n in 0..MAX_NAME_ATTEMPTS {
        let path: PathBuf = uploads.join(candidate(&name, n));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => {
                file.write_all(&data)
                    .map_err(|e| HostError::Internal(format!("write failed: {e}")))?;
                return Ok(coop::Uploaded {
                    path: path.display().to_string(),
                    bytes_written: data.len(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(HostError::Internal(format!(
                    "cannot create {}: {e}",
                    path.display()
                )))
            }
        }
    }
    Err(HostError::Internal("no free upload file name".into()))
}

fn too_large() -> HostError {
    HostError::PayloadTooLarge(format!("upload larger than {MAX_UPLOAD_BYTES} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitises_names() {
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("a b$c.txt"), "a_b_c.txt");
        assert_eq!(sanitize_filename(".bashrc"), "bashrc");
        assert_eq!(sanitize_filename("..\\"), "upload");
        assert_eq!(sanitize_filename(""), "upload");
        assert_eq!(candidate("a.txt", 2), "a-2.txt");
        assert_eq!(candidate("Makefile", 1), "Makefile-1");
    }
}
