//! Buffer names and the files they live in.
//!
//! A shared buffer's name is one or more segments separated by `/`
//! (`"drone1/fast_state"`); a segment is non-empty, is neither `.` nor
//! `..`, and uses only ASCII letters, digits, `_`, `-` and `.`. The file is
//! `rtstate.<name>` in the buffer directory with each `/` written as `~`
//! (a character names cannot hold, so the mapping is one-to-one and
//! reversible, and every buffer is one flat file: no directories to create
//! or clean). The file name must fit the file system's `NAME_MAX` (255
//! bytes). The directory is `$RTSTATE_SHM_DIR` if set, else `/dev/shm`.

use super::ShmError;
use std::path::PathBuf;

/// The prefix of every buffer file.
pub const FILE_PREFIX: &str = "rtstate.";
/// The longest file name (Linux `NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// The directory holding buffer files: `$RTSTATE_SHM_DIR`, else `/dev/shm`.
pub fn shm_dir() -> PathBuf {
    match std::env::var_os("RTSTATE_SHM_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from("/dev/shm"),
    }
}

fn refuse(name: &str, reason: impl Into<String>) -> ShmError {
    ShmError::InvalidName {
        name: name.escape_debug().to_string(),
        reason: reason.into(),
    }
}

/// Checks `name` and returns its file name.
pub fn file_name(name: &str) -> Result<String, ShmError> {
    if name.is_empty() {
        return Err(refuse(name, "is empty"));
    }
    if name.contains('\0') {
        return Err(refuse(name, "contains a NUL character"));
    }
    if name.starts_with('/') {
        return Err(refuse(name, "starts with '/' (names are relative)"));
    }
    for segment in name.split('/') {
        match segment {
            "" => {
                return Err(refuse(
                    name,
                    "has an empty segment ('//' or a trailing '/')",
                ))
            }
            "." | ".." => return Err(refuse(name, format!("has a '{segment}' segment"))),
            _ => {}
        }
        if let Some(c) = segment
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        {
            return Err(refuse(
                name,
                format!("contains {c:?} (allowed: ASCII letters, digits, '_', '-', '.', '/')"),
            ));
        }
    }
    let file = format!("{FILE_PREFIX}{}", name.replace('/', "~"));
    if file.len() > NAME_MAX {
        return Err(refuse(
            name,
            format!(
                "is too long: {} bytes, at most {} allowed",
                name.len(),
                NAME_MAX - FILE_PREFIX.len()
            ),
        ));
    }
    Ok(file)
}

/// The buffer name a file name stands for, if it is a buffer file.
pub fn name_of_file(file: &str) -> Option<String> {
    let name = file.strip_prefix(FILE_PREFIX)?.replace('~', "/");
    file_name(&name).ok().map(|_| name)
}

/// The path of buffer `name` in `dir`.
pub fn path_in(dir: &std::path::Path, name: &str) -> Result<PathBuf, ShmError> {
    Ok(dir.join(file_name(name)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names_map_to_flat_files_and_back() {
        assert_eq!(
            file_name("drone1/fast_state").unwrap(),
            "rtstate.drone1~fast_state"
        );
        assert_eq!(
            name_of_file("rtstate.drone1~fast_state").as_deref(),
            Some("drone1/fast_state")
        );
        assert_eq!(file_name("a.b-c_d").unwrap(), "rtstate.a.b-c_d");
        assert_eq!(name_of_file("other.file"), None);
        assert_eq!(name_of_file("rtstate.a~~b"), None);
    }

    #[test]
    fn hostile_names_are_refused() {
        let long = "x".repeat(NAME_MAX);
        for (name, reason) in [
            ("", "empty"),
            ("a\0b", "NUL"),
            ("/etc/passwd", "starts with '/'"),
            ("../x", "'..'"),
            ("a/../../x", "'..'"),
            ("a/./b", "'.'"),
            ("a//b", "empty segment"),
            ("a/", "empty segment"),
            ("a b", "contains ' '"),
            ("a~b", "contains '~'"),
            ("é", "contains"),
            (long.as_str(), "too long"),
        ] {
            let err = file_name(name).unwrap_err().to_string();
            assert!(err.contains(reason), "{name:?}: {err}");
        }
        let longest = "x".repeat(NAME_MAX - FILE_PREFIX.len());
        assert!(file_name(&longest).is_ok());
    }
}
