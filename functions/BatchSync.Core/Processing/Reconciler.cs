using System.Text.Json;
using BatchSync.Aws;
using BatchSync.Logging;
using BatchSync.Mapping;
using BatchSync.Store;
using BatchSync.Tasks;

namespace BatchSync.Processing;

/// <summary>
/// The Reconcile function's core. Two kinds of EventBridge events reach it:
/// "Step Functions Execution Status Change" (ABORTED, TIMED_OUT, FAILED): terminate every unfinished job the execution
/// started, as the native integration does; and the scheduled sweep: every unfinished record is checked against
/// DescribeJobs (100 at a time), delivering outcomes whose event was lost, heartbeating the rest, and failing tasks
/// whose job Batch no longer knows.
/// </summary>
public sealed class Reconciler(IBatchApi batch, ITaskApi tasks, IJobStore store, string ns, TimeProvider clock, Failures.AnswerSettings? answers = null)
{
    public const string ExecutionStatusChange = "Step Functions Execution Status Change";
    public const string ScheduledEvent = "Scheduled Event";
    private static readonly HashSet<string> StoppedStatuses = ["ABORTED", "TIMED_OUT", "FAILED"];

    private readonly TaskResponder _responder = new(batch, tasks, store, answers);
    private readonly OrphanFinder _orphans = new(batch, ns);

    /// <summary>How long one sweep may run before it stops and leaves the rest to the next one.</summary>
    public TimeSpan SweepBudget { get; init; } = TimeSpan.FromSeconds(40);

    public async Task<ReconcileAnswer> HandleAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        string detailType;
        string? executionArn = null;
        string? status = null;
        try
        {
            using var doc = JsonInput.Parse(payload);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("detail-type", out var type) || type.ValueKind != JsonValueKind.String)
            {
                throw new InvalidEventException("Reconcile takes EventBridge events with a detail-type");
            }
            detailType = type.GetString()!;
            if (detailType == ExecutionStatusChange)
            {
                var detail = root.TryGetProperty("detail", out var d) && d.ValueKind == JsonValueKind.Object ? d
                    : throw new InvalidEventException("detail must be an object");
                executionArn = detail.TryGetProperty("executionArn", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString()
                    : throw new InvalidEventException("detail.executionArn must be a string");
                status = detail.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString()
                    : throw new InvalidEventException("detail.status must be a string");
            }
        }
        catch (JsonException e)
        {
            throw new InvalidEventException(JsonInput.NotJson("payload", e));
        }

        return detailType switch
        {
            ExecutionStatusChange when StoppedStatuses.Contains(status!) => await StopAsync(executionArn!, status!, cancellationToken).ConfigureAwait(false),
            ExecutionStatusChange => new ReconcileAnswer("Ignored", Reason: $"execution status {status} stops nothing"),
            ScheduledEvent => await SweepAsync(cancellationToken).ConfigureAwait(false),
            _ => throw new InvalidEventException($"detail-type \"{detailType}\" is neither \"{ExecutionStatusChange}\" nor \"{ScheduledEvent}\""),
        };
    }

    /// <summary>An execution stopped: terminate the jobs it started and close their records (one index query).</summary>
    public async Task<ReconcileAnswer> StopAsync(string executionArn, string status, CancellationToken cancellationToken = default)
    {
        var records = await store.FindOpenByExecutionAsync(executionArn, cancellationToken).ConfigureAwait(false);
        var terminated = 0;
        foreach (var record in records)
        {
            if (TaskDecisions.OnExecutionStopped(record, executionArn, status) is StopDecision.TerminateAndClose close)
            {
                await _responder.CloseAsync(record, close.Ending, close.TerminateReason, cancellationToken).ConfigureAwait(false);
                terminated += close.JobId is null ? 0 : 1;
            }
        }
        Log.Info("Execution {ExecutionArn} {Status}: {Records} unfinished task(s), {Terminated} job(s) terminated", executionArn, status, records.Count, terminated);
        return new ReconcileAnswer("Stopped", Examined: records.Count, Terminated: terminated);
    }

    public async Task<ReconcileAnswer> SweepAsync(CancellationToken cancellationToken = default)
    {
        var started = clock.GetTimestamp();
        var tally = new SweepTally();
        string? page = null;
        do
        {
            var (records, next) = await store.ListOpenAsync(page, BatchClient.MaxDescribeJobs, cancellationToken).ConfigureAwait(false);
            var ids = records.Where(r => r.JobId is not null).Select(r => r.JobId!).Distinct().ToList();
            var described = ids.Count == 0
                ? new Dictionary<string, JsonElement>()
                : (await batch.DescribeJobsAsync(ids, cancellationToken).ConfigureAwait(false))
                    .Where(j => j.TryGetProperty("jobId", out _))
                    .ToDictionary(j => j.GetProperty("jobId").GetString()!);
            foreach (var record in records)
            {
                await SweepOneAsync(record, described, tally, cancellationToken).ConfigureAwait(false);
            }
            page = next;
        }
        while (page is not null && clock.GetElapsedTime(started) < SweepBudget);

        Log.Info("Sweep: {Examined} unfinished, {Delivered} delivered, {Heartbeats} heartbeats, {Terminated} terminated, {Failed} failed{More}",
            tally.Examined, tally.Delivered, tally.Heartbeats, tally.Terminated, tally.Failed, page is null ? "" : " (budget spent; the rest next time)");
        return new ReconcileAnswer("Swept", tally.Examined, tally.Delivered, tally.Heartbeats, tally.Terminated, tally.Failed);
    }

    private async Task SweepOneAsync(JobRecord record, Dictionary<string, JsonElement> described, SweepTally tally, CancellationToken cancellationToken)
    {
        tally.Examined++;
        JsonElement? detail = record.JobId is not null && described.TryGetValue(record.JobId, out var d) ? d : null;
        var view = detail is { } e && e.TryGetProperty("status", out var s) ? new JobView(record.JobId!, s.GetString()!) : null;
        switch (TaskDecisions.OnSweep(record, view, clock.GetUtcNow()))
        {
            case SweepDecision.Deliver:
                await _responder.DeliverAsync(record, detail!.Value, view!.Status == "SUCCEEDED", cancellationToken).ConfigureAwait(false);
                tally.Delivered++;
                break;
            case SweepDecision.Heartbeat:
                var answer = await _responder.HeartbeatAsync(record, "sweep heartbeat", cancellationToken).ConfigureAwait(false);
                tally.Heartbeats++;
                tally.Terminated += answer == TaskAnswer.TaskClosed ? 1 : 0;
                break;
            case SweepDecision.FindOrphan:
                if (await _orphans.FindAsync(record, cancellationToken).ConfigureAwait(false) is { } orphan)
                {
                    await store.AttachJobAsync(record.TaskKey, orphan, cancellationToken).ConfigureAwait(false);
                    Log.Info("Sweep found job {JobId} for a task whose submit never reported it", orphan.JobId);
                }
                else
                {
                    await _responder.FailAsync(record, TaskDecisions.JobNotFoundError,
                        $"SubmitJob did not complete and no job named {record.JobName} carries this task's marker in queue {record.JobQueue}.",
                        "submit never completed", cancellationToken).ConfigureAwait(false);
                    tally.Failed++;
                }
                break;
            case SweepDecision.FailTask fail:
                await _responder.FailAsync(record, fail.Error, fail.Cause, "job unknown to Batch", cancellationToken).ConfigureAwait(false);
                tally.Failed++;
                break;
        }
    }

    private sealed class SweepTally
    {
        public int Examined;
        public int Delivered;
        public int Heartbeats;
        public int Terminated;
        public int Failed;
    }
}
