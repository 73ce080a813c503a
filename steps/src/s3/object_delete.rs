//! Deleting a set of keys, a thousand per request (S3's limit).

use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use super::connection::Connection;
use super::s3_failure::{self, Failure};
use crate::{StepContext, StepError};

/// Keys per `DeleteObjects` request.
const BATCH: usize = 1000;

/// Deletes every key; deleting a key that does not exist succeeds, as in
/// S3 itself, so a rerun is harmless. Fails naming the first keys the
/// server refused.
pub async fn delete_keys(
    conn: &Connection,
    ctx: &StepContext,
    keys: &[String],
) -> Result<(), StepError> {
    let client = conn.client().await;
    for batch in keys.chunks(BATCH) {
        let objects = batch
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StepError::new(format!("cannot build the delete request: {e}")))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| StepError::new(format!("cannot build the delete request: {e}")))?;
        let request = client
            .delete_objects()
            .bucket(&conn.bucket)
            .delete(delete)
            .send();
        let out = tokio::select! {
            r = request => r,
            _ = ctx.cancel.cancelled() => {
                return Err(Failure::Cancelled.into_step_error("delete objects in", None, conn, ctx))
            }
        };
        let out = out.map_err(|e| {
            let what = if batch.len() == 1 {
                format!("delete `{}` from", batch[0])
            } else {
                format!("delete {} objects from", batch.len())
            };
            s3_failure::step_error(e, &what, None, conn, ctx)
        })?;
        let refused: Vec<String> = out
            .errors()
            .iter()
            .map(|e| {
                format!(
                    "`{}` ({}: {})",
                    e.key().unwrap_or("?"),
                    e.code().unwrap_or("error"),
                    e.message().unwrap_or("")
                )
            })
            .collect();
        if !refused.is_empty() {
            let shown: Vec<&str> = refused.iter().take(5).map(String::as_str).collect();
            return Err(StepError::new(ctx.redactor.redact(&format!(
                "bucket `{}` refused to delete {} object(s): {}{}; check the credentials' permissions (using {})",
                conn.bucket,
                refused.len(),
                shown.join(", "),
                if refused.len() > shown.len() { ", ..." } else { "" },
                conn.credentials_source(ctx)
            ))));
        }
    }
    Ok(())
}
