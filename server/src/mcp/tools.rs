//! The MCP tools: each one a thin layer over the fleet, answering with one
//! of the typed responses of [`crate::responses`].

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use dbfleet_core::audit::{self, CallContext};
use dbfleet_core::compare::{CompareOptions, DEFAULT_MAX_DIFFERENCES};
use dbfleet_core::diff::DataDiff;
use dbfleet_core::fleet::TRACE_TARGET;
use dbfleet_core::fleet::{
    Answered, ConnectionReport, DEFAULT_SEARCH_LIMIT, Environment, Fleet, ObjectSearch, SchemaReport,
    SearchResult,
};
use dbfleet_core::{
    DatabaseInfo, DbError, JsonRows, MultiResult, QueryRequest, TableFilter, TableInfo, TableRef, Value,
};
use futures::FutureExt;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    ErrorCode, GetPromptRequestParams, GetPromptResponse, Implementation, JsonObject, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams, ProgressNotificationParam,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig, ToolAnnotations,
};
use rmcp::service::{NotificationContext, Peer, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use schemars::Schema;
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::Instrument;

use super::args::*;
use super::log_messages::{SessionEvents, SessionLevel};
use super::tokens::Caller;
use crate::responses::{
    EnvironmentList, ExplainAnswer, Listing, MultiQueryAnswer, QueryAnswer, TableDescription, ToolError,
};

/// Calls one session may have running at once; later ones wait for their
/// turn, so that a client cannot take every pool slot of every environment by
/// itself.
pub const MAX_CALLS_PER_SESSION: usize = 16;

/// Calls one session may have waiting for their turn; more are refused, so
/// that a client cannot fill the server's memory with calls.
pub const MAX_WAITING_CALLS_PER_SESSION: usize = 1024;

/// Only a call whose arguments hold at most this much may wait (a larger
/// one is refused when no turn is free): waiting calls keep their
/// arguments, and 1,024 of them stay within 64 MiB.
pub const MAX_WAITING_CALL_BYTES: usize = 64 * 1024;

/// The tools that run the caller's SQL.
const QUERY_TOOLS: &[&str] = &["execute_query", "execute_query_env", "execute_query_multi_env"];

/// The tools, one instance per MCP session.
#[derive(Clone)]
pub struct DbfleetTools {
    fleet: Arc<Fleet>,
    /// Replaced when a reload changes the tools.
    tool_router: Arc<RwLock<Arc<ToolRouter<Self>>>>,
    /// `[server] tools`, when not all of them.
    tool_set: Option<Arc<[String]>>,
    /// Turns to run, [`MAX_CALLS_PER_SESSION`] of them.
    running: Arc<Semaphore>,
    /// Places for calls running or waiting.
    admitted: Arc<Semaphore>,
    /// The level of the events sent to this session (`logging/setLevel`).
    log_level: Arc<SessionLevel>,
    log_events: Arc<SessionEvents>,
    /// Cancelled when the session's last handle is dropped, which stops
    /// sending it events.
    ended: CancellationToken,
    _end_guard: Arc<DropGuard>,
    /// `None` when stateless: a request is not a session.
    _session: Option<Arc<SessionCount>>,
    /// Without sessions nothing reaches the client outside a response.
    stateless: bool,
    /// How answers with rows carry their structured content.
    answers: AnswerForm,
}

/// How a tool answer with rows carries its structured content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AnswerForm {
    /// As a JSON tree, which rmcp serializes next to the text.
    Tree,
    /// As the text alone, which the line transport also writes as
    /// `structuredContent` ([`super::stdio`]): the answer is encoded once,
    /// straight from its rows.
    Text,
}

/// What a tool answers: `T`, or a [`ToolError`] with `isError` set.
#[derive(JsonSchema)]
#[serde(untagged)]
#[expect(dead_code, reason = "only its schema is used: `respond_with` writes the answers")]
enum Answer<T> {
    Done(T),
    Failed(ToolError),
}

/// The output schema of a tool answering `T`: `T` or [`ToolError`]. Clients
/// check structured content against it, failures included, so it admits
/// both; the root says `object`, as older clients require. The integer widths
/// schemars writes as `format` (`uint32`, …) are left out: they are not JSON
/// Schema formats, and validators print a warning for each.
pub(super) fn answer_schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    let settings = SchemaSettings::draft2020_12().for_serialize().with_transform(RecursiveTransform(
        |schema: &mut Schema| {
            if schema.get("format").and_then(|f| f.as_str()).is_some_and(is_width_format) {
                schema.remove("format");
            }
        },
    ));
    let schema = settings.into_generator().into_root_schema_for::<Answer<T>>();
    let mut object = match serde_json::to_value(schema) {
        Ok(serde_json::Value::Object(object)) => object,
        _ => JsonObject::new(),
    };
    object.remove("title");
    object.insert("type".into(), "object".into());
    Arc::new(object)
}

