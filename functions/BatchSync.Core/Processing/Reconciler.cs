using BatchSync.Domain;
using BatchSync.Logging;

namespace BatchSync.Processing;

/// <summary>
/// The Reconcile function's core. Two kinds of EventBridge events reach it:
/// "Step Functions Execution Status Change" (ABORTED, TIMED_OUT, FAILED): terminate every unfinished job the execution
/// started, as the native integration does; and the scheduled sweep: every unfinished record is checked against
/// DescribeJobs (100 at a time) or DescribeServiceJob (one at a time), delivering outcomes whose event was lost, heartbeating the rest, and failing tasks
/// whose job Batch no longer knows.
/// </summary>
public sealed class Reconciler(IBatchApi batch, IStepFunctionsRouter stepFunctions, IRecordStore store, string ns, TimeProvider clock, Timing? timing = null, Failures.AnswerSettings? answers = null)
{
    private readonly Timing _timing = timing ?? Timing.Default;
    private readonly JobSearch _search = new(batch, store, new TaskResponder(batch, stepFunctions, store, clock, timing, answers), ns, clock, timing ?? Timing.Default);
    private TaskResponder _responder => _search.Responder;

    /// <summary>How long one sweep starts checks before it stops and leaves the rest to the next one.</summary>
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

    /// <summary>How many completed checks start a reschedule write (a transaction): what a failed write leaves due.</summary>
    public int RecordBatch { get; init; } = 25;

    /// <summary>The most one write takes when checks pile up behind a slow table (DynamoDB's 100 actions a transaction).</summary>
    public int MaxRecordBatch { get; init; } = 100;

    /// <summary>How long after the sweep's checks stop starting the ones still in flight are cut (their records stay due).</summary>
    public TimeSpan CheckGrace { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>The slice of the invocation kept for writing the checks done, after the last check is cut.</summary>
    public TimeSpan RecordingSlice { get; init; } = TimeSpan.FromSeconds(6);

    /// <summary>The invocation's own budget (BATCHSYNC_INVOCATION_BUDGET_SECONDS): the sweep's windows fit inside it.</summary>
    public TimeSpan? InvocationBudget { get; init; }

    /// <summary>Step Functions calls a second for the whole sweep, shared by its parts (see <see cref="PacedStepFunctionsApi"/>).</summary>
    public double SweepCallsPerSecond { get; init; } = PacedStepFunctionsApi.DefaultSweepCallsPerSecond;

    /// <summary>
    /// DescribeServiceJob calls a second for the whole sweep, shared by its parts: a service job is described one per
    /// call (a container job's DescribeJobs takes 100), so a sweep of many training jobs is paced rather than bursting
    /// into Batch's throttling.
    /// </summary>
    public double ServiceDescribesPerSecond { get; init; } = DefaultServiceDescribesPerSecond;

    public const double DefaultServiceDescribesPerSecond = 10;

    /// <summary>
    /// The sweep: only records that are due (each carries its next check time), the longest overdue first, in passes;
    /// each record is checked in isolation (a failure is logged, counted and tried again at the next sweep, never
    /// blocking the others), and each check is recorded soon after it completes. What one invocation cannot reach in its
    /// budget stays due for the next. Within a pass, the records whose job has ended go first: their answers are what a
    /// lost event withheld.
    /// </summary>
    public Task<ReconcileResponse> SweepAsync(CancellationToken cancellationToken = default) => SweepAsync(SweepRequest.Whole, cancellationToken);

    /// <summary>The sweep of one part of the due index (see <see cref="SweepRequest"/>).</summary>
    public async Task<ReconcileResponse> SweepAsync(SweepRequest part, CancellationToken cancellationToken = default)
    {
        var windows = SweepWindows.For(SweepBudget, CheckGrace, RecordingSlice, InvocationBudget);
        using var cut = new CancellationTokenSource(windows.CutChecksAt, clock);
        using var checks = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, cut.Token);
        // The checks' writes have a deadline of their own: the invocation's deadline never cancels work already done.
        using var writeBy = new CancellationTokenSource(windows.RecordBy, clock);
        var rate = SweepCallsPerSecond / part.Parts;
        var paced = new PacedStepFunctionsRouter(stepFunctions, new TokenBucket(rate, Math.Max(1, rate), clock));
        var describes = ServiceDescribesPerSecond / part.Parts;
        var run = new SweepRun(clock.GetTimestamp(), clock.GetUtcNow(), windows, checks.Token,
            new CheckRecorder(store, RecordBatch, MaxRecordBatch, writeBy.Token), new TaskResponder(batch, paced, store, clock, _timing, answers),
            new TokenBucket(describes, Math.Max(1, describes), clock));
        var more = await RunPassesAsync(run, part.Parts == 1 ? null : part.Shards).ConfigureAwait(false);
        await run.Recorder.FlushAsync().ConfigureAwait(false);
        return Report(run, part, more);
    }

