//! One drain at a time per node: an exclusive flock in the state dir, held for the whole drain.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

pub const LOCK_FILE: &str = "drain.lock";

/// Held while the process runs a drain; released on drop (and by the kernel if we die).
#[derive(Debug)]
pub struct DrainLock {
    _lock: Flock<File>,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another mesos-maint drain is running on this node (pid {0})")]
    Busy(String),
    #[error("cannot use the state dir {0}: {1}")]
    Io(String, std::io::Error),
}

impl DrainLock {
    pub fn acquire(dir: &Path) -> Result<DrainLock, LockError> {
        let io = |e| LockError::Io(dir.display().to_string(), e);
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                lock.set_len(0).map_err(io)?;
                lock.rewind().map_err(io)?;
                write!(lock, "{}", std::process::id()).map_err(io)?;
                Ok(DrainLock { _lock: lock })
            }
            Err((mut file, _)) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                Err(LockError::Busy(holder.trim().to_string()))
            }
        }
    }
}

/// `Some(pid)` when a drain holds the lock now. Reads only (a dry run creates nothing): a shared
/// lock taken and dropped at once cannot be had while a drain holds the exclusive one.
pub fn holder(dir: &Path) -> Option<String> {
    let mut file = File::open(dir.join(LOCK_FILE)).ok()?;
    let mut pid = String::new();
    let _ = file.read_to_string(&mut pid);
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_) => None,
        Err(_) => Some(pid.trim().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_until_the_first_is_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(holder(tmp.path()), None, "no file: nobody holds it");
        let first = DrainLock::acquire(tmp.path()).unwrap();
        match DrainLock::acquire(tmp.path()) {
            Err(LockError::Busy(pid)) => assert_eq!(pid, std::process::id().to_string()),
            other => panic!("{other:?}"),
        }
        assert_eq!(holder(tmp.path()), Some(std::process::id().to_string()));
        drop(first);
        assert_eq!(holder(tmp.path()), None);
        DrainLock::acquire(tmp.path()).unwrap();
    }
}