fn is_width_format(format: &str) -> bool {
    matches!(
        format,
        "int8"
            | "int16"
            | "int32"
            | "int64"
            | "uint"
            | "uint8"
            | "uint16"
            | "uint32"
            | "uint64"
            | "float"
            | "double"
    )
}

fn respond<T: Serialize>(outcome: Result<T, DbError>) -> CallToolResult {
    respond_with(outcome, serde_json::to_value)
}

/// A tool's answer, turned into JSON by `to_json`, or its failure; both as
/// structured content (the [`Answer`] of the tool's output schema).
pub(super) fn respond_with<T>(
    outcome: Result<T, DbError>,
    to_json: impl FnOnce(T) -> serde_json::Result<serde_json::Value>,
) -> CallToolResult {
    let encoded = match outcome {
        Ok(answer) => to_json(answer).map(CallToolResult::structured),
        Err(error) => serde_json::to_value(ToolError { error }).map(CallToolResult::structured_error),
    };
    encoded.unwrap_or_else(|err| failure(DbError::internal(format!("cannot encode the result: {err}"))))
}

/// A failure inside a tool: a tool result with `isError`, never a protocol error.
pub(super) fn failure(error: DbError) -> CallToolResult {
    respond::<()>(Err(error))
}

/// About how many bytes a call's arguments hold: their strings, and a few
/// bytes for every other value.
fn argument_bytes(arguments: &JsonObject) -> usize {
    fn bytes(value: &serde_json::Value) -> usize {
        match value {
            serde_json::Value::String(s) => s.len(),
            serde_json::Value::Array(items) => items.iter().map(bytes).sum(),
            serde_json::Value::Object(map) => map.iter().map(|(k, v)| k.len() + bytes(v)).sum(),
            _ => 8,
        }
    }
    arguments.iter().map(|(k, v)| k.len() + bytes(v)).sum()
}

/// Runs a fan-out (`run` with the function to call as each environment
/// answers), telling the client of each answer when it asked for progress.
pub(super) async fn reporting_progress<'a, Fut>(
    context: &RequestContext<RoleServer>,
    run: impl FnOnce(Box<dyn FnMut(Answered<'_>) + Send + 'a>) -> Fut,
) -> MultiResult
where
    Fut: Future<Output = MultiResult>,
{
    let Some(token) = context.meta.get_progress_token() else { return run(Box::new(|_| {})).await };
    let (answered, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let query = run(Box::new(move |a: Answered<'_>| {
        let verdict = if a.ok { "answered" } else { "failed" };
        let message = format!("{} {verdict} ({} of {})", a.environment, a.done, a.total);
        let _ = answered.send((a.done, a.total, message));
    }));
    // The query owns the sender, so the reports end with it.
    let report = async {
        while let Some((done, total, message)) = reports.recv().await {
            let progress = ProgressNotificationParam::new(token.clone(), done as f64)
                .with_total(total as f64)
                .with_message(message);
            if let Err(err) = context.peer.notify_progress(progress).await {
                tracing::debug!(error = %err, "progress notification not sent");
            }
        }
    };
    tokio::join!(query, report).0
}

/// How the results of a fan-out are compared.
pub(super) struct Comparing {
    pub compare: Option<bool>,
    pub key_columns: Option<Vec<String>>,
    pub max_differences: Option<usize>,
}

impl Comparing {
    /// The fan-out's answer, compared (unless told not to) when at least two
    /// environments answered.
    pub fn answer(self, tools: &DbfleetTools, outcome: MultiResult, sql: &str) -> CallToolResult {
        let comparison = if self.compare.unwrap_or(true) && outcome.results.len() >= 2 {
            let options = CompareOptions {
                key_columns: self.key_columns.unwrap_or_default(),
                max_differences: self.max_differences.unwrap_or(DEFAULT_MAX_DIFFERENCES),
                ordered: false,
            };
            match outcome.compare(sql, &options) {
                Ok(comparison) => Some(comparison),
                Err(err) => return failure(err),
            }
        } else {
            None
        };
        tools.respond_rows(Ok(MultiQueryAnswer::new(outcome, comparison)), MultiQueryAnswer::into_json)
    }
}

