using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Domain;
using BatchSync.Failures;
using BatchSync.Mapping;

namespace BatchSync.Processing;

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
    /// <summary>
    /// What to answer for a finished job, given the task's options (record member <c>Options</c>): whether the answer
    /// is a success, its output (from the freshest callback Result), or its error and cause, and the record's reason.
    /// Reads Batch (array summary) and CloudWatch Logs (log tail) only for tasks that opted in, each bounded in time;
    /// without options it is the native answer, byte for byte.
    /// </summary>
    public static async Task<PreparedAnswer> PrepareAsync(TaskRecord record, BatchJob job, bool succeeded, IBatchApi batch, AnswerSettings settings,
        CancellationToken cancellationToken)
    {
        var jobDetail = job.Detail;
        var what = $"job {job.Status}";
        var options = TaskOptions.FromJson(record.Options) is { } o && (o.TypedErrors || o.Links || o.LogTail > 0 || o.ArraySummary) ? o : null;
        if (options is null)
        {
            return succeeded
                ? new PreparedAnswer(true, result => TaskResponder.NativeOutput(jobDetail, result), null, null, what)
                : new PreparedAnswer(false, null, settings.FailureError, TaskResponder.NativeCause(jobDetail), what);
        }
        var array = options.ArraySummary && job.IsArrayParent
            ? await ArraySummary.BuildAsync(batch, job, settings.ArraySummaryTimeout, cancellationToken).ConfigureAwait(false)
            : null;
        var tolerance = !succeeded && array is not null ? ArraySummary.Tolerates(options, array) : null;
        if (succeeded || tolerance == true)
        {
            var tolerated = tolerance == true ? $"{what} within its tolerated failures" : what;
            return options.Links || array is not null
                ? new PreparedAnswer(true, result => Success(jobDetail, result, options, record.ExecutionArn, array), null, null, tolerated)
                : new PreparedAnswer(true, result => TaskResponder.NativeOutput(jobDetail, result), null, null, tolerated);
        }
        var tail = options.LogTail > 0
            ? await LogTail.ReadAsync(jobDetail, FailureClassifier.Classify(jobDetail, options.ExitCodes), options.LogTail, settings, cancellationToken).ConfigureAwait(false)
            : null;
        // Beyond its tolerated failures an array parent fails with a name of its own, the same in the error and the cause.
        var (error, cause) = Failure(jobDetail, options, record.ExecutionArn, settings, tail, array, tolerance == false ? ArraySummary.ThresholdExceededError : null);
        return new PreparedAnswer(false, null, error, cause, what);
    }

    /// <summary>
    /// SendTaskFailure's error and cause for a FAILED job; with <paramref name="kind"/>, the failure's name whatever the
    /// classifier finds (the error, and <c>BatchSyncFailure.Kind</c> with typed errors).
    /// </summary>
    public static (string Error, string Cause) Failure(JsonElement jobDetail, TaskOptions options, string? executionArn, AnswerSettings settings,
        JsonObject? logTail = null, JsonObject? arraySummary = null, string? kind = null)
    {
        var added = new List<AddedMember>();
        if (arraySummary is not null)
        {
            added.Add(new(OptInMembers.ArraySummary, arraySummary));
        }
        var error = kind ?? settings.FailureError;
        if (options.TypedErrors)
        {
            var found = FailureClassifier.Classify(jobDetail, options.ExitCodes);
            found = kind is null ? found : found with { Kind = kind };
            error = found.Kind;
            added.Add(new(OptInMembers.Failure, Summary(found)));
        }
        if (options.Links && ConsoleLinks.For(jobDetail, executionArn) is { } links)
        {
            added.Add(new(OptInMembers.Links, links));
        }
        if (logTail is not null)
        {
            added.Add(new(OptInMembers.LogTail, logTail));
        }
        return (error, NativeOutputMapper.ToNativeText(jobDetail, OutputBudget.Cause, added: added));
    }

    /// <summary>SendTaskSuccess's output for a SUCCEEDED job, with links if the task asked for them.</summary>
    public static string Success(JsonElement jobDetail, string? resultJson, TaskOptions options, string? executionArn, JsonObject? arraySummary = null)
    {
        var added = new List<AddedMember>();
        if (arraySummary is not null)
        {
            added.Add(new(OptInMembers.ArraySummary, arraySummary));
        }
        if (options.Links && ConsoleLinks.For(jobDetail, executionArn) is { } links)
        {
            added.Add(new(OptInMembers.Links, links));
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
        if (c.TrainingJobArn is { } trainingJob)
        {
            o["TrainingJobArn"] = trainingJob;
        }
        return o;
    }
}
