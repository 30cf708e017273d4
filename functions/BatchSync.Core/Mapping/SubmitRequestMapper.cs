using BatchSync.Domain;
using System.Buffers;
using System.Text;
using System.Text.Json;

namespace BatchSync.Mapping;

/// <summary>
/// A SubmitJob payload that passed validation: the Batch SubmitJob (or SubmitServiceJob) request body (wire form, with
/// what BatchSync adds), the fields BatchSync keeps on its record, and the task token, if any.
/// </summary>
public sealed record SubmitRequest(byte[] Body, string JobName, string JobQueue, string? TaskToken, string? ExecutionArn = null, string? StateName = null, string? Options = null, int? TimeoutSeconds = null)
{
    /// <summary>A container job (SubmitJob) or a service job (SubmitServiceJob).</summary>
    public JobKind Kind { get; init; }
    /// <summary>A service job's SageMaker execution role (its payload's RoleArn).</summary>
    public string? ServiceRole { get; init; }
}

/// <summary>What a SubmitJob payload says: a request, or the problems that stop it (and the token to report them to).</summary>
public sealed record SubmitMapping(SubmitRequest? Request, string? TaskToken, IReadOnlyList<InputProblem> Problems)
{
    public bool IsValid => Request is not null && Problems.Count == 0;

    /// <summary>The payload's ExecutionArn when it gave a valid one, the request valid or not (its failure is routed by it).</summary>
    public string? ExecutionArn { get; init; }
}

