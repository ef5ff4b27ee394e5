//! The MCP server: dbfleet's tools over stdio or streamable HTTP.

mod args;
mod config_tools;
mod diff_data;
mod http;
mod log_messages;
mod prompts;
mod resources;
mod stdio;
mod stdio_fds;
pub(crate) mod tokens;
mod tools;

use std::sync::Arc;

use dbfleet_core::config::ServerConfig;
use dbfleet_core::fleet::Fleet;
use rmcp::ServiceExt;

pub use http::{metrics_routes, serve_connections, serve_http};
pub(crate) use log_messages::layer as log_layer;
pub use tokens::Tokens;
use tools::AnswerForm;
pub use tools::DbfleetTools;

/// Serves the tools on stdin/stdout until the client disconnects. Nothing
/// else may write to stdout: logs go to stderr.
pub async fn serve_stdio(fleet: Arc<Fleet>, server: &ServerConfig) -> anyhow::Result<()> {
    let transport = stdio::LineTransport::new(stdio_fds::stdin(), stdio_fds::stdout());
    let service = DbfleetTools::new(fleet)
        .with_tool_set(server.tools.as_deref())
        .with_answers(AnswerForm::Text)
        .serve(transport)
        .await?;
    service.waiting().await?;
    Ok(())
}