fn params(values: Option<Vec<serde_json::Value>>) -> Vec<Value> {
    values.unwrap_or_default().iter().map(Value::from_json_param).collect()
}

impl DbfleetTools {
    pub fn new(fleet: Arc<Fleet>) -> Self {
        let ended = CancellationToken::new();
        DbfleetTools {
            tool_router: Arc::new(RwLock::new(Arc::new(Self::router_for(&fleet, None)))),
            tool_set: None,
            fleet,
            running: Arc::new(Semaphore::new(MAX_CALLS_PER_SESSION)),
            admitted: Arc::new(Semaphore::new(MAX_CALLS_PER_SESSION + MAX_WAITING_CALLS_PER_SESSION)),
            log_level: Arc::default(),
            log_events: Arc::new(SessionEvents::subscribe()),
            _end_guard: Arc::new(ended.clone().drop_guard()),
            ended,
            _session: Some(Arc::new(SessionCount::open())),
            stateless: false,
            answers: AnswerForm::Tree,
        }
    }

    /// Answers with rows in the form its transport writes (see [`AnswerForm`]).
    pub(crate) fn with_answers(mut self, answers: AnswerForm) -> Self {
        self.answers = answers;
        self
    }

    /// A tool's answer with rows, or its failure: as [`respond_with`] builds
    /// it, or, when the transport writes structured content from the text,
    /// serialized once from the rows with no tree.
    pub(super) fn respond_rows<T: Serialize>(
        &self,
        outcome: Result<T, DbError>,
        to_json: impl FnOnce(T) -> serde_json::Result<serde_json::Value>,
    ) -> CallToolResult {
        match (self.answers, outcome) {
            (AnswerForm::Text, Ok(answer)) => match serde_json::to_string(&answer) {
                Ok(text) => super::stdio::text_as_structured(text),
                Err(err) => failure(DbError::internal(format!("cannot encode the result: {err}"))),
            },
            (_, outcome) => respond_with(outcome, to_json),
        }
    }

    /// For one request of a stateless server: no session is counted, and
    /// neither tool list changes nor log messages are offered.
    pub fn stateless(mut self) -> Self {
        self._session = None;
        self.stateless = true;
        self
    }

    /// Only the named tools (`[server] tools`) are listed and callable;
    /// every tool when `None`.
    pub fn with_tool_set(mut self, names: Option<&[String]>) -> Self {
        self.tool_set = names.map(Arc::from);
        self.tool_router =
            Arc::new(RwLock::new(Arc::new(Self::router_for(&self.fleet, self.tool_set.as_deref()))));
        self
    }

    /// The tools for the fleet's configuration as it stands: the built-in
    /// ones and those of `[tools.NAME]`, only `tool_set` when given.
    fn router_for(fleet: &Fleet, tool_set: Option<&[String]>) -> ToolRouter<Self> {
        let mut tool_router = Self::tool_router();
        // Writing is refused on every read-only environment, by dbfleet and
        // by the engine: when all of them are, the query tools change nothing
        // either, and clients may run them without asking.
        if fleet.environments().iter().all(|env| env.config().read_only) {
            for name in QUERY_TOOLS {
                if let Some(route) = tool_router.map.get_mut(*name) {
                    route.attr.annotations = Some(
                        ToolAnnotations::new()
                            .read_only(true)
                            .destructive(false)
                            .idempotent(true)
                            .open_world(false),
                    );
                }
            }
        }
        for tool in fleet.tools().iter() {
            tool_router.add_route(super::config_tools::route(tool));
        }
        if let Some(names) = tool_set {
            let hidden: Vec<String> = tool_router
                .list_all()
                .into_iter()
                .map(|tool| tool.name.into_owned())
                .filter(|name| !names.contains(name))
                .collect();
            for name in hidden {
                tool_router.remove_route(&name);
            }
        }
        tool_router
    }

