using BatchSync.Domain;

namespace BatchSync.Tests;

// One file, compiled into the unit tests and into bench/BatchSync.SpokeBench (linked there): the store both drive.

/// <summary>
/// An in-memory <see cref="IRecordStore"/> with the same conditions as the DynamoDB one, and no kinder: a write without a
/// condition overwrites, so a racing attach or a second lease can only be stopped by the condition the store states.
/// Thread-safe, so concurrent invocations can be played.
/// </summary>
public sealed partial class InMemoryRecordStore(Action<string> note, string prefix = "Store") : IRecordStore
{
    private readonly object _gate = new();

    public Dictionary<string, TaskRecord> Records { get; } = [];

    /// <summary>Runs at the start of AttachJobAsync, to play a racing writer.</summary>
    public Action? BeforeAttach { get; set; }

    /// <summary>Runs at the start of FinishAsync, to play a failing or racing write.</summary>
    public Action? BeforeFinish { get; set; }

    private static bool IsOpen(TaskRecord r) => !r.IsFinished;

    public Task<bool> TryCreateAsync(TaskRecord record, CancellationToken cancellationToken = default)
    {
        note($"{prefix}.Create");
        lock (_gate) { return Task.FromResult(Records.TryAdd(record.TaskKey, record)); }
    }

    public Task<TaskRecord?> GetAsync(string taskKey, CancellationToken cancellationToken = default)
    {
        note($"{prefix}.Get");
        lock (_gate) { return Task.FromResult(Records.GetValueOrDefault(taskKey)); }
    }

    public Task<TaskRecord?> FindByJobIdAsync(string jobId, CancellationToken cancellationToken = default)
    {
        note($"{prefix}.FindByJobId");
        lock (_gate) { return Task.FromResult(Records.Values.FirstOrDefault(r => r.JobId == jobId)); }
    }

    public Task<bool> TryTakeLeaseAsync(string taskKey, SubmitState seen, string leaseId, long leaseUntil, long now, CancellationToken cancellationToken = default)
    {
        note($"{prefix}.TakeLease");
        lock (_gate)
        {
            if (!Records.TryGetValue(taskKey, out var r) || r.Status != RecordStatus.Submitting || r.JobId is not null)
            {
                return Task.FromResult(false);
            }
            var matches = seen == SubmitState.Leased
                ? (r.Submit is null or SubmitState.Leased) && (r.LeaseUntil is null || r.LeaseUntil < now)
                : r.Submit == seen;
            if (!matches)
            {
                return Task.FromResult(false);
            }
            Records[taskKey] = r with { Submit = SubmitState.Leased, LeaseId = leaseId, LeaseUntil = leaseUntil };
            return Task.FromResult(true);
        }
    }

    public Task<bool> ReleaseLeaseAsync(string taskKey, string leaseId, SubmitState state, string reason, CancellationToken cancellationToken = default)
    {
        note($"{prefix}.ReleaseLease");
        lock (_gate)
        {
            if (!Records.TryGetValue(taskKey, out var r) || r.Status != RecordStatus.Submitting || r.LeaseId != leaseId || r.JobId is not null)
            {
                return Task.FromResult(false);
            }
            Records[taskKey] = r with { Submit = state, Reason = reason, LeaseId = null, LeaseUntil = null };
            return Task.FromResult(true);
        }
    }

    public Task<(AttachOutcome Outcome, TaskRecord? Record)> AttachJobAsync(string taskKey, SubmittedJob job, CancellationToken cancellationToken = default)
    {
        note($"{prefix}.AttachJob");
        BeforeAttach?.Invoke();
        lock (_gate)
        {
            var written = false;
            if (Records.TryGetValue(taskKey, out var r) && IsOpen(r) && r.JobId is null)
            {
                Records[taskKey] = r with
                {
                    JobId = job.JobId, JobArn = job.JobArn, JobName = job.JobName, Status = RecordStatus.Submitted,
                    Submit = null, LeaseId = null, LeaseUntil = null,
                };
                written = true;
            }
            var after = Records.GetValueOrDefault(taskKey);
            return Task.FromResult((AttachOutcomes.Of(after, job.JobId, written), after));
        }
    }

