using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Mapping;
using BatchSync.Domain;

namespace BatchSync.Failures;

/// <summary>
/// How this stack answers failed jobs: the error name of a native failure (stack parameter FailureErrorName), and for
/// log tails the client, the log groups it may read (parameter LogTailLogGroups), the function's region and how long a
/// read may take before the answer goes without it.
/// </summary>
public sealed record AnswerSettings(string FailureError)
{
    public const string FailureErrorVariable = "BATCHSYNC_FAILURE_ERROR";
    public const string LogGroupsVariable = "BATCHSYNC_LOG_TAIL_GROUPS";
    public const string LogTailTimeoutVariable = "BATCHSYNC_LOG_TAIL_TIMEOUT_MS";
    public const string NativeFailureError = "States.TaskFailed";

    /// <summary>The native integration's answers.</summary>
    public static readonly AnswerSettings Native = new(NativeFailureError);

    /// <summary>How long an array parent's summary may take (ListJobs and DescribeJobs) before the answer goes without it.</summary>
    public TimeSpan ArraySummaryTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public ILogsApi? Logs { get; init; }
    public IReadOnlyList<string> LogGroups { get; init; } = [ConsoleLinks.DefaultLogGroup];
    public string? Region { get; init; }
    public TimeSpan LogTailTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>From the environment (<c>BATCHSYNC_FAILURE_ERROR</c>, default <c>States.TaskFailed</c>, and the log tail's settings).</summary>
    public static AnswerSettings From(Func<string, string?> value)
    {
        var name = value(FailureErrorVariable)?.Trim();
        if (name is { Length: > StepFunctionsLimits.ErrorChars })
        {
            throw new InvalidOperationException($"{FailureErrorVariable} must be 1 to {StepFunctionsLimits.ErrorChars} characters (is {name.Length}).");
        }
        var groups = value(LogGroupsVariable)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return new AnswerSettings(string.IsNullOrEmpty(name) ? NativeFailureError : name)
        {
            LogGroups = groups is { Length: > 0 } ? groups : [ConsoleLinks.DefaultLogGroup],
            Region = value("AWS_REGION") ?? value("AWS_DEFAULT_REGION"),
            LogTailTimeout = int.TryParse(value(LogTailTimeoutVariable), out var ms) && ms > 0 ? TimeSpan.FromMilliseconds(ms) : TimeSpan.FromSeconds(2),
        };
    }
}

/// <summary>A finished job's answer, ready to send: success with <see cref="Output"/> (given the record's callback Result), or failure.</summary>
public sealed record PreparedAnswer(bool Succeeded, Func<string?, string>? Output, string? Error, string? Cause, string What);

/// <summary>
/// The answers of a task that opted into more than the native ones (<see cref="TaskOptions"/>): the native JobDetail
/// plus one member per extra — <c>BatchSyncFailure</c> (the classification, in the cause), <c>BatchSyncLinks</c> (in
/// the output and the cause), <c>BatchSyncLogTail</c> and <c>BatchSyncArraySummary</c> — written in the native sorted
/// order by <see cref="NativeOutputMapper"/> under the same <see cref="OutputBudget"/> as any answer. Without options the
/// answers are the native ones, byte for byte.
/// </summary>
public static class TaskAnswers
{
    public const string FailureMember = "BatchSyncFailure";
    public const string LinksMember = "BatchSyncLinks";
    public const string LogTailMember = "BatchSyncLogTail";
    public const string ArraySummaryMember = "BatchSyncArraySummary";

