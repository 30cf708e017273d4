using System.Text;
using System.Text.Json;
using BatchSync.Domain;
using BatchSync.Model;

namespace BatchSync.Mapping;

/// <summary>
/// SubmitServiceJob's own rules on top of the model walk (a payload with <c>ServiceJobType</c>): it keeps the job
/// name and queue for the record, reads BatchSync's own root members as for a container job, reserves the marker and
/// tenant tags (a service job has no parameters: its marker is a tag), refuses <c>ClientToken</c> (BatchSync derives it
/// from the task token), notes where Tags ends and how many tags there are, and checks what it can of
/// <c>ServiceRequestPayload</c>: Batch passes it to SageMaker unchecked, so a payload that is not a JSON object, or
/// lacks the CreateTrainingJob members BatchSync reads, fails here by name instead of later at SageMaker.
/// </summary>
internal struct ServiceJobRules : IWalkRules
{
    private const int RootObject = 1, JobNameString = 2, JobQueueString = 3, TagsMap = 4, PayloadString = 5, ClientTokenString = 6;

    public static readonly Shape Request = BatchShapes.Instance["SubmitServiceJobRequest"];
    private static readonly int JobNameOrdinal = Request.MembersByWire["jobName"].Ordinal;
    private static readonly int JobQueueOrdinal = Request.MembersByWire["jobQueue"].Ordinal;
    private static readonly int TagsOrdinal = Request.MembersByWire["tags"].Ordinal;
    private static readonly int PayloadOrdinal = Request.MembersByWire["serviceRequestPayload"].Ordinal;
    private static readonly int ClientTokenOrdinal = Request.MembersByWire["clientToken"].Ordinal;
    private static readonly byte[] MarkerUtf8 = Encoding.UTF8.GetBytes(TaskKey.MarkerParameter);
    private static readonly byte[] TenantTagUtf8 = Encoding.UTF8.GetBytes(Tenancy.TenantTag);

    /// <summary>Batch's most tags on a resource (the model's TagrisTagsMap: 1 to 50).</summary>
    public const int MaxTags = 50;
    public const string PayloadMember = "ServiceRequestPayload";
    public const string ClientTokenMember = "ClientToken";

    public ServiceJobRules(SubmitJobRules.OwnMembers own) => Own = own;

    public SubmitJobRules.OwnMembers Own { get; }
    public string? JobName { get; private set; }
    public string? JobQueue { get; private set; }
    /// <summary>The payload's RoleArn: the SageMaker execution role Batch passes (checked against AllowedServiceRoles).</summary>
    public string? ServiceRole { get; private set; }
    /// <summary>How many tags the caller gave.</summary>
    public int TagCount { get; private set; }
    public (int Position, bool Empty)? TagsEnd { get; private set; }

    public readonly int RootContext => RootObject;

    public readonly bool ReadRootMember(ref Utf8JsonReader reader) => Own.Read(ref reader);

    public readonly int MemberContext(int parent, ShapeMember member) => parent switch
    {
        RootObject when member.Ordinal == JobNameOrdinal => JobNameString,
        RootObject when member.Ordinal == JobQueueOrdinal => JobQueueString,
        RootObject when member.Ordinal == TagsOrdinal => TagsMap,
        RootObject when member.Ordinal == PayloadOrdinal => PayloadString,
        RootObject when member.Ordinal == ClientTokenOrdinal => ClientTokenString,
        _ => 0,
    };

    public readonly int ItemContext(int list) => 0;

    public readonly bool WantsOutputRange(int context) => false;

    public readonly void OutputRange(int context, Range output)
    {
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
            case PayloadString:
                ServiceRole = CheckPayload(reader.GetString()!, Own);
                break;
            case ClientTokenString:
                Own.Add(new InputProblem(ClientTokenMember, "is set by BatchSync (derived from the task token, so a retried invocation cannot start a second job): leave it out"));
                break;
        }
    }

    public string? MapKeyProblem(int context, ref Utf8JsonReader reader)
    {
        if (context != TagsMap)
        {
            return null;
        }
        TagCount++;
        return reader.ValueTextEquals(MarkerUtf8) || reader.ValueTextEquals(TenantTagUtf8) ? "is reserved for BatchSync's own use" : null;
    }

    public void MapEnd(int context, int position, bool empty)
    {
        if (context == TagsMap)
        {
            TagsEnd = (position, empty);
        }
    }

    public readonly void StructureEnd(int context, Shape shape, ulong seen, Utf8JsonWriter? output)
    {
    }

    public readonly void ListEnd(int context, Utf8JsonWriter? output)
    {
    }

    /// <summary>
    /// What BatchSync checks of the payload, which it passes on as written: a JSON object (a CreateTrainingJob
    /// request) with <c>TrainingJobName</c> and <c>RoleArn</c> strings, the role an IAM role ARN. Returns the role.
    /// </summary>
    private static string? CheckPayload(string payload, SubmitJobRules.OwnMembers own)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(payload, new JsonDocumentOptions { MaxDepth = JsonInput.MaxDepth });
        }
        catch (JsonException e)
        {
            own.Add(new InputProblem(PayloadMember, $"must be a CreateTrainingJob request as a JSON string; {JsonInput.NotJson("its text", e)}"));
            return null;
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                own.Add(new InputProblem(PayloadMember, $"must be a CreateTrainingJob request (a JSON object) as a string, not {JsonInput.Describe(root)}"));
                return null;
            }
            if (!root.TryGetProperty("TrainingJobName", out var name) || name.ValueKind != JsonValueKind.String || name.GetString() is not { Length: > 0 })
            {
                own.Add(new InputProblem($"{PayloadMember}.TrainingJobName", "is required by CreateTrainingJob (a non-empty string)"));
            }
            // The role checked must be the one SageMaker uses: one RoleArn, spelt so (a duplicate, or another casing a
            // lenient reader might take, could name a role the check never saw).
            var roles = 0;
            foreach (var member in root.EnumerateObject())
            {
                if (string.Equals(member.Name, "RoleArn", StringComparison.OrdinalIgnoreCase))
                {
                    roles += member.NameEquals("RoleArn") ? 1 : 2;
                }
            }
            if (roles > 1)
            {
                own.Add(new InputProblem($"{PayloadMember}.RoleArn", "must be given once, spelt RoleArn"));
                return null;
            }
            if (!root.TryGetProperty("RoleArn", out var role) || role.ValueKind != JsonValueKind.String || role.GetString() is not { } arn)
            {
                own.Add(new InputProblem($"{PayloadMember}.RoleArn", "is required by CreateTrainingJob: the SageMaker execution role's ARN (a string)"));
                return null;
            }
            if (!IsRoleArn(arn))
            {
                own.Add(new InputProblem($"{PayloadMember}.RoleArn", "must be an IAM role ARN (arn:<partition>:iam::<account>:role/<name>)"));
                return null;
            }
            return arn;
        }
    }

    private static bool IsRoleArn(string arn)
    {
        var parts = arn.Split(':', 6);
        return arn.Length <= 2048 && parts.Length == 6 && parts[0] == "arn" && parts[1].Length > 0 && parts[2] == "iam" && parts[3].Length == 0
            && parts[4].Length == 12 && parts[4].All(char.IsAsciiDigit) && parts[5].StartsWith("role/", StringComparison.Ordinal) && parts[5].Length > 5;
    }
}