    public Task<AnswerClaim> TryClaimAnswerAsync(string taskKey, string claimId, long claimUntil, long now, CancellationToken cancellationToken = default)
    {
        note($"{prefix}.ClaimAnswer");
        lock (_gate)
        {
            if (!Records.TryGetValue(taskKey, out var r) || !IsOpen(r))
            {
                return Task.FromResult(new AnswerClaim(ClaimOutcome.Finished, r));
            }
            if (r.AnswerClaimUntil is { } until && until >= now)
            {
                return Task.FromResult(new AnswerClaim(ClaimOutcome.Held, r));
            }
            var claimed = r with { AnswerClaimId = claimId, AnswerClaimUntil = claimUntil };
            Records[taskKey] = claimed;
            return Task.FromResult(new AnswerClaim(r.AnswerClaimId is null ? ClaimOutcome.Claimed : ClaimOutcome.ClaimedAfterExpiredClaim, claimed));
        }
    }

    public Task ReleaseAnswerClaimAsync(string taskKey, string claimId, CancellationToken cancellationToken = default)
    {
        note($"{prefix}.ReleaseAnswerClaim");
        lock (_gate)
        {
            if (Records.TryGetValue(taskKey, out var r) && r.AnswerClaimId == claimId)
            {
                Records[taskKey] = r with { AnswerClaimId = null, AnswerClaimUntil = null };
            }
            return Task.CompletedTask;
        }
    }

    public Task SetJobMissingSinceAsync(string taskKey, long? since, CancellationToken cancellationToken = default)
    {
        note($"{prefix}.SetJobMissingSince");
        lock (_gate)
        {
            if (Records.TryGetValue(taskKey, out var r) && IsOpen(r))
            {
                Records[taskKey] = r with { JobMissingSince = since };
            }
            return Task.CompletedTask;
        }
    }

    public Task<IReadOnlyList<TaskRecord>> FindOpenByExecutionAsync(string executionArn, CancellationToken cancellationToken = default)
    {
        note($"{prefix}.FindOpenByExecution");
        lock (_gate) { return Task.FromResult<IReadOnlyList<TaskRecord>>(Records.Values.Where(r => r.ExecutionArn == executionArn && IsOpen(r)).ToList()); }
    }

    /// <summary>Due records, the longest overdue first, like the sharded due index (a new record is due when created).</summary>
    public Task<IReadOnlyList<TaskRecord>> ListDueAsync(long dueBy, int limit, IReadOnlyList<string>? shards = null, CancellationToken cancellationToken = default)
    {
        note($"{prefix}.ListDue");
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<TaskRecord>>(Records.Values
                .Where(r => IsOpen(r) && (r.NextCheckAt ?? r.CreatedAt) <= dueBy && (shards is null || shards.Contains(DueShards.Of(r.TaskKey))))
                .OrderBy(r => r.NextCheckAt ?? r.CreatedAt).ThenBy(r => r.TaskKey, StringComparer.Ordinal)
                .Take(limit).ToList());
        }
    }

    public Task RescheduleAsync(IReadOnlyList<ScheduledCheck> checks, CancellationToken cancellationToken = default)
    {
        note($"{prefix}.Reschedule");
        if (RescheduleFailure?.Invoke(checks) is { } failure)
        {
            return Task.FromException(failure);
        }
        lock (_gate)
        {
            foreach (var check in checks)
            {
                if (Records.TryGetValue(check.TaskKey, out var r))
                {
                    Records[check.TaskKey] = r with { NextCheckAt = check.NextCheckAt, CheckFailures = check.Failures };
                }
            }
            return Task.CompletedTask;
        }
    }

    /// <summary>When set and it returns an exception, that batch of reschedules fails (nothing of it written).</summary>
    public Func<IReadOnlyList<ScheduledCheck>, Exception?>? RescheduleFailure { get; set; }

    public Task<bool> SetResultAsync(string taskKey, string resultJson, CancellationToken cancellationToken = default)
    {
        note($"{prefix}.SetResult");
        lock (_gate)
        {
            if (!Records.TryGetValue(taskKey, out var r) || !IsOpen(r))
            {
                return Task.FromResult(false);
            }
            Records[taskKey] = r with { Result = resultJson };
            return Task.FromResult(true);
        }
    }

    public Task<bool> FinishAsync(string taskKey, RecordEnding ending, CancellationToken cancellationToken = default)
    {
        note($"{prefix}.Finish");
        BeforeFinish?.Invoke();
        lock (_gate)
        {
            if (!Records.TryGetValue(taskKey, out var r) || !IsOpen(r))
            {
                return Task.FromResult(false);
            }
            Records[taskKey] = r with
            {
                Status = ending.Status, Reason = ending.Reason, ExpiresAt = 1,
                LeaseId = null, LeaseUntil = null, AnswerClaimId = null, AnswerClaimUntil = null,
            };
            return Task.FromResult(true);
        }
    }
}
