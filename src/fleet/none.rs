//! `backend = "none"`: no coordination. Every take is granted and nothing is recorded, so a
//! drain behaves exactly as before fleet coordination existed.

use futures_util::future::BoxFuture;

use super::{FleetError, FleetLock, GroupStatus, Holder, Release, Take};

pub struct NoLock {
    group: String,
}

impl NoLock {
    pub fn new(group: &str) -> NoLock {
        NoLock {
            group: group.to_string(),
        }
    }
}

impl FleetLock for NoLock {
    fn backend(&self) -> &'static str {
        "none"
    }

    fn group(&self) -> &str {
        &self.group
    }

    fn take<'a>(&'a self, _holder: &'a Holder) -> BoxFuture<'a, Result<Take, FleetError>> {
        Box::pin(async { Ok(Take::Granted { already: false }) })
    }

    fn release<'a>(&'a self, _id: &'a str) -> BoxFuture<'a, Result<Release, FleetError>> {
        Box::pin(async { Ok(Release::NotHeld) })
    }

    fn status(&self) -> BoxFuture<'_, Result<GroupStatus, FleetError>> {
        Box::pin(async {
            Ok(GroupStatus {
                backend: "none",
                group: self.group.clone(),
                max_unavailable: None,
                holders: Some(Vec::new()),
            })
        })
    }
}
