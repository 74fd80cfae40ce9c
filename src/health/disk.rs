//! `disk`: free space and inodes of the agent's work dir (its `work_dir` flag, or Mesos'
//! default when the agent does not say), through `statvfs`.

use std::path::PathBuf;

use super::verdict::{self, DiskStats};
use super::{Check, CHECK_TIMEOUT, DEFAULT_WORK_DIR, DISK};

/// `work_dir`: from the agent's flags (or as last recorded); `None` falls back to
/// [`DEFAULT_WORK_DIR`].
pub async fn check(work_dir: Option<String>, min_free: f64) -> Check {
    let from_agent = work_dir.is_some();
    let path = PathBuf::from(work_dir.unwrap_or_else(|| DEFAULT_WORK_DIR.to_string()));
    let shown = path.display().to_string();
    let origin = if from_agent {
        ""
    } else {
        " (the default; the agent did not say)"
    };
    // statvfs on a hung network filesystem can block: off the runtime, bounded.
    let stat = tokio::task::spawn_blocking({
        let path = path.clone();
        move || stats(&path)
    });
    match tokio::time::timeout(CHECK_TIMEOUT, stat).await {
        Err(_) => Check::fail(
            DISK,
            format!(
                "statvfs({shown}) did not return within {}s",
                CHECK_TIMEOUT.as_secs()
            ),
        ),
        Ok(Err(e)) => Check::cannot_run(DISK, format!("statvfs({shown}): {e}")),
        Ok(Ok(Err(e))) => Check::cannot_run(DISK, format!("work dir {shown}{origin}: {e}")),
        Ok(Ok(Ok(s))) => verdict::disk(&shown, s, min_free),
    }
}

/// `statvfs(2)` of `path`, in the units the verdict needs.
pub fn stats(path: &std::path::Path) -> nix::Result<DiskStats> {
    let v = nix::sys::statvfs::statvfs(path)?;
    #[allow(clippy::useless_conversion)] // the field types differ between targets
    Ok(DiskStats {
        blocks: u64::from(v.blocks()),
        blocks_available: u64::from(v.blocks_available()),
        files: u64::from(v.files()),
        files_available: u64::from(v.files_available()),
    })
}
