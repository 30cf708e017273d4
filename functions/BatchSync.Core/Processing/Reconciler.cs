using BatchSync.Domain;
using BatchSync.Logging;

namespace BatchSync.Processing;

/// <summary>
/// The Reconcile function's core. Two kinds of EventBridge events reach it:
/// "Step Functions Execution Status Change" (ABORTED, TIMED_OUT, FAILED): terminate every unfinished job the execution
/// started, as the native integration does; and the scheduled sweep: every unfinished record is checked against
/// DescribeJobs (100 at a time), delivering outcomes whose event was lost, heartbeating the rest, and failing tasks
/// whose job Batch no longer knows.
/// </summary>
public sealed class Reconciler(IBatchApi batch, IStepFunctionsRouter stepFunctions, IRecordStore store, string ns, TimeProvider clock, Timing? timing = null, Failures.AnswerSettings? answers = null)
{
    private readonly Timing _timing = timing ?? Timing.Default;
    private readonly JobSearch _search = new(batch, store, new TaskResponder(batch, stepFunctions, store, clock, timing, answers), ns, clock, timing ?? Timing.Default);
    private TaskResponder _responder => _search.Responder;

    /// <summary>How long one sweep may run before it stops and leaves the rest to the next one.</summary>
    public TimeSpan SweepBudget { get; init; } = TimeSpan.FromSeconds(40);

