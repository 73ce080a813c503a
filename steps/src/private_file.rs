//! Files a step writes before moving them into place (partial downloads,
//! snapshots, exports): created exclusively, never through a symlink, mode
//! 0600 from the first byte, and reopened only if this user created them.
//!
//! A predictable temporary name in a directory others can write (`/tmp`,
//! a shared backup folder) is an invitation: a symlink planted there would
//! redirect a truncating open into another file, and a planted partial file
//! would have a download appended to it. So temporary files get random
//! names ([`temp_beside`]); the one file whose name must be predictable, an
//! `s3.get` partial download that a retry continues, is created with
//! `O_EXCL | O_NOFOLLOW` ([`create_new`]) and continued only if it passes
//! [`is_own`] ([`open_own`]).

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Creates `path` for writing: fails if anything (a file, a symlink) is
/// already there; mode 0600.
pub fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// A temporary file with a random name beside `target` (so the final rename
/// stays on one file system), created exclusively with mode 0600, removed
/// when dropped unless persisted.
pub fn temp_beside(target: &Path) -> io::Result<tempfile::NamedTempFile> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".lifeboat-partial")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(dir)
}

/// Whether `meta` (from `symlink_metadata` or an open file) describes a
/// file this process could have created with [`create_new`]: a regular
/// file, not a symlink, owned by this user, with one link and no access
/// for group or others.
pub fn is_own(meta: &Metadata) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    meta.file_type().is_file() && meta.uid() == uid && meta.nlink() == 1 && meta.mode() & 0o077 == 0
}

/// Opens an existing file of ours to read it and append to it, refusing a
/// symlink and anything [`is_own`] rejects.
pub fn open_own(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    if !is_own(&file.metadata()?) {
        return Err(io::Error::other(
            "it is not a file this user created for the download (another owner, other links, or open to group or others)",
        ));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_symlink_is_neither_followed_nor_continued() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let link = dir.path().join("x.part");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(create_new(&link).is_err());
        assert!(open_own(&link).is_err());
        assert!(!is_own(&std::fs::symlink_metadata(&link).unwrap()));
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        let mine = dir.path().join("y.part");
        drop(create_new(&mine).unwrap());
        assert!(open_own(&mine).is_ok());
        std::fs::hard_link(&mine, dir.path().join("z")).unwrap();
        assert!(open_own(&mine).is_err(), "a second link is not ours alone");
    }
}
