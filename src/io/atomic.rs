//! Atomic file writes: data goes to a temporary file in the same folder, is flushed to disk, and
//! only then takes the target name, so a crash never leaves a half-written file behind.

use std::io::Write;
use std::path::{Path, PathBuf};

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let unique = format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    path.with_file_name(unique)
}

/// Writes `bytes` to `path` atomically. With `overwrite == false` an existing file is never
/// replaced: the call fails with [`std::io::ErrorKind::AlreadyExists`].
pub fn write_atomic(path: &Path, bytes: &[u8], overwrite: bool) -> std::io::Result<()> {
    write_atomic_with(path, overwrite, |file| file.write_all(bytes))
}

/// [`write_atomic`] with the data written by `write` (which may fail part way, as on a full
/// disk: the temporary file is then removed and the target left as it was).
fn write_atomic_with(
    path: &Path,
    overwrite: bool,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if !overwrite && path.exists() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} already exists (not overwritten)", path.display()),
        ));
    }
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        write(&mut file)?;
        file.sync_all()?;
        drop(file);
        if overwrite {
            std::fs::rename(&tmp, path)
        } else {
            // A hard link fails if the target appeared meanwhile: no clobbering, even in a race.
            match std::fs::hard_link(&tmp, path) {
                Ok(()) => std::fs::remove_file(&tmp),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
                Err(_) => std::fs::rename(&tmp, path),
            }
        }
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        write_atomic(&path, b"one", false).unwrap();
        let err = write_atomic(&path, b"two", false).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        write_atomic(&path, b"three", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
        // No temporary files are left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// A disk that fills up part way through, and a folder nothing can be written into: an
    /// error, the old file untouched, no partial or temporary file.
    #[test]
    fn failed_writes_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.png");
        let full_disk = |file: &mut std::fs::File| {
            file.write_all(&[7u8; 4096])?;
            Err(std::io::Error::from(std::io::ErrorKind::StorageFull))
        };
        let err = write_atomic_with(&path, true, full_disk).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        write_atomic(&path, b"old", true).unwrap();
        assert!(write_atomic_with(&path, true, full_disk).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // /proc takes no new files, even from root.
        let nowhere = Path::new("/proc/stylespace-export-test.png");
        assert!(write_atomic(nowhere, b"x", true).is_err());
        assert!(!nowhere.exists());
    }
}
