//! The MCP server: dbfleet's tools over stdio or streamable HTTP.

mod args;
mod http;
mod tools;

use std::sync::Arc;

use dbfleet_core::fleet::Fleet;
use rmcp::ServiceExt;

pub use http::serve_http;
pub use tools::DbfleetTools;

/// Serves the tools on stdin/stdout until the client disconnects. Nothing
/// else may write to stdout: logs go to stderr.
pub async fn serve_stdio(fleet: Arc<Fleet>) -> anyhow::Result<()> {
    let service = DbfleetTools::new(fleet).serve(rmcp::transport::stdio()).await?;
    service.waiting().await?;
    Ok(())
}