    /// The session's tools as they stand.
    fn router(&self) -> Arc<ToolRouter<Self>> {
        self.tool_router.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// After each reload of the configuration, the session's tools are
    /// rebuilt, and the client is told when their list changed.
    fn follow_reloads(&self, peer: Peer<RoleServer>) {
        let mut reloads = self.fleet.reloads();
        let (fleet, slot, tool_set, ended) =
            (self.fleet.clone(), self.tool_router.clone(), self.tool_set.clone(), self.ended.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = ended.cancelled() => return,
                    reload = reloads.recv() => match reload {
                        Ok(_) | Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return,
                    },
                }
                let router = Self::router_for(&fleet, tool_set.as_deref());
                let listed = |router: &ToolRouter<Self>| serde_json::to_value(router.list_all()).ok();
                let old = std::mem::replace(
                    &mut *slot.write().unwrap_or_else(PoisonError::into_inner),
                    Arc::new(router),
                );
                let new = slot.read().unwrap_or_else(PoisonError::into_inner).clone();
                if listed(&old) != listed(&new) && peer.notify_tool_list_changed().await.is_err() {
                    return;
                }
            }
        });
    }

    pub(super) fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// These tools as `caller` may use them: on the environments its token
    /// reaches.
    fn for_caller(&self, caller: &Caller) -> DbfleetTools {
        DbfleetTools {
            fleet: self.fleet.scoped(&caller.name, caller.environments.as_deref()),
            ..self.clone()
        }
    }

    /// The fleet as the request's caller sees it.
    fn fleet_for(&self, context: &RequestContext<RoleServer>) -> Arc<Fleet> {
        match caller(context) {
            Some(caller) => self.fleet.scoped(&caller.name, caller.environments.as_deref()),
            None => self.fleet.clone(),
        }
    }

    /// `request`'s answer on `environment` (the default one when `None`),
    /// or its failure. When the transport writes structured content from the
    /// text, rows are written into the text as they arrive, never held as
    /// values or as a tree.
    pub(super) async fn answer_query(
        &self,
        environment: Option<&str>,
        request: Result<QueryRequest, DbError>,
    ) -> CallToolResult {
        let env = match request.and_then(|request| Ok((self.fleet.environment(environment)?, request))) {
            Ok(found) => found,
            Err(err) => return failure(err),
        };
        let (env, request) = env;
        match self.answers {
            AnswerForm::Text => {
                let answer = env.query_into(&request, JsonRows::default()).await.map(QueryAnswer::new);
                match answer.and_then(QueryAnswer::into_text) {
                    Ok(text) => super::stdio::text_as_structured(text),
                    Err(err) => failure(err),
                }
            }
            AnswerForm::Tree => {
                respond_with(env.query(&request).await.map(QueryAnswer::new), QueryAnswer::into_json)
            }
        }
    }

    /// Runs `work` on the named environment, or on every enabled one.
    async fn listing<T, F, Fut>(
        &self,
        environment: Option<String>,
        all: Option<bool>,
        work: F,
    ) -> Result<Listing<T>, DbError>
    where
        F: Fn(Arc<Environment>) -> Fut,
        Fut: Future<Output = Result<T, DbError>>,
    {
        if !all.unwrap_or(false) {
            let env = self.fleet.environment(environment.as_deref())?;
            let environment = env.name().to_owned();
            return Ok(Listing::One { environment, result: work(env).await? });
        }
        if environment.is_some() {
            return Err(DbError::invalid_argument("give either environment or all_environments, not both"));
        }
        Ok(Listing::Several(self.fleet.each(None, work).await))
    }
}

#[tool_router]
impl DbfleetTools {
    #[tool(
        description = "List every configured environment (enabled or not) with its driver, description, \
        whether it is the default, read-only or disabled, and its connection status (healthy, unhealthy, \
        disabled, connecting), latency, server version and last error. Does not touch the databases.",
        output_schema = answer_schema::<EnvironmentList>(),
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_environments(&self, args: Parameters<Lenient<NoArgs>>) -> CallToolResult {
        respond(args.0.decoded().map(|NoArgs {}| EnvironmentList { environments: self.fleet.statuses() }))
    }

    #[tool(
        description = "Run one SQL statement on one environment (the default one when `environment` is \
        omitted). Returns columns (name, engine type, logical type), rows as arrays, row_count, truncated, \
        affected_rows for writes, and execution_time_ms. Read-only environments refuse anything but queries. \
        Use `parameters` for values instead of splicing them into the SQL.",
        output_schema = answer_schema::<QueryAnswer>(),
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn execute_query(&self, Parameters(args): Parameters<Lenient<QueryArgs>>) -> CallToolResult {
        let args = match args.decoded() {
            Ok(args) => args,
            Err(err) => return failure(err),
        };
        let request =
            QueryRequest { sql: args.sql, params: params(args.parameters), max_rows: args.max_rows };
        self.answer_query(args.environment.as_deref(), Ok(request)).await
    }

