using BatchSync.Domain;
using System.Text;
using System.Text.Json;
using BatchSync.Model;

namespace BatchSync.Mapping;

/// <summary>
/// SubmitJob's own rules on top of the model walk: it keeps the job name and queue for the record, reads BatchSync's
/// own root members (TaskToken, ExecutionArn, StateName, BatchSync, TimeoutSeconds), reserves the marker parameter,
/// notes where Parameters ends (the marker goes there) and where ContainerOverrides lies in the output (Batch limits
/// its length), and, as the native integration does, adds MANAGED_BY_AWS to the container environment when the caller
/// passed ContainerOverrides.
/// </summary>
internal struct SubmitJobRules : IWalkRules
{
    // The contexts: the values SubmitJob has something to do with, by where they are in the request.
    private const int RootObject = 1, JobNameString = 2, JobQueueString = 3, ParametersMap = 4;
    private const int OverridesObject = 5, EnvironmentList = 6, EnvironmentEntry = 7, EntryName = 8, TagsMap = 9;

    public static readonly Shape Request = BatchShapes.Instance["SubmitJobRequest"];
    // The members are matched by ordinal, resolved once here, so walking a member costs no name comparison.
    private static readonly int JobNameOrdinal = Request.MembersByWire["jobName"].Ordinal;
    private static readonly int JobQueueOrdinal = Request.MembersByWire["jobQueue"].Ordinal;
    private static readonly int ParametersOrdinal = Request.MembersByWire["parameters"].Ordinal;
    private static readonly int TagsOrdinal = Request.MembersByWire["tags"].Ordinal;
    private static readonly byte[] CallbackKeyUtf8 = Encoding.UTF8.GetBytes(TaskKey.CallbackKeyParameter);
    private static readonly byte[] TenantTagUtf8 = Encoding.UTF8.GetBytes(Tenancy.TenantTag);
    private static readonly ShapeMember ContainerOverridesMember = Request.MembersByWire["containerOverrides"];
    private static readonly ShapeMember EnvironmentMember = ContainerOverridesMember.Shape.MembersByWire["environment"];
    private static readonly int EnvironmentNameOrdinal = EnvironmentMember.Shape.MemberShape!.MembersByWire["name"].Ordinal;
    private static readonly byte[] MarkerUtf8 = Encoding.UTF8.GetBytes(TaskKey.MarkerParameter);
    private static readonly byte[] AddedNameUtf8 = Encoding.UTF8.GetBytes(SubmitRequestMapper.StepFunctionsEnvironmentName);

    private bool _environmentHasAddedName;

    public SubmitJobRules(OwnMembers own) => Own = own;

    /// <summary>BatchSync's own members of the payload.</summary>
    public OwnMembers Own { get; }
    public string? JobName { get; private set; }
    public string? JobQueue { get; private set; }

    /// <summary>Where the Parameters object's closing brace is in the output, and whether it is empty, once written.</summary>
    public (int Position, bool Empty)? ParametersEnd { get; private set; }

    /// <summary>Where the Tags map's closing brace is in the output, and whether it is empty, once written.</summary>
    public (int Position, bool Empty)? TagsEnd { get; private set; }

    /// <summary>Where the ContainerOverrides value lies in the output, once written.</summary>
    public Range? ContainerOverridesOutput { get; private set; }

    public readonly int RootContext => RootObject;

    public readonly bool ReadRootMember(ref Utf8JsonReader reader) => Own.Read(ref reader);

    public readonly int MemberContext(int parent, ShapeMember member) => parent switch
    {
        RootObject when member.Ordinal == JobNameOrdinal => JobNameString,
        RootObject when member.Ordinal == JobQueueOrdinal => JobQueueString,
        RootObject when member.Ordinal == ParametersOrdinal => ParametersMap,
        RootObject when member.Ordinal == TagsOrdinal => TagsMap,
        RootObject when member.Ordinal == ContainerOverridesMember.Ordinal => OverridesObject,
        OverridesObject when member.Ordinal == EnvironmentMember.Ordinal => EnvironmentList,
        EnvironmentEntry when member.Ordinal == EnvironmentNameOrdinal => EntryName,
        _ => 0,
    };

    public readonly int ItemContext(int list) => list == EnvironmentList ? EnvironmentEntry : 0;

    public readonly bool WantsOutputRange(int context) => context == OverridesObject;

    public void OutputRange(int context, Range output)
    {
        if (context == OverridesObject)
        {
            ContainerOverridesOutput = output;
        }
    }

    public void StringValue(int context, ref Utf8JsonReader reader)
    {
        switch (context)
        {
            case JobNameString:
                JobName = reader.GetString();
                break;
            case JobQueueString:
                JobQueue = reader.GetString();
                break;
            case EntryName when reader.ValueTextEquals(AddedNameUtf8):
                _environmentHasAddedName = true;
                break;
        }
    }