    public async Task<ReconcileResponse> HandleAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default) =>
        ReconcileInput.Parse(payload) switch
        {
            ReconcileInput.ExecutionStatus { Event.IsStop: true } stop => await StopAsync(stop.Event, cancellationToken).ConfigureAwait(false),
            ReconcileInput.ExecutionStatus other => new ReconcileResponse("Ignored", Reason: $"execution status {other.Event.Status} stops nothing"),
            ReconcileInput.Sweep sweep => await SweepAsync(sweep.Part, cancellationToken).ConfigureAwait(false),
            _ => throw new InvalidOperationException("Unhandled Reconcile input."),
        };

    /// <summary>An execution stopped: terminate the jobs it started and close their records (one index query).</summary>
    public async Task<ReconcileResponse> StopAsync(ExecutionStatusEvent stop, CancellationToken cancellationToken = default)
    {
        var records = await store.FindOpenByExecutionAsync(stop.ExecutionArn, cancellationToken).ConfigureAwait(false);
        var terminated = 0;
        foreach (var record in records)
        {
            switch (TaskDecisions.OnExecutionStopped(record, stop))
            {
                case StopDecision.TerminateAndClose close:
                    await _responder.CloseAsync(record, close.Ending, close.TerminateReason, cancellationToken).ConfigureAwait(false);
                    terminated += close.JobId is null ? 0 : 1;
                    break;
                case StopDecision.Ignore ignore:
                    Log.Info("Stop of {ExecutionArn} leaves the task of job {JobId} alone: {Reason}", stop.ExecutionArn, record.JobId, ignore.Why);
                    break;
            }
        }
        Log.Info("Execution {ExecutionArn} {Status}: {Records} unfinished task(s), {Terminated} job(s) terminated", stop.ExecutionArn, stop.Status, records.Count, terminated);
        return new ReconcileResponse("Stopped", Examined: records.Count, Terminated: terminated);
    }

    /// <summary>How many due records one pass reads (then DescribeJobs 100 at a time, and the checks in parallel).</summary>
    public int PassSize { get; init; } = 1000;

    /// <summary>How many records are checked at once (heartbeats and deliveries in flight).</summary>
    public int Concurrency { get; init; } = 16;

    /// <summary>
    /// The sweep: only records that are due (each carries its next check time), the longest overdue first, in passes;
    /// each record is checked in isolation (a failure is logged, counted and rescheduled, never blocking the others) and
    /// rescheduled further out as its task ages. What one invocation cannot reach in its budget stays due for the next.
    /// Within a pass, the records whose job has ended go first: their answers are what a lost event withheld.
    /// </summary>
    public Task<ReconcileResponse> SweepAsync(CancellationToken cancellationToken = default) => SweepAsync(SweepRequest.Whole, cancellationToken);

    /// <summary>The sweep of one part of the due index (see <see cref="SweepRequest"/>).</summary>
    public async Task<ReconcileResponse> SweepAsync(SweepRequest part, CancellationToken cancellationToken = default)
    {
        var shards = part.Parts == 1 ? null : part.Shards;
        var started = clock.GetTimestamp();
        var tally = new SweepTally();
        long? oldest = null;
        var more = false;
        while (true)
        {
            var now = clock.GetUtcNow();
            var due = await store.ListDueAsync(now.ToUnixTimeMilliseconds(), PassSize, shards, cancellationToken).ConfigureAwait(false);
            if (due.Count > 0)
            {
                var oldestCreated = due.Min(r => r.CreatedAt);
                oldest = oldest is { } o ? Math.Min(o, oldestCreated) : oldestCreated;
            }
            var described = new System.Collections.Concurrent.ConcurrentDictionary<string, BatchJob>();
            var ids = due.Where(r => r.JobId is not null).Select(r => r.JobId!).Distinct().Chunk(IBatchApi.MaxDescribeJobs).ToList();
            await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancellationToken }, async (chunk, token) =>
            {
                foreach (var job in await batch.DescribeJobsAsync(chunk, token).ConfigureAwait(false))
                {
                    described[job.JobId] = job;
                }
            }).ConfigureAwait(false);
            var reschedule = new System.Collections.Concurrent.ConcurrentBag<(string, long)>();
            var budgetSpent = false;
            // Deliveries first (a stable sort keeps the longest overdue first within each group).
            var checks = due.OrderBy(r => TaskDecisions.OnSweep(r, ViewOf(r, described), now, _timing) is SweepDecision.Deliver ? 0 : 1).ToList();
            await Parallel.ForEachAsync(checks, new ParallelOptions { MaxDegreeOfParallelism = Concurrency, CancellationToken = cancellationToken }, async (record, token) =>
            {
                if (clock.GetElapsedTime(started) >= SweepBudget)
                {
                    budgetSpent = true; // left due: the next sweep takes it first
                    return;
                }
                await SweepOneAsync(record, described, tally, token).ConfigureAwait(false);
                reschedule.Add((record.TaskKey, TaskDecisions.NextCheckAt(record, clock.GetUtcNow(), _timing)));
            }).ConfigureAwait(false);
            await store.RescheduleAsync(reschedule.ToList(), cancellationToken).ConfigureAwait(false);
            more = budgetSpent || (due.Count == PassSize && clock.GetElapsedTime(started) >= SweepBudget);
            if (more || due.Count < PassSize)
            {
                break;
            }
        }

        var oldestSeconds = oldest is { } createdAt ? (clock.GetUtcNow().ToUnixTimeMilliseconds() - createdAt) / 1000.0 : (double?)null;
        Log.Info("Sweep of part {Part} of {Parts}: {Examined} due, {Delivered} delivered, {Heartbeats} heartbeats, {Terminated} terminated, {Failed} failed, {Errors} errors{More}",
            part.Part, part.Parts, tally.Examined, tally.Delivered, tally.Heartbeats, tally.Terminated, tally.Failed, tally.Errors, more ? " (budget spent; the rest next time)" : "");
        Metrics.Sweep(new SweepTotals(tally.Examined, oldestSeconds, tally.Delivered, tally.OrphansFound, tally.Terminated));
        return new ReconcileResponse("Swept", tally.Examined, tally.Delivered, tally.Heartbeats, tally.Terminated, tally.Failed, Errors: tally.Errors);
    }

    private static JobView? ViewOf(TaskRecord record, IReadOnlyDictionary<string, BatchJob> described) =>
        record.JobId is not null && described.TryGetValue(record.JobId, out var job) && job.Status is { } status
            ? new JobView(status)
            : null;

    /// <summary>One record; a failure here is logged and counted, never allowed to stop the sweep for the others.</summary>
    private async Task SweepOneAsync(TaskRecord record, IReadOnlyDictionary<string, BatchJob> described, SweepTally tally, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref tally.Examined);
        try
        {
            await DecideAsync(record, described, tally, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Interlocked.Increment(ref tally.Errors);
            if (Aws.DependencyFailures.IsDependencyFailure(e))
            {
                Log.Warn("Sweep could not handle the task of job {JobId} ({TaskKey}): {Error}", record.JobId, record.TaskKey, e.Message);
            }
            else
            {
                Log.Error(e, "Sweep failed on the task of job {JobId} ({TaskKey}): a bug", record.JobId, record.TaskKey);
            }
        }
    }

    private async Task DecideAsync(TaskRecord record, IReadOnlyDictionary<string, BatchJob> described, SweepTally tally, CancellationToken cancellationToken)
    {
        var job = record.JobId is not null && described.TryGetValue(record.JobId, out var d) ? d : null;
        var view = ViewOf(record, described);
        if (view is not null && record.JobMissingSince is not null)
        {
            await store.SetJobMissingSinceAsync(record.TaskKey, null, cancellationToken).ConfigureAwait(false);
        }
        var now = clock.GetUtcNow();
        switch (TaskDecisions.OnSweep(record, view, now, _timing))
        {
            case SweepDecision.Deliver deliver:
                var result = await _responder.DeliverAsync(record, job!, deliver.Succeeded, cancellationToken).ConfigureAwait(false);
                Interlocked.Add(ref tally.Delivered, result.Sent ? 1 : 0);
                break;
            case SweepDecision.Heartbeat:
                var reply = await _responder.HeartbeatAsync(record, "sweep heartbeat", cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref tally.Heartbeats);
                Interlocked.Add(ref tally.Terminated, reply == TaskReply.TaskClosed ? 1 : 0);
                break;
            case SweepDecision.MarkJobMissing:
                Log.Warn("Batch did not return job {JobId}; looking again at the next sweeps before failing its task", record.JobId);
                await store.SetJobMissingSinceAsync(record.TaskKey, now.ToUnixTimeMilliseconds(), cancellationToken).ConfigureAwait(false);
                break;
            case SweepDecision.FindJob find:
                await FindJobAsync(record, find.Seen, tally, cancellationToken).ConfigureAwait(false);
                break;
            case SweepDecision.FailTask fail:
                var failed = await _responder.FailAsync(record, fail.Error, fail.Cause, fail.Error, cancellationToken).ConfigureAwait(false);
                Interlocked.Add(ref tally.Failed, failed.Sent ? 1 : 0);
                break;
        }
    }

    /// <summary>
    /// A submit that never noted its job: take the submit lease (so no SubmitJob re-invocation or other sweep acts at
    /// once), look for the job by its marker, and adopt it (terminating any second one), wait, or fail the task.
    /// </summary>
    private async Task FindJobAsync(TaskRecord record, SubmitState seen, SweepTally tally, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var leaseId = Guid.NewGuid().ToString("N");
        if (!await store.TryTakeLeaseAsync(record.TaskKey, seen, leaseId, (now + _timing.SubmitLease).ToUnixTimeMilliseconds(), now.ToUnixTimeMilliseconds(), cancellationToken).ConfigureAwait(false))
        {
            return; // a SubmitJob invocation (or another sweep) got there first
        }
        switch (await _search.RunAsync(record, leaseId, waitingReason: null, cancellationToken).ConfigureAwait(false))
        {
            case JobSearchResult.Adopted adopted:
                Interlocked.Add(ref tally.Terminated, adopted.Terminated);
                Interlocked.Add(ref tally.OrphansFound, adopted.Attach.Terminated ? 0 : 1);
                break;
            case JobSearchResult.Failed fail:
                var failed = await _responder.FailAsync(record, fail.Error, fail.Cause, "submit outcome unknown", cancellationToken).ConfigureAwait(false);
                Interlocked.Add(ref tally.Failed, failed.Sent ? 1 : 0);
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
        public int OrphansFound;
        public int Errors;
    }
}
