using System.Text.Json;

namespace BatchSync.Domain;

/// <summary>
/// BatchSync.NotAllowed: the job queue, job definition or (for a service job) SageMaker execution role is not one this
/// stack's SubmitJob may use (template parameters AllowedJobQueues, AllowedJobDefinitions, AllowedServiceRoles);
/// nothing was submitted.
/// </summary>
public sealed class NotAllowedException(string message) : BatchSyncException(Name, message)
{
    public const string Name = "BatchSync.NotAllowed";
}

/// <summary>
/// The job queues and job definitions SubmitJob may use: ARN patterns in which <c>*</c> matches any characters and
/// <c>?</c> one, as in IAM. The template puts the same lists in SubmitJob's IAM policy (the authority) and in
/// BATCHSYNC_ALLOWED_JOB_QUEUES / BATCHSYNC_ALLOWED_JOB_DEFINITIONS, so a refusal is named before anything is
/// submitted, rather than surfacing as Batch's AccessDenied. An empty list allows everything.
/// </summary>
public sealed class SubmitPermissions
{
    public const string QueuesVariable = "BATCHSYNC_ALLOWED_JOB_QUEUES";
    public const string DefinitionsVariable = "BATCHSYNC_ALLOWED_JOB_DEFINITIONS";
    public const string ServiceRolesVariable = "BATCHSYNC_ALLOWED_SERVICE_ROLES";

    /// <summary>Every queue, definition and service role (tests and tools; a deployed stack reads its lists).</summary>
    public static SubmitPermissions Everything { get; } = new([], []);

    private readonly string[] _queues;
    private readonly string[] _definitions;
    private readonly string[]? _serviceRoles;

    /// <param name="queues">Job queue ARN patterns (empty: every queue).</param>
    /// <param name="definitions">Job definition ARN patterns (empty: every definition).</param>
    /// <param name="serviceRoles">The SageMaker execution role ARN patterns a service job may name: null, not checked
    /// here; empty, none (the template's default: service jobs are off until AllowedServiceRoles names a role).</param>
    public SubmitPermissions(IEnumerable<string> queues, IEnumerable<string> definitions, IEnumerable<string>? serviceRoles = null)
    {
        _queues = queues.Select(q => q.Trim()).Where(q => q.Length > 0).ToArray();
        _definitions = definitions.Select(d => d.Trim()).Where(d => d.Length > 0).ToArray();
        _serviceRoles = serviceRoles?.Select(r => r.Trim()).Where(r => r.Length > 0).ToArray();
    }

    /// <summary>
    /// From the comma-separated lists the template sets: an absent or empty queue or definition list allows every
    /// one; an absent or empty service role list allows none.
    /// </summary>
    public static SubmitPermissions FromLists(string? queues, string? definitions, string? serviceRoles = null) =>
        new((queues ?? "").Split(','), (definitions ?? "").Split(','), (serviceRoles ?? "").Split(','));

    public bool AllowsEverything => _queues.Length == 0 && _definitions.Length == 0;

    /// <summary>
    /// Why the Batch SubmitJob request (its <c>jobQueue</c> and <c>jobDefinition</c>) is not allowed, or null when it is.
    /// A queue or definition given by name is compared with the name part of each pattern; a job definition without
    /// a revision (Batch takes the latest) must be allowed for every revision.
    /// </summary>
    public NotAllowedException? Check(ReadOnlySpan<byte> batchRequest) => Check(batchRequest, JobKind.Container, null);

    /// <summary>
    /// As <see cref="Check(ReadOnlySpan{byte})"/> for a request of either kind: a service job (SubmitServiceJob) has no
    /// job definition; its <paramref name="serviceRole"/> (the payload's RoleArn, which Batch passes to SageMaker) must
    /// be an allowed one.
    /// </summary>
    public NotAllowedException? Check(ReadOnlySpan<byte> batchRequest, JobKind kind, string? serviceRole)
    {
        var checksRole = kind == JobKind.Service && _serviceRoles is not null;
        if (AllowsEverything && !checksRole)
        {
            return null;
        }
        var (queue, definition) = Read(batchRequest);
        var problems = new List<string>();
        if (_queues.Length > 0 && !_queues.Any(p => QueueAllowed(p, queue ?? "")))
        {
            problems.Add($"job queue \"{queue}\" is not one of the allowed job queues ({string.Join(", ", _queues)})");
        }
        if (kind == JobKind.Container && _definitions.Length > 0 && !_definitions.Any(p => DefinitionAllowed(p, definition ?? "")))
        {
            problems.Add($"job definition \"{definition}\" is not one of the allowed job definitions ({string.Join(", ", _definitions)})");
        }
        if (checksRole && _serviceRoles!.Length == 0)
        {
            problems.Add("service jobs are off: no SageMaker execution role is allowed (template parameter AllowedServiceRoles)");
        }
        else if (checksRole && !_serviceRoles!.Any(p => Glob(p, serviceRole ?? "")))
        {
            problems.Add($"service role \"{serviceRole}\" (ServiceRequestPayload.RoleArn) is not one of the allowed service roles ({string.Join(", ", _serviceRoles!)})");
        }
        return problems.Count == 0 ? null
            : new NotAllowedException($"This BatchSync stack may not submit this job: {string.Join("; ", problems)}. Nothing was submitted.");
    }

    private static bool QueueAllowed(string pattern, string queue) =>
        queue.StartsWith("arn:", StringComparison.Ordinal)
            ? Glob(pattern, queue)
            : Glob(ResourcePart(pattern, "job-queue/"), queue);

    private static bool DefinitionAllowed(string pattern, string definition)
    {
        if (definition.StartsWith("arn:", StringComparison.Ordinal))
        {
            return Glob(pattern, definition);
        }
        var resource = ResourcePart(pattern, "job-definition/");
        if (definition.Contains(':'))
        {
            return Glob(resource, definition);
        }
        // No revision: Batch uses the latest, which only a pattern that allows every revision is sure to cover.
        return Glob(resource, definition + ":1") && Glob(resource, definition + ":2147483647");
    }

    /// <summary>The part of an ARN pattern after <c>job-queue/</c> or <c>job-definition/</c>; a pattern naming another resource type matches no name.</summary>
    private static string ResourcePart(string pattern, string type)
    {
        if (pattern == "*")
        {
            return "*";
        }
        var at = pattern.IndexOf(type, StringComparison.Ordinal);
        return at < 0 ? "\0" : pattern[(at + type.Length)..];
    }

    /// <summary>IAM-style matching: <c>*</c> any run of characters, <c>?</c> exactly one, everything else itself.</summary>
    public static bool Glob(string pattern, string text)
    {
        int p = 0, t = 0, star = -1, resume = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t]))
            {
                p++;
                t++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                resume = t;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++resume;
            }
            else
            {
                return false;
            }
        }
        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }
        return p == pattern.Length;
    }

    private static (string? Queue, string? Definition) Read(ReadOnlySpan<byte> request)
    {
        var reader = new Utf8JsonReader(request);
        string? queue = null, definition = null;
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return (null, null);
        }
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isQueue = reader.ValueTextEquals("jobQueue"u8);
            var isDefinition = !isQueue && reader.ValueTextEquals("jobDefinition"u8);
            reader.Read();
            if (isQueue && reader.TokenType == JsonTokenType.String)
            {
                queue = reader.GetString();
            }
            else if (isDefinition && reader.TokenType == JsonTokenType.String)
            {
                definition = reader.GetString();
            }
            else
            {
                reader.Skip();
            }
        }
        return (queue, definition);
    }
}
