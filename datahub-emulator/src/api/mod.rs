//! The DataHub operations, one file per API area (datahub-protocol §3, §4): each handler takes
//! the state, the path's names and the decoded body, and answers a [`crate::wire::Reply`] or an
//! [`crate::error::ApiError`]. Which handler serves a request is decided in `dispatch`.

mod project;
mod records;
mod shard;
mod topic;

pub(crate) use project::{create_project, get_project, list_project};
pub(crate) use records::{
    get_cursor, get_records_json, get_records_pb, put_records_by_shard, put_records_json, put_records_pb,
};
pub(crate) use shard::{list_shard, split_shard};
pub(crate) use topic::{append_field, create_topic, delete_topic, get_topic, list_topic};
