//! The stdio transport: one JSON-RPC message per line on stdin and stdout.
//!
//! rmcp's own stdio transport drops a line it cannot parse without a word, so
//! a client whose request was refused (nested past serde_json's depth limit,
//! say) would wait for an answer forever. This one answers every request it
//! can find an `id` in with a JSON-RPC error, and ignores only what carries
//! none: a notification cannot be answered, and answering text that is not
//! JSON could start an error storm with a peer that answers in turn.
//!
//! A tool answer carries its document twice, as the text block and as
//! `structuredContent`. rmcp holds the second as a `serde_json::Value`, a
//! tree several times the size of its text; on this transport the tools
//! hand over the text alone ([`text_as_structured`]) and `send` writes
//! `structuredContent` from the text's own bytes, so a large result is
//! encoded once and never held as a tree.

use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{CallToolResult, ContentBlock, JsonRpcMessage, MetaObject, ServerResult};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

/// Longer lines are refused (and skipped to their end) instead of buffered.
const MAX_LINE_BYTES: u64 = 64 * 1024 * 1024;

/// JSON-RPC error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;

/// Marks a tool result whose `structuredContent` is its text block (see
/// the module's documentation); `send` takes it off before writing.
const STRUCTURED_IS_TEXT: &str = "io.dbfleet/structured-content-is-text";

/// A successful tool result whose structured content is the JSON document
/// `text`, for this transport to write twice.
pub(super) fn text_as_structured(text: String) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.meta = Some(MetaObject([(STRUCTURED_IS_TEXT.to_owned(), true.into())].into_iter().collect()));
    result
}

/// Takes the mark of [`text_as_structured`] off a message; whether it had it.
fn take_mark(item: &mut TxJsonRpcMessage<RoleServer>) -> bool {
    let JsonRpcMessage::Response(response) = item else { return false };
    let ServerResult::CallToolResult(result) = &mut response.result else { return false };
    let Some(meta) = result.meta.as_mut() else { return false };
    let marked = meta.0.remove(STRUCTURED_IS_TEXT).is_some();
    if meta.0.is_empty() {
        result.meta = None;
    }
    marked
}

/// The text of a tool result made of one text block, [`TEXT_PLACEHOLDER`]
/// left in its place.
fn take_only_text(item: &mut TxJsonRpcMessage<RoleServer>) -> Option<String> {
    let JsonRpcMessage::Response(response) = item else { return None };
    let ServerResult::CallToolResult(result) = &mut response.result else { return None };
    match result.content.as_mut_slice() {
        [ContentBlock::Text(text)] => Some(std::mem::replace(&mut text.text, TEXT_PLACEHOLDER.to_owned())),
        _ => None,
    }
}

/// Stands for a text written apart (see `write_with_structured`); no text
/// a tool writes starts with a NUL.
const TEXT_PLACEHOLDER: &str = "\0io.dbfleet/text\0";

/// The text is escaped into the message this many bytes at a time.
const ESCAPED_PIECE_BYTES: usize = 64 * 1024;