    public readonly string? MapKeyProblem(int context, ref Utf8JsonReader reader) =>
        (context == ParametersMap && (reader.ValueTextEquals(MarkerUtf8) || reader.ValueTextEquals(CallbackKeyUtf8)))
        || (context == TagsMap && reader.ValueTextEquals(TenantTagUtf8))
            ? "is reserved for BatchSync's own use" : null;

    public void MapEnd(int context, int position, bool empty)
    {
        if (context == ParametersMap)
        {
            ParametersEnd = (position, empty);
        }
        else if (context == TagsMap)
        {
            TagsEnd = (position, empty);
        }
    }

    public readonly void StructureEnd(int context, Shape shape, ulong seen, Utf8JsonWriter? output)
    {
        if (context == OverridesObject && (seen & (1UL << EnvironmentMember.Ordinal)) == 0 && output is not null)
        {
            output.WriteStartArray("environment");
            WriteAddedEntry(output);
            output.WriteEndArray();
        }
    }

    public readonly void ListEnd(int context, Utf8JsonWriter? output)
    {
        if (context == EnvironmentList && !_environmentHasAddedName && output is not null)
        {
            WriteAddedEntry(output);
        }
    }

    private static void WriteAddedEntry(Utf8JsonWriter output)
    {
        output.WriteStartObject();
        output.WriteString("name"u8, SubmitRequestMapper.StepFunctionsEnvironmentName);
        output.WriteString("value"u8, SubmitRequestMapper.StepFunctionsEnvironmentValue);
        output.WriteEndObject();
    }

    // In this order: the token is read first (index 0); the options (BatchSync) are read whole.
    private const int OptionsIndex = 3;
    private const int TimeoutIndex = 4;
    private static readonly string[] ReservedNames =
    [
        SubmitRequestMapper.TaskTokenMember, SubmitRequestMapper.ExecutionArnMember, SubmitRequestMapper.StateNameMember,
        TaskOptions.Member, SubmitRequestMapper.TimeoutSecondsMember,
    ];
    private static readonly byte[][] ReservedUtf8 = [.. ReservedNames.Select(Encoding.UTF8.GetBytes)];