    /// <summary>Pass after pass while the window is open; true when it closed with records still due.</summary>
    private async Task<bool> RunPassesAsync(SweepRun run, IReadOnlyList<string>? shards)
    {
        while (true)
        {
            if (clock.GetElapsedTime(run.Started) >= run.Windows.StartChecksUntil)
            {
                return true;
            }
            // Records this invocation saw and could not record are still due, and come first: read past them.
            var limit = PassSize + run.Unrecorded;
            IReadOnlyList<TaskRecord> due;
            try
            {
                due = await store.ListDueAsync(clock.GetUtcNow().ToUnixTimeMilliseconds(), limit, shards, run.Checks).ConfigureAwait(false);
            }
            catch (Exception e) when (run.Tally.Examined > 0 && (e is OperationCanceledException || Aws.DependencyFailures.IsDependencyFailure(e)))
            {
                Log.Warn("Sweep could not read more due records; it reports what it did: {Error}", e.Message);
                return true;
            }
            var fresh = due.Where(r => !run.Seen.ContainsKey(r.TaskKey)).ToList();
            if (fresh.Count > 0)
            {
                await CheckPassAsync(run, fresh).ConfigureAwait(false);
                // Written before the next read, so the next pass moves on through the due set.
                await run.Recorder.FlushAsync().ConfigureAwait(false);
            }
            if (due.Count < limit || fresh.Count == 0)
            {
                return run.Tally.LeftDue > 0;
            }
        }
    }

