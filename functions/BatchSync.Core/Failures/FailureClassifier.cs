using System.Text.Json;

namespace BatchSync.Failures;

/// <summary>The failure names BatchSync gives a FAILED job when the task opted into <c>TypedErrors</c>.</summary>
public static class FailureKinds
{
    /// <summary>The attempt ran past the job's timeout (<c>Job attempt duration exceeded timeout</c>).</summary>
    public const string AttemptTimeout = "BatchJob.AttemptTimeout";
    /// <summary>The job was cancelled before it ran (<c>isCancelled</c>).</summary>
    public const string Cancelled = "BatchJob.Cancelled";
    /// <summary>The job was terminated (<c>isTerminated</c>: TerminateJob, or a stopped execution).</summary>
    public const string Terminated = "BatchJob.Terminated";
    /// <summary>The EC2 or EC2 Spot host went away under the attempt (<c>Host EC2 (instance i-…) terminated.</c>).</summary>
    public const string HostTerminated = "BatchJob.HostTerminated";
    /// <summary>Fargate Spot took the task back (<c>Your Spot Task was interrupted.</c>).</summary>
    public const string SpotInterrupted = "BatchJob.SpotInterrupted";
    /// <summary>A container was killed for memory (<c>OutOfMemoryError: Container killed due to memory usage</c>).</summary>
    public const string OutOfMemory = "BatchJob.OutOfMemory";
    /// <summary>The image could not be pulled (<c>CannotPullContainerError: …</c>).</summary>
    public const string CannotPullContainer = "BatchJob.CannotPullContainer";
    /// <summary>The task never started (<c>Task failed to start</c>) for another reason.</summary>
    public const string TaskFailedToStart = "BatchJob.TaskFailedToStart";
    /// <summary>The job's own code exited non-zero (unless the task's ExitCodes map names that code).</summary>
    public const string NonZeroExit = "BatchJob.NonZeroExit";
    /// <summary>A service job's SageMaker training job failed (its reason begins <c>Received status from SageMaker:</c>).</summary>
    public const string TrainingJobFailed = "BatchJob.TrainingJobFailed";
    /// <summary>None of the above explains the failure.</summary>
    public const string Failed = "BatchJob.Failed";
}

/// <summary>What the classifier found: the name, and where it read it.</summary>
/// <param name="Kind">The failure name (one of <see cref="FailureKinds"/>, or a name from the task's ExitCodes map).</param>
/// <param name="Attempt">The attempt it read (1-based), when the job has attempts.</param>
/// <param name="ExitCode">The exit code it read, if any.</param>
/// <param name="Reason">The status or container reason it read, if any.</param>
/// <param name="Container">The container's name, for multi-container (ECS properties, EKS) jobs.</param>
/// <param name="LogStreamName">The attempt's log stream, if any.</param>
/// <param name="TrainingJobArn">A service job's SageMaker training job (its latest attempt's <c>serviceResourceId</c>).</param>
public sealed record FailureClassification(string Kind, int? Attempt, int? ExitCode, string? Reason, string? Container, string? LogStreamName, string? TrainingJobArn = null);

/// <summary>
/// Names the failure of a finished job from its DescribeJobs JobDetail (wire form), a pure function. It reads the
/// latest attempt first (<c>attempts</c>, else <c>eksAttempts</c>): its status reason and its containers (the
/// attempt's <c>container</c>, its <c>taskProperties</c> containers, or the EKS attempt's containers), then the job's
/// own <c>statusReason</c>, <c>isCancelled</c>, <c>isTerminated</c> and job-level containers when the attempt says
/// nothing. The first rule that matches wins, in this order:
/// <list type="number">
/// <item>AttemptTimeout — a timeout kills the container too (exit 137), so it wins over OutOfMemory and NonZeroExit;</item>
/// <item>Cancelled, then Terminated — somebody asked for it;</item>
/// <item>HostTerminated, SpotInterrupted — the capacity went away, whatever the container was doing;</item>
/// <item>OutOfMemory — the container's reason says so, whatever its exit code;</item>
/// <item>CannotPullContainer, then TaskFailedToStart — the job never ran;</item>
/// <item>a non-zero exit code: the task's ExitCodes name for it, else NonZeroExit;</item>
/// <item>Failed.</item>
/// </list>
/// Reasons are matched by their documented beginnings, ignoring case (AWS Batch's <c>evaluateOnExit</c> matches the same
/// strings by glob).
/// </summary>
public static class FailureClassifier
{
    private const StringComparison Text = StringComparison.OrdinalIgnoreCase;

    /// <summary>How Batch begins a status reason SageMaker gave (the User Guide's service job samples).</summary>
    public const string SageMakerReasonPrefix = "Received status from SageMaker:";

