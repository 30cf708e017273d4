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
