using BatchSync.Domain;

namespace BatchSync.Tests;

/// <summary>
/// What every <see cref="IRecordStore"/> must do, run against the DynamoDB store on moto (integration tests) and against
/// the in-memory fake (unit tests): so the fake the unit tests lean on is as strict as the real store. Linked into both
/// test projects.
/// </summary>
public static class StoreContract
{
    private static TaskRecord Submitting(string token, long now) => new()
    {
        TaskKey = TaskKey.For(token), TaskToken = token, Status = RecordStatus.Submitting, JobName = "j", JobQueue = "q",
        CreatedAt = now, UpdatedAt = now, Submit = SubmitState.Leased, LeaseId = "holder", LeaseUntil = now + 30_000,
    };

    public static async Task LeasesAsync(IRecordStore store)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var record = Submitting($"lease-{Guid.NewGuid()}", now);
        Assert.True(await store.TryCreateAsync(record));
        Assert.False(await store.TryCreateAsync(record with { TaskToken = "other" }));

        // A live lease cannot be taken; a lapsed one can, by one taker only.
        Assert.False(await store.TryTakeLeaseAsync(record.TaskKey, SubmitState.Leased, "second", now + 60_000, now));
        Assert.True(await store.TryTakeLeaseAsync(record.TaskKey, SubmitState.Leased, "second", now + 60_000, now + 31_000));
        Assert.False(await store.TryTakeLeaseAsync(record.TaskKey, SubmitState.Leased, "third", now + 60_000, now + 31_000));
        Assert.Equal(("second", SubmitState.Leased), ((await store.GetAsync(record.TaskKey))!.LeaseId, (await store.GetAsync(record.TaskKey))!.Submit));

        // Only the holder releases; what it says decides what a later taker may do.
        Assert.False(await store.ReleaseLeaseAsync(record.TaskKey, "holder", SubmitState.NotSent, "not mine"));
        Assert.True(await store.ReleaseLeaseAsync(record.TaskKey, "second", SubmitState.OutcomeUnknown, "lost answer"));
        var released = (await store.GetAsync(record.TaskKey))!;
        Assert.Equal((SubmitState.OutcomeUnknown, null, null, "lost answer"), (released.Submit, released.LeaseId, released.LeaseUntil, released.Reason));
        Assert.False(await store.TryTakeLeaseAsync(record.TaskKey, SubmitState.NotSent, "fourth", now + 60_000, now));
        Assert.True(await store.TryTakeLeaseAsync(record.TaskKey, SubmitState.OutcomeUnknown, "fourth", now + 60_000, now));

