using System.Text.Json.Nodes;

namespace BatchSync.Mapping;

/// <summary>
/// Step Functions refuses a SendTaskSuccess output over 262,144 UTF-8 bytes and a SendTaskFailure cause over 32,768
/// characters; a refused answer would leave the state waiting. This shrinks a native JobDetail deterministically until it
/// fits: first Attempts is cut to the latest attempt, then the bulkiest other top-level members are dropped (ties by
/// name), and their names are listed in <c>BatchSyncOmitted</c>. JobId, JobArn, JobName, Status, StatusReason, the
/// latest attempt and a callback Result are kept.
/// </summary>
public static class OutputBudget
{
    public const int MaxOutputBytes = 262_144;
    public const int MaxCauseChars = 32_768;
    public const int MaxErrorChars = 256;
    public const string OmittedMember = "BatchSyncOmitted";

    private static readonly HashSet<string> Kept = new(StringComparer.Ordinal)
    {
        "JobId", "JobArn", "JobName", "Status", "StatusReason", "Attempts", "Result", OmittedMember,
        Failures.TaskAnswers.FailureMember, Failures.TaskAnswers.LinksMember, Failures.TaskAnswers.LogTailMember,
        Failures.TaskAnswers.ArraySummaryMember,
    };

    /// <summary>The output text for SendTaskSuccess, within <paramref name="maxBytes"/> UTF-8 bytes.</summary>
    public static string FitOutput(JsonObject native, int maxBytes = MaxOutputBytes) =>
        Fit(native, text => System.Text.Encoding.UTF8.GetByteCount(text) <= maxBytes);

    /// <summary>The cause text for SendTaskFailure, within <paramref name="maxChars"/> characters.</summary>
    public static string FitCause(JsonObject native, int maxChars = MaxCauseChars) =>
        Fit(native, text => text.Length <= maxChars);

    /// <summary>Cuts a free-text error or cause to a limit, marking the cut.</summary>
    public static string Clip(string text, int maxChars) =>
        text.Length <= maxChars ? text : text[..(maxChars - 1)] + "…";

    private static string Fit(JsonObject native, Func<string, bool> fits)
    {
        var text = JsonText.ToText(native);
        if (fits(text))
        {
            return text;
        }

        var work = (JsonObject)native.DeepClone();
        var omitted = new JsonArray();
        if (work["Attempts"] is JsonArray { Count: > 1 } attempts)
        {
            var latest = attempts[^1]!.DeepClone();
            work["Attempts"] = new JsonArray(latest);
            omitted.Add("Attempts (all but the latest)");
            work[OmittedMember] = omitted;
            text = JsonText.ToText(work);
            if (fits(text))
            {
                return text;
            }
        }

        while (true)
        {
            var bulkiest = work
                .Where(p => !Kept.Contains(p.Key))
                .Select(p => (p.Key, Size: p.Value is null ? 4 : JsonText.Utf8Length(p.Value)))
                .OrderByDescending(p => p.Size).ThenBy(p => p.Key, StringComparer.Ordinal)
                .Select(p => p.Key)
                .FirstOrDefault();
            if (bulkiest is null)
            {
                break;
            }
            work.Remove(bulkiest);
            omitted.Add(bulkiest);
            work[OmittedMember] = omitted;
            text = JsonText.ToText(work);
            if (fits(text))
            {
                return text;
            }
        }

        // Only kept members are left and still too large: the latest attempt goes, then the free text is cut.
        if (work.Remove("Attempts"))
        {
            omitted.Add("Attempts");
            text = JsonText.ToText(work);
            if (fits(text))
            {
                return text;
            }
        }
        foreach (var name in new[] { "StatusReason", "JobName" })
        {
            if (work[name] is JsonValue value && value.TryGetValue<string>(out var s) && s.Length > 256)
            {
                work[name] = Clip(s, 256);
                text = JsonText.ToText(work);
                if (fits(text))
                {
                    return text;
                }
            }
        }
        var minimal = new JsonObject
        {
            ["JobId"] = work["JobId"]?.DeepClone(),
            ["Status"] = work["Status"]?.DeepClone(),
            [OmittedMember] = new JsonArray("everything else"),
        };
        return JsonText.ToText(minimal);
    }
}