    private async Task CheckPassAsync(SweepRun run, IReadOnlyList<TaskRecord> due)
    {
        run.NoteOldest(due.Min(r => r.CreatedAt));
        due = WithinDescribeRate(run, due);
        var jobs = await DescribeAsync(due, run.ServiceDescribes, run.Checks).ConfigureAwait(false);
        var now = clock.GetUtcNow();
        // Deliveries first (a stable sort keeps the longest overdue first within each group).
        var ordered = due.OrderBy(r => TaskDecisions.OnSweep(r, ViewOf(r, jobs.Described), now, _timing) is SweepDecision.Deliver ? 0 : 1).ToList();
        await Parallel.ForEachAsync(ordered, new ParallelOptions { MaxDegreeOfParallelism = Concurrency }, async (record, _) =>
        {
            if (run.Checks.IsCancellationRequested || clock.GetElapsedTime(run.Started) >= run.Windows.StartChecksUntil)
            {
                Interlocked.Increment(ref run.Tally.LeftDue); // the next sweep takes it first
                return;
            }
            run.Seen[record.TaskKey] = true;
            var outcome = record.JobId is { } id && jobs.Unread.ContainsKey(id)
                ? CheckOutcome.Failed
                : await SweepOneAsync(record, jobs.Described, run).ConfigureAwait(false);
            if (outcome == CheckOutcome.Cut)
            {
                Interlocked.Increment(ref run.Tally.LeftDue);
                return;
            }
            Interlocked.Increment(ref run.Tally.Examined);
            Interlocked.Add(ref run.Tally.Errors, outcome == CheckOutcome.Failed ? 1 : 0);
            run.Recorder.Add(TaskDecisions.AfterCheck(record, outcome, run.StartedAt, clock.GetUtcNow(), _timing));
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// The pass without the service jobs its describes could not reach before the window closes (one paced call each, all
    /// made before the checks start): those stay due, first for the next sweep, so a backlog of training jobs is worked
    /// through a window's worth at a time rather than described to the end of the window and checked not at all.
    /// </summary>
    private IReadOnlyList<TaskRecord> WithinDescribeRate(SweepRun run, IReadOnlyList<TaskRecord> due)
    {
        var left = run.Windows.StartChecksUntil - clock.GetElapsedTime(run.Started);
        // Three quarters of the window for describing, the rest for the checks they lead to (paced Step Functions calls,
        // 37.5 a second a part by default: a quarter of 40 s holds ten times what the describes feed it).
        var reachable = (int)Math.Max(0, Math.Floor(run.ServiceDescribes.Capacity + run.ServiceDescribes.Rate * left.TotalSeconds * 3 / 4));
        var service = 0;
        var kept = new List<TaskRecord>(due.Count);
        foreach (var record in due)
        {
            if (record.JobKind == JobKind.Service && record.JobId is not null && ++service > reachable)
            {
                run.Seen[record.TaskKey] = true;
                Interlocked.Increment(ref run.Tally.LeftDue);
                continue;
            }
            kept.Add(record);
        }
        if (service > reachable)
        {
            Log.Info("Sweep leaves {Left} service job check(s) due for the next sweep: {Reachable} describes fit this window at {Rate}/s",
                service - reachable, reachable, run.ServiceDescribes.Rate);
        }
        return kept;
    }

    /// <summary>
    /// The pass's jobs: DescribeJobs 100 ids a call, and DescribeServiceJob one id a call, paced; 4 calls at once. A call
    /// that fails leaves its jobs unread (their checks failed).
    /// </summary>
    private async Task<PassJobs> DescribeAsync(IReadOnlyList<TaskRecord> due, TokenBucket serviceDescribes, CancellationToken cancellationToken)
    {
        var jobs = new PassJobs();
        var calls = due.Where(r => r.JobId is not null).GroupBy(r => r.JobKind)
            .SelectMany(kind => kind.Select(r => r.JobId!).Distinct().Chunk(kind.Key == JobKind.Service ? 1 : IBatchApi.MaxDescribeJobs).Select(chunk => (Kind: kind.Key, Ids: chunk)))
            .ToList();
        await Parallel.ForEachAsync(calls, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (call, _) =>
        {
            var chunk = call.Ids;
            try
            {
                if (call.Kind == JobKind.Service)
                {
                    await serviceDescribes.TakeAsync(cancellationToken).ConfigureAwait(false);
                }
                foreach (var job in await batch.DescribeAsync(call.Kind, chunk, cancellationToken).ConfigureAwait(false))
                {
                    jobs.Described[job.JobId] = job;
                }
            }
            catch (Exception e) when (e is OperationCanceledException || Aws.DependencyFailures.IsDependencyFailure(e))
            {
                Log.Warn("Sweep could not describe {Jobs} job(s); their checks are tried again at the next sweep: {Error}", chunk.Length, e.Message);
                foreach (var id in chunk)
                {
                    jobs.Unread[id] = true;
                }
            }
        }).ConfigureAwait(false);
        return jobs;
    }

    private ReconcileResponse Report(SweepRun run, SweepRequest part, bool more)
    {
        var tally = run.Tally;
        var leftDue = tally.LeftDue + run.Recorder.NotRecorded;
        var oldestSeconds = run.OldestCreatedAt is { } createdAt ? (clock.GetUtcNow().ToUnixTimeMilliseconds() - createdAt) / 1000.0 : (double?)null;
        Log.Info("Sweep of part {Part} of {Parts}: {Examined} checked, {Recorded} recorded, {LeftDue} left due, {CheckFailures} failed; {Delivered} delivered, {Heartbeats} heartbeats, {Terminated} terminated, {Failed} tasks failed{More}",
            part.Part, part.Parts, tally.Examined, run.Recorder.Recorded, leftDue, tally.Errors, tally.Delivered, tally.Heartbeats, tally.Terminated, tally.Failed,
            more ? " (budget spent; the rest next time)" : "");
        Metrics.Sweep(new SweepTotals(tally.Examined, oldestSeconds, tally.Delivered, tally.OrphansFound, tally.Terminated,
            run.Recorder.Recorded, leftDue, tally.Errors));
        return new ReconcileResponse("Swept", tally.Examined, tally.Delivered, tally.Heartbeats, tally.Terminated, tally.Failed, Errors: tally.Errors,
            Recorded: run.Recorder.Recorded, LeftDue: leftDue);
    }

    private static JobView? ViewOf(TaskRecord record, IReadOnlyDictionary<string, BatchJob> described) =>
        record.JobId is not null && described.TryGetValue(record.JobId, out var job) && job.Status is { } status
            ? new JobView(status)
            : null;

    /// <summary>One record; a failure here is logged and counted, never allowed to stop the sweep for the others.</summary>
    private async Task<CheckOutcome> SweepOneAsync(TaskRecord record, IReadOnlyDictionary<string, BatchJob> described, SweepRun run)
    {
        try
        {
            await DecideAsync(record, described, run.Tally, run.Responder, run.Checks).ConfigureAwait(false);
            return CheckOutcome.Done;
        }
        catch (Exception e) when (IsCut(e, run.Checks))
        {
            return CheckOutcome.Cut;
        }
        catch (Exception e)
        {
            if (Aws.DependencyFailures.IsDependencyFailure(e))
            {
                Log.Warn("Sweep could not handle the task of job {JobId} ({TaskKey}): {Error}", record.JobId, record.TaskKey, e.Message);
            }
            else
            {
                Log.Error(e, "Sweep failed on the task of job {JobId} ({TaskKey}): a bug", record.JobId, record.TaskKey);
            }
            return CheckOutcome.Failed;
        }
    }

    /// <summary>The invocation's time ran out under the check (not the record's fault): it stays due, with no back-off.</summary>
    private static bool IsCut(Exception e, CancellationToken checks) =>
        e is IServiceCallFailure { BudgetSpent: true }
        || (checks.IsCancellationRequested && (e is OperationCanceledException || Aws.DependencyFailures.IsDependencyFailure(e)));

    private async Task DecideAsync(TaskRecord record, IReadOnlyDictionary<string, BatchJob> described, SweepTally tally, TaskResponder responder, CancellationToken cancellationToken)
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
                var result = await responder.DeliverAsync(record, job!, deliver.Succeeded, cancellationToken).ConfigureAwait(false);
                Interlocked.Add(ref tally.Delivered, result.Sent ? 1 : 0);
                break;
            case SweepDecision.Heartbeat:
                var reply = await responder.HeartbeatAsync(record, "sweep heartbeat", cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref tally.Heartbeats);
                Interlocked.Add(ref tally.Terminated, reply == TaskReply.TaskClosed ? 1 : 0);
                break;
            case SweepDecision.MarkJobMissing:
                Log.Warn("Batch did not return job {JobId}; looking again at the next sweeps before failing its task", record.JobId);
                await store.SetJobMissingSinceAsync(record.TaskKey, now.ToUnixTimeMilliseconds(), cancellationToken).ConfigureAwait(false);
                break;
            case SweepDecision.FindJob find:
                await FindJobAsync(record, find.Seen, tally, responder, cancellationToken).ConfigureAwait(false);
                break;
            case SweepDecision.FailTask fail:
                var failed = await responder.FailAsync(record, fail.Error, fail.Cause, fail.Error, cancellationToken).ConfigureAwait(false);
                Interlocked.Add(ref tally.Failed, failed.Sent ? 1 : 0);
                break;
        }
    }

    /// <summary>
    /// A submit that never noted its job: take the submit lease (so no SubmitJob re-invocation or other sweep acts at
    /// once), look for the job by its marker, and adopt it (terminating any second one), wait, or fail the task.
    /// </summary>
    private async Task FindJobAsync(TaskRecord record, SubmitState seen, SweepTally tally, TaskResponder responder, CancellationToken cancellationToken)
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
                var failed = await responder.FailAsync(record, fail.Error, fail.Cause, "submit outcome unknown", cancellationToken).ConfigureAwait(false);
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
        /// <summary>Checks whose calls failed (tried again at the next sweep).</summary>
        public int Errors;
        /// <summary>Due records this invocation read and did not check (its window closed, or a check was cut).</summary>
        public int LeftDue;
    }

