using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Model;

namespace BatchSync.Mapping;

/// <summary>A SubmitJob payload that passed validation: the Batch request body (wire form) and the task token, if any.</summary>
public sealed record SubmitRequest(JsonObject BatchRequest, string? TaskToken, string? ExecutionArn = null, string? StateName = null)
{
    public string JobName => (string)BatchRequest["jobName"]!;
    public string JobQueue => (string)BatchRequest["jobQueue"]!;
}

/// <summary>What a SubmitJob payload says: a request, or the problems that stop it (and the token to report them to).</summary>
public sealed record SubmitMapping(SubmitRequest? Request, string? TaskToken, IReadOnlyList<InputProblem> Problems)
{
    public bool IsValid => Request is not null && Problems.Count == 0;
}

/// <summary>
/// Maps the payload a state machine passes to SubmitJob (the native integration's PascalCase fields plus TaskToken)
/// to the Batch SubmitJob request, validating it against the official model first.
/// </summary>
public static class SubmitRequestMapper
{
    public const string TaskTokenMember = "TaskToken";
    /// <summary>Optional: <c>"ExecutionArn.$": "$$.Execution.Id"</c>, so stopping the execution terminates the job.</summary>
    public const string ExecutionArnMember = "ExecutionArn";
    /// <summary>Optional: <c>"StateName.$": "$$.State.Name"</c>, kept on the record for operators.</summary>
    public const string StateNameMember = "StateName";
    public const int MaxStateNameLength = 80;
    /// <summary>The job parameter that marks a job as BatchSync's and carries its record key (see TaskKey).</summary>
    public const string MarkerParameter = "BatchSyncTask";
    public const int MaxTaskTokenLength = 2048;
    /// <summary>Batch's limit on a SubmitJob request body.</summary>
    public const int MaxRequestBytes = 30 * 1024;
    /// <summary>Batch fails (not rejects) jobs whose container overrides exceed this many characters.</summary>
    public const int MaxContainerOverridesChars = 8192;
    public const string StepFunctionsEnvironmentName = "MANAGED_BY_AWS";
    public const string StepFunctionsEnvironmentValue = "STARTED_BY_STEP_FUNCTIONS";

    /// <summary>Payload members that are BatchSync's, not Batch's.</summary>
    public static readonly IReadOnlySet<string> ReservedMembers = new HashSet<string>(StringComparer.Ordinal) { TaskTokenMember, ExecutionArnMember, StateNameMember };

    public static SubmitMapping Map(ReadOnlyMemory<byte> payload) => Map(payload, BatchShapes.Instance);