    /// <summary>
    /// What to answer for a finished job, given the task's options (record member <c>Options</c>): whether the answer
    /// is a success, its output (from the freshest callback Result), or its error and cause, and the record's reason.
    /// Reads Batch (array summary) and CloudWatch Logs (log tail) only for tasks that opted in, each bounded in time;
    /// without options it is the native answer, byte for byte.
    /// </summary>
    public static async Task<PreparedAnswer> PrepareAsync(TaskRecord record, JsonElement jobDetail, bool succeeded, IBatchApi batch, AnswerSettings settings,
        CancellationToken cancellationToken)
    {
        var status = jobDetail.TryGetProperty("status", out var s) ? s.GetString() : null;
        var options = TaskOptions.FromJson(record.Options) is { } o && (o.TypedErrors || o.Links || o.LogTail > 0 || o.ArraySummary) ? o : null;
        if (options is null)
        {
            return succeeded
                ? new PreparedAnswer(true, result => Processing.TaskResponder.NativeOutput(jobDetail, result), null, null, $"job {status}")
                : new PreparedAnswer(false, null, settings.FailureError, Processing.TaskResponder.NativeCause(jobDetail), $"job {status}");
        }
        var array = options.ArraySummary && ArraySummary.IsArrayParent(jobDetail)
            ? await ArraySummary.BuildAsync(batch, jobDetail, settings.ArraySummaryTimeout, cancellationToken).ConfigureAwait(false)
            : null;
        var tolerance = !succeeded && array is not null ? ArraySummary.Tolerates(options, array) : null;
        if (succeeded || tolerance == true)
        {
            var what = $"job {status}{(tolerance == true ? " within its tolerated failures" : "")}";
            return options.Links || array is not null
                ? new PreparedAnswer(true, result => Success(jobDetail, result, options, record.ExecutionArn, array), null, null, what)
                : new PreparedAnswer(true, result => Processing.TaskResponder.NativeOutput(jobDetail, result), null, null, what);
        }
        var tail = options.LogTail > 0
            ? await LogTail.ReadAsync(jobDetail, FailureClassifier.Classify(jobDetail, options.ExitCodes), options.LogTail, settings, cancellationToken).ConfigureAwait(false)
            : null;
        var (error, cause) = Failure(jobDetail, options, record.ExecutionArn, settings, tail, array);
        return new PreparedAnswer(false, null, tolerance == false ? ArraySummary.ThresholdExceededError : error, cause, $"job {status}");
    }

    /// <summary>SendTaskFailure's error and cause for a FAILED job.</summary>
    public static (string Error, string Cause) Failure(JsonElement jobDetail, TaskOptions options, string? executionArn, AnswerSettings settings,
        JsonObject? logTail = null, JsonObject? arraySummary = null)
    {
        var added = new List<AddedMember>();
        if (arraySummary is not null)
        {
            added.Add(new(ArraySummaryMember, arraySummary));
        }
        var error = settings.FailureError;
        if (options.TypedErrors)
        {
            var found = FailureClassifier.Classify(jobDetail, options.ExitCodes);
            error = found.Kind;
            added.Add(new(FailureMember, Summary(found)));
        }
        if (options.Links && ConsoleLinks.For(jobDetail, executionArn) is { } links)
        {
            added.Add(new(LinksMember, links));
        }
        if (logTail is not null)
        {
            added.Add(new(LogTailMember, logTail));
        }
        return (error, NativeOutputMapper.ToNativeText(jobDetail, OutputBudget.Cause, added: added));
    }

    /// <summary>SendTaskSuccess's output for a SUCCEEDED job, with links if the task asked for them.</summary>
    public static string Success(JsonElement jobDetail, string? resultJson, TaskOptions options, string? executionArn, JsonObject? arraySummary = null)
    {
        var added = new List<AddedMember>();
        if (arraySummary is not null)
        {
            added.Add(new(ArraySummaryMember, arraySummary));
        }
        if (options.Links && ConsoleLinks.For(jobDetail, executionArn) is { } links)
        {
            added.Add(new(LinksMember, links));
        }
        return NativeOutputMapper.ToNativeText(jobDetail, OutputBudget.Output, resultJson, added);
    }

    /// <summary>The classification as a native-style object: PascalCase members, sorted, absent ones left out.</summary>
    public static JsonObject Summary(FailureClassification c)
    {
        var o = new JsonObject();
        if (c.Attempt is { } attempt)
        {
            o["Attempt"] = attempt;
        }
        if (c.Container is { } container)
        {
            o["Container"] = container;
        }
        if (c.ExitCode is { } code)
        {
            o["ExitCode"] = code;
        }
        o["Kind"] = c.Kind;
        if (c.LogStreamName is { } stream)
        {
            o["LogStreamName"] = stream;
        }
        if (c.Reason is { } reason)
        {
            o["Reason"] = reason;
        }
        return o;
    }
}