/// <summary>What BatchSync adds to a task's job: the marker parameter, and where needed the Callback key and the tenant tag.</summary>
public sealed record JobAdditions(string Marker, string? CallbackKey = null, string? Tenant = null);

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
    /// <summary>Optional: the state's own <c>TimeoutSeconds</c>, so the sweep checks the task right after it.</summary>
    public const string TimeoutSecondsMember = "TimeoutSeconds";
    /// <summary>The largest TimeoutSeconds the Amazon States Language takes.</summary>
    public const int MaxTimeoutSeconds = 99_999_999;
    /// <summary>The longest task token Step Functions issues (its model's TaskToken: 1 to 2,048 characters).</summary>
    public const int MaxTaskTokenLength = 2048;
    /// <summary>Batch's limit on a SubmitJob request body.</summary>
    public const int MaxRequestBytes = 30 * 1024;
    /// <summary>Batch fails (not rejects) jobs whose container overrides exceed this many characters.</summary>
    public const int MaxContainerOverridesChars = 8192;
    /// <summary>The container environment variable the native integration sets when the caller passes ContainerOverrides.</summary>
    public const string StepFunctionsEnvironmentName = "MANAGED_BY_AWS";
    public const string StepFunctionsEnvironmentValue = "STARTED_BY_STEP_FUNCTIONS";

    [ThreadStatic]
    private static (ArrayBufferWriter<byte> Buffer, Utf8JsonWriter Writer)? _output;
    // Bumped by every Read on the thread: a draft's bytes are the thread's buffer only until the next Read.
    [ThreadStatic]
    private static int _generation;

    /// <summary>Maps without a marker (nothing will wait for the job's events).</summary>
    public static SubmitMapping Map(ReadOnlyMemory<byte> payload) => Read(payload).WithMarker(null);

    /// <summary>
    /// Checks the payload against the official model and writes the Batch request, in one pass, with what BatchSync
    /// adds to every job but the marker: as the native integration does, MANAGED_BY_AWS in the container environment
    /// when the caller passed ContainerOverrides. The marker derives from the task token, which may come anywhere in
    /// the payload, so the caller puts it in with <see cref="SubmitDraft.WithMarker"/> (before the next Read on the
    /// thread), which also checks what Batch would refuse or fail late (container overrides too long, too large).
    /// </summary>
    public static SubmitDraft Read(ReadOnlyMemory<byte> payload)
    {
        var (buffer, writer) = _output ??= NewOutput();
        buffer.ResetWrittenCount();
        writer.Reset(buffer);
        var generation = ++_generation;
        var own = new SubmitJobRules.OwnMembers();
        var problems = new List<InputProblem>();
        var walker = new ShapeWalker<SubmitJobRules>(payload, writer, problems, new SubmitJobRules(own));
        try
        {
            JsonInput.CheckUtf8(payload.Span);
            var reader = new Utf8JsonReader(payload.Span, new JsonReaderOptions { MaxDepth = JsonInput.MaxDepth });
            if (!reader.Read())
            {
                throw new JsonException("the payload is empty");
            }
            var rootType = reader.TokenType;
            if (rootType == JsonTokenType.StartObject)
            {
                walker.WriteRoot(ref reader, SubmitJobRules.Request);
            }
            else
            {
                reader.Skip();
            }
            while (reader.Read())
            {
            }
            if (rootType != JsonTokenType.StartObject)
            {
                return new SubmitDraft(new SubmitMapping(null, null, [new InputProblem("", $"the payload must be a JSON object, not {JsonInput.Describe(rootType)}")]));
            }
        }
        catch (JsonException e)
        {
            // Only the syntax is reported: whatever was found before the error is moot.
            return new SubmitDraft(NotJson(e));
        }
        if (own.SawServiceJobType)
        {
            if (own.SawJobDefinition)
            {
                // Reported through the token, as any invalid input is.
                return new SubmitDraft(new SubmitMapping(null, TokenOf(own), [.. own.TokenProblems ?? [],
                    new InputProblem("", $"give either {JobDefinitionMember} (a container job: SubmitJob) or {ServiceJobTypeMember} (a service job: SubmitServiceJob), not both")])
                {
                    ExecutionArn = own.ExecutionArn,
                });
            }
            buffer.ResetWrittenCount();
            writer.Reset(buffer);
            return ReadServiceJob(payload, writer, new SubmitJobRules.OwnMembers(serviceJob: true), [], generation);
        }
        writer.Flush();

        return Stopped(own, problems) ?? new SubmitDraft(walker.Rules, TokenOf(own), generation);
    }

    /// <summary>The request a draft found, once the marker is in (null: none).</summary>
    internal static SubmitMapping Finish(in SubmitJobRules found, string? token, int generation, JobAdditions? additions)
    {
        var written = Written(generation);
        List<InputProblem>? problems = null;
        if (found.ContainerOverridesOutput is { } overrides)
        {
            var characters = Encoding.UTF8.GetCharCount(written[overrides]);
            if (characters > MaxContainerOverridesChars)
            {
                (problems ??= []).Add(new InputProblem("ContainerOverrides",
                    $"is {characters} characters; Batch fails jobs whose container overrides exceed {MaxContainerOverridesChars}"));
            }
        }
        var body = additions is not null ? WithAdditions(written, found.ParametersEnd, found.TagsEnd, additions) : written.ToArray();
        if (body.Length > MaxRequestBytes)
        {
            (problems ??= []).Add(new InputProblem("", $"the SubmitJob request is {body.Length} bytes; Batch accepts at most {MaxRequestBytes}"));
        }
        if (problems is not null)
        {
            return new SubmitMapping(null, token, problems) { ExecutionArn = found.Own.ExecutionArn };
        }
        var own = found.Own;
        return new SubmitMapping(new SubmitRequest(body, found.JobName!, found.JobQueue!, token, own.ExecutionArn, own.StateName, own.Options?.ToJson(), own.TimeoutSeconds), token, [])
        {
            ExecutionArn = own.ExecutionArn,
        };
    }

    /// <summary>The token the payload gave, if usable (the problems are reported to it).</summary>
    private static string? TokenOf(SubmitJobRules.OwnMembers own) => own.TokenProblems is null ? own.TaskToken : null;

    /// <summary>A walk's problems, if it found any, in their fixed order: the token's, the request's, then BatchSync's own members'.</summary>
    private static SubmitDraft? Stopped(SubmitJobRules.OwnMembers own, List<InputProblem> problems) =>
        own.TokenProblems is not null || own.Problems is not null || problems.Count > 0
            ? new SubmitDraft(new SubmitMapping(null, TokenOf(own), [.. own.TokenProblems ?? [], .. problems, .. own.Problems ?? []]) { ExecutionArn = own.ExecutionArn })
            : null;

    /// <summary>The request bytes of the draft of this generation (the thread's buffer, until the next Read).</summary>
    private static ReadOnlySpan<byte> Written(int generation) =>
        generation == _generation && _output is { } output
            ? output.Buffer.WrittenSpan
            : throw new InvalidOperationException("The SubmitJob draft's bytes were overwritten: call WithMarker before the next Read on the thread.");

    private static SubmitMapping NotJson(JsonException e) => new(null, null, [new InputProblem("", JsonInput.NotJson("payload", e))]);

    /// <summary>The member that makes a payload a service job's (SubmitServiceJob requires it; SubmitJob has no such member).</summary>
    public const string ServiceJobTypeMember = "ServiceJobType";
    public const string JobDefinitionMember = "JobDefinition";

    private static SubmitDraft ReadServiceJob(ReadOnlyMemory<byte> payload, Utf8JsonWriter writer, SubmitJobRules.OwnMembers own, List<InputProblem> problems, int generation)
    {
        var walker = new ShapeWalker<ServiceJobRules>(payload, writer, problems, new ServiceJobRules(own));
        try
        {
            JsonInput.CheckUtf8(payload.Span);
            var reader = new Utf8JsonReader(payload.Span, new JsonReaderOptions { MaxDepth = JsonInput.MaxDepth });
            reader.Read();
            walker.WriteRoot(ref reader, ServiceJobRules.Request);
            while (reader.Read())
            {
            }
        }
        catch (JsonException e)
        {
            return new SubmitDraft(NotJson(e));
        }
        writer.Flush();
        return Stopped(own, problems) ?? new SubmitDraft(walker.Rules, TokenOf(own), generation);
    }

    /// <summary>
    /// The service job request a draft found, with BatchSync's additions: the marker (and a tenant's tag) last in Tags,
    /// and the clientToken derived from the task token last in the request. A service job has nowhere to carry a
    /// Callback key (no parameters; the payload is the caller's): it gets none.
    /// </summary>
    internal static SubmitMapping FinishService(in ServiceJobRules found, string? token, int generation, JobAdditions? additions)
    {
        var written = Written(generation);
        var own = found.Own;
        var added = additions is null ? 0 : additions.Tenant is null ? 1 : 2;
        if (found.TagCount + added > ServiceJobRules.MaxTags)
        {
            return new SubmitMapping(null, token, [new InputProblem("Tags", $"has {found.TagCount} tags; with BatchSync's {added} the job would have more than Batch's {ServiceJobRules.MaxTags}")])
            {
                ExecutionArn = own.ExecutionArn,
            };
        }
        byte[] body;
        if (additions is null)
        {
            body = written.ToArray();
        }
        else
        {
            var tags = new List<(string, string)> { (TaskKey.MarkerParameter, additions.Marker) };
            if (additions.Tenant is { } tenant)
            {
                tags.Add((Tenancy.TenantTag, tenant));
            }
            var end = written.Length - 1;
            var inserts = new List<(int At, byte[] Bytes)> { (found.TagsEnd?.Position ?? end, Members(found.TagsEnd, "tags", [.. tags])) };
            if (token is not null)
            {
                inserts.Add((end, Encoding.UTF8.GetBytes($",\"clientToken\":\"{TaskKey.ClientToken(token)}\"")));
            }
            body = Insert(written, inserts);
        }
        return new SubmitMapping(new SubmitRequest(body, found.JobName!, found.JobQueue!, token, own.ExecutionArn, own.StateName, own.Options?.ToJson(), own.TimeoutSeconds)
        {
            Kind = JobKind.Service,
            ServiceRole = found.ServiceRole,
        }, token, [])
        {
            ExecutionArn = own.ExecutionArn,
        };
    }

    /// <summary>
    /// The request with BatchSync's additions put in: the marker (and the Callback key) last in Parameters, or as a
    /// Parameters of their own at the end; the tenant tag last in Tags, or as Tags of its own at the end. The token they
    /// derive from may come anywhere in the payload, after Parameters too, so they go in once all is read.
    /// </summary>
    private static byte[] WithAdditions(ReadOnlySpan<byte> request, (int Position, bool Empty)? parametersEnd, (int Position, bool Empty)? tagsEnd, JobAdditions additions)
    {
        // A valid request always has members (its required ones), so a member of its own goes after a comma.
        var end = request.Length - 1;
        var inserts = new List<(int At, byte[] Bytes)>(2)
        {
            (parametersEnd?.Position ?? end, Members(parametersEnd, "parameters",
                [(TaskKey.MarkerParameter, additions.Marker), .. additions.CallbackKey is { } key ? [(TaskKey.CallbackKeyParameter, key)] : Array.Empty<(string, string)>()])),
        };
        if (additions.Tenant is { } tenant)
        {
            inserts.Add((tagsEnd?.Position ?? end, Members(tagsEnd, "tags", [(Tenancy.TenantTag, tenant)])));
        }
        return Insert(request, inserts);
    }

    /// <summary>The request with the byte strings put in at their positions (several at one position: in the order given).</summary>
    private static byte[] Insert(ReadOnlySpan<byte> request, List<(int At, byte[] Bytes)> inserts)
    {
        // Several may go at the end: in the order given (a stable sort).
        inserts = [.. inserts.OrderBy(i => i.At)];
        var body = new byte[request.Length + inserts.Sum(i => i.Bytes.Length)];
        var rest = body.AsSpan();
        var from = 0;
        foreach (var (at, bytes) in inserts)
        {
            Append(ref rest, request[from..at]);
            Append(ref rest, bytes);
            from = at;
        }
        Append(ref rest, request[from..]);
        return body;

        static void Append(ref Span<byte> destination, ReadOnlySpan<byte> bytes)
        {
            bytes.CopyTo(destination);
            destination = destination[bytes.Length..];
        }
    }

    /// <summary>String members for a map: inside it (after a comma unless it is empty), or as a member of its own.</summary>
    private static byte[] Members((int Position, bool Empty)? mapEnd, string mapName, (string Name, string Value)[] members)
    {
        using var text = new MemoryStream();
        void Write(ReadOnlySpan<byte> bytes) => text.Write(bytes);
        Write(mapEnd is null ? Encoding.UTF8.GetBytes($",\"{mapName}\":{{") : mapEnd.Value.Empty ? ""u8 : ","u8);
        for (var i = 0; i < members.Length; i++)
        {
            Write(i > 0 ? ","u8 : ""u8);
            Write("\""u8);
            Write(JsonEncodedText.Encode(members[i].Name, JsonText.WriterOptions.Encoder).EncodedUtf8Bytes);
            Write("\":\""u8);
            Write(JsonEncodedText.Encode(members[i].Value, JsonText.WriterOptions.Encoder).EncodedUtf8Bytes);
            Write("\""u8);
        }
        Write(mapEnd is null ? "}"u8 : ""u8);
        return text.ToArray();
    }

    private static (ArrayBufferWriter<byte>, Utf8JsonWriter) NewOutput()
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        return (buffer, new Utf8JsonWriter(buffer, JsonText.WriterOptions with { SkipValidation = true }));
    }
}