    #[tool(
        description = "Run one SQL statement on the named environment. Same result as execute_query; \
        `environment` is required.",
        output_schema = answer_schema::<QueryAnswer>(),
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn execute_query_env(&self, Parameters(args): Parameters<Lenient<QueryEnvArgs>>) -> CallToolResult {
        let args = match args.decoded() {
            Ok(args) => args,
            Err(err) => return failure(err),
        };
        let request =
            QueryRequest { sql: args.sql, params: params(args.parameters), max_rows: args.max_rows };
        self.answer_query(Some(&args.environment), Ok(request)).await
    }

    #[tool(
        description = "Run the same SQL on several environments at once (every enabled one when \
        `environments` is omitted) and compare the results. Returns `results` and `errors` keyed by \
        environment (one failing environment never fails the others), a `summary`, and a `comparison`: \
        `identical`, `row_counts`, column differences, and row differences, each naming the environments \
        that have the row and those that lack it, or a changed column with each environment's value. Give \
        `key_columns` to match rows by key; without them rows compare as multisets.",
        output_schema = answer_schema::<MultiQueryAnswer>(),
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn execute_query_multi_env(
        &self,
        Parameters(args): Parameters<Lenient<MultiQueryArgs>>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let args = match args.decoded() {
            Ok(args) => args,
            Err(err) => return failure(err),
        };
        let request =
            QueryRequest { sql: args.sql.clone(), params: params(args.parameters), max_rows: args.max_rows };
        let environments = args.environments.as_deref();
        let outcome = reporting_progress(&context, |on_answer| {
            self.fleet.query_many_observed(environments, &request, on_answer)
        })
        .await;
        let comparison = Comparing {
            compare: args.compare,
            key_columns: args.key_columns,
            max_differences: args.max_differences,
        };
        comparison.answer(self, outcome, &args.sql)
    }

    #[tool(
        description = "Show how the engine would run one SQL statement, without running it: the plan in \
        the engine's own form (PostgreSQL and MySQL JSON plans, SQLite's query plan) and a summary in \
        common terms (estimated cost and rows, how each table is read: full scan, index scan or index \
        lookup and which index, the joins). With `environments` or `all_environments: true`, the plans of \
        several environments and `differences`: the tables they read differently, e.g. \"orders: index \
        lookup (orders_pkey) on staging, full scan on prod\".",
        output_schema = answer_schema::<ExplainAnswer>(),
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn explain_query(&self, Parameters(args): Parameters<Lenient<ExplainArgs>>) -> CallToolResult {
        respond(
            async {
                let args = args.decoded()?;
                let params = params(args.parameters);
                let several = args.environments.is_some() || args.all_environments.unwrap_or(false);
                if several && args.environment.is_some() {
                    return Err(DbError::invalid_argument(
                        "give environment, or environments / all_environments, not both",
                    ));
                }
                if !several {
                    let env = self.fleet.environment(args.environment.as_deref())?;
                    return env.explain(&args.sql, params).await.map(ExplainAnswer::One);
                }
                let order: Vec<String> = match &args.environments {
                    Some(names) => names.clone(),
                    None => self
                        .fleet
                        .environments()
                        .iter()
                        .filter(|env| env.config().enabled)
                        .map(|env| env.name().to_owned())
                        .collect(),
                };
                let sql = args.sql.as_str();
                let plans = self
                    .fleet
                    .each(Some(&order), |env| {
                        let params = params.clone();
                        async move { env.explain(sql, params).await }
                    })
                    .await;
                Ok(ExplainAnswer::several(&order, plans))
            }
            .await,
        )
    }

    #[tool(
        description = "List the databases and schemas of an environment (the default one when omitted), \
        or of every enabled environment with `all_environments: true`.",
        output_schema = answer_schema::<Listing<Vec<DatabaseInfo>>>(),
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_databases(
        &self,
        Parameters(args): Parameters<Lenient<ListDatabasesArgs>>,
    ) -> CallToolResult {
        respond(
            async {
                let args = args.decoded()?;
                self.listing(args.environment, args.all_environments, |env| async move {
                    env.list_databases().await
                })
                .await
            }
            .await,
        )
    }

    #[tool(
        description = "List the tables and views of an environment (the default one when omitted), or of \
        every enabled environment with `all_environments: true`; optionally only one `schema` or names \
        matching a LIKE `pattern` such as `ord%`.",
        output_schema = answer_schema::<Listing<Vec<TableInfo>>>(),
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_tables(&self, Parameters(args): Parameters<Lenient<ListTablesArgs>>) -> CallToolResult {
        respond(
            async {
                let args = args.decoded()?;
                let filter = TableFilter::new(args.schema, args.pattern);
                self.listing(args.environment, args.all_environments, |env| {
                    let filter = filter.clone();
                    async move { env.list_tables(&filter).await }
                })
                .await
            }
            .await,
        )
    }

