using System.Text.Json;

namespace BatchSync.Domain;

/// <summary>
/// Which part of the due index one sweep invocation reads. The schedule invokes Reconcile once per part at each tick
/// (template parameter <c>SweepInvocations</c>), each with <c>{"Sweep": {"Part": k, "Parts": n}}</c>; part k takes the
/// shards whose number modulo n is k - 1, so the parts cover every shard once. A plain "Scheduled Event" is the whole
/// index in one invocation (part 1 of 1).
/// </summary>
public sealed record SweepRequest(int Part, int Parts)
{
    public const string Member = "Sweep";

    public static readonly SweepRequest Whole = new(1, 1);

    /// <summary>The due-index shards this part reads.</summary>
    public IReadOnlyList<string> Shards => Enumerable.Range(0, DueShards.Count).Where(s => s % Parts == Part - 1).Select(DueShards.Name).ToList();

    /// <summary>Reads <c>{"Sweep": {"Part": k, "Parts": n}}</c>; both optional (1 of 1), 1 ≤ k ≤ n ≤ the shard count.</summary>
    public static SweepRequest Parse(JsonElement sweep)
    {
        if (sweep.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidEventException($"{Member} must be an object such as {{\"Part\": 1, \"Parts\": 4}}, not {JsonInput.Describe(sweep)}");
        }
        int? part = null, parts = null;
        foreach (var member in sweep.EnumerateObject())
        {
            switch (member.Name)
            {
                case "Part":
                    part = Count(member);
                    break;
                case "Parts":
                    parts = Count(member);
                    break;
                default:
                    throw new InvalidEventException($"{Member}.{member.Name} is not a member; {Member} takes Part and Parts");
            }
        }
        var request = new SweepRequest(part ?? 1, parts ?? 1);
        if (request.Parts > DueShards.Count)
        {
            throw new InvalidEventException($"{Member}.Parts must be at most {DueShards.Count} (the due index has {DueShards.Count} shards), not {request.Parts}");
        }
        if (request.Part > request.Parts)
        {
            throw new InvalidEventException($"{Member}.Part must be at most {Member}.Parts ({request.Parts}), not {request.Part}");
        }
        return request;
    }

    private static int Count(JsonProperty member) =>
        member.Value.ValueKind == JsonValueKind.Number && member.Value.TryGetInt32(out var n) && n >= 1 ? n
            : throw new InvalidEventException($"{Member}.{member.Name} must be a whole number of at least 1, not {JsonInput.Describe(member.Value)}");
}
