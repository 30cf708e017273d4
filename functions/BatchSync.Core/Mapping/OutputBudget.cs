using BatchSync.Domain;
using System.Text;
using System.Text.Json;

namespace BatchSync.Mapping;

/// <summary>How an answer's size is counted against its limit: SendTaskSuccess's output in UTF-8 bytes, SendTaskFailure's cause in characters.</summary>
public readonly record struct OutputLimit(int Max, bool CountsChars)
{
    public bool Fits(ReadOnlySpan<byte> utf8) => (CountsChars ? Encoding.UTF8.GetCharCount(utf8) : utf8.Length) <= Max;
}

/// <summary>A top-level member of an answer as the writer wrote it: its name, its value's size in UTF-8 bytes, and the value when it came from the JobDetail.</summary>
internal readonly record struct WrittenMember(string Name, int ValueBytes, JsonElement? Value);

/// <summary>What the writer leaves out of an answer too large for Step Functions, as <see cref="OutputBudget"/> decides.</summary>
internal sealed class Omissions
{
    /// <summary>Top-level members left out.</summary>
    public HashSet<string> Members { get; } = new(StringComparer.Ordinal);

    /// <summary><c>Attempts</c> written with its latest attempt only.</summary>
    public bool LatestAttemptOnly { get; set; }

    /// <summary>Free-text members written cut short.</summary>
    public Dictionary<string, string> Clipped { get; } = new(StringComparer.Ordinal);

    /// <summary>The <c>BatchSyncOmitted</c> member, written after all others; none while null.</summary>
    public List<string>? Note { get; set; }
}

/// <summary>
/// Step Functions refuses a SendTaskSuccess output over 262,144 UTF-8 bytes and a SendTaskFailure cause over 32,768
/// characters; a refused answer would leave the state waiting. An answer that does not fit is written again without
/// some of its members, deterministically, until it fits: first Attempts is cut to the latest attempt, then the
/// bulkiest other top-level members are left out (ties by name), and their names are listed in <c>BatchSyncOmitted</c>.
/// JobId, JobArn, JobName, Status, StatusReason, the latest attempt, a callback Result and BatchSync's added members
/// are kept.
/// </summary>
public static class OutputBudget
{
    public const string OmittedMember = "BatchSyncOmitted";

    /// <summary>The limit of a SendTaskSuccess output.</summary>
    public static readonly OutputLimit Output = new(StepFunctionsLimits.OutputBytes, CountsChars: false);

    /// <summary>The limit of a SendTaskFailure cause.</summary>
    public static readonly OutputLimit Cause = new(StepFunctionsLimits.CauseChars, CountsChars: true);

    private const int MaxClippedChars = 256;

    private static readonly HashSet<string> Kept = new(StringComparer.Ordinal)
    {
        "JobId", "JobArn", "JobName", "Status", "StatusReason", "Attempts", "Result", OmittedMember,
        OptInMembers.Failure, OptInMembers.Links, OptInMembers.LogTail,
        OptInMembers.ArraySummary,
    };


    /// <summary>
    /// The first answer, in the order above, that fits <paramref name="limit"/>: <paramref name="write"/> writes the
    /// answer without what it is given to leave out; <paramref name="members"/> are the top-level members of the whole
    /// answer, which did not fit.
    /// </summary>
    internal static byte[] Fit(IReadOnlyList<WrittenMember> members, OutputLimit limit, Func<Omissions, byte[]> write)
    {
        var omissions = new Omissions();
        byte[] utf8;
        if (Value(members, "Attempts") is { ValueKind: JsonValueKind.Array } attempts && attempts.GetArrayLength() > 1)
        {
            omissions.LatestAttemptOnly = true;
            omissions.Note = ["Attempts (all but the latest)"];
            if (limit.Fits(utf8 = write(omissions)))
            {
                return utf8;
            }
        }

        var bulkiestFirst = members.Where(m => !Kept.Contains(m.Name))
            .OrderByDescending(m => m.ValueBytes).ThenBy(m => m.Name, StringComparer.Ordinal);
        foreach (var member in bulkiestFirst)
        {
            omissions.Members.Add(member.Name);
            (omissions.Note ??= []).Add(member.Name);
            if (limit.Fits(utf8 = write(omissions)))
            {
                return utf8;
            }
        }

        // Only kept members are left and still too large: the latest attempt goes (named, as everything left out is),
        // then the free text is cut.
        if (members.Any(m => m.Name == "Attempts"))
        {
            omissions.Members.Add("Attempts");
            (omissions.Note ??= []).Add("Attempts");
            if (limit.Fits(utf8 = write(omissions)))
            {
                return utf8;
            }
        }
        foreach (var name in new[] { "StatusReason", "JobName" })
        {
            if (Value(members, name) is { ValueKind: JsonValueKind.String } value && value.GetString() is { Length: > MaxClippedChars } text)
            {
                omissions.Clipped[name] = StepFunctionsLimits.Clip(text, MaxClippedChars);
                if (limit.Fits(utf8 = write(omissions)))
                {
                    return utf8;
                }
            }
        }

        var minimal = new Omissions { Note = ["everything else"] };
        minimal.Members.UnionWith(members.Select(m => m.Name).Where(name => name is not ("JobId" or "Status")));
        return write(minimal);
    }

    private static JsonElement? Value(IReadOnlyList<WrittenMember> members, string name)
    {
        foreach (var member in members)
        {
            if (member.Name == name)
            {
                return member.Value;
            }
        }
        return null;
    }
}