    #[tool(
        description = "Find tables, views, columns, indexes and stored routines by name on an environment (the default one \
        when omitted) or on every enabled one with `all_environments: true`: `pattern` is a LIKE pattern \
        (`%`, `_`, any case) or a plain substring. Narrow with `kinds`, `schema` and `table`; `detail` is \
        names (default), summary (comments, types, index columns, column counts, routine signatures) or \
        full (nullability, defaults, uniqueness, primary keys). At most `limit` objects per environment (default 100); `truncated` \
        says when there were more.",
        output_schema = answer_schema::<Listing<SearchResult>>(),
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn search_objects(
        &self,
        Parameters(args): Parameters<Lenient<SearchObjectsArgs>>,
    ) -> CallToolResult {
        respond(
            async {
                let args = args.decoded()?;
                let search = ObjectSearch {
                    pattern: args.pattern,
                    kinds: args.kinds.unwrap_or_default(),
                    schema: args.schema,
                    table: args.table,
                    detail: args.detail.unwrap_or_default(),
                    limit: args.limit.unwrap_or(DEFAULT_SEARCH_LIMIT),
                };
                self.listing(args.environment, args.all_environments, |env| {
                    let search = search.clone();
                    async move { env.search_objects(&search).await }
                })
                .await
            }
            .await,
        )
    }

    #[tool(
        description = "Describe a table or view: columns (name, engine type, logical type, nullable, \
        default), primary key, indexes and foreign keys.",
        output_schema = answer_schema::<TableDescription>(),
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn describe_table(
        &self,
        Parameters(args): Parameters<Lenient<DescribeTableArgs>>,
    ) -> CallToolResult {
        respond(
            async {
                let args = args.decoded()?;
                let env = self.fleet.environment(args.environment.as_deref())?;
                let table = env.describe_table(&TableRef::new(args.schema, args.table)).await?;
                Ok(TableDescription { environment: env.name().to_owned(), table })
            }
            .await,
        )
    }

    #[tool(
        description = "Compare table definitions across environments (at least two; every enabled one \
        when omitted), for one `table` or all: tables present only in some environments, then per table \
        missing columns, logical types, native types (reported separately), nullability, defaults, \
        primary keys, indexes and foreign keys.",
        output_schema = answer_schema::<SchemaReport>(),
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn compare_schema(
        &self,
        Parameters(args): Parameters<Lenient<CompareSchemaArgs>>,
    ) -> CallToolResult {
        respond(
            async {
                let args = args.decoded()?;
                if args.environments.as_ref().is_some_and(|e| e.len() < 2) {
                    return Err(DbError::invalid_argument("compare_schema needs at least two environments"));
                }
                Ok(self.fleet.compare_schema(args.environments.as_deref(), args.table.as_deref()).await)
            }
            .await,
        )
    }

    #[tool(
        description = "Compare the rows of a table (or of a `query`) across two or more environments, at \
        any size, matched by `key_columns` (default: the primary key), optionally only some `columns` and \
        rows meeting a `where` condition. Each engine checksums key ranges itself and only ranges that \
        differ are split again and read (`method: bisect`); columns an engine cannot checksum identically \
        (floating point, JSON) are compared by streaming every row in key order (`merge`). Returns \
        `row_counts`, `differences` (rows missing from some environments, changed columns with each \
        environment's value, duplicate keys) listed up to `max_differences`, exact totals, the method and \
        why, `consistency` (whether a change during the comparison is ruled out) and statistics. Only reads.",
        output_schema = answer_schema::<DataDiff>(),
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn diff_data(
        &self,
        Parameters(args): Parameters<Lenient<DiffDataArgs>>,
        context: RequestContext<RoleServer>,
    ) -> CallToolResult {
        respond(
            async {
                let request = super::diff_data::request(args.decoded()?)?;
                super::diff_data::run(&self.fleet, &request, &context).await
            }
            .await,
        )
    }

    #[tool(
        description = "Ping one environment (or every one when omitted) and report its status, latency, \
        last error, consecutive failures and pool statistics.",
        output_schema = answer_schema::<EnvironmentList>(),
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn health_check(&self, Parameters(args): Parameters<Lenient<HealthArgs>>) -> CallToolResult {
        respond(
            async {
                let args = args.decoded()?;
                let environments = self.fleet.health_check(args.environment.as_deref()).await?;
                Ok(EnvironmentList { environments })
            }
            .await,
        )
    }

