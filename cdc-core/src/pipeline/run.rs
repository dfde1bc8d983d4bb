//! [`run`]: the order of operations of the pipeline (module docs of [`crate::pipeline`]).

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, info_span, Instrument};

use super::config::PipelineConfig;
use super::error::PipelineError;
use super::{sink_stage, startup};
use crate::checkpoint::OffsetStore;
use crate::sink::Sink;
use crate::source::ChangeSource;
use crate::status::{StageState, Status};

/// Runs the pipeline until `cancel` fires (returns `Ok` after draining and the final checkpoint)
/// or a stage fails for good.
///
/// Transient failures never end it: an unreachable database is retried by the source, an
/// unavailable DataHub by the sink stage, both visible in `status` (and so on `/health/ready`).
///
/// Errors: [`PipelineError`] for fatal source/sink errors and checkpoint I/O failures.
pub async fn run<C, S, O>(
    source: C,
    mut sink: S,
    offsets: O,
    cfg: PipelineConfig,
    status: Status,
    cancel: CancellationToken,
) -> Result<(), PipelineError>
where
    C: ChangeSource,
    S: Sink,
    O: OffsetStore,
{
    if !startup::check_sink(&mut sink, &cfg, &status, &cancel).await? {
        return Ok(());
    }
    let Some(from) = startup::resume_point(&source, &offsets, &cfg, &status, &cancel).await? else {
        status.set_source(StageState::Stopped);
        return Ok(());
    };
    info!(resume = %from.resume, "Starting the source.");

    let (tx, rx) = mpsc::channel(cfg.channel_capacity.max(1));
    let source_cancel = cancel.child_token();
    let source_status = status.clone();
    let source_task = tokio::spawn(
        {
            let token = source_cancel.clone();
            async move {
                let res = source.run(from, tx, token).await;
                match &res {
                    Ok(()) => source_status.set_source(StageState::Stopped),
                    Err(e) => source_status.set_source(StageState::Failed(e.to_string())),
                }
                res
            }
        }
        .instrument(info_span!("source")),
    );

    let sink_result =
        sink_stage::sink_stage(rx, &mut sink, &offsets, &cfg, &status, &cancel).instrument(info_span!("sink")).await;
    // Whatever ended the sink stage, the reader must stop too.
    source_cancel.cancel();
    let source_result = source_task.await;

    sink_result?;
    match source_result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            error!(error = %e, "Source failed.");
            Err(e.into())
        }
        Err(join) => Err(PipelineError::SourceTask(join)),
    }
}