    /// <summary>
    /// A service job's failure, from its DescribeServiceJob answer: Terminated (<c>isTerminated</c>: TerminateServiceJob,
    /// or a stopped execution), AttemptTimeout (Batch's own timeout text, if it gives it for service jobs too),
    /// TrainingJobFailed (SageMaker's reason), else Failed; with the latest attempt's number and reason and the
    /// training job's ARN. Service jobs have no containers or exit codes of Batch's.
    /// </summary>
    private static FailureClassification ClassifyService(JsonElement jobDetail)
    {
        var jobReason = Str(jobDetail, "statusReason");
        int? attempt = null;
        string? attemptReason = null;
        if (jobDetail.TryGetProperty("attempts", out var attempts) && attempts.ValueKind == JsonValueKind.Array && attempts.GetArrayLength() > 0)
        {
            attempt = attempts.GetArrayLength();
            attemptReason = Str(attempts[attempts.GetArrayLength() - 1], "statusReason");
        }
        var trainingJob = TrainingJobArn(jobDetail);
        string?[] reasons = [jobReason, attemptReason];
        FailureClassification Found(string kind, string? reason) => new(kind, attempt, null, reason, null, null, trainingJob);
        if (Bool(jobDetail, "isTerminated"))
        {
            return Found(FailureKinds.Terminated, jobReason ?? attemptReason);
        }
        if (Match(reasons, "Job attempt duration exceeded timeout") is { } timeout)
        {
            return Found(FailureKinds.AttemptTimeout, timeout);
        }
        if (Match(reasons, SageMakerReasonPrefix) is { } sageMaker)
        {
            return Found(FailureKinds.TrainingJobFailed, sageMaker);
        }
        return Found(FailureKinds.Failed, jobReason ?? attemptReason);
    }

    /// <summary>A service job's training job ARN: <c>latestAttempt.serviceResourceId</c> named TrainingJobArn.</summary>
    public static string? TrainingJobArn(JsonElement jobDetail) =>
        jobDetail.ValueKind == JsonValueKind.Object
        && jobDetail.TryGetProperty("latestAttempt", out var latest) && latest.ValueKind == JsonValueKind.Object
        && latest.TryGetProperty("serviceResourceId", out var id) && id.ValueKind == JsonValueKind.Object
        && Str(id, "name") == "TrainingJobArn"
            ? Str(id, "value")
            : null;

    public static FailureClassification Classify(JsonElement jobDetail, IReadOnlyDictionary<int, string>? exitCodes = null)
    {
        if (Domain.BatchJob.KindOf(jobDetail) == Domain.JobKind.Service)
        {
            return ClassifyService(jobDetail);
        }
        var jobReason = Str(jobDetail, "statusReason");
        var (attempt, attemptReason, containers) = LatestAttempt(jobDetail);
        if (containers.Count == 0)
        {
            containers = JobContainers(jobDetail);
        }
        string?[] reasons = [attemptReason, jobReason];

        FailureClassification Found(string kind, string? reason, ContainerOutcome? container = null)
        {
            container ??= containers.FirstOrDefault(c => c.ExitCode is not null and not 0) ?? containers.FirstOrDefault();
            return new(kind, attempt, container?.ExitCode, reason, container?.Name, container?.LogStreamName);
        }

        if (Match(reasons, "Job attempt duration exceeded timeout") is { } timeout)
        {
            return Found(FailureKinds.AttemptTimeout, timeout);
        }
        if (Bool(jobDetail, "isCancelled"))
        {
            return Found(FailureKinds.Cancelled, jobReason ?? attemptReason);
        }
        if (Bool(jobDetail, "isTerminated"))
        {
            return Found(FailureKinds.Terminated, jobReason ?? attemptReason);
        }
        if (Match(reasons, "Host EC2") is { } host)
        {
            return Found(FailureKinds.HostTerminated, host);
        }
        if (Match(reasons, "Your Spot Task was interrupted") is { } spot)
        {
            return Found(FailureKinds.SpotInterrupted, spot);
        }
        if (containers.FirstOrDefault(c => Starts(c.Reason, "OutOfMemoryError")) is { } oom)
        {
            return Found(FailureKinds.OutOfMemory, oom.Reason, oom);
        }
        if (containers.FirstOrDefault(c => Starts(c.Reason, "CannotPullContainerError") || Starts(c.Reason, "CannotPullImageManifestError")) is { } pull)
        {
            return Found(FailureKinds.CannotPullContainer, pull.Reason, pull);
        }
        if (Match(reasons, "CannotPullContainerError") is { } pulled)
        {
            return Found(FailureKinds.CannotPullContainer, pulled);
        }
        if (Match(reasons, "Task failed to start") is { } start)
        {
            var why = containers.FirstOrDefault(c => c.Reason is not null);
            return Found(FailureKinds.TaskFailedToStart, why?.Reason ?? start, why);
        }
        if (containers.FirstOrDefault(c => c.ExitCode is not null and not 0) is { } exited)
        {
            var name = exitCodes is not null && exitCodes.TryGetValue(exited.ExitCode!.Value, out var mapped) ? mapped : FailureKinds.NonZeroExit;
            return Found(name, exited.Reason ?? attemptReason ?? jobReason, exited);
        }
        var described = containers.FirstOrDefault(c => c.Reason is not null);
        return Found(FailureKinds.Failed, described?.Reason ?? attemptReason ?? jobReason, described);
    }

