using System.Text;
using System.Text.Json;

namespace BatchSync.Domain;

public enum CallbackKind { Result, Heartbeat, Failure }

/// <summary>
/// A request to the Callback function from a job's code: <c>{"JobId", "Result"}</c>, <c>{"JobId", "Heartbeat": true}</c>
/// or <c>{"JobId", "Error", "Cause"}</c>.
/// </summary>
public sealed record CallbackRequest(string JobId, CallbackKind Kind, string? ResultJson, string? Error, string? Cause, string? CallbackKey = null)
{
    /// <summary>A Result must leave room in the task output for the job's own JobDetail members.</summary>
    /// <summary>The job's Callback key (its BatchSyncCallbackKey parameter), required for a tenant's task.</summary>
    public const string CallbackKeyMember = "CallbackKey";

    public const int MaxResultBytes = StepFunctionsLimits.OutputBytes - 8 * 1024;

    private static readonly HashSet<string> Members = new(StringComparer.Ordinal) { "JobId", "Result", "Heartbeat", "Error", "Cause", CallbackKeyMember };

    /// <summary>Notes the members it does not know, and reads the required JobId (null, with a problem, when it is not usable).</summary>
    private static string? ReadJobId(JsonElement root, List<InputProblem> problems)
    {
        foreach (var p in root.EnumerateObject())
        {
            if (!Members.Contains(p.Name))
            {
                problems.Add(new InputProblem(p.Name, "unknown member (expected JobId with one of Result, Heartbeat, Error/Cause)"));
            }
        }
        if (!root.TryGetProperty("JobId", out var id) || id.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(id.GetString()))
        {
            problems.Add(new InputProblem("JobId", "is required: a non-empty string (the job's AWS_BATCH_JOB_ID)"));
            return null;
        }
        var jobId = id.GetString()!;
        if (jobId.Length > 512)
        {
            problems.Add(new InputProblem("JobId", "is too long to be a Batch job id"));
        }
        return jobId;
    }

    public static CallbackRequest Parse(ReadOnlyMemory<byte> payload)
    {
        JsonDocument doc;
        try
        {
            doc = JsonInput.Parse(payload);
        }
        catch (JsonException e)
        {
            throw Invalid("", JsonInput.NotJson("request", e));
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw Invalid("", $"the request must be a JSON object, not {JsonInput.Describe(root)}");
            }
            var problems = new List<InputProblem>();
            var jobId = ReadJobId(root, problems);
            var hasResult = root.TryGetProperty("Result", out var result);
            var hasHeartbeat = root.TryGetProperty("Heartbeat", out var heartbeat);
            var hasError = root.TryGetProperty("Error", out var error);
            var hasCause = root.TryGetProperty("Cause", out var cause);
            var kinds = (hasResult ? 1 : 0) + (hasHeartbeat ? 1 : 0) + (hasError ? 1 : 0);
            if (kinds != 1)
            {
                problems.Add(new InputProblem("", "give exactly one of Result, Heartbeat or Error"));
            }
            if (hasCause && !hasError)
            {
                problems.Add(new InputProblem("Cause", "goes with Error"));
            }
            if (hasHeartbeat && heartbeat.ValueKind != JsonValueKind.True)
            {
                problems.Add(new InputProblem("Heartbeat", "must be true"));
            }
            if (hasError)
            {
                if (error.ValueKind != JsonValueKind.String || error.GetString()!.Length is 0 or > StepFunctionsLimits.ErrorChars)
                {
                    problems.Add(new InputProblem("Error", $"must be a string of 1 to {StepFunctionsLimits.ErrorChars} characters"));
                }
                if (hasCause && (cause.ValueKind != JsonValueKind.String || cause.GetString()!.Length > StepFunctionsLimits.CauseChars))
                {
                    problems.Add(new InputProblem("Cause", $"must be a string of at most {StepFunctionsLimits.CauseChars} characters"));
                }
            }
            string? key = null;
            if (root.TryGetProperty(CallbackKeyMember, out var given))
            {
                key = given.ValueKind == JsonValueKind.String && given.GetString()!.Length is > 0 and <= 256 ? given.GetString() : null;
                if (key is null)
                {
                    problems.Add(new InputProblem(CallbackKeyMember, "must be the job's BatchSyncCallbackKey parameter, a string (Ref::BatchSyncCallbackKey in its command)"));
                }
            }
            if (problems.Count > 0)
            {
                throw new InvalidInputException("Callback request", problems);
            }
            if (hasResult)
            {
                var text = result.GetRawText();
                var bytes = Encoding.UTF8.GetByteCount(text);
                if (bytes > MaxResultBytes)
                {
                    throw new ResultTooLargeException(bytes, MaxResultBytes);
                }
                return new CallbackRequest(jobId!, CallbackKind.Result, text, null, null, key);
            }
            return hasHeartbeat
                ? new CallbackRequest(jobId!, CallbackKind.Heartbeat, null, null, null, key)
                : new CallbackRequest(jobId!, CallbackKind.Failure, null, error.GetString(), hasCause ? cause.GetString() : null, key);
        }
    }

    private static InvalidInputException Invalid(string path, string message) =>
        new("Callback request", [new InputProblem(path, message)]);
}
