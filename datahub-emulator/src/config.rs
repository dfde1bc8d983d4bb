//! [`EmulatorConfig`]: what an emulator serves when it starts (accounts, projects and topics, the
//! JSONL log, faults active from the start).

use std::fmt;
use std::path::PathBuf;

use crate::fault::Faults;
use crate::model::{ProjectSpec, TopicSpec};

/// Everything the emulator serves, fixed at start (CreateTopic/CreateProject can add more later).
#[derive(Clone, Default)]
pub struct EmulatorConfig {
    /// Accepted AccessKey pairs: (AccessKeyId, AccessKeySecret). Requests signed with anything
    /// else get `401 Unauthorized`. Empty = every request is refused.
    pub accounts: Vec<(String, String)>,
    /// Projects with their topics.
    pub projects: Vec<ProjectSpec>,
    /// When set, every stored record is appended to this file as one JSON line
    /// (see the crate README for the shape).
    pub jsonl_path: Option<PathBuf>,
    /// Faults active from the start (more can be set at run time through [`crate::FaultControl`]).
    pub faults: Faults,
}

impl fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Access key secrets never print.
        let ids: Vec<&str> = self.accounts.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("EmulatorConfig")
            .field("accounts", &ids)
            .field("projects", &self.projects)
            .field("jsonl_path", &self.jsonl_path)
            .field("faults", &self.faults)
            .finish()
    }
}

impl EmulatorConfig {
    /// The common case: one account, one project holding one BLOB topic with `shards` shards
    /// (lifecycle 7 days).
    pub fn single(project: &str, topic: &str, shards: u32, access_id: &str, access_key: &str) -> Self {
        Self {
            accounts: vec![(access_id.to_owned(), access_key.to_owned())],
            projects: vec![ProjectSpec {
                name: project.to_owned(),
                comment: "datahub-emulator project".to_owned(),
                topics: vec![TopicSpec::blob(topic, shards)],
            }],
            jsonl_path: None,
            faults: Faults::default(),
        }
    }
}
