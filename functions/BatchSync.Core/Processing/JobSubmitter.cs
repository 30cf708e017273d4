using BatchSync.Aws;
using BatchSync.Logging;
using BatchSync.Mapping;
using BatchSync.Store;
using BatchSync.Tasks;

namespace BatchSync.Processing;

/// <summary>
/// SubmitJob's core. With a task token: write the record, submit the job carrying its record key, attach the job id,
/// and report every failure through the token. Without one (request-response): submit and answer, or throw.
/// </summary>
public sealed class JobSubmitter(IBatchApi batch, ITaskApi tasks, IJobStore store, string ns, TimeProvider clock)
{
    private readonly OrphanFinder _orphans = new(batch, ns);

    public async Task<SubmitJobAnswer> SubmitAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        string? taskKey = null;
        var mapping = SubmitRequestMapper.Map(payload, token => TaskKey.Marker(ns, taskKey = TaskKey.For(token)));
        var token = mapping.TaskToken;
        var problems = mapping.Problems;
        taskKey ??= token is null ? null : TaskKey.For(token);
        if (mapping.Request is not { } request || !mapping.IsValid)
        {
            var invalid = new InvalidInputException("SubmitJob input", problems);
            if (token is null)
            {
                throw invalid;
            }
            Log.Warn("Rejected SubmitJob input for task {TaskKey}: {Problems}", taskKey, invalid.Message);
            return await FailTaskAsync(token, invalid.ErrorName, invalid.Message, null, cancellationToken).ConfigureAwait(false);
        }

        if (token is null)
        {
            var job = await SubmitOrThrowAsync(request.Body, cancellationToken).ConfigureAwait(false);
            Log.Info("Submitted job {JobId} ({JobName}) without a task token", job.JobId, job.JobName);
            return new SubmitJobAnswer(job.JobArn, job.JobId, job.JobName);
        }

        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var created = await store.TryCreateAsync(new JobRecord
        {
            TaskKey = taskKey!,
            TaskToken = token,
            Status = RecordStatus.Submitting,
            JobName = request.JobName,
            JobQueue = request.JobQueue,
            ExecutionArn = request.ExecutionArn,
            StateName = request.StateName,
            Options = request.Options,
            CreatedAt = now,
            UpdatedAt = now,
        }, cancellationToken).ConfigureAwait(false);
        if (!created)
        {
            var existing = await store.GetAsync(taskKey!, cancellationToken).ConfigureAwait(false);
            if (existing is { JobId: not null } || existing?.IsFinished == true)
            {
                Log.Info("SubmitJob retried for task {TaskKey}: answering as the first attempt did (job {JobId})", taskKey, existing.JobId);
                return existing.JobId is null
                    ? new SubmitJobAnswer(null, null, existing.JobName, existing.Status.ToString(), existing.Reason)
                    : new SubmitJobAnswer(existing.JobArn, existing.JobId, existing.JobName);
            }
            // An earlier attempt wrote the record and stopped before noting a job: it may have submitted one.
            if (existing is not null && await _orphans.FindAsync(existing, cancellationToken).ConfigureAwait(false) is { } orphan)
            {
                Log.Info("SubmitJob retried for task {TaskKey}: found job {JobId} from the earlier attempt", taskKey, orphan.JobId);
                await AttachAsync(existing, orphan, cancellationToken).ConfigureAwait(false);
                return new SubmitJobAnswer(orphan.JobArn, orphan.JobId, orphan.JobName);
            }
        }

        SubmittedJob submitted;
        try
        {
            submitted = await batch.SubmitJobAsync(request.Body, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException e)
        {
            Log.Warn("Batch refused SubmitJob for task {TaskKey}: {ErrorCode} {RequestId}", taskKey, e.ErrorCode, e.RequestId);
            return await FailTaskAsync(token, $"Batch.{e.ErrorCode}", e.NativeCause, taskKey, cancellationToken).ConfigureAwait(false);
        }
        Log.Info("Submitted job {JobId} ({JobName}) for task {TaskKey}", submitted.JobId, submitted.JobName, taskKey);
        await AttachAsync(new JobRecord { TaskKey = taskKey!, TaskToken = token, Status = RecordStatus.Submitting, ExecutionArn = request.ExecutionArn },
            submitted, cancellationToken).ConfigureAwait(false);
        return new SubmitJobAnswer(submitted.JobArn, submitted.JobId, submitted.JobName);
    }

    /// <summary>
    /// Notes the job on its record. If the record ended meanwhile (the execution stopped while the job was being
    /// submitted), nobody waits for the job: terminate it.
    /// </summary>
    private async Task AttachAsync(JobRecord record, SubmittedJob job, CancellationToken cancellationToken)
    {
        if (!await store.AttachJobAsync(record.TaskKey, job, cancellationToken).ConfigureAwait(false))
        {
            var ended = await store.GetAsync(record.TaskKey, cancellationToken).ConfigureAwait(false) ?? record;
            if (ended.Status != RecordStatus.Closed)
            {
                return; // the job's own outcome was delivered first
            }
            Log.Warn("The task of job {JobId} ended while it was submitted ({Reason}): terminating it", job.JobId, ended.Reason);
            await batch.TerminateJobAsync(job.JobId, TaskDecisions.OrphanReason(ended), cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<SubmittedJob> SubmitOrThrowAsync(byte[] body, CancellationToken cancellationToken)
    {
        try
        {
            return await batch.SubmitJobAsync(body, cancellationToken).ConfigureAwait(false);
        }
        catch (AwsServiceException e)
        {
            throw new BatchSubmitException(e.ErrorCode, e.NativeCause);
        }
    }

    private async Task<SubmitJobAnswer> FailTaskAsync(string token, string error, string cause, string? taskKey, CancellationToken cancellationToken)
    {
        error = OutputBudget.Clip(error, OutputBudget.MaxErrorChars);
        cause = OutputBudget.Clip(cause, OutputBudget.MaxCauseChars);
        var answer = await tasks.SendTaskFailureAsync(token, error, cause, cancellationToken).ConfigureAwait(false);
        if (answer != TaskAnswer.Accepted)
        {
            Log.Warn("Step Functions did not take the failure {Error} for task {TaskKey}: {Answer}", error, taskKey, answer.ToString());
        }
        if (taskKey is not null)
        {
            await store.FinishAsync(taskKey, TaskDecisions.AfterAnswer(answer, succeeded: false, $"submit failed: {error}"), cancellationToken).ConfigureAwait(false);
        }
        return new SubmitJobAnswer(null, null, null, error, cause);
    }
}