    #[tool(
        description = "Open a fresh connection to an environment and report host/port (no secrets), \
        connect time and server version, or on failure the class: dns, refused, timeout, auth, tls, database.",
        output_schema = answer_schema::<ConnectionReport>(),
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn test_connection(
        &self,
        Parameters(args): Parameters<Lenient<TestConnectionArgs>>,
    ) -> CallToolResult {
        respond(
            async {
                let args = args.decoded()?;
                Ok(self.fleet.environment(Some(&args.environment))?.test_connection().await)
            }
            .await,
        )
    }
}

#[tool_handler(router = self.router())]
impl ServerHandler for DbfleetTools {
    /// A call the client cancels stops at once: its future is dropped, and
    /// with it the statement running on the engine and the connection it held.
    /// A call that panics fails alone, as an `internal` error: the session and
    /// the server go on.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Ok(_admitted) = self.admitted.clone().try_acquire_owned() else {
            return Ok(failure(DbError::invalid_argument(format!(
                "this session already has {MAX_CALLS_PER_SESSION} calls running and \
                 {MAX_WAITING_CALLS_PER_SESSION} waiting; wait for them to finish"
            )))
            .into());
        };
        let cancelled = context.ct.clone();
        let _running = match self.running.clone().try_acquire_owned() {
            Ok(turn) => turn,
            Err(_) if request.arguments.as_ref().map_or(0, argument_bytes) > MAX_WAITING_CALL_BYTES => {
                return Ok(failure(DbError::invalid_argument(format!(
                    "this session already has {MAX_CALLS_PER_SESSION} calls running, and a call with more \
                     than {} KiB of arguments does not wait for a turn; send it again when one has finished",
                    MAX_WAITING_CALL_BYTES / 1024
                )))
                .into());
            }
            Err(_) => tokio::select! {
                turn = self.running.clone().acquire_owned() => turn.map_err(|_| {
                    ErrorData::internal_error("the session is closing", None)
                })?,
                () = cancelled.cancelled() => {
                    return Err(ErrorData::new(ErrorCode::INVALID_REQUEST, "the call was cancelled by the client", None));
                }
            },
        };
        let tool = request.name.to_string();
        let started = Instant::now();
        let caller = caller(&context);
        let call_context = call_context(&tool, &context, caller.as_deref());
        let span = tracing::trace_span!(
            target: TRACE_TARGET,
            "tools/call",
            otel.name = %format_args!("tools/call {tool}"),
            otel.kind = "server",
            mcp.method.name = "tools/call",
            gen_ai.tool.name = %tool,
            mcp.session.id = call_context.session.as_deref(),
            dbfleet.client = %call_context.client,
            error.type = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        if let Some(caller) = caller.as_deref().filter(|caller| !caller.may_use_tool(&tool)) {
            let refusal = DbError::new(
                dbfleet_core::ErrorKind::Forbidden,
                format!("token '{}' may not use the tool {tool}", caller.name),
            );
            audit::within(call_context, async { audit::forbidden(None) }).await;
            let response = Ok(failure(refusal).into());
            record_call(tool, &response, started.elapsed(), &span);
            return response;
        }
        let scoped = caller.map(|caller| self.for_caller(&caller));
        let tools = scoped.as_ref().unwrap_or(self);
        let router = tools.router();
        let call = AssertUnwindSafe(
            audit::within(call_context, router.call(ToolCallContext::new(tools, request, context)))
                .instrument(span.clone()),
        );
        let response = tokio::select! {
            response = call.catch_unwind() => response.unwrap_or_else(|panic| {
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown cause".to_owned());
                tracing::error!(%reason, "a tool call panicked");
                Ok(failure(DbError::internal(format!("the call failed unexpectedly: {reason}"))).into())
            }),
            () = cancelled.cancelled() => {
                Err(ErrorData::new(ErrorCode::INVALID_REQUEST, "the call was cancelled by the client", None))
            }
        };
        record_call(tool, &response, started.elapsed(), &span);
        response
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let fleet = self.fleet_for(&context);
        super::resources::list(&fleet, request.as_ref().and_then(|r| r.cursor.as_deref())).await
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(super::resources::templates()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        super::resources::read(&self.fleet_for(&context), &request.uri).await.map(Into::into)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(super::prompts::list()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        super::prompts::get(&self.fleet_for(&context), &request.name, request.arguments).map(Into::into)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        super::prompts::complete(&self.fleet_for(&context), &request).await
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.follow_reloads(context.peer.clone());
        super::log_messages::forward(
            context.peer,
            self.log_level.clone(),
            self.ended.clone(),
            &self.log_events,
        );
    }

    #[expect(deprecated, reason = "MCP logging is deprecated by SEP-2577, and still what clients use")]
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.log_level.set(request.level);
        Ok(())
    }

    #[expect(deprecated, reason = "MCP logging is deprecated by SEP-2577, and still what clients use")]
    fn get_info(&self) -> ServerConfig {
        let mut capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_logging()
            .enable_resources()
            .enable_prompts()
            .enable_completions()
            .build();
        if self.stateless {
            capabilities.logging = None;
            if let Some(tools) = capabilities.tools.as_mut() {
                tools.list_changed = None;
            }
        }
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("dbfleet", env!("CARGO_PKG_VERSION")))
            .with_instructions(instructions(&self.fleet))
    }
}

