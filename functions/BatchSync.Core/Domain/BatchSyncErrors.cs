
namespace BatchSync.Domain;

/// <summary>
/// An error BatchSync reports by name. With a task token the name is the task's Error (Catch it with ErrorEquals);
/// without one the function fails and the Lambda errorType is the exception's type name.
/// </summary>
public abstract class BatchSyncException(string errorName, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The Step Functions error name, e.g. <c>BatchSync.InvalidInput</c> or <c>Batch.ClientException</c>.</summary>
    public string ErrorName { get; } = errorName;
}

/// <summary>BatchSync.InvalidInput: the request does not fit the API; nothing was submitted or changed.</summary>
public sealed class InvalidInputException(string what, IReadOnlyList<InputProblem> problems)
    : BatchSyncException(Name, $"Invalid {what}: {InputProblem.Describe(problems)}")
{
    public const string Name = "BatchSync.InvalidInput";
    public IReadOnlyList<InputProblem> Problems { get; } = problems;
}

/// <summary>Batch.&lt;ErrorCode&gt;: Batch refused the SubmitJob call; the message is the native cause.</summary>
public sealed class BatchSubmitException(string errorCode, string nativeCause)
    : BatchSyncException($"Batch.{errorCode}", nativeCause);

/// <summary>BatchSync.JobNotFound: no BatchSync task waits on this job id.</summary>
public sealed class JobNotFoundException(string jobId, string? why = null)
    : BatchSyncException(Name, $"No BatchSync task is waiting on job {jobId}: " +
        (why ?? "it was not submitted by BatchSync, or its record has expired.") + (why is null ? "" : "; nothing was changed."))
{
    public const string Name = "BatchSync.JobNotFound";
}

/// <summary>BatchSync.TaskAlreadyFinished: the task of this job has its answer already; nothing was changed.</summary>
public sealed class TaskAlreadyFinishedException(string jobId, RecordStatus status)
    : BatchSyncException(Name, $"The task of job {jobId} is already finished ({status}); nothing was changed.")
{
    public const string Name = "BatchSync.TaskAlreadyFinished";
}

/// <summary>BatchSync.ResultTooLarge: a callback Result that could not fit the task output.</summary>
public sealed class ResultTooLargeException(int bytes, int limit)
    : BatchSyncException(Name, $"The Result is {bytes} bytes; a Result may be at most {limit} bytes so that the task output fits Step Functions' limit of {StepFunctionsLimits.OutputBytes} bytes.")
{
    public const string Name = "BatchSync.ResultTooLarge";
}

/// <summary>
/// BatchSync.RecordNotFound: an event for a BatchSync job whose record is not readable yet. Thrown so that the
/// invocation fails and is retried (and lands in the on-failure destination if it never appears): never dropped.
/// </summary>
public sealed class RecordNotFoundException(string jobId)
    : BatchSyncException(Name, $"The record for job {jobId} is not there yet; the event will be retried.")
{
    public const string Name = "BatchSync.RecordNotFound";
}

/// <summary>BatchSync.InvalidEvent: the invocation is not a Batch Job State Change event.</summary>
public sealed class InvalidEventException(string why)
    : BatchSyncException(Name, $"Not an event this function takes: {why}")
{
    public const string Name = "BatchSync.InvalidEvent";
}

/// <summary>
/// BatchSync.TransientFailure: a dependency failed (throttled past the retries, unavailable, no answer, out of time).
/// Nothing was lost: the invocation may be retried as it is (SubmitJob with the same token never submits twice).
/// </summary>
public sealed class TransientFailureException(Exception inner)
    : BatchSyncException(Name, $"A dependency failed; retry the invocation ({inner.GetType().Name}: {inner.Message})", inner)
{
    public const string Name = "BatchSync.TransientFailure";
}

/// <summary>
/// BatchSync.InternalError: a bug in BatchSync itself (an exception no dependency explains). Not retryable by name:
/// retrying a bug repeats it. Logged with its stack trace.
/// </summary>
public sealed class InternalErrorException(Exception inner)
    : BatchSyncException(Name, $"BatchSync failed unexpectedly ({inner.GetType().Name}: {inner.Message}); this is a bug, please report it", inner)
{
    public const string Name = "BatchSync.InternalError";
}