/// <summary>
/// A SubmitJob payload read and checked (<see cref="SubmitRequestMapper.Read"/>): the task token it gave, if usable, and
/// where the marker goes. Its request bytes are the thread's buffer until the next Read on the thread.
/// </summary>
public readonly struct SubmitDraft
{
    private readonly SubmitMapping? _done;
    private readonly SubmitJobRules _found;
    private readonly ServiceJobRules? _service;
    private readonly int _generation;

    /// <summary>A payload that stopped before the request: not JSON, not an object, or with problems.</summary>
    internal SubmitDraft(SubmitMapping done)
    {
        _done = done;
        TaskToken = done.TaskToken;
    }

    internal SubmitDraft(in SubmitJobRules found, string? token, int generation)
    {
        _found = found;
        _generation = generation;
        TaskToken = token;
    }

    internal SubmitDraft(in ServiceJobRules found, string? token, int generation)
    {
        _service = found;
        _generation = generation;
        TaskToken = token;
    }

    /// <summary>The task token, if the payload gave a usable one (the problems are reported to it).</summary>
    public string? TaskToken { get; }

    /// <summary>Where the marker goes in the request: before Parameters' closing brace (and whether Parameters is
    /// empty), or, when null, in a Parameters of its own at the end.</summary>
    public (int Position, bool Empty)? ParametersEnd => _found.ParametersEnd;

    /// <summary>
    /// The mapping with the marker parameter put in (null: none; given with the token, so the job's events find their
    /// record), and the checks that need the final bytes, in this order: the container overrides' length, then the
    /// request's size, the marker included.
    /// </summary>
    public SubmitMapping WithMarker(string? marker) => With(marker is null ? null : new JobAdditions(marker));

    /// <summary>As <see cref="WithMarker"/>, with the Callback key and the tenant tag where the additions have them.</summary>
    public SubmitMapping With(JobAdditions? additions) =>
        _done ?? (_service is { } service
            ? SubmitRequestMapper.FinishService(service, TaskToken, _generation, additions)
            : SubmitRequestMapper.Finish(_found, TaskToken, _generation, additions));
}