/// `text` in pieces of about `bytes` bytes, cut between characters.
fn pieces(text: &str, bytes: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = bytes.min(rest.len());
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

/// rmcp polls `receive` inside a `select!` and may drop it half-way, so
/// what was read stays here until its line is complete: `line` holds the
/// bytes of the current line, and `skipping` says that it is too long and is
/// being read past rather than kept.
pub struct LineTransport<R, W> {
    reader: BufReader<R>,
    line: Vec<u8>,
    skipping: bool,
    writer: Arc<Mutex<W>>,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> LineTransport<R, W> {
    pub fn new(reader: R, writer: W) -> Self {
        LineTransport {
            reader: BufReader::new(reader),
            line: Vec::new(),
            skipping: false,
            writer: Arc::new(Mutex::new(writer)),
        }
    }

    /// Reads up to the end of the next line, into `self.line` (without its
    /// end of line) when it fits. `None` at the end of input; `Some(false)`
    /// for a line too long to keep. Cancel-safe: a call dropped half-way
    /// leaves what it read for the next one.
    async fn next_line(&mut self) -> std::io::Result<Option<bool>> {
        while !self.skipping {
            let room = MAX_LINE_BYTES.saturating_sub(self.line.len() as u64);
            let read = (&mut self.reader).take(room).read_until(b'\n', &mut self.line).await?;
            if self.line.last() == Some(&b'\n') {
                self.line.pop();
                if self.line.last() == Some(&b'\r') {
                    self.line.pop();
                }
                return Ok(Some(true));
            }
            if read == 0 && (self.line.len() as u64) < MAX_LINE_BYTES {
                // The end of input, maybe after a last line without its end.
                return Ok(if self.line.is_empty() { None } else { Some(true) });
            }
            if self.line.len() as u64 >= MAX_LINE_BYTES {
                self.line.clear();
                self.skipping = true;
            }
        }
        loop {
            let buffer = self.reader.fill_buf().await?;
            if buffer.is_empty() {
                self.skipping = false;
                return Ok(Some(false));
            }
            match buffer.iter().position(|b| *b == b'\n') {
                Some(end) => {
                    self.reader.consume(end + 1);
                    self.skipping = false;
                    return Ok(Some(false));
                }
                None => {
                    let len = buffer.len();
                    self.reader.consume(len);
                }
            }
        }
    }

    async fn write_line(writer: &Mutex<W>, mut bytes: Vec<u8>) -> std::io::Result<()> {
        bytes.push(b'\n');
        let mut writer = writer.lock().await;
        writer.write_all(&bytes).await?;
        writer.flush().await
    }

    /// Writes the message `item`, whose only content block's text was taken
    /// out as `text`, with that text twice: escaped as the block's text, and
    /// as it is as `structuredContent`.
    ///
    /// Hand-spliced because rmcp can only serialize `structuredContent` from
    /// a tree: the message is serialized with [`TEXT_PLACEHOLDER`] for its
    /// text and without structured content; since the result is the
    /// response's last field, its last two bytes (`}}`) close the result and
    /// the response. The text is escaped a piece at a time, so a large answer
    /// is held once, not next to an escaped copy; it was a valid JSON
    /// document when the tool wrote it.
    async fn write_with_structured(
        writer: &Mutex<W>,
        item: &TxJsonRpcMessage<RoleServer>,
        text: &str,
    ) -> std::io::Result<()> {
        let frame = serde_json::to_vec(item).map_err(std::io::Error::other)?;
        let placeholder = serde_json::to_vec(TEXT_PLACEHOLDER).map_err(std::io::Error::other)?;
        let spliced = frame.strip_suffix(b"}}").and_then(|head| {
            // The last one: the id, written before the content, is the client's.
            let at = head.windows(placeholder.len()).rposition(|w| w == placeholder.as_slice())?;
            Some((&head[..at + 1], &head[at + placeholder.len() - 1..]))
        });
        let Some((before, after)) = spliced else {
            return Err(std::io::Error::other("a tool result did not end as a JSON-RPC response does"));
        };
        let mut guard = writer.lock().await;
        // One write for a small answer: every write can wake the client
        // before its line is whole.
        let buffer = (frame.len() + 2 * text.len()).min(ESCAPED_PIECE_BYTES * 2);
        let mut writer = tokio::io::BufWriter::with_capacity(buffer, &mut *guard);
        writer.write_all(before).await?;
        let mut escaped = Vec::with_capacity(ESCAPED_PIECE_BYTES + ESCAPED_PIECE_BYTES / 4);
        for piece in pieces(text, ESCAPED_PIECE_BYTES) {
            escaped.clear();
            serde_json::to_writer(&mut escaped, piece).map_err(std::io::Error::other)?;
            writer.write_all(&escaped[1..escaped.len() - 1]).await?;
        }
        writer.write_all(after).await?;
        writer.write_all(b",\"structuredContent\":").await?;
        writer.write_all(text.as_bytes()).await?;
        writer.write_all(b"}}\n").await?;
        writer.flush().await
    }

    /// The answer to a line that is not a message dbfleet can handle, when it
    /// is a request whose `id` can be read.
    fn refusal(line: &[u8], fits: bool, error: Option<serde_json::Error>) -> Option<Vec<u8>> {
        // serde_json skips unknown fields without recursing, so this reads
        // the id of a message nested too deep to parse whole.
        #[derive(Deserialize)]
        struct Envelope {
            id: Option<serde_json::Value>,
            method: Option<String>,
        }
        let envelope = if fits { serde_json::from_slice::<Envelope>(line).ok() } else { None };
        let (id, code, message) = match (envelope, error) {
            (Some(Envelope { id: Some(id), method: Some(_) }), Some(error)) => {
                (id, INVALID_REQUEST, format!("the request could not be read: {error}"))
            }
            (None, _) if !fits => (
                serde_json::Value::Null,
                PARSE_ERROR,
                format!("the message is longer than {MAX_LINE_BYTES} bytes"),
            ),
            _ => {
                tracing::debug!("ignoring a line that is not an answerable request");
                return None;
            }
        };
        tracing::warn!(code, %message, "refused a request");
        let answer = json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } });
        Some(answer.to_string().into_bytes())
    }
}

