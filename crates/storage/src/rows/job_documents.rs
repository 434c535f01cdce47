//! The JSON kept in a job's `input` and `metadata` columns. The domain's types carry no
//! format; these do, and stored jobs depend on them: add fields, never rename one.

use domain::provisioner::{JobInput, JobMetadata, WorkspaceTransition};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct InputDocument {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    template_version_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    workspace_build_id: Option<Uuid>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TransitionDocument {
    Start,
    Stop,
    Delete,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct MetadataDocument {
    template_version_name: String,
    template_id: Option<Uuid>,
    template_name: String,
    template_display_name: String,
    template_icon: String,
    workspace_id: Option<Uuid>,
    workspace_name: String,
    workspace_build_transition: Option<TransitionDocument>,
}

impl From<WorkspaceTransition> for TransitionDocument {
    fn from(transition: WorkspaceTransition) -> Self {
        match transition {
            WorkspaceTransition::Start => Self::Start,
            WorkspaceTransition::Stop => Self::Stop,
            WorkspaceTransition::Delete => Self::Delete,
        }
    }
}

impl From<TransitionDocument> for WorkspaceTransition {
    fn from(transition: TransitionDocument) -> Self {
        match transition {
            TransitionDocument::Start => Self::Start,
            TransitionDocument::Stop => Self::Stop,
            TransitionDocument::Delete => Self::Delete,
        }
    }
}

impl From<&JobInput> for InputDocument {
    fn from(input: &JobInput) -> Self {
        Self { template_version_id: input.template_version_id, workspace_build_id: input.workspace_build_id }
    }
}

impl From<InputDocument> for JobInput {
    fn from(document: InputDocument) -> Self {
        Self { template_version_id: document.template_version_id, workspace_build_id: document.workspace_build_id }
    }
}

impl From<&JobMetadata> for MetadataDocument {
    fn from(metadata: &JobMetadata) -> Self {
        Self {
            template_version_name: metadata.template_version_name.clone(),
            template_id: metadata.template_id,
            template_name: metadata.template_name.clone(),
            template_display_name: metadata.template_display_name.clone(),
            template_icon: metadata.template_icon.clone(),
            workspace_id: metadata.workspace_id,
            workspace_name: metadata.workspace_name.clone(),
            workspace_build_transition: metadata.workspace_build_transition.map(Into::into),
        }
    }
}

impl From<MetadataDocument> for JobMetadata {
    fn from(document: MetadataDocument) -> Self {
        Self {
            template_version_name: document.template_version_name,
            template_id: document.template_id,
            template_name: document.template_name,
            template_display_name: document.template_display_name,
            template_icon: document.template_icon,
            workspace_id: document.workspace_id,
            workspace_name: document.workspace_name,
            workspace_build_transition: document.workspace_build_transition.map(Into::into),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata_from_json(stored: &str) -> Option<JobMetadata> {
        serde_json::from_str::<MetadataDocument>(stored).ok().map(Into::into)
    }

    #[test]
    fn metadata_reads_partial_json() {
        let metadata = metadata_from_json(r#"{"template_name":"docker"}"#);
        assert_eq!(metadata.map(|m| m.template_name), Some("docker".to_owned()));
    }

    #[test]
    fn an_empty_input_is_an_empty_object() {
        let stored = serde_json::to_string(&InputDocument::from(&JobInput::default())).ok();
        assert_eq!(stored.as_deref(), Some("{}"));
    }

    #[test]
    fn documents_read_back_what_was_written() {
        let input = JobInput { template_version_id: Some(Uuid::from_u128(1)), workspace_build_id: None };
        let metadata = JobMetadata {
            template_name: "docker".into(),
            workspace_id: Some(Uuid::from_u128(2)),
            workspace_build_transition: Some(WorkspaceTransition::Delete),
            ..JobMetadata::default()
        };
        let stored = serde_json::to_string(&MetadataDocument::from(&metadata)).unwrap_or_default();
        assert!(stored.contains(r#""workspace_build_transition":"delete""#), "{stored}");
        assert_eq!(metadata_from_json(&stored), Some(metadata));
        let stored = serde_json::to_string(&InputDocument::from(&input)).unwrap_or_default();
        assert_eq!(serde_json::from_str::<InputDocument>(&stored).ok().map(JobInput::from), Some(input));
    }
}