    public static SubmitMapping Map(ReadOnlyMemory<byte> payload, BatchShapes shapes)
    {
        JsonDocument document;
        try
        {
            document = JsonInput.Parse(payload);
        }
        catch (JsonException e)
        {
            return Invalid(null, new InputProblem("", JsonInput.NotJson("payload", e)));
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return Invalid(null, new InputProblem("", $"the payload must be a JSON object, not {ShapeValidator.Describe(root)}"));
            }

            var validator = new ShapeValidator(shapes);
            var token = ReadTaskToken(root, validator);
            var request = validator.RootToWire(root, "SubmitJobRequest", ReservedMembers);
            var executionArn = ReadOptionalString(root, ExecutionArnMember, validator, IsExecutionArn,
                "must be an execution ARN (use \"ExecutionArn.$\": \"$$.Execution.Id\")");
            var stateName = ReadOptionalString(root, StateNameMember, validator, n => n.Length is > 0 and <= MaxStateNameLength,
                $"must be 1 to {MaxStateNameLength} characters (use \"StateName.$\": \"$$.State.Name\")");

            if (request?["parameters"] is JsonObject parameters && parameters.ContainsKey(MarkerParameter))
            {
                validator.Report($"Parameters.{MarkerParameter}", "is reserved for BatchSync's own use");
            }
            if (validator.Problems.Count > 0 || request is null)
            {
                return new SubmitMapping(null, token, validator.Problems);
            }
            return new SubmitMapping(new SubmitRequest(request, token, executionArn, stateName), token, []);
        }
    }

    /// <summary>
    /// Adds what BatchSync puts on every job: the marker parameter (so the job's events find their record) and, as the
    /// native integration does, MANAGED_BY_AWS in the container environment when the caller passed ContainerOverrides.
    /// Returns the problems that Batch would otherwise report late (request too large, overrides that make the job fail).
    /// </summary>
    public static IReadOnlyList<InputProblem> Decorate(JsonObject batchRequest, string? markerValue) =>
        Decorate(batchRequest, markerValue, out _);

    /// <summary>As <see cref="Decorate(JsonObject, string?)"/>, also giving the request body, serialized once.</summary>
    public static IReadOnlyList<InputProblem> Decorate(JsonObject batchRequest, string? markerValue, out byte[] body)
    {
        // Without a task token (request-response) nothing waits for the job's events, so it carries no marker.
        if (markerValue is not null)
        {
            if (batchRequest["parameters"] is not JsonObject parameters)
            {
                parameters = new JsonObject();
                batchRequest["parameters"] = parameters;
            }
            parameters[MarkerParameter] = markerValue;
        }

        List<InputProblem>? problems = null;
        if (batchRequest["containerOverrides"] is JsonObject overrides)
        {
            if (overrides["environment"] is not JsonArray environment)
            {
                environment = new JsonArray();
                overrides["environment"] = environment;
            }
            var present = environment.Any(e => e is JsonObject kv && (string?)kv["name"] == StepFunctionsEnvironmentName);
            if (!present)
            {
                environment.Add(new JsonObject
                {
                    ["name"] = StepFunctionsEnvironmentName,
                    ["value"] = StepFunctionsEnvironmentValue,
                });
            }
            var overridesLength = JsonText.ToText(overrides).Length;
            if (overridesLength > MaxContainerOverridesChars)
            {
                (problems ??= []).Add(new InputProblem("ContainerOverrides",
                    $"is {overridesLength} characters; Batch fails jobs whose container overrides exceed {MaxContainerOverridesChars}"));
            }
        }
        body = JsonText.ToUtf8(batchRequest);
        if (body.Length > MaxRequestBytes)
        {
            (problems ??= []).Add(new InputProblem("", $"the SubmitJob request is {body.Length} bytes; Batch accepts at most {MaxRequestBytes}"));
        }
        return problems ?? (IReadOnlyList<InputProblem>)[];
    }

    private static string? ReadTaskToken(JsonElement root, ShapeValidator validator)
    {
        if (!root.TryGetProperty(TaskTokenMember, out var tokenElement))
        {
            return null;
        }
        if (tokenElement.ValueKind != JsonValueKind.String)
        {
            validator.Report(TaskTokenMember, $"must be a string (use \"TaskToken.$\": \"$$.Task.Token\"), not {ShapeValidator.Describe(tokenElement)}");
            return null;
        }
        var token = tokenElement.GetString()!;
        if (token.Length is 0 or > MaxTaskTokenLength)
        {
            validator.Report(TaskTokenMember, $"must be 1 to {MaxTaskTokenLength} characters (is {token.Length})");
            return null;
        }
        return token;
    }

    private static string? ReadOptionalString(JsonElement root, string member, ShapeValidator validator, Func<string, bool> valid, string rule)
    {
        if (!root.TryGetProperty(member, out var element))
        {
            return null;
        }
        if (element.ValueKind != JsonValueKind.String || !valid(element.GetString()!))
        {
            validator.Report(member, element.ValueKind == JsonValueKind.String ? rule : $"{rule}, not {ShapeValidator.Describe(element)}");
            return null;
        }
        return element.GetString();
    }

    private static bool IsExecutionArn(string arn)
    {
        var parts = arn.Split(':');
        return arn.Length <= 2048 && parts.Length >= 8 && parts[0] == "arn" && parts[2] == "states" && parts[5] is "execution" or "express";
    }

    private static SubmitMapping Invalid(string? token, InputProblem problem) => new(null, token, [problem]);
}