    /// <summary>One sweep invocation's state: its windows, its checks' cancellation, the recorder and what it saw.</summary>
    private sealed class SweepRun(long started, DateTimeOffset startedAt, SweepWindows windows, CancellationToken checks, CheckRecorder recorder, TaskResponder responder,
        TokenBucket serviceDescribes)
    {
        /// <summary>Paces the pass's DescribeServiceJob calls.</summary>
        public TokenBucket ServiceDescribes { get; } = serviceDescribes;
        public long Started { get; } = started;
        public DateTimeOffset StartedAt { get; } = startedAt;
        public SweepWindows Windows { get; } = windows;
        public CancellationToken Checks { get; } = checks;
        public CheckRecorder Recorder { get; } = recorder;
        public TaskResponder Responder { get; } = responder;
        public SweepTally Tally { get; } = new();
        public System.Collections.Concurrent.ConcurrentDictionary<string, bool> Seen { get; } = new(StringComparer.Ordinal);
        public long? OldestCreatedAt { get; private set; }

        /// <summary>Records seen whose check was not recorded (cut, or its write failed): still due, ahead of the rest.</summary>
        public int Unrecorded => Tally.LeftDue + Recorder.NotRecorded;

        public void NoteOldest(long createdAt) => OldestCreatedAt = OldestCreatedAt is { } o ? Math.Min(o, createdAt) : createdAt;
    }