    /// <summary>Which of BatchSync's own members the reader's property name is, or -1.</summary>
    private static int ReservedIndex(ref Utf8JsonReader reader)
    {
        var escaped = reader.ValueIsEscaped || reader.HasValueSequence;
        for (var i = 0; i < ReservedUtf8.Length; i++)
        {
            if (escaped ? reader.ValueTextEquals(ReservedUtf8[i]) : reader.ValueSpan.SequenceEqual(ReservedUtf8[i]))
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>
    /// BatchSync's own members of the payload, read as the request is walked. Their problems are kept apart so they can
    /// be reported in a fixed order: the token's first, then the request's, then ExecutionArn's and StateName's.
    /// </summary>
    internal sealed class OwnMembers
    {
        private static readonly byte[] ServiceJobTypeUtf8 = Encoding.UTF8.GetBytes(SubmitRequestMapper.ServiceJobTypeMember);
        private static readonly byte[] JobDefinitionUtf8 = Encoding.UTF8.GetBytes(SubmitRequestMapper.JobDefinitionMember);
        private readonly bool _serviceJob;
        private int _seen;

        /// <param name="serviceJob">Read for SubmitServiceJob (else SubmitJob).</param>
        public OwnMembers(bool serviceJob = false) => _serviceJob = serviceJob;

        /// <summary>
        /// A SubmitJob walk met <c>ServiceJobType</c> (which SubmitJob has not and SubmitServiceJob requires): the payload
        /// is a service job's, to be read again as one. Noted in the same pass, so a container job's payload is read once.
        /// </summary>
        public bool SawServiceJobType { get; private set; }
        /// <summary>The payload has <c>JobDefinition</c> (only SubmitJob has it).</summary>
        public bool SawJobDefinition { get; private set; }

        public string? TaskToken { get; private set; }
        public string? ExecutionArn { get; private set; }
        public string? StateName { get; private set; }
        public int? TimeoutSeconds { get; private set; }
        /// <summary>The task's opt-ins (the <c>BatchSync</c> member), if it gave any.</summary>
        public TaskOptions? Options { get; private set; }
        public List<InputProblem>? TokenProblems { get; private set; }
        public List<InputProblem>? Problems { get; private set; }

        /// <summary>A problem the request's own rules found in a member they read (reported with BatchSync's own).</summary>
        public void Add(InputProblem problem) => (Problems ??= []).Add(problem);

        public bool Read(ref Utf8JsonReader reader)
        {
            var index = ReservedIndex(ref reader);
            if (index < 0)
            {
                return !_serviceJob && NotesKind(ref reader);
            }
            reader.Read();
            var member = ReservedNames[index];
            if (index == OptionsIndex)
            {
                ReadOptions(ref reader);
                return true;
            }
            var type = reader.TokenType;
            var value = type == JsonTokenType.String ? reader.GetString()! : null;
            int? seconds = type == JsonTokenType.Number && reader.TryGetInt32(out var n) ? n : null;
            reader.Skip();
            InputProblem? problem;
            if ((_seen & (1 << index)) != 0)
            {
                // Given twice, neither is the one: a duplicated token leaves no single task to report to.
                problem = new InputProblem(member, "is given more than once");
            }
            else
            {
                _seen |= 1 << index;
                switch (index)
                {
                    case 0:
                        TaskToken = ReadTaskToken(value, type, out problem);
                        break;
                    case TimeoutIndex:
                        problem = seconds is >= 1 and <= SubmitRequestMapper.MaxTimeoutSeconds ? null
                            : new InputProblem(member, $"must be a whole number of seconds from 1 to {SubmitRequestMapper.MaxTimeoutSeconds} (the state's own TimeoutSeconds), not {(type == JsonTokenType.Number ? "that number" : JsonInput.Describe(type))}");
                        TimeoutSeconds = problem is null ? seconds : null;
                        break;
                    case 1:
                        ExecutionArn = Checked(value, type, member, IsExecutionArn,
                            "must be an execution ARN (use \"ExecutionArn.$\": \"$$.Execution.Id\")", out problem);
                        break;
                    default:
                        StateName = Checked(value, type, member, n => n.Length is > 0 and <= SubmitRequestMapper.MaxStateNameLength,
                            $"must be 1 to {SubmitRequestMapper.MaxStateNameLength} characters (use \"StateName.$\": \"$$.State.Name\")", out problem);
                        break;
                }
            }
            if (problem is not null)
            {
                (index == 0 ? TokenProblems ??= [] : Problems ??= []).Add(problem);
            }
            return true;
        }

        /// <summary>Notes JobDefinition (left to the walk) and ServiceJobType (taken: the payload is read again as a service job's).</summary>
        private bool NotesKind(ref Utf8JsonReader reader)
        {
            var escaped = reader.ValueIsEscaped || reader.HasValueSequence;
            if (escaped ? reader.ValueTextEquals(JobDefinitionUtf8) : reader.ValueSpan.SequenceEqual(JobDefinitionUtf8))
            {
                SawJobDefinition = true;
                return false;
            }
            if (!(escaped ? reader.ValueTextEquals(ServiceJobTypeUtf8) : reader.ValueSpan.SequenceEqual(ServiceJobTypeUtf8)))
            {
                return false;
            }
            SawServiceJobType = true;
            reader.Read();
            reader.Skip();
            return true;
        }

        private void ReadOptions(ref Utf8JsonReader reader)
        {
            using var value = JsonDocument.ParseValue(ref reader);
            if ((_seen & (1 << OptionsIndex)) != 0)
            {
                (Problems ??= []).Add(new InputProblem(TaskOptions.Member, "is given more than once"));
                Options = null;
                return;
            }
            _seen |= 1 << OptionsIndex;
            var problems = new List<InputProblem>();
            Options = TaskOptions.Read(value.RootElement, problems);
            if (problems.Count > 0)
            {
                (Problems ??= []).AddRange(problems);
            }
        }
    }

    private static string? ReadTaskToken(string? token, JsonTokenType type, out InputProblem? problem)
    {
        problem = token is null
            ? new InputProblem(SubmitRequestMapper.TaskTokenMember, $"must be a string (use \"TaskToken.$\": \"$$.Task.Token\"), not {JsonInput.Describe(type)}")
            : token.Length is 0 or > SubmitRequestMapper.MaxTaskTokenLength
                ? new InputProblem(SubmitRequestMapper.TaskTokenMember, $"must be 1 to {SubmitRequestMapper.MaxTaskTokenLength} characters (is {token.Length})")
                : null;
        return problem is null ? token : null;
    }

    private static string? Checked(string? value, JsonTokenType type, string member, Func<string, bool> valid, string rule, out InputProblem? problem)
    {
        problem = value is null ? new InputProblem(member, $"{rule}, not {JsonInput.Describe(type)}")
            : !valid(value) ? new InputProblem(member, rule)
            : null;
        return problem is null ? value : null;
    }

    private static bool IsExecutionArn(string arn)
    {
        var parts = arn.Split(':');
        return arn.Length <= 2048 && parts.Length >= 8 && parts[0] == "arn" && parts[2] == "states" && parts[5] is "execution" or "express";
    }
}