        // Once a job is noted, there is no lease to take.
        Assert.Equal(AttachOutcome.Attached, (await store.AttachJobAsync(record.TaskKey, new SubmittedJob("arn:job/j-1", "j-1", "j"))).Outcome);
        Assert.False(await store.TryTakeLeaseAsync(record.TaskKey, SubmitState.Leased, "fifth", now + 60_000, now + 120_000));
        var attached = (await store.GetAsync(record.TaskKey))!;
        Assert.Equal((RecordStatus.Submitted, "j-1", null, null), (attached.Status, attached.JobId, attached.Submit, attached.LeaseId));
    }

    public static async Task GuardedAttachAsync(IRecordStore store)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var record = Submitting($"attach-{Guid.NewGuid()}", now);
        await store.TryCreateAsync(record);
        var (first, after) = await store.AttachJobAsync(record.TaskKey, new SubmittedJob("arn:job/a", "a", "j"));
        Assert.Equal((AttachOutcome.Attached, "a"), (first, after!.JobId));
        Assert.Equal(AttachOutcome.AlreadyAttached, (await store.AttachJobAsync(record.TaskKey, new SubmittedJob("arn:job/a", "a", "j"))).Outcome);
        // DynamoDB would overwrite: the condition keeps the first job.
        var (lost, kept) = await store.AttachJobAsync(record.TaskKey, new SubmittedJob("arn:job/b", "b", "j"));
        Assert.Equal((AttachOutcome.OtherJob, "a"), (lost, kept!.JobId));
        Assert.Equal("a", (await store.FindByJobIdAsync("a"))!.JobId);
        Assert.Null(await store.FindByJobIdAsync("b"));

        var ended = Submitting($"ended-{Guid.NewGuid()}", now);
        await store.TryCreateAsync(ended);
        Assert.True(await store.FinishAsync(ended.TaskKey, new RecordEnding(RecordStatus.Closed, "execution ABORTED")));
        var (late, unchanged) = await store.AttachJobAsync(ended.TaskKey, new SubmittedJob("arn:job/c", "c", "j"));
        Assert.Equal((AttachOutcome.FinishedWithoutJob, null, RecordStatus.Closed), (late, unchanged!.JobId, unchanged.Status));
        Assert.Equal(AttachOutcome.NoRecord, (await store.AttachJobAsync("no-such-key", new SubmittedJob("arn:job/d", "d", "j"))).Outcome);
        Assert.Null(await store.GetAsync("no-such-key"));
    }

    public static async Task AnswerClaimsAsync(IRecordStore store)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var record = Submitting($"claim-{Guid.NewGuid()}", now);
        await store.TryCreateAsync(record);
        var (claimed, current) = await store.TryClaimAnswerAsync(record.TaskKey, "one", now + 70_000, now);
        Assert.Equal((ClaimOutcome.Claimed, "one", record.TaskToken), (claimed, current!.AnswerClaimId, current.TaskToken));
        Assert.Equal(ClaimOutcome.Held, (await store.TryClaimAnswerAsync(record.TaskKey, "two", now + 70_000, now + 1_000)).Outcome);
        Assert.Equal(ClaimOutcome.ClaimedAfterExpiredClaim, (await store.TryClaimAnswerAsync(record.TaskKey, "three", now + 200_000, now + 71_000)).Outcome);
        // Only its holder gives a claim up; then the next claim is a first one again.
        await store.ReleaseAnswerClaimAsync(record.TaskKey, "one");
        Assert.Equal(ClaimOutcome.Held, (await store.TryClaimAnswerAsync(record.TaskKey, "x", now + 200_000, now + 72_000)).Outcome);
        await store.ReleaseAnswerClaimAsync(record.TaskKey, "three");
        Assert.Equal(ClaimOutcome.Claimed, (await store.TryClaimAnswerAsync(record.TaskKey, "four", now + 200_000, now + 72_000)).Outcome);
        Assert.True(await store.FinishAsync(record.TaskKey, new RecordEnding(RecordStatus.Succeeded, "job SUCCEEDED")));
        Assert.Equal(ClaimOutcome.Finished, (await store.TryClaimAnswerAsync(record.TaskKey, "five", now + 300_000, now + 300_000)).Outcome);
        Assert.Equal(ClaimOutcome.Finished, (await store.TryClaimAnswerAsync("no-such-key", "five", now, now)).Outcome);
        var finished = (await store.GetAsync(record.TaskKey))!;
        Assert.Equal((RecordStatus.Succeeded, null, null), (finished.Status, finished.AnswerClaimId, finished.AnswerClaimUntil));
    }

    public static async Task MissingJobsAsync(IRecordStore store)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var record = Submitting($"missing-{Guid.NewGuid()}", now);
        await store.TryCreateAsync(record);
        await store.SetJobMissingSinceAsync(record.TaskKey, now);
        Assert.Equal(now, (await store.GetAsync(record.TaskKey))!.JobMissingSince);
        await store.SetJobMissingSinceAsync(record.TaskKey, null);
        Assert.Null((await store.GetAsync(record.TaskKey))!.JobMissingSince);
        await store.FinishAsync(record.TaskKey, new RecordEnding(RecordStatus.Closed, "x"));
        await store.SetJobMissingSinceAsync(record.TaskKey, now);
        Assert.Null((await store.GetAsync(record.TaskKey))!.JobMissingSince);
    }

    /// <summary>Due records read by part: each part returns only its own shards, and the parts together return each once.</summary>
    public static async Task DueByPartAsync(IRecordStore store)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var mine = new List<string>();
        for (var i = 0; i < 32; i++)
        {
            var record = Submitting($"due-{Guid.NewGuid()}", now) with { NextCheckAt = now - 60_000 };
            await store.TryCreateAsync(record);
            mine.Add(record.TaskKey);
        }
        var seen = new List<string>();
        for (var part = 1; part <= 4; part++)
        {
            var shards = new SweepRequest(part, 4).Shards;
            var due = await store.ListDueAsync(now, 10_000, shards);
            Assert.All(due, r => Assert.Contains(DueShards.Of(r.TaskKey), shards));
            seen.AddRange(due.Select(r => r.TaskKey).Where(mine.Contains));
        }
        Assert.Equal(mine.Order(StringComparer.Ordinal), seen.Order(StringComparer.Ordinal));
        // Not yet due: none of them.
        Assert.DoesNotContain(await store.ListDueAsync(now - 120_000, 10_000, DueShards.All.ToList()), r => mine.Contains(r.TaskKey));
    }

    /// <summary>A record's job kind (issue 21) survives every read: by key, by job id, by execution, and due.</summary>
    public static async Task JobKindsAsync(IRecordStore store)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var execution = $"arn:aws:states:us-east-1:123456789012:execution:sm:kinds-{Guid.NewGuid()}";
        var service = Submitting($"kind-service-{Guid.NewGuid()}", now) with { JobKind = JobKind.Service, ExecutionArn = execution, NextCheckAt = now - 1 };
        var container = Submitting($"kind-container-{Guid.NewGuid()}", now) with { ExecutionArn = execution, NextCheckAt = now - 1 };
        Assert.True(await store.TryCreateAsync(service));
        Assert.True(await store.TryCreateAsync(container));
        Assert.Equal(JobKind.Service, (await store.GetAsync(service.TaskKey))!.JobKind);
        Assert.Equal(JobKind.Container, (await store.GetAsync(container.TaskKey))!.JobKind);

        var jobId = $"service-job-{Guid.NewGuid()}";
        var (outcome, attached) = await store.AttachJobAsync(service.TaskKey, new SubmittedJob($"arn:aws:batch:us-east-1:123456789012:service-job/{jobId}", jobId, "j", JobKind.Service));
        Assert.Equal((AttachOutcome.Attached, JobKind.Service), (outcome, attached!.JobKind));
        Assert.Equal(JobKind.Service, (await store.FindByJobIdAsync(jobId))!.JobKind);
        var open = await store.FindOpenByExecutionAsync(execution);
        Assert.Equal(JobKind.Service, open.Single(r => r.TaskKey == service.TaskKey).JobKind);
        Assert.Equal(JobKind.Container, open.Single(r => r.TaskKey == container.TaskKey).JobKind);
        var due = await store.ListDueAsync(now + 60_000, 1000);
        Assert.Equal(JobKind.Service, due.Single(r => r.TaskKey == service.TaskKey).JobKind);
        Assert.True(await store.FinishAsync(service.TaskKey, new RecordEnding(RecordStatus.Succeeded, "done")));
        Assert.Equal(JobKind.Service, (await store.GetAsync(service.TaskKey))!.JobKind);
    }
}