/// A tool call's metrics: its outcome (`ok`, `error` with the error's kind,
/// `protocol_error`), duration and the size of its text answer.
/// Counts the call, and marks its span when it failed.
fn record_call(
    tool: String,
    response: &Result<CallToolResponse, ErrorData>,
    elapsed: std::time::Duration,
    span: &tracing::Span,
) {
    let (outcome, kind, bytes) = match response {
        Ok(CallToolResponse::Complete(result)) => {
            let bytes: usize = result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.len()).sum();
            let kind = result
                .structured_content
                .as_ref()
                .and_then(|s| s["error"]["kind"].as_str())
                .unwrap_or_default()
                .to_owned();
            let outcome = if result.is_error == Some(true) { "error" } else { "ok" };
            (outcome, kind, bytes)
        }
        Ok(_) => ("ok", String::new(), 0),
        Err(_) => ("protocol_error", String::new(), 0),
    };
    if outcome != "ok" {
        span.record("error.type", if kind.is_empty() { outcome } else { kind.as_str() });
        span.record("otel.status_code", "ERROR");
    }
    metrics::counter!("dbfleet_tool_calls_total", "tool" => tool.clone(), "outcome" => outcome, "error_kind" => kind)
        .increment(1);
    metrics::histogram!("dbfleet_tool_call_duration_seconds", "tool" => tool.clone())
        .record(elapsed.as_secs_f64());
    metrics::counter!("dbfleet_tool_result_bytes_total", "tool" => tool).increment(bytes as u64);
}

/// Who makes a call, for the audit log: the token's name or the transport,
/// and the MCP session of an HTTP request.
fn call_context(tool: &str, context: &RequestContext<RoleServer>, caller: Option<&Caller>) -> CallContext {
    let parts = context.extensions.get::<axum::http::request::Parts>();
    let session = parts
        .and_then(|parts| parts.headers.get("mcp-session-id"))
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let client = match (caller, parts) {
        (Some(caller), _) => caller.name.clone(),
        (None, Some(_)) => "http".to_owned(),
        (None, None) => "stdio".to_owned(),
    };
    CallContext { client, session, tool: tool.to_owned() }
}

/// The named token the request came with, if any.
fn caller(context: &RequestContext<RoleServer>) -> Option<Arc<Caller>> {
    let parts = context.extensions.get::<axum::http::request::Parts>()?;
    parts.extensions.get::<Arc<Caller>>().cloned()
}

/// Counts a session in `dbfleet_mcp_sessions` while it lives.
struct SessionCount;

impl SessionCount {
    fn open() -> Self {
        metrics::gauge!("dbfleet_mcp_sessions").increment(1.0);
        SessionCount
    }
}

impl Drop for SessionCount {
    fn drop(&mut self) {
        metrics::gauge!("dbfleet_mcp_sessions").decrement(1.0);
    }
}

/// Tells the assistant which environments exist, on which engines, and which
/// one a call without `environment` goes to.
fn instructions(fleet: &Fleet) -> String {
    let mut text = String::from(
        "dbfleet gives access to several named database environments. Pass `environment` to choose one; \
         use execute_query_multi_env to ask several at once and see what differs.\nEnvironments:\n",
    );
    for status in fleet.statuses() {
        let mut flags = Vec::new();
        if status.default {
            flags.push("default");
        }
        if status.read_only {
            flags.push("read-only");
        }
        if !status.enabled {
            flags.push("disabled");
        }
        let description = status.description.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
        text.push_str(&format!("- {} ({}; {}){description}\n", status.name, status.driver, flags.join(", ")));
    }
    text
}