    /// <summary>One container of an attempt (or of the job), as far as the classifier cares.</summary>
    private sealed record ContainerOutcome(string? Name, int? ExitCode, string? Reason, string? LogStreamName);

    private static (int? Attempt, string? Reason, List<ContainerOutcome> Containers) LatestAttempt(JsonElement job)
    {
        if (job.TryGetProperty("attempts", out var attempts) && attempts.ValueKind == JsonValueKind.Array && attempts.GetArrayLength() > 0)
        {
            var latest = attempts[attempts.GetArrayLength() - 1];
            var containers = new List<ContainerOutcome>();
            if (latest.TryGetProperty("container", out var container) && container.ValueKind == JsonValueKind.Object)
            {
                AddIfAny(containers, Outcome(container, null));
            }
            AddTaskContainers(latest, containers);
            return (attempts.GetArrayLength(), Str(latest, "statusReason"), containers);
        }
        if (job.TryGetProperty("eksAttempts", out var eks) && eks.ValueKind == JsonValueKind.Array && eks.GetArrayLength() > 0)
        {
            var latest = eks[eks.GetArrayLength() - 1];
            var containers = new List<ContainerOutcome>();
            foreach (var list in new[] { "containers", "initContainers" })
            {
                foreach (var c in Items(latest, list))
                {
                    AddIfAny(containers, Outcome(c, Str(c, "name")));
                }
            }
            return (eks.GetArrayLength(), Str(latest, "statusReason"), containers);
        }
        return (null, null, []);
    }

    private static List<ContainerOutcome> JobContainers(JsonElement job)
    {
        var containers = new List<ContainerOutcome>();
        if (job.TryGetProperty("container", out var container) && container.ValueKind == JsonValueKind.Object)
        {
            AddIfAny(containers, Outcome(container, null));
        }
        if (job.TryGetProperty("ecsProperties", out var ecs) && ecs.ValueKind == JsonValueKind.Object)
        {
            AddTaskContainers(ecs, containers);
        }
        if (job.TryGetProperty("eksProperties", out var eks) && eks.ValueKind == JsonValueKind.Object
            && eks.TryGetProperty("podProperties", out var pod) && pod.ValueKind == JsonValueKind.Object)
        {
            foreach (var c in Items(pod, "containers"))
            {
                AddIfAny(containers, Outcome(c, Str(c, "name")));
            }
        }
        return containers;
    }

    private static void AddTaskContainers(JsonElement owner, List<ContainerOutcome> containers)
    {
        foreach (var task in Items(owner, "taskProperties"))
        {
            foreach (var c in Items(task, "containers"))
            {
                AddIfAny(containers, Outcome(c, Str(c, "name")));
            }
        }
    }

    private static ContainerOutcome Outcome(JsonElement c, string? name) =>
        new(name, c.TryGetProperty("exitCode", out var code) && code.ValueKind == JsonValueKind.Number && code.TryGetInt32(out var n) ? n : null,
            Str(c, "reason"), Str(c, "logStreamName"));

    private static void AddIfAny(List<ContainerOutcome> containers, ContainerOutcome c)
    {
        if (c.ExitCode is not null || c.Reason is not null || c.LogStreamName is not null || c.Name is not null)
        {
            containers.Add(c);
        }
    }

    private static IEnumerable<JsonElement> Items(JsonElement owner, string name) =>
        owner.TryGetProperty(name, out var list) && list.ValueKind == JsonValueKind.Array ? list.EnumerateArray() : [];

    private static string? Match(string?[] reasons, string prefix) => reasons.FirstOrDefault(r => Starts(r, prefix));

    private static bool Starts(string? text, string prefix) => text is not null && text.StartsWith(prefix, Text);

    private static string? Str(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s ? s : null;

    private static bool Bool(JsonElement o, string name) => o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;
}
