//! Small file-system helpers: atomic writes.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Write `bytes` to `path` atomically: the data goes to a temporary file in the same
/// directory, is flushed to disk, and is then renamed over `path`. A crash leaves either
/// the old file or the new one, never a half-written file.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let name = path
        .file_name()
        .ok_or_else(|| Error::invalid(format!("{} has no file name", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    remove_stale_temps(&dir, &name.to_string_lossy());
    Ok(())
}

/// Remove the temporary files of earlier writes of `name` that never reached their
/// rename (a process killed mid-write leaves `.name.tmp-PID`): the write that just
/// succeeded supersedes them. Best effort; errors are ignored.
fn remove_stale_temps(dir: &Path, name: &str) {
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/a.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let n = std::fs::read_dir(p.parent().unwrap()).unwrap().count();
        assert_eq!(n, 1);
    }

    #[test]
    fn a_killed_writer_s_temporary_file_is_removed_by_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ck.bin");
        std::fs::write(dir.path().join(".ck.bin.tmp-99999999"), b"half").unwrap();
        std::fs::write(dir.path().join(".other.tmp-1"), b"not ours").unwrap();
        write_atomic(&p, b"whole").unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".other.tmp-1", "ck.bin"]);
    }

    #[test]
    fn a_write_into_a_file_path_is_an_error_naming_it_and_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("results");
        std::fs::write(&blocker, b"earlier results").unwrap();
        let err = write_atomic(blocker.join("report.json"), b"{}").unwrap_err();
        assert!(err.to_string().contains("results"), "{err}");
        assert_eq!(std::fs::read(&blocker).unwrap(), b"earlier results");
    }
}