impl<R, W> Transport<RoleServer> for LineTransport<R, W>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        mut item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let writer = self.writer.clone();
        async move {
            if take_mark(&mut item)
                && let Some(text) = take_only_text(&mut item)
            {
                return Self::write_with_structured(&writer, &item, &text).await;
            }
            let bytes = serde_json::to_vec(&item).map_err(std::io::Error::other)?;
            Self::write_line(&writer, bytes).await
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            let fits = match self.next_line().await {
                Ok(Some(fits)) => fits,
                Ok(None) => return None,
                Err(err) => {
                    tracing::error!(error = %err, "cannot read stdin");
                    return None;
                }
            };
            let line = std::mem::take(&mut self.line);
            let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&line);
            if fits && line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let error = match fits.then(|| serde_json::from_slice(line)) {
                Some(Ok(message)) => return Some(message),
                Some(Err(error)) => Some(error),
                None => None,
            };
            if let Some(answer) = Self::refusal(line, fits, error) {
                // Written by a task of its own, so that a `receive` dropped
                // half-way neither loses the answer nor cuts it off.
                let writer = self.writer.clone();
                tokio::spawn(async move {
                    if let Err(err) = Self::write_line(&writer, answer).await {
                        tracing::error!(error = %err, "cannot write stdout");
                    }
                });
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.writer.lock().await.flush().await
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{JsonRpcResponse, JsonRpcVersion2_0, NumberOrString, RequestId};
    use serde_json::{Value, json};
    use tokio::io::AsyncBufReadExt;

    use super::*;

    async fn written(result: CallToolResult) -> Value {
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let (_, writer) = tokio::io::split(ours);
        let mut transport = LineTransport::new(tokio::io::empty(), writer);
        let id: RequestId = NumberOrString::String("call-7".into());
        let message = JsonRpcMessage::Response(JsonRpcResponse {
            jsonrpc: JsonRpcVersion2_0,
            id,
            result: ServerResult::CallToolResult(result),
        });
        let mut line = String::new();
        let mut reader = BufReader::new(theirs);
        let (sent, read) = tokio::join!(transport.send(message), reader.read_line(&mut line));
        sent.unwrap();
        read.unwrap();
        assert!(line.ends_with("}\n"), "{line}");
        serde_json::from_str(&line).unwrap()
    }

    #[tokio::test]
    async fn structured_content_is_written_from_the_text() {
        let document = json!({"rows": [[1, "a \"quoted\" \\ line\n", null]], "row_count": 1});
        let message = written(text_as_structured(document.to_string())).await;
        assert_eq!(message["id"], "call-7");
        let result = &message["result"];
        assert_eq!(result["structuredContent"], document);
        assert_eq!(
            result["content"][0]["text"].as_str().map(serde_json::from_str::<Value>).unwrap().unwrap(),
            document
        );
        assert_eq!(result["isError"], false);
        assert!(result.get("_meta").is_none(), "the mark is taken off: {message}");
    }

    #[tokio::test]
    async fn a_text_longer_than_a_piece_is_escaped_whole() {
        // Quotes, backslashes, control characters and characters of two to
        // four bytes fall on every side of the pieces' ends.
        let cells: Vec<String> = (0..40_000).map(|i| format!("é\"{i}\\\n€😀\u{1}")).collect();
        let document = json!({"rows": [cells], "row_count": 1});
        let text = document.to_string();
        assert!(text.len() > 4 * ESCAPED_PIECE_BYTES, "{}", text.len());
        let message = written(text_as_structured(text.clone())).await;
        assert_eq!(message["result"]["content"][0]["text"].as_str(), Some(text.as_str()));
        assert_eq!(message["result"]["structuredContent"], document);
    }

    #[test]
    fn pieces_end_between_characters_and_cover_the_text() {
        let text = "aé€😀".repeat(1000);
        for size in [1, 2, 3, 5, 64] {
            let pieces: Vec<&str> = pieces(&text, size).collect();
            assert_eq!(pieces.concat(), text);
            assert!(pieces.iter().all(|p| !p.is_empty() && p.len() < size + 4), "{size}");
        }
        assert_eq!(pieces("", 8).count(), 0);
    }

    #[tokio::test]
    async fn other_metadata_and_unmarked_results_are_left_as_they_are() {
        let mut marked = text_as_structured("{}".into());
        marked.meta.as_mut().unwrap().0.insert("traceparent".into(), "00-1-2-01".into());
        let message = written(marked).await;
        assert_eq!(message["result"]["_meta"], json!({"traceparent": "00-1-2-01"}));
        assert_eq!(message["result"]["structuredContent"], json!({}));

        let plain = CallToolResult::success(vec![ContentBlock::text("not JSON")]);
        let message = written(plain).await;
        assert!(message["result"].get("structuredContent").is_none(), "{message}");
        assert_eq!(message["result"]["content"][0]["text"], "not JSON");
    }
}