    /// <summary>The jobs of one pass as DescribeJobs gave them, and the ids it could not read.</summary>
    private sealed class PassJobs
    {
        public System.Collections.Concurrent.ConcurrentDictionary<string, BatchJob> Described { get; } = new(StringComparer.Ordinal);
        public System.Collections.Concurrent.ConcurrentDictionary<string, bool> Unread { get; } = new(StringComparer.Ordinal);
    }
}

/// <summary>
/// When, from its start, a sweep invocation stops starting checks, cuts the ones in flight, and must have written what
/// it did: all inside the invocation's budget when one is set (the template's 50 s under a 60 s timeout).
/// </summary>
public readonly record struct SweepWindows(TimeSpan StartChecksUntil, TimeSpan CutChecksAt, TimeSpan RecordBy)
{
    public static SweepWindows For(TimeSpan sweepBudget, TimeSpan checkGrace, TimeSpan recordingSlice, TimeSpan? invocationBudget)
    {
        var reserve = checkGrace + recordingSlice;
        if (invocationBudget is { } budget)
        {
            if (budget < reserve * 2)
            {
                // A small budget (tests, a short timeout): keep the same proportions.
                var scale = budget / (reserve * 2);
                checkGrace *= scale;
                recordingSlice *= scale;
                reserve = checkGrace + recordingSlice;
            }
            sweepBudget = sweepBudget < budget - reserve ? sweepBudget : budget - reserve;
        }
        return new SweepWindows(sweepBudget, sweepBudget + checkGrace, sweepBudget + reserve);
    }
}
