//! Reading the small files a check names (CA files, client identities, password files, a
//! product's configuration): a FIFO or a device given by mistake would block the read, or
//! stream without end, outside any deadline, so only regular files are read, and only so much.

use std::io::Read;
use std::path::Path;

/// The largest file of this kind read: far beyond any CA bundle, key or configuration file.
pub const MAX_SMALL_FILE: u64 = 8 << 20;

/// Reads `path` (`what` names it in errors: "CA file") if it is a regular file of at most
/// `max` bytes.
pub fn read_small(path: &Path, what: &str, max: u64) -> Result<Vec<u8>, String> {
    let shown = path.display();
    // Checked before opening: opening a FIFO blocks until a writer comes.
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {what} {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "{what} {shown} is not a regular file (a directory, FIFO or device cannot be read as one)"
        ));
    }
    let mut out = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(max + 1).read_to_end(&mut out))
        .map_err(|e| format!("cannot read {what} {shown}: {e}"))?;
    if out.len() as u64 > max {
        return Err(format!("{what} {shown} is larger than {max} bytes: not a file of that kind"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_small_regular_files_are_read() {
        let dir = std::env::temp_dir().join(format!("portproof-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("small");
        std::fs::write(&f, b"hello").unwrap();
        assert_eq!(read_small(&f, "test file", 5).unwrap(), b"hello");
        assert!(read_small(&f, "test file", 4).unwrap_err().contains("larger than 4 bytes"));
        assert!(read_small(&dir, "test file", 5).unwrap_err().contains("not a regular file"));
        let e = read_small(Path::new("/dev/zero"), "CA file", 5).unwrap_err();
        assert!(e.contains("not a regular file") && e.contains("CA file /dev/zero"), "{e}");
        assert!(read_small(&dir.join("missing"), "test file", 5).unwrap_err().contains("cannot read test file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
